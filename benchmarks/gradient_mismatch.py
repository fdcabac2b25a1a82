"""BinaryDuo's gradient-mismatch experiment on real data: which activation's STE misleads least?

    python benchmarks/gradient_mismatch.py --data_dir=../shared/datasets/fashion-mnist

Trains zoo's `bnn_small` with `ste_sign` activations and full-precision weights on
Fashion-MNIST (weights stay float so that only the activations' estimators differ, as in
the paper's analysis), then, with exactly those weights, swaps the activation quantizer of
the binary convs for each of `ste_sign`, `approx_sign`, `swish_sign` and `ternary_sign`, and
measures per layer the cosine similarity between the STE gradient and the coordinate
discrete gradient (`keras_bnn.analysis.gradient_mismatch`) on one batch of training images
(the loss training follows), at several perturbation sizes, as mean ± std over `--repeats`
batches and coordinate samples (single estimates are noisy). The measured layers are those
whose gradient passes through an activation's estimator: conv1 (through two), conv2
(through one); conv3's passes through none (its cosine is 1, as tests/test_analysis.py
checks for a network without quantizers). Prints a Markdown table and writes it, the JSON and a PNG bar chart (the
largest eps) to `--output`.
"""

import pathlib
import statistics
import time

from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import tf_keras as keras
import zoo
from keras_bnn import data, plots
from keras_bnn.analysis import gradient_mismatch
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_string("data_dir", None, "Fashion-MNIST folder (searched for otherwise).")
flags.DEFINE_integer("train_examples", 20000, "Training images.")
flags.DEFINE_integer("epochs", 1, "Training epochs.")
flags.DEFINE_integer("batch_size", 128, "Training images in the measured batch.")
flags.DEFINE_list("eps", ["0.02", "0.05"], "Perturbation sizes.")
flags.DEFINE_integer("repeats", 3, "Measured batches (and coordinate samples) per setting.")
flags.DEFINE_integer("num_coords", 96, "Kernel coordinates per layer.")
flags.DEFINE_integer("seed", 0, "Seed of the training and of the sampled coordinates.")
flags.DEFINE_string("output", "benchmarks/results/gradient_mismatch",
                    "Path of the .md, .json and .png files (without suffix).")
FLAGS = flags.FLAGS

QUANTIZERS = ("ste_sign", "approx_sign", "swish_sign", "ternary_sign")
LAYERS = ("conv1", "conv2")


def build(input_quantizer):
    return zoo.get_model("bnn_small", input_quantizer=input_quantizer, kernel_quantizer=None,
                         kernel_constraint=None)


def train(dataset):
    keras.utils.set_random_seed(FLAGS.seed)
    model = build("ste_sign")
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(dataset.train_dataset(128, seed=FLAGS.seed), epochs=FLAGS.epochs,
              steps_per_epoch=dataset.num_train // 128,
              validation_data=dataset.test_dataset(500), verbose=2)
    return model


def measure(model, batches, eps):
    """Mean and standard deviation over the batches of each layer's cosine similarity."""
    cosines = {layer: [] for layer in LAYERS}
    for repeat, (images, labels) in enumerate(batches):
        for row in gradient_mismatch(model, images, labels, eps=eps, layers=list(LAYERS),
                                     num_coords=FLAGS.num_coords, seed=FLAGS.seed + repeat).rows:
            cosines[row.layer].append(row.cosine)
    return {layer: reporting.mean_and_std(values) for layer, values in cosines.items()}


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    dataset = data.load("fashion_mnist", FLAGS.data_dir,
                        max_train_examples=FLAGS.train_examples)
    trained = train(dataset)
    stream = iter(dataset.train_dataset(FLAGS.batch_size, seed=FLAGS.seed + 1, augment=False))
    batches = [next(stream) for _ in range(FLAGS.repeats)]
    results = []
    for quantizer in QUANTIZERS:
        model = build(quantizer)
        model.set_weights(trained.get_weights())
        for eps in map(float, FLAGS.eps):
            cosine = measure(model, batches, eps)
            results.append({"quantizer": quantizer, "eps": eps, "cosine": cosine})
            print(quantizer, eps, cosine, flush=True)

    header = ["activation", "eps", *LAYERS, "mean"]
    rows = []
    for result in results:
        cosine = result["cosine"]
        mean = statistics.mean(cosine[layer][0] for layer in LAYERS)
        rows.append([result["quantizer"], f"{result['eps']:g}",
                     *(f"{cosine[layer][0]:.3f} ± {cosine[layer][1]:.3f}" for layer in LAYERS),
                     f"{mean:.3f}"])
    lines = [reporting.table(header, rows)]
    table = "\n".join(lines)
    print(f"\nbnn_small, float weights, Fashion-MNIST, {FLAGS.epochs} epoch(s) on "
          f"{FLAGS.train_examples} images; CDG over {FLAGS.num_coords} coordinates per layer, "
          f"{FLAGS.repeats} batches of {FLAGS.batch_size} training images (mean ± std); "
          f"{started}\n{table}")

    output = pathlib.Path(FLAGS.output)
    reporting.write_results(output, table, {
        "date": started, "epochs": FLAGS.epochs, "train_examples": FLAGS.train_examples,
        "batch_size": FLAGS.batch_size, "repeats": FLAGS.repeats,
        "num_coords": FLAGS.num_coords, "results": results})
    last = float(FLAGS.eps[-1])
    chosen = {r["quantizer"]: [r["cosine"][layer][0] for layer in LAYERS]
              for r in results if r["eps"] == last}
    plots.plot_bars(list(LAYERS), chosen, output.with_suffix(".png"), groups=QUANTIZERS,
                    ylabel="cosine(STE gradient, CDG)",
                    title=f"Gradient mismatch per activation, eps={last:g}")


if __name__ == "__main__":
    app.run(main)

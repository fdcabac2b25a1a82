"""Is binarizing a trained float model better than training the binary model from scratch?

    python benchmarks/binarize.py --data_dir=../shared/datasets/fashion-mnist

For each seed: trains a plain Keras CNN (Conv-BN-ReLU blocks, the kind users have) in
float for `--epochs`, then for each method of `keras_bnn.binarize` compares
(1) the trained float model binarized (`copy_weights=True`) and fine-tuned for `--epochs`,
with (2) the same binary model from fresh weights (`copy_weights=False`) trained for the
same `--epochs`. Every run trains with zoo's `single` recipe (Adam, learning rate 1e-3,
cosine decay), with the same batches and seed for both. BinaryDuo's models
are decoupled after training and evaluated in that deployable form (the same function).
Prints and writes (`--output`.md/.json) the test accuracies, mean ± std over the seeds.
"""

import time

from absl import app, flags

import keras_bnn
from keras_bnn import data
import tf_keras as keras
from keras_bnn.binarization import METHODS, binarize
from keras_bnn.callbacks import TauScheduler
from keras_bnn.optimizers import make_optimizer
from zoo import recipes
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_string("dataset", "fashion_mnist", "Data set, as keras_bnn.data.load takes it.")
flags.DEFINE_string("data_dir", None, "Its folder (searched for otherwise).")
flags.DEFINE_integer("epochs", 2, "Epochs of the float training, and of each binary run.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_list("methods", sorted(METHODS), "binarize() methods to compare.")
flags.DEFINE_integer("max_train_examples", None, "Use only this many training images.")
flags.DEFINE_string("output", None, "Path of the .md and .json files, without suffix "
                    "(default benchmarks/results/binarize_<dataset>).")
FLAGS = flags.FLAGS


def float_cnn(input_shape, num_classes):
    """A float CNN as users write them: every conv followed by BatchNorm and ReLU."""
    inputs = keras.Input(input_shape)
    x = inputs
    for block, filters in enumerate((16, 32, 64, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                name=f"conv{block}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{block}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{block}_relu")(x)
        if block in (1, 3):
            x = keras.layers.MaxPooling2D(name=f"pool{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="classifier")(x))


def fit(model, dataset, seed, callbacks=()):
    """Trains `--epochs` as the `single` recipe does; returns the test accuracy."""
    steps = dataset.num_train // FLAGS.batch_size
    stage, = recipes.single_stage(recipes.RunRequest(epochs=FLAGS.epochs))
    model.compile(make_optimizer(**stage.optimizer_options(), epochs=stage.epochs,
                                 steps_per_epoch=steps),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(dataset.train_dataset(FLAGS.batch_size, seed=seed), epochs=FLAGS.epochs,
              steps_per_epoch=steps, callbacks=list(callbacks), verbose=0)
    return evaluate(model, dataset)


def evaluate(model, dataset):
    model.compile(metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.evaluate(dataset.test_dataset(500), verbose=0, return_dict=True)["accuracy"]


def binary_run(trained_float, method, dataset, seed, copy_weights):
    keras.utils.set_random_seed(seed)
    model = binarize(trained_float, method, copy_weights=copy_weights)
    callbacks = [TauScheduler()] if method == "recu" else []
    accuracy = fit(model, dataset, seed, callbacks)
    if method == "binaryduo":
        accuracy = evaluate(keras_bnn.decouple(model), dataset)
    return accuracy


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    dataset = data.load(FLAGS.dataset, FLAGS.data_dir,
                        max_train_examples=FLAGS.max_train_examples)
    results = {"float": [], **{f"{r} {how}": [] for r in FLAGS.methods
                               for how in ("binarized + fine-tuned", "from scratch")}}
    for seed in map(int, FLAGS.seeds):
        keras.utils.set_random_seed(seed)
        trained = float_cnn(dataset.input_shape, dataset.num_classes)
        results["float"].append(fit(trained, dataset, seed))
        for method in FLAGS.methods:
            for how, copy in (("binarized + fine-tuned", True), ("from scratch", False)):
                results[f"{method} {how}"].append(
                    binary_run(trained, method, dataset, seed, copy))
                print(f"seed {seed} {method} {how}: {results[f'{method} {how}'][-1]:.4f}",
                      flush=True)

    rows = []
    for name, accuracies in results.items():
        mean, std = reporting.mean_and_std(accuracies)
        rows.append([name, f"{100 * mean:.2f} ± {100 * std:.2f} %",
                     ", ".join(f"{a:.4f}" for a in accuracies)])
    lines = [reporting.table(["model", "test accuracy (mean ± std)", "runs"], rows)]
    command = reporting.command_line("binarize.py")
    budget = reporting.training_budget(FLAGS.epochs, FLAGS.max_train_examples)
    caption = (f"{FLAGS.dataset} ({dataset.source}), {budget} per run, seeds "
               f"{','.join(FLAGS.seeds)}, {started}: `{command}`")
    table = "\n".join(lines)
    print(f"\n{caption}\n{table}")
    reporting.write_results(
        FLAGS.output or f"benchmarks/results/binarize_{FLAGS.dataset}", f"{caption}\n\n{table}",
        {"date": started, "command": command, "epochs": FLAGS.epochs, "results": results})


if __name__ == "__main__":
    app.run(main)

"""Train a zoo model on a real data set: `python train.py --model=... --dataset=...`.

The defaults run a short real job that needs no network once the data is installed:
the small binary CNN on Fashion-MNIST (Debian's dataset-fashion-mnist package, or any
directory with the four IDX files given by --data_dir), then report test accuracy and
save the model as `<output_dir>/model.keras`.

    python train.py
    python train.py --dataset=mnist --data_dir=../shared/datasets/mnist --epochs=3
    python train.py --input_quantizer=ternary_sign   # BinaryDuo's ternary activations
"""

import json
import pathlib
import sys
import time

from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn import data
from keras_bnn._keras import keras

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "bnn_small", sorted(zoo.MODELS), "Zoo model to train.")
flags.DEFINE_enum("dataset", "fashion_mnist", list(data.MNIST_LIKE), "Data set.")
flags.DEFINE_string("data_dir", None, "Directory of the data set files (searched otherwise).")
flags.DEFINE_string("input_quantizer", "ste_sign", "Activation quantizer of the binary layers.")
flags.DEFINE_string("kernel_quantizer", "ste_sign", "Weight quantizer of the binary layers.")
flags.DEFINE_integer("epochs", 1, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", 300, "Steps per epoch (0: one pass over the data).",
                     lower_bound=0)
flags.DEFINE_integer("batch_size", 128, "Batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output_dir", "runs/{model}-{dataset}", "Where the model and results go.")


def main(argv):
    del argv
    keras.utils.set_random_seed(FLAGS.seed)
    try:
        (x_train, y_train), (x_test, y_test) = data.load_mnist_like(
            FLAGS.dataset, FLAGS.data_dir
        )
    except data.DataNotFoundError as error:
        sys.exit(f"error: {error}")

    model = zoo.get_model(
        FLAGS.model,
        input_shape=x_train.shape[1:],
        num_classes=int(y_train.max()) + 1,
        input_quantizer=FLAGS.input_quantizer,
        kernel_quantizer=FLAGS.kernel_quantizer,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(FLAGS.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train = data.to_dataset(x_train, y_train, FLAGS.batch_size, shuffle=True, seed=FLAGS.seed)
    test = data.to_dataset(x_test, y_test, FLAGS.batch_size)

    started = time.perf_counter()
    model.fit(
        train.repeat() if FLAGS.steps_per_epoch else train,
        epochs=FLAGS.epochs,
        steps_per_epoch=FLAGS.steps_per_epoch or None,
        verbose=2,
    )
    train_seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(test, verbose=0)

    output_dir = pathlib.Path(FLAGS.output_dir.format(model=FLAGS.model, dataset=FLAGS.dataset))
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(output_dir / "model.keras")
    results = {
        "model": FLAGS.model,
        "dataset": FLAGS.dataset,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "train_seconds": round(train_seconds, 1),
        "flags": {flag.name: flag.value for flag in FLAGS.get_key_flags_for_module(sys.argv[0])},
    }
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"test accuracy {test_accuracy:.4f} ({FLAGS.dataset} test set, "
          f"{len(x_test)} images); model saved to {output_dir / 'model.keras'}")


if __name__ == "__main__":
    app.run(main)

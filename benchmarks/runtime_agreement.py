"""Every zoo model run end to end by keras_bnn's runtime and by LCE's interpreter on real
images: the share of images whose top-1 class they agree on, and how close their outputs are.

    python benchmarks/runtime_agreement.py                         # every zoo model
    python benchmarks/runtime_agreement.py --models=bnn_resnet18 --images=50

The models are deployed as `keras_bnn.export` writes them (BinaryDuo's decoupled), at
their default input size (224x224 for the ImageNet networks), converted once, and run by
the runtime (its best kernel set on this CPU) and by LCE's interpreter with its fastest x86
kernels (`xnnpack`). Models with registered pretrained weights use them and their own
test images; the others get the BatchNorms of a trained network
(`keras_bnn.benchmark.with_trained_batchnorms`) and CIFAR-10 test photos (JPEG copy)
resized to their input. The binary ops of both are LCE's to the bit (`python -m
keras_bnn.runtime sweep`); the float ops around them are XNNPACK's in both, of two
TensorFlow Lite versions (TensorFlow's and LCE's own), so outputs may differ by float
rounding. Writes `benchmarks/results/runtime_agreement.{md,json}`.
"""

import pathlib
import time

import numpy as np
from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import tensorflow as tf
import zoo
from keras_bnn import benchmark, data, export, lce, runtime
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_list("models", None, "Zoo models (default: all).")
flags.DEFINE_integer("images", 100, "Real images per model.")
flags.DEFINE_string("data_dir", "../shared/datasets", "Where the data sets are.")
flags.DEFINE_string("output", "benchmarks/results/runtime_agreement",
                    "Path of the .md and .json files, without suffix.")
FLAGS = flags.FLAGS


def model_and_images(name):
    """The deployed model, its images and where they come from."""
    registered = [entry for entry in zoo.weights.entries(name) if entry.key == "fashion_mnist"]
    if registered:
        entry = registered[0]
        model = zoo.get_model(name, weights=entry.key, **zoo.deployed_options(name))
        test = data.load(entry.dataset, pathlib.Path(FLAGS.data_dir) / "fashion-mnist",
                         max_test_examples=FLAGS.images)
        images = np.concatenate([batch.numpy() for batch, _ in test.test_dataset(FLAGS.images)])
        return model, images[:FLAGS.images], f"trained ({entry.key}), its test images"
    model = benchmark.with_trained_batchnorms(
        zoo.get_model(name, **zoo.deployed_options(name)))
    height, width, channels = model.input_shape[1:]
    photos = reporting.cifar_photos(pathlib.Path(FLAGS.data_dir) / "cifar10-jpeg.tar.gz",
                                    FLAGS.images, height)
    if channels == 1:
        photos = photos.mean(axis=-1, keepdims=True)
    return model, photos, "trained BatchNorms, CIFAR-10 photos"


def compare(name):
    model, images, weights = model_and_images(name)
    flatbuffer = export.convert(model, verify=False).flatbuffer
    start = time.perf_counter()
    ours = np.asarray(lce.lce_interpreter(flatbuffer, "runtime").predict(images))
    theirs = np.asarray(lce.lce_interpreter(flatbuffer, "xnnpack").predict(images))
    keras_top1 = np.asarray(model.predict(images, verbose=0)).argmax(-1)
    row = {"model": name, "input": "x".join(map(str, model.input_shape[1:])),
           "weights": weights, "images": len(images),
           "agreement": float(np.mean(ours.argmax(-1) == theirs.argmax(-1))),
           "identical": float(np.mean(np.all(ours == theirs, axis=-1))),
           "max_abs_diff": float(np.abs(ours - theirs).max()),
           "keras_agreement": float(np.mean(ours.argmax(-1) == keras_top1)),
           "seconds": time.perf_counter() - start}
    print(row, flush=True)
    return row


def main(argv):
    del argv
    tf.keras.utils.set_random_seed(0)
    started = time.strftime("%Y-%m-%d")
    rows = [compare(name) for name in FLAGS.models or zoo.list_models()]
    table = reporting.table(
        ["model", "input", "weights, images", "images", "top-1 agreement, runtime vs LCE",
         "outputs identical", "max abs difference", "top-1 agreement with Keras"],
        [[r["model"], r["input"], r["weights"], r["images"], f"{100 * r['agreement']:.0f} %",
          f"{100 * r['identical']:.0f} %", f"{r['max_abs_diff']:.2g}",
          f"{100 * r['keras_agreement']:.0f} %"] for r in rows])
    command = reporting.command_line("runtime_agreement.py")
    caption = (f"keras_bnn's runtime ({runtime.available_kernels()[1]}) against LCE's "
               f"interpreter (xnnpack), {reporting.machine()}, {started}. `{command}`")
    print(f"\n{caption}\n\n{table}")
    reporting.write_results(FLAGS.output, f"{caption}\n\n{table}",
                            {"date": started, "command": command, "rows": rows})


if __name__ == "__main__":
    app.run(main)

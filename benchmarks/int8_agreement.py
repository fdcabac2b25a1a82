"""Do int8 exports keep a trained model's answers? The shipped zoo weights on real test images.

    python benchmarks/int8_agreement.py --data=fashion_mnist=../shared/datasets/fashion-mnist \
        --data=mnist=../shared/datasets/mnist --data=cifar10=DIR   # DIR: the JPEG copy extracted

For every shipped weights file (`zoo/pretrained/`) of the data sets given: the LCE export
with float32 full-precision layers, and in int8 (`keras_bnn.export.convert(int8=True)`)
calibrated on `--calibration_examples` training images; also the int8 export with the
input quantized too (`quantize_input=True`) and calibrated on constant images (all 0),
the two choices the defaults avoid. Prints and writes (`--output`.md/.json) per model the
top-1 agreement of each export with the Keras model and the accuracies on a fixed random
sample of `--test_examples` test images, and the file sizes.
"""

import time

import numpy as np
from absl import app, flags, logging

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn import data, export
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_multi_string("data", [], "name=PATH of a data set whose shipped weights to test.")
flags.DEFINE_integer("test_examples", 1000, "Test images (a fixed random sample).")
flags.DEFINE_integer("calibration_examples", 300, "Training images the int8 ranges come from.")
flags.DEFINE_string("output", "benchmarks/results/int8_agreement", "Path of the .md and .json "
                    "files (without suffix).")
FLAGS = flags.FLAGS

EXPORTS = {  # name: keyword arguments of export.convert beside the samples
    "float rest": lambda calibration: {},
    "int8": lambda calibration: {"int8": True, "calibration_data": calibration},
    "int8, quantized input": lambda calibration: {"int8": True, "quantize_input": True,
                                                  "calibration_data": calibration},
    "int8, constant calibration": lambda calibration: {
        "int8": True, "calibration_data": np.zeros_like(calibration[:8])},
}


def measure(entry, data_dir):
    model = zoo.get_model(entry.model, weights=entry.key, **zoo.deployed_options(entry.model))
    dataset = data.load(entry.dataset, data_dir, max_test_examples=FLAGS.test_examples)
    calibration, _ = next(iter(dataset.train_dataset(FLAGS.calibration_examples, seed=0,
                                                     augment=False)))
    images, labels = (np.concatenate(parts) for parts in zip(
        *((x.numpy(), y.numpy()) for x, y in dataset.test_dataset(500))))
    row = {"model": entry.model, "dataset": entry.dataset}
    for name, options in EXPORTS.items():
        result = export.convert(model, sample_inputs=images, sample_labels=labels,
                                min_agreement=0.0, **options(calibration.numpy()))
        row[name] = {"agreement": result.agreement, "accuracy": result.lce_accuracy,
                     "size_bytes": result.size_bytes}
        row["keras accuracy"] = result.keras_accuracy
        print(f"{entry.model} {entry.dataset} {name}: agreement {result.agreement:.4f}, "
              f"accuracy {result.lce_accuracy:.4f} (Keras {result.keras_accuracy:.4f})",
              flush=True)
    return row


def markdown(rows):
    header = ["model", "data", "Keras accuracy", *(f"{name}: agreement / accuracy"
                                                    for name in EXPORTS),
              "size float rest / int8 (KB)"]
    cells = []
    for row in rows:
        cells.append([row["model"], row["dataset"], f"{100 * row['keras accuracy']:.1f} %",
                      *(f"{100 * row[name]['agreement']:.1f} % / "
                        f"{100 * row[name]['accuracy']:.1f} %" for name in EXPORTS),
                      f"{row['float rest']['size_bytes'] / 1e3:.1f} / "
                      f"{row['int8']['size_bytes'] / 1e3:.1f}"])
    return reporting.table(header, cells)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the converter's INFO lines drown the progress
    started = time.strftime("%Y-%m-%d")
    data_dirs = dict(item.split("=", 1) for item in FLAGS.data)
    if not data_dirs:
        raise app.UsageError("Give at least one --data=name=PATH.")
    entries = [entry for entry in zoo.weights.entries()
               if entry.url is None and entry.dataset in data_dirs]
    rows = [measure(entry, data_dirs[entry.dataset]) for entry in entries]
    table = markdown(rows)
    command = reporting.command_line("int8_agreement.py")
    caption = (f"{FLAGS.test_examples} test images, {FLAGS.calibration_examples} calibration "
               f"images, {started}: `{command}`")
    print(f"\n{caption}\n{table}")
    reporting.write_results(FLAGS.output, f"{caption}\n\n{table}",
                            {"date": started, "command": command, "rows": rows})


if __name__ == "__main__":
    app.run(main)

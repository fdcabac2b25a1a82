"""Where a deployed binary ResNet spends its time: latency by part, float rest vs int8 rest.

    python benchmarks/latency_breakdown.py --model=bnn_resnet18
    python benchmarks/latency_breakdown.py --model=real_to_binary_resnet18 --input_size=112

Cuts the zoo ResNet after its stem, after each downsampling shortcut, after each stage and
at its end, converts every truncated model three ways (the float twin with the plain
TFLite converter, the binary model with LCE and its full-precision layers in float32, and
in int8), runs the binary ones with LCE's interpreter and with keras_bnn's runtime
(`keras_bnn.runtime`), XNNPACK taking the float ops in both, and times all of them
interleaved in one process (`keras_bnn.benchmark`, one thread). A truncated model computes
only what its last layer needs, so the difference between consecutive cuts is the time of
the part in between: the stem; a stage's shortcut (pooling, 1x1 conv, BatchNorm); a
stage's binary units (binary convs with their BatchNorms, additions, scalings); the head
(pooling, classifier). Quantize and dequantize ops sit in the part they follow. Prints and
writes (`--output`.md/.json) the median milliseconds per part.

Weights are the builders' random initialisation (latency does not depend on them);
the int8 ranges are calibrated on random normal images.
"""

import re
import time

import numpy as np
from absl import app, flags, logging

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import tf_keras as keras
import zoo
from keras_bnn import benchmark, export
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_string("model", "bnn_resnet18", "A zoo ResNet (built of zoo.resnets stages).")
flags.DEFINE_integer("input_size", 224, "Height and width of the input images.")
flags.DEFINE_integer("runs", 10, "Timed runs per truncated model, interleaved.")
flags.DEFINE_integer("warmup", 3, "Untimed runs first.")
flags.DEFINE_string("output", None, "Path of the .md and .json files, without suffix "
                    "(default benchmarks/results/latency_breakdown_<model>).")
FLAGS = flags.FLAGS

# (variant, which of `flatbuffers`' programs, what runs it)
VARIANTS = (("float twin", 0, "xnnpack"),
            ("binary, float rest, LCE", 1, "xnnpack"),
            ("binary, float rest, runtime", 1, "runtime"),
            ("binary, int8 rest, LCE", 2, "xnnpack"),
            ("binary, int8 rest, runtime", 2, "runtime"))
NAMES = [variant for variant, _, _ in VARIANTS]
_UNIT = re.compile(r"stage(\d+)_block\d+_\d+(_shortcut)?")


def part_of(layer_name):
    """The part a layer belongs to: "stem", "stage S shortcut", "stage S units" or "head"."""
    if layer_name.startswith("stem"):
        return "stem"
    match = _UNIT.match(layer_name)
    if match is None:
        return "head"
    return f"stage {match[1]} {'shortcut' if match[2] else 'units'}"


def cut_points(model):
    """`[(part, last layer of the part)]` in the order the model computes them."""
    last = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            last[part_of(layer.name)] = layer.name
    order = {name: index for index, name in enumerate(layer.name for layer in model.layers)}
    return sorted(last.items(), key=lambda item: order[item[1]])


def flatbuffers(truncated, calibration):
    """The float twin's, the binary model's and the binary int8 model's flatbuffers."""
    return (benchmark.float_flatbuffer(truncated),
            export.convert(truncated, verify=False).flatbuffer,
            export.convert(truncated, verify=False, int8=True,
                           calibration_data=calibration).flatbuffer)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the converter's INFO lines drown the progress
    started = time.strftime("%Y-%m-%d")
    shape = (FLAGS.input_size, FLAGS.input_size, 3)
    model = zoo.get_model(FLAGS.model, input_shape=shape, **zoo.deployed_options(FLAGS.model))
    calibration = np.random.default_rng(0).normal(size=(8, *shape)).astype(np.float32)
    cuts = cut_points(model)
    candidates, sizes = [], {}
    for part, layer_name in cuts:
        truncated = keras.Model(model.inputs, model.get_layer(layer_name).output)
        programs = flatbuffers(truncated, calibration)
        for variant, program, kernel in VARIANTS:
            candidates.append((f"{variant}|{part}", programs[program], kernel))
            sizes[variant] = len(programs[program])
        print(f"converted up to {part} ({layer_name})", flush=True)
    timings = benchmark.time_flatbuffers(candidates, runs=FLAGS.runs, warmup=FLAGS.warmup)
    cumulative = {tuple(t.label.split("|")): t.median_ms for t in timings}

    rows, parts = {}, [part for part, _ in cuts]
    for variant in NAMES:
        previous = 0.0
        for part in parts:
            rows.setdefault(part, {})[variant] = cumulative[variant, part] - previous
            previous = cumulative[variant, part]
    totals = {variant: cumulative[variant, parts[-1]] for variant in NAMES}

    table = reporting.table(
        ["part", *(f"{v} (ms)" for v in NAMES)],
        [[part, *(f"{rows[part][v]:.2f}" for v in NAMES)] for part in parts]
        + [["**total**", *(f"**{totals[v]:.2f}**" for v in NAMES)],
           ["size (MB)", *(f"{sizes[v] / 1e6:.2f}" for v in NAMES)]])
    command = reporting.command_line("latency_breakdown.py")
    caption = (f"{FLAGS.model} at {FLAGS.input_size}x{FLAGS.input_size}, one thread, "
               f"median of {FLAGS.runs} interleaved runs, {reporting.machine()}, {started}: "
               f"`{command}`")
    print(f"\n{caption}\n{table}")
    reporting.write_results(
        FLAGS.output or f"benchmarks/results/latency_breakdown_{FLAGS.model}",
        f"{caption}\n\n{table}",
        {"date": started, "command": command, "model": FLAGS.model,
         "input_size": FLAGS.input_size, "parts_ms": rows, "total_ms": totals,
         "size_bytes": sizes})


if __name__ == "__main__":
    app.run(main)

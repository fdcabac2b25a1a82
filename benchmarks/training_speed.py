"""What binarizing costs in training: median step time of one network in five forms.

    python benchmarks/training_speed.py [--batch_size=64 --rounds=15 --steps=10]

The VGG-small of the zoo (`zoo.baselines.vgg_small`, width 1/4, 32x32x3 inputs) built with
(a) Keras `Conv2D` (the float twin of (b)), (b) larq `QuantConv2D` with `ste_sign` inputs
and weights, (c) `TernarySign` inputs (BinaryDuo stage 1), (d) the decoupled binary form
of (c) (BinaryDuo stage 2), (e) ReCU's `ReCUConv2D`. (c) and (d) are 1/sqrt(2) as wide, as
BinaryDuo builds them (`binaryduo_vgg_small`): decoupling doubles the input channels of
every binary conv, and at that width (d) has the parameters and binary MACs of (b).
Compiled training steps on one fixed batch, the variants interleaved round after round so
that machine noise hits them alike; prints the median step time of each and its ratio to
(b), and writes the table to `--output`.

With `--profile`, each variant also runs `--steps` steps under TensorFlow's profiler, and
the script prints where the CPU time of a step goes, by TensorFlow op type (summed over
the compute threads), for the op types that differ most from (b): what a variant's extra
time is spent on.
"""

import collections
import math
import pathlib
import statistics
import tempfile
import time

from absl import app, flags

import keras_bnn
import tf_keras as keras
import tensorflow as tf
from zoo import baselines, blocks
import reporting  # benchmarks/reporting.py, beside this script

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("rounds", 15, "Timed rounds per variant.")
flags.DEFINE_integer("steps", 10, "Training steps per round.")
flags.DEFINE_float("width_multiplier", 0.25, "Width of the VGG-small.")
flags.DEFINE_string("output", "benchmarks/results/training_speed.md", "Markdown table.")
flags.DEFINE_bool("profile", False, "Also print each variant's CPU time per op type vs (b).")
flags.DEFINE_integer("profile_rows", 8, "Op types shown per variant with --profile.")

SHAPE = (32, 32, 3)


def vgg(conv):
    return baselines.vgg_small(conv, SHAPE, 10, FLAGS.width_multiplier)


def ternary():
    return baselines.vgg_small(blocks.make_binary_conv("ternary_sign", "ste_sign", "weight_clip"),
                               SHAPE, 10, FLAGS.width_multiplier / math.sqrt(2))


def binary():
    return vgg(blocks.make_binary_conv("ste_sign", "ste_sign", "weight_clip"))


VARIANTS = {
    "(a) Keras Conv2D (float twin)": lambda: keras_bnn.float_twin(binary()),
    "(b) QuantConv2D, ste_sign": binary,
    "(c) TernarySign activations": ternary,
    "(d) decoupled binary (BinaryDuo)": lambda: keras_bnn.decouple(ternary()),
    "(e) ReCUConv2D": lambda: vgg(blocks.make_recu_conv()),
}
REFERENCE = "(b) QuantConv2D, ste_sign"


def make_step(build, images, labels):
    model = build()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step = model.make_train_function()
    batches = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    step(batches)  # trace and warm up
    return lambda: step(batches)


def cpu_time_by_op_type(step):
    """Milliseconds of CPU time per step of each TensorFlow op type, from `FLAGS.steps`
    profiled steps (the op events of the profiler's compute threads, "name:Type")."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(FLAGS.steps):
            logs = step()
        float(logs["loss"])
        tf.profiler.experimental.stop()
        (trace,) = pathlib.Path(logdir).rglob("*.xplane.pb")
        space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "name:Type", not "Class::method"
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / FLAGS.steps
    return totals


def profile_table(profiles):
    """Per variant, the op types whose CPU time differs most from (b)'s."""
    reference = profiles[REFERENCE]
    rows = []
    for name, totals in profiles.items():
        differences = {op: totals[op] - reference[op] for op in totals | reference}
        largest = sorted(differences, key=lambda op: -abs(differences[op]))
        shown = ", ".join(f"{op} {differences[op]:+.1f}" for op in largest[:FLAGS.profile_rows]
                          if name != REFERENCE)
        rows.append([name, f"{sum(totals.values()):.1f}", shown or "reference"])
    return reporting.table(["network", "CPU ms/step",
                            "vs (b): largest differences by op type (ms)"], rows)


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    images = tf.random.uniform((FLAGS.batch_size, *SHAPE))
    labels = tf.random.uniform((FLAGS.batch_size,), maxval=10, dtype=tf.int32)
    steps = {name: make_step(build, images, labels) for name, build in VARIANTS.items()}
    times = {name: [] for name in VARIANTS}
    for _ in range(FLAGS.rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(FLAGS.steps):
                logs = step()
            float(logs["loss"])  # wait for the last step
            times[name].append((time.perf_counter() - started) / FLAGS.steps)

    reference = statistics.median(times[REFERENCE])
    table = reporting.table(["network", "step (ms)", "vs (b)"], [
        [name, f"{statistics.median(times[name]) * 1e3:.1f}",
         f"{statistics.median(times[name]) / reference:.2f}x"] for name in VARIANTS])
    print(f"VGG-small x{FLAGS.width_multiplier}, {SHAPE}, batch {FLAGS.batch_size}, median of "
          f"{FLAGS.rounds} rounds x {FLAGS.steps} steps, {time.strftime('%Y-%m-%d')}\n{table}")
    if FLAGS.profile:
        profiles = {name: cpu_time_by_op_type(step) for name, step in steps.items()}
        table += "\n\nCPU time per step by op type (`--profile`):\n\n" + profile_table(profiles)
        print(table.split("\n\n", 1)[1])
    output = pathlib.Path(FLAGS.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(table + "\n")


if __name__ == "__main__":
    app.run(main)

"""What the quantizers cost in training: median step time of the same network per quantizer.

Builds zoo's `bnn_small` with each quantizer pair, times compiled training steps on one
fixed batch, interleaving the variants round after round so that machine noise hits them
alike, and prints the median step time of each as a ratio to larq's `ste_sign`.

    python benchmarks/quantizer_overhead.py [--batch_size=64 --rounds=15 --steps=10]
"""

import statistics
import time

from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn._keras import keras, tf

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("rounds", 15, "Timed rounds per variant.")
flags.DEFINE_integer("steps", 10, "Training steps per round.")

VARIANTS = {  # name: (input_quantizer, kernel_quantizer, kernel_constraint)
    "float (no quantizer)": (None, None, None),
    "ste_sign / ste_sign (larq)": ("ste_sign", "ste_sign", "weight_clip"),
    "ternary_sign / ste_sign": ("ternary_sign", "ste_sign", "weight_clip"),
    "recu_activation / recu": ("recu_activation", "recu", None),
}
REFERENCE = "ste_sign / ste_sign (larq)"


def make_step(input_quantizer, kernel_quantizer, kernel_constraint, images, labels):
    model = zoo.get_model("bnn_small", input_quantizer=input_quantizer,
                          kernel_quantizer=kernel_quantizer,
                          kernel_constraint=kernel_constraint)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step = model.make_train_function()
    batches = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    step(batches)  # trace and warm up
    return lambda: step(batches)


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    images = tf.random.uniform((FLAGS.batch_size, 28, 28, 1))
    labels = tf.random.uniform((FLAGS.batch_size,), maxval=10, dtype=tf.int32)
    steps = {name: make_step(*quantizers, images, labels) for name, quantizers in VARIANTS.items()}
    times = {name: [] for name in VARIANTS}
    for _ in range(FLAGS.rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(FLAGS.steps):
                logs = step()
            float(logs["loss"])  # wait for the last step
            times[name].append((time.perf_counter() - started) / FLAGS.steps)

    reference = statistics.median(times[REFERENCE])
    print(f"bnn_small, batch {FLAGS.batch_size}, median of {FLAGS.rounds} rounds x "
          f"{FLAGS.steps} steps, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    print(f"| {'input / kernel quantizer':<28} | step (ms) | vs ste_sign |")
    print(f"|{'-' * 30}|-----------|-------------|")
    for name in VARIANTS:
        median = statistics.median(times[name])
        print(f"| {name:<28} | {median * 1e3:9.1f} | {median / reference:10.2f}x |")


if __name__ == "__main__":
    app.run(main)

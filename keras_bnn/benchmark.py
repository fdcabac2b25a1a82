"""Latency and size of LCE flatbuffers, timed side by side, against the float twin.

Each flatbuffer runs after a warm-up, in keras_bnn's runtime or in LCE's interpreter
(`keras_bnn.lce.KERNELS`), once per round, every candidate in every round (interleaved, so
that a slow moment of a noisy machine hits all of them alike); the report gives the
median. `compare_with_float` adds the model's
full-precision twin (`keras_bnn.float_twin`) converted by the plain TFLite converter, timed
with TFLite's own kernels and with XNNPACK, and the ratios against the fastest of each.

```python
import keras_bnn
import zoo
from keras_bnn.benchmark import compare_with_float, report
from keras_bnn.export import convert

model = zoo.get_model("bnn_small", width=16)
flatbuffer = convert(model).flatbuffer
timings = compare_with_float(model, flatbuffer, kernels=["runtime", "xnnpack"], runs=5)
print(report(timings))  # a row per flatbuffer and kernel, then the binary/float ratios
```

From the command line (a `.tflite` file, or a Keras model that is converted first):

    python -m keras_bnn.benchmark runs/x/model.keras --kernel all --compare-float
"""

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time
from collections.abc import Iterable

import numpy as np

from keras_bnn._keras import keras, tf
from keras_bnn.graphs import all_layers
from keras_bnn.export import convert
from keras_bnn.lce import (KERNELS, available_kernels, default_kernel, inference_function,
                           lce_interpreter)
from keras_bnn.twin import float_twin

__all__ = ["FLOAT_KERNELS", "Timing", "compare_with_float", "float_flatbuffer", "main",
           "report", "time_flatbuffers", "with_trained_batchnorms"]

# The float twin has no binary convs: what matters is TFLite's own kernels or XNNPACK.
FLOAT_KERNELS = ("default", "xnnpack")


@dataclasses.dataclass
class Timing:
    """The latencies of one flatbuffer under one kernel choice.

    # Attributes
        label: What was timed (`"binary"`, `"float twin"`, ...).
        kernel: One of `keras_bnn.lce.KERNELS`.
        size_bytes: Size of the flatbuffer.
        seconds: One latency per timed run (warm-up runs excluded).
        threads: Of the interpreter.
    """

    label: str
    kernel: str
    size_bytes: int
    seconds: list[float]
    threads: int = 1

    @property
    def median_ms(self) -> float:
        """The median latency, in milliseconds."""
        return 1e3 * statistics.median(self.seconds)


def time_flatbuffers(candidates: Iterable[tuple], *, runs: int = 20, warmup: int = 3,
                     num_threads: int = 1, seed: int = 0) -> list[Timing]:
    """Times flatbuffers, interleaved, on one random input each.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.benchmark import time_flatbuffers
    from keras_bnn.lce import lce_flatbuffer

    fb = lce_flatbuffer(zoo.get_model("bnn_small", width=16))
    timings = time_flatbuffers([("binary", fb, "default"), ("binary", fb, "indirect_bgemm")],
                               runs=5)
    [(timing.kernel, timing.median_ms) for timing in timings]
    # [('default', 0.7), ('indirect_bgemm', 0.2)]: median milliseconds, on one machine
    ```

    # Arguments
        candidates: `(label, flatbuffer, kernel)` triples, or `(label, flatbuffer,
            kernel, threads)` for a candidate with its own number of threads.
        runs: Timed runs of each candidate (one per round).
        warmup: Untimed runs of each candidate first.
        num_threads: Threads of the interpreters of the triples.
        seed: Of the random normal input.

    # Returns
        A list of `Timing`, in the order of `candidates`.

    # Raises
        ValueError: for `runs < 1`, `warmup < 0` or an unknown kernel.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"Need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}.")
    rng = np.random.default_rng(seed)
    prepared = []
    for label, flatbuffer, kernel, *threads in candidates:
        threads = threads[0] if threads else num_threads
        interpreter = lce_interpreter(flatbuffer, kernel, threads)
        shape = (1, *interpreter.input_shapes[0][1:])
        inputs = rng.normal(size=shape).astype(interpreter.input_types[0])
        prepared.append((interpreter, inputs,
                         Timing(label, kernel, len(flatbuffer), [], threads)))
    for round_index in range(warmup + runs):
        for interpreter, inputs, timing in prepared:
            start = time.perf_counter()
            interpreter.predict(inputs)
            if round_index >= warmup:
                timing.seconds.append(time.perf_counter() - start)
    return [timing for _, _, timing in prepared]


def with_trained_batchnorms(model: keras.Model, seed: int = 0) -> keras.Model:
    """Gives every BatchNorm of `model` random scales and offsets, as training leaves them.

    A fresh BatchNorm is the identity, so the integer sums of binary convs reach the next
    binarization unchanged and many are exactly 0, where float rounding decides the sign:
    comparing two programs of an untrained binary network mostly compares their rounding.
    Random scales (0.5-1.5) and offsets (std 0.5) make such ties as rare as in a trained
    network, for checks and measurements of models without trained weights.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.benchmark import with_trained_batchnorms

    model = with_trained_batchnorms(zoo.get_model("bnn_small"))
    model.get_layer("conv2_bn").gamma.numpy()[:3]  # random in [0.5, 1.5], not 1 (fresh)
    ```

    # Returns
        `model`, changed in place.
    """
    rng = np.random.default_rng(seed)
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape),
                               rng.normal(0, 0.5, beta.shape), mean, variance])
    return model


def float_flatbuffer(model: keras.Model) -> bytes:
    """The full-precision twin of `model` converted by the plain TFLite converter (float32).

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.benchmark import float_flatbuffer

    model = zoo.get_model("bnn_small", width=16)
    size = len(float_flatbuffer(model))  # bytes of the float32 .tflite file (about 18,000)
    ```
    """
    twin = float_twin(model)
    return tf.lite.TFLiteConverter.from_concrete_functions([inference_function(twin)],
                                                           twin).convert()


def compare_with_float(model: keras.Model, flatbuffer: bytes, *,
                       kernels: list[str] | None = None,
                       **timing_options: object) -> list[Timing]:
    """Times the binary flatbuffer of `model` and its float twin side by side.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.benchmark import compare_with_float
    from keras_bnn.lce import lce_flatbuffer

    model = zoo.get_model("bnn_small", width=16)
    timings = compare_with_float(model, lce_flatbuffer(model), runs=10)
    [(timing.label, timing.kernel) for timing in timings]
    # [('binary', 'runtime'), ('float twin', 'default'), ('float twin', 'xnnpack')]
    ```

    # Arguments
        model: The Keras model `flatbuffer` was converted from.
        flatbuffer: Its LCE flatbuffer.
        kernels: What runs the binary model (of `KERNELS`); None for
            `keras_bnn.lce.default_kernel()`, keras_bnn's runtime where it runs.
        **timing_options: Of `time_flatbuffers` (`runs`, `warmup`, `num_threads`).

    # Returns
        A list of `Timing`: the binary model per kernel, then the float twin per `FLOAT_KERNELS`.
    """
    kernels = kernels or [default_kernel()]
    twin = float_flatbuffer(model)
    candidates = [("binary", flatbuffer, kernel) for kernel in kernels]
    candidates += [("float twin", twin, kernel) for kernel in FLOAT_KERNELS]
    return time_flatbuffers(candidates, **timing_options)


def _fastest(timings, label):
    """The `Timing` with the lowest median among those labelled `label`."""
    return min((t for t in timings if t.label == label), key=lambda t: t.median_ms)


def report(timings: list[Timing]) -> str:
    """A table of the timings and, with a float twin among them, the ratios to it.

    Speed-up and size ratio compare the binary model under its fastest kernel with the float
    twin under its fastest (float median / binary median, float size / binary size).

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.benchmark import report, time_flatbuffers
    from keras_bnn.lce import lce_flatbuffer

    flatbuffer = lce_flatbuffer(zoo.get_model("bnn_small", width=16))
    print(report(time_flatbuffers([("binary", flatbuffer, "runtime")], runs=5)))
    # model        kernel             size MB  median ms  runs
    # binary       runtime              0.006       0.05     5
    ```
    """
    lines = [f"{'model':<12} {'kernel':<16} {'size MB':>9} {'median ms':>10} {'runs':>5}"]
    lines += [f"{t.label:<12} {t.kernel:<16} {t.size_bytes / 1e6:>9.3f} {t.median_ms:>10.2f} "
              f"{len(t.seconds):>5}" for t in timings]
    labels = {t.label for t in timings}
    if {"binary", "float twin"} <= labels:
        binary, twin = _fastest(timings, "binary"), _fastest(timings, "float twin")
        lines.append(
            f"binary ({binary.kernel}) vs float twin ({twin.kernel}): "
            f"{twin.median_ms / binary.median_ms:.2f}x faster, "
            f"{twin.size_bytes / binary.size_bytes:.1f}x smaller"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m keras_bnn.benchmark MODEL [--threads N] [--kernel K|all] [--compare-float]`.

    ```python
    import pathlib

    import keras_bnn
    import zoo
    from keras_bnn.benchmark import main
    from keras_bnn.lce import lce_flatbuffer

    pathlib.Path("model.tflite").write_bytes(lce_flatbuffer(zoo.get_model("bnn_small")))
    exit_code = main(["model.tflite", "--kernel", "all", "--runs", "5"])  # prints the table
    exit_code  # 0
    ```
    """
    parser = argparse.ArgumentParser(
        prog="python -m keras_bnn.benchmark",
        description="Median latency of a model's LCE program, per kernel choice.")
    parser.add_argument("model", help="a .tflite file, or a .keras/.h5 model to convert first")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (1)")
    parser.add_argument("--kernel", default=None, choices=[*KERNELS, "all"],
                        help="what runs the binary ops (default: runtime, keras_bnn's "
                             "runtime, the fastest on x86-64, where it runs, else LCE's "
                             "xnnpack; the others are LCE's interpreter); all: every one "
                             "this machine runs")
    parser.add_argument("--compare-float", action="store_true",
                        help="also time the float twin (needs a Keras model)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per kernel (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    arguments = parser.parse_args(argv)
    kernels = (available_kernels() if arguments.kernel == "all"
               else [arguments.kernel or default_kernel()])
    timing_options = dict(runs=arguments.runs, warmup=arguments.warmup,
                          num_threads=arguments.threads)
    path = pathlib.Path(arguments.model)
    try:
        if path.suffix == ".tflite":
            model, flatbuffer = None, path.read_bytes()
        else:
            model = keras.models.load_model(path, compile=False)
            flatbuffer = convert(model).flatbuffer
        if not arguments.compare_float:
            timings = time_flatbuffers([("binary", flatbuffer, kernel) for kernel in kernels],
                                       **timing_options)
        elif model is None:
            raise ValueError("--compare-float builds the float twin from the Keras model: "
                             "pass the .keras or .h5 file the .tflite came from.")
        else:
            timings = compare_with_float(model, flatbuffer, kernels=kernels, **timing_options)
    except (OSError, ValueError) as error:  # ExportError included
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Binary convs alone: keras_bnn's runtime against LCE's x86 kernels and float XNNPACK,
its G binary MACs/s against the machine's popcount peak, and 2 threads against 1.

    python benchmarks/binary_conv_speed.py

1. A 3x3 256->256 binary conv at 28x28 (a larq `QuantConv2D`, SAME with pad_values=1,
   converted by LCE: `LceQuantize` + `LceBconv2d`), run by the runtime with each kernel set
   this CPU has and by LCE's interpreter (indirect BGEMM, its fastest x86 kernel), next to
   its float twin (a `Conv2D`) under XNNPACK; one thread. "peak" is the runtime's binary
   GEMM loop on registers alone (no memory), the most this core does with those
   instructions.
2. ResNet-18's 16 binary convs at 224x224 input (its 56x56x64 to 7x7x512 stages, the first
   conv of stages 2-4 with stride 2), chained as the network has them (each reading the
   float output of the one before), with 1 and 2 threads: interleaved with the other
   programs, so that each run starts with the runtime's worker thread asleep (it sleeps
   after 2 ms without work, and waking it took 1-2 ms on this 2-vCPU virtual machine), and
   back to back (rows of runs of one interpreter, the first of each row not counted), as a
   program serving requests runs.

All timings are interleaved round by round in one process (`keras_bnn.benchmark`),
medians of `--runs`.
Writes `benchmarks/results/binary_conv_speed.{md,json}`.
"""

import ctypes
import statistics
import time

import numpy as np

from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import larq as lq
import tf_keras as keras
from keras_bnn import benchmark, export, lce, runtime
from keras_bnn.runtime import build
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_integer("runs", 30, "Timed runs per candidate, interleaved.")
flags.DEFINE_integer("warmup", 5, "Untimed runs first.")
flags.DEFINE_string("output", "benchmarks/results/binary_conv_speed",
                    "Path of the .md and .json files, without suffix.")
FLAGS = flags.FLAGS

# ResNet-18's binary convs: (input size, channels in, channels out, stride).
RESNET18_CONVS = ([(56, 64, 64, 1)] * 4 + [(56, 64, 128, 2)] + [(28, 128, 128, 1)] * 3
                  + [(28, 128, 256, 2)] + [(14, 256, 256, 1)] * 3 + [(14, 256, 512, 2)]
                  + [(7, 512, 512, 1)] * 3)


def binary_conv(filters, strides=1):
    return lq.layers.QuantConv2D(filters, 3, strides=strides, padding="same", pad_values=1.0,
                                 input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", use_bias=False)


def single_conv():
    """The 3x3 256->256 conv at 28x28, and its binary MACs."""
    inputs = keras.Input((28, 28, 256))
    return keras.Model(inputs, binary_conv(256)(inputs)), 28 * 28 * 256 * 9 * 256


def resnet18_convs():
    """ResNet-18's binary convs in a chain, and their binary MACs."""
    inputs = keras.Input((56, 56, 64))
    x, macs = inputs, 0
    for size, channels_in, channels_out, stride in RESNET18_CONVS:
        x = binary_conv(channels_out, stride)(x)
        macs += (size // stride) ** 2 * channels_out * 9 * channels_in
    return keras.Model(inputs, x), macs


def back_to_back(program, threads, rounds, row=8):
    """Median seconds of runs that follow another run of the same interpreter: rows of
    `row` runs, each row by an interpreter made for it and closed after it (so that no
    other one's thread is alive), alternating between the thread counts; the first run of
    each row is not counted."""
    inputs = np.random.default_rng(0).normal(size=(1, 56, 56, 64)).astype(np.float32)
    seconds = {count: [] for count in threads}
    for _ in range(rounds):
        for count in threads:
            with runtime.Interpreter(program, num_threads=count) as interpreter:
                for index in range(row):
                    start = time.perf_counter()
                    interpreter.predict(inputs)
                    if index:
                        seconds[count].append(time.perf_counter() - start)
    return {count: statistics.median(values) for count, values in seconds.items()}


def peak_gmacs(kernel, seconds=0.5):
    """The binary MACs per second (x 1e-9) of kernel set `kernel`'s loop on registers."""
    library = ctypes.CDLL(str(build.library_path()))
    library.keras_bnn_runtime_peak_macs.restype = ctypes.c_double
    library.keras_bnn_runtime_peak_macs.argtypes = [ctypes.c_char_p, ctypes.c_long]
    words, rates = 1 << 16, []
    for _ in range(5):
        start = time.perf_counter()
        macs = library.keras_bnn_runtime_peak_macs(kernel.encode(), words)
        elapsed = time.perf_counter() - start
        if elapsed < seconds / 5:
            words *= 2
        rates.append(macs / elapsed / 1e9)
    return max(rates)


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    kernels = [name for name in lce.available_kernels() if name.startswith("runtime_")]
    conv, conv_macs = single_conv()
    chain, chain_macs = resnet18_convs()
    binary = export.convert(conv, verify=False).flatbuffer
    candidates = [("conv", binary, kernel) for kernel in kernels]
    candidates += [("conv", binary, "xnnpack"),
                   ("conv float twin", benchmark.float_flatbuffer(conv), "xnnpack")]
    chain_program = export.convert(chain, verify=False).flatbuffer
    candidates += [("chain", chain_program, "runtime", 1), ("chain", chain_program, "runtime", 2),
                   ("chain", chain_program, "xnnpack", 1)]
    every = benchmark.time_flatbuffers(candidates, runs=FLAGS.runs, warmup=FLAGS.warmup)
    timings, chain_timings = every[:-3], every[-3:]
    steady = back_to_back(chain_program, (1, 2), max(FLAGS.runs // 4, 1))
    float_ms = next(t.median_ms for t in timings if t.label == "conv float twin")
    lce_ms = next(t.median_ms for t in timings if t.label == "conv" and t.kernel == "xnnpack")
    rows = []
    for timing in timings:
        kernel_set = lce.RUNTIME_KERNELS.get(timing.kernel)
        gmacs = conv_macs / timing.median_ms / 1e6
        peak = peak_gmacs(kernel_set) if kernel_set else None
        rows.append({"what": "float Conv2D (XNNPACK)" if timing.label.endswith("twin")
                     else f"runtime, {kernel_set}" if kernel_set else "LCE, indirect BGEMM",
                     "ms": timing.median_ms, "gmacs": gmacs, "peak_gmacs": peak,
                     "vs_float": float_ms / timing.median_ms, "vs_lce": lce_ms / timing.median_ms})
    conv_table = reporting.table(
        ["3x3 256->256 conv, 28x28, 1 thread", "ms", "G binary MACs/s",
         "peak (runtime loop on registers)", "share of peak", "vs float XNNPACK", "vs LCE"],
        [[row["what"], f"{row['ms']:.3f}", f"{row['gmacs']:.0f}",
          f"{row['peak_gmacs']:.0f}" if row["peak_gmacs"] else "-",
          f"{row['gmacs'] / row['peak_gmacs']:.0%}" if row["peak_gmacs"] else "-",
          f"{row['vs_float']:.1f}x", f"{row['vs_lce']:.1f}x"] for row in rows])
    one, two, lce_chain = (t.median_ms for t in chain_timings)
    steady_one, steady_two = 1e3 * steady[1], 1e3 * steady[2]
    chain_table = reporting.table(
        ["ResNet-18's 16 binary convs, 224x224 input", "interleaved: ms", "G binary MACs/s",
         "back to back: ms", "G binary MACs/s"],
        [["runtime, 1 thread", f"{one:.2f}", f"{chain_macs / one / 1e6:.0f}",
          f"{steady_one:.2f}", f"{chain_macs / steady_one / 1e6:.0f}"],
         ["runtime, 2 threads", f"{two:.2f}", f"{chain_macs / two / 1e6:.0f}",
          f"{steady_two:.2f}", f"{chain_macs / steady_two / 1e6:.0f}"],
         ["LCE indirect BGEMM, 1 thread", f"{lce_chain:.2f}",
          f"{chain_macs / lce_chain / 1e6:.0f}", "-", "-"]])
    lines = [conv_table, "", chain_table, "",
             f"2 threads vs 1: {steady_one / steady_two:.2f}x back to back, "
             f"{one / two:.2f}x interleaved; runtime vs LCE, 1 thread: {lce_chain / one:.2f}x"]
    command = reporting.command_line("binary_conv_speed.py")
    caption = (f"Medians of {FLAGS.runs} interleaved runs, {reporting.machine()}, "
               f"{started}; the runtime's auto kernel set here: "
               f"{runtime.available_kernels()[1]}. `{command}`")
    table = "\n".join(lines)
    print(f"\n{caption}\n\n{table}")
    reporting.write_results(FLAGS.output, f"{caption}\n\n{table}", {
        "date": started, "command": command, "machine": reporting.machine(),
        "single_conv": rows, "single_conv_macs": conv_macs, "resnet18_convs_macs": chain_macs,
        "resnet18_convs_ms": {"runtime_1_thread": one, "runtime_2_threads": two,
                              "lce_1_thread": lce_chain, "back_to_back_1_thread": steady_one,
                              "back_to_back_2_threads": steady_two},
        "runs_ms": {f"{t.label} {t.kernel} {t.threads} thread(s)": [1e3 * s for s in t.seconds]
                    for t in every}})


if __name__ == "__main__":
    app.run(main)

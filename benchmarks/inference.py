"""Zoo models deployed with LCE next to their float twins: file size and latency.

    python benchmarks/inference.py                      # the results table (224x224, 1 thread)
    python benchmarks/inference.py --models=bnn_resnet20,recu_resnet20 --input_size=32

Per model: the LCE flatbuffer (BinaryDuo's in its decoupled, deployable form) with its
full-precision layers in float32, timed with each kernel choice (LCE's interpreter with
its kernels, and keras_bnn's runtime, `keras_bnn.runtime`, with the best kernel set of
this CPU and with AVX2 forced), and with them in int8
(`keras_bnn.export.convert(int8=True)`, ranges calibrated on random normal images); and
the float twin (`keras_bnn.float_twin`, plain TFLite converter) timed with TFLite's
kernels and with XNNPACK; all interleaved in one process (`keras_bnn.benchmark`). Weights
are the builders' random initialisation: latency and size do not depend on their values
(nor is the LCE/Keras comparison meaningful for them: a fresh deep binary net's BatchNorms
pass integer conv sums through unchanged, so activations sit exactly at the sign's
threshold; tests/test_export.py and tests/test_int8.py check conversions with trained
weights or trained-like statistics). Writes the table as Markdown and JSON next to
printing it.
"""

import time

import numpy as np
from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn import benchmark, export, lce, runtime
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_list("models", ["bnn_resnet18", "binaryduo_resnet18", "recu_resnet18",
                            "real_to_binary_resnet18"], "Zoo models to measure.")
flags.DEFINE_integer("input_size", 224, "Height and width of the input images.")
flags.DEFINE_list("kernels", ["default", "indirect_bgemm", "xnnpack", "runtime", "runtime_avx2"],
                  f"What runs the binary models, of {', '.join(lce.KERNELS)}.")
flags.DEFINE_list("int8_kernels", ["xnnpack", "runtime"],
                  "What runs the binary models with int8 full-precision layers.")
flags.DEFINE_integer("threads", 1, "Interpreter threads.")
flags.DEFINE_integer("runs", 10, "Timed runs per model and kernel, interleaved.")
flags.DEFINE_integer("warmup", 3, "Untimed runs first.")
flags.DEFINE_string("output", "benchmarks/results/inference", "Path of the .md and .json files "
                    "(without suffix).")
FLAGS = flags.FLAGS


def build(name, input_size):
    channels = zoo.DEFAULTS[name]["input_shape"][-1]
    return zoo.get_model(name, input_shape=(input_size, input_size, channels),
                         **zoo.deployed_options(name))


def measure(name):
    model = build(name, FLAGS.input_size)
    exported = export.convert(model, verify=False)
    calibration = np.random.default_rng(0).normal(
        size=(8, *model.input_shape[1:])).astype(np.float32)
    quantized = export.convert(model, verify=False, int8=True, calibration_data=calibration)
    twin = benchmark.float_flatbuffer(model)
    candidates = ([("binary", exported.flatbuffer, kernel) for kernel in FLAGS.kernels]
                  + [("binary int8", quantized.flatbuffer, kernel)
                     for kernel in FLAGS.int8_kernels]
                  + [("float twin", twin, kernel) for kernel in benchmark.FLOAT_KERNELS])
    timings = benchmark.time_flatbuffers(candidates, runs=FLAGS.runs, warmup=FLAGS.warmup,
                                         num_threads=FLAGS.threads)
    print(f"\n{name} ({exported.converted_binary_convs} LceBconv2d; int8 float ops: "
          f"{dict(quantized.float_ops)})\n{benchmark.report(timings)}", flush=True)
    return {"model": name, "lce_binary_convs": exported.converted_binary_convs,
            "int8_float_ops": dict(quantized.float_ops),
            "timings": [{"label": t.label, "kernel": t.kernel, "size_bytes": t.size_bytes,
                         "median_ms": t.median_ms, "runs_ms": [1e3 * s for s in t.seconds]}
                        for t in timings]}


def _best(timings, label, kernels):
    return min(t["median_ms"] for t in timings
               if t["label"] == label and t["kernel"] in kernels)


def markdown(results):
    columns = [("binary", FLAGS.kernels), ("binary int8", FLAGS.int8_kernels),
               ("float twin", benchmark.FLOAT_KERNELS)]
    header = ["model"]
    for label, kernels in columns:
        header += [f"{label} MB", *(f"{label} ms ({kernel})" for kernel in kernels)]
    header += ["runtime vs float twin", "runtime vs LCE's best", "smaller (float rest)",
               "smaller (int8 rest)"]
    rows, lce_kernels = [], set(lce.LCE_KERNELS)
    for result in results:
        timings, cells, size = result["timings"], [result["model"]], {}
        for label, kernels in columns:
            by_kernel = {t["kernel"]: t for t in timings if t["label"] == label}
            size[label] = next(iter(by_kernel.values()))["size_bytes"] / 1e6
            cells += [f"{size[label]:.2f}",
                      *(f"{by_kernel[kernel]['median_ms']:.1f}" for kernel in kernels)]
        runtime_ms = _best(timings, "binary", {"runtime"})
        cells += [f"{_best(timings, 'float twin', {'xnnpack'}) / runtime_ms:.2f}x",
                  f"{_best(timings, 'binary', lce_kernels) / runtime_ms:.2f}x",
                  f"{size['float twin'] / size['binary']:.1f}x",
                  f"{size['float twin'] / size['binary int8']:.1f}x"]
        rows.append(cells)
    return reporting.table(header, rows)


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    results = [measure(name) for name in FLAGS.models]
    table = markdown(results)
    machine = f"{reporting.machine()}, {FLAGS.threads} thread(s)"
    command = reporting.command_line("inference.py")
    caption = (f"{FLAGS.input_size}x{FLAGS.input_size}, median of {FLAGS.runs} interleaved "
               f"runs, {machine}, {started}; the runtime's kernel set here: "
               f"{runtime.available_kernels()[1]}. `{command}`")
    print(f"\n{caption}\n{table}")
    reporting.write_results(FLAGS.output, f"{caption}\n\n{table}", {
        "date": started, "machine": machine, "input_size": FLAGS.input_size,
        "runs": FLAGS.runs, "warmup": FLAGS.warmup, "results": results})


if __name__ == "__main__":
    app.run(main)

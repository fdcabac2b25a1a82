"""larq-zoo's 14 networks (weights=None, 224x224) through keras_bnn: the checked LCE export
(every tensor a binary conv reads or writes, one by one, and the outputs), `float_twin`,
and `binarize` of the twin, with a table of what each did.

larq-zoo is optional: its pins conflict with this stack, so it is installed without its
dependencies, with the three it needs to import:

    .venv/bin/pip install --no-deps larq-zoo==2.4.0 zookeeper==1.4.0 click typeguard==4.6.1
    python benchmarks/models_written_elsewhere.py              # export and float_twin
    python benchmarks/models_written_elsewhere.py --methods=bnn,recu --models=QuickNet

The sample inputs are CIFAR-10 test photos resized to 224x224 (natural images: a
random-weight network on noise says little). Writes
`benchmarks/results/models_written_elsewhere.{md,json}`, one row per model and step:
"verified" (exported, every binary conv's tensors agree locally to the given difference,
the outputs to the given mean relative difference), "ok" (float_twin built and ran), or
the start of the refusal.
"""

import pathlib
import time

from absl import app, flags

import keras_bnn
from keras_bnn import export
import tensorflow as tf
import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_list("models", None, "larq-zoo model names (default: all 14).")
flags.DEFINE_list("methods", [], "binarize() methods to run on each float twin, then export.")
flags.DEFINE_integer("size", 224, "Input height and width.")
flags.DEFINE_string("data_dir", "../shared/datasets", "Where the CIFAR-10 photos are.")
flags.DEFINE_string("output", "benchmarks/results/models_written_elsewhere",
                    "Path of the .md and .json files, without suffix.")
FLAGS = flags.FLAGS

MODELS = {"sota": ["QuickNet", "QuickNetSmall", "QuickNetLarge"],
          "literature": ["BiRealNet", "BinaryAlexNet", "BinaryDenseNet28", "BinaryDenseNet37",
                         "BinaryDenseNet37Dilated", "BinaryDenseNet45", "BinaryResNetE18",
                         "DoReFaNet", "MeliusNet22", "RealToBinaryNet", "XNORNet"]}


def larq_zoo_model(name, size):
    """The larq-zoo model `name` with fresh weights, the same every run (seed 0): whether
    an untrained network's outputs survive rounding depends on its weights."""
    import larq_zoo

    tf.keras.utils.set_random_seed(0)
    module = next(group for group, names in MODELS.items() if name in names)
    return getattr(getattr(larq_zoo, module), name)(weights=None,
                                                    input_shape=(size, size, 3))


def exported(model, images):
    """"verified: N/N binary convs, local diff <= x, outputs x"; raises if refused."""
    result = export.convert(model, sample_inputs=images)
    worst = result.conv_check.largest_local().mean_rel_diff if result.conv_check \
        else float("nan")
    return (f"verified: {result.converted_binary_convs}/{len(result.binary_convs)} binary "
            f"convs, local diff <= {worst:.1g}, outputs {result.mean_rel_diff:.2g}")


def attempt(step, function):
    """`(status, seconds)` of one step: its result, or the first line of its refusal."""
    start = time.perf_counter()
    try:
        status = function()
    except (ValueError, RuntimeError) as error:  # ExportError is a ValueError
        status = f"refused ({type(error).__name__}): {str(error).splitlines()[0][:600]}"
    except Exception as error:  # a crash in keras_bnn: a finding, recorded, not fatal
        status = f"ERROR ({type(error).__name__}): {str(error).splitlines()[0][:600]}"
    print(f"  {step}: {status}", flush=True)
    return status, time.perf_counter() - start


def main(_):
    try:
        import larq_zoo  # noqa: F401
    except ImportError as error:
        raise SystemExit(f"larq-zoo is not installed ({error}); see this script's docstring "
                         "for the one pip command.")
    images = reporting.cifar_photos(pathlib.Path(FLAGS.data_dir) / "cifar10-jpeg.tar.gz", 4,
                                    FLAGS.size)
    rows = []
    for name in FLAGS.models or [n for names in MODELS.values() for n in names]:
        print(name, flush=True)
        model = larq_zoo_model(name, FLAGS.size)
        steps = [("export", lambda: exported(model, images)),
                 ("float_twin", lambda: (keras_bnn.float_twin(model)(images[:1]), "ok")[1])]
        steps += [(f"binarize {method} + export", lambda method=method: exported(
            _binarized(model, method), images)) for method in FLAGS.methods]
        for step, function in steps:
            status, seconds = attempt(step, function)
            rows.append({"model": name, "step": step, "status": status, "seconds": seconds})
    table = reporting.table(["model", "step", "result", "s"],
                            [[r["model"], r["step"], r["status"], f"{r['seconds']:.0f}"]
                             for r in rows])
    command = reporting.command_line("models_written_elsewhere.py")
    caption = (f"larq-zoo 2.4 models, weights=None, {FLAGS.size}x{FLAGS.size}, 4 CIFAR-10 "
               f"photos resized; {reporting.machine()}. `{command}`")
    reporting.write_results(FLAGS.output, caption + "\n\n" + table,
                            {"caption": caption, "rows": rows})


def _binarized(model, method):
    binary = keras_bnn.binarize(keras_bnn.float_twin(model), method)
    return keras_bnn.decouple(binary) if method == "binaryduo" else binary


if __name__ == "__main__":
    app.run(main)

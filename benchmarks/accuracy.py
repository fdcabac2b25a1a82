"""Do the methods beat the baseline? Test accuracy of each at equal size, over seeds.

    python benchmarks/accuracy.py --data_dir=../shared/datasets/fashion-mnist
    python benchmarks/accuracy.py --dataset=cifar10 --data_dir=DIR --epochs=3 \
        --max_train_examples=20000 --data_source="JPEG copy"   # DIR: the copy extracted

Trains, with `zoo.run.train` (one run folder per budget, method and seed under `--runs_dir`, e.g.
`runs/accuracy/cifar10/3ep-20000ex-w0.125/recu/seed0`; re-running the command resumes or
reuses them), VGG-small at `--width_multiplier` as:

- the baseline BNN (`bnn_vgg_small`, Adam + cosine),
- BinaryDuo (`binaryduo_vgg_small`: ternary stage, decoupling, binary stage; the two stages
  together take the baseline's epochs, split in the official ratio, `recipes.binaryduo_epochs`),
- ReCU with its τ schedule (`recu_vgg_small`, the `recu` recipe),
- ReCU with τ = 1 (no clamp),
- the full-precision twin (the baseline's layers without quantizers, the `float_twin` recipe),

and prints per method the parameters, binary MACs, test accuracy (mean ± std over the
seeds) and wall time per run; writes the table as Markdown and JSON to `--output`.
"""

import pathlib
import statistics
import time

from absl import app, flags

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import larq as lq
import tf_keras as keras

import reporting  # benchmarks/reporting.py, beside this script
from zoo import recipes, run

flags.DEFINE_string("dataset", "fashion_mnist", "Data set, as train.py --dataset takes it.")
flags.DEFINE_string("data_dir", None, "Its folder (searched for otherwise).")
flags.DEFINE_string("data_source", None, "Which copy of the data set, as the table names it "
                    "(default: the folder train.py read).")
flags.DEFINE_integer("epochs", 2, "Training epochs of every method (BinaryDuo: both stages).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; every method runs once per seed.")
flags.DEFINE_float("width_multiplier", 0.125, "Width of the VGG-small networks.")
flags.DEFINE_integer("max_train_examples", None, "Use only this many training images.")
flags.DEFINE_string("runs_dir", "runs/accuracy", "Where the run folders go.")
flags.DEFINE_string("output", None, "Path of the .md and .json files, without suffix "
                    "(default benchmarks/results/accuracy_<dataset>).")
FLAGS = flags.FLAGS


def methods(epochs):
    """`{method: (folder name, RunRequest fields)}`, each at `epochs` epochs in all."""
    try:
        stage1, stage2 = recipes.binaryduo_epochs(epochs)
    except ValueError as error:
        raise app.UsageError(f"--epochs: {error}") from None
    return {
        "baseline BNN": ("baseline", dict(model="bnn_vgg_small", epochs=epochs)),
        "BinaryDuo": ("binaryduo", dict(model="binaryduo_vgg_small", epochs=stage1,
                                        stage2_epochs=stage2)),
        "ReCU (τ schedule)": ("recu", dict(model="recu_vgg_small", epochs=epochs)),
        "ReCU (τ = 1)": ("recu_tau1", dict(model="recu_vgg_small", epochs=epochs,
                                           model_options={"tau": 1.0})),
        "float twin": ("float_twin", dict(model="bnn_vgg_small", recipe="float_twin",
                                          epochs=epochs)),
    }


def budget_folder():
    """`3ep-20000ex-w0.125`: runs of different budgets or widths never share a folder."""
    examples = f"{FLAGS.max_train_examples}ex" if FLAGS.max_train_examples else "allex"
    return f"{FLAGS.epochs}ep-{examples}-w{FLAGS.width_multiplier:g}"


def train(fields, seed, run_dir):
    """Trains (or resumes, or reuses) one run; returns its metrics."""
    fields = {**fields, "model_options": {**fields.get("model_options", {}),
                                          "width_multiplier": FLAGS.width_multiplier}}
    request = run.RunRequest(**fields, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                             max_train_examples=FLAGS.max_train_examples, seed=seed,
                             export=False, output_dir=str(run_dir))
    print(request, flush=True)
    keras.backend.clear_session()
    return run.train(request)


def binary_macs(run_dir):
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    return lq.models.ModelProfile(model).op_count("mac", 1)


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    rows = []
    runs_root = pathlib.Path(FLAGS.runs_dir) / FLAGS.dataset / budget_folder()
    for method, (folder, fields) in methods(FLAGS.epochs).items():
        run_dirs = [runs_root / folder / f"seed{seed}" for seed in FLAGS.seeds]
        runs = [(run_dir, train(fields, int(seed), run_dir))
                for seed, run_dir in zip(FLAGS.seeds, run_dirs)]
        accuracies = [metrics["test_accuracy"] for _, metrics in runs]
        mean, std = reporting.mean_and_std(accuracies)
        rows.append({
            "method": method, "request": fields, "parameters": runs[0][1]["parameters"],
            "binary_macs": binary_macs(runs[0][0]), "accuracies": accuracies,
            "mean": mean, "std": std,
            "wall_seconds": statistics.mean(m["wall_seconds"] for _, m in runs),
            "data_source": runs[0][1]["data_source"],
        })
        print(f"{method}: {rows[-1]['mean']:.4f} ± {rows[-1]['std']:.4f}", flush=True)

    baseline = rows[0]["mean"]
    header = ["method", "parameters", "binary MACs", "test accuracy (mean ± std)",
              "vs baseline (points)", "minutes per run"]
    lines = [reporting.table(header, [
        [r["method"], f"{r['parameters']:,}", f"{r['binary_macs'] / 1e6:.2f} M",
         f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f} %",
         f"{100 * (r['mean'] - baseline):+.2f}", f"{r['wall_seconds'] / 60:.1f}"]
        for r in rows])]
    command = reporting.command_line("accuracy.py")
    budget = reporting.training_budget(FLAGS.epochs, FLAGS.max_train_examples)
    data_source = FLAGS.data_source or rows[0]["data_source"]
    machine = reporting.machine()
    caption = (f"{FLAGS.dataset} ({data_source}), VGG-small "
               f"x{FLAGS.width_multiplier}, {budget}, seeds {','.join(FLAGS.seeds)}, "
               f"{machine}, {started}: `{command}`")
    table = "\n".join(lines)
    print(f"\n{caption}\n{table}")
    reporting.write_results(
        FLAGS.output or f"benchmarks/results/accuracy_{FLAGS.dataset}", f"{caption}\n\n{table}",
        {"date": started, "command": command, "machine": machine, "dataset": FLAGS.dataset,
         "data_source": data_source, "epochs": FLAGS.epochs,
         "max_train_examples": FLAGS.max_train_examples,
         "width_multiplier": FLAGS.width_multiplier, "seeds": FLAGS.seeds, "rows": rows})


if __name__ == "__main__":
    app.run(main)

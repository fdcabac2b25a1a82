"""Training runs on real Fashion-MNIST: outputs, resume after an interruption and after
kill -9, every recipe, devices. `zoo.run.train` runs in this process; the command line
itself (train.py) only where it is what is tested: kill -9, two workers, its error line."""

import dataclasses
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import train
from keras_bnn import export
from keras_bnn.callbacks import tau_schedule
from zoo import run
from zoo.run import RunError, RunRequest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(train.__file__).resolve().parent
QUICK = dict(max_train_examples=1024, max_test_examples=128, batch_size=32, learning_rate=0.01)
QUICK_FLAGS = [f"--{name}={value}" for name, value in QUICK.items()]  # the same, as flags


@pytest.fixture(scope="module")
def fashion(shared_datasets):
    """A `RunRequest` on the real Fashion-MNIST with small budgets; tests replace fields."""
    return RunRequest(data_dir=str(shared_datasets / "fashion-mnist"), **QUICK)


def train_in_process(request, capsys):
    """Runs `request`; returns its metrics and what it printed."""
    metrics = run.train(request)
    return metrics, capsys.readouterr().out


def command(*args):
    return [sys.executable, str(ROOT / "train.py"), *args]


def environment(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "KERAS_BNN_DATA_DIR")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_command(*args, cwd=ROOT, **extra_env):
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd,
                          env=environment(**extra_env), timeout=600)


def request_from(args):
    """The `RunRequest` that `train.py args` runs (its flags, parsed in this process)."""
    train.FLAGS.unparse_flags()
    try:
        train.FLAGS(["train.py", *args])
        return train.request_from_flags()
    finally:
        train.FLAGS.unparse_flags()


def final_weights(run_dir):
    return tf.keras.models.load_model(run_dir / "model.keras").get_weights()


# Loads every model file and restores every checkpoint of run folders, in a fresh process
# that imports keras_bnn alone: each must load without zoo, train.py or custom_objects.
LOAD_EVERY_FILE = """
import pathlib, sys
import keras_bnn  # alone: no other keras_bnn or zoo module
import tensorflow as tf, tf_keras
for run_dir in map(pathlib.Path, sys.argv[1:]):
    models = sorted([*run_dir.glob("model.*"), *run_dir.glob("*/model.keras")])
    for path in [path for path in models if path.suffix in (".keras", ".h5")]:
        tf_keras.models.load_model(path)
        print("loaded", path)
    for checkpoints in sorted(run_dir.glob("*/checkpoints")):
        model = tf_keras.models.load_model(checkpoints.parent / "model.keras")
        latest = tf.train.latest_checkpoint(checkpoints)
        names = tf.train.load_checkpoint(latest).get_variable_to_shape_map()
        taught = any(name.startswith("model/student/") for name in names)  # a Distiller's
        trained = tf.train.Checkpoint(student=model) if taught else model
        epoch = tf.Variable(0, dtype=tf.int64)
        tf.train.Checkpoint(model=trained, optimizer=model.optimizer, epoch=epoch).restore(
            latest).assert_existing_objects_matched()
        assert int(epoch.numpy()) > 0
        print("restored", checkpoints)
"""

def assert_every_file_loads_in_a_fresh_process(*run_dirs):
    result = subprocess.run([sys.executable, "-c", LOAD_EVERY_FILE, *map(str, run_dirs)],
                            capture_output=True, text=True, env=environment(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for run_dir in run_dirs:
        stages = list(run_dir.glob("*/checkpoints"))
        assert stages and result.stdout.count(f"restored {run_dir}/") == len(stages)
        # + model.keras and model.h5
        assert result.stdout.count(f"loaded {run_dir}/") == 2 + len(stages), result.stdout


def test_run_writes_every_output_and_learns(fashion, tmp_path, capsys):
    metrics, printed = train_in_process(
        dataclasses.replace(fashion, epochs=2, output_dir=str(tmp_path)), capsys)
    assert metrics == json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3, metrics  # chance is 0.1
    assert metrics["epochs"] == 2 and metrics["test_examples"] == 128
    assert metrics["wall_seconds"] > 0
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in printed
    assert "1-bit MACs" in printed  # lq.models.summary at the start

    for name in ("model.keras", "model.h5", "training_curves.png", "command.json",
                 "train/model.keras", "train/checkpoints/history.json"):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "train" / "tensorboard").rglob("events.out.tfevents.*"))
    history = json.loads((tmp_path / "train/checkpoints/history.json").read_text())
    assert len(history) == 2 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    keras_model = tf.keras.models.load_model(tmp_path / "model.keras")
    h5_model = tf.keras.models.load_model(tmp_path / "model.h5")
    for a, b in zip(keras_model.get_weights(), h5_model.get_weights()):
        np.testing.assert_array_equal(a, b)

    assert metrics["export"]["lce_binary_convs"] == 5  # recu_small's five binary convs
    assert "binary convs: 5 of 5 became LceBconv2d" in printed
    flatbuffer = (tmp_path / "model.tflite").read_bytes()
    assert metrics["export"]["size_bytes"] == len(flatbuffer)
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(export.lce_interpreter(flatbuffer).predict(images).argmax(1),
                                  keras_model.predict(images, verbose=0).argmax(1))


def test_a_model_lce_cannot_run_is_trained_and_saved_but_not_exported(fashion, tmp_path, capsys):
    metrics, printed = train_in_process(dataclasses.replace(
        fashion, model="bnn_small", model_options={"input_quantizer": "ternary_sign"},
        epochs=1, steps_per_epoch=2, output_dir=str(tmp_path)), capsys)
    assert "LCE export skipped" in printed
    assert "keras_bnn.decouple" in metrics["export"]["error"]
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / "model.tflite").exists()


def test_kill_9_mid_epoch_then_the_same_command_resumes_to_the_same_weights(
        fashion, tmp_path, capsys, monkeypatch):
    args = [f"--data_dir={fashion.data_dir}", *QUICK_FLAGS, "--model=bnn_small", "--epochs=4",
            "--steps_per_epoch=12", "--seed=3", "--noexport"]
    workdir = tmp_path / "work"  # runs/<timestamp> goes here
    workdir.mkdir()
    process = subprocess.Popen(command(*args), cwd=workdir, env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Meanwhile, the same run uninterrupted, in this process.
    run.train(dataclasses.replace(fashion, model="bnn_small", epochs=4, steps_per_epoch=12,
                                  seed=3, export=False, output_dir=str(tmp_path / "straight")))
    deadline = time.time() + 300
    index = None
    while time.time() < deadline and process.poll() is None:
        index = next(workdir.glob("runs/*/train/checkpoints/checkpoint"), None)
        if index is not None and "ckpt-2" in index.read_text():
            break
        time.sleep(0.02)
    time.sleep(0.1)  # into epoch 3
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    run_dir = index.parents[2]
    assert not (run_dir / "metrics.json").exists()
    # The killed invocation recorded its time at each epoch's end; the resumed one adds its
    # own. (Made large here, so that the sum cannot pass for the last invocation's alone.)
    clock = run_dir / run.CLOCK_FILE
    assert json.loads(clock.read_text())["seconds"] > 0
    clock.write_text(json.dumps({"seconds": 1000.0}))

    started = time.perf_counter()
    monkeypatch.chdir(workdir)  # the same flags, run in this process
    _, printed = train_in_process(request_from(args), capsys)
    wall_seconds = json.loads((run_dir / "metrics.json").read_text())["wall_seconds"]
    assert 1000 < wall_seconds <= round(1000 + time.perf_counter() - started, 1)  # rounded
    assert f"Resuming the unfinished run in runs/{run_dir.name}" in printed
    assert [p.name for p in (workdir / "runs").iterdir()] == [run_dir.name]
    for a, b in zip(final_weights(tmp_path / "straight"), final_weights(run_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = json.loads((run_dir / "train/checkpoints/history.json").read_text())
    assert len(history) == 4


@pytest.mark.parametrize("flag,message", [
    ("--epochs=0", "FATAL Flags parsing error: flag --epochs=0"),  # absl's check
    ("--model_option=oops", "error: --model_option: 'oops': expected name=value"),  # ours
])
def test_the_command_line_says_what_is_wrong_in_one_line(flag, message, tmp_path):
    result = run_command(flag, f"--output_dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(("error:", "FATAL Flags parsing error"))]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr[-2000:]
    assert not (tmp_path / "out").exists()  # nothing written, not even command.json


@pytest.mark.parametrize("fields,message", [
    (dict(dataset="no_such_dataset_xyz", data_dir=None), "no_such_dataset_xyz"),
    (dict(data_dir="/nonexistent/fashion"), "/nonexistent/fashion"),
    (dict(model_options={"nonexistent": 1}), "has no option 'nonexistent'; its options are tau"),
    (dict(strategy="multi_worker"), "needs the cluster in the TF_CONFIG"),
    (dict(recipe="binaryduo"), "needs ternary activations"),
])
def test_a_request_that_cannot_run_raises_a_run_error(fields, message, fashion, tmp_path,
                                                      monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RunError, match=message):
        run.train(dataclasses.replace(fashion, output_dir=str(tmp_path / "out"), **fields))
    assert not (tmp_path / "out" / run.METRICS_FILE).exists()


def test_resuming_into_a_folder_of_another_request_is_refused(fashion, tmp_path):
    (tmp_path / run.COMMAND_FILE).write_text(json.dumps(
        {"command": "python train.py --epochs=9",
         "request": run.run_identity(dataclasses.replace(fashion, epochs=9))}))
    with pytest.raises(RunError, match=r"holds a run of another request \(python train.py "
                                       r"--epochs=9; epochs: 9 there, 5 here\)"):
        run.train(dataclasses.replace(fashion, output_dir=str(tmp_path)))


def test_the_flags_make_the_request_the_api_takes(fashion):
    request = request_from([f"--data_dir={fashion.data_dir}", *QUICK_FLAGS, "--epochs=3",
                            "--model=bnn_small", "--input_quantizer=ternary_sign",
                            "--model_option=width=0.5", "--lr_schedule=step",
                            "--decay_epochs=1,2", "--noexport"])
    assert request == dataclasses.replace(
        fashion, epochs=3, model="bnn_small", schedule="step", decay_epochs=(1.0, 2.0),
        model_options={"input_quantizer": "ternary_sign", "width": 0.5}, export=False)
    assert train.request_from_flags.__module__ == "train"  # flags only: the loop is zoo.run's
    assert RunRequest() == train.DEFAULT  # the flags' defaults are the request's


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_training_with_two_local_workers(fashion, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    scratch = tmp_path / "tmp"  # the workers' temporary folders
    scratch.mkdir()
    args = [f"--data_dir={fashion.data_dir}", *QUICK_FLAGS, "--model=bnn_small", "--epochs=1",
            "--steps_per_epoch=16", "--strategy=multi_worker", f"--output_dir={tmp_path / 'run'}"]
    processes = [
        subprocess.Popen(
            command(*args), cwd=tmp_path, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(TMPDIR=str(scratch), TF_CONFIG=json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.2  # chance: 0.1
    assert metrics["export"]["lce_binary_convs"] > 0  # exported outside the strategy
    assert "test accuracy" in outputs[0][0] and "test accuracy" not in outputs[1][0]
    assert not list(scratch.glob("keras_bnn_worker_*"))  # worker 1's saves are cleaned up
    # The run's files load on one device: there the same request finds the run finished.
    # (Each worker kept its own BatchNorm statistics, which the saved model averages: the
    # one-device evaluation differs a little from the distributed one.)
    again = run.train(request_from([arg for arg in args if arg != "--strategy=multi_worker"]))
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=0.05)
    assert again["wall_seconds"] == metrics["wall_seconds"]  # the training's, not the reload's


def interrupt_after_first_epoch(run_dir, stage):
    """Leaves a finished two-epoch run as if it had stopped after `stage`'s first epoch:
    drops what came after that checkpoint."""
    checkpoints = run_dir / stage / "checkpoints"
    for path in [run_dir / "metrics.json", run_dir / stage / "model.keras",
                 *checkpoints.glob("ckpt-2.*")]:
        path.unlink()
    (checkpoints / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')


def resumes_to_the_same_weights(request, final, finished_stage, capsys):
    """Runs `request` again: it must load `finished_stage`, train only the last epoch of the
    interrupted stage and end with the weights `final` of the uninterrupted run."""
    _, printed = train_in_process(request, capsys)
    assert f"Stage {finished_stage!r} is finished" in printed
    assert "Epoch 2/2" in printed and "Epoch 1/2" not in printed
    for a, b in zip(final, final_weights(pathlib.Path(request.output_dir))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_binaryduo_recipe_decouples_without_changing_accuracy_and_resumes_in_stage_2(
        fashion, tmp_path, capsys):
    request = dataclasses.replace(
        fashion, model="bnn_small", model_options={"input_quantizer": "ternary_sign"},
        recipe="binaryduo", epochs=1, stage2_epochs=2, steps_per_epoch=6, seed=1,
        output_dir=str(tmp_path))
    metrics, printed = train_in_process(request, capsys)
    ternary, decoupled = metrics["stages"]
    assert (ternary["stage"], decoupled["stage"]) == ("ternary", "decoupled")
    assert decoupled["initial_test_accuracy"] == pytest.approx(ternary["test_accuracy"], abs=1e-6)
    assert "Stage 'decoupled' starts from the previous stage's model" in printed
    final = final_weights(tmp_path)

    interrupt_after_first_epoch(tmp_path, "decoupled")
    resumes_to_the_same_weights(request, final, "ternary", capsys)
    exported = json.loads((tmp_path / "metrics.json").read_text())["export"]
    assert exported["lce_binary_convs"] == 2  # the decoupled model, all binary in LCE


@pytest.fixture(scope="module")
def recu_run(fashion, tmp_path_factory):
    """A finished two-epoch run of the recu recipe (recu_small, no export), for the tests
    that only read its folder."""
    run_dir = tmp_path_factory.mktemp("recu_run")
    run.train(dataclasses.replace(fashion, model="recu_small", epochs=2, steps_per_epoch=2,
                                  export=False, output_dir=str(run_dir)))
    return run_dir


def test_recu_run_schedules_tau_logs_dead_weights_and_plots_them(recu_run):
    history = json.loads((recu_run / "train/checkpoints/history.json").read_text())
    assert [epoch["tau"] for epoch in history] == pytest.approx(
        [tau_schedule(0, 2), tau_schedule(1, 2)])
    assert all(0 <= epoch["dead_fraction"] < 0.5 and "flip_ratio" in epoch for epoch in history)
    assert "conv2/dead_fraction" in history[0]  # per binary conv too
    assert (recu_run / "latent_weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((recu_run / "train/tensorboard/weights").rglob("events.out.tfevents.*"))


# One stage of two blocks (the recipe does not depend on the depth; the test's time does);
# test_export exports the whole network.
SMALL_REAL_TO_BINARY = {"stage_filters": (8,)}


def test_real_to_binary_trains_three_taught_stages_and_resumes_in_the_last(
        fashion, tmp_path, capsys):
    request = dataclasses.replace(
        fashion, model="real_to_binary_resnet18", model_options=SMALL_REAL_TO_BINARY,
        epochs=2, steps_per_epoch=2, export=False, output_dir=str(tmp_path))
    metrics, _ = train_in_process(request, capsys)
    assert [s["stage"] for s in metrics["stages"]] == ["real", "binary_activations", "binary"]
    assert metrics["epochs"] == 6
    for stage in metrics["stages"][1:]:
        assert "initial_test_accuracy" in stage  # the previous stage's weights, requantized
    histories = {stage: json.loads((tmp_path / stage / "checkpoints/history.json").read_text())
                 for stage in ("real", "binary_activations", "binary")}
    assert "attention_loss" not in histories["real"][0]
    for stage in ("binary_activations", "binary"):  # taught by the stage before
        assert all(epoch["attention_loss"] > 0 and "distillation_loss" in epoch
                   for epoch in histories[stage])
    final = final_weights(tmp_path)

    interrupt_after_first_epoch(tmp_path, "binary")  # its teacher: read from stage 2's file
    resumes_to_the_same_weights(request, final, "binary_activations", capsys)
    assert_every_file_loads_in_a_fresh_process(tmp_path)  # a Distiller's checkpoints too


# The smallest model of each recipe whose files hold more than Keras's and larq's own layers
# in one stage (real_to_binary: its own test): recu's (recu_run) and binaryduo's. The
# single-stage and float-twin recipes write what the recu recipe writes, with fewer kinds of
# layers.
def test_every_file_of_the_other_recipes_loads_in_a_fresh_process(fashion, recu_run, tmp_path):
    run.train(dataclasses.replace(
        fashion, model="bnn_small", model_options={"input_quantizer": "ternary_sign"},
        recipe="binaryduo", epochs=1, steps_per_epoch=2, export=False, output_dir=str(tmp_path)))
    assert_every_file_loads_in_a_fresh_process(recu_run, tmp_path)

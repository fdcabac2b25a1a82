"""train.py end to end on real Fashion-MNIST: outputs, resume after kill -9, errors, devices."""

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

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import train  # noqa: E402
from keras_bnn import export  # noqa: E402
from keras_bnn.callbacks import tau_schedule  # noqa: E402

QUICK = ["--max_train_examples=1024", "--max_test_examples=512", "--batch_size=32",
         "--learning_rate=0.01"]


def command(*args):
    return [sys.executable, str(ROOT / "train.py"), *args]


def environment(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "KERAS_BNN_DATA_DIR")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_train(*args, cwd=ROOT, **extra_env):
    return subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd,
                          env=environment(**extra_env), timeout=600)


# Loads every model file and restores every checkpoint of a run folder, in a fresh process
# that imports keras_bnn alone: each must load without zoo, train.py or custom_objects.
LOAD_EVERY_FILE = """
import pathlib, sys
import keras_bnn  # alone: no other keras_bnn or zoo module
import tensorflow as tf, tf_keras
run_dir = pathlib.Path(sys.argv[1])
models = sorted([*run_dir.glob("model.*"), *run_dir.glob("*/model.keras")])
models = [path for path in models if path.suffix in (".keras", ".h5")]
for path in models:
    tf_keras.models.load_model(path)
    print("loaded", path.relative_to(run_dir))
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
    print("restored", checkpoints.relative_to(run_dir))
"""


def assert_every_file_loads_in_a_fresh_process(run_dir):
    result = subprocess.run([sys.executable, "-c", LOAD_EVERY_FILE, str(run_dir)],
                            capture_output=True, text=True, env=environment(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stages = [path.parent for path in run_dir.glob("*/checkpoints")]
    assert stages and result.stdout.count("restored ") == len(stages), result.stdout
    assert result.stdout.count("loaded ") == 2 + len(stages), result.stdout  # + model.keras, .h5


@pytest.fixture(scope="module")
def fashion(shared_datasets):
    return f"--data_dir={shared_datasets / 'fashion-mnist'}"


def final_weights(run_dir):
    model = tf.keras.models.load_model(run_dir / "model.keras")
    return model.get_weights()


def test_run_writes_every_output_and_learns(fashion, tmp_path):
    result = run_train(fashion, *QUICK, "--epochs=2", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3, metrics  # chance is 0.1
    assert metrics["epochs"] == 2 and metrics["test_examples"] == 512
    assert metrics["command"].startswith("python train.py --data_dir=")
    assert metrics["wall_seconds"] > 0
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in result.stdout
    assert "1-bit MACs" in result.stdout  # lq.models.summary at the start

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
    assert_every_file_loads_in_a_fresh_process(tmp_path)

    assert metrics["export"]["lce_binary_convs"] == 5  # recu_small's five binary convs
    assert "binary convs: 5 of 5 became LceBconv2d" in result.stdout
    flatbuffer = (tmp_path / "model.tflite").read_bytes()
    assert metrics["export"]["size_bytes"] == len(flatbuffer)
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(export.lce_interpreter(flatbuffer).predict(images).argmax(1),
                                  keras_model.predict(images, verbose=0).argmax(1))


def test_a_model_lce_cannot_run_is_trained_and_saved_but_not_exported(fashion, tmp_path):
    result = run_train(fashion, *QUICK, "--epochs=1", "--steps_per_epoch=4",
                       "--model=bnn_small", "--input_quantizer=ternary_sign",
                       f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LCE export skipped" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "keras_bnn.decouple" in metrics["export"]["error"]
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / "model.tflite").exists()


def test_kill_9_mid_epoch_then_the_same_command_resumes_to_the_same_weights(fashion, tmp_path):
    args = [fashion, *QUICK, "--model=bnn_small", "--epochs=4", "--steps_per_epoch=24",
            "--seed=3", "--noexport"]
    straight = run_train(*args, f"--output_dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-3000:]

    workdir = tmp_path / "work"  # runs/<timestamp> goes here
    workdir.mkdir()
    process = subprocess.Popen(command(*args), cwd=workdir, env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    index = None
    while time.time() < deadline and process.poll() is None:
        index = next(workdir.glob("runs/*/train/checkpoints/checkpoint"), None)
        if index is not None and "ckpt-2" in index.read_text():
            break
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 3
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    run_dir = index.parents[2]
    assert not (run_dir / "metrics.json").exists()
    # The killed invocation recorded its time at each epoch's end; the resumed one adds its
    # own. (Made large here, so that the sum cannot pass for the last invocation's alone.)
    clock = run_dir / train.CLOCK_FILE
    assert json.loads(clock.read_text())["seconds"] > 0
    clock.write_text(json.dumps({"seconds": 1000.0}))

    started = time.perf_counter()
    resumed = run_train(*args, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    wall_seconds = json.loads((run_dir / "metrics.json").read_text())["wall_seconds"]
    assert 1000 < wall_seconds < 1000 + time.perf_counter() - started
    assert f"Resuming the unfinished run in runs/{run_dir.name}" in resumed.stdout
    assert [p.name for p in (workdir / "runs").iterdir()] == [run_dir.name]
    for a, b in zip(final_weights(tmp_path / "straight"), final_weights(run_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = json.loads((run_dir / "train/checkpoints/history.json").read_text())
    assert len(history) == 4


@pytest.mark.parametrize(
    "flag,message",
    [("--model=resnet9000", "--model"),
     ("--epochs=0", "--epochs"),
     ("--dataset=no_such_dataset_xyz", "no_such_dataset_xyz"),
     ("--data_dir=/nonexistent/fashion", "/nonexistent/fashion"),
     ("--model_option=oops", "--model_option: 'oops': expected name=value"),
     ("--model_option=nonexistent=1", "has no option 'nonexistent'; its options are tau")],
)
def test_bad_flags_give_one_clear_line(flag, message, tmp_path):
    result = run_train(flag, f"--output_dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(("error:", "FATAL Flags parsing error"))]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert not (tmp_path / "out").exists()  # nothing written, not even command.json


def test_resuming_into_a_folder_of_another_command_is_refused(fashion, tmp_path):
    (tmp_path / "command.json").write_text(json.dumps(
        {"command": "python train.py --epochs=9", "arguments": ["--epochs=9"]}))
    result = run_train(fashion, *QUICK, f"--output_dir={tmp_path}")
    assert result.returncode != 0
    assert "holds a run of another command (python train.py --epochs=9)" in result.stderr


def run_in_process(arguments):
    train.FLAGS.unparse_flags()
    train.FLAGS(["train.py", *arguments])
    train.train(arguments)


def test_mirrored_strategy_on_two_logical_cpus_follows_one_device(fashion, tmp_path):
    """BatchNorm normalizes per replica: the two runs agree within noise, not exactly."""
    common = [fashion, *QUICK, "--epochs=2", "--batch_size=64", "--noexport"]
    run_in_process([*common, "--strategy=mirrored", f"--output_dir={tmp_path / 'mirrored'}"])
    run_in_process([*common, f"--output_dir={tmp_path / 'single'}"])
    mirrored = json.loads((tmp_path / "mirrored/metrics.json").read_text())
    single = json.loads((tmp_path / "single/metrics.json").read_text())
    assert mirrored["test_accuracy"] > 0.3 and single["test_accuracy"] > 0.3  # chance: 0.1
    assert abs(mirrored["test_accuracy"] - single["test_accuracy"]) < 0.15
    # The mirrored run's results load on one device: resuming there finds it finished.
    # Replicas keep their own BatchNorm statistics, which the saved model averages, so the
    # one-device evaluation differs slightly from the replicated one.
    run_in_process([*common, "--strategy=default", f"--output_dir={tmp_path / 'mirrored'}"])
    again = json.loads((tmp_path / "mirrored/metrics.json").read_text())
    assert again["test_accuracy"] == pytest.approx(mirrored["test_accuracy"], abs=0.03)
    assert again["wall_seconds"] == mirrored["wall_seconds"]  # the training's, not the reload's


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
    args = [fashion, *QUICK, "--epochs=2", "--steps_per_epoch=16", "--strategy=multi_worker",
            f"--output_dir={tmp_path / 'run'}"]
    processes = [
        subprocess.Popen(
            command(*args), cwd=tmp_path, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(TF_CONFIG=json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # chance: 0.1
    assert metrics["export"]["lce_binary_convs"] > 0  # exported outside the strategy
    assert "test accuracy" in outputs[0][0] and "test accuracy" not in outputs[1][0]


def test_multi_worker_without_tf_config_is_refused(tmp_path):
    result = run_train("--strategy=multi_worker", f"--output_dir={tmp_path}", cwd=tmp_path)
    assert result.returncode != 0 and "needs the cluster in the TF_CONFIG" in result.stderr


def interrupt_after_first_epoch(run_dir, stage):
    """Leaves a finished two-epoch run as if it had stopped after `stage`'s first epoch:
    drops what came after that checkpoint."""
    checkpoints = run_dir / stage / "checkpoints"
    for path in [run_dir / "metrics.json", run_dir / stage / "model.keras",
                 *checkpoints.glob("ckpt-2.*")]:
        path.unlink()
    (checkpoints / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')


def resumes_to_the_same_weights(args, run_dir, final, finished_stage):
    """Runs `args` again: it must load `finished_stage`, train only the last epoch of the
    interrupted stage and end with the weights `final` of the uninterrupted run."""
    resumed = run_train(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Stage {finished_stage!r} is finished" in resumed.stdout
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    for a, b in zip(final, final_weights(run_dir)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_binaryduo_recipe_decouples_without_changing_accuracy_and_resumes_in_stage_2(
    fashion, tmp_path
):
    args = [fashion, *QUICK, "--model=bnn_small", "--input_quantizer=ternary_sign",
            "--recipe=binaryduo",
            "--epochs=1", "--stage2_epochs=2", "--steps_per_epoch=12", "--seed=1",
            f"--output_dir={tmp_path}"]
    first = run_train(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    ternary, decoupled = json.loads((tmp_path / "metrics.json").read_text())["stages"]
    assert (ternary["stage"], decoupled["stage"]) == ("ternary", "decoupled")
    assert decoupled["initial_test_accuracy"] == pytest.approx(ternary["test_accuracy"], abs=1e-6)
    assert "Stage 'decoupled' starts from the previous stage's model" in first.stdout
    final = final_weights(tmp_path)

    interrupt_after_first_epoch(tmp_path, "decoupled")
    resumes_to_the_same_weights(args, tmp_path, final, finished_stage="ternary")
    exported = json.loads((tmp_path / "metrics.json").read_text())["export"]
    assert exported["lce_binary_convs"] == 2  # the decoupled model, all binary in LCE
    assert_every_file_loads_in_a_fresh_process(tmp_path)


def test_binaryduo_recipe_refuses_a_model_without_ternary_activations(fashion, tmp_path):
    result = run_train(fashion, *QUICK, "--recipe=binaryduo", f"--output_dir={tmp_path}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "needs ternary activations" in result.stderr


def test_recu_run_schedules_tau_logs_dead_weights_and_plots_them(fashion, tmp_path):
    result = run_train("--model=recu_resnet20", fashion, *QUICK, "--epochs=2",
                       "--steps_per_epoch=8", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "train/checkpoints/history.json").read_text())
    assert [epoch["tau"] for epoch in history] == pytest.approx(
        [tau_schedule(0, 2), tau_schedule(1, 2)])
    assert all(0 <= epoch["dead_fraction"] < 0.5 and "flip_ratio" in epoch for epoch in history)
    assert "stage1_block1_1_conv/dead_fraction" in history[0]
    assert (tmp_path / "latent_weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((tmp_path / "train/tensorboard/weights").rglob("events.out.tfevents.*"))
    exported = json.loads((tmp_path / "metrics.json").read_text())["export"]
    assert exported["lce_binary_convs"] == 18  # every ReCUConv2D of ResNet-20
    assert_every_file_loads_in_a_fresh_process(tmp_path)


def test_real_to_binary_trains_three_taught_stages_and_resumes_in_the_last(fashion, tmp_path):
    # Two stages of two blocks (the recipe does not depend on the depth, the test's time
    # does); test_export exports the whole network.
    args = [fashion, *QUICK, "--model=real_to_binary_resnet18",
            "--model_option=stage_filters=(4, 8)", "--epochs=2", "--steps_per_epoch=4",
            "--noexport", f"--output_dir={tmp_path}"]
    first = run_train(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
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
    resumes_to_the_same_weights(args, tmp_path, final, finished_stage="binary_activations")
    assert_every_file_loads_in_a_fresh_process(tmp_path)


@pytest.mark.parametrize("flags", [
    ["--model=bnn_small"],  # the single recipe (the default model trains with recu's)
    ["--model=bnn_small", "--recipe=float_twin"],
    ["--model=strong_baseline_resnet18", "--model_option=stage_filters=(4, 8)"],  # two_step
])
def test_every_file_of_the_other_recipes_loads_in_a_fresh_process(flags, fashion, tmp_path):
    result = run_train(fashion, *QUICK, *flags, "--epochs=1", "--steps_per_epoch=2",
                       "--noexport", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_every_file_loads_in_a_fresh_process(tmp_path)

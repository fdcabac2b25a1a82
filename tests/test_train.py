"""train.py end to end on real Fashion-MNIST: it learns, saves a loadable model, reports."""

import json
import os
import subprocess
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import data

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_train(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )


def test_short_real_run_learns_and_saves_a_model(shared_datasets, tmp_path):
    result = run_train(
        f"--data_dir={shared_datasets / 'fashion-mnist'}", "--epochs=2",
        "--steps_per_epoch=60", "--batch_size=64", f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["test_accuracy"] > 0.4, results  # chance is 0.1
    assert f"test accuracy {results['test_accuracy']:.4f}" in result.stdout

    model = tf.keras.models.load_model(tmp_path / "model.keras")
    _, (x_test, y_test) = data.load_mnist_like("fashion_mnist", shared_datasets / "fashion-mnist")
    predictions = model.predict(x_test, batch_size=500, verbose=0).argmax(axis=1)
    assert np.mean(predictions == y_test) == pytest.approx(results["test_accuracy"], abs=1e-4)


def test_missing_data_is_a_one_line_error_without_a_traceback(tmp_path):
    result = run_train(f"--data_dir={tmp_path}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Could not find the fashion_mnist files" in result.stderr
    assert str(tmp_path) in result.stderr
    assert not (tmp_path / "out").exists()

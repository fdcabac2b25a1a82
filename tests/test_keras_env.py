"""keras_bnn runs on Keras 2 (tf_keras) and refuses a TensorFlow already bound to Keras 3."""

import os
import subprocess
import sys

import larq as lq
import tensorflow as tf
import tf_keras


def run_python(code):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_tf_keras_is_keras_2_everywhere():
    assert tf.keras.layers.Layer is tf_keras.layers.Layer
    assert tf_keras.__version__.startswith("2.")
    assert issubclass(lq.layers.QuantConv2D, tf_keras.layers.Layer)


def test_import_sets_legacy_keras_without_any_environment_variable():
    result = run_python(
        "import keras_bnn, tensorflow as tf, tf_keras\n"
        "assert tf.keras.layers.Layer is tf_keras.layers.Layer\n"
        "print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_after_keras_3_raises_a_clear_import_error():
    result = run_python(
        "import tensorflow as tf\n"
        "tf.keras.layers.Dense(1)  # binds tf.keras to Keras 3\n"
        "try:\n"
        "    import keras_bnn\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert "Keras 3" in message
    assert "TF_USE_LEGACY_KERAS=1" in message
    assert "Import keras_bnn before" in message

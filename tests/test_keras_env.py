"""keras_bnn runs on Keras 2 (tf_keras) after any import order, and refuses a TensorFlow
whose tf.keras was already used as Keras 3."""

import os
import subprocess
import sys

import larq as lq
import pytest
import tensorflow as tf
import tf_keras

pytestmark = pytest.mark.slow


def run_python(code, **extra_env):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **extra_env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_tf_keras_is_keras_2_everywhere():
    assert tf.keras.layers.Layer is tf_keras.layers.Layer
    assert tf_keras.__version__.startswith("2.")
    assert issubclass(lq.layers.QuantConv2D, tf_keras.layers.Layer)


KERAS_2_EVERYWHERE = (
    "import tensorflow as tf, tf_keras, larq, zoo\n"
    "from tensorflow.keras.optimizers.legacy import Optimizer\n"
    "assert tf.keras.layers.Layer is tf_keras.layers.Layer\n"
    "assert Optimizer is tf_keras.optimizers.legacy.Optimizer\n"
    "assert issubclass(larq.layers.QuantConv2D, tf_keras.layers.Layer)\n"
    "print('ok')"
)


@pytest.mark.parametrize("first", [
    "",  # keras_bnn first, without any environment variable
    "import numpy; import tensorflow as tf",
    "import tf_keras",
    "import keras; layer = keras.layers.Dense(1)",  # Keras 3 (imports TensorFlow), used as itself
])
def test_any_import_order_before_keras_bnn_gives_keras_2(first):
    result = run_python(f"{first}\nimport keras_bnn\n{KERAS_2_EVERYWHERE}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_larq_first_works_with_the_documented_variable():
    # larq itself cannot be imported under Keras 3 (it subclasses tf.keras classes at import
    # time), so this order needs TF_USE_LEGACY_KERAS=1, as the README says.
    result = run_python(f"import larq\nimport keras_bnn\n{KERAS_2_EVERYWHERE}",
                        TF_USE_LEGACY_KERAS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("use", [
    "tf.keras.layers.Dense(1)",
    "from tensorflow.keras import layers",
])
def test_import_after_keras_3_raises_a_clear_import_error(use):
    result = run_python(
        "import tensorflow as tf\n"
        f"{use}  # binds tf.keras to Keras 3\n"
        "try:\n"
        "    import keras_bnn\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert "Keras 3" in message
    assert "TF_USE_LEGACY_KERAS=1" in message
    assert "Import keras_bnn before the first use of tf.keras" in message

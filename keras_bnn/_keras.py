"""The one place where keras_bnn sets up TensorFlow, Keras and larq.

larq 0.14 and Larq Compute Engine 0.16 support only the Keras 2 API. TensorFlow >= 2.16
routes `tf.keras` to Keras 3 unless `TF_USE_LEGACY_KERAS=1` is set, in which case it routes
to the `tf_keras` package. TensorFlow reads the variable twice: when it is imported (to
choose where `import tensorflow.keras...` looks) and when `tf.keras` is first touched (to
choose what `tf.keras` is). This module sets the variable, and when TensorFlow was imported
before it (by the user, by `keras`, `tf_keras` or anything else) without touching `tf.keras`,
points the import path at `tf_keras` too. It then checks that `tf.keras` really is
`tf_keras`, and only then imports larq. Every other module of the package imports `tf`,
`keras` and `lq` from here.

# Raises
    ImportError: when `tf.keras` was already used as Keras 3 in this Python process, which
        can no longer be changed without changing what the code before meant.
"""

import contextlib
import importlib.util
import os
import pathlib
import sys
import types
from collections.abc import Callable, Iterator

_tensorflow_was_imported = "tensorflow" in sys.modules
os.environ["TF_USE_LEGACY_KERAS"] = "1"


def _route_tensorflow_keras_imports_to_tf_keras(tensorflow: types.ModuleType) -> None:
    """Makes `import tensorflow.keras.X` find `tf_keras` in a TensorFlow imported before the
    variable was set (TensorFlow put Keras 3's API folder first on its `__path__` then)."""
    keras_3 = importlib.util.find_spec("keras")
    if keras_3 is None:
        return  # no Keras 3 installed: TensorFlow's path has nothing to fix
    keras_3_api = pathlib.Path(keras_3.origin).parent / "api" / "_v2"
    tf_keras_api = pathlib.Path(sys.modules["tf_keras"].__file__).parent / "api" / "_v2"
    rest = [entry for entry in tensorflow.__path__ if pathlib.Path(entry) != keras_3_api]
    if len(rest) < len(tensorflow.__path__):
        tensorflow.__path__[:] = [str(tf_keras_api), *rest]


import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if _tensorflow_was_imported and not getattr(vars(tf).get("keras"), "_tfll_initialized", True):
    _route_tensorflow_keras_imports_to_tf_keras(tf)

if tf.keras.layers.Layer is not keras.layers.Layer:
    raise ImportError(
        "keras_bnn needs the Keras 2 API (the tf_keras package), but this Python process "
        f"already used tf.keras as Keras {tf.keras.__version__} before keras_bnn was "
        "imported. Import keras_bnn before the first use of tf.keras (importing "
        "tensorflow, keras or tf_keras first is fine), or set the environment variable "
        "TF_USE_LEGACY_KERAS=1 before starting Python (for example "
        "`export TF_USE_LEGACY_KERAS=1`)."
    )

import larq as lq  # noqa: E402

# larq keeps the metrics support of its own quantizers (the `flip_ratio` metric and the
# default metrics of `larq.context.metrics_scope`) in a private base class; our quantizers
# subclass it so that they behave exactly like larq's. This is the only use of it.
LarqBaseQuantizer = lq.quantizers._BaseQuantizer



def register_serializable(*aliases: str) -> Callable[[type], type]:
    """Registers a class so that Keras and larq find it by every name it may be saved under.

    `"keras_bnn>ClassName"` (the `.keras` format and `register_keras_serializable`), the bare
    `"ClassName"` (the legacy `.h5` format and `lq.quantizers.get`) and each alias (e.g. a
    quantizer's snake_case name). Models then load without `custom_objects`.

    ```python
    import tensorflow as tf
    from keras_bnn._keras import register_serializable

    @register_serializable("times_two")
    class TimesTwo(tf.keras.layers.Layer):
        def call(self, inputs):
            return 2 * inputs

    assert tf.keras.utils.get_registered_object("times_two") is TimesTwo
    assert tf.keras.utils.get_registered_object("keras_bnn>TimesTwo") is TimesTwo
    ```

    # Arguments
        *aliases: More names to register the class under.

    # Returns
        A class decorator that returns the class itself.
    """

    def decorator(cls: type) -> type:
        cls = keras.utils.register_keras_serializable(package="keras_bnn")(cls)
        custom_objects = keras.utils.get_custom_objects()
        for name in (cls.__name__, *aliases):
            custom_objects[name] = cls
        return cls

    return decorator


@contextlib.contextmanager
def unsafe_deserialization() -> Iterator[None]:
    """Lets tf_keras rebuild Lambda layers (Python code) inside the block: for configs that
    this process took from its own models, never for files (`keras_bnn.graphs.rebuild`).

    ```python
    import tensorflow as tf
    from keras_bnn._keras import unsafe_deserialization

    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Lambda(lambda x: 2 * x)])
    with unsafe_deserialization():
        copy = tf.keras.Sequential.from_config(model.get_config())
    ```
    """
    from tf_keras.src.saving import serialization_lib

    with serialization_lib.SafeModeScope(safe_mode=False):
        yield


__all__ = ["LarqBaseQuantizer", "keras", "lq", "register_serializable", "tf",
           "unsafe_deserialization"]

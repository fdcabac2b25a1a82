"""The one place where keras_bnn sets up TensorFlow, Keras and larq.

larq 0.14 and Larq Compute Engine 0.16 support only the Keras 2 API. TensorFlow >= 2.16
routes `tf.keras` to Keras 3 unless `TF_USE_LEGACY_KERAS=1` is set before `tf.keras` is
first touched, in which case it routes to the `tf_keras` package. This module sets the
variable, imports TensorFlow, checks that `tf.keras` really is `tf_keras`, and only then
imports larq. Every other module of the package imports `tf`, `keras` and `lq` from here.

# Raises
    ImportError: when TensorFlow was already imported and its `tf.keras` is Keras 3, which
        can no longer be changed inside this Python process.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if tf.keras.layers.Layer is not keras.layers.Layer:
    raise ImportError(
        "keras_bnn needs the Keras 2 API (the tf_keras package), but TensorFlow was "
        f"imported before keras_bnn with tf.keras = Keras {tf.keras.__version__}. "
        "Import keras_bnn before anything that touches tf.keras, or set the "
        "environment variable TF_USE_LEGACY_KERAS=1 before starting Python "
        "(for example `export TF_USE_LEGACY_KERAS=1`)."
    )

import larq as lq  # noqa: E402

# larq keeps the metrics support of its own quantizers (the `flip_ratio` metric and the
# default metrics of `larq.context.metrics_scope`) in a private base class; our quantizers
# subclass it so that they behave exactly like larq's. This is the only use of it.
LarqBaseQuantizer = lq.quantizers._BaseQuantizer



def register_serializable(*aliases):
    """Registers a class so that Keras and larq find it by every name it may be saved under.

    `"keras_bnn>ClassName"` (the `.keras` format and `register_keras_serializable`), the bare
    `"ClassName"` (the legacy `.h5` format and `lq.quantizers.get`) and each alias (e.g. a
    quantizer's snake_case name). Models then load without `custom_objects`.

    ```python
    @register_serializable("ternary_sign")
    class TernarySign(LarqBaseQuantizer): ...
    ```
    """

    def decorator(cls):
        cls = keras.utils.register_keras_serializable(package="keras_bnn")(cls)
        custom_objects = keras.utils.get_custom_objects()
        for name in (cls.__name__, *aliases):
            custom_objects[name] = cls
        return cls

    return decorator


def all_layers(model):
    """Every layer of `model` in order, the layers of nested models in place of the models.

    ```python
    binary = [layer for layer in all_layers(model) if hasattr(layer, "kernel_quantizer")]
    ```
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
        else:
            yield layer


__all__ = ["LarqBaseQuantizer", "all_layers", "keras", "lq", "register_serializable", "tf"]

"""The full-precision twin of a binary model: the same layers with the quantizers removed.

What a binary network is measured against, in speed (`keras_bnn.benchmark`) and accuracy:
every larq quantized layer (`QuantConv2D`, `QuantDense`, `QuantDepthwiseConv2D`, ...,
`ReCUConv2D`) becomes its Keras counterpart with the same filters, kernel size, strides,
padding and names, without quantizers, binary padding values or weight clipping; every
other layer (BatchNorm, shortcuts, BinaryDuo's decoupling layers) stays as it is. The twin
has fresh weights: it is an architecture, not a copy of the trained binary model.

```python
import keras_bnn
import zoo

model = zoo.get_model("bnn_resnet20")
twin = keras_bnn.float_twin(model)
assert twin.count_params() == model.count_params()
```
"""

import inspect

from keras_bnn._keras import keras
from keras_bnn.graphs import float_counterpart, has_graph, rebuild
from keras_bnn.keras3 import to_tf_keras

__all__ = ["float_twin"]


def _float_layer_config(layer: keras.layers.Layer | None) -> dict | None:
    """The serialized Keras counterpart of a quantized layer, or None for other layers."""
    counterpart = float_counterpart(type(layer))
    if counterpart is None:
        return None
    config = layer.get_config()
    # The counterpart's own arguments: no quantizers, no binary padding values.
    accepted = {*inspect.signature(counterpart).parameters, "name", "trainable", "dtype"}
    float_config = {key: value for key, value in config.items() if key in accepted}
    for key in ("kernel_constraint", "depthwise_constraint", "pointwise_constraint"):
        if key in float_config:
            float_config[key] = None  # larq's weight_clip keeps latent weights in [-1, 1]
    return {"class_name": counterpart.__name__, "config": float_config}


def _replace_quantized_layers(model_config: dict,
                              layers_by_name: dict[str, keras.layers.Layer]) -> None:
    for layer_config in model_config["layers"]:
        layer = layers_by_name.get(layer_config["config"]["name"])  # None: a Sequential's input
        if isinstance(layer, keras.Model):
            _replace_quantized_layers(layer_config["config"], _layers_by_name(layer))
            continue
        replacement = _float_layer_config(layer)
        if replacement is not None:
            layer_config["class_name"] = replacement["class_name"]
            layer_config["config"] = replacement["config"]
            layer_config.pop("module", None)
            layer_config.pop("registered_name", None)


def _layers_by_name(model: keras.Model) -> dict[str, keras.layers.Layer]:
    return {layer.name: layer for layer in model.layers}


def float_twin(model: keras.Model) -> keras.Model:
    """The full-precision twin of `model`: the same layers with the quantizers removed.

    ```python
    import larq as lq
    import tensorflow as tf
    from keras_bnn.twin import float_twin

    inputs = tf.keras.Input((8, 8, 3))
    x = lq.layers.QuantConv2D(16, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", name="conv")(inputs)
    twin = float_twin(tf.keras.Model(inputs, x))
    type(twin.get_layer("conv"))  # tf.keras.layers.Conv2D, 16 filters, 3x3
    ```

    # Arguments
        model: A `Sequential` or functional `tf_keras` model (nested models included), or
            a Keras 3 one (see `keras_bnn.keras3.to_tf_keras`).

    # Returns
        A new model of the same class, freshly initialised, in which every larq quantized
        layer is its plain Keras counterpart.

    # Raises
        ValueError: for a subclassed model, whose layers cannot be rebuilt from a config, or
            a Keras 3 layer without a tf_keras counterpart.
    """
    model = to_tf_keras(model)
    if not has_graph(model):
        raise ValueError(
            f"float_twin needs a Sequential or functional model; {model.name!r} is a "
            f"subclassed {type(model).__name__}, whose architecture has no config to edit. "
            "Build it with the functional API."
        )
    config = model.get_config()
    _replace_quantized_layers(config, _layers_by_name(model))
    return rebuild(config, type(model), lambdas_from=model)

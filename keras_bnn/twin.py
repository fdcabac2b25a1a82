"""The full-precision twin of a binary model: the same layers with the quantizers removed.

What a binary network is measured against, in speed (`keras_bnn.benchmark`) and accuracy:
every larq quantized layer (`QuantConv2D`, `QuantDense`, `QuantDepthwiseConv2D`, ...,
`ReCUConv2D`) becomes its Keras counterpart with the same filters, kernel size, strides,
padding and names, without quantizers, binary padding values or weight clipping; every
other layer (BatchNorm, shortcuts, BinaryDuo's decoupling layers) stays as it is. The twin
has fresh weights: it is an architecture, not a copy of the trained binary model.

```python
twin = keras_bnn.float_twin(zoo.get_model("bnn_resnet18"))
twin.count_params() == model.count_params()  # True
```
"""

import inspect

from keras_bnn._keras import keras
from keras_bnn.graphs import float_counterpart, has_graph, rebuild
from keras_bnn.keras3 import to_tf_keras

__all__ = ["float_twin"]

def _float_layer_config(layer):
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


def _replace_quantized_layers(model_config, layers_by_name):
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


def _layers_by_name(model):
    return {layer.name: layer for layer in model.layers}


def float_twin(model):
    """The full-precision twin of `model`: the same layers with the quantizers removed.

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

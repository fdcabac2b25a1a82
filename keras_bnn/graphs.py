"""Rewriting a model's graph through its functional config: the base that
`keras_bnn.decouple` and `keras_bnn.binarize` share.

```python
model = as_functional(model, "binarize()")    # a Sequential becomes functional
config = model.get_config()
config["layers"].append(layer_entry(keras.layers.BatchNormalization(name="bn"), [["conv", 0, 0]]))
```
"""

from keras_bnn._keras import keras
from keras_bnn.keras3 import to_tf_keras

__all__ = ["as_functional", "layer_entry"]


def as_functional(model, caller):
    """`model` as a functional `tf_keras` model whose config can be rewritten.

    # Arguments
        model: A functional or (built) Sequential model, of `tf_keras` or of Keras 3 (then
            rebuilt in `tf_keras` with its weights by `keras_bnn.keras3.to_tf_keras`).
        caller: The function asking, named in the errors (`"decouple()"`).

    # Raises
        ValueError: for a Sequential model without a defined input, a subclassed model,
            or a Keras 3 layer without a tf_keras counterpart.
    """
    model = to_tf_keras(model)
    if isinstance(model, keras.Sequential):
        if not model.inputs:
            raise ValueError(
                f"Sequential model {model.name!r} has no defined input; build it with an "
                f"Input layer (or call it once) before calling {caller} on it."
            )
        return keras.Model(model.inputs, model.outputs, name=model.name)
    try:
        config = model.get_config()
    except NotImplementedError:
        config = None
    if not isinstance(config, dict) or "input_layers" not in config:
        raise ValueError(
            f"{caller} needs a functional or Sequential model; {model.name!r} is a "
            "subclassed model, whose graph cannot be rewritten."
        )
    return model


def layer_entry(layer, inbound):
    """A functional-config entry for a new layer reading the tensors `inbound`."""
    return {**keras.layers.serialize(layer), "name": layer.name,
            "inbound_nodes": [[[*source[:3], {}] for source in inbound]]}

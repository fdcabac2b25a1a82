"""Edits of a functional model's config (`model.get_config()`) that `binarize` makes in
several places; `keras_bnn.graphs` has the general ones (`readers`, `redirect`, `rebuild`).

```python
entries = index(config)                             # {layer name: config entry}
split_activation(config, "conv2d_1", "relu")  # conv2d_1 linear, then an Activation
```
"""

from keras_bnn._keras import keras
from keras_bnn.graphs import layer_entry, redirect

__all__ = ["index", "split_activation"]


def index(config: dict) -> dict[str, dict]:
    """The entries of a functional config's layers by name.

    ```python
    index(model.get_config())["conv2d_1"]["class_name"]  # "Conv2D"
    ```

    # Arguments
        config: A functional model's config.

    # Returns
        `{layer name: entry}`, the entries themselves (editing one edits `config`).
    """
    return {entry["name"]: entry for entry in config["layers"]}


def split_activation(config: dict, name: str, activation: str) -> None:
    """Moves layer `name`'s fused activation into an `Activation` layer after it, named
    `f"{name}_activation"`, which every former reader of `name` reads instead.

    ```python
    split_activation(config, "conv2d_1", "relu")  # Conv2D(activation="relu") -> Conv2D, ReLU
    ```

    # Arguments
        config: A functional model's config, edited in place.
        name: The layer with the fused activation.
        activation: Its activation's name (`"relu"`).
    """
    entries = index(config)
    entries[name]["config"]["activation"] = "linear"
    split = keras.layers.Activation(activation, name=f"{name}_activation")
    redirect(config, name, split.name)
    position = config["layers"].index(entries[name])
    config["layers"].insert(position + 1, layer_entry(split, [[name, 0, 0]]))

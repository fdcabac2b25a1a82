"""The constant-input fix: a binary layer must not read values that are never negative.

`sign` turns every value >= 0 into +1, so a binary layer reading a ReLU, ReLU6, sigmoid,
softmax, softplus or exponential (directly, or through pooling, padding, dropout, flatten
or reshape layers) would see a constant. `fix_constant_input` makes it read the
activation's input instead (the sign is its nonlinearity); the activation stays for its
other readers (a residual shortcut, say), the layers in between are duplicated if others
read them, and an activation fused into a layer (`Conv2D(activation="relu")`) is split out
into an `Activation` layer first. Where the input is a merge of non-negative tensors (`Add`
of two ReLU outputs) or a nested model's non-negative output, a new `BatchNormalization`
before the binary layer centres it.

```python
fix_constant_input(config, change)  # config edited; change.notes says what was done
```
"""

from keras_bnn._keras import keras
from keras_bnn.binarization.config_edits import index, split_activation
from keras_bnn.binarization.report import LayerChange
from keras_bnn.graphs import entry_sources, layer_entry, readers, source_names

__all__ = ["fix_constant_input"]

# Activations whose outputs are never negative: `sign` of them is a constant +1.
_NON_NEGATIVE = {"relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus",
                 "exponential"}
# Weightless layers that keep values non-negative: a binary layer's input is searched
# through them for such an activation.
_NON_NEGATIVE_KEEPING = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
                         keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
                         keras.layers.GlobalAveragePooling1D,
                         keras.layers.GlobalAveragePooling2D,
                         keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
                         keras.layers.ZeroPadding2D, keras.layers.Cropping2D,
                         keras.layers.UpSampling2D, keras.layers.Flatten, keras.layers.Reshape,
                         keras.layers.Dropout, keras.layers.SpatialDropout2D)
# Layers that merge several tensors: non-negative when all their inputs are.
_MERGES = ("Add", "Average", "Concatenate", "Maximum", "Multiply")


def fix_constant_input(config: dict, change: LayerChange) -> None:
    """Makes a binary layer whose input is >= 0 read something with both signs: what the
    non-negative activation before it reads, or (after a merge of non-negative tensors)
    its input through a new BatchNormalization.

    ```python
    fix_constant_input(config, LayerChange("conv2", "Conv2D", "QuantConv2D"))
    ```

    # Arguments
        config: The functional config with the binary layer, edited in place.
        change: The binary layer's `LayerChange`; a note is added for every fix, and for
            a layer reading the model input (which may be >= 0: pixels in [0, 1]).
    """
    entries = index(config)
    binary = entries[change.layer]
    for source in list(entry_sources(binary)):
        producer = entries[source[0]]
        if producer["class_name"] == "InputLayer":
            change.notes.append("reads the model input: inputs >= 0 (pixels in [0, 1]) "
                                "would all binarize to +1; normalise them to zero mean")
        while _is_non_negative(entries, source[0]):  # what it reads after a fix may be too
            chain, producer = [], entries[source[0]]
            while _non_negative_activation(producer) is None:
                if _class_of(producer) not in _NON_NEGATIVE_KEEPING:
                    _centre(config, source, change)
                    break
                chain.append(producer)
                producer = entries[source_names(producer)[0]]
            else:
                _bypass(config, source, chain, producer, change)
            entries = index(config)


def _class_of(entry: dict) -> type | None:
    """The `tf_keras` layer class of a config entry; None for other classes."""
    return getattr(keras.layers, entry["class_name"], None)


def _non_negative_activation(entry: dict) -> str | None:
    """The name of the non-negative activation `entry` ends in, or None."""
    config = entry["config"]
    if entry["class_name"] == "ReLU":  # ReLU6 too; a negative slope or threshold: not >= 0
        negative = config.get("negative_slope") or (config.get("threshold") or 0) < 0
        return None if negative else "relu"
    if entry["class_name"] == "Softmax":
        return "softmax"
    if entry["class_name"] == "TFOpLambda":  # tf.nn.relu(x) and the like on Keras tensors
        function = config["function"].rsplit(".", 1)[-1]
        return function if function in _NON_NEGATIVE else None
    activation = config.get("activation")
    activation = activation if isinstance(activation, str) else None
    return activation if activation in _NON_NEGATIVE else None


def _is_non_negative(entries: dict[str, dict], name: str) -> bool:
    """Whether layer `name`'s output is >= 0 everywhere: a non-negative activation, seen
    through sign-keeping layers and merges (Add, Concatenate, ...) of such outputs."""
    entry = entries.get(name)
    if entry is None:
        return False
    if _non_negative_activation(entry):
        return True
    if "output_layers" in entry["config"]:  # a nested functional model: what it outputs
        inner = index(entry["config"])
        return all(_is_non_negative(inner, output[0])
                   for output in entry["config"]["output_layers"])
    sources = source_names(entry)
    if _class_of(entry) in _NON_NEGATIVE_KEEPING and len(sources) == 1:
        return _is_non_negative(entries, sources[0])
    return entry["class_name"] in _MERGES and all(_is_non_negative(entries, source)
                                                  for source in sources)


def _centre(config: dict, source: list, change: LayerChange) -> None:
    """Inserts a BatchNormalization between `source` and the binary layer reading it."""
    norm = keras.layers.BatchNormalization(name=f"{change.layer}_input_bn")
    position = config["layers"].index(index(config)[change.layer])
    config["layers"].insert(position, layer_entry(norm, [source]))
    change.notes.append(f"read {source[0]!r}, non-negative (a merge of such tensors, or a "
                        f"nested model's output; all +1 once binarized); a new "
                        f"BatchNormalization {norm.name!r} centres it")
    source[:3] = [norm.name, 0, 0]


def _bypass(config: dict, source: list, chain: list[dict], activation: dict,
            change: LayerChange) -> None:
    """Points `source` (the binary layer's input) past the non-negative `activation`, through
    `chain` (the sign-keeping layers between them), duplicated if others read them too."""
    name = _non_negative_activation(activation)
    if activation["class_name"] not in ("Activation", "ReLU", "Softmax", "TFOpLambda"):
        # Fused into a layer (Conv2D(activation="relu"), say): split it out first.
        split_activation(config, activation["name"], name)
        activation = index(config)[f"{activation['name']}_activation"]
    pre_activation = list(next(entry_sources(activation))[:3])
    if any(len(readers(config, entry["name"])) > 1 for entry in chain):
        upstream = pre_activation
        for entry in reversed(chain):
            copy_name = f"{entry['name']}_for_{change.layer}"
            copy = {**entry, "name": copy_name, "config": {**entry["config"], "name": copy_name},
                    "inbound_nodes": [[[*upstream, {}]]]}
            config["layers"].insert(config["layers"].index(index(config)[change.layer]), copy)
            upstream = [copy_name, 0, 0]
        source[:3] = upstream
    elif chain:
        chain[-1]["inbound_nodes"][0][0][:3] = pre_activation
    else:
        source[:3] = pre_activation
    if not readers(config, activation["name"]):
        config["layers"].remove(activation)
    change.notes.append(
        f"read the {name} {activation['name']!r} (inputs >= 0, all +1 once binarized); now "
        f"reads its input {pre_activation[0]!r}"
        + (f" through {[entry['name'] for entry in chain]}" if chain else ""))

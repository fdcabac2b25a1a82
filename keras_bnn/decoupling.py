"""BinaryDuo's decoupling: a ternary-activation model becomes a binary one, same function.

`T(x) = 0.5 * (sign(x + t) + sign(x - t))`, so a quantized conv whose input quantizer is
`TernarySign` computes the same as a binary conv over the 2C channels
`[sign(x + t), sign(x - t)]` with kernel `[W, W]`, scaled by 0.5. `decouple` rewrites the
model's graph accordingly:

- the ternary activation becomes 2C binary-ready channels: where a BatchNormalization
  feeds only this activation, that BatchNorm is duplicated (`DuplicateChannels` + a
  BatchNorm over 2C channels with gamma, mean and variance copied and the betas shifted by
  `+t` and `-t`), otherwise a `DecoupledActivation` (`[x + t, x - t]`) is inserted;
- the conv's input quantizer becomes `ste_sign` (same clip value), its kernel `[W, W]`
  over the doubled inputs (so binary weights stay binary, with the same scale), its bias
  doubled, and a `Scale(0.5)` follows it (then its activation, if it had one);
- every other layer is copied with its weights.

In inference mode the result computes the same outputs as the ternary model (up to float
rounding); only the gradients differ, which is the point of BinaryDuo's stage 2.

```python
import keras_bnn
import tensorflow as tf
import zoo

ternary_model = zoo.get_model("bnn_small", input_quantizer="ternary_sign")  # stage 1
binary_model = keras_bnn.decouple(ternary_model)
binary_model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
# binary_model.fit(...): stage 2
```

References:
- Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by Coupling
  Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020, Section 4 and the
  official code.
"""

import copy

import numpy as np

from keras_bnn._keras import keras, lq, tf
from keras_bnn.graphs import (all_layers, as_functional, entry_sources, layer_entry, readers,
                              rebuild)
from keras_bnn.layers import DecoupledActivation, DuplicateChannels, Scale
from keras_bnn.quantizers import TernarySign

__all__ = ["decouple", "has_ternary_activations"]

_DECOUPLABLE = (lq.layers.QuantConv2D, lq.layers.QuantDense)


def decouple(model: keras.Model, *, threshold: float | None = None) -> keras.Model:
    """Turns every ternary activation of `model` into two binary ones, keeping the function.

    ```python
    import larq as lq
    import numpy as np
    import tensorflow as tf
    from keras_bnn.decoupling import decouple

    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.BatchNormalization()(tf.keras.layers.Conv2D(16, 3)(inputs))
    x = lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0,
                              input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip")(x)
    ternary = tf.keras.Model(inputs, x)
    binary = decouple(ternary)  # the ternary conv now reads 32 binary channels
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(binary(images), ternary(images), atol=1e-4)
    ```

    # Arguments
        model: A functional or Sequential `tf_keras` (or Keras 3) model (nested functional or
            Sequential blocks included) whose `QuantConv2D` / `QuantDense` layers use
            `TernarySign` input quantizers.
        threshold: The `t` of the decoupled activations; by default each ternary
            quantizer's own threshold (which keeps the function). Another value is an
            experiment: the model then computes something else.

    # Returns
        A new `tf_keras.Model`; `model` is left unchanged.

    # Raises
        ValueError: when the model has no ternary activation; when a ternary activation
            sits in a layer the transform does not support (other quantized layer types,
            shared layers, grouped convs, SAME padding with `pad_values != 1`); when a
            kernel quantizer does not quantize the duplicated kernel as it did the
            original; or for a subclassed model (no graph to rewrite).

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020,
          Section 4.
    """
    decoupled, count = _decouple_graph(as_functional(model, "decouple()"), threshold)
    if count == 0:
        raise ValueError(
            f"Model {model.name!r} has no QuantConv2D or QuantDense layer with a TernarySign "
            "input quantizer: there is nothing to decouple. decouple() turns BinaryDuo's "
            "ternary models (input_quantizer='ternary_sign') into binary ones."
        )
    return decoupled


def _is_ternary(layer: keras.layers.Layer) -> bool:
    return isinstance(getattr(layer, "input_quantizer", None), TernarySign)


def has_ternary_activations(model: keras.Model) -> bool:
    """Whether any layer of `model` (nested models included) has a TernarySign input quantizer.

    ```python
    import zoo
    from keras_bnn.decoupling import decouple, has_ternary_activations

    ternary = zoo.get_model("bnn_small", input_quantizer="ternary_sign")
    assert has_ternary_activations(ternary)
    assert not has_ternary_activations(decouple(ternary))
    ```
    """
    return any(_is_ternary(layer) for layer in all_layers(model))


def _check_decouplable(layer: keras.layers.Layer, entry: dict) -> None:
    name = layer.name
    if not isinstance(layer, _DECOUPLABLE):
        raise ValueError(
            f"Layer {name!r} ({type(layer).__name__}) has a TernarySign input quantizer; "
            "decouple() supports it only in QuantConv2D and QuantDense layers."
        )
    if len(entry["inbound_nodes"]) != 1:
        raise ValueError(
            f"Layer {name!r} is shared ({len(entry['inbound_nodes'])} calls); decouple() "
            "needs each ternary layer to be called once."
        )
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"Layer {name!r} is a grouped conv; decouple() cannot double its "
                         "input channels.")
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(
            f"Layer {name!r} is channels_first; decouple() doubles the channels of the last "
            "axis, and Larq Compute Engine runs binary convs channels_last only. Build the "
            "model with data_format='channels_last'."
        )
    if getattr(layer, "padding", "valid") == "same" and layer.pad_values != 1.0:
        raise ValueError(
            f"Layer {name!r} pads its ternary input with {layer.pad_values}; decoupling "
            "keeps the function only with pad_values=1.0 (+1 = the mean of two +1 binary "
            "pads), which Larq Compute Engine also needs. Train the ternary model with "
            "pad_values=1.0."
        )


def _duplicated_kernel(layer: keras.layers.Layer) -> np.ndarray:
    """`[W, W]` along the input channels, checked against the layer's kernel quantizer."""
    kernel = layer.get_weights()[0]
    input_axis = kernel.ndim - 2
    doubled = np.concatenate([kernel, kernel], axis=input_axis)
    quantizer = layer.kernel_quantizer
    if quantizer is not None:
        original = np.asarray(quantizer(tf.constant(kernel)))
        halves = np.split(np.asarray(quantizer(tf.constant(doubled))), 2, axis=input_axis)
        # Exactly equal for sign quantizers; the tolerance is for scaled ones (and slow).
        if not all(np.array_equal(half, original)
                   or np.allclose(half, original, rtol=1e-6, atol=1e-7) for half in halves):
            raise ValueError(
                f"Layer {layer.name!r}: its kernel quantizer {type(quantizer).__name__} "
                "quantizes the duplicated kernel [W, W] differently from W, so the "
                "decoupled conv would compute something else."
            )
    return doubled


def _binary_conv_entry(layer: keras.layers.Layer, entry: dict, inbound: list) -> dict:
    """The decoupled conv: binary input quantizer, linear, reading the 2C channels."""
    config = dict(entry["config"])
    config["input_quantizer"] = keras.utils.serialize_keras_object(
        lq.quantizers.SteSign(clip_value=layer.input_quantizer.clip_value)
    )
    config["activation"] = "linear"
    return {key: value for key, value in entry.items() if key != "build_config"} | {
        "config": config, "inbound_nodes": [[[*inbound[:3], {}]]]
    }


def _duplicate_batch_norm(bn_layer: keras.layers.BatchNormalization, bn_entry: dict,
                          t: float) -> tuple[dict, dict, list[np.ndarray]]:
    """Entries and weights of DuplicateChannels + a 2C BatchNorm with betas shifted by ±t."""
    duplicate = DuplicateChannels(name=f"{bn_layer.name}_duplicate")
    duplicate_entry = layer_entry(duplicate, bn_entry["inbound_nodes"][0])
    new_bn_entry = {key: value for key, value in bn_entry.items() if key != "build_config"}
    new_bn_entry["inbound_nodes"] = [[[duplicate.name, 0, 0, {}]]]
    doubled = []
    for weight in bn_layer.weights:
        value = weight.numpy()
        shift = t if weight.name.split("/")[-1].startswith("beta") else 0.0
        doubled.append(np.concatenate([value + shift, value - shift]))
    return duplicate_entry, new_bn_entry, doubled


def _is_plain_batch_norm(layer: keras.layers.Layer) -> bool:
    """A BatchNorm over the last axis, with a beta to shift."""
    return (isinstance(layer, keras.layers.BatchNormalization) and layer.center
            and list(layer.axis) == [len(layer.input_shape) - 1])


def _decouple_graph(model: keras.Model, threshold: float | None) -> tuple[keras.Model, int]:
    """Rewrites a functional model's config; returns the new model and how many it decoupled."""
    config = model.get_config()
    entries, position, weights, renamed = [], {}, {}, {}
    count = 0

    def append(entry: dict) -> None:
        position[entry["name"]] = len(entries)
        entries.append(entry)

    for original in config["layers"]:
        entry = {**original, "inbound_nodes": copy.deepcopy(original["inbound_nodes"])}
        for source in entry_sources(entry):
            source[:3] = renamed.get(tuple(source[:3]), source[:3])
        layer = model.get_layer(entry["name"])
        if isinstance(layer, keras.Model) and has_ternary_activations(layer):
            inner, inner_count = _decouple_graph(as_functional(layer, "decouple()"), threshold)
            count += inner_count
            weights[layer.name] = inner.get_weights()
            append({**keras.layers.serialize(inner), "name": layer.name,
                    "inbound_nodes": entry["inbound_nodes"]})
            continue
        if not _is_ternary(layer):
            append(entry)
            continue

        _check_decouplable(layer, entry)
        count += 1
        t = layer.input_quantizer.threshold if threshold is None else threshold
        (source,) = entry["inbound_nodes"][0]
        # A renamed source is a new layer (the Scale after another decoupled conv).
        unchanged = source[0] == original["inbound_nodes"][0][0][0]
        producer = model.get_layer(source[0]) if unchanged and source[0] in position else None
        if (producer is not None and _is_plain_batch_norm(producer)
                and readers(config, original["inbound_nodes"][0][0][0]) == [layer.name]
                and producer.name not in weights):
            duplicate_entry, bn_entry, bn_weights = _duplicate_batch_norm(
                producer, entries[position[producer.name]], t
            )
            entries[position[producer.name]] = bn_entry
            entries.insert(position[producer.name], duplicate_entry)
            position.update({e["name"]: i for i, e in enumerate(entries)})
            weights[producer.name] = bn_weights
            binary_input = source
        else:
            activation = DecoupledActivation(t, name=f"{layer.name}_decoupled_activation")
            append(layer_entry(activation, [source]))
            weights[activation.name] = [np.concatenate([np.full(layer.input_shape[-1], t),
                                                        np.full(layer.input_shape[-1], -t)])]
            binary_input = [activation.name, 0, 0]

        append(_binary_conv_entry(layer, entry, binary_input))
        layer_weights = layer.get_weights()
        weights[layer.name] = [_duplicated_kernel(layer)] + [2.0 * b for b in layer_weights[1:]]
        scale = Scale(0.5, name=f"{layer.name}_scale")
        append(layer_entry(scale, [[layer.name, 0, 0]]))
        last = scale.name
        if keras.activations.serialize(layer.activation) != "linear":
            activation = keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
            append(layer_entry(activation, [[scale.name, 0, 0]]))
            last = activation.name
        renamed[(layer.name, 0, 0)] = [last, 0, 0]

    config["layers"] = entries
    config["output_layers"] = [
        [*renamed.get(tuple(output[:3]), output[:3]), *output[3:]]
        for output in config["output_layers"]
    ]
    decoupled = rebuild(config, lambdas_from=model)
    for new_layer in decoupled.layers:
        if new_layer.name in weights:
            new_layer.set_weights(weights[new_layer.name])
        elif new_layer.weights:
            new_layer.set_weights(model.get_layer(new_layer.name).get_weights())
    return decoupled, count

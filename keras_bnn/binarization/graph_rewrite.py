"""The rewrite of a functional model's config by `binarize`: which Conv2D and Dense layers
become binary, as what, and why the others stay full precision.

A binarized conv pads with +1 (`pad_values=1.0`), which Larq Compute Engine packs and
BinaryDuo's decoupling needs; layers LCE has no binary kernel for (depthwise, separable,
transposed, 1D/3D and grouped convs) stay full precision, and so do ReCU's dense layers and
ReCU convs whose bias no BatchNorm can take.

```python
binary, bias_folds = binarize_graph(functional, METHODS["bnn"], keep=set(), changes=[])
```
"""

from keras_bnn._keras import keras, lq
from keras_bnn.binarization.config_edits import split_activation
from keras_bnn.binarization.constant_inputs import fix_constant_input
from keras_bnn.binarization.methods import Method
from keras_bnn.binarization.report import LayerChange
from keras_bnn.graphs import (FLOAT_TO_QUANTIZED, all_layers, as_functional, readers,
                              rebuild)
from keras_bnn.layers import ReCUConv2D

__all__ = ["binarize_graph", "is_candidate", "names_to_keep"]

# The float layers binarize() replaces (with their quantized counterparts of
# `keras_bnn.graphs.FLOAT_TO_QUANTIZED`).
_CONVERTIBLE = (keras.layers.Conv2D, keras.layers.Dense)
_BASE_CONV = keras.layers.Conv2D.__bases__[0]  # of every Keras conv (tf_keras does not export it)
# What a ReCUConv2D takes from the config of the Conv2D it replaces.
_RECU_OPTIONS = ("strides", "padding", "dilation_rate", "kernel_initializer",
                 "kernel_regularizer", "name", "trainable", "dtype")


def is_candidate(layer: keras.layers.Layer) -> bool:
    """Whether `binarize` decides about `layer`: a Dense or any float Keras conv.

    ```python
    is_candidate(keras.layers.DepthwiseConv2D(3))  # True: decided about, kept float
    ```

    # Arguments
        layer: A `tf_keras` layer.

    # Returns
        True for a `Dense` or a conv without quantizers.
    """
    return type(layer) is keras.layers.Dense or (isinstance(layer, _BASE_CONV)
                                                 and not hasattr(layer, "input_quantizer"))


def names_to_keep(keep_full_precision: str | list[str], model: keras.Model) -> set[str]:
    """The names of the layers that `binarize(keep_full_precision=...)` keeps float.

    ```python
    names_to_keep("first_last", model)  # {'conv2d', 'dense'}
    ```

    # Arguments
        keep_full_precision: `"first_last"` (the first and last candidate layer), `"none"`,
            or a list of layer names.
        model: The functional model to binarize.

    # Returns
        A set of layer names.

    # Raises
        ValueError: for another string, or names `model` has no layer of.
    """
    names = [layer.name for layer in all_layers(model) if is_candidate(layer)]
    if keep_full_precision == "first_last":
        return set(names[:1] + names[-1:])
    if keep_full_precision == "none":
        return set()
    if isinstance(keep_full_precision, str):
        raise ValueError(f"keep_full_precision must be 'first_last', 'none' or a list of layer "
                         f"names, got {keep_full_precision!r}.")
    unknown = set(keep_full_precision) - {layer.name for layer in all_layers(model)}
    if unknown:
        raise ValueError(f"keep_full_precision names layers that {model.name!r} does not "
                         f"have: {sorted(unknown)}; its Conv2D/Dense layers are {names}.")
    return set(keep_full_precision)


def binarize_graph(model: keras.Model, method: Method, keep: set[str],
                   changes: list[LayerChange]) -> tuple[keras.Model, dict[str, str]]:
    """Rewrites a functional model with binary layers, nested models recursively.

    ```python
    changes = []
    binary, bias_folds = binarize_graph(functional, METHODS["recu"], {"conv1"}, changes)
    ```

    # Arguments
        model: A functional `tf_keras` model (unchanged).
        method: The `Method` whose layers the binarized ones become.
        keep: Names of candidate layers to keep full precision.
        changes: A `LayerChange` is appended for every candidate layer, in order.

    # Returns
        `(binary model with fresh weights, {BatchNorm name: conv name})`, the second
        naming the ReCU biases to fold into a BatchNorm (`keras_bnn.binarization.weights`).
    """
    config = model.get_config()
    bias_folds, binarized = {}, []
    for original in list(config["layers"]):  # a copy: activations get inserted
        layer = model.get_layer(original["name"])
        position = config["layers"].index(original)
        if isinstance(layer, keras.Model):
            inner, inner_folds = binarize_graph(as_functional(layer, "binarize()"), method,
                                                keep, changes)
            bias_folds.update(inner_folds)
            config["layers"][position] = {**keras.layers.serialize(inner), "name": layer.name,
                                          "inbound_nodes": original["inbound_nodes"]}
            continue
        if not is_candidate(layer):
            continue
        reading = [model.get_layer(name) for name in readers(config, layer.name) if name]
        reason = ("kept full precision as asked (keep_full_precision)" if layer.name in keep
                  else _why_not(layer, method, reading))
        if reason:
            changes.append(LayerChange(layer.name, type(layer).__name__, None, [reason]))
            continue
        new = _binary_layer(layer, method)
        change = LayerChange(layer.name, type(layer).__name__, type(new).__name__)
        if isinstance(new, lq.layers.QuantConv2D) and new.padding == "same":
            change.notes.append("pads with +1 (pad_values=1.0)")
        if method.tau is not None and layer.use_bias:
            bias_folds[reading[0].name] = layer.name
            change.notes.append(f"bias moved into the moving mean of {reading[0].name!r}")
        config["layers"][position] = {**keras.layers.serialize(new), "name": layer.name,
                                      "inbound_nodes": original["inbound_nodes"]}
        activation = keras.activations.serialize(layer.activation)
        if method.tau is not None and activation != "linear":
            split_activation(config, layer.name, activation)
            change.notes.append(f"its {activation} now follows in an Activation layer")
        changes.append(change)
        binarized.append(change)
    for change in binarized:
        fix_constant_input(config, change)
    return rebuild(config, lambdas_from=model), bias_folds


def _why_not(layer: keras.layers.Layer, method: Method,
             reading: list[keras.layers.Layer]) -> str | None:
    """Why `layer` stays full precision, or None when it can be binarized."""
    kind = type(layer).__name__
    if type(layer) not in _CONVERTIBLE:
        return (f"{kind}: Larq Compute Engine has binary Conv2D (and dense) kernels only; "
                "it stays full precision")
    if getattr(layer, "groups", 1) != 1:
        return "grouped conv: Larq Compute Engine's binary conv has no groups"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "channels_first: Larq Compute Engine's binary conv needs channels_last"
    if method.tau is not None and kind == "Dense":
        return "the ReCU method binarizes convs (ReCUConv2D); ReCU keeps dense layers float"
    if method.tau is not None and layer.use_bias and not _bias_foldable(layer, reading):
        return ("ReCUConv2D has no bias (it computes conv * alpha), and no BatchNorm reads "
                "this conv alone to take the bias; use method='bnn' or add a BatchNorm")
    return None


def _bias_foldable(layer: keras.layers.Layer, reading: list[keras.layers.Layer]) -> bool:
    """A bias can go into the next BatchNorm: the conv's only reader, no activation between."""
    return (keras.activations.serialize(layer.activation) == "linear" and len(reading) == 1
            and isinstance(reading[0], keras.layers.BatchNormalization)
            and list(reading[0].axis) == [len(layer.output_shape) - 1])


def _binary_layer(layer: keras.layers.Layer, method: Method) -> keras.layers.Layer:
    """The binary version of a Conv2D or Dense layer, built from its config."""
    config = layer.get_config()
    if method.tau is not None:
        options = {key: config[key] for key in _RECU_OPTIONS}
        return ReCUConv2D(config["filters"], config["kernel_size"], pad_values=1.0,
                          tau=method.tau, **options)
    quantizers = dict(input_quantizer=method.input_quantizer,
                      kernel_quantizer=method.kernel_quantizer,
                      kernel_constraint=method.kernel_constraint)
    if isinstance(layer, keras.layers.Conv2D):
        quantizers["pad_values"] = 1.0
    return FLOAT_TO_QUANTIZED[type(layer)](**{**config, **quantizers})

"""binarize(): a float Keras model becomes a binary one, with the usual pitfalls handled.

Every `Conv2D` and `Dense` layer (but the first and the last, by default) becomes a larq
`QuantConv2D` / `QuantDense` with a recipe's quantizers (ReCU: `ReCUConv2D`), and the
mistakes that hand-written conversions make are fixed on the way:

- **Constant binary inputs.** A binary layer whose input comes from a ReLU, ReLU6,
  sigmoid, softmax, softplus or exponential (directly, or through pooling, padding,
  dropout, flatten or reshape layers) would see only values >= 0, which `sign` turns into
  all +1. Such a layer reads the activation's input instead (the sign is its
  nonlinearity); the activation stays for its other readers (a residual shortcut, say),
  the layers in between are duplicated if others read them, and an activation fused into
  a layer (`Conv2D(activation="relu")`) is split out into an `Activation` layer first.
  Where the input is a merge of non-negative tensors (`Add` of two ReLU outputs) or a
  nested model's non-negative output, a new `BatchNormalization` before the binary layer
  centres it (with batch statistics in training; its moving statistics follow).
- **Padding.** Binary convs pad with +1 (`pad_values=1.0`), which Larq Compute Engine
  packs and BinaryDuo's decoupling needs; zeros would binarize to +1 in training anyway.
- **First and last layers** stay full precision (`keep_full_precision="first_last"`), as
  in every paper this package implements.
- **Weights.** Latent weights start from the float weights (`copy_weights=True`), scaled
  into the weight clip's range where the recipe clips (signs unchanged); biases stay (LCE
  fuses them into the binary conv), and ReCU's conv, which has none, moves its bias into
  the BatchNorm that follows (the moving mean shifts by it, exact at inference).
- Layers that cannot be binarized (depthwise, separable, transposed, 1D/3D and grouped
  convs; ReCU convs with a bias and no BatchNorm after them; ReCU's dense layers) stay
  full precision, and the report says why.

```python
binary = keras_bnn.binarize(float_model, "recu", verbose=True)  # prints the report
binary.compile(...); binary.fit(...)
print(binary.binarization_report)
```

Recipes (`RECIPES`):

- `"bnn"`: `ste_sign` inputs and weights, `weight_clip` (Courbariaux et al. 2016, BNN;
  the baseline of this package's zoo);
- `"recu"`: `keras_bnn.layers.ReCUConv2D`, ReCU's clamp with weight standardization and
  its activation binarizer, τ a variable that `keras_bnn.callbacks.TauScheduler` moves
  ([ReCU, ICCV 2021](https://arxiv.org/abs/2103.12369));
- `"binaryduo"`: `TernarySign` inputs, `ste_sign` weights, `weight_clip`: BinaryDuo's
  stage 1, ready for `keras_bnn.decouple`
  ([BinaryDuo, ICLR 2020](https://arxiv.org/abs/2002.06517)).
"""

import dataclasses

import numpy as np

from keras_bnn._keras import all_layers, keras, lq
from keras_bnn.graphs import (FLOAT_TO_QUANTIZED, as_functional, entry_sources, layer_entry,
                              readers, rebuild, redirect, source_names)
from keras_bnn.layers import ReCUConv2D
from keras_bnn.quantizers import check_tau

__all__ = ["RECIPES", "BinarizationReport", "LayerChange", "Recipe", "binarize"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How `binarize` quantizes: the quantizers of its binary layers and the paper."""

    name: str
    input_quantizer: object
    kernel_quantizer: object
    kernel_constraint: object
    reference: str
    tau: float | None = None  # ReCU: convs become ReCUConv2D starting at this τ


RECIPES = {
    "bnn": Recipe("bnn", "ste_sign", "ste_sign", "weight_clip",
                  "Courbariaux et al. 2016, https://arxiv.org/abs/1602.02830"),
    "recu": Recipe("recu", "recu_activation", "recu", None,
                   "Xu et al., ReCU, ICCV 2021, https://arxiv.org/abs/2103.12369", tau=0.85),
    "binaryduo": Recipe("binaryduo", "ternary_sign", "ste_sign", "weight_clip",
                        "Kim et al., BinaryDuo, ICLR 2020, https://arxiv.org/abs/2002.06517"),
}

# Activations whose outputs are never negative: `sign` of them is a constant +1.
_NON_NEGATIVE = {"relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus",
                 "exponential"}
# Weightless layers that keep values non-negative: a binary layer's input is searched
# through them for such an activation.
_NON_NEGATIVE_KEEPING = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
                 keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
                 keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
                 keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
                 keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.UpSampling2D,
                 keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout,
                 keras.layers.SpatialDropout2D)
_MERGES = ("Add", "Average", "Concatenate", "Maximum", "Multiply")
# The float layers binarize() replaces (with their quantized counterparts of
# `keras_bnn.graphs.FLOAT_TO_QUANTIZED`).
_CONVERTIBLE = (keras.layers.Conv2D, keras.layers.Dense)
_BASE_CONV = keras.layers.Conv2D.__bases__[0]  # of every Keras conv (tf_keras does not export it)


@dataclasses.dataclass
class LayerChange:
    """What `binarize` did to one layer: `now` is its new class name (None: kept as it was)."""

    layer: str
    was: str
    now: str | None
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class BinarizationReport:
    """Layer by layer, what `binarize` changed, kept full precision (and why) and fixed."""

    recipe: str
    changes: list

    @property
    def binarized(self):
        return [change.layer for change in self.changes if change.now]

    @property
    def kept_full_precision(self):
        """`{layer: reason}` for every Conv2D/Dense-like layer left in full precision."""
        return {change.layer: change.notes[0] for change in self.changes if not change.now}

    def __str__(self):
        lines = [f"binarize(recipe={self.recipe!r}): {len(self.binarized)} layers binarized"]
        for change in self.changes:
            now = f"-> {change.now}" if change.now else "kept full precision"
            lines.append(f"  {change.layer} ({change.was}) {now}")
            lines += [f"      {note}" for note in change.notes]
        return "\n".join(lines)


def binarize(model, recipe="bnn", *, keep_full_precision="first_last", copy_weights=True,
             verbose=False, **overrides):
    """Turns a float Keras model into a binary one with the recipe's quantizers.

    # Arguments
        model: A Sequential or functional model (residual and nested ones too), built (with
            known input shapes): `tf_keras`, or Keras 3 (`import keras`; rebuilt in
            `tf_keras` with its weights by `keras_bnn.keras3.to_tf_keras`).
        recipe: `"bnn"`, `"recu"` or `"binaryduo"` (see the module docstring), or a `Recipe`.
        keep_full_precision: `"first_last"` (the first and last Conv2D/Dense layer stay
            float, the default), `"none"`, or a list of layer names.
        copy_weights: Start from the float model's weights (else fresh initial weights).
        verbose: Print the report.
        **overrides: `input_quantizer`, `kernel_quantizer`, `kernel_constraint` replace the
            recipe's (not with `"recu"`, whose conv has its own), `tau` sets ReCU's initial τ.

    # Returns
        A new functional model (the input model is unchanged), with the report as its
        `binarization_report` attribute (a `BinarizationReport`).

    # Raises
        ValueError: for an unknown recipe, override or layer name in `keep_full_precision`,
            for a subclassed model, or when no layer could be binarized.
    """
    recipe = _recipe(recipe, overrides)
    functional = as_functional(model, "binarize()")
    candidates = [layer for layer in all_layers(functional) if _is_candidate(layer)]
    keep = _names_to_keep(keep_full_precision, candidates, functional)
    changes = []
    binary, bias_folds = _binarize_graph(functional, recipe, keep, changes)
    if not any(change.now for change in changes):
        raise ValueError(
            f"binarize() found no layer to binarize in {model.name!r}: it binarizes Conv2D "
            "and Dense layers, and keeps the first and last full precision by default "
            "(keep_full_precision='none' binarizes them too)."
        )
    if copy_weights:
        _copy_weights(functional, binary, recipe, bias_folds)
    binary.binarization_report = BinarizationReport(recipe.name, changes)
    if verbose:
        print(binary.binarization_report)
    return binary


def _recipe(recipe, overrides):
    if not isinstance(recipe, Recipe):
        if recipe not in RECIPES:
            raise ValueError(f"Unknown recipe {recipe!r}; expected one of {sorted(RECIPES)} "
                             "or a keras_bnn.binarization.Recipe.")
        recipe = RECIPES[recipe]
    recu = recipe.tau is not None
    allowed = {"tau"} if recu else {"input_quantizer", "kernel_quantizer", "kernel_constraint"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(
            f"binarize(recipe={recipe.name!r}) takes the overrides {sorted(allowed)}, not "
            f"{sorted(unknown)}" + (": ReCUConv2D has its own quantizers; use recipe='bnn' "
                                    "with your quantizers instead." if recu else ".")
        )
    if "tau" in overrides:
        check_tau(overrides["tau"])
    return dataclasses.replace(recipe, **overrides)


def _is_candidate(layer):
    """A layer binarize() decides about: a Dense or any float Keras conv."""
    return type(layer) is keras.layers.Dense or (isinstance(layer, _BASE_CONV)
                                                 and not hasattr(layer, "input_quantizer"))


def _names_to_keep(keep_full_precision, candidates, model):
    names = [layer.name for layer in candidates]
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


def _why_not(layer, recipe, readers):
    """Why `layer` stays full precision, or None when it can be binarized."""
    kind = type(layer).__name__
    if type(layer) not in _CONVERTIBLE:
        return (f"{kind}: Larq Compute Engine has binary Conv2D (and dense) kernels only; "
                "it stays full precision")
    if getattr(layer, "groups", 1) != 1:
        return "grouped conv: Larq Compute Engine's binary conv has no groups"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "channels_first: Larq Compute Engine's binary conv needs channels_last"
    if recipe.tau is not None and kind == "Dense":
        return "the ReCU recipe binarizes convs (ReCUConv2D); ReCU keeps dense layers float"
    if recipe.tau is not None and layer.use_bias and not _bias_foldable(layer, readers):
        return ("ReCUConv2D has no bias (it computes conv * alpha), and no BatchNorm reads "
                "this conv alone to take the bias; use recipe='bnn' or add a BatchNorm")
    return None


def _bias_foldable(layer, readers):
    """A bias can go into the next BatchNorm: the conv's only reader, no activation between."""
    return (keras.activations.serialize(layer.activation) == "linear" and len(readers) == 1
            and isinstance(readers[0], keras.layers.BatchNormalization)
            and list(readers[0].axis) == [len(layer.output_shape) - 1])


def _binary_layer(layer, recipe):
    """The binary version of a Conv2D or Dense layer, built from its config."""
    config = layer.get_config()
    if recipe.tau is not None:
        options = {key: config[key] for key in ("strides", "padding", "dilation_rate",
                                                 "kernel_initializer", "kernel_regularizer",
                                                 "name", "trainable", "dtype")}
        return ReCUConv2D(config["filters"], config["kernel_size"], pad_values=1.0,
                          tau=recipe.tau, **options)
    quantizers = dict(input_quantizer=recipe.input_quantizer,
                      kernel_quantizer=recipe.kernel_quantizer,
                      kernel_constraint=recipe.kernel_constraint)
    if isinstance(layer, keras.layers.Conv2D):
        quantizers["pad_values"] = 1.0
    return FLOAT_TO_QUANTIZED[type(layer)](**{**config, **quantizers})


def _binarize_graph(model, recipe, keep, changes):
    """Rewrites one functional model (nested ones recursively, in place); returns the new
    model and `{BatchNorm name: conv name}` for the ReCU biases to fold."""
    config = model.get_config()
    bias_folds, binarized = {}, []
    for original in list(config["layers"]):  # a copy: activations get inserted
        layer = model.get_layer(original["name"])
        position = config["layers"].index(original)
        if isinstance(layer, keras.Model):
            inner, inner_folds = _binarize_graph(as_functional(layer, "binarize()"), recipe,
                                                 keep, changes)
            bias_folds.update(inner_folds)
            config["layers"][position] = {**keras.layers.serialize(inner), "name": layer.name,
                                          "inbound_nodes": original["inbound_nodes"]}
            continue
        if not _is_candidate(layer):
            continue
        reading = [model.get_layer(name) for name in readers(config, layer.name) if name]
        reason = ("kept full precision as asked (keep_full_precision)" if layer.name in keep
                  else _why_not(layer, recipe, reading))
        if reason:
            changes.append(LayerChange(layer.name, type(layer).__name__, None, [reason]))
            continue
        new = _binary_layer(layer, recipe)
        change = LayerChange(layer.name, type(layer).__name__, type(new).__name__)
        if isinstance(new, lq.layers.QuantConv2D) and new.padding == "same":
            change.notes.append("pads with +1 (pad_values=1.0)")
        if recipe.tau is not None and layer.use_bias:
            bias_folds[reading[0].name] = layer.name
            change.notes.append(f"bias moved into the moving mean of {reading[0].name!r}")
        config["layers"][position] = {**keras.layers.serialize(new), "name": layer.name,
                                      "inbound_nodes": original["inbound_nodes"]}
        activation = keras.activations.serialize(layer.activation)
        if recipe.tau is not None and activation != "linear":
            _split_activation(config, layer.name, activation)
            change.notes.append(f"its {activation} now follows in an Activation layer")
        changes.append(change)
        binarized.append(change)
    for change in binarized:
        _fix_constant_input(config, change)
    return rebuild(config, lambdas_from=model), bias_folds


def _index(config):
    return {entry["name"]: entry for entry in config["layers"]}


def _split_activation(config, name, activation):
    """Moves layer `name`'s fused activation into an `Activation` layer after it."""
    entries = _index(config)
    entries[name]["config"]["activation"] = "linear"
    split = keras.layers.Activation(activation, name=f"{name}_activation")
    redirect(config, name, split.name)
    position = config["layers"].index(entries[name])
    config["layers"].insert(position + 1, layer_entry(split, [[name, 0, 0]]))


def _non_negative_activation(entry):
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


def _is_non_negative(entries, name):
    """Whether layer `name`'s output is >= 0 everywhere: a non-negative activation, seen
    through sign-keeping layers and merges (Add, Concatenate, ...) of such outputs."""
    entry = entries.get(name)
    if entry is None:
        return False
    if _non_negative_activation(entry):
        return True
    if "output_layers" in entry["config"]:  # a nested functional model: what it outputs
        inner = _index(entry["config"])
        return all(_is_non_negative(inner, output[0])
                   for output in entry["config"]["output_layers"])
    sources = source_names(entry)
    if _class_of(entry) in _NON_NEGATIVE_KEEPING and len(sources) == 1:
        return _is_non_negative(entries, sources[0])
    return entry["class_name"] in _MERGES and all(_is_non_negative(entries, source)
                                                  for source in sources)


def _fix_constant_input(config, change):
    """Makes a binary layer whose input is >= 0 read something with both signs: what the
    non-negative activation before it reads, or (after a merge of non-negative tensors)
    its input through a new BatchNormalization."""
    entries = _index(config)
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
            entries = _index(config)


def _centre(config, source, change):
    """Inserts a BatchNormalization between `source` and the binary layer reading it."""
    norm = keras.layers.BatchNormalization(name=f"{change.layer}_input_bn")
    position = config["layers"].index(_index(config)[change.layer])
    config["layers"].insert(position, layer_entry(norm, [source]))
    change.notes.append(f"read {source[0]!r}, non-negative (a merge of such tensors, or a "
                        f"nested model's output; all +1 once binarized); a new "
                        f"BatchNormalization {norm.name!r} centres it")
    source[:3] = [norm.name, 0, 0]


def _class_of(entry):
    return getattr(keras.layers, entry["class_name"], None)


def _bypass(config, source, chain, activation, change):
    """Points `source` (the binary layer's input) past the non-negative `activation`, through
    `chain` (the sign-keeping layers between them), duplicated if others read them too."""
    name = _non_negative_activation(activation)
    if activation["class_name"] not in ("Activation", "ReLU", "Softmax", "TFOpLambda"):
        # Fused into a layer (Conv2D(activation="relu"), say): split it out first.
        _split_activation(config, activation["name"], name)
        activation = _index(config)[f"{activation['name']}_activation"]
    pre_activation = list(next(entry_sources(activation))[:3])
    if any(len(readers(config, entry["name"])) > 1 for entry in chain):
        upstream = pre_activation
        for entry in reversed(chain):
            copy_name = f"{entry['name']}_for_{change.layer}"
            copy = {**entry, "name": copy_name, "config": {**entry["config"], "name": copy_name},
                    "inbound_nodes": [[[*upstream, {}]]]}
            config["layers"].insert(config["layers"].index(_index(config)[change.layer]), copy)
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


def _copy_weights(original, binary, recipe, bias_folds):
    """The float weights into the binary model, nested models level by level: binarized
    kernels scaled into the weight clip's range, ReCU biases folded into their BatchNorm's
    moving mean."""
    clip = keras.constraints.get(recipe.kernel_constraint)
    clip_value = clip.clip_value if isinstance(clip, lq.constraints.WeightClip) else None
    for layer in binary.layers:
        source = _layer_or_none(original, layer.name)
        if source is None or not source.weights:
            continue
        if isinstance(layer, keras.Model):
            _copy_weights(as_functional(source, "binarize()"), layer, recipe, bias_folds)
        elif hasattr(layer, "input_quantizer") and not hasattr(source, "input_quantizer"):
            kernel = source.kernel.numpy()
            peak = float(np.max(np.abs(kernel)))
            if clip_value is not None and peak > clip_value:
                kernel = kernel * (clip_value / peak)
            layer.kernel.assign(kernel)
            if source.use_bias and recipe.tau is None:
                layer.bias.assign(source.bias)
        else:
            layer.set_weights(source.get_weights())
        if layer.name in bias_folds:
            conv = _layer_or_none(original, bias_folds[layer.name])
            layer.moving_mean.assign(layer.moving_mean - conv.bias)


def _layer_or_none(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None

"""The one place for facts about a model's graph, and for rewriting it through its
functional config: the base that `keras_bnn.decouple`, `keras_bnn.binarize`,
`keras_bnn.float_twin`, the int8 export and the callbacks share.

Facts: whether a model is a graph of layers (`has_graph`); who reads a layer's output and
what it reads (`readers`, `producers`, `consumers`); whether a layer is binary
(`is_binary_layer`); the float Keras layer a quantized larq layer quantizes, and back
(`FLOAT_TO_QUANTIZED`, `float_counterpart`).

A config entry's `inbound_nodes` come in two forms: a list of sources per call
(`[[["conv", 0, 0, {}], ...]]`), and for layers made by TensorFlow ops on Keras tensors
(`x + y`, `tf.nn.relu(x)`: `TFOpLambda`) one flat source whose keyword arguments may hold
more sources (`[["conv", 0, 0, {"y": ["other", 0, 0]}]]`). `entry_sources` reads both.

```python
import keras_bnn
import tensorflow as tf
from keras_bnn.graphs import as_functional, layer_entry, rebuild, redirect

model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(4, name="dense")])
model = as_functional(model, "example()")    # a Sequential becomes functional
config = model.get_config()
redirect(config, "dense", "bn")              # the model's output is now bn's ...
bn = tf.keras.layers.BatchNormalization(name="bn")
config["layers"].append(layer_entry(bn, [["dense", 0, 0]]))  # ... which reads dense
rebuilt = rebuild(config, weights_from=model)  # dense keeps its weights
```
"""

from collections.abc import Iterator

from tf_keras.src.engine import functional

from keras_bnn._keras import keras, lq, tf, unsafe_deserialization
from keras_bnn.keras3 import to_tf_keras

__all__ = ["FLOAT_TO_QUANTIZED", "all_layers", "as_functional", "consumers", "entry_sources",
           "float_counterpart", "has_graph", "is_binary_layer", "is_quantized_layer",
           "layer_entry", "producers", "readers", "rebuild", "redirect", "source_names",
           "source_tensor"]

# Each Keras layer that larq quantizes, and larq's quantized layer (keras_bnn's ReCUConv2D
# is a QuantConv2D).
FLOAT_TO_QUANTIZED = {
    keras.layers.Conv1D: lq.layers.QuantConv1D,
    keras.layers.Conv2D: lq.layers.QuantConv2D,
    keras.layers.Conv3D: lq.layers.QuantConv3D,
    keras.layers.Conv2DTranspose: lq.layers.QuantConv2DTranspose,
    keras.layers.Dense: lq.layers.QuantDense,
    keras.layers.DepthwiseConv2D: lq.layers.QuantDepthwiseConv2D,
    keras.layers.SeparableConv2D: lq.layers.QuantSeparableConv2D,
}
_QUANTIZED_TO_FLOAT = {quantized: float_ for float_, quantized in FLOAT_TO_QUANTIZED.items()}


def all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model` in order, the layers of nested models in place of the models.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import all_layers

    block = tf.keras.Sequential([tf.keras.layers.Dense(4, name="inner")], name="block")
    inputs = tf.keras.Input((8,), name="x")
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="outer")(block(inputs)))
    [layer.name for layer in all_layers(model)]  # ["x", "inner", "outer"]
    ```
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
        else:
            yield layer


def float_counterpart(layer_class: type) -> type[keras.layers.Layer] | None:
    """The Keras layer class that a larq quantized layer class (or a subclass of one)
    quantizes, or None for other classes.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import float_counterpart
    from keras_bnn.layers import ReCUConv2D

    assert float_counterpart(ReCUConv2D) is tf.keras.layers.Conv2D
    assert float_counterpart(tf.keras.layers.Dense) is None  # not a quantized layer
    ```

    # Arguments
        layer_class: A layer class.

    # Returns
        A class of `FLOAT_TO_QUANTIZED`, or None.
    """
    return next((_QUANTIZED_TO_FLOAT[base] for base in layer_class.__mro__
                 if base in _QUANTIZED_TO_FLOAT), None)


def is_binary_layer(layer: keras.layers.Layer, bits: int = 1, *, inputs: bool = True) -> bool:
    """Whether `layer` quantizes its kernel to `bits` bits and, with `inputs`, its input
    too: a binary conv or dense layer for the default `bits=1`, one that LCE runs with
    bit-packed operands.

    ```python
    import larq as lq
    from keras_bnn.graphs import is_binary_layer

    assert is_binary_layer(lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign",
                                                 kernel_quantizer="ste_sign"))
    assert is_binary_layer(lq.layers.QuantConv2D(8, 3, input_quantizer="ternary_sign",
                                                 kernel_quantizer="ste_sign"), inputs=False)
    ```

    # Arguments
        layer: Any layer.
        bits: The precision asked for, as the quantizers' `precision` attribute says it.
        inputs: Whether the input quantizer must have that precision too.

    # Returns
        A bool.
    """
    def precision(role):
        return getattr(getattr(layer, f"{role}_quantizer", None), "precision", None)

    return precision("kernel") == bits and (not inputs or precision("input") == bits)


def is_quantized_layer(layer: keras.layers.Layer) -> bool:
    """Whether `layer` quantizes its input or its kernel at all (any precision).

    ```python
    import larq as lq
    from keras_bnn.graphs import is_quantized_layer

    assert is_quantized_layer(lq.layers.QuantDense(4, input_quantizer="ste_sign"))
    assert not is_quantized_layer(lq.layers.QuantDense(4))  # a plain Dense, in effect
    ```
    """
    return any(getattr(layer, role, None) is not None
               for role in ("input_quantizer", "kernel_quantizer"))


def has_graph(model: keras.Model) -> bool:
    """Whether `model` is functional or Sequential: a graph of layers, not Python code.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import has_graph

    assert has_graph(tf.keras.Sequential([tf.keras.layers.Dense(2)]))

    class Subclassed(tf.keras.Model):
        def call(self, inputs):
            return inputs

    assert not has_graph(Subclassed())
    ```
    """
    return isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)


def as_functional(model: keras.Model, caller: str) -> keras.Model:
    """`model` as a functional `tf_keras` model whose config can be rewritten.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import as_functional

    sequential = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(2)])
    functional = as_functional(sequential, "my_transform()")  # same layers, same weights
    ```

    # Arguments
        model: A functional or (built) Sequential model, of `tf_keras` or of Keras 3 (then
            rebuilt in `tf_keras` with its weights by `keras_bnn.keras3.to_tf_keras`).
        caller: The function asking, named in the errors (`"decouple()"`).

    # Returns
        A functional `tf_keras.Model` (`model` itself when it is one).

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


def layer_entry(layer: keras.layers.Layer, inbound: list[list]) -> dict:
    """A functional-config entry for a new layer reading the tensors `inbound`.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import layer_entry

    entry = layer_entry(tf.keras.layers.ReLU(name="relu"), [["conv", 0, 0]])
    entry["inbound_nodes"]  # [[["conv", 0, 0, {}]]]
    ```

    # Arguments
        layer: The new layer (its config is serialized; it need not be built).
        inbound: The sources it reads, each `[layer name, node index, tensor index]`.

    # Returns
        A dict to put into a functional config's `"layers"`.
    """
    return {**keras.layers.serialize(layer), "name": layer.name,
            "inbound_nodes": [[[*source[:3], {}] for source in inbound]]}


def _is_source(value: object) -> bool:
    """Whether `value` is a `[layer name, node index, tensor index(, kwargs)]` reference."""
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and all(isinstance(index, int) for index in value[1:3]))


def _node_sources(value: object) -> Iterator[list]:
    if _is_source(value):
        yield value
        value = value[3:]  # its keyword arguments, which may hold more sources
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for child in value:
            yield from _node_sources(child)


def entry_sources(entry: dict) -> Iterator[list]:
    """Every source that the config entry `entry` reads, in both forms of `inbound_nodes`
    (keyword arguments' tensors included): the config's own lists, so that assigning to
    `source[:3]` rewires the graph.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import entry_sources

    inputs = tf.keras.Input((8,), name="x")
    config = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs)).get_config()
    dense = config["layers"][1]
    for source in entry_sources(dense):
        if source[0] == "x":
            source[0] = "other"  # dense now reads the layer called "other"
    ```
    """
    for node in entry["inbound_nodes"]:
        yield from _node_sources(node)


def source_names(entry: dict) -> list[str]:
    """The names of the layers whose outputs the config entry `entry` reads.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import source_names

    a, b = tf.keras.Input((4,), name="a"), tf.keras.Input((4,), name="b")
    config = tf.keras.Model([a, b], tf.keras.layers.Add(name="add")([a, b])).get_config()
    source_names(config["layers"][2])  # ["a", "b"]
    ```
    """
    return [source[0] for source in entry_sources(entry)]


def source_tensor(model: keras.Model, source: list) -> tf.Tensor:
    """The Keras tensor of the functional `model` that a source of `model.get_config()`
    names: the same tensor, so that a model made from it shares `model`'s layers and
    weights instead of rebuilding them.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import source_tensor

    inputs = tf.keras.Input((8,), name="x")
    hidden = tf.keras.layers.Dense(4, name="hidden")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(hidden))
    assert source_tensor(model, ["hidden", 0, 0]) is hidden
    probe = tf.keras.Model(model.inputs, [*model.outputs, hidden])  # no layer copied
    ```

    # Arguments
        model: A functional model.
        source: `[layer name, node index, tensor index, ...]` as its config writes them.

    # Returns
        The symbolic tensor.
    """
    name, config_index, tensor_index = source[:3]
    layer = model.get_layer(name)
    # The config numbers only the calls that belong to `model`, after the call a nested
    # model makes inside itself where there is one (as `Functional.get_config` counts).
    calls = [node for index, node in enumerate(layer._inbound_nodes)
             if functional._make_node_key(name, index) in model._network_nodes]
    first = 1 if functional._should_skip_first_node(layer) else 0
    return tf.nest.flatten(calls[config_index - first].outputs)[tensor_index]


def producers(config: dict) -> dict[str, list[str]]:
    """`{layer name: [names of the layers whose outputs it reads]}` of a functional config.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import producers

    inputs = tf.keras.Input((8,), name="x")
    config = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs)).get_config()
    assert producers(config) == {"x": [], "dense": ["x"]}
    ```
    """
    return {entry["name"]: source_names(entry) for entry in config["layers"]}


def consumers(config: dict) -> dict[str, list[str]]:
    """`{layer name: [names of the layers that read its output]}` of a functional config
    (model outputs not counted).

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import consumers

    inputs = tf.keras.Input((8,), name="x")
    config = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs)).get_config()
    assert consumers(config) == {"x": ["dense"], "dense": []}
    ```
    """
    readers_of = {entry["name"]: [] for entry in config["layers"]}
    for name, sources in producers(config).items():
        for source in sources:
            readers_of[source].append(name)
    return readers_of


def readers(config: dict, name: str) -> list[str | None]:
    """The names of the config entries that read layer `name`'s output, and None for each
    model output that is that output.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import readers

    inputs = tf.keras.Input((8,), name="x")
    config = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs)).get_config()
    assert readers(config, "x") == ["dense"]
    assert readers(config, "dense") == [None]  # the model's output
    ```
    """
    return ([entry["name"] for entry in config["layers"] if name in source_names(entry)]
            + [None for output in config["output_layers"] if output[0] == name])


def redirect(config: dict, old: str, new: str) -> None:
    """Every reader of `old` (model outputs included) reads `new` instead, in place.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import redirect

    inputs = tf.keras.Input((8,), name="x")
    config = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs)).get_config()
    redirect(config, "dense", "x")
    config["output_layers"]  # [["x", 0, 0]]: the model now outputs its input
    ```
    """
    for entry in config["layers"]:
        for source in entry_sources(entry):
            if source[0] == old:
                source[0] = new
    for output in config["output_layers"]:
        if output[0] == old:
            output[0] = new


def rebuild(config: dict, model_class: type[keras.Model] | None = None,
            weights_from: keras.Model | None = None,
            lambdas_from: keras.Model | None = None) -> keras.Model:
    """The model of a functional (or `model_class`'s) config made from a model in memory.

    Lambda layers included: tf_keras's safe mode, which refuses Python code in files, is
    not for a config this process has just taken from its own model. A Lambda's config
    loses what its function reads from outside (larq-zoo's MeliusNet22 wraps `tf.split` in a
    closure, which comes back as a dict): the Lambda layers of `lambdas_from` (default
    `weights_from`) are rebuilt from their Python functions instead.

    ```python
    import tensorflow as tf
    from keras_bnn.graphs import rebuild

    inputs = tf.keras.Input((8,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs))
    copy = rebuild(model.get_config(), weights_from=model)  # same function, new layers
    ```

    # Arguments
        config: The (rewritten) config.
        model_class: The class to build, default `keras.Model`.
        weights_from: A model whose layers' weights go to the rebuilt model's layers of
            the same name (None: fresh initial weights).
        lambdas_from: The model whose Lambda layers' functions the rebuilt ones call.

    # Returns
        A new model of `model_class`.
    """
    source = lambdas_from if lambdas_from is not None else weights_from
    lambdas = {layer.name: keras.layers.Lambda(layer.function, layer._output_shape,
                                               layer.mask, layer.arguments, name=layer.name)
               for layer in (source.layers if source is not None else ())
               if isinstance(layer, keras.layers.Lambda)}
    with unsafe_deserialization():
        if lambdas and model_class in (None, keras.Model, functional.Functional):
            inputs, outputs, layers = functional.reconstruct_from_config(
                config, created_layers=lambdas)
            model = keras.Model(inputs, outputs, name=config.get("name"))
            functional.connect_ancillary_layers(model, layers)
        else:
            model = (model_class or keras.Model).from_config(config)
    for layer in weights_from.layers if weights_from is not None else ():
        model.get_layer(layer.name).set_weights(layer.get_weights())
    return model

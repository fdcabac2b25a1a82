"""keras_bnn.graphs: the graph facts every module reads from one place."""

import larq as lq
import pytest

from keras_bnn import graphs, layers
import tf_keras as keras

pytestmark = pytest.mark.unit


def branching_model():
    inputs = keras.Input((8, 8, 3), name="image")
    stem = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    left = lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer="ste_sign",
                                 kernel_quantizer="ste_sign", name="binary")(stem)
    right = keras.layers.ReLU(name="relu")(stem)
    added = keras.layers.Add(name="add")([left, right])
    return keras.Model(inputs, [added, stem], name="branching")


def test_readers_producers_and_consumers_of_a_config():
    config = branching_model().get_config()
    assert graphs.readers(config, "stem") == ["binary", "relu", None]  # None: a model output
    assert graphs.readers(config, "add") == [None]
    assert graphs.producers(config)["add"] == ["binary", "relu"]
    assert graphs.consumers(config) == {"image": ["stem"], "stem": ["binary", "relu"],
                                        "binary": ["add"], "relu": ["add"], "add": []}


@pytest.mark.parametrize("layer, binary, binary_kernel, quantized", [
    (lq.layers.QuantConv2D(4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign"),
     True, True, True),
    (lq.layers.QuantConv2D(4, 3, kernel_quantizer="ste_sign"), False, True, True),
    (lq.layers.QuantConv2D(4, 3, input_quantizer="ternary_sign", kernel_quantizer="ste_sign"),
     False, True, True),
    (layers.ReCUConv2D(4, 3), True, True, True),
    (keras.layers.Conv2D(4, 3), False, False, False),
])
def test_binary_and_quantized_layers(layer, binary, binary_kernel, quantized):
    layer.build((None, 8, 8, 3))  # ReCUConv2D sets its kernel quantizer when built
    assert graphs.is_binary_layer(layer) is binary
    assert graphs.is_binary_layer(layer, inputs=False) is binary_kernel
    assert graphs.is_quantized_layer(layer) is quantized


def test_every_quantized_class_has_its_float_counterpart():
    for float_class, quantized in graphs.FLOAT_TO_QUANTIZED.items():
        assert graphs.float_counterpart(quantized) is float_class
    assert graphs.float_counterpart(layers.ReCUConv2D) is keras.layers.Conv2D
    assert graphs.float_counterpart(keras.layers.Conv2D) is None


def test_has_graph():
    assert graphs.has_graph(branching_model())
    assert graphs.has_graph(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))

    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    assert not graphs.has_graph(Subclassed())


def test_source_tensor_is_the_tensor_a_config_source_names():
    """Sources count only the model's own calls of a layer: not a call for another model,
    and a nested model's after the one it makes inside itself."""
    inner_input = keras.Input((4,), name="inner_input")
    inner = keras.Model(inner_input, keras.layers.Dense(4, name="inner_dense")(inner_input),
                        name="inner")
    inputs = keras.Input((4,), name="x")
    shared = keras.layers.Dense(4, name="shared")
    shared(keras.Input((4,)))  # a call that is not the model's
    first = shared(inputs)
    second = shared(first)
    nested = inner(second)
    model = keras.Model(inputs, keras.layers.Add(name="add")([first, nested]))

    entries = {entry["name"]: entry for entry in model.get_config()["layers"]}
    added = [graphs.source_tensor(model, source) for source in graphs.entry_sources(entries["add"])]
    assert added[0] is first and added[1] is nested
    (read_by_inner,) = graphs.entry_sources(entries["inner"])
    assert graphs.source_tensor(model, read_by_inner) is second

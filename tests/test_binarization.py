"""binarize(): layer mapping, constant-input pitfalls, weight copying, training, saving and
Larq Compute Engine export of (a) a Sequential CNN, (b) a functional residual network with
ReLUs before its convs, (c) Keras Applications' MobileNetV2."""

import numpy as np
import pytest
import tensorflow as tf

import keras_bnn
from keras_bnn import export, graphs
from keras_bnn.binarization import METHODS, binarize
from keras_bnn.layers import ReCUConv2D

keras = tf.keras
layers = keras.layers


def sequential_cnn():
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, use_bias=False),
        layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dense(10),
    ], name="cnn")


def residual_network():
    """A ResNet-style network: every conv but the stem reads a ReLU, one through a pooling
    layer that the shortcut also reads, one through a ReLU fused into a conv."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    y = layers.Conv2D(16, 3, padding="same", name="conv1")(x)
    y = layers.BatchNormalization(name="conv1_bn")(y)
    y = layers.Activation("relu", name="conv1_relu")(y)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(y)
    y = layers.Conv2D(16, 1, use_bias=False, name="conv2b")(y)
    y = layers.BatchNormalization(name="conv2b_bn")(y)
    x = layers.ReLU(name="block_relu")(layers.Add(name="add")([x, y]))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv3")(x)
    x = layers.BatchNormalization(name="conv3_bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x), name="resnet")


def mobilenet():
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                          classes=10)


def binary_layers(model):
    return [layer for layer in graphs.all_layers(model)
            if hasattr(layer, "input_quantizer")]


def quantizer_inputs(model, images):
    """The input each binary layer of `model` (not of nested models) sees in training, by
    layer name (a centring BatchNorm that binarize() inserts uses batch statistics)."""
    binary = [layer for layer in model.layers if hasattr(layer, "input_quantizer")]
    probe = keras.Model(model.inputs, [layer.input for layer in binary])
    outputs = probe(images, training=True)
    return dict(zip([layer.name for layer in binary], outputs if len(binary) > 1 else [outputs]))


def random_images(model, count=8):
    return np.random.default_rng(0).normal(size=(count, *model.input_shape[1:])).astype("float32")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_sequential_cnn_maps_its_middle_layers_and_keeps_first_and_last(method):
    binary = binarize(sequential_cnn(), method)
    kinds = {layer.name: type(layer).__name__ for layer in binary.layers}
    assert kinds["conv2d"] == "Conv2D" and kinds["dense_1"] == "Dense"  # first and last
    report = binary.binarization_report
    assert report.method == method and str(report).startswith(f"binarize(method={method!r})")
    if method == "recu":
        assert kinds["conv2d_2"] == "ReCUConv2D"
        # A bias and a ReLU, and no BatchNorm to take the bias: ReCUConv2D cannot.
        assert kinds["conv2d_1"] == "Conv2D" and "no BatchNorm" in \
            report.kept_full_precision["conv2d_1"]
        assert kinds["dense"] == "Dense" and "dense layers" in report.kept_full_precision["dense"]
    else:
        assert kinds["conv2d_1"] == kinds["conv2d_2"] == "QuantConv2D"
        assert kinds["dense"] == "QuantDense"
        quantizer = {"bnn": "SteSign", "binaryduo": "TernarySign"}[method]
        assert {type(layer.input_quantizer).__name__ for layer in binary_layers(binary)} == \
            {quantizer}
        assert binary.get_layer("conv2d_1").pad_values == 1.0
    assert sorted(report.binarized) == sorted(layer.name for layer in binary_layers(binary))


def test_no_binary_layer_reads_a_non_negative_tensor():
    for build in (sequential_cnn, residual_network, mobilenet):
        model = build()
        images = random_images(model)
        binary = binarize(model, "bnn")
        # Before: some of these layers read only values >= 0 (all +1 once binarized).
        probe = keras.Model(model.inputs, [model.get_layer(name).input
                                           for name in binary.binarization_report.binarized])
        assert any(np.min(inputs) >= 0 for inputs in probe(images)), build.__name__
        for name, inputs in quantizer_inputs(binary, images).items():
            signs = np.sign(np.asarray(inputs))
            assert (signs < 0).any() and (signs > 0).any(), (build.__name__, name)


def test_residual_network_reads_pre_activations_and_keeps_the_shortcut():
    model = residual_network()
    binary = binarize(model, "bnn")
    inbound = {layer.name: layer.input.node.layer.name for layer in binary.layers
               if not isinstance(layer, layers.InputLayer) and not isinstance(layer, layers.Add)}
    # conv1 read pool(ReLU(stem_bn)), which the shortcut reads too: the pooling is duplicated.
    assert inbound["conv1"] == "pool_for_conv1"
    assert inbound["pool_for_conv1"] == "stem_bn"
    assert inbound["pool"] == "stem_relu"  # the shortcut is unchanged
    assert inbound["conv2"] == "conv1_bn"
    assert "conv1_relu" not in {layer.name for layer in binary.layers}  # nobody else read it
    assert inbound["conv3"] == "add"
    # conv2's fused ReLU was split out, then bypassed: conv2b reads conv2 itself.
    assert inbound["conv2b"] == "conv2"
    assert binary.get_layer("conv2").activation is keras.activations.linear
    assert "conv2_activation" not in {layer.name for layer in binary.layers}
    assert [t.node.layer.name for t in binary.get_layer("add").input] == ["pool", "conv2b_bn"]
    notes = {c.layer: " ".join(c.notes) for c in binary.binarization_report.changes}
    assert "'stem_relu'" in notes["conv1"] and "'block_relu'" in notes["conv3"]


def test_a_merge_of_relu_outputs_gets_a_batch_norm_before_the_binary_conv():
    inputs = keras.Input((8, 8, 4))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inputs)
    b = layers.ReLU(name="b_relu")(layers.Conv2D(4, 3, padding="same", name="b")(inputs))
    x = layers.Conv2D(4, 3, padding="same", name="c")(layers.Add(name="sum")([a, b]))
    model = keras.Model(inputs, layers.Dense(2, name="head")(layers.Flatten()(x)))
    binary = binarize(model, "bnn", keep_full_precision=["a", "head"])
    assert binary.get_layer("c").input.node.layer.name == "c_input_bn"
    assert isinstance(binary.get_layer("c_input_bn"), layers.BatchNormalization)


def test_nested_blocks_are_binarized_inside_and_their_relu_output_centred():
    block = keras.Sequential([keras.Input((8, 8, 8)), layers.Conv2D(8, 3, padding="same"),
                              layers.BatchNormalization(), layers.ReLU()], name="block")
    inputs = keras.Input((8, 8, 3))
    x = block(layers.Conv2D(8, 3, padding="same", name="stem")(inputs))
    x = layers.Conv2D(8, 3, padding="same", name="after_block")(x)
    model = keras.Model(inputs, layers.Dense(2, name="head")(layers.Flatten()(x)))
    binary = binarize(model, "bnn")
    inner = binary.get_layer("block")
    assert [type(layer).__name__ for layer in inner.layers][1] == "QuantConv2D"
    assert binary.get_layer("after_block").input.node.layer.name == "after_block_input_bn"
    for name, inputs in quantizer_inputs(binary, random_images(model)).items():
        assert (np.asarray(inputs) < 0).any(), name
    np.testing.assert_array_equal(inner.layers[1].kernel.numpy(),
                                  block.layers[0].kernel.numpy() /
                                  max(1.0, np.max(np.abs(block.layers[0].kernel.numpy()))))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_weights_start_from_the_float_model(method):
    model = residual_network()
    rng = np.random.default_rng(1)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 2, w.shape) for w in layer.get_weights()])
    binary = binarize(model, method)
    for layer in binary.layers:
        if not layer.weights or layer.name not in {l.name for l in model.layers}:
            continue
        source = model.get_layer(layer.name)
        if layer.name in binary.binarization_report.binarized:
            kernel = source.kernel.numpy()
            if method == "recu":
                np.testing.assert_allclose(layer.kernel.numpy(), kernel)
                np.testing.assert_allclose(layer.alpha.numpy(), 1.0)
            else:  # scaled into weight_clip's [-1, 1], signs and ratios kept
                np.testing.assert_allclose(layer.kernel.numpy(),
                                           kernel / np.max(np.abs(kernel)), rtol=1e-6)
                if source.use_bias:
                    np.testing.assert_allclose(layer.bias.numpy(), source.bias.numpy())
        elif method == "recu" and layer.name == "conv1_bn":  # took conv1's bias
            gamma, beta, mean, variance = source.get_weights()
            np.testing.assert_allclose(layer.moving_mean.numpy(),
                                       mean - model.get_layer("conv1").bias.numpy(), rtol=1e-6)
        else:
            for new, old in zip(layer.get_weights(), source.get_weights()):
                np.testing.assert_array_equal(new, old)


def test_recu_bias_moved_into_the_batch_norm_keeps_the_output():
    """At inference, BN(conv(x) + b) with moving mean m equals BN(conv(x)) with mean m - b."""
    inputs = keras.Input((8, 8, 4))
    conv = layers.Conv2D(4, 3, padding="same", name="conv")
    model = keras.Model(inputs, layers.BatchNormalization(name="bn")(conv(inputs)))
    conv.bias.assign([0.5, -1.0, 2.0, 0.0])
    model.get_layer("bn").moving_mean.assign([0.1, 0.2, 0.3, 0.4])
    binary = binarize(model, "recu", keep_full_precision="none")
    assert isinstance(binary.get_layer("conv"), ReCUConv2D)
    images = random_images(model)
    without_bias = conv(images) - conv.bias
    np.testing.assert_allclose(binary.get_layer("bn")(without_bias, training=False),
                               model(images, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build, method", [(sequential_cnn, "bnn"), (residual_network, "recu"),
                                           (residual_network, "binaryduo")])
def test_binarized_model_trains_saves_reloads_and_exports(build, method, tmp_path):
    binary = binarize(build(), method)
    images = random_images(binary, 16)
    labels = np.arange(16) % 10
    binary.compile(keras.optimizers.Adam(1e-3),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in binary.trainable_weights]
    history = binary.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, binary.trainable_weights))

    path = tmp_path / "binary.keras"
    binary.save(path)
    reloaded = keras.models.load_model(path)  # no custom_objects
    np.testing.assert_allclose(reloaded(images, training=False), binary(images, training=False),
                               rtol=1e-5, atol=1e-5)

    deployable = keras_bnn.decouple(binary) if method == "binaryduo" else binary
    result = export.convert(deployable, strict=True, sample_inputs=images[:4])
    assert len(result.binary_convs) == sum(isinstance(layer, layers.Conv2D)
                                           for layer in binary_layers(binary))
    assert result.ops["LceBconv2d"] == len(result.binary_convs)


def test_unsupported_layers_stay_float_and_are_reported():
    binary = binarize(mobilenet(), "bnn")
    kept = binary.binarization_report.kept_full_precision
    depthwise = [layer.name for layer in binary.layers
                 if isinstance(layer, layers.DepthwiseConv2D)]
    assert depthwise and all("DepthwiseConv2D" in kept[name] for name in depthwise)
    assert "keep_full_precision" in kept["Conv1"] and "keep_full_precision" in kept["predictions"]
    assert "DepthwiseConv2D" in str(binary.binarization_report)


def test_user_quantizers_replace_the_methods():
    binary = binarize(sequential_cnn(), "bnn", input_quantizer="approx_sign",
                      kernel_quantizer="magnitude_aware_sign", kernel_constraint=None)
    layer = binary.get_layer("conv2d_1")
    assert type(layer.input_quantizer).__name__ == "ApproxSign"
    assert type(layer.kernel_quantizer).__name__ == "MagnitudeAwareSign"
    assert layer.kernel_constraint is None


@pytest.mark.parametrize("arguments, message", [
    (dict(method="xnor"), "Unknown method 'xnor'"),
    (dict(method="recu", kernel_quantizer="ste_sign"), "ReCUConv2D has its own quantizers"),
    (dict(method="bnn", tau=0.9), "takes the overrides"),
    (dict(method="recu", tau=0.3), "`tau` must be in (0.5, 1]"),
    (dict(keep_full_precision=["conv2d", "nope"]), "does not have: ['nope']"),
    (dict(keep_full_precision="all"), "keep_full_precision must be"),
])
def test_bad_arguments_say_what_to_do(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        binarize(sequential_cnn(), **arguments)


def test_a_model_with_nothing_to_binarize_or_no_graph_is_refused():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer to binarize"):
        binarize(model)

    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(ValueError, match="subclassed"):
        binarize(Subclassed())


def test_recu_model_gets_tau_variables_that_the_scheduler_moves():
    binary = binarize(residual_network(), "recu", tau=0.9)
    taus = [layer for layer in binary.layers if isinstance(layer, ReCUConv2D)]
    assert taus and all(float(layer.tau.numpy()) == pytest.approx(0.9) for layer in taus)

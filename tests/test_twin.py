"""keras_bnn.float_twin: the same architecture with every quantizer removed."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
from keras_bnn import float_twin
from keras_bnn.graphs import all_layers

pytestmark = pytest.mark.unit


def quantized(model):
    return [layer.name for layer in all_layers(model) if isinstance(layer, lq.layers.QuantConv2D)
            or isinstance(layer, lq.layers.QuantDense)]


def conv_signature(layer):
    config = layer.get_config()
    return (layer.name, config["filters"], tuple(config["kernel_size"]), tuple(config["strides"]),
            config["padding"], layer.output_shape)


@pytest.mark.parametrize("name,options", [("bnn_resnet20", {}), ("recu_resnet20", {}),
                                          ("binaryduo_vgg_small", {"stage": "decoupled"})])
def test_twin_has_the_same_convs_as_float_layers(name, options):
    model = zoo.get_model(name, **options)
    twin = float_twin(model)
    assert quantized(model) and not quantized(twin)
    model_convs = [conv_signature(l) for l in all_layers(model) if hasattr(l, "filters")]
    twin_convs = [conv_signature(l) for l in all_layers(twin) if hasattr(l, "filters")]
    assert twin_convs == model_convs
    assert [l.name for l in all_layers(twin)] == [l.name for l in all_layers(model)]
    x = np.random.default_rng(0).normal(size=(2, *model.input_shape[1:])).astype(np.float32)
    assert twin(x).shape == model(x).shape


def test_twin_of_a_binary_conv_computes_a_float_conv_without_clipping():
    model = tf.keras.Sequential([
        tf.keras.Input((6, 6, 3)),
        lq.layers.QuantConv2D(4, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
        tf.keras.layers.Flatten(),
        lq.layers.QuantDense(2, kernel_quantizer="ste_sign"),
    ])
    twin = float_twin(model)
    assert isinstance(twin, tf.keras.Sequential)
    assert [type(l).__name__ for l in twin.layers] == ["Conv2D", "Flatten", "Dense"]
    assert twin.layers[0].kernel_constraint is None
    assert twin.count_params() == model.count_params()
    twin.set_weights([w * 3 for w in model.get_weights()])  # latent weights outside [-1, 1]
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 3)).astype(np.float32)
    expected = tf.nn.conv2d(x, twin.layers[0].kernel, 1, "SAME") + twin.layers[0].bias
    np.testing.assert_allclose(twin.layers[0](x), expected, rtol=1e-5, atol=1e-5)


def test_nested_models_are_twinned_inside():
    inner = tf.keras.Sequential([tf.keras.Input((8, 8, 4)),
                                 lq.layers.QuantConv2D(4, 3, input_quantizer="ste_sign",
                                                       kernel_quantizer="ste_sign")], name="inner")
    inputs = tf.keras.Input((8, 8, 4))
    model = tf.keras.Model(inputs, tf.keras.layers.Flatten()(inner(inputs)))
    twin = float_twin(model)
    assert type(twin.get_layer("inner").layers[0]) is tf.keras.layers.Conv2D


def test_a_subclassed_model_is_refused_with_what_to_do():
    class Custom(tf.keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional API"):
        float_twin(Custom())

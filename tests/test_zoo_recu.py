"""ReCU's zoo networks: ReCU convs everywhere but the first and last layers, the papers'
shortcuts, clipped residual streams, τ scheduled or fixed, saving and LCE conversion."""

import functools

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import registry
from keras_bnn.layers import HardTanh, PadChannels, ReCUConv2D

# model: (input shape for the tests, ReCU convs, Bi-Real units, downsampling stages)
MODELS = {
    "recu_resnet20": ((32, 32, 3), 18, 18, 2),
    "recu_resnet18_cifar": ((32, 32, 3), 16, 16, 3),
    "recu_resnet18": ((64, 64, 3), 16, 16, 3),
    "recu_resnet34": ((64, 64, 3), 32, 32, 3),
    "recu_vgg_small": ((32, 32, 3), 5, 0, 0),
    "recu_small": ((28, 28, 1), 5, 0, 0),
}


def layers_of(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


def build(name, **options):
    return zoo.get_model(name, input_shape=MODELS[name][0], **options)


@functools.cache
def built(name):
    """`build(name)`, once per test process: for the tests that only read the model."""
    return build(name)


def test_every_recu_model_of_the_zoo_is_tested():
    assert set(registry.names(family="recu")) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_binary_convs_are_recu_convs_the_first_and_last_layers_full_precision(name):
    shape, recu_convs, _, _ = MODELS[name]
    model = built(name)
    first = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)][0]
    assert type(first) is tf.keras.layers.Conv2D and first.kernel.shape[2] == shape[-1]
    assert type(model.layers[-1]) is tf.keras.layers.Dense
    convs = layers_of(model, ReCUConv2D)
    assert len(convs) == recu_convs
    for conv in convs:
        assert conv.pad_values == 1.0 and float(conv.tau) == pytest.approx(0.85)
    outputs = model(np.zeros((2, *shape), np.float32), training=False).numpy()
    assert outputs.shape == (2, zoo.DEFAULTS[name]["num_classes"])
    assert np.all(np.isfinite(outputs))
    assert lq.models.ModelProfile(model).op_count("mac", 1) > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tau_can_be_fixed_for_the_no_clamp_ablation(name):
    model = build(name, tau=1.0, num_classes=7)
    assert {float(conv.tau) for conv in layers_of(model, ReCUConv2D)} == {1.0}
    assert model.output_shape == (None, 7)  # the other options pass through too
    with pytest.raises(ValueError, match="tau"):
        build(name, tau=0.5)


@pytest.mark.parametrize("name", ["recu_resnet20", "recu_resnet18_cifar"])
def test_cifar_resnets_downsample_with_pooling_and_zero_channels(name):
    _, _, units, downsamples = MODELS[name]
    model = built(name)
    assert len(layers_of(model, PadChannels)) == downsamples
    assert len(layers_of(model, tf.keras.layers.Conv2D)) == 1  # the stem only
    assert len(layers_of(model, HardTanh)) == 1 + units  # after the stem and every addition


@pytest.mark.parametrize("name", ["recu_resnet18", "recu_resnet34"])
def test_imagenet_resnets_downsample_with_strided_full_precision_1x1_convs(name):
    _, _, units, downsamples = MODELS[name]
    model = built(name)
    shortcuts = [layer for layer in layers_of(model, tf.keras.layers.Conv2D)
                 if "shortcut" in layer.name]
    assert len(shortcuts) == downsamples
    assert all(s.kernel_size == (1, 1) and s.strides == (2, 2) for s in shortcuts)
    assert not layers_of(model, PadChannels) and len(layers_of(model, HardTanh)) == 1 + units


def test_resnet20_has_the_parameters_of_its_architecture():
    def conv(cin, cout):  # ReCU conv (kernel, alpha, tau) and its BatchNorm
        return 9 * cin * cout + cout + 1 + 4 * cout

    stem = 9 * 3 * 16 + 4 * 16
    stages = 6 * conv(16, 16) + conv(16, 32) + 5 * conv(32, 32) + conv(32, 64) + 5 * conv(64, 64)
    head = 4 * 64 + 64 * 10 + 10
    assert zoo.get_model("recu_resnet20").count_params() == stem + stages + head  # 0.27 M


def test_tau_survives_saving_and_loading_without_custom_objects(tmp_path):
    model = build("recu_resnet20")
    for conv in layers_of(model, ReCUConv2D):
        conv.tau.assign(0.93)
    path = tmp_path / "recu.keras"
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert {float(conv.tau) for conv in layers_of(loaded, ReCUConv2D)} == {np.float32(0.93)}
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)

"""keras_bnn.layers: ReCUConv2D against an independent reference, and the small layers."""

import math

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn.export import lce_flatbuffer, op_histogram
from keras_bnn.layers import (DecoupledActivation, DuplicateChannels, HardTanh, PadChannels,
                              ReCUConv2D, Scale)

pytestmark = pytest.mark.unit


def straight_through(forward, surrogate):
    """`forward` values with the gradient of `surrogate` (the stop-gradient trick)."""
    return surrogate + tf.stop_gradient(forward - surrogate)


def reference_recu_conv(a, w, alpha, tau, training, b_star=2.0):
    """ReCU's binary conv as its paper (ICCV 2021, https://arxiv.org/abs/2103.12369) and
    official code define it, written with plain TensorFlow ops and the stop-gradient trick."""
    w0 = w - tf.reduce_mean(w, axis=[0, 1, 2], keepdims=True)
    n = float(np.prod(w.shape[:3]))
    var = tf.reduce_sum((w0 - tf.reduce_mean(w0, axis=[0, 1, 2], keepdims=True)) ** 2,
                        axis=[0, 1, 2], keepdims=True) / (n - 1)
    w1 = w0 / (tf.sqrt(var + 1e-5) / (b_star * math.sqrt(2)))
    q = math.inf if tau == 1 else tf.stop_gradient(-tf.reduce_mean(tf.abs(w1)) * math.log(2 - 2 * tau))
    w2 = tf.clip_by_value(w1, -q, q)
    binary_w = straight_through(tf.where(w2 >= 0, 1.0, -1.0), w2)
    if training:
        m = float(np.prod(a.shape[1:]))
        centered = a - tf.reduce_mean(a, axis=[1, 2, 3], keepdims=True)
        a0 = a / tf.sqrt(tf.reduce_sum(centered**2, axis=[1, 2, 3], keepdims=True) / (m - 1)
                         + 1e-5)
    else:
        a0 = a
    clipped = tf.clip_by_value(a0, -1.0, 1.0)
    approx = 2 * clipped - clipped * tf.abs(clipped)  # derivative max(0, 2 - 2|a0|)
    binary_a = straight_through(tf.where(a0 >= 0, 1.0, -1.0), approx)
    padded = tf.pad(binary_a, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=1.0)
    return tf.nn.conv2d(padded, binary_w, 1, "VALID") * alpha


@pytest.mark.parametrize("tau", [0.85, 0.95, 1.0])
@pytest.mark.parametrize("training", [True, False])
def test_recu_conv_forward_and_gradients_match_the_reference(tau, training):
    rng = np.random.default_rng(0)
    a = tf.constant(rng.normal(0, 0.8, (2, 6, 6, 5)), tf.float32)
    layer = ReCUConv2D(4, 3, padding="same", pad_values=1.0, tau=tau)
    layer.build(a.shape)
    layer.kernel.latent_variable.assign(rng.laplace(0.01, 0.1, (3, 3, 5, 4)))
    layer.alpha.assign(rng.uniform(0.5, 1.5, 4))
    dy = tf.constant(rng.normal(size=(2, 6, 6, 4)), tf.float32)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(a)
        got = layer(a, training=training)
        kernel, alpha = layer.kernel.latent_variable, layer.alpha
        expected = reference_recu_conv(a, tf.identity(kernel), alpha, tau, training)
        loss_got, loss_expected = tf.reduce_sum(got * dy), tf.reduce_sum(expected * dy)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    for variable in (a, kernel, alpha):
        np.testing.assert_allclose(tape.gradient(loss_got, variable).numpy(),
                                   tape.gradient(loss_expected, variable).numpy(),
                                   rtol=1e-3, atol=1e-4)


def test_recu_conv_owns_tau_saves_it_and_counts_as_binary(tmp_path):
    inputs = tf.keras.Input((8, 8, 4))
    model = tf.keras.Model(inputs, ReCUConv2D(6, 3, padding="same", pad_values=1.0)(inputs))
    conv = model.layers[1]
    assert not conv.tau.trainable and float(conv.tau) == pytest.approx(0.85)
    assert conv.kernel.precision == 1 and conv.input_quantizer.precision == 1
    assert lq.models.ModelProfile(model).op_count("mac", 1) == 8 * 8 * 3 * 3 * 4 * 6
    conv.tau.assign(0.97)
    conv.alpha.assign(np.arange(1, 7, dtype=np.float32))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype(np.float32)
    for name in ("model.keras", "model.h5"):
        model.save(tmp_path / name)
        reloaded = tf.keras.models.load_model(tmp_path / name)
        assert float(reloaded.layers[1].tau) == pytest.approx(0.97)
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    checkpoint = tf.train.Checkpoint(model=model)
    path = checkpoint.save(tmp_path / "ckpt")
    conv.tau.assign(0.9)
    checkpoint.restore(path)
    assert float(conv.tau) == pytest.approx(0.97)


def test_recu_conv_converts_to_an_lce_binary_conv_with_its_scales():
    inputs = tf.keras.Input((8, 8, 16))
    x = tf.keras.layers.BatchNormalization()(inputs)
    conv = ReCUConv2D(8, 3, padding="same", pad_values=1.0)
    model = tf.keras.Model(inputs, conv(x))
    conv.alpha.assign(np.linspace(0.5, 2.0, 8))
    flatbuffer = lce_flatbuffer(model)
    ops = op_histogram(flatbuffer)
    assert ops["LceBconv2d"] == 1 and ops["LceQuantize"] == 1, ops
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    images = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype(np.float32)
    converted = Interpreter(flatbuffer, num_threads=1).predict(images)
    np.testing.assert_allclose(converted, model(images).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs,message",
    [({"tau": 0.5}, "tau"), ({"b_star": 0.0}, "b_star"),
     ({"kernel_quantizer": "ste_sign"}, "takes no kernel_quantizer"),
     ({"use_bias": True}, "takes no use_bias"), ({"activation": "relu"}, "takes no activation")],
)
def test_recu_conv_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReCUConv2D(4, 3, **kwargs)


def test_small_layers_compute_what_they_say_and_round_trip_their_config():
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    np.testing.assert_array_equal(DuplicateChannels()(x).numpy(),
                                  np.concatenate([x.numpy(), x.numpy()], -1))
    np.testing.assert_array_equal(
        DecoupledActivation(0.25)(x).numpy(),
        np.concatenate([x.numpy() + 0.25, x.numpy() - 0.25], -1))
    np.testing.assert_array_equal(Scale(0.5)(x).numpy(), x.numpy() * 0.5)
    assert Scale.from_config(Scale(0.5).get_config()).scale == 0.5
    assert DecoupledActivation.from_config(DecoupledActivation(0.3).get_config()).threshold == 0.3
    with pytest.raises(ValueError, match="`threshold` must be > 0"):
        DecoupledActivation(0.0)


def test_hard_tanh_clips_with_a_gradient_inside_only():
    x = tf.constant([-2.0, -0.5, 0.5, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = HardTanh()(x)
    np.testing.assert_array_equal(y.numpy(), [-1.0, -0.5, 0.5, 1.0])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0.0, 1.0, 1.0, 0.0])


def test_pad_channels_adds_zero_channels_around_the_input():
    x = tf.ones((1, 2, 2, 3))
    y = PadChannels(1, 2)(x).numpy()
    assert y.shape == (1, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 1:4], 1.0)
    assert not y[..., [0, 4, 5]].any()
    config = PadChannels(1, 2).get_config()
    assert (PadChannels.from_config(config).before, PadChannels.from_config(config).after) == (1, 2)
    with pytest.raises(ValueError, match="before >= 0 and after >= 0"):
        PadChannels(-1, 0)

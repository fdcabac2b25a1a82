"""Forward levels, exact custom gradients and argument checks of keras_bnn.quantizers.

The references are NumPy implementations of the papers' formulas (BinaryDuo, ICLR 2020,
https://arxiv.org/abs/2002.06517; ReCU, ICCV 2021, https://arxiv.org/abs/2103.12369; and
their official code), in float64, written independently of the TensorFlow code.
"""

import math

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import quantizers

pytestmark = pytest.mark.unit

# ---------------------------------------------------------------------------------------
# NumPy references


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def np_standardize(w, center, b_star):
    """ReCU standardization per output channel (last axis), unbiased variance."""
    axis = tuple(range(w.ndim - 1))
    w0 = w - w.mean(axis=axis, keepdims=True) if center else w
    std = np.sqrt(w0.var(axis=axis, ddof=1, keepdims=True) + 1e-5)
    return w0 / (std / (b_star * math.sqrt(2.0)))


def np_recu_forward_and_grad(w, dy, tau, center, b_star):
    """ReCU's binary weights and d(sum(dy * q(w)))/dw, derived by hand."""
    axis = tuple(range(w.ndim - 1))
    n = np.prod([w.shape[a] for a in axis])
    k = b_star * math.sqrt(2.0)
    w1 = np_standardize(w, center, b_star)
    q = np.inf if tau == 1 else -np.abs(w1).mean() * math.log(2 - 2 * tau)
    binary = np_sign(np.clip(w1, -q, q))
    u = np.where(np.abs(w1) <= q, dy, 0.0)  # gradient at w1
    # w1 = k * w0 / s with s = sqrt(var(w0) + eps) and var with Bessel's correction.
    w0 = w - w.mean(axis=axis, keepdims=True) if center else w
    s = np.sqrt(w0.var(axis=axis, ddof=1, keepdims=True) + 1e-5)
    w0_centered = w0 - w0.mean(axis=axis, keepdims=True)
    dot = (u * w0).sum(axis=axis, keepdims=True)
    grad_w0 = k / s * u - k * dot / s**3 * w0_centered / (n - 1)
    if center:
        grad_w0 = grad_w0 - grad_w0.mean(axis=axis, keepdims=True)
    return binary, grad_w0


def np_recu_activation_grad(a, dy, training):
    """d(sum(dy * q(a)))/da for ReCU's activation binarizer, derived by hand."""
    if not training:
        return dy * np.maximum(0.0, 2.0 - 2.0 * np.abs(a))
    axis = tuple(range(1, a.ndim))
    n = np.prod(a.shape[1:])
    s = np.sqrt(a.var(axis=axis, ddof=1, keepdims=True) + 1e-5)
    a0 = a / s
    u = dy * np.maximum(0.0, 2.0 - 2.0 * np.abs(a0))
    dot = (u * a).sum(axis=axis, keepdims=True)
    centered = a - a.mean(axis=axis, keepdims=True)
    return u / s - dot / s**3 * centered / (n - 1)


def value_and_gradient(fn, x, dy):
    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(y * tf.constant(dy, tf.float32))
    return y.numpy(), tape.gradient(loss, x).numpy()


# ---------------------------------------------------------------------------------------
# TernarySign


@pytest.mark.parametrize("threshold", [0.5, 0.25, 0.7])
def test_ternary_levels_on_dense_grid_with_inclusive_thresholds(threshold):
    t = np.float32(threshold)
    grid = np.concatenate(
        [
            np.linspace(-2, 2, 4001, dtype=np.float32),
            [t, -t, np.nextafter(t, np.float32(0)), np.nextafter(-t, np.float32(-1))],
        ]
    ).astype(np.float32)
    out = quantizers.TernarySign(threshold=threshold)(tf.constant(grid)).numpy()
    expected = np.where(grid >= t, 1.0, np.where(grid >= -t, 0.0, -1.0))
    np.testing.assert_array_equal(out, expected)
    assert set(np.unique(out)) == {-1.0, 0.0, 1.0}
    assert out[-4] == 1 and out[-3] == 0  # x = t -> +1, x = -t -> 0
    assert out[-2] == 0 and out[-1] == -1  # just below t -> 0, just below -t -> -1


@pytest.mark.parametrize("clip_value", [1.0, 0.6, 2.0, None])
def test_ternary_gradient_is_straight_through_inside_clip_window(clip_value):
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-3, 3, 601), [-1.0, 1.0, -0.6, 0.6, -2.0, 2.0]])
    x = x.astype(np.float32)  # compare at the precision the quantizer computes in
    dy = rng.normal(size=x.shape)
    _, grad = value_and_gradient(
        lambda v: quantizers.TernarySign(threshold=0.5, clip_value=clip_value)(v), x, dy
    )
    window = np.ones_like(x, bool) if clip_value is None else np.abs(x) <= np.float32(clip_value)
    np.testing.assert_allclose(grad, np.where(window, dy, 0.0), rtol=1e-6)
    assert (grad[~window] == 0).all()


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0.0}, {"threshold": -0.1}, {"threshold": 1.0}, {"threshold": 1.5},
               {"threshold": 0.5, "clip_value": 0.4}]
)
def test_ternary_refuses_threshold_outside_clip_window(kwargs):
    with pytest.raises(ValueError, match=r"`threshold` must be in \(0, clip_value\)"):
        quantizers.TernarySign(**kwargs)


# ---------------------------------------------------------------------------------------
# ReCU kernel quantizer


@pytest.mark.parametrize("shape", [(3, 3, 16, 8), (32, 10), (1, 1, 4, 6)])
@pytest.mark.parametrize("tau", [0.85, 0.99, 1.0])
def test_recu_forward_is_sign_of_centered_kernel(shape, tau):
    w = tf.random.normal(shape, stddev=0.1, seed=1) + 0.05
    out = quantizers.ReCU(tau=tau)(w).numpy()
    centered = w.numpy() - w.numpy().mean(axis=tuple(range(len(shape) - 1)), keepdims=True)
    np.testing.assert_array_equal(out, np_sign(centered))
    assert set(np.unique(out)) <= {-1.0, 1.0}


@pytest.mark.parametrize("tau", [0.85, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("center,b_star", [(True, 2.0), (False, 2.0), (True, 1.0)])
@pytest.mark.parametrize("shape", [(3, 3, 8, 4), (24, 5)])
def test_recu_forward_and_gradient_match_numpy_reference(tau, center, b_star, shape):
    rng = np.random.default_rng(42)
    w = rng.laplace(0.02, 0.05, size=shape)
    dy = rng.normal(size=shape)
    out, grad = value_and_gradient(
        lambda v: quantizers.recu(v, tau=tau, center=center, b_star=b_star), w, dy
    )
    expected_out, expected_grad = np_recu_forward_and_grad(w, dy, tau, center, b_star)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(grad, expected_grad, rtol=2e-4, atol=1e-3 * np.abs(expected_grad).max())


def test_recu_gradient_at_standardized_weights_is_zero_exactly_where_clamped():
    w1 = quantizers.standardize_kernel(tf.random.normal((3, 3, 32, 16), seed=3))
    dy = np.random.default_rng(1).normal(size=w1.shape)
    q = quantizers.recu_threshold(w1, 0.85).numpy()
    _, grad = value_and_gradient(lambda v: quantizers.clamp_and_binarize(v, 0.85), w1, dy)
    inside = np.abs(w1.numpy()) <= q
    assert 0.5 < inside.mean() < 0.9  # the clamp is active on a real share of weights
    np.testing.assert_allclose(grad[inside], dy[inside], rtol=1e-6)
    assert (grad[~inside] == 0).all()


def test_recu_clamped_latent_weights_get_only_the_small_standardization_coupling():
    """Through the standardization, clamped weights still see the mean/variance terms."""
    w = tf.random.normal((3, 3, 64, 8), seed=5)
    dy = np.random.default_rng(2).normal(size=w.shape)
    _, grad = value_and_gradient(lambda v: quantizers.recu(v, tau=0.85), w, dy)
    w1 = quantizers.standardize_kernel(w).numpy()
    clamped = np.abs(w1) > quantizers.recu_threshold(w1, 0.85).numpy()
    assert clamped.any() and (grad[clamped] != 0).all()
    assert np.abs(grad[clamped]).mean() < 0.1 * np.abs(grad[~clamped]).mean()


@pytest.mark.parametrize("tau", [0.6, 0.85, 0.9, 0.99])
def test_recu_threshold_is_the_laplace_quantile(tau):
    scale = 2.0
    samples = np.random.default_rng(0).laplace(0.0, scale, size=400_000).astype(np.float32)
    q = quantizers.recu_threshold(tf.constant(samples), tau).numpy()
    np.testing.assert_allclose(q, -np.abs(samples).mean() * math.log(2 - 2 * tau), rtol=1e-5)
    np.testing.assert_allclose(q, -scale * math.log(2 - 2 * tau), rtol=0.01)
    # Q(tau) is the tau-quantile: a share 2*tau - 1 of the samples lies inside [-Q, Q].
    assert abs(np.mean(np.abs(samples) <= q) - (2 * tau - 1)) < 0.003


def test_recu_tau_one_disables_the_clamp_even_for_constant_weights():
    assert np.isinf(quantizers.recu_threshold(tf.random.normal((10, 4)), 1.0).numpy())
    _, grad = value_and_gradient(
        lambda v: quantizers.recu(v, tau=1.0), np.ones((3, 3, 2, 4)), np.ones((3, 3, 2, 4))
    )
    assert np.isfinite(grad).all()


def test_recu_reads_a_tau_variable_at_every_call():
    tau = tf.Variable(0.99, trainable=False)
    quantizer = quantizers.ReCU(tau=tau)
    w = tf.random.normal((3, 3, 32, 16), seed=7)
    dy = np.ones(w.shape)

    def active_share():
        _, grad = value_and_gradient(quantizer, w, dy)
        w1 = quantizers.standardize_kernel(w).numpy()
        return np.mean(np.abs(w1) <= quantizers.recu_threshold(w1, quantizer.tau).numpy())

    assert active_share() > 0.97
    tau.assign(0.85)
    assert quantizer.tau == pytest.approx(0.85)
    assert 0.6 < active_share() < 0.8
    assert quantizer.get_config()["tau"] == pytest.approx(0.85)


@pytest.mark.parametrize("tau", [0.5, 0.3, 1.01, tf.Variable(0.4)])
def test_recu_refuses_tau_outside_half_open_interval(tau):
    with pytest.raises(ValueError, match=r"`tau` must be in \(0.5, 1\]"):
        quantizers.ReCU(tau=tau)


@pytest.mark.parametrize("b_star", [0.0, -1.0])
def test_recu_refuses_non_positive_b_star(b_star):
    with pytest.raises(ValueError, match="`b_star` must be > 0"):
        quantizers.ReCU(b_star=b_star)


# ---------------------------------------------------------------------------------------
# ReCU activation binarizer


@pytest.mark.parametrize("training", [True, False])
def test_recu_activation_forward_sign_and_gradient_match_numpy_reference(training):
    rng = np.random.default_rng(3)
    a = rng.normal(0.1, 0.7, size=(4, 5, 5, 6))
    a[0, 0, 0, :2] = 0.0  # sign(0) = +1
    dy = rng.normal(size=a.shape)
    out, grad = value_and_gradient(
        lambda v: quantizers.ReCUActivation()(v, training=training), a, dy
    )
    np.testing.assert_array_equal(out, np_sign(a))
    expected = np_recu_activation_grad(a, dy, training)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)


def test_recu_activation_standardizes_per_sample():
    """Scaling one sample changes its own gradient window, not the others'."""
    a = np.random.default_rng(4).normal(size=(2, 4, 4, 3))
    dy = np.ones_like(a)
    scaled = a.copy()
    scaled[1] *= 10.0
    fn = lambda v: quantizers.recu_activation(v, training=True)  # noqa: E731
    _, grad = value_and_gradient(fn, a, dy)
    _, grad_scaled = value_and_gradient(fn, scaled, dy)
    np.testing.assert_allclose(grad_scaled[0], grad[0], rtol=1e-5)
    np.testing.assert_allclose(grad_scaled[1], grad[1] / 10.0, rtol=1e-4, atol=1e-6)


def test_recu_activation_follows_a_symbolic_training_flag():
    a = np.random.default_rng(5).normal(0.0, 3.0, size=(2, 3, 3, 4))
    dy = np.ones_like(a)

    @tf.function(input_signature=[tf.TensorSpec(a.shape), tf.TensorSpec([], tf.bool)])
    def gradient(x, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(quantizers.recu_activation(x, training=training))
        return tape.gradient(loss, x)

    for training in (True, False):
        np.testing.assert_allclose(
            gradient(tf.constant(a, tf.float32), tf.constant(training)).numpy(),
            np_recu_activation_grad(a, dy, training),
            rtol=1e-4,
            atol=1e-5,
        )


def test_recu_activation_follows_keras_training_mode_inside_quant_conv():
    layer = lq.layers.QuantConv2D(4, 3, input_quantizer="recu_activation", use_bias=False)
    x = tf.random.normal((2, 6, 6, 3), stddev=3.0, seed=0)

    def input_gradient(training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=training))
        return tape.gradient(loss, x).numpy()

    # Inputs with std 3 mostly fall outside the ApproxSign window unless standardized.
    assert np.mean(input_gradient(False) != 0) < 0.5
    assert np.mean(input_gradient(True) != 0) > 0.6


# ---------------------------------------------------------------------------------------
# Real-to-Binary: the soft sign of the real-valued stage


def test_tanh_sign_is_tanh_forward_and_backward():
    x = tf.constant(np.linspace(-3, 3, 61), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = quantizers.TanhSign()(x)
    np.testing.assert_allclose(y.numpy(), np.tanh(x.numpy()), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 1 - np.tanh(x.numpy()) ** 2,
                               rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# larq integration: names, configs, precision, metrics, summary

QUANTIZERS = [
    (quantizers.TernarySign, "ternary_sign", 2, {"threshold": 0.3, "clip_value": 1.2}),
    (quantizers.ReCU, "recu", 1, {"tau": 0.9, "center": False, "b_star": 1.5}),
    (quantizers.ReCUActivation, "recu_activation", 1, {}),
    (quantizers.TanhSign, "tanh_sign", 32, {}),
]


@pytest.mark.parametrize("cls,alias,precision,kwargs", QUANTIZERS)
def test_names_resolve_through_larq(cls, alias, precision, kwargs):
    for name in (cls.__name__, alias, f"keras_bnn>{cls.__name__}"):
        quantizer = lq.quantizers.get(name)
        assert type(quantizer) is cls, name
        assert quantizer.precision == precision and isinstance(quantizer.precision, int)


@pytest.mark.parametrize("cls,alias,precision,kwargs", QUANTIZERS)
@pytest.mark.parametrize("legacy", [False, True])
def test_config_round_trip(cls, alias, precision, kwargs, legacy):
    quantizer = cls(**kwargs)
    config = lq.quantizers.serialize(quantizer, use_legacy_format=legacy)
    restored = lq.quantizers.get(config)
    assert type(restored) is cls
    assert restored.get_config() == quantizer.get_config()
    for key, value in kwargs.items():
        assert restored.get_config()[key] == pytest.approx(value)
    assert cls.from_config(quantizer.get_config()).get_config() == quantizer.get_config()


def test_flip_ratio_metric_is_reported_like_larq_quantizers():
    """Like larq's, the metric tracks weights (kernels have a fixed shape)."""
    inputs = tf.keras.Input((8, 8, 3))
    x = lq.layers.QuantConv2D(
        4, 3, input_quantizer="ternary_sign",
        kernel_quantizer=quantizers.TernarySign(threshold=0.02, metrics=["flip_ratio"]),
    )(inputs)
    with lq.context.metrics_scope(["flip_ratio"]):  # default metrics of kernel quantizers
        x = lq.layers.QuantConv2D(2, 3, input_quantizer="recu_activation",
                                  kernel_quantizer="recu")(x)
    outputs = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, outputs)
    model.compile(tf.keras.optimizers.SGD(1.0), "mse")
    history = model.fit(
        np.random.rand(32, 8, 8, 3), np.random.rand(32, 2), epochs=3, batch_size=8, verbose=0
    )
    flip_metrics = [key for key in history.history if key.startswith("flip_ratio")]
    assert len(flip_metrics) == 2, history.history.keys()
    for key in flip_metrics:
        assert all(0.0 <= value <= 1.0 for value in history.history[key])
        assert max(history.history[key]) > 0.0  # large steps do flip some weights


def test_larq_summary_counts_ternary_and_binary_bits():
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = lq.layers.QuantConv2D(6, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ternary_sign", kernel_quantizer="recu")(x)
    x = lq.layers.QuantConv2D(5, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="recu_activation", kernel_quantizer="recu")(x)
    model = tf.keras.Model(inputs, x)
    profile = lq.models.ModelProfile(model)
    assert profile.weight_count(bitwidth=1) == 3 * 3 * 4 * 6 + 3 * 3 * 6 * 5
    assert profile.op_count("mac", 2) == 8 * 8 * 3 * 3 * 4 * 6  # ternary inputs: 2-bit MACs
    assert profile.op_count("mac", 1) == 8 * 8 * 3 * 3 * 6 * 5  # binary inputs and weights
    lines = []
    lq.models.summary(model, print_fn=lines.append)
    text = "\n".join(lines)
    assert "2-bit MACs" in text and "1-bit MACs" in text

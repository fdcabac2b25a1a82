"""Learning-rate schedules and optimizers of the recipes."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import optimizers

pytestmark = pytest.mark.unit


def rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_warmup_cosine_rises_linearly_then_follows_half_a_cosine_to_zero():
    schedule = optimizers.WarmupCosineDecay(0.1, total_steps=110, warmup_steps=10)
    np.testing.assert_allclose(rates(schedule, range(10)), 0.1 * np.arange(1, 11) / 10, rtol=1e-6)
    cosine_steps = np.arange(10, 111)
    expected = 0.05 * (1 + np.cos(np.pi * (cosine_steps - 10) / 100))
    np.testing.assert_allclose(rates(schedule, cosine_steps), expected, rtol=1e-5, atol=1e-8)
    assert float(schedule(60)) == pytest.approx(0.05)
    assert float(schedule(500)) == pytest.approx(0.0, abs=1e-9)  # stays at 0 past the end
    restored = optimizers.WarmupCosineDecay.from_config(schedule.get_config())
    np.testing.assert_allclose(rates(restored, range(0, 111, 7)), rates(schedule, range(0, 111, 7)))


def test_step_schedule_decays_by_the_factor_at_each_epoch():
    schedule = optimizers.make_schedule(
        0.1, "step", epochs=10, steps_per_epoch=5, decay_epochs=(3, 6), decay_factor=0.1
    )
    got = rates(schedule, [0, 14, 15, 29, 30, 49])
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_schedule_uses_epochs_and_steps():
    schedule = optimizers.make_schedule(1.0, "cosine", epochs=4, steps_per_epoch=10,
                                        warmup_epochs=1)
    assert schedule.total_steps == 40 and schedule.warmup_steps == 10


@pytest.mark.parametrize(
    "kwargs,message",
    [({"schedule": "exp"}, "Unknown learning-rate schedule 'exp'"),
     ({"learning_rate": 0.0}, "learning_rate must be > 0"),
     ({"name": "rmsprop"}, "Unknown optimizer 'rmsprop'"),
     ({"weight_decay": -1.0}, "weight_decay must be >= 0")],
)
def test_bad_optimizer_arguments_are_refused(kwargs, message):
    arguments = {"name": "sgd", "learning_rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        optimizers.make_optimizer(**arguments)


def test_weight_decay_spares_batchnorm_and_bias():
    model = tf.keras.Sequential(
        [tf.keras.Input((3,)), tf.keras.layers.Dense(2), tf.keras.layers.BatchNormalization()]
    )
    for variable in model.trainable_variables:
        variable.assign(tf.ones_like(variable))
    optimizer = optimizers.make_optimizer("sgd", 1.0, weight_decay=0.1, momentum=0.0)
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables))
    decayed = {v.name.split("/")[-1]: v.numpy() for v in model.trainable_variables}
    np.testing.assert_allclose(decayed["kernel:0"], 0.9)
    for name in ("bias:0", "gamma:0", "beta:0"):
        np.testing.assert_allclose(decayed[name], 1.0)


def test_bop_flips_binary_weights_and_trains_the_rest_with_adam():
    model = tf.keras.Sequential([
        tf.keras.Input((4,)),
        lq.layers.QuantDense(8, kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                             use_bias=True),
        tf.keras.layers.Dense(2),
    ])
    optimizer = optimizers.make_optimizer("bop", 1e-2)
    assert isinstance(optimizer, lq.optimizers.CaseOptimizer)
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    model.fit(x, (x[:, 0] > 0).astype(int), epochs=3, verbose=0)
    after = model.get_weights()
    binary_kernel_changed = np.sign(after[0]) != np.sign(before[0])
    assert binary_kernel_changed.any()  # Bop flips signs
    assert not np.allclose(after[2], before[2])  # the float layer moved under Adam

"""TauScheduler (ReCU's τ schedule: set, logged, resumable) and WeightStats."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import quantizers, training
from keras_bnn.callbacks import TauScheduler, WeightStats, tau_schedule
from keras_bnn.layers import ReCUConv2D

pytestmark = pytest.mark.unit


def test_exponential_schedule_has_the_paper_values():
    assert tau_schedule(0, 600) == pytest.approx(0.85)
    assert tau_schedule(300, 600) == pytest.approx(0.90286, abs=1e-5)
    assert tau_schedule(600, 600) == pytest.approx(0.99)
    values = [tau_schedule(i, 10) for i in range(10)]
    assert values == sorted(values)


@pytest.mark.parametrize("schedule,middle", [("linear", 0.92), ("cosine", 0.92),
                                             ("constant", 0.85)])
def test_other_schedules(schedule, middle):
    assert tau_schedule(0, 10, schedule=schedule) == pytest.approx(0.85)
    assert tau_schedule(5, 10, schedule=schedule) == pytest.approx(middle)
    assert tau_schedule(4, 5, schedule=lambda e, n: 0.6 + e / (10 * n)) == pytest.approx(0.68)


@pytest.mark.parametrize(
    "kwargs,message",
    [({"tau_min": 0.5}, r"\(0.5, 1\]"), ({"tau_max": 1.2}, r"\(0.5, 1\]"),
     ({"tau_min": 0.99, "tau_max": 0.9}, "must not exceed"),
     ({"schedule": "step"}, "Unknown tau schedule"),
     ({"schedule": lambda epoch, epochs: 0.2}, r"\(0.5, 1\]")],
)
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TauScheduler(**kwargs)


def recu_model():
    inputs = tf.keras.Input((6, 6, 2))
    inner_in = tf.keras.Input((6, 6, 4))
    inner = tf.keras.Model(inner_in, ReCUConv2D(4, 3, padding="same", pad_values=1.0)(inner_in))
    x = ReCUConv2D(4, 3, padding="same", pad_values=1.0)(inputs)
    x = inner(tf.keras.layers.BatchNormalization()(x))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(tf.keras.layers.Flatten()(x)))
    model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def stream(start_step):
    x = np.random.default_rng(0).normal(size=(64, 6, 6, 2)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 2)).repeat()
    return data.batch(8).skip(start_step)


def taus(model):
    return [float(layer.tau) for layer in model.submodules if isinstance(layer, ReCUConv2D)]


def test_scheduler_sets_every_recu_layer_and_logs_tau(tmp_path):
    model = recu_model()
    history = model.fit(stream(0), steps_per_epoch=2, epochs=4, verbose=0,
                        callbacks=[TauScheduler()])
    expected = [tau_schedule(e, 4) for e in range(4)]
    assert history.history["tau"] == pytest.approx(expected)
    assert taus(model) == pytest.approx([expected[-1]] * 2)  # nested model included


def test_resumed_run_continues_the_schedule_and_restores_tau(tmp_path):
    model = recu_model()
    training.fit_resumable(model, stream, epochs=2, steps_per_epoch=2, checkpoint_dir=tmp_path,
                           callbacks=[TauScheduler()], verbose=0)
    resumed = recu_model()
    assert taus(resumed) == pytest.approx([0.85, 0.85])
    history = training.fit_resumable(resumed, stream, epochs=5, steps_per_epoch=2,
                                     checkpoint_dir=tmp_path, callbacks=[TauScheduler()],
                                     verbose=0)
    assert len(history) == 5  # two restored epochs, three new ones
    assert [logs["tau"] for logs in history[2:]] == pytest.approx(
        [tau_schedule(e, 5) for e in (2, 3, 4)])
    assert taus(resumed) == pytest.approx([tau_schedule(4, 5)] * 2)


def test_scheduler_on_a_model_without_recu_layers_says_so():
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="has no layer with a tau variable"):
        model.fit(np.zeros((4, 2)), np.zeros(4), epochs=1, verbose=0, callbacks=[TauScheduler()])


def test_weight_stats_logs_dead_weights_flips_errors_and_histograms(tmp_path):
    model = recu_model()
    model.compile(tf.keras.optimizers.SGD(5.0),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stats = WeightStats(tmp_path / "weights")
    history = model.fit(stream(0), steps_per_epoch=4, epochs=2, verbose=0,
                        callbacks=[TauScheduler(), stats]).history

    conv = model.layers[1]
    w1 = quantizers.standardize_kernel(conv.kernel.latent_variable).numpy()
    clamp = quantizers.recu_threshold(w1, float(conv.tau)).numpy()
    assert history[f"{conv.name}/dead_fraction"][-1] == pytest.approx(np.mean(np.abs(w1) > clamp))
    assert 0.02 < history[f"{conv.name}/dead_fraction"][-1] < 0.3  # tau is 0.85..0.92 here
    read = np.clip(w1, -clamp, clamp)
    error = np.sum((read - np.abs(read).mean() * np.sign(read)) ** 2) / np.sum(read**2)
    assert history[f"{conv.name}/quantization_error"][-1] == pytest.approx(error, rel=1e-5)
    assert max(history[f"{conv.name}/flip_ratio"]) > 0  # a large learning rate flips signs
    assert set(history) >= {"dead_fraction", "flip_ratio", "quantization_error"}
    assert list((tmp_path / "weights").glob("events.out.tfevents.*"))


def test_weight_stats_covers_larq_binary_layers_without_dead_fraction():
    inputs = tf.keras.Input((4,))
    outputs = lq.layers.QuantDense(3, kernel_quantizer="ste_sign",
                                   kernel_constraint="weight_clip", name="binary")(inputs)
    model = tf.keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    history = model.fit(np.ones((8, 4)), np.zeros((8, 3)), epochs=1, verbose=0,
                        callbacks=[WeightStats()]).history
    assert "binary/quantization_error" in history and "binary/dead_fraction" not in history

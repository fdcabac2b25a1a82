"""Training with the quantizers under MirroredStrategy matches training on one device."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import quantizers, training


def build_model():
    # No BatchNormalization: its batch statistics are per replica by design, which would
    # make one device and two replicas differ for a reason unrelated to the quantizers.
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip")(x)
    x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="recu_activation",
                              kernel_quantizer=quantizers.ReCU(tau=0.9))(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(x))


def train(strategy, initial_weights, x, y):
    with strategy.scope():
        model = build_model()
        model.set_weights(initial_weights)
        model.compile(
            tf.keras.optimizers.SGD(0.05),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_mirrored_training_on_two_cpus_matches_one_device():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py configures two logical CPUs"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    initial = build_model().get_weights()

    single_weights, single_loss = train(tf.distribute.get_strategy(), initial, x, y)
    mirrored = training.mirrored_strategy()
    assert mirrored.num_replicas_in_sync == 2
    mirrored_weights, mirrored_loss = train(mirrored, initial, x, y)

    assert any(not np.allclose(w, w0) for w, w0 in zip(single_weights, initial))  # it trained
    np.testing.assert_allclose(mirrored_loss, single_loss, rtol=1e-4)
    for single, replicated in zip(single_weights, mirrored_weights):
        np.testing.assert_allclose(replicated, single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("quantizer", ["recu", "ternary_sign"])
def test_quantizer_weights_are_not_duplicated_per_replica(quantizer):
    """Quantizers own no variables of their own that a strategy would need to mirror."""
    mirrored = training.mirrored_strategy()
    with mirrored.scope():
        layer = lq.layers.QuantConv2D(4, 3, kernel_quantizer=quantizer)
        layer.build((None, 5, 5, 2))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel:0", "bias:0"]

"""Models using each quantizer save and reload in every Keras format, without custom_objects."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import quantizers

QUANTIZED_CONVS = {
    "ternary_sign": dict(input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                         kernel_constraint="weight_clip"),
    "recu": dict(input_quantizer="recu_activation",
                 kernel_quantizer=quantizers.ReCU(tau=0.9, b_star=1.5)),
    "ternary_kernel": dict(input_quantizer="ste_sign",
                           kernel_quantizer=quantizers.TernarySign(threshold=0.05)),
    "tanh_sign": dict(input_quantizer="tanh_sign", kernel_quantizer="magnitude_aware_sign"),
}


def build_model():
    """One binary conv per entry of `QUANTIZED_CONVS`, named after it."""
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    for name, conv_kwargs in QUANTIZED_CONVS.items():
        x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                                  name=name, **conv_kwargs)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(4)(x))


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("file_name", ["model.h5", "model.keras", "saved_model"])
def test_model_saves_and_reloads_without_custom_objects(file_name, tmp_path):
    model = build_model()
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32)
    # Train briefly, so that the reloaded weights are not the initial ones.
    model.compile("adam", "mse")
    model.fit(x, np.ones((4, 4)), epochs=2, verbose=0)
    expected = model.predict(x, verbose=0)

    path = str(tmp_path / file_name)
    model.save(path)
    reloaded = tf.keras.models.load_model(path)

    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    for name in QUANTIZED_CONVS:
        for attribute in ("input_quantizer", "kernel_quantizer"):
            original = getattr(model.get_layer(name), attribute)
            restored = getattr(reloaded.get_layer(name), attribute)
            assert type(restored) is type(original), (name, attribute)
            assert restored.get_config() == original.get_config(), (name, attribute)

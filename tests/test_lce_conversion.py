"""The binarizers build the graph patterns that Larq Compute Engine turns into binary ops."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from keras_bnn.export import lce_flatbuffer, op_histogram

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "input_quantizer,kernel_quantizer",
    [("recu_activation", "recu"), ("ste_sign", "recu"), ("recu_activation", "ste_sign")],
)
def test_binary_conv_with_keras_bnn_quantizers_becomes_lce_bconv2d(
    input_quantizer, kernel_quantizer
):
    inputs = tf.keras.Input((8, 8, 16))
    x = tf.keras.layers.BatchNormalization()(inputs)
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, use_bias=False,
        input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
    )(x)
    model = tf.keras.Model(inputs, x)
    flatbuffer = lce_flatbuffer(model)

    ops = op_histogram(flatbuffer)
    assert ops["LceBconv2d"] == 1 and ops["LceQuantize"] == 1, ops
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 16)).astype(np.float32)
    converted = Interpreter(flatbuffer, num_threads=1).predict(images)
    np.testing.assert_allclose(converted, model(images).numpy(), atol=1e-4)

"""Models written the way larq-zoo and users write them: layers made by TensorFlow ops on
Keras tensors (`x + y`, `tf.nn.relu(x)`) and Lambda layers, through binarize, decouple,
float_twin and the export; loading a file with a Lambda layer stays refused (safe mode)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import keras_bnn
from decoupling_checks import assert_same_function
from keras_bnn import export
import tf_keras as keras

pytestmark = pytest.mark.unit


def float_cnn_with_tf_ops():
    """A float residual CNN whose merge and activations are TF ops, plus a Lambda layer."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = tf.nn.relu(x)  # a TFOpLambda
    y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="body")(y)
    y = keras.layers.BatchNormalization()(y)
    x = x + y  # a TFOpLambda with the second tensor in its keyword arguments
    x = keras.layers.Lambda(lambda t: t * 0.5, name="halve")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x))


def ternary_cnn_with_tf_ops():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                              name="ternary")(x)
    y = keras.layers.BatchNormalization()(y)
    x = keras.layers.Lambda(lambda t: t * 1.0, name="identity")(x + y)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize("method", ["bnn", "recu", "binaryduo"])
def test_binarize_reads_tf_op_layers_and_bypasses_a_tf_relu(method, cifar_images):
    binary = keras_bnn.binarize(float_cnn_with_tf_ops(), method)
    (change,) = [c for c in binary.binarization_report.changes if c.now]
    assert change.layer == "body"
    assert any("read the relu 'tf.nn.relu'" in note for note in change.notes), change.notes
    assert np.isfinite(binary(cifar_images, training=False).numpy()).all()
    if method == "binaryduo":
        binary = keras_bnn.decouple(binary)
    assert export.convert(binary, sample_inputs=cifar_images[:8]).converted_binary_convs == 1


def test_decouple_keeps_the_function_of_a_model_with_tf_op_layers(cifar_images):
    ternary = ternary_cnn_with_tf_ops()
    assert_same_function(ternary, keras_bnn.decouple(ternary), cifar_images[:, :16, :16])


def test_float_twin_rebuilds_lambda_layers_of_a_model_in_memory():
    binary = keras_bnn.binarize(float_cnn_with_tf_ops())
    twin = keras_bnn.float_twin(binary)
    assert isinstance(twin.get_layer("halve"), keras.layers.Lambda)
    assert not any(hasattr(layer, "input_quantizer") for layer in twin.layers)


def test_loading_a_file_with_a_lambda_layer_is_still_refused(tmp_path):
    keras_bnn.binarize(float_cnn_with_tf_ops())  # rebuilding in memory leaves safe mode on
    float_cnn_with_tf_ops().save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match="Lambda"):
        keras.models.load_model(tmp_path / "model.keras")


def test_a_model_without_binary_convs_exports_with_a_warning_and_says_so():
    with pytest.warns(UserWarning, match="no binary conv: this is a float program"):
        result = export.convert(float_cnn_with_tf_ops())
    assert "0 of 0 became LceBconv2d (the model has no binary conv" in result.report()

"""Keras 3 models in: rebuilt in tf_keras with their weights, equal outputs on real images,
taken by binarize, float_twin, decouple and the export; layers without a twin refused."""

import keras  # Keras 3: keras_bnn binds only tf.keras to Keras 2
import numpy as np
import pytest
import tf_keras

import keras_bnn
from keras_bnn import export
from keras_bnn.keras3 import is_keras_3_model, to_tf_keras


def assert_same_outputs(model, twin, images):
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(twin(images, training=False).numpy(), expected,
                               rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def small_cnn():
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", kernel_regularizer="l2")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(16, 3, strides=2, use_bias=False, name="middle")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="small_cnn")


@pytest.mark.parametrize("application", [
    lambda: keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                           classes=10),
    lambda: keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10),
], ids=["MobileNetV2", "ResNet50"])
def test_keras_applications_become_tf_keras_twins_with_equal_outputs(application, cifar_images):
    model = application()
    twin = to_tf_keras(model)
    assert isinstance(twin, tf_keras.Model) and not is_keras_3_model(twin)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    assert [type(layer).__name__ for layer in twin.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert twin.count_params() == model.count_params()
    assert_same_outputs(model, twin, cifar_images)


def test_sequential_stays_sequential():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)], name="mlp")
    twin = to_tf_keras(model)
    assert isinstance(twin, tf_keras.Sequential) and twin.name == "mlp"
    assert_same_outputs(model, twin, np.random.default_rng(0).normal(size=(5, 6)))


def test_nested_models_and_shared_layers_are_kept(cifar_images):
    inner = small_cnn()
    shared = keras.layers.Dense(3, name="shared")
    inputs = keras.Input((32, 32, 3))
    features = inner(inputs)
    outputs = keras.layers.Concatenate()([shared(features), shared(features)])
    model = keras.Model(inputs, outputs)
    twin = to_tf_keras(model)
    assert isinstance(twin.get_layer("small_cnn"), tf_keras.Model)
    assert len([layer for layer in twin.layers if layer.name == "shared"]) == 1
    assert_same_outputs(model, twin, cifar_images)


class Custom(keras.layers.Layer):
    def call(self, x):
        return x * 2


@pytest.mark.parametrize("build,message", [
    (lambda x: x + 1.0, r"operation '\w+' \(keras\.src\.ops\.numpy\.Add\) has no tf_keras"),
    (lambda x: Custom(name="doubler")(x), r"layer 'doubler' \(.*Custom\) has no tf_keras"),
    (lambda x: keras.layers.Dense(2, lora_rank=2, name="lora")(x),
     r"'lora' \(Dense\) sets lora_rank=2"),
])
def test_a_layer_without_a_tf_keras_twin_is_refused_by_name_and_type(build, message):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, build(inputs))
    with pytest.raises(ValueError, match=message):
        keras_bnn.binarize(model)


def test_subclassed_and_unbuilt_models_are_refused():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed Subclassed"):
        keras_bnn.float_twin(Subclassed(name="sub"))
    with pytest.raises(ValueError, match="no defined input"):
        export.convert(keras.Sequential([keras.layers.Dense(2)]))


@pytest.mark.parametrize("method", ["bnn", "recu", "binaryduo"])
def test_binarize_takes_a_keras_3_model_and_exports_it(method, cifar_images):
    model = small_cnn()
    binary = keras_bnn.binarize(model, method)
    assert isinstance(binary, tf_keras.Model)
    assert binary.binarization_report.binarized == ["middle"]
    if method == "binaryduo":  # ternary activations: decoupled before the export
        binary = keras_bnn.decouple(binary)
    result = export.convert(binary, sample_inputs=cifar_images[:4])
    assert result.converted_binary_convs == 1


def test_float_twin_and_the_export_take_a_keras_3_model(cifar_images):
    model = small_cnn()
    twin = keras_bnn.float_twin(model)  # freshly initialised, by definition
    assert isinstance(twin, tf_keras.Model)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    result = export.convert(model, sample_inputs=cifar_images[:4])  # a float model converts
    assert result.size_bytes > 0

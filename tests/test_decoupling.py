"""keras_bnn.decouple: the decoupled binary model computes what the ternary model does."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

import keras_bnn
import zoo
from keras_bnn import data
from keras_bnn.export import lce_flatbuffer, op_histogram
from keras_bnn.layers import DecoupledActivation, DuplicateChannels, Scale
from decoupling_checks import assert_same_function, perturb_batch_norms
from keras_bnn.quantizers import TernarySign


@pytest.fixture(scope="module")
def fashion_images(shared_datasets):
    images = data.load("fashion_mnist", shared_datasets / "fashion-mnist", max_test_examples=64)
    return next(iter(images.test_dataset(64)))[0].numpy()


def layers_of(model, kind):
    return [layer for layer in model.submodules if isinstance(layer, kind)]


ZOO_CASES = [("bnn_small", {}, "fashion"), ("bnn_vgg7", {}, "cifar"),
             ("bnn_resnet20", {}, "cifar"), ("bnn_vgg_small", {"width_multiplier": 0.25}, "cifar")]


@pytest.mark.parametrize("name,options,images", ZOO_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_decoupled_zoo_model_equals_ternary_model_on_real_images(
    name, options, images, seed, request
):
    images = request.getfixturevalue(f"{images}_images")
    tf.keras.utils.set_random_seed(seed)
    ternary = zoo.get_model(name, input_shape=images.shape[1:], input_quantizer="ternary_sign",
                            **options)
    perturb_batch_norms(ternary, seed)
    decoupled = keras_bnn.decouple(ternary)
    assert_same_function(ternary, decoupled, images)

    ternary_convs = [l for l in ternary.layers if isinstance(getattr(l, "input_quantizer", None),
                                                             TernarySign)]
    binary = [l for l in decoupled.layers if isinstance(l, lq.layers.QuantConv2D)]
    assert not any(isinstance(l.input_quantizer, TernarySign) for l in binary)
    assert len(layers_of(decoupled, Scale)) == len(ternary_convs)
    for conv in ternary_convs:
        new = decoupled.get_layer(conv.name)
        assert new.input_shape[-1] == 2 * conv.input_shape[-1]
        assert isinstance(new.input_quantizer, lq.quantizers.SteSign)
        np.testing.assert_array_equal(
            np.sign(new.get_weights()[0]),
            np.sign(np.concatenate([conv.get_weights()[0]] * 2, axis=-2)),
        )


def test_decoupling_after_training_keeps_the_function(fashion_images, shared_datasets):
    """BatchNorm statistics from real training steps, not set by hand."""
    ternary = zoo.get_model("bnn_small", input_quantizer="ternary_sign")
    ternary.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fashion = data.load("fashion_mnist", shared_datasets / "fashion-mnist",
                        max_train_examples=512)
    ternary.fit(fashion.train_dataset(64), steps_per_epoch=8, epochs=1, verbose=0)
    assert_same_function(ternary, keras_bnn.decouple(ternary), fashion_images)


def test_batch_norm_feeding_only_the_activation_is_duplicated_with_shifted_betas():
    ternary = zoo.get_model("bnn_small", input_quantizer="ternary_sign")
    perturb_batch_norms(ternary, 3)
    decoupled = keras_bnn.decouple(ternary)
    bn = ternary.get_layer("conv1_bn")
    gamma, beta, mean, variance = bn.get_weights()
    new_gamma, new_beta, new_mean, new_variance = decoupled.get_layer("conv1_bn").get_weights()
    np.testing.assert_allclose(new_gamma, np.concatenate([gamma, gamma]))
    np.testing.assert_allclose(new_beta, np.concatenate([beta + 0.5, beta - 0.5]), rtol=1e-6)
    np.testing.assert_allclose(new_mean, np.concatenate([mean, mean]))
    np.testing.assert_allclose(new_variance, np.concatenate([variance, variance]))
    assert isinstance(decoupled.get_layer("conv1_bn_duplicate"), DuplicateChannels)
    assert not layers_of(decoupled, DecoupledActivation)


def test_activation_fed_by_a_residual_sum_gets_a_decoupled_activation_layer(cifar_images):
    ternary = zoo.get_model("bnn_resnet20", input_quantizer="ternary_sign")
    decoupled = keras_bnn.decouple(ternary)
    # In Bi-Real blocks, binary convs read the residual stream (an Add), not a BatchNorm.
    assert len(layers_of(decoupled, DecoupledActivation)) >= 1
    assert_same_function(ternary, decoupled, cifar_images[:8])


def test_ternary_conv_reading_another_decoupled_conv_directly():
    """The second conv's input is the first one's new Scale layer, not an original layer."""
    conv = dict(padding="same", pad_values=1.0, input_quantizer="ternary_sign",
                kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    inputs = tf.keras.Input((6, 6, 4))
    x = lq.layers.QuantConv2D(8, 3, **conv)(tf.keras.layers.BatchNormalization()(inputs))
    ternary = tf.keras.Model(inputs, lq.layers.QuantConv2D(4, 3, **conv)(x))
    decoupled = keras_bnn.decouple(ternary)
    assert len(layers_of(decoupled, DecoupledActivation)) == 1  # before the second conv
    images = np.random.default_rng(0).normal(size=(4, 6, 6, 4)).astype(np.float32)
    assert_same_function(ternary, decoupled, images)


def test_sequential_and_nested_models_with_dense_layers_and_activations():
    block = tf.keras.Sequential([
        tf.keras.Input((6, 6, 4)),
        tf.keras.layers.BatchNormalization(),
        lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=True,
                              activation="relu", input_quantizer="ternary_sign",
                              kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
    ], name="block")
    inputs = tf.keras.Input((6, 6, 4))
    x = block(inputs)
    x = tf.keras.layers.Flatten()(x)
    x = lq.layers.QuantDense(5, input_quantizer=TernarySign(threshold=0.3, clip_value=1.2),
                             kernel_quantizer="ste_sign", kernel_constraint="weight_clip")(x)
    model = tf.keras.Model(inputs, x)
    for layer in (block.layers[1], model.layers[-1]):
        layer.set_weights([w + np.random.default_rng(0).normal(0, 0.3, w.shape)
                           for w in layer.get_weights()])
    perturb_batch_norms(model, 4)
    decoupled = keras_bnn.decouple(model)
    images = np.random.default_rng(1).normal(size=(16, 6, 6, 4)).astype(np.float32)
    assert_same_function(model, decoupled, images)
    dense = decoupled.layers[-2]
    assert dense.input_quantizer.clip_value == 1.2 and dense.input_shape[-1] == 2 * 288
    assert decoupled.layers[-3].threshold == 0.3  # DecoupledActivation before the dense

    sequential = tf.keras.Sequential([tf.keras.Input((6, 6, 4)), *block.layers])
    assert_same_function(sequential, keras_bnn.decouple(sequential), images)


def test_decoupled_model_trains_and_saves_without_custom_objects(tmp_path):
    decoupled = keras_bnn.decouple(zoo.get_model("bnn_small", input_quantizer="ternary_sign"))
    decoupled.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(32, 28, 28, 1)).astype(np.float32)
    before = decoupled.get_layer("conv1_bn").get_weights()[1].copy()
    decoupled.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
    beta = decoupled.get_layer("conv1_bn").get_weights()[1]
    assert not np.allclose(beta, before)  # the two copies train (their betas move)
    decoupled.save(tmp_path / "model.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), decoupled.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_decoupled_model_converts_to_lce_binary_convs_with_the_same_outputs(cifar_images):
    ternary = zoo.get_model("bnn_vgg7", input_quantizer="ternary_sign")
    perturb_batch_norms(ternary, 5)
    decoupled = keras_bnn.decouple(ternary)
    flatbuffer = lce_flatbuffer(decoupled)
    ops = op_histogram(flatbuffer)
    binary_convs = [l for l in decoupled.layers if isinstance(l, lq.layers.QuantConv2D)]
    assert ops["LceBconv2d"] == len(binary_convs) == 5, ops
    assert ops["LceQuantize"] >= 1
    interpreter = Interpreter(flatbuffer, num_threads=1)
    converted = np.concatenate([interpreter.predict(image[None]) for image in cifar_images[:8]])
    expected = ternary(cifar_images[:8], training=False).numpy()
    assert np.abs(converted - expected).max() <= 1e-3 * np.abs(expected).max()


def test_decoupled_activation_layer_converts_to_lce_quantize_and_bconv():
    inputs = tf.keras.Input((8, 8, 6))
    x = DecoupledActivation(0.5)(inputs)
    x = lq.layers.QuantConv2D(4, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip")(x)
    ops = op_histogram(lce_flatbuffer(tf.keras.Model(inputs, Scale(0.5)(x))))
    assert ops["LceQuantize"] == 1 and ops["LceBconv2d"] == 1, ops


def small_model(**conv_options):
    inputs = tf.keras.Input((6, 6, 4))
    options = dict(input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                   kernel_constraint="weight_clip")
    x = lq.layers.QuantConv2D(4, 3, **{**options, **conv_options})(inputs)
    return tf.keras.Model(inputs, x)


@pytest.mark.parametrize(
    "build,message",
    [(lambda: zoo.get_model("bnn_small"), "nothing to decouple"),
     (lambda: small_model(padding="same", pad_values=0.0), "pad_values=1.0"),
     (lambda: small_model(groups=2), "grouped conv"),
     (lambda: tf.keras.Sequential([tf.keras.Input((6, 6, 4)), lq.layers.QuantDepthwiseConv2D(
         3, input_quantizer="ternary_sign")]), "supports it only in QuantConv2D and QuantDense")],
)
def test_models_that_cannot_be_decoupled_are_refused_with_the_reason(build, message):
    with pytest.raises(ValueError, match=message):
        keras_bnn.decouple(build())


def sign_times_l1_norm(kernel):
    """A kernel quantizer whose scale grows with the input channels: [W, W] gets twice W's."""
    return tf.sign(kernel) * tf.reduce_sum(tf.abs(kernel))


def test_a_kernel_quantizer_that_sees_the_duplicated_kernel_differently_is_refused():
    with pytest.raises(ValueError, match="quantizes the duplicated kernel"):
        keras_bnn.decouple(small_model(kernel_quantizer=sign_times_l1_norm))


def test_a_scaled_kernel_quantizer_that_keeps_its_scale_is_decoupled():
    # Scaled by the mean magnitude per output channel: the same over [W, W], up to the
    # rounding of the sums (the tolerance of the check), and the function stays.
    ternary = small_model(kernel_quantizer="magnitude_aware_sign", padding="same",
                          pad_values=1.0)
    images = np.random.default_rng(0).normal(size=(4, 6, 6, 4)).astype(np.float32)
    assert_same_function(ternary, keras_bnn.decouple(ternary), images)


def test_shared_ternary_layer_is_refused():
    conv = lq.layers.QuantConv2D(4, 3, padding="same", pad_values=1.0,
                                 input_quantizer="ternary_sign")
    a, b = tf.keras.Input((6, 6, 4)), tf.keras.Input((6, 6, 4))
    model = tf.keras.Model([a, b], tf.keras.layers.Add()([conv(a), conv(b)]))
    with pytest.raises(ValueError, match="is shared"):
        keras_bnn.decouple(model)


def test_subclassed_model_is_refused():
    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = lq.layers.QuantConv2D(4, 3, input_quantizer="ternary_sign")

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(tf.zeros((1, 6, 6, 4)))
    with pytest.raises(ValueError, match="subclassed model"):
        keras_bnn.decouple(net)

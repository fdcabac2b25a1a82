"""Networks no one here wrote, at small sizes: built the way larq-zoo builds them, and Keras
Applications, through binarize (every method), decouple, float_twin, the export (checked at
every binary conv) and save/reload. `benchmarks/models_written_elsewhere.py` runs larq-zoo's
own 14 models at 224x224."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import keras_bnn
from decoupling_checks import assert_same_function, perturb_batch_norms
from keras_bnn import export
import tf_keras as keras
# Keras's own builders of ResNet50 and EfficientNetB0, to build them with fewer blocks.
from tf_keras.src.applications import efficientnet, resnet

pytestmark = pytest.mark.slow


def binary_conv(filters, name, input_quantizer="ste_sign", **options):
    return lq.layers.QuantConv2D(filters, 3, padding="same", pad_values=1.0, use_bias=False,
                                 input_quantizer=input_quantizer, kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", name=name, **options)


def lambda_of(op, name):
    """A Lambda layer calling `op` from its closure, as larq-zoo's `tf.split` wrappers do
    (a closure does not survive the Lambda's config)."""
    return keras.layers.Lambda(lambda t: op(t), name=name)


def larq_zoo_style(input_quantizer="ste_sign", closure=True):
    """A binary network written as larq-zoo writes QuickNet, BiRealNet and BinaryDenseNet: a
    float stem of ZeroPadding2D + a stride-2 VALID conv, depthwise and grouped convs kept
    float, binary convs with TF-op shortcuts (`x + y`), a dense block's concatenation
    (`tf.concat`), a Lambda layer calling a function from its closure (or, with
    `closure=False`, not: a closure cannot be saved to a file and loaded)."""
    def batch_norm(x):
        return keras.layers.BatchNormalization(momentum=0.9)(x)

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.ZeroPadding2D(3)(inputs)
    x = batch_norm(keras.layers.Conv2D(32, 7, strides=2, use_bias=False, name="stem")(x))
    x = batch_norm(keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x))
    x = batch_norm(keras.layers.Conv2D(32, 3, padding="same", groups=4, name="grouped")(x))
    x = x + batch_norm(binary_conv(32, "binary_1", input_quantizer)(x))
    x = tf.concat([x, batch_norm(binary_conv(32, "binary_2", input_quantizer)(x))], axis=-1)
    x = keras.layers.MaxPool2D()(x)
    x = (lambda_of(lambda t: t * 0.5, "halve") if closure else
         keras.layers.Lambda(lambda t: t * 0.5, name="halve"))(x)
    x = batch_norm(binary_conv(64, "binary_3", input_quantizer, strides=2)(x))
    x = keras.layers.GlobalAveragePooling2D()(tf.nn.relu(x))
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x))


def assert_exports_exactly(model, images):
    """Every binary conv became an LceBconv2d, and LCE computes every tensor a binary conv
    reads or writes, and the outputs, as Keras does (to float rounding)."""
    result = export.convert(model, sample_inputs=images)
    assert result.binary_convs and not result.not_converted
    assert max(c.mean_rel_diff for c in result.conv_check.local) < 1e-4, result.report()
    assert result.mean_rel_diff < export.TOLERANCE
    return result


def assert_reloads(model, path, images):
    model.save(path)
    reloaded = keras.models.load_model(path, compile=False, safe_mode=False)  # its Lambda
    np.testing.assert_allclose(reloaded(images, training=False),
                               model(images, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("closure", [True, False])
def test_a_larq_zoo_style_network_exports_exactly_and_reloads(closure, cifar_images, tmp_path):
    model = larq_zoo_style(closure=closure)
    perturb_batch_norms(model, seed=0)
    result = assert_exports_exactly(model, cifar_images[:8])
    assert sorted(result.binary_convs) == ["binary_1", "binary_2", "binary_3"]
    if not closure:
        assert_reloads(model, tmp_path / "model.keras", cifar_images[:4])


@pytest.mark.parametrize("method", ["bnn", "recu", "binaryduo"])
def test_its_float_twin_binarizes_with_every_method_keeping_depthwise_and_grouped_convs_float(
        method, cifar_images):
    twin = keras_bnn.float_twin(larq_zoo_style())
    assert not export.binary_convs(twin)
    binary = keras_bnn.binarize(twin, method)
    if method == "binaryduo":
        binary = keras_bnn.decouple(binary)
    perturb_batch_norms(binary, seed=1)
    result = assert_exports_exactly(binary, cifar_images[:8])
    assert {"depthwise", "grouped", "stem", "head"}.isdisjoint(result.binary_convs)
    assert len(result.binary_convs) >= 3


def test_its_ternary_version_decouples_to_the_same_function_and_exports(cifar_images):
    ternary = larq_zoo_style(input_quantizer="ternary_sign")
    perturb_batch_norms(ternary, seed=2)
    with pytest.raises(export.ExportError, match="binary_1.input_quantizer|decouple"):
        export.convert(ternary)
    decoupled = keras_bnn.decouple(ternary)
    assert_same_function(ternary, decoupled, cifar_images[:8])
    assert_exports_exactly(decoupled, cifar_images[:8])


def resnet_blocks(**options):
    """ResNet50 as Keras writes it (its builder `resnet.ResNet` and bottleneck stacks) with
    two stages of 2 and 1 blocks instead of 3, 4, 6, 3: its ZeroPadding2D + stride-2 stem
    (which LCE's converter fuses wrongly; `keras_bnn.converter_fixes`), conv and identity
    shortcuts, stride 1 and 2, in a third of the time."""
    def stacks(x):
        return resnet.stack1(resnet.stack1(x, 64, 2, stride1=1, name="conv2"), 128, 1,
                             name="conv3")
    return resnet.ResNet(stacks, False, True, "resnet_blocks", weights=None, **options)


def efficientnet_blocks(**options):
    """EfficientNetB0 as Keras writes it (its builder `efficientnet.EfficientNet`) with its
    first three stages (1 + 2 + 2 blocks instead of 16): squeeze-and-excitation, swish,
    expansion 1 and 6, kernels 3 and 5, residual blocks with drop-connect."""
    return efficientnet.EfficientNet(1.0, 1.0, 224, model_name="efficientnet_blocks",
                                     blocks_args=efficientnet.DEFAULT_BLOCKS_ARGS[:3],
                                     weights=None, **options)


def mobilenet_blocks(input_shape, classes):
    """Keras's MobileNetV2 at width 0.35 up to its fourth inverted residual block (of 17),
    with a new head: depthwise convs, expansion 1 and 6, stride 1 and 2, a residual
    addition, ReLU6."""
    base = keras.applications.MobileNetV2(input_shape, alpha=0.35, include_top=False,
                                          weights=None)
    x = keras.layers.GlobalAveragePooling2D()(base.get_layer("block_3_project_BN").output)
    return keras.Model(base.input, keras.layers.Dense(classes, name="predictions")(x),
                       name="mobilenet_blocks")


APPLICATIONS = {
    "ResNet50 blocks": resnet_blocks,
    "MobileNetV2 blocks": mobilenet_blocks,
    "EfficientNetB0 blocks": efficientnet_blocks,
}


def binarized_application(application, method):
    base = APPLICATIONS[application](input_shape=(32, 32, 3), classes=10)
    binary = keras_bnn.binarize(base, method)
    if method == "binaryduo":
        binary = keras_bnn.decouple(binary)
    perturb_batch_norms(binary, seed=3)  # as training leaves them: few values exactly 0
    return binary


@pytest.mark.parametrize("application, method", [
    ("ResNet50 blocks", "bnn"), ("MobileNetV2 blocks", "recu"),
    ("EfficientNetB0 blocks", "binaryduo")])
def test_keras_applications_binarize_and_export_exactly(application, method, cifar_images):
    binary = binarized_application(application, method)
    result = assert_exports_exactly(binary, cifar_images[:4])
    if method != "binaryduo":  # decoupling renames the convs it doubles
        assert sorted(result.binary_convs) == sorted(binary.binarization_report.binarized)
    assert not export.binary_convs(keras_bnn.float_twin(binary))


def test_a_binarized_keras_application_saves_and_reloads(cifar_images, tmp_path):
    binary = binarized_application("MobileNetV2 blocks", "bnn")
    assert_reloads(binary, tmp_path / "binary.keras", cifar_images[:2])

"""int8 exports: which tensors get ranges, calibration, the fake-quant clone, and exports of
trained zoo models that keep their top-1 answers on real images (or are refused)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
from keras_bnn import data, export, int8
from keras_bnn.layers import DuplicateChannels, Scale

SAMPLE = 500  # test images for the agreement check: 1 image is 0.2 points


@pytest.fixture(scope="module")
def fashion(shared_datasets):
    """300 calibration (training) images, and SAMPLE test images with their labels."""
    dataset = data.load("fashion_mnist", shared_datasets / "fashion-mnist",
                        max_train_examples=1000, max_test_examples=SAMPLE)
    calibration, _ = next(iter(dataset.train_dataset(300, seed=0)))
    images, labels = next(iter(dataset.test_dataset(SAMPLE)))
    return calibration.numpy(), images.numpy(), labels.numpy()


def trained(name):
    return zoo.get_model(name, weights="fashion_mnist", **zoo.deployed_options(name))


def small_binary_net():
    """stem conv + BN -> binary conv + BN -> max-pool -> binary conv -> BN -> Add -> head."""
    inputs = tf.keras.Input((8, 8, 1), name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    binary = dict(padding="same", pad_values=1.0, use_bias=False, input_quantizer="ste_sign",
                  kernel_quantizer="ste_sign")
    y = lq.layers.QuantConv2D(8, 3, name="bconv1", **binary)(x)
    y = tf.keras.layers.BatchNormalization(name="bconv1_bn")(y)
    y = tf.keras.layers.MaxPooling2D(name="pool")(y)
    z = lq.layers.QuantConv2D(8, 3, name="bconv2", **binary)(y)
    z = tf.keras.layers.BatchNormalization(name="bconv2_bn")(z)
    z = tf.keras.layers.Add(name="add")([z, tf.keras.layers.MaxPooling2D(name="skip")(x)])
    z = tf.keras.layers.GlobalAveragePooling2D(name="gap")(z)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="classifier")(z))


def test_ranges_go_where_the_converted_program_has_op_boundaries():
    model = small_binary_net()
    names = [layer.name for layer in int8.quantized_outputs(model)]
    # stem fuses into stem_bn and each binary conv into its BatchNorm; pooling keeps its
    # input's scale; the input only on request.
    assert names == ["stem_bn", "bconv1_bn", "bconv2_bn", "add", "gap", "classifier"]
    assert [layer.name for layer in int8.quantized_outputs(model, quantize_input=True)][0] == \
        "image"


def test_calibrated_ranges_hold_every_value_seen_and_tensors_read_as_signs_get_the_sign_range():
    model = small_binary_net()
    images = np.random.default_rng(0).normal(size=(20, 8, 8, 1)).astype(np.float32)
    ranges = int8.calibrate(model, images, batch_size=8)
    assert ranges["bconv1_bn"] == int8.SIGN_RANGE  # read only by bconv2, through max-pooling
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in ("stem_bn", "add")])
    for name, values in zip(("stem_bn", "add"), probe(images, training=False)):
        low, high = ranges[name]  # stem_bn is also read by the skip: a value, not a sign
        assert low == pytest.approx(min(0.0, float(np.min(values))), rel=1e-6)
        assert high == pytest.approx(max(0.0, float(np.max(values))), rel=1e-6)
    with pytest.raises(ValueError, match="at least one calibration image"):
        int8.calibrate(model, images[:0])


def test_decoupled_binaryduo_tensors_on_the_way_to_a_sign_stay_float():
    model = zoo.get_model("binaryduo_vgg_small", width_multiplier=0.125, stage="decoupled")
    quantized = {layer.name for layer in int8.quantized_outputs(model)}
    kept_float = [layer.name for layer in model.layers
                  if isinstance(layer, (DuplicateChannels, Scale)) or layer.name == "conv1"]
    assert kept_float and not quantized & set(kept_float)
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    assert int8.calibrate(model, images)["conv2_bn"] == int8.SIGN_RANGE


def test_the_fake_quant_clone_shares_the_weights_and_rounds_to_its_ranges():
    model = small_binary_net()
    images = np.random.default_rng(1).normal(size=(16, 8, 8, 1)).astype(np.float32)
    ranges = int8.calibrate(model, images)
    clone = int8.with_fake_quant(model, ranges)
    assert {id(v) for v in clone.variables} == {id(v) for v in model.variables}
    probe = tf.keras.Model(clone.inputs, clone.get_layer("gap_int8").output)
    low, high = ranges["gap"]
    step = (high - low) / 255
    levels = probe(images, training=False).numpy() / step  # 0 is on the grid: multiples
    np.testing.assert_allclose(levels, np.round(levels), atol=2e-2)
    expected, got = model.predict(images, verbose=0), clone.predict(images, verbose=0)
    assert np.abs(got - expected).mean() < 0.1 * np.abs(expected).mean()
    with pytest.raises(ValueError, match="calibrate them on"):
        int8.with_fake_quant(model, {"stem_bn": (-1.0, 1.0)})


@pytest.mark.parametrize("name", ["bnn_vgg_small", "binaryduo_vgg_small", "recu_vgg_small"])
def test_int8_export_of_a_trained_zoo_model_keeps_its_top1_answers_on_real_images(
        name, fashion, tmp_path):
    calibration, images, labels = fashion
    model = trained(name)
    float_result = export.convert(model, sample_inputs=images[:16])
    result = export.convert(model, tmp_path / "int8.tflite", int8=True,
                            calibration_data=calibration, sample_inputs=images,
                            sample_labels=labels)
    assert result.int8 and result.converted_binary_convs == len(result.binary_convs) == 5
    assert result.agreement >= export.MIN_AGREEMENT
    assert abs(result.lce_accuracy - result.keras_accuracy) <= 0.01
    assert result.keras_accuracy > 0.75  # the trained weights, on real test images
    # The classifier and the stem's BatchNorm-fused conv write int8; the stem reads the
    # float image (quantize_input=False), and the BatchNorms after pooling stay float.
    assert "FULLY_CONNECTED" not in result.float_ops and result.float_ops["CONV_2D"] == 1
    assert result.size_bytes < 0.8 * float_result.size_bytes
    report = result.report()
    assert "int8; float ops:" in report and "top-1 agreement with Keras" in report
    assert f"Keras {100 * result.keras_accuracy:.2f} %" in report
    assert (tmp_path / "int8.tflite").read_bytes() == result.flatbuffer


def test_a_calibration_on_constant_images_is_caught_and_nothing_is_written(fashion, tmp_path):
    calibration, images, labels = fashion
    with pytest.raises(export.ExportError, match="agrees with the Keras model on the top-1"):
        export.convert(trained("bnn_vgg_small"), tmp_path / "bad.tflite", int8=True,
                       calibration_data=np.zeros_like(calibration[:8]), sample_inputs=images)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options, message", [
    ({}, "needs calibration_data"),
    ({"calibration_data": np.zeros((2, 28, 28, 1), np.float32)}, "pass sample_inputs"),
])
def test_int8_without_what_it_needs_is_refused(options, message):
    with pytest.raises(export.ExportError, match=message):
        export.convert(zoo.get_model("bnn_small"), int8=True, **options)


def test_int8_refuses_models_it_cannot_check_or_rewrite(fashion):
    calibration, images, _ = fashion
    model = trained("bnn_vgg_small")
    features = tf.keras.Model(model.inputs, model.get_layer("conv6_bn").output)  # maps
    with pytest.raises(export.ExportError, match="needs class scores"):
        export.convert(features, int8=True, calibration_data=calibration, sample_inputs=images)
    inner = zoo.get_model("bnn_small")
    outer = tf.keras.Sequential([tf.keras.Input((28, 28, 1)), inner])
    with pytest.raises(export.ExportError, match="without nested models"):
        export.convert(outer, int8=True, calibration_data=calibration, sample_inputs=images)


@pytest.mark.parametrize("name, options, float_ops", [
    ("recu_resnet20", {}, {"CONV_2D"}),  # the stem
    # Real-to-Binary's gate computes inside one layer, on the binary conv's raw sums (no
    # BatchNorm between them), and its BatchNorms stand alone.
    ("real_to_binary_resnet18", {"stage_filters": (8, 8, 16, 16)},
     {"CONV_2D", "LceBconv2d", "MEAN", "FULLY_CONNECTED", "LOGISTIC", "MUL", "ADD", "RESHAPE",
      "STRIDED_SLICE", "PRELU"}),
])
def test_zoo_resnets_export_in_int8_with_only_what_cannot_be_quantized_in_float(
        name, options, float_ops):
    model = zoo.get_model(name, input_shape=(32, 32, 3), **options)
    calibration = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32)
    result = export.convert(model, verify=False, int8=True, calibration_data=calibration)
    assert result.converted_binary_convs == len(result.binary_convs) > 0
    assert set(result.float_ops) <= float_ops
    assert result.float_ops["CONV_2D"] == 1

"""keras_bnn.export: every zoo model converts strictly and verifiably; refusals write nothing."""

import subprocess
import sys

import larq as lq
import pytest
import tensorflow as tf

import zoo
from keras_bnn import benchmark, export

# The ImageNet-style models at 64x64, so that the test stays quick.
SMALL_INPUT = {"alexnet": (64, 64, 3), "resnet18": (64, 64, 3), "resnet34": (64, 64, 3)}


def build_for_export(name):
    """The zoo model as deployed (BinaryDuo's decoupled, ImageNet ones at 64x64), with the
    BatchNorms of a trained model (`keras_bnn.benchmark.with_trained_batchnorms`)."""
    shape = SMALL_INPUT.get(name.rsplit("_", 1)[-1])
    model = zoo.get_model(name, input_shape=shape, **zoo.deployed_options(name))
    return benchmark.with_trained_batchnorms(model)


def images_for(model, cifar_images):
    height, width, channels = model.input_shape[1:]
    images = tf.image.resize(cifar_images[:4], (height, width)).numpy()
    return images if channels == 3 else images.mean(axis=-1, keepdims=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.list_models())
def test_every_zoo_model_exports_strictly_and_matches_on_real_images(name, cifar_images):
    model = build_for_export(name)
    result = export.convert(model, sample_inputs=images_for(model, cifar_images))
    assert result.binary_convs and not result.not_converted
    assert result.ops["LceBconv2d"] == result.converted_binary_convs == len(result.binary_convs)
    assert result.mean_rel_diff <= export.TOLERANCE
    print(f"{name}: mean relative difference {result.mean_rel_diff:.2g}")
    assert result.size_bytes == len(result.flatbuffer)


def test_a_ternary_model_is_refused_and_nothing_written(tmp_path):
    model = zoo.get_model("bnn_small", input_quantizer="ternary_sign")
    with pytest.raises(export.ExportError, match="keras_bnn.decouple"):
        export.convert(model, tmp_path / "model.tflite")
    assert not list(tmp_path.iterdir())


def test_a_conversion_that_computes_something_else_is_caught(tmp_path, monkeypatch, cifar_images):
    model = zoo.get_model("bnn_vgg7")
    wrong = tf.keras.models.clone_model(model)  # same layers, other weights
    real_convert = export.lce_flatbuffer
    monkeypatch.setattr(export.conversion, "lce_flatbuffer", lambda m: real_convert(wrong))
    with pytest.raises(export.ExportError, match="computes something else"):
        export.convert(model, tmp_path / "model.tflite", sample_inputs=cifar_images[:4])
    assert not list(tmp_path.iterdir())


def heaviside_kernel_model():
    inputs = tf.keras.Input((8, 8, 16))
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_heaviside",
                              name="zero_one_weights")(inputs)
    return tf.keras.Model(inputs, x)


def test_strict_refuses_a_binary_conv_that_stays_float_and_names_it():
    model = heaviside_kernel_model()  # 0/1 weights: not +-scale, so no LceBconv2d
    with pytest.raises(export.ExportError, match="did not become LceBconv2d: zero_one_weights"):
        export.convert(model)
    result = export.convert(model, strict=False)
    assert result.not_converted == ["zero_one_weights"] and result.converted_binary_convs == 0
    assert "not: zero_one_weights" in result.report()


def test_the_written_file_is_the_checked_flatbuffer_alone(tmp_path):
    model = zoo.get_model("bnn_small")
    result = export.convert(model, tmp_path / "out" / "model.tflite")
    assert result.path.read_bytes() == result.flatbuffer
    assert [p.name for p in result.path.parent.iterdir()] == ["model.tflite"]
    assert f"written: {result.path}" in result.report()


@pytest.mark.slow  # another process
def test_command_line_exports_a_saved_model_and_reports(tmp_path):
    model_path = tmp_path / "model.keras"
    zoo.get_model("bnn_small").save(model_path)
    command = [sys.executable, "-m", "keras_bnn.export", str(model_path),
               str(tmp_path / "m.tflite")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "binary convs: 2 of 2 became LceBconv2d" in result.stdout
    assert (tmp_path / "m.tflite").stat().st_size > 0

    missing = subprocess.run([*command[:3], str(tmp_path / "none.keras"), "x.tflite"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "error:" in missing.stderr

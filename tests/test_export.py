"""keras_bnn.export: every zoo model converts strictly and verifiably; refusals write nothing."""

import functools
import subprocess
import sys

import larq as lq
import pytest
import tensorflow as tf

import zoo
from keras_bnn import benchmark, export, lce, verification
from keras_bnn.export import __main__ as export_command

# The ImageNet-style models at 64x64, so that the test stays quick.
SMALL_INPUT = {"alexnet": (64, 64, 3), "resnet18": (64, 64, 3), "resnet34": (64, 64, 3)}


@functools.cache
def build_for_export(name):
    """The zoo model as deployed (BinaryDuo's decoupled, ImageNet ones at 64x64), with the
    BatchNorms of a trained model (`keras_bnn.benchmark.with_trained_batchnorms`); built
    once per test process (no test changes it)."""
    shape = SMALL_INPUT.get(name.rsplit("_", 1)[-1])
    model = zoo.get_model(name, input_shape=shape, **zoo.deployed_options(name))
    return benchmark.with_trained_batchnorms(model)


def images_for(model, cifar_images):
    height, width, channels = model.input_shape[1:]
    images = tf.image.resize(cifar_images[:4], (height, width)).numpy()
    return images if channels == 3 else images.mean(axis=-1, keepdims=True)


# A model made of the same kinds of layers, in the same blocks, as another one exported here
# (deeper, narrower or with fewer stages, as the sweep builds them): exporting it checks
# nothing the other's export does not (benchmarks/runtime_agreement.py runs every zoo model
# end to end), so the test checks that its layers are of the same kinds instead.
SAME_BLOCKS = {"recu_resnet34": "recu_resnet18", "recu_resnet18_cifar": "recu_resnet20",
               "bnn_resnet18": "bnn_resnet20"}


# One network of each kind of block, checked at every binary conv by the export itself.
LOCALLY_CHECKED = {"bnn_resnet20", "binaryduo_resnet18", "recu_resnet18", "bnn_alexnet",
                   "real_to_binary_resnet18", "recu_vgg_small"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(zoo.list_models()) - set(SAME_BLOCKS)))
def test_every_zoo_model_exports_strictly_and_matches_on_real_images(name, cifar_images):
    model = build_for_export(name)
    images = images_for(model, cifar_images)
    # The check at every binary conv converts a second program: run for one network of each
    # kind of block; the others' outputs are compared here.
    locally_checked = name in LOCALLY_CHECKED
    result = export.convert(model, sample_inputs=images, verify=locally_checked)
    assert result.binary_convs and not result.not_converted
    assert result.ops["LceBconv2d"] == result.converted_binary_convs == len(result.binary_convs)
    if locally_checked:
        assert result.conv_check.local and result.mean_rel_diff <= export.TOLERANCE
    else:
        (outputs,) = lce.run(result.flatbuffer, images)
        expected = model(images, training=False).numpy()
        assert verification.compare("output", expected, outputs).mean_rel_diff <= \
            export.TOLERANCE
    assert result.size_bytes == len(result.flatbuffer)


def test_the_sweeps_lists_name_zoo_models():
    assert LOCALLY_CHECKED | set(SAME_BLOCKS) | set(SAME_BLOCKS.values()) <= set(
        zoo.list_models())
    assert not set(SAME_BLOCKS) & set(SAME_BLOCKS.values())  # each one's twin is exported


@pytest.mark.parametrize("name, exported", sorted(SAME_BLOCKS.items()))
def test_a_model_left_out_has_the_layers_of_the_exported_one(name, exported):
    def kinds(model):
        options = ("kernel_size", "strides", "padding", "pad_values")
        return {(type(layer).__name__, *(str(getattr(layer, key, None)) for key in options),
                 type(getattr(layer, "input_quantizer", None)).__name__,
                 type(getattr(layer, "kernel_quantizer", None)).__name__)
                for layer in model.layers}

    assert kinds(build_for_export(name)) == kinds(build_for_export(exported))


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
def test_command_line_exports_a_saved_model_and_reports(tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    zoo.get_model("bnn_small").save(model_path)
    command = [sys.executable, "-m", "keras_bnn.export", str(model_path),
               str(tmp_path / "m.tflite")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "binary convs: 2 of 2 became LceBconv2d" in result.stdout
    assert (tmp_path / "m.tflite").stat().st_size > 0

    # A missing file, in this process (the command's own `main`).
    assert export_command.main([str(tmp_path / "none.keras"), str(tmp_path / "x.tflite")]) == 1
    assert capsys.readouterr().err.startswith("error:")
    assert not (tmp_path / "x.tflite").exists()

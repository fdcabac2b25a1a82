"""keras_bnn.verification: every tensor a binary conv reads or writes is checked one by one,
so that a wrong conversion is caught where it happens, even where the outputs hide it."""

import larq as lq
import numpy as np
import pytest

from keras_bnn import export, lce, verification
import tf_keras as keras

pytestmark = pytest.mark.unit


def binary_conv(filters, name, **options):
    return lq.layers.QuantConv2D(filters, 3, padding="same", use_bias=False, name=name,
                                 input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", **options)


def shifted_stem_model(size=16):
    """A float stem with the pair LCE's converter mis-fuses (ZeroPadding2D + stride-2 VALID
    conv, even size: the map moves by a pixel), two binary convs, and a head whose outputs
    hardly depend on its input, as in a barely trained network: large biases, small weights.
    Converted as it is, its outputs agree within the check's tolerance."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = binary_conv(32, "bconv_1")(x)
    x = keras.layers.BatchNormalization()(x)
    x = binary_conv(32, "bconv_2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(10, name="head", bias_initializer=keras.initializers.Constant(5),
                              kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    return keras.Model(inputs, head(x))


def smooth_images(size=16, batch=4):
    """Natural-image-like inputs: smooth, so that a one-pixel shift changes little."""
    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(batch, size // 4, size // 4, 3)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)


@pytest.fixture(scope="module")
def shifted():
    model = shifted_stem_model()
    return model, smooth_images(), {"bconv_1", "bconv_2"}


def test_the_outputs_alone_pass_the_known_converter_fault(shifted):
    model, x, _ = shifted
    expected, got = model.predict(x, verbose=0), export.lce_interpreter(
        export.lce_flatbuffer(model)).predict(x)
    assert verification.compare("output 0", expected, got).mean_rel_diff <= export.TOLERANCE


def test_the_check_at_the_binary_convs_catches_it_and_names_the_tensor(shifted):
    model, x, convs = shifted
    with pytest.raises(verification.VerificationError, match="computes bconv_1 input"):
        verification.check_binary_convs(model, x, convs)


def test_convert_refuses_it_if_the_pair_reached_the_converter(shifted, monkeypatch, tmp_path):
    model, x, _ = shifted
    # No rewrite: the pair reaches the converter.
    monkeypatch.setattr(export.conversion, "exact_strided_padding", lambda model: model)
    with pytest.raises(export.ExportError, match="bconv_1 input.*Nothing was written"):
        export.convert(model, tmp_path / "model.tflite", sample_inputs=x)
    assert not list(tmp_path.iterdir())


def test_convert_checks_every_binary_conv_and_reports_it(shifted):
    model, x, convs = shifted
    result = export.convert(model, sample_inputs=x)  # the pair rewritten: exact
    names = [comparison.name for comparison in result.conv_check.local]
    assert names == ["bconv_1 input", "bconv_1 output", "bconv_2 input", "bconv_2 output",
                     "output 0"]
    assert max(c.mean_rel_diff for c in result.conv_check.local) < 1e-5
    assert result.conv_check.first_difference() is None
    assert "checked one by one: 5 tensors" in result.report()


def test_values_exactly_at_zero_pass_the_local_check():
    # Many values exactly 0 where a binary conv binarizes them (integer sums of a binary
    # conv through a fresh, identity BatchNorm, plus integer inputs), where LCE's float
    # rounding may decide the other sign: each conv is still exact given its input.
    inputs = keras.Input((8, 8, 32))
    a = binary_conv(32, "bconv_a")(inputs)
    x = keras.layers.Add()([keras.layers.BatchNormalization()(a), inputs])
    x = binary_conv(32, "bconv_b")(x)
    model = keras.Model(inputs, x)
    x = np.random.default_rng(1).integers(-3, 4, size=(4, 8, 8, 32)).astype(np.float32)
    check = verification.check_binary_convs(model, x, {"bconv_a", "bconv_b"})
    assert max(c.mean_rel_diff for c in check.local) < 1e-5
    assert [c.name for c in check.local] == ["bconv_a output", "bconv_b input",
                                             "bconv_b output", "output 0"]


def test_the_cut_model_computes_each_tensor_from_the_values_given_before_it(shifted):
    model, x, convs = shifted
    twin, names = verification.probe_twin(model, convs)
    values = verification.keras_outputs(twin, [x])
    cuts = values[1:]
    cut = verification.cut_model(model, convs, [value.shape[1:] for value in cuts])
    for local, value in zip(verification.keras_outputs(cut, [x, *cuts]), values):
        np.testing.assert_allclose(local, value, rtol=1e-5, atol=1e-5)
    changed = list(cuts)
    given = np.abs(cuts[names.index("bconv_2 input")]) + 1  # what bconv_2 reads, only that
    changed[names.index("bconv_2 input")] = given
    local = verification.keras_outputs(cut, [x, *changed])
    np.testing.assert_array_equal(local[1 + names.index("bconv_2 output")],
                                  model.get_layer("bconv_2")(given))
    np.testing.assert_array_equal(local[1 + names.index("bconv_1 output")],
                                  values[1 + names.index("bconv_1 output")])


def test_keras_outputs_runs_in_batches_and_keeps_every_sample_in_order(shifted):
    model, x, convs = shifted
    twin, _ = verification.probe_twin(model, convs)
    inputs = np.concatenate([x, x[::-1], x[:1]])  # 9 samples: batches of 4, 4 and 1
    batched = verification.keras_outputs(twin, [inputs], batch_size=4)
    whole = [np.asarray(value) for value in twin(inputs, training=False)]
    assert [value.shape for value in batched] == [value.shape for value in whole]
    for got, want in zip(batched, whole):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_shared_tensors_are_cut_once_and_sequential_models_work():
    model = keras.Sequential([keras.Input((8, 8, 3)), binary_conv(8, "first"),
                              binary_conv(8, "second")])
    _, names = verification.probe_twin(model, {"first", "second"})
    assert names == ["first output", "second output"]  # first reads the model input
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    check = verification.check_binary_convs(model, x, {"first", "second"})
    assert max(c.mean_rel_diff for c in check.local) < 1e-5


def tiny_zero_padded_model():
    inputs = keras.Input((2, 2, 256))
    x = keras.layers.BatchNormalization()(inputs)
    x = binary_conv(64, "zero_padded", pad_values=0.0)(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    return model, np.random.default_rng(0).normal(size=(4, 2, 2, 256)).astype(np.float32)


def test_a_zero_padded_binary_conv_on_a_tiny_map_is_refused_naming_it_by_lce(tmp_path):
    # LCE's optimized kernels compute a binary conv with pad_values=0 wrongly on a map
    # smaller than its filter (found in larq-zoo's MeliusNet22 at 64x64: a 2x2 map): the
    # check run by LCE's interpreter names the conv.
    model, x = tiny_zero_padded_model()
    with pytest.raises(export.ExportError, match="zero_padded output.*zero-pads"):
        export.convert(model, tmp_path / "model.tflite", sample_inputs=x, kernel="xnnpack")
    assert not list(tmp_path.iterdir())


def test_the_runtime_computes_it_exactly_and_the_export_warns_for_lce(tmp_path):
    # The program is right: keras_bnn's runtime (the default check) and LCE's reference
    # compute it exactly; the export warns that LCE's optimized kernels do not.
    model, x = tiny_zero_padded_model()
    with pytest.warns(UserWarning, match="LCE's own optimized kernels.*compute zero_padded "
                                         "wrongly"):
        result = export.convert(model, tmp_path / "model.tflite", sample_inputs=x)
    assert result.mean_rel_diff < 1e-5
    np.testing.assert_array_equal(lce.run(result.flatbuffer, x, "reference")[0],
                                  lce.run(result.flatbuffer, x)[0])

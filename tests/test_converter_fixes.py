"""LCE's converter mis-fuses ZeroPadding2D + a stride-2 VALID conv on even sizes; the export
rewrites the pair so that the program computes exactly what the Keras model does."""

import larq as lq
import numpy as np
import pytest

from keras_bnn import export
import tf_keras as keras
from keras_bnn.converter_fixes import exact_strided_padding

pytestmark = pytest.mark.unit


def padded_strided(size, kernel, binary=False, channels=3):
    inputs = keras.Input((size, size, channels))
    x = keras.layers.ZeroPadding2D((kernel - 1) // 2)(inputs)
    if binary:
        x = lq.layers.QuantConv2D(8, kernel, strides=2, use_bias=False, name="conv",
                                  input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                  kernel_constraint="weight_clip")(x)
    else:
        x = keras.layers.Conv2D(8, kernel, strides=2, name="conv")(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, x)


def images(size, channels=3, batch=4):
    return np.random.default_rng(0).normal(size=(batch, size, size, channels)).astype(np.float32)


def relative_error(model, flatbuffer, x):
    expected = model.predict(x, verbose=0)
    got = export.lce_interpreter(flatbuffer).predict(x)
    return np.abs(got - expected).mean() / np.abs(expected).mean()


@pytest.mark.parametrize("kernel", [3, 7])
def test_the_converter_fault_is_real_and_past_the_checks_tolerance(kernel):
    # Converted as it is, the pair computes a map shifted by a pixel: export.convert's
    # check (mean relative difference <= TOLERANCE) would refuse it, and does not need to.
    model = padded_strided(8, kernel)
    assert relative_error(model, export.lce_flatbuffer(model), images(8)) > 5 * export.TOLERANCE


@pytest.mark.parametrize("size,kernel,binary", [(8, 3, False), (8, 7, False), (16, 3, True),
                                                (12, 3, True)])
def test_export_rewrites_the_pair_and_is_exact(size, kernel, binary):
    model = padded_strided(size, kernel, binary, channels=3 if not binary else 32)
    x = images(size, channels=model.input_shape[-1])
    result = export.convert(model, sample_inputs=x)
    assert result.ops["PAD"] == 1 and result.ops["STRIDED_SLICE"] == 1
    assert result.mean_rel_diff < 1e-5
    assert result.converted_binary_convs == int(binary)


def test_odd_sizes_and_other_pads_are_left_alone():
    odd = padded_strided(9, 3)
    assert exact_strided_padding(odd) is odd
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(inputs)  # what SAME pads: no fusion fault
    other = keras.Model(inputs, keras.layers.Conv2D(4, 3, strides=2)(x))
    assert exact_strided_padding(other) is other


def test_the_rewritten_model_computes_the_same_with_the_same_weights():
    model = padded_strided(8, 3)
    exact = exact_strided_padding(model)
    assert isinstance(exact.get_layer("conv_exact_crop"), keras.layers.Cropping2D)
    assert exact.get_layer("conv").get_weights()[0].tolist() == \
        model.get_layer("conv").get_weights()[0].tolist()
    np.testing.assert_allclose(exact.predict(images(8), verbose=0),
                               model.predict(images(8), verbose=0), rtol=1e-6, atol=1e-6)

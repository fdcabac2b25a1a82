"""keras_bnn.runtime.programs: single-op LCE programs, whose NumPy reference outputs equal
LCE's reference interpreter's bit for bit."""

import dataclasses
import itertools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn.runtime.programs import (bconv2d_program, bmaxpool_program,
                                        dequantize_program, lce_reference_outputs,
                                        numpy_reference_outputs, quantize_program,
                                        random_programs, unpack_bits, with_constant)

pytestmark = pytest.mark.unit

OUTPUTS = ["float32", "int8", "bitpacked"]
ACTIVATIONS = ["none", "relu", "relu_n1_to_1", "relu6"]
SMALL_CONV = dict(batch=2, height=6, width=5, channels_in=45, channels_out=37,
                  kernel_size=(3, 2), strides=(1, 2))


def assert_bit_exact(program):
    """LCE's reference outputs and the NumPy ones: same dtypes, shapes and bytes."""
    expected, actual = lce_reference_outputs(program), numpy_reference_outputs(program)
    assert len(expected) == len(actual) == 1, program.name
    for lce, ours in zip(expected, actual):
        assert (lce.dtype, lce.shape) == (ours.dtype, ours.shape), program.name
        differ = np.frombuffer(lce.tobytes(), np.uint8) != np.frombuffer(ours.tobytes(), np.uint8)
        assert not differ.any(), f"{program.name}: {differ.sum()} of {lce.nbytes} bytes differ"


def op_constants(program):
    """The constant inputs of the program's op, read with TFLite's own flatbuffer
    utilities (None for the data input and absent inputs)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(program.flatbuffer))
    subgraph = model.subgraphs[0]
    constants = []
    for index in subgraph.operators[0].inputs:
        data = None if index < 0 else model.buffers[subgraph.tensors[index].buffer].data
        constants.append(None if data is None else np.asarray(data, np.uint8).tobytes())
    return constants


# The sweep


@pytest.mark.parametrize("program", random_programs(40, seed=2024), ids=lambda p: p.name)
def test_random_program_matches_lce(program):
    assert_bit_exact(program)


def test_random_programs_cover_every_op_and_option():
    programs = random_programs(300, seed=7)
    seen = {(p.options["op"], key, str(value))
            for p in programs for key, value in p.options.items()}
    convs = [p.options for p in programs if p.options["op"] == "bconv2d"]
    for key, values in [("output", OUTPUTS), ("activation", ACTIVATIONS),
                        ("padding", ["same", "valid"]), ("pad_value", ["0", "1"])]:
        assert {("bconv2d", key, value) for value in values} <= seen, key
    assert {("quantize", "input_type", t) for t in ["float32", "int8", "bool"]} <= seen
    assert {("dequantize", "output_type", t) for t in ["float32", "int8", "bool"]} <= seen
    assert any(p.options["op"] == "bmaxpool" for p in programs)
    assert {len(p.options["shape"]) for p in programs if "shape" in p.options} == {1, 2, 3, 4}
    assert any(c["groups"] > 1 for c in convs) and any(c["batch"] > 1 for c in convs)
    assert any(c["channels_in"] % 64 == 0 for c in convs)
    assert any(c["channels_in"] % 2 == 1 for c in convs)
    assert any(c["strides"] != (1, 1) and c["dilations"] != (1, 1) for c in convs)
    assert any(c["kernel_size"][0] != c["kernel_size"][1] for c in convs)
    assert any(max(c["height"], c["width"]) > 16 for c in convs)


def test_random_programs_are_reproducible_prefixes():
    assert [p.flatbuffer for p in random_programs(4, seed=3)] == \
        [p.flatbuffer for p in random_programs(8, seed=3)[:4]]
    assert random_programs(4, seed=3)[0].name != random_programs(4, seed=4)[0].name


def test_only_the_full_sweep_holds_what_lce_refuses():
    def odd_zero_padding(p):
        o = p.options
        return o["op"] == "bconv2d" and o["padding"] == "same" and o["pad_value"] == 0 \
            and (o["channels_in"] // o["groups"]) % 2 == 1

    assert not any(map(odd_zero_padding, random_programs(200, seed=5)))
    assert any(map(odd_zero_padding, random_programs(200, seed=5, lce_reference_only=False)))


# Binary convs


@pytest.mark.parametrize("output, activation", itertools.product(OUTPUTS, ACTIVATIONS))
def test_every_output_type_and_activation(output, activation):
    assert_bit_exact(bconv2d_program(**SMALL_CONV, output=output, activation=activation,
                                     seed=1))


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("channels_in", [2, 46, 64])
def test_zero_padding(output, channels_in):
    assert_bit_exact(bconv2d_program(
        batch=2, height=7, width=6, channels_in=channels_in, channels_out=33,
        kernel_size=(5, 3), strides=(2, 1), dilations=(1, 2), pad_value=0,
        activation="relu", output=output, seed=2))


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("groups, channels_in, channels_out", [(2, 64, 6), (3, 288, 9),
                                                               (8, 256, 64)])
def test_grouped(output, groups, channels_in, channels_out):
    assert_bit_exact(bconv2d_program(
        batch=1, height=5, width=5, channels_in=channels_in, channels_out=channels_out,
        groups=groups, padding="same", pad_value=0, output=output, seed=3))


@pytest.mark.parametrize("output", OUTPUTS)
def test_whole_batch_at_once(output):
    program = bconv2d_program(batch=8, height=4, width=3, channels_in=100, channels_out=65,
                              kernel_size=(1, 3), padding="valid", output=output, seed=4)
    assert_bit_exact(program)
    expected, = lce_reference_outputs(program)
    assert expected.shape[0] == 8 and not np.array_equal(expected[0], expected[1])


@pytest.mark.parametrize("size, kernel, dilation", [(5, 5, 1), (7, 3, 3), (1, 1, 3)])
def test_valid_kernel_that_just_fits(size, kernel, dilation):
    assert_bit_exact(bconv2d_program(
        batch=1, height=size, width=size + 1, channels_in=32, channels_out=3,
        kernel_size=(kernel, 1), dilations=(dilation, 2), padding="valid", seed=5))


def test_kernel_larger_than_the_input():
    assert_bit_exact(bconv2d_program(batch=3, height=2, width=1, channels_in=7,
                                     channels_out=4, kernel_size=(5, 4), strides=(3, 3),
                                     output="int8", seed=6))


def test_one_filter_bit_changes_lce_output():
    program = bconv2d_program(batch=1, height=4, width=4, channels_in=40, channels_out=8,
                              seed=7)
    multiplier = np.frombuffer(op_constants(program)[2], "<f4")
    words = np.frombuffer(op_constants(program)[1], "<i4").reshape(8, -1).copy()
    words[np.argmax(np.abs(multiplier)), 0] ^= 1  # bit 0 of the first word of a channel
    flipped = with_constant(program, 1, words)
    before, = lce_reference_outputs(program)
    after, = lce_reference_outputs(flipped)
    assert not np.array_equal(before, after)
    assert not np.array_equal(numpy_reference_outputs(program)[0], after)
    assert_bit_exact(flipped)  # the NumPy model reads the filter from the flatbuffer


@pytest.mark.parametrize("output", ["float32", "int8"])
def test_infinite_huge_and_nan_transforms(output):
    """int8 saturates infinities and values beyond int32 and writes 0 for NaN."""
    program = bconv2d_program(batch=1, height=3, width=3, channels_in=5, channels_out=10,
                              output=output, seed=17)
    multiplier = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30, 0, 0, 0, 0, 0], np.float32)
    bias = np.array([0, 0, 0, 0, 0, np.nan, np.inf, -np.inf, 3e9, -3e9], np.float32)
    assert_bit_exact(with_constant(with_constant(program, 2, multiplier), 3, bias))


def test_bitpacked_output_leaves_out_multiplier_and_bias():
    float_program = bconv2d_program(**SMALL_CONV, output="float32")
    bitpacked = bconv2d_program(**SMALL_CONV, output="bitpacked")
    zero_padded = bconv2d_program(**SMALL_CONV, output="bitpacked", pad_value=0)
    assert [c is None for c in op_constants(float_program)] == [True, False, False, False, True]
    assert [c is None for c in op_constants(bitpacked)] == [True, False, True, True, False]
    # LCE reads the multiplier for its zero-padding correction even then: keep it
    assert [c is None for c in op_constants(zero_padded)] == [True, False, False, False, False]


def test_lce_refuses_zero_padding_with_odd_channels():
    program = bconv2d_program(batch=1, height=4, width=4, channels_in=3, channels_out=5,
                              pad_value=0)
    with pytest.raises(RuntimeError):
        lce_reference_outputs(program)


@pytest.mark.parametrize("channels_in, strides, dilations", [(3, (1, 1), (1, 2)),
                                                              (37, (1, 1), (2, 1)),
                                                              (5, (2, 2), (1, 1))])
def test_odd_zero_padding_is_a_true_zero_padded_conv(channels_in, strides, dilations):
    """Where LCE refuses, the NumPy model agrees with a float conv of ±1 values with zero
    padding: exactly in its bits, closely in its float output."""
    options = dict(batch=2, height=6, width=7, channels_in=channels_in, channels_out=9,
                   kernel_size=(3, 4), strides=strides, dilations=dilations, pad_value=0,
                   seed=8)
    bitpacked = bconv2d_program(**options, output="bitpacked")
    signs = 1 - 2 * unpack_bits(bitpacked.inputs[0], channels_in).astype(np.float32)
    filter_bits = np.frombuffer(op_constants(bitpacked)[1], "<i4").reshape(9, 3, 4, -1)
    filters = 1 - 2 * unpack_bits(filter_bits, channels_in).astype(np.float32)
    true = tf.nn.convolution(signs, np.transpose(filters, (1, 2, 3, 0)), strides=strides,
                             dilations=dilations, padding="SAME").numpy().astype(np.int64)
    depth = 3 * 4 * channels_in
    thresholds = np.frombuffer(op_constants(bitpacked)[4], "<i4").astype(np.int64)
    expected_bits = depth - true > 2 * thresholds  # x = depth - true = 2 accum
    assert np.array_equal(unpack_bits(numpy_reference_outputs(bitpacked)[0], 9), expected_bits)

    float_program = bconv2d_program(**options, output="float32")
    multiplier, bias = (np.frombuffer(c, "<f4") for c in op_constants(float_program)[2:4])
    expected = true * multiplier.astype(np.float64) + bias
    # LCE's float32 `x * mul' + bias'`, with bias' about depth * mul, cancels digits
    tolerance = 1e-5 * depth * np.abs(multiplier).max()
    np.testing.assert_allclose(numpy_reference_outputs(float_program)[0], expected,
                               rtol=0, atol=tolerance)


def test_builders_refuse_what_lce_cannot_express():
    with pytest.raises(ValueError):
        bconv2d_program(batch=1, height=4, width=4, channels_in=48, channels_out=4, groups=2)
    with pytest.raises(ValueError):
        bconv2d_program(batch=1, height=4, width=9, channels_in=8, channels_out=4,
                        kernel_size=(3, 3), dilations=(2, 1), padding="valid")
    with pytest.raises(ValueError):
        bmaxpool_program(batch=1, height=2, width=5, channels=8, pool_size=(3, 1),
                         strides=(1, 1), padding="valid")


# Quantize, dequantize, max pool


def test_quantize_float_edge_values():
    """LCE packs `x < 0` with denormals read as zero (its x86 kernels run with the CPU's
    denormals-are-zero mode): -0.0 and negative denormals give bit 0."""
    edges = np.array([0.0, -0.0, 1e-45, -1e-45, -1e-39, 1.1754944e-38, -1.1754944e-38,
                      np.inf, -np.inf, 3.4e38, -3.4e38, -1.0, 2.0], np.float32)
    program = quantize_program(shape=(3, 45), seed=9)
    values = program.inputs[0].copy()
    values[1, :13] = edges
    program = dataclasses.replace(program, inputs=[values])
    assert_bit_exact(program)
    bits, = lce_reference_outputs(program)
    assert list(unpack_bits(bits[1], 13)) == [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0]


def test_quantize_float_inputs_hold_the_edge_values():
    values = quantize_program(shape=(4, 5), seed=10).inputs[0].ravel()
    assert np.isposinf(values).any() and np.isneginf(values).any()
    zeros = values == 0
    assert (zeros & ~np.signbit(values)).any() and (zeros & np.signbit(values)).any()
    tiny = (values != 0) & (np.abs(values) <= np.finfo(np.float32).tiny)
    assert (tiny & (values > 0)).any() and (tiny & (values < 0)).any()
    assert not np.isnan(values).any()


@pytest.mark.parametrize("shape", [(1,), (31,), (2, 33), (2, 3, 64), (2, 1, 3, 97)])
@pytest.mark.parametrize("input_type, zero_point", [("float32", 0), ("int8", 0),
                                                    ("int8", -128), ("int8", 127),
                                                    ("int8", 37), ("bool", 0)])
def test_quantize(shape, input_type, zero_point):
    assert_bit_exact(quantize_program(shape=shape, input_type=input_type,
                                      zero_point=zero_point, seed=11))


@pytest.mark.parametrize("scale", [1e-4, 1 / 127.5, 0.4, 2 / 3, 2.0, 2.5, 1e3, 4.6e-10])
@pytest.mark.parametrize("zero_point", [-128, -5, 0, 127])
def test_dequantize_int8_extreme_scales(scale, zero_point):
    """int8: zero_point ± round(1 / scale), saturated; 4.6e-10 overflows int32, which
    LCE's x86 build turns into INT32_MIN."""
    assert_bit_exact(dequantize_program(shape=(3, 40), output_type="int8", scale=scale,
                                        zero_point=zero_point, seed=12))


def test_dequantize_int8_rounds_half_away_from_zero():
    program = dequantize_program(shape=(64,), output_type="int8", scale=2.0, seed=13)
    values, = lce_reference_outputs(program)
    assert set(values.tolist()) == {1, -1}  # 1 / 2 = 0.5 rounds to 1
    assert_bit_exact(program)


@pytest.mark.parametrize("shape", [(1,), (2, 32), (3, 2, 65), (2, 2, 2, 300)])
@pytest.mark.parametrize("output_type", ["float32", "bool"])
def test_dequantize(shape, output_type):
    assert_bit_exact(dequantize_program(shape=shape, output_type=output_type, seed=14))


@pytest.mark.parametrize("pool_size, strides, padding", [((2, 2), (2, 2), "valid"),
                                                         ((3, 2), (1, 3), "same"),
                                                         ((4, 4), (3, 2), "same"),
                                                         ((1, 3), (2, 1), "valid")])
def test_bmaxpool(pool_size, strides, padding):
    assert_bit_exact(bmaxpool_program(batch=3, height=5, width=7, channels=70,
                                      pool_size=pool_size, strides=strides, padding=padding,
                                      seed=15))


def test_program_names_describe_every_option_in_one_line():
    program = bconv2d_program(**SMALL_CONV, dilations=(2, 1), padding="valid",
                              activation="relu6", output="int8", seed=16)
    assert program.name == "bconv2d b2 6x5x45>37 k3x2 s1x2 d2x1 valid/pad1 relu6 int8 g1 #16"
    for program in random_programs(50, seed=17):
        assert "\n" not in program.name and len(program.name) < 100

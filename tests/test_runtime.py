"""keras_bnn.runtime: LCE's ops with keras_bnn's x86 kernels, bit for bit as LCE's
reference computes them, with every kernel set this CPU runs; refusals that name the op
and option; resizing; no memory kept; the build and its failures."""

import dataclasses
import gc
import subprocess
import warnings

import numpy as np
import pytest
from flatbuffers import flexbuffers
from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn import lce, runtime
import tf_keras as keras
import larq as lq
from keras_bnn.runtime import build
from keras_bnn.runtime.programs import (bconv2d_program, lce_reference_outputs,
                                        numpy_reference_outputs, quantize_program,
                                        random_programs, with_constant)
from keras_bnn.runtime.sweep import identical, run_program, run_sweep

pytestmark = pytest.mark.unit

KERNEL_SETS = runtime.available_kernels()[1:]  # what this CPU runs, best first


def test_this_ci_machine_runs_the_avx2_kernels_at_least():
    # The suite must exercise a vector kernel set, not only the portable one.
    assert "avx2" in KERNEL_SETS and "portable" in KERNEL_SETS


@pytest.mark.parametrize("kernel", KERNEL_SETS)
def test_random_programs_are_bit_exact_with_lce_reference(kernel):
    result = run_sweep(random_programs(40, seed=7), kernels=[kernel])
    assert result.compared == {f"{kernel}, 1 thread": 40, f"{kernel}, 2 threads": 40}
    assert set(result.by_op) == {"bconv2d", "quantize", "dequantize", "bmaxpool"}
    assert not result.mismatches and not result.leaks


@pytest.mark.parametrize("kernel", KERNEL_SETS)
@pytest.mark.parametrize("output", ["float32", "int8", "bitpacked"])
def test_every_output_type_with_every_activation_and_padding(kernel, output):
    for activation, pad_value, padding in [("none", 0, "same"), ("relu", 1, "same"),
                                           ("relu6", 0, "valid"), ("relu_n1_to_1", 0, "same")]:
        program = bconv2d_program(batch=3, height=7, width=6, channels_in=70, channels_out=45,
                                  kernel_size=(3, 3), strides=(2, 1), dilations=(1, 2),
                                  padding=padding, pad_value=pad_value, activation=activation,
                                  output=output, seed=3)
        assert identical(lce_reference_outputs(program), run_program(program, kernel)), \
            program.name


@pytest.mark.parametrize("kernel", KERNEL_SETS)
def test_grouped_and_wide_convs(kernel):
    for groups, channels_in, channels_out in [(2, 64, 40), (4, 128, 36), (3, 96, 99)]:
        program = bconv2d_program(batch=2, height=5, width=5, channels_in=channels_in,
                                  channels_out=channels_out, groups=groups, seed=1)
        assert identical(lce_reference_outputs(program), run_program(program, kernel))
    # more output channels than one tile, and a 1x1 conv read straight from its input
    for kernel_size in [(3, 3), (1, 1)]:
        program = bconv2d_program(batch=1, height=9, width=9, channels_in=256,
                                  channels_out=300, kernel_size=kernel_size, seed=2)
        assert identical(lce_reference_outputs(program), run_program(program, kernel))


@pytest.mark.parametrize("channels_in", [1, 33, 95])
def test_zero_padding_with_odd_channels_is_exact_where_lce_reference_refuses_it(channels_in):
    # LCE's reference refuses SAME zero padding with an odd number of input channels; the
    # runtime computes the true zero-padded conv, as the NumPy model does.
    program = bconv2d_program(batch=2, height=5, width=4, channels_in=channels_in,
                              channels_out=20, padding="same", pad_value=0, seed=4)
    with pytest.raises(RuntimeError):
        lce_reference_outputs(program)
    assert identical(numpy_reference_outputs(program), run_program(program))


@pytest.mark.parametrize("kernel", KERNEL_SETS)
def test_int8_output_saturates_infinities_and_huge_values_and_writes_0_for_nan(kernel):
    program = bconv2d_program(batch=2, height=3, width=3, channels_in=70, channels_out=40,
                              output="int8", seed=17)
    multiplier = np.resize(np.array([np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-3, 0, 0],
                                    np.float32), 40)
    bias = np.resize(np.array([0, 0, 0, 0, 0, np.nan, np.inf, 3e9], np.float32), 40)
    program = with_constant(with_constant(program, 2, multiplier), 3, bias)
    expected = lce_reference_outputs(program)
    assert {-128, 0, 127} <= set(np.unique(expected[0]).tolist())
    assert identical(expected, run_program(program, kernel))


def test_negative_denormals_binarize_to_plus_one_as_in_lce():
    # LCE runs its ops with denormals flushed to zero: -1e-40 is +1 there.
    program = quantize_program(shape=(2, 64), seed=5)
    values = program.inputs[0].copy()
    values[0, :4] = [-1e-40, 1e-40, -1e-39, -0.0]
    program = dataclasses.replace(program, inputs=[values])
    expected = lce_reference_outputs(program)
    assert expected[0][0, 0] & 0b1111 == 0
    assert identical(expected, run_program(program))


def zoo_like_model():
    """Quantize, bconv with packed output, bconv with float output, bconv with zero
    padding: LCE's ops in one program, with partition-internal tensors."""
    inputs = keras.Input((10, 10, 40))
    x = inputs
    for filters, pad_values in [(70, 1.0), (64, 1.0), (33, 0.0)]:
        x = lq.layers.QuantConv2D(filters, 3, padding="same", pad_values=pad_values,
                                  input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                  kernel_constraint="weight_clip", use_bias=False)(x)
        x = keras.layers.BatchNormalization(beta_initializer="random_normal",
                                            gamma_initializer="random_uniform")(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def zoo_like():
    model = zoo_like_model()
    images = np.random.default_rng(0).normal(size=(8, 10, 10, 40)).astype(np.float32)
    return lce.lce_flatbuffer(model), images


def test_a_converted_model_runs_as_lce_reference_runs_it(zoo_like):
    flatbuffer, images = zoo_like
    interpreter = runtime.Interpreter(flatbuffer, num_threads=2)
    assert interpreter.kernel == KERNEL_SETS[0]
    assert interpreter.input_shapes == [(1, 10, 10, 40)]
    assert interpreter.output_types == [np.float32]
    expected = lce.lce_interpreter(flatbuffer, "reference").predict(images)
    np.testing.assert_array_equal(interpreter.predict(images), expected)


def test_resizing_to_a_batch_gives_the_same_outputs_and_keeps_no_memory(zoo_like):
    flatbuffer, images = zoo_like
    gc.collect()
    assert runtime.live_allocations() == 0
    single = runtime.Interpreter(flatbuffer).predict(images)
    batched = runtime.Interpreter(flatbuffer, batch_size=8)
    assert batched.input_shapes == [(8, 10, 10, 40)]
    np.testing.assert_array_equal(batched.predict(images), single)
    with pytest.raises(ValueError, match="whole batches of 8"):
        batched.predict(images[:5])
    del batched
    for batch in [1, 3, 1, 8]:  # created, resized and destroyed again and again
        runtime.Interpreter(flatbuffer, batch_size=batch).predict(images[:batch])
    gc.collect()
    assert runtime.live_allocations() == 0


def with_options(flatbuffer, op_name, **changes):
    """The program with the options of its `op_name` ops changed (or the op renamed)."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    for code in model.operatorCodes:
        if code.customCode == op_name.encode() and "name" in changes:
            code.customCode = changes.pop("name").encode()
    for op in model.subgraphs[0].operators:
        if model.operatorCodes[op.opcodeIndex].customCode == op_name.encode() and changes:
            options = flexbuffers.Loads(bytes(op.customOptions))
            if set(changes) <= set(options):
                op.customOptions = list(flexbuffers.Dumps({**options, **changes}))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@pytest.mark.parametrize("changes, message", [
    ({"pad_values": 2}, r"LceBconv2d \(node \d+, output '.*'\): option pad_values=2 is not"),
    ({"fused_activation_function": 4}, "LceBconv2d .*option fused_activation_function=4"),
    ({"stride_height": 0}, "LceBconv2d .*option stride_height=0"),
    ({"name": "LceBconv3d"}, r"node \d+ is LceBconv3d .*an op this runtime does not run"),
])
def test_an_op_or_option_it_does_not_run_is_refused_by_name(zoo_like, changes, message):
    flatbuffer = with_options(zoo_like[0], "LceBconv2d", **changes)
    with pytest.raises(runtime.UnsupportedProgram, match=message):
        runtime.Interpreter(flatbuffer)


def test_the_default_interpreter_falls_back_to_lce_with_a_warning(zoo_like, monkeypatch):
    flatbuffer, images = zoo_like
    unsupported = with_options(flatbuffer, "LceBconv2d", fused_activation_function=4)
    with pytest.warns(UserWarning, match="fused_activation_function=4.*LCE's interpreter"):
        lce.lce_interpreter(unsupported)
    monkeypatch.setattr(runtime.Interpreter, "__init__", unavailable)
    with pytest.warns(UserWarning, match="no C compiler"):
        interpreter = lce.lce_interpreter(flatbuffer)
    np.testing.assert_array_equal(interpreter.predict(images[:2]),
                                  lce.lce_interpreter(flatbuffer, "xnnpack").predict(images[:2]))
    with pytest.raises(runtime.RuntimeUnavailable):  # named on purpose: no fallback
        lce.lce_interpreter(flatbuffer, "runtime")
    assert lce.default_kernel() == "runtime"
    monkeypatch.setattr(runtime, "available_kernels", unavailable)
    assert lce.default_kernel() == "xnnpack"  # what the benchmark times by default there


def unavailable(*args, **kwargs):
    raise runtime.RuntimeUnavailable("no C compiler was found")


def test_unknown_kernels_and_threads_are_refused(zoo_like):
    with pytest.raises(ValueError, match="Unknown kernel 'fast'.*auto, avx512, avx2"):
        runtime.Interpreter(zoo_like[0], kernel="fast")
    with pytest.raises(ValueError, match="num_threads must be a positive integer"):
        runtime.Interpreter(zoo_like[0], num_threads=0)


def test_an_untested_tensorflow_is_refused():
    runtime.check_tensorflow("2.21.3")
    with pytest.raises(runtime.RuntimeUnavailable, match="checked against TensorFlow 2.21.*"
                                                         "not against 2.22.0"):
        runtime.check_tensorflow("2.22.0")


def test_without_a_compiler_the_build_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(runtime.RuntimeUnavailable, match="no C compiler was found.*apt-get "
                                                         "install gcc.*xnnpack"):
        build.library_path()


def test_a_failed_build_leaves_no_library_and_reports_the_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BNN_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "FLAGS", (*build.FLAGS, "-DKERAS_BNN_NO_SUCH_HEADER",
                                         "-include", "no_such_header.h"))
    with pytest.raises(runtime.RuntimeUnavailable, match="no_such_header.h"):
        build.library_path()
    assert not list((tmp_path / "runtime").iterdir())


def test_the_native_code_compiles_without_a_warning(tmp_path):
    sources = [str(path) for path in build.sources() if path.suffix == ".c"]
    result = subprocess.run(["gcc", *build.FLAGS, "-Werror", "-Wshadow", *sources, "-o",
                             str(tmp_path / "library.so"), "-lm"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_export_checks_with_the_runtime_by_default(zoo_like, monkeypatch):
    from keras_bnn import export
    used = []
    original = runtime.Interpreter.__init__
    monkeypatch.setattr(runtime.Interpreter, "__init__",
                        lambda self, *args, **kwargs: (used.append(kwargs.get("kernel")),
                                                       original(self, *args, **kwargs))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to LCE
        result = export.convert(zoo_like_model(), sample_inputs=zoo_like[1])
    assert used and set(used) == {"auto"}
    assert result.conv_check.largest_local().mean_rel_diff < 1e-5

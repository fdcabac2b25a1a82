"""keras_bnn.benchmark: interleaved timing, kernel choices, ratios against the float twin."""

import subprocess
import sys

import numpy as np
import pytest

import zoo
from keras_bnn import benchmark, export

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_model():
    return zoo.get_model("bnn_small")


@pytest.fixture(scope="module")
def small_flatbuffer(small_model):
    return export.convert(small_model).flatbuffer


def test_every_kernel_choice_computes_the_same_outputs(small_flatbuffer, cifar_images):
    images = cifar_images[:4, 2:30, 2:30, :1]
    outputs = {kernel: export.lce_interpreter(small_flatbuffer, kernel).predict(images)
               for kernel in export.KERNELS}
    for kernel, output in outputs.items():
        np.testing.assert_allclose(output, outputs["default"], rtol=1e-4, atol=1e-4,
                                   err_msg=kernel)


def test_an_unknown_kernel_is_refused(small_flatbuffer):
    with pytest.raises(ValueError, match="Unknown kernel 'fast'.*indirect_bgemm"):
        export.lce_interpreter(small_flatbuffer, "fast")


def test_candidates_are_timed_interleaved_after_warmup(small_flatbuffer, monkeypatch):
    calls = []

    class RecordingInterpreter:
        def __init__(self, kernel):
            self.kernel = kernel
            self.input_shapes, self.input_types = [(1, 28, 28, 1)], [np.float32]

        def predict(self, inputs):
            calls.append(self.kernel)

    monkeypatch.setattr(benchmark, "lce_interpreter",
                        lambda flatbuffer, kernel, threads: RecordingInterpreter(kernel))
    timings = benchmark.time_flatbuffers(
        [("binary", small_flatbuffer, "default"), ("binary", small_flatbuffer, "reference")],
        runs=3, warmup=2)
    assert calls == ["default", "reference"] * 5
    assert [len(t.seconds) for t in timings] == [3, 3]
    assert timings[0].size_bytes == len(small_flatbuffer)


@pytest.mark.parametrize("options", [{"runs": 0}, {"warmup": -1}])
def test_bad_run_counts_are_refused(small_flatbuffer, options):
    with pytest.raises(ValueError, match="runs >= 1 and warmup >= 0"):
        benchmark.time_flatbuffers([("binary", small_flatbuffer, "default")], **options)


def test_report_compares_the_fastest_binary_with_the_fastest_float():
    timings = [benchmark.Timing("binary", "default", 1_000_000, [0.030, 0.031, 0.100]),
               benchmark.Timing("binary", "indirect_bgemm", 1_000_000, [0.010, 0.011, 0.012]),
               benchmark.Timing("float twin", "default", 20_000_000, [0.050, 0.051, 0.049]),
               benchmark.Timing("float twin", "xnnpack", 20_000_000, [0.033, 0.030, 0.040])]
    text = benchmark.report(timings)
    assert "binary (indirect_bgemm) vs float twin (xnnpack): 3.00x faster, 20.0x smaller" in text
    assert "31.00" in text  # the median, not the mean, of the default kernel's runs


def test_compare_with_float_times_the_binary_model_and_its_twin(small_model, small_flatbuffer):
    timings = benchmark.compare_with_float(small_model, small_flatbuffer,
                                           kernels=["indirect_bgemm"], runs=2, warmup=1)
    assert [(t.label, t.kernel) for t in timings] == [
        ("binary", "indirect_bgemm"), ("float twin", "default"), ("float twin", "xnnpack")]
    binary, twin = timings[0], timings[1]
    assert twin.size_bytes > 10 * binary.size_bytes  # float32 weights against 1-bit ones
    assert all(t.median_ms > 0 for t in timings)


def test_command_line_times_every_kernel_and_the_float_twin(small_model, tmp_path, capsys):
    small_model.save(tmp_path / "model.keras")
    run = [sys.executable, "-m", "keras_bnn.benchmark", "--runs=2", "--warmup=0"]
    result = subprocess.run([*run, str(tmp_path / "model.keras"), "--kernel=all",
                             "--compare-float"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for kernel in export.KERNELS:
        assert f"binary       {kernel}" in result.stdout
    assert "vs float twin" in result.stdout

    export.convert(small_model, tmp_path / "model.tflite")
    # The refusal, in this process (the command's own `main`).
    assert benchmark.main([str(tmp_path / "model.tflite"), "--compare-float"]) == 1
    assert "pass the .keras or .h5 file" in capsys.readouterr().err

"""`convert`: a Keras model through Larq Compute Engine's converter, checked before it is
written.

The checks, in order: no ternary quantizers (LCE cannot run them); every binary conv became
an `LceBconv2d` (`strict`); the program computes what the Keras model computes (`verify`),
at every tensor a binary conv reads or writes (`keras_bnn.verification`) and at the outputs
(float exports), or in its top-1 answers (int8 exports, `keras_bnn.int8`).

```python
result = convert(model, "model.tflite", sample_inputs=test_images[:16])
```
"""

import collections
import os
import pathlib
import warnings

import numpy as np

from keras_bnn import int8 as int8_lib
from keras_bnn._keras import keras, lq
from keras_bnn.converter_fixes import exact_strided_padding
from keras_bnn.converter_process import ConverterCrash
from keras_bnn.decoupling import has_ternary_activations
from keras_bnn.export.flatbuffer import float_ops, operators
from keras_bnn.export.lce_bconv import (binary_convs, lce_kernel_faults, not_converted,
                                        zero_padded)
from keras_bnn.export.result import NO_BINARY_CONVS, ExportError, ExportResult
from keras_bnn.files import check_writable_folder, write_bytes_atomically
from keras_bnn.graphs import all_layers, as_functional, has_graph
from keras_bnn.keras3 import to_tf_keras
from keras_bnn.lce import lce_flatbuffer, run
from keras_bnn.quantizers import TernarySign
from keras_bnn.verification import (ConvCheck, VerificationError, check_binary_convs,
                                    compare, keras_outputs)

__all__ = ["MIN_AGREEMENT", "TOLERANCE", "convert"]

# Largest accepted mean|LCE - Keras| / mean|Keras| over the sample inputs. Not the maximum:
# an activation within float rounding of zero may binarize to the other sign in LCE (its
# full-precision layers round differently), which moves a few outputs of a deep network
# by a lot, and in an untrained deep network the flip cascades through later layers
# (up to 7 % for a random-weight ResNet-20 on random 64x64 inputs); a wrong conversion
# (other weights, a quantizer read as another) moves every output, by 50 % and more.
TOLERANCE = 0.1

# Smallest accepted top-1 agreement of an int8 export with the Keras model. Not 100 %: int8
# logits are rounded to steps of 1/255 of their calibrated range, which decides near-ties
# of the two best classes the other way (the nine shipped VGG-small weights, 1,000 test
# images each: 98.2-100 % agreement, accuracy within 0.3 points; `python
# benchmarks/int8_agreement.py`), while a bad calibration, on constant images, gives
# 80-97 % for the Fashion-MNIST ones.
MIN_AGREEMENT = 0.97

# Quantizers with three levels, which Larq Compute Engine cannot run.
_TERNARY_QUANTIZERS = (TernarySign, lq.quantizers.SteTern)


def convert(model: keras.Model, path: str | os.PathLike | None = None, *, verify: bool = True,
            sample_inputs: np.ndarray | None = None, sample_labels: np.ndarray | None = None,
            strict: bool = True, tolerance: float = TOLERANCE, int8: bool = False,
            calibration_data: np.ndarray | None = None, quantize_input: bool = False,
            min_agreement: float = MIN_AGREEMENT, kernel: str | None = None) -> ExportResult:
    """Converts a Keras model with Larq Compute Engine, checks it, and writes it.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn import data
    from keras_bnn.export import convert

    model = zoo.get_model("bnn_small", width=16)
    images = np.random.default_rng(0).normal(size=(16, 28, 28, 1)).astype("float32")
    result = convert(model, "model.tflite", sample_inputs=images)
    print(result.report())  # binary convs: 2 of 2 became LceBconv2d, ..., written: model.tflite

    # int8: a trained model, calibrated on training images, checked on test images
    model = zoo.get_model("bnn_vgg_small", weights="mnist")
    mnist = data.load("mnist", max_train_examples=200, max_test_examples=200)
    train_images, _ = next(iter(mnist.train_dataset(200, augment=False)))
    test_images, test_labels = next(iter(mnist.test_dataset(200)))
    result = convert(model, "model_int8.tflite", int8=True, calibration_data=train_images,
                     sample_inputs=test_images, sample_labels=test_labels)
    result.agreement  # 1.0: the share of top-1 answers int8 LCE and Keras agree on
    ```

    # Arguments
        model: A `tf_keras.Model` (binary convs as larq `QuantConv2D` or `ReCUConv2D`), or
            a Keras 3 model (converted by `keras_bnn.keras3.to_tf_keras`).
        path: Where to write the `.tflite` file (atomically: a failed export leaves no file);
            None to write nothing.
        verify: Run the program (`kernel`) on `sample_inputs` and refuse one that
            computes something else than the Keras model (inference mode). For a float
            export: a tensor that a binary conv reads or writes, computed by Keras from
            LCE's values before it, differing by more than
            `keras_bnn.verification.LOCAL_TOLERANCE`; or outputs with mean|LCE - Keras| /
            mean|Keras| above `tolerance`. For an int8 one, a top-1 agreement below
            `min_agreement`.
        sample_inputs: Inputs for the check, a NumPy batch (real images are best); None for
            4 random normal images of the model's input shape (float exports only: int8
            agreement needs real images, a few hundred).
        sample_labels: Their labels, to report both top-1 accuracies.
        strict: Refuse when a binary conv did not become an `LceBconv2d`.
        tolerance: See `verify` (default `TOLERANCE`, 0.1; see there why not a maximum).
        int8: Run the layers that stay full precision in int8 (`keras_bnn.int8`): weights
            per output channel, activations in ranges calibrated on `calibration_data`,
            binary convs reading and writing int8. The model must be functional (or
            Sequential) with one input and no nested models.
        calibration_data: Real inputs for the int8 ranges, e.g. 500 training images.
        quantize_input: With `int8`, quantize the model input too, so that the first conv
            runs in int8 (see `keras_bnn.int8.calibrate` for why it is off by default).
        min_agreement: See `verify` (default `MIN_AGREEMENT`, 0.97; see there why not 1).
        kernel: What runs the program for `verify`, one of `keras_bnn.lce.KERNELS`; None
            for keras_bnn's runtime (`keras_bnn.runtime`), or LCE's interpreter where the
            runtime cannot run it. Both compute LCE's binary ops bit for bit.

    # Returns
        An `ExportResult`.

    # Raises
        ExportError: for a `path` that is a folder or cannot be written, checked before the
            conversion; for a model with ternary quantizers (activations or weights,
            ours or larq's `ste_tern`); when LCE's converter crashes (in its own process,
            so this one survives); under `strict`, for binary
            convs that stayed float ops; under `verify`, for outputs that differ; for
            `int8` without calibration data (or with sample inputs missing), or for a model
            int8 export cannot take.
        ValueError: for a Keras 3 model that has no tf_keras twin (see `to_tf_keras`).
    """
    model = to_tf_keras(model)
    _check_output_path(path)
    _refuse_ternary(model)
    exact = exact_strided_padding(model)  # away from a pattern LCE converts wrongly
    converted = _int8_model(exact, calibration_data, quantize_input, verify and
                            sample_inputs is None) if int8 else exact
    try:
        flatbuffer = lce_flatbuffer(converted)
    except (ConverterCrash, ValueError) as error:  # a crash, or the converter's refusal
        raise ExportError(f"Converting {model.name!r}: {error} Nothing was written; the "
                          "model itself is unchanged.") from None
    ops = list(operators(flatbuffer))
    convs = binary_convs(model)
    if not convs:
        warnings.warn(f"export.convert({model.name!r}): {NO_BINARY_CONVS}.", stacklevel=2)
    result = ExportResult(flatbuffer=flatbuffer,
                          ops=collections.Counter(op.name for op in ops),
                          binary_convs=[layer.name for layer in convs],
                          not_converted=not_converted(convs, ops),
                          size_bytes=len(flatbuffer), int8=int8,
                          float_ops=float_ops(flatbuffer))
    if strict and result.not_converted:
        raise ExportError(
            f"{len(result.not_converted)} binary conv(s) of {model.name!r} did not become "
            f"LceBconv2d: {', '.join(result.not_converted)}. LCE needs a sign-like input "
            "binarizer and +-scale kernels; pass strict=False to export them as float convs."
        )
    if verify:
        inputs = _sample_inputs(model, sample_inputs)
        if not int8:
            result.conv_check = _check_binary_convs(converted, inputs, result.binary_convs,
                                                    kernel)
        _compare(model, result, inputs, sample_labels, kernel)
        if not int8 and not result.mean_rel_diff <= tolerance:
            raise ExportError(_outputs_differ(model, result, tolerance))
        if int8 and not result.agreement >= min_agreement:
            raise ExportError(
                f"The int8 {model.name!r} agrees with the Keras model on the top-1 class of "
                f"only {100 * result.agreement:.1f} % of the sample inputs (min_agreement "
                f"{100 * min_agreement:g} %). Calibrate on real, varied images like the "
                "ones it will see, or export without int8. Nothing was written."
            )
    faults = lce_kernel_faults(model)
    if faults:
        warnings.warn(
            f"export.convert({model.name!r}): LCE's own optimized kernels (on ARM, and its "
            f"x86 indirect BGEMM) compute {', '.join(faults)} wrongly: SAME zero padding "
            "(pad_values=0) on a map smaller than the dilated filter. The program itself is "
            "right (keras_bnn's runtime and LCE's reference kernel compute it exactly); to "
            "deploy it with LCE, train those convs with pad_values=1.0.", stacklevel=2)
    if path is not None:
        result.path = write_bytes_atomically(path, flatbuffer)
    return result


def _check_output_path(path: str | os.PathLike | None) -> None:
    """Refuses, before any conversion, a `path` that cannot be written."""
    if path is None:
        return
    if pathlib.Path(path).is_dir():
        raise ExportError(f"path={str(path)!r} is a folder; give the path of the .tflite "
                          "file to write.")
    try:
        check_writable_folder(pathlib.Path(path).parent)
    except OSError as error:
        raise ExportError(f"Cannot write {path}: {error}. Choose another path.") from None


def _refuse_ternary(model: keras.Model) -> None:
    """Refuses a model with ternary activations or kernels, which LCE cannot run."""
    if has_ternary_activations(model):
        raise ExportError(
            f"Model {model.name!r} has ternary activations (TernarySign), which Larq Compute "
            "Engine cannot run and silently mis-converts; export "
            "keras_bnn.decouple(model) instead, which computes the same function with "
            "binary activations."
        )
    ternary = [f"{layer.name}.{role}" for layer in all_layers(model)
               for role in ("input_quantizer", "kernel_quantizer")
               if isinstance(getattr(layer, role, None), _TERNARY_QUANTIZERS)]
    if ternary:
        raise ExportError(
            f"Model {model.name!r} has ternary quantizers ({', '.join(ternary)}), which Larq "
            "Compute Engine cannot run: it runs 1-bit quantizers (ste_sign, approx_sign, "
            "...). Train with those, or with ternary_sign activations and decouple()."
        )


def _int8_model(model: keras.Model, calibration_data: np.ndarray | None, quantize_input: bool,
                random_samples: bool) -> keras.Model:
    """`model` with fake-quant ops at calibrated ranges, for an int8 conversion."""
    if calibration_data is None or not len(calibration_data):
        raise ExportError("int8=True needs calibration_data: real inputs (a few hundred "
                          "training images) to measure the ranges of the int8 tensors.")
    if random_samples:
        raise ExportError("An int8 export is checked by its top-1 agreement with the Keras "
                          "model: pass sample_inputs, real images (a few hundred).")
    try:
        model = as_functional(model, "int8 export")
        ranges = int8_lib.calibrate(model, calibration_data, quantize_input=quantize_input)
    except ValueError as error:
        raise ExportError(str(error)) from None
    return int8_lib.with_fake_quant(model, ranges)


def _sample_inputs(model: keras.Model, sample_inputs: np.ndarray | None) -> np.ndarray:
    """The inputs of the check: `sample_inputs`, or 4 random normal images."""
    if sample_inputs is not None:
        return np.asarray(sample_inputs, dtype=np.float32)
    shape = model.input_shape[1:]
    if any(size is None for size in shape):
        raise ExportError(f"Model {model.name!r} has an input shape with unknown sizes "
                          f"{shape}: pass sample_inputs to check the conversion.")
    return np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)


def _check_binary_convs(model: keras.Model, inputs: np.ndarray, convs: list[str],
                        kernel: str | None) -> ConvCheck | None:
    """The `ConvCheck` of a functional or Sequential model (None for a subclassed one,
    which has no graph to cut, and without binary convs: their outputs are checked);
    `ExportError` for a tensor that LCE computes wrongly, or a crash of its converter."""
    if not has_graph(model) or not convs:
        return None
    try:
        return check_binary_convs(model, inputs, set(convs), kernel=kernel)
    except VerificationError as error:
        layer = error.comparison.name.split(" ")[0]
        hint = (f" {layer} zero-pads (pad_values=0), which LCE computes wrongly on some "
                "shapes (larq-zoo's MeliusNet22 at 64x64: a 2x2 map); binary convs "
                "trained with pad_values=1.0 do not have this." if layer in zero_padded(model)
                else "")
        raise ExportError(f"{error}{hint} Nothing was written.") from None
    except ConverterCrash as error:
        raise ExportError(f"Converting {model.name!r} with its binary convs' tensors as "
                          f"outputs, for the check: {error} Nothing was written; pass "
                          "verify=False to skip the check.") from None


def _outputs_differ(model: keras.Model, result: ExportResult, tolerance: float) -> str:
    """Why `convert` refuses a model whose outputs differ by more than `tolerance`."""
    message = (f"The converted {model.name!r} computes something else than the Keras model: "
               f"mean relative difference {result.mean_rel_diff:.3g} > tolerance "
               f"{tolerance:g} (max abs difference {result.max_abs_diff:.3g}).")
    first = result.conv_check and result.conv_check.first_difference()
    if first:
        message += (
            f" Each binary conv computes what Keras computes from the same values (checked "
            f"one by one), but values within float rounding of 0 binarize to the other sign "
            f"in LCE, first at {first.name} ({first.mean_rel_diff:.3g}), and the differences "
            "grow from layer to layer, as they do in a barely trained network (many values "
            "exactly 0). Export a trained model, or pass verify=False to write this one."
        )
    elif result.conv_check:
        padded_with_zeros = zero_padded(model)
        message += (
            " Checked one by one, in a program with those tensors as outputs, every binary "
            "conv and the outputs agree with Keras: the difference comes from the written "
            "program, where the converter fuses ops across those tensors (a BatchNorm into a "
            "binary conv's output transform, for one) and so rounds differently; values "
            "within rounding of 0, common in a barely trained network, then binarize to the "
            "other sign and the change grows from layer to layer. Export a trained model, or "
            "pass verify=False to write this one."
            + (f" LCE's optimized kernels also round the zero padding of "
               f"{', '.join(padded_with_zeros[:8])} differently (their correction is float): "
               "train with pad_values=1.0." if padded_with_zeros else "")
        )
    return message + " Nothing was written."


def _compare(model: keras.Model, result: ExportResult, inputs: np.ndarray,
             labels: np.ndarray | None, kernel: str | None) -> None:
    """Fills in how the flatbuffer's outputs on `inputs` compare with the Keras model's."""
    expected = keras_outputs(model, [inputs])
    outputs = run(result.flatbuffer, inputs, kernel)
    worst = max((compare(f"output {index}", want, got)
                 for index, (want, got) in enumerate(zip(expected, outputs))),
                key=lambda comparison: comparison.mean_rel_diff)
    result.max_abs_diff, result.max_rel_diff = worst.max_abs_diff, worst.max_rel_diff
    result.mean_rel_diff = worst.mean_rel_diff
    expected, converted = expected[0], outputs[0]
    if len(outputs) > 1 or expected.ndim != 2 or expected.shape[-1] < 2:
        if result.int8:
            raise ExportError(f"An int8 export is checked by its top-1 agreement, which needs "
                              f"class scores as the one output; {model.name!r} outputs "
                              f"shapes {[value.shape[1:] for value in outputs]}.")
        return
    result.agreement = float(np.mean(converted.argmax(-1) == expected.argmax(-1)))
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        result.keras_accuracy = float(np.mean(expected.argmax(-1) == labels))
        result.lce_accuracy = float(np.mean(converted.argmax(-1) == labels))

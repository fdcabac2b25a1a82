"""Deployment through Larq Compute Engine: convert, check, and write a `.tflite` file.

`convert` turns a Keras model into an LCE flatbuffer and checks it before anything is
written: every binary conv must have become an `LceBconv2d` (`strict`), and the LCE
interpreter must compute what the Keras model computes (`verify`): at every tensor a binary
conv reads or writes, one by one (`keras_bnn.verification`), and at the outputs. LCE cannot
run ternary activations and silently converts `sign(sign(x + t) + sign(x - t))` into
`sign(x + t)`, so a model with `TernarySign` activations is refused: decouple it first.

With `int8=True` the layers that stay full precision run in int8 instead of float32, with
ranges calibrated on `calibration_data` (`keras_bnn.int8`); the check is then the top-1
agreement with the Keras model on `sample_inputs`, at least `min_agreement`.

```python
result = keras_bnn.export.convert(model, "model.tflite", sample_inputs=test_images[:16])
result = keras_bnn.export.convert(model, "model_int8.tflite", int8=True,
                                  calibration_data=train_images[:500],
                                  sample_inputs=test_images, sample_labels=test_labels)
print(result.report())  # ..., top-1 agreement with Keras, both accuracies
```

From the command line (random inputs of the model's shape for the check):

    python -m keras_bnn.export runs/x/model.keras runs/x/model.tflite
"""

import argparse
import collections
import dataclasses
import math
import pathlib
import sys
import warnings

import numpy as np
from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn import int8 as int8_lib
from keras_bnn._keras import all_layers, keras, lq, tf
from keras_bnn.converter_fixes import exact_strided_padding
from keras_bnn.converter_process import ConverterCrash
from keras_bnn.decoupling import has_ternary_activations
from keras_bnn.files import check_writable_folder, write_bytes_atomically
from keras_bnn.graphs import as_functional, has_graph, is_binary_layer
from keras_bnn.keras3 import to_tf_keras
from keras_bnn.lce import (DEFAULT_KERNEL, FALLBACK_KERNEL, KERNELS, inference_function,
                           lce_flatbuffer, lce_interpreter, run)
from keras_bnn.quantizers import TernarySign
from keras_bnn.verification import (ConvCheck, VerificationError, check_binary_convs,
                                    compare)

__all__ = ["DEFAULT_KERNEL", "ExportError", "ExportResult", "KERNELS", "MIN_AGREEMENT",
           "TOLERANCE", "binary_convs", "convert", "float_ops", "inference_function",
           "lce_flatbuffer", "lce_interpreter", "op_histogram"]

# Largest accepted mean|LCE - Keras| / mean|Keras| over the sample inputs. Not the maximum:
# an activation within float rounding of zero may binarize to the other sign in LCE (its
# full-precision layers round differently), which moves a few outputs of a deep network
# by a lot, and in an untrained deep network the flip cascades through later layers
# (measured: up to 7 % for a random-weight ResNet-20 on random 64x64 inputs); a wrong
# conversion (other weights, a quantizer read as another) moves every output, by 50 %
# and more.
TOLERANCE = 0.1

# Smallest accepted top-1 agreement of an int8 export with the Keras model. Not 100 %: int8
# logits are rounded to steps of 1/255 of their calibrated range, which decides near-ties
# of the two best classes the other way (the nine shipped VGG-small weights, 1,000 test
# images each: 98.2-100 % agreement, accuracy within 0.3 points; `python
# benchmarks/int8_agreement.py`), while a bad calibration, on constant images, gives
# 80-97 % for the Fashion-MNIST ones.
MIN_AGREEMENT = 0.97

# What the report says, and `convert` warns, when a model has nothing for LCE to binarize.
_NO_BINARY_CONVS = ("the model has no binary conv: this is a float program; binarize it "
                   "first, e.g. keras_bnn.binarize(model)")

# Quantizers with three levels, which Larq Compute Engine cannot run.
_TERNARY_QUANTIZERS = (TernarySign, lq.quantizers.SteTern)

_BUILTIN_NAMES = {code: name for name, code in vars(tflite_schema.BuiltinOperator).items()
                  if not name.startswith("_")}


class ExportError(ValueError):
    """A model that cannot be exported as asked: the message says why and what to do."""


@dataclasses.dataclass
class ExportResult:
    """What `convert` made, and how it compares with the Keras model.

    # Attributes
        flatbuffer: The TFLite model (bytes).
        ops: `op_histogram` of it.
        binary_convs: Names of the Keras model's binary convs (1-bit inputs and weights).
        not_converted: Those of them that did not become an `LceBconv2d`.
        size_bytes: Size of the flatbuffer.
        max_abs_diff, max_rel_diff: Of the LCE outputs against the Keras ones on the
            sample inputs (relative to max|Keras output|; the largest over the outputs);
            None when not verified.
        mean_rel_diff: mean|LCE - Keras| / mean|Keras|, what `verify` checks (float; the
            largest over the outputs).
        conv_check: The `keras_bnn.verification.ConvCheck` of a float export of a
            functional or Sequential model: every tensor a binary conv reads or writes,
            checked one by one. None when not verified, for int8 and subclassed models,
            and for a model without binary convs (its outputs are all there is to check).
        int8: Whether the full-precision layers were quantized to int8.
        float_ops: `float_ops` of the flatbuffer: the ops that compute in float32.
        agreement: The share of sample inputs whose top-1 class LCE and Keras agree on
            (for a model with class scores as outputs), what `verify` checks for int8.
        keras_accuracy, lce_accuracy: Top-1 accuracies on the samples, with labels given.
        path: Where the file was written, or None.
    """

    flatbuffer: bytes
    ops: collections.Counter
    binary_convs: list
    not_converted: list
    size_bytes: int
    int8: bool = False
    float_ops: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    mean_rel_diff: float | None = None
    agreement: float | None = None
    keras_accuracy: float | None = None
    lce_accuracy: float | None = None
    conv_check: ConvCheck | None = None
    path: pathlib.Path | None = None

    @property
    def converted_binary_convs(self):
        """How many binary convs became `LceBconv2d`."""
        return len(self.binary_convs) - len(self.not_converted)

    def report(self):
        """A few human-readable lines: binary convs, ops, size, verification, file."""
        lines = [f"binary convs: {self.converted_binary_convs} of {len(self.binary_convs)} "
                 "became LceBconv2d"
                 + (f" (not: {', '.join(self.not_converted)})" if self.not_converted else "")
                 + ("" if self.binary_convs else f" ({_NO_BINARY_CONVS})"),
                 "ops: " + _counts(self.ops),
                 f"size: {self.size_bytes / 1e6:.3f} MB"]
        if self.int8:
            lines.append("int8; float ops: " + (_counts(self.float_ops) or "none"))
        if self.max_abs_diff is not None:
            lines.append(f"LCE vs Keras: max abs diff {self.max_abs_diff:.3g} (relative "
                         f"{self.max_rel_diff:.3g}), mean relative diff "
                         f"{self.mean_rel_diff:.3g}")
        if self.conv_check is not None and self.conv_check.local:
            lines.append(f"checked one by one: {len(self.conv_check.local)} tensors at binary "
                         f"convs and outputs, largest local difference: "
                         f"{self.conv_check.largest_local()}")
        if self.agreement is not None:
            lines.append(f"top-1 agreement with Keras: {100 * self.agreement:.2f} %")
        if self.keras_accuracy is not None:
            lines.append(f"top-1 accuracy: Keras {100 * self.keras_accuracy:.2f} %, LCE "
                         f"{100 * self.lce_accuracy:.2f} %")
        if self.path is not None:
            lines.append(f"written: {self.path}")
        return "\n".join(lines)


def _counts(counter):
    return ", ".join(f"{name} {count}" for name, count in counter.most_common())


def op_histogram(flatbuffer):
    """Counts the operators of a TFLite flatbuffer by name.

    ```python
    op_histogram(lce_flatbuffer(model))
    # Counter({'LceBconv2d': 5, 'LceQuantize': 5, 'CONV_2D': 1, ...})
    ```

    # Arguments
        flatbuffer: The model's bytes (as `lce_flatbuffer` returns).

    # Returns
        A `collections.Counter`: custom ops under their name (`"LceBconv2d"`), builtin ops
        under their TFLite name (`"CONV_2D"`).
    """
    return collections.Counter(op.name for op in _operators(flatbuffer))


def float_ops(flatbuffer):
    """Counts the operators of a TFLite flatbuffer that compute in float32 (by name).

    Those with a float32 output, but for `DEQUANTIZE`, which only converts an int8 result.

    # Returns
        A `collections.Counter`, as `op_histogram`.
    """
    return collections.Counter(op.name for op in _operators(flatbuffer)
                               if op.float_output and op.name != "DEQUANTIZE")


@dataclasses.dataclass(frozen=True)
class _Operator:
    name: str
    filter_shape: tuple | None
    float_output: bool


def _operators(flatbuffer):
    """An `_Operator` for every operator of the flatbuffer."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    codes = model.operatorCodes
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = codes[op.opcodeIndex]
            name = code.customCode.decode() if code.customCode else _BUILTIN_NAMES[code.builtinCode]
            has_filter = op.inputs is not None and len(op.inputs) > 1 and op.inputs[1] >= 0
            yield _Operator(
                name, tuple(subgraph.tensors[op.inputs[1]].shape) if has_filter else None,
                subgraph.tensors[op.outputs[0]].type == tflite_schema.TensorType.FLOAT32)


def binary_convs(model):
    """The convs of `model` (nested ones too) with 1-bit input and kernel quantizers.

    These are the layers LCE should run as `LceBconv2d`.
    """
    return [layer for layer in all_layers(model)
            if isinstance(layer, lq.layers.QuantConv2D) and is_binary_layer(layer)]


def _not_converted(layers, operators):
    """The layers of `layers` without an `LceBconv2d` of their shape among `operators`
    (as `_operators` yields them).

    An `LceBconv2d` filter is bit-packed: (filters, kh, kw, ceil(in_channels / 32)).
    """
    available = collections.Counter(op.filter_shape for op in operators
                                    if op.name == "LceBconv2d")
    missing = []
    for layer in layers:
        shape = (layer.filters, *layer.kernel_size, math.ceil(layer.input_shape[-1] / 32))
        if available[shape]:
            available[shape] -= 1
        else:
            missing.append(layer.name)
    return missing


def _sample_inputs(model, sample_inputs):
    if sample_inputs is not None:
        return np.asarray(sample_inputs, dtype=np.float32)
    shape = model.input_shape[1:]
    if any(size is None for size in shape):
        raise ExportError(f"Model {model.name!r} has an input shape with unknown sizes "
                          f"{shape}: pass sample_inputs to check the conversion.")
    return np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)


def convert(model, path=None, *, verify=True, sample_inputs=None, sample_labels=None,
            strict=True, tolerance=TOLERANCE, int8=False, calibration_data=None,
            quantize_input=False, min_agreement=MIN_AGREEMENT, kernel=None):
    """Converts a Keras model with Larq Compute Engine, checks it, and writes it.

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
        kernel: What runs the program for `verify`, one of `KERNELS`; None for keras_bnn's
            runtime (`keras_bnn.runtime`), or LCE's interpreter where the runtime cannot
            run it. Both compute LCE's binary ops bit for bit.

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
    exact = exact_strided_padding(model)  # away from a pattern LCE converts wrongly
    converted = _int8_model(exact, calibration_data, quantize_input, verify and
                            sample_inputs is None) if int8 else exact
    try:
        flatbuffer = lce_flatbuffer(converted)
    except (ConverterCrash, ValueError) as error:  # a crash, or the converter's refusal
        raise ExportError(f"Converting {model.name!r}: {error} Nothing was written; the "
                          "model itself is unchanged.") from None
    operators = list(_operators(flatbuffer))
    convs = binary_convs(model)
    if not convs:
        warnings.warn(f"export.convert({model.name!r}): {_NO_BINARY_CONVS}.", stacklevel=2)
    result = ExportResult(flatbuffer=flatbuffer,
                          ops=collections.Counter(op.name for op in operators),
                          binary_convs=[layer.name for layer in convs],
                          not_converted=_not_converted(convs, operators),
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
    faults = _lce_kernel_faults(model)
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


def _lce_kernel_faults(model):
    """Names of the binary convs that LCE's optimized kernels compute wrongly: zero
    padding where the dilated filter is larger than the input map (measured: a 3x3 filter
    on 2x2 or 1x1 maps, a 5x5 one or a 3x3 with dilation 2 on 4x4; sizes of at least the
    filter's are right)."""
    faults = []
    for layer in binary_convs(model):
        if layer.name not in _zero_padded(model):
            continue
        sizes = layer.input_shape[1:3]
        spans = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
        if any(size is not None and size < span for size, span in zip(sizes, spans)):
            faults.append(layer.name)
    return faults


def _check_output_path(path):
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


def _int8_model(model, calibration_data, quantize_input, random_samples):
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


def _check_binary_convs(model, inputs, binary_convs, kernel):
    """The `ConvCheck` of a functional or Sequential model (None for a subclassed one,
    which has no graph to cut, and without binary convs: their outputs are checked);
    `ExportError` for a tensor that LCE computes wrongly, or a crash of its converter."""
    if not has_graph(model) or not binary_convs:
        return None
    try:
        return check_binary_convs(model, inputs, set(binary_convs), kernel=kernel)
    except VerificationError as error:
        layer = error.comparison.name.split(" ")[0]
        hint = (f" {layer} zero-pads (pad_values=0), which LCE computes wrongly on some "
                "shapes (larq-zoo's MeliusNet22 at 64x64: a 2x2 map); binary convs "
                "trained with pad_values=1.0 do not have this." if layer in _zero_padded(model)
                else "")
        raise ExportError(f"{error}{hint} Nothing was written.") from None
    except ConverterCrash as error:
        raise ExportError(f"Converting {model.name!r} with its binary convs' tensors as "
                          f"outputs, for the check: {error} Nothing was written; pass "
                          "verify=False to skip the check.") from None


def _zero_padded(model):
    """Names of the binary convs of `model` that pad with zeros (`pad_values=0`)."""
    return [layer.name for layer in binary_convs(model)
            if layer.padding == "same" and not getattr(layer, "pad_values", 0)]


def _outputs_differ(model, result, tolerance):
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
        zero_padded = _zero_padded(model)
        message += (
            " Checked one by one, in a program with those tensors as outputs, every binary "
            "conv and the outputs agree with Keras: the difference comes from the written "
            "program, where the converter fuses ops across those tensors (a BatchNorm into a "
            "binary conv's output transform, for one) and so rounds differently; values "
            "within rounding of 0, common in a barely trained network, then binarize to the "
            "other sign and the change grows from layer to layer. Export a trained model, or "
            "pass verify=False to write this one."
            + (f" LCE's optimized kernels also round the zero padding of "
               f"{', '.join(zero_padded[:8])} differently (their correction is float): train "
               "with pad_values=1.0." if zero_padded else "")
        )
    return message + " Nothing was written."


def _compare(model, result, inputs, labels, kernel):
    """Fills in how the flatbuffer's outputs on `inputs` compare with the Keras model's."""
    expected = tf.nest.flatten(model.predict(inputs, verbose=0, batch_size=64))
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


def main(argv=None):
    """`python -m keras_bnn.export MODEL.keras OUT.tflite [--no-verify] [--no-strict]`."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_bnn.export",
        description="Convert a Keras model with Larq Compute Engine, check it, write it.")
    parser.add_argument("model", help="a .keras or .h5 model file (e.g. a train.py run's)")
    parser.add_argument("output", help="the .tflite file to write")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not compare the LCE outputs with the Keras model's")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="allow binary convs that stay float ops")
    parser.add_argument("--kernel", choices=KERNELS, default=None,
                        help=f"what runs the program for the check (default "
                             f"{DEFAULT_KERNEL}: keras_bnn's runtime where it runs, else "
                             f"LCE's {FALLBACK_KERNEL})")
    arguments = parser.parse_args(argv)
    try:
        model = keras.models.load_model(arguments.model, compile=False)
        result = convert(model, arguments.output, verify=arguments.verify,
                         strict=arguments.strict, kernel=arguments.kernel)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())

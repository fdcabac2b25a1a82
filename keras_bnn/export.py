"""Deployment through Larq Compute Engine: convert, check, and write a `.tflite` file.

`convert` turns a Keras model into an LCE flatbuffer and checks it before anything is
written: every binary conv must have become an `LceBconv2d` (`strict`), and the LCE
interpreter must compute what the Keras model computes (`verify`). LCE cannot run ternary
activations and silently converts `sign(sign(x + t) + sign(x - t))` into `sign(x + t)`, so
a model with `TernarySign` activations is refused: decouple it first.

```python
result = keras_bnn.export.convert(model, "model.tflite", sample_inputs=test_images[:16])
print(result.report())
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
import tempfile

import numpy as np
from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn._keras import all_layers, keras, lq, tf
from keras_bnn.decoupling import has_ternary_activations
from keras_bnn.training import write_bytes_atomically

__all__ = ["DEFAULT_KERNEL", "ExportError", "ExportResult", "KERNELS", "TOLERANCE", "binary_convs",
           "convert", "inference_function", "lce_flatbuffer", "lce_interpreter", "op_histogram"]

# Largest accepted mean|LCE - Keras| / mean|Keras| over the sample inputs. Not the maximum:
# an activation within float rounding of zero may binarize to the other sign in LCE (its
# full-precision layers round differently), which moves a few outputs of a deep network
# by a lot, and in an untrained deep network the flip cascades through later layers
# (measured: up to 7 % for a random-weight ResNet-20 on random 64x64 inputs); a wrong
# conversion (other weights, a quantizer read as another) moves every output, by 50 %
# and more.
TOLERANCE = 0.1

# How the LCE interpreter runs a model: the kernel of its binary convs and, for "xnnpack",
# TFLite's XNNPACK delegate for the float ops beside them. On x86-64 LCE has no
# hand-optimized binary kernels: its default falls back to a slow generic one, the indirect
# BGEMM kernel is about 5x faster (METHODS.md section 4), and XNNPACK takes a further 5-7 %
# off the float stem, shortcuts and head (ResNet-18 at 224x224, one thread: 140 / 28.9 /
# 27.1 ms; `python benchmarks/inference.py`). So "xnnpack" is what this package runs.
KERNELS = {
    "default": {},
    "indirect_bgemm": {"use_indirect_bgemm": True},
    "reference": {"use_reference_bconv": True},
    "xnnpack": {"use_indirect_bgemm": True, "use_xnnpack": True},
}
DEFAULT_KERNEL = "xnnpack"

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
            sample inputs (relative to max|Keras output|); None when not verified.
        mean_rel_diff: mean|LCE - Keras| / mean|Keras|, what `verify` checks.
        path: Where the file was written, or None.
    """

    flatbuffer: bytes
    ops: collections.Counter
    binary_convs: list
    not_converted: list
    size_bytes: int
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    mean_rel_diff: float | None = None
    path: pathlib.Path | None = None

    @property
    def converted_binary_convs(self):
        """How many binary convs became `LceBconv2d`."""
        return len(self.binary_convs) - len(self.not_converted)

    def report(self):
        """A few human-readable lines: binary convs, ops, size, verification, file."""
        lines = [f"binary convs: {self.converted_binary_convs} of {len(self.binary_convs)} "
                 "became LceBconv2d"
                 + (f" (not: {', '.join(self.not_converted)})" if self.not_converted else ""),
                 "ops: " + ", ".join(f"{name} {count}" for name, count in self.ops.most_common()),
                 f"size: {self.size_bytes / 1e6:.3f} MB"]
        if self.max_abs_diff is not None:
            lines.append(f"LCE vs Keras: max abs diff {self.max_abs_diff:.3g} (relative "
                         f"{self.max_rel_diff:.3g}), mean relative diff "
                         f"{self.mean_rel_diff:.3g}")
        if self.path is not None:
            lines.append(f"written: {self.path}")
        return "\n".join(lines)


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
    return collections.Counter(name for name, _ in _operators(flatbuffer))


def _operators(flatbuffer):
    """`(op name, its filter's shape or None)` for every operator of the flatbuffer."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    codes = model.operatorCodes
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = codes[op.opcodeIndex]
            name = code.customCode.decode() if code.customCode else _BUILTIN_NAMES[code.builtinCode]
            has_filter = op.inputs is not None and len(op.inputs) > 1 and op.inputs[1] >= 0
            yield name, tuple(subgraph.tensors[op.inputs[1]].shape) if has_filter else None


def binary_convs(model):
    """The convs of `model` (nested ones too) with 1-bit input and kernel quantizers.

    These are the layers LCE should run as `LceBconv2d`.
    """
    def one_bit(quantizer):
        return getattr(quantizer, "precision", None) == 1

    return [layer for layer in all_layers(model)
            if isinstance(layer, lq.layers.QuantConv2D)
            and one_bit(layer.input_quantizer) and one_bit(layer.kernel_quantizer)]


def _not_converted(layers, operators):
    """The layers of `layers` without an `LceBconv2d` of their shape among `operators`
    (as `_operators` yields them).

    An `LceBconv2d` filter is bit-packed: (filters, kh, kw, ceil(in_channels / 32)).
    """
    available = collections.Counter(shape for name, shape in operators if name == "LceBconv2d")
    missing = []
    for layer in layers:
        shape = (layer.filters, *layer.kernel_size, math.ceil(layer.input_shape[-1] / 32))
        if available[shape]:
            available[shape] -= 1
        else:
            missing.append(layer.name)
    return missing


def lce_interpreter(flatbuffer, kernel=DEFAULT_KERNEL, num_threads=1):
    """The LCE interpreter for a flatbuffer, running its binary convs with `kernel`.

    ```python
    outputs = lce_interpreter(flatbuffer).predict(images)
    ```

    # Arguments
        flatbuffer: TFLite model bytes.
        kernel: A key of `KERNELS` (default `DEFAULT_KERNEL`, the fastest on x86-64).
        num_threads: Threads of the interpreter.

    # Raises
        ValueError: for an unknown kernel.
    """
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}.")
    return Interpreter(flatbuffer, num_threads=num_threads, **KERNELS[kernel])


def inference_function(model):
    """The model's inference call (`training=False`) traced once for a batch of 1.

    ```python
    tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], model)
    ```
    """
    signature = [tf.TensorSpec((1, *tensor.shape[1:]), tensor.dtype) for tensor in model.inputs]

    def call(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    return tf.function(call, input_signature=signature).get_concrete_function()


def lce_flatbuffer(model):
    """The model converted by Larq Compute Engine, as bytes.

    `larq_compute_engine.convert_keras_model` first saves the whole Keras model, which
    traces every layer's training call as well: 12 s of 14 s for `recu_resnet20`. Saving
    only `inference_function(model)` with the model's variables gives the converter the
    same graph in 2 s.
    """
    import larq_compute_engine as lce

    module = tf.Module()
    module.model_variables = list(model.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures=inference_function(model))
        return lce.convert_saved_model(directory)


def _sample_inputs(model, sample_inputs):
    if sample_inputs is not None:
        return np.asarray(sample_inputs, dtype=np.float32)
    shape = model.input_shape[1:]
    if any(size is None for size in shape):
        raise ExportError(f"Model {model.name!r} has an input shape with unknown sizes "
                          f"{shape}: pass sample_inputs to check the conversion.")
    return np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)


def convert(model, path=None, *, verify=True, sample_inputs=None, strict=True,
            tolerance=TOLERANCE):
    """Converts a Keras model with Larq Compute Engine, checks it, and writes it.

    # Arguments
        model: A `tf_keras.Model` (binary convs as larq `QuantConv2D` or `ReCUConv2D`).
        path: Where to write the `.tflite` file (atomically: a failed export leaves no file);
            None to write nothing.
        verify: Run the LCE interpreter on `sample_inputs` and refuse outputs that differ
            from the Keras model's (inference mode): mean|LCE - Keras| / mean|Keras| above
            `tolerance`.
        sample_inputs: Inputs for the check, a NumPy batch (real images are best); None for
            4 random normal images of the model's input shape.
        strict: Refuse when a binary conv did not become an `LceBconv2d`.
        tolerance: See `verify` (default `TOLERANCE`, 0.1; see there why not a maximum).

    # Returns
        An `ExportResult`.

    # Raises
        ExportError: for a model with ternary activations; under `strict`, for binary
            convs that stayed float ops; under `verify`, for outputs that differ.
    """
    if has_ternary_activations(model):
        raise ExportError(
            f"Model {model.name!r} has ternary activations (TernarySign), which Larq Compute "
            "Engine cannot run and silently mis-converts; export "
            "keras_bnn.decouple(model) instead, which computes the same function with "
            "binary activations."
        )
    flatbuffer = lce_flatbuffer(model)
    operators = list(_operators(flatbuffer))
    convs = binary_convs(model)
    result = ExportResult(flatbuffer=flatbuffer,
                          ops=collections.Counter(name for name, _ in operators),
                          binary_convs=[layer.name for layer in convs],
                          not_converted=_not_converted(convs, operators),
                          size_bytes=len(flatbuffer))
    if strict and result.not_converted:
        raise ExportError(
            f"{len(result.not_converted)} binary conv(s) of {model.name!r} did not become "
            f"LceBconv2d: {', '.join(result.not_converted)}. LCE needs a sign-like input "
            "binarizer and +-scale kernels; pass strict=False to export them as float convs."
        )
    if verify:
        inputs = _sample_inputs(model, sample_inputs)
        expected = model(inputs, training=False).numpy()
        converted = lce_interpreter(flatbuffer).predict(inputs)
        difference, scale = np.abs(converted - expected), np.abs(expected)
        result.max_abs_diff = float(difference.max())
        result.max_rel_diff = result.max_abs_diff / max(float(scale.max()), 1e-12)
        result.mean_rel_diff = float(difference.mean()) / max(float(scale.mean()), 1e-12)
        if not result.mean_rel_diff <= tolerance:
            raise ExportError(
                f"The converted {model.name!r} computes something else than the Keras model: "
                f"mean relative difference {result.mean_rel_diff:.3g} > tolerance "
                f"{tolerance:g} (max abs difference {result.max_abs_diff:.3g}). Nothing was "
                "written."
            )
    if path is not None:
        result.path = write_bytes_atomically(path, flatbuffer)
    return result


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
    arguments = parser.parse_args(argv)
    try:
        model = keras.models.load_model(arguments.model, compile=False)
        result = convert(model, arguments.output, verify=arguments.verify,
                         strict=arguments.strict)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())

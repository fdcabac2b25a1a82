"""What `keras_bnn.export.convert` gives back: an `ExportResult`, or an `ExportError`.

```python
result = convert(model, "model.tflite", sample_inputs=images[:16])
print(result.report())  # binary convs, ops, size, LCE against Keras, the file written
```
"""

import collections
import dataclasses
import pathlib

from keras_bnn.verification import ConvCheck

__all__ = ["NO_BINARY_CONVS", "ExportError", "ExportResult"]

# What the report says, and `convert` warns, when a model has nothing for LCE to binarize.
NO_BINARY_CONVS = ("the model has no binary conv: this is a float program; binarize it "
                   "first, e.g. keras_bnn.binarize(model)")


class ExportError(ValueError):
    """A model that cannot be exported as asked: the message says why and what to do.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.export import ExportError, convert

    model = zoo.get_model("bnn_small", input_quantizer="ternary_sign")  # BinaryDuo's stage 1
    try:
        convert(model, "model.tflite")
    except ExportError as error:
        print(error)  # "Model 'bnn_small' has ternary activations (TernarySign), ..."
    ```
    """


@dataclasses.dataclass
class ExportResult:
    """What `convert` made, and how it compares with the Keras model.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.export import convert

    model = zoo.get_model("bnn_small", width=16)
    images = np.random.default_rng(0).normal(size=(16, 28, 28, 1)).astype("float32")
    result = convert(model, sample_inputs=images)
    result.converted_binary_convs, result.mean_rel_diff, len(result.flatbuffer)
    # (2, 1.4e-07, 5932): both binary convs became LceBconv2d, float rounding, bytes
    ```

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
    binary_convs: list[str]
    not_converted: list[str]
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
    def converted_binary_convs(self) -> int:
        """How many binary convs became `LceBconv2d`."""
        return len(self.binary_convs) - len(self.not_converted)

    def report(self) -> str:
        """A few human-readable lines: binary convs, ops, size, verification, file."""
        lines = [f"binary convs: {self.converted_binary_convs} of {len(self.binary_convs)} "
                 "became LceBconv2d"
                 + (f" (not: {', '.join(self.not_converted)})" if self.not_converted else "")
                 + ("" if self.binary_convs else f" ({NO_BINARY_CONVS})"),
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


def _counts(counter: collections.Counter) -> str:
    """`"name count, ..."`, the most common first."""
    return ", ".join(f"{name} {count}" for name, count in counter.most_common())

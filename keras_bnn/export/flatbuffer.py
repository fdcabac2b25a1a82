"""Reading a `.tflite` flatbuffer: its operators, counted by name, and which compute in float.

```python
op_histogram(flatbuffer)  # Counter({'LceBconv2d': 5, 'LceQuantize': 5, 'CONV_2D': 1, ...})
float_ops(flatbuffer)     # the ops of an int8 export that still compute in float32
```
"""

import collections
import dataclasses
from collections.abc import Iterator

from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

__all__ = ["Operator", "float_ops", "op_histogram", "operators"]

_BUILTIN_NAMES = {code: name for name, code in vars(tflite_schema.BuiltinOperator).items()
                  if not name.startswith("_")}


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator of a flatbuffer, as `operators` reads it.

    # Attributes
        name: A custom op's name (`"LceBconv2d"`) or a builtin op's TFLite name
            (`"CONV_2D"`).
        filter_shape: The shape of its second input (a conv's filter), None without one.
        float_output: Whether its first output is float32.
    """

    name: str
    filter_shape: tuple | None
    float_output: bool


def operators(flatbuffer: bytes) -> Iterator[Operator]:
    """An `Operator` for every operator of a TFLite flatbuffer, subgraph by subgraph.

    ```python
    [op.filter_shape for op in operators(flatbuffer) if op.name == "LceBconv2d"]
    # [(64, 3, 3, 2), ...]: bit-packed filters, (filters, kh, kw, ceil(in_channels / 32))
    ```

    # Arguments
        flatbuffer: The model's bytes (as `keras_bnn.lce.lce_flatbuffer` returns).

    # Returns
        An iterator of `Operator`, in the order of the program.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    codes = model.operatorCodes
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = codes[op.opcodeIndex]
            name = code.customCode.decode() if code.customCode else _BUILTIN_NAMES[code.builtinCode]
            has_filter = op.inputs is not None and len(op.inputs) > 1 and op.inputs[1] >= 0
            yield Operator(
                name, tuple(subgraph.tensors[op.inputs[1]].shape) if has_filter else None,
                subgraph.tensors[op.outputs[0]].type == tflite_schema.TensorType.FLOAT32)


def op_histogram(flatbuffer: bytes) -> collections.Counter:
    """Counts the operators of a TFLite flatbuffer by name.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.export import lce_flatbuffer, op_histogram

    op_histogram(lce_flatbuffer(zoo.get_model("bnn_small", width=16)))
    # Counter({'LceQuantize': 2, 'LceBconv2d': 2, 'MAX_POOL_2D': 2, 'MUL': 2, 'CONV_2D': 1, ...})
    ```

    # Arguments
        flatbuffer: The model's bytes (as `keras_bnn.lce.lce_flatbuffer` returns).

    # Returns
        A `collections.Counter`: custom ops under their name (`"LceBconv2d"`), builtin ops
        under their TFLite name (`"CONV_2D"`).
    """
    return collections.Counter(op.name for op in operators(flatbuffer))


def float_ops(flatbuffer: bytes) -> collections.Counter:
    """Counts the operators of a TFLite flatbuffer that compute in float32 (by name).

    Those with a float32 output, but for `DEQUANTIZE`, which only converts an int8 result.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.export import convert, float_ops

    model = zoo.get_model("bnn_small", width=16)
    images = np.random.default_rng(0).normal(size=(64, 28, 28, 1)).astype("float32")
    result = convert(model, int8=True, calibration_data=images, verify=False)
    float_ops(result.flatbuffer)  # the ops still in float32: the first conv, say
    ```

    # Arguments
        flatbuffer: The model's bytes.

    # Returns
        A `collections.Counter`, as `op_histogram`.
    """
    return collections.Counter(op.name for op in operators(flatbuffer)
                               if op.float_output and op.name != "DEQUANTIZE")

"""Deployment through Larq Compute Engine: what a converted model is made of.

```python
flatbuffer = larq_compute_engine.convert_keras_model(model)
keras_bnn.export.op_histogram(flatbuffer)  # Counter({'LceBconv2d': 5, 'LceQuantize': 5, ...})
```
"""

import collections

from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

__all__ = ["op_histogram"]

_BUILTIN_NAMES = {code: name for name, code in vars(tflite_schema.BuiltinOperator).items()
                  if not name.startswith("_")}


def op_histogram(flatbuffer):
    """Counts the operators of a TFLite flatbuffer by name.

    # Arguments
        flatbuffer: The model's bytes (as `larq_compute_engine.convert_keras_model` returns).

    # Returns
        A `collections.Counter`: custom ops under their name (`"LceBconv2d"`), builtin ops
        under their TFLite name (`"CONV_2D"`).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    codes = model.operatorCodes
    return collections.Counter(
        codes[op.opcodeIndex].customCode.decode()
        if codes[op.opcodeIndex].customCode
        else _BUILTIN_NAMES[codes[op.opcodeIndex].builtinCode]
        for subgraph in model.subgraphs
        for op in subgraph.operators
    )

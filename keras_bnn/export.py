"""Deployment through Larq Compute Engine: what a converted model is made of.

```python
flatbuffer = larq_compute_engine.convert_keras_model(model)
keras_bnn.export.op_histogram(flatbuffer)  # Counter({'LceBconv2d': 5, 'LceQuantize': 5, ...})
```
"""

import collections

from tensorflow.lite.tools import flatbuffer_utils

__all__ = ["op_histogram"]


def op_histogram(flatbuffer):
    """Counts the operators of a TFLite flatbuffer by name.

    # Arguments
        flatbuffer: The model's bytes (as `larq_compute_engine.convert_keras_model` returns).

    # Returns
        A `collections.Counter`: custom ops under their name (`"LceBconv2d"`), builtin ops
        under their TFLite builtin code (an int).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    codes = model.operatorCodes
    return collections.Counter(
        codes[op.opcodeIndex].customCode.decode()
        if codes[op.opcodeIndex].customCode
        else codes[op.opcodeIndex].builtinCode
        for subgraph in model.subgraphs
        for op in subgraph.operators
    )

"""keras_bnn's runtime for Larq Compute Engine programs on x86-64: LCE's binary ops with
keras_bnn's own kernels (AVX-512, AVX2 or portable C, chosen at run time), bit-exact with
LCE's reference, run by TensorFlow's stock TensorFlow Lite interpreter as an external
delegate. LCE's x86 kernels are generic C++; these are written for x86's vector
instructions and run faster (see benchmarks/results/inference.md), and the programs stay
LCE's: the same `.tflite` file runs on ARM with LCE.

```python
import keras_bnn
import numpy as np
import zoo
from keras_bnn import export, runtime

model = zoo.get_model("bnn_small")
interpreter = runtime.Interpreter(export.convert(model).flatbuffer)
logits = interpreter.predict(np.zeros((2, 28, 28, 1), np.float32))  # shape (2, 10)
```

The native library is compiled on first use (`keras_bnn.runtime.build`).
"""

from keras_bnn.runtime.build import RuntimeUnavailable
from keras_bnn.runtime.interpreter import (KERNELS, TESTED_TENSORFLOW, Interpreter,
                                           UnsupportedProgram, available_kernels,
                                           check_tensorflow, live_allocations)

__all__ = ["KERNELS", "TESTED_TENSORFLOW", "Interpreter", "RuntimeUnavailable",
           "UnsupportedProgram", "available_kernels", "check_tensorflow",
           "live_allocations"]

"""keras_bnn's runtime for Larq Compute Engine programs on x86-64: LCE's binary ops with
keras_bnn's own kernels (AVX-512, AVX2 or portable C, chosen at run time), bit-exact with
LCE's reference, run by TensorFlow's stock TensorFlow Lite interpreter as an external
delegate. LCE's x86 kernels are generic C++; these are several times faster, and the
programs stay LCE's: the same `.tflite` file runs on ARM with LCE.

```python
from keras_bnn import runtime
interpreter = runtime.Interpreter(keras_bnn.export.convert(model).flatbuffer)
logits = interpreter.predict(images)
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

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
import keras_bnn
import zoo
from keras_bnn import data
from keras_bnn.export import convert

model = zoo.get_model("bnn_vgg_small", weights="mnist")  # trained, registered weights
mnist = data.load("mnist", max_train_examples=500, max_test_examples=200)
train_images, _ = next(iter(mnist.train_dataset(500, augment=False)))
test_images, test_labels = next(iter(mnist.test_dataset(200)))

result = convert(model, "model.tflite", sample_inputs=test_images[:16])
result = convert(model, "model_int8.tflite", int8=True, calibration_data=train_images,
                 sample_inputs=test_images, sample_labels=test_labels)
print(result.report())  # ..., top-1 agreement with Keras, both accuracies
```

From the command line (random inputs of the model's shape for the check):

    python -m keras_bnn.export runs/x/model.keras runs/x/model.tflite

The modules: `conversion` (`convert` and its checks), `result` (`ExportResult`,
`ExportError`), `flatbuffer` (reading a `.tflite`: `op_histogram`, `float_ops`),
`lce_bconv` (a model's binary convs and what LCE makes of them), `__main__` (the command
line).
"""

from keras_bnn.export.conversion import MIN_AGREEMENT, TOLERANCE, convert
from keras_bnn.export.flatbuffer import float_ops, op_histogram
from keras_bnn.export.lce_bconv import binary_convs
from keras_bnn.export.result import ExportError, ExportResult
from keras_bnn.lce import (DEFAULT_KERNEL, KERNELS, inference_function, lce_flatbuffer,
                           lce_interpreter)

__all__ = ["DEFAULT_KERNEL", "ExportError", "ExportResult", "KERNELS", "MIN_AGREEMENT",
           "TOLERANCE", "binary_convs", "convert", "float_ops", "inference_function",
           "lce_flatbuffer", "lce_interpreter", "op_histogram"]

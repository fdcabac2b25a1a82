"""keras_bnn: binary neural networks for Keras, trained with published methods and deployed
as 1-bit programs through Larq Compute Engine.

Importing it sets TensorFlow up with the Keras 2 API (`tf_keras`) that larq and Larq Compute
Engine need, after any import order that has not yet used `tf.keras` (see `keras_bnn._keras`).

```python
import keras_bnn
import larq as lq

layer = lq.layers.QuantConv2D(64, 3, input_quantizer="ternary_sign", kernel_quantizer="recu")
```
"""

from keras_bnn import _keras  # noqa: F401  (must run first: environment set-up)
# Every class a saved model may name (layers, quantizers, learning-rate schedules) is
# registered by importing its module here, so `import keras_bnn` alone loads any file.
from keras_bnn import analysis, callbacks, layers, optimizers, quantizers
from keras_bnn.binarization import binarize
from keras_bnn.decoupling import decouple
from keras_bnn.twin import float_twin

__version__ = "0.1.0"

__all__ = ["analysis", "binarize", "callbacks", "decouple", "float_twin", "layers", "optimizers",
           "quantizers"]

"""A Keras model's binary convs, and what Larq Compute Engine makes of them.

LCE runs a conv with 1-bit inputs and kernel as an `LceBconv2d`: `binary_convs` finds those
convs, `not_converted` the ones a flatbuffer has no `LceBconv2d` for, and
`lce_kernel_faults` the ones LCE's own optimized kernels compute wrongly (zero padding on a
map smaller than the filter).

```python
convs = binary_convs(model)
not_converted(convs, operators(lce_flatbuffer(model)))  # [] when every one converted
```
"""

import collections
import math
from collections.abc import Iterable

from keras_bnn._keras import keras, lq
from keras_bnn.export.flatbuffer import Operator
from keras_bnn.graphs import all_layers, is_binary_layer

__all__ = ["binary_convs", "lce_kernel_faults", "not_converted", "zero_padded"]


def binary_convs(model: keras.Model) -> list[keras.layers.Layer]:
    """The convs of `model` (nested ones too) with 1-bit input and kernel quantizers.

    These are the layers LCE should run as `LceBconv2d`.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.export import binary_convs

    [layer.name for layer in binary_convs(zoo.get_model("bnn_small"))]
    # ['conv2', 'conv3']
    ```

    # Arguments
        model: A `tf_keras` model.

    # Returns
        The layers, in the order `keras_bnn._keras.all_layers` lists them.
    """
    return [layer for layer in all_layers(model)
            if isinstance(layer, lq.layers.QuantConv2D) and is_binary_layer(layer)]


def not_converted(layers: list[keras.layers.Layer],
                  operators: Iterable[Operator]) -> list[str]:
    """The names of the binary convs among `layers` without an `LceBconv2d` of their shape
    among `operators`.

    An `LceBconv2d` filter is bit-packed: `(filters, kh, kw, ceil(in_channels / 32))`.

    ```python
    not_converted(binary_convs(model), operators(flatbuffer))  # ['zero_one_weights']
    ```

    # Arguments
        layers: Binary convs (as `binary_convs` returns them).
        operators: The operators of the converted program
            (`keras_bnn.export.flatbuffer.operators`).

    # Returns
        The names of the layers left over once every `LceBconv2d` is matched to one.
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


def zero_padded(model: keras.Model) -> list[str]:
    """The names of the binary convs of `model` that pad with zeros (`pad_values=0`).

    ```python
    zero_padded(model)  # ['conv2d_1']: SAME padding, pad_values left at 0
    ```

    # Arguments
        model: A `tf_keras` model.

    # Returns
        Names of binary convs with SAME padding and `pad_values` 0 (or none at all).
    """
    return [layer.name for layer in binary_convs(model)
            if layer.padding == "same" and not getattr(layer, "pad_values", 0)]


def lce_kernel_faults(model: keras.Model) -> list[str]:
    """The names of the binary convs that LCE's optimized kernels (on ARM, and its x86
    indirect BGEMM) compute wrongly: zero padding where the dilated filter is larger than
    the input map.

    A 3x3 filter on 2x2 or 1x1 maps, a 5x5 one or a 3x3 with dilation 2 on 4x4 are wrong;
    maps of at least the filter's size are right. keras_bnn's runtime and LCE's reference
    kernel compute all of them exactly.

    ```python
    lce_kernel_faults(model)  # ['conv2d_7']: pad_values=0 on a 2x2 map
    ```

    # Arguments
        model: A `tf_keras` model with known input shapes.

    # Returns
        The names of the convs, in the order `binary_convs` lists them.
    """
    padded_with_zeros = set(zero_padded(model))
    faults = []
    for layer in binary_convs(model):
        if layer.name not in padded_with_zeros:
            continue
        sizes = layer.input_shape[1:3]
        spans = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
        if any(size is not None and size < span for size, span in zip(sizes, spans)):
            faults.append(layer.name)
    return faults

"""Rewrites that keep Larq Compute Engine's converter away from patterns it converts wrongly.

**Zero padding before a stride-2 VALID conv.** The converter fuses `ZeroPadding2D(p)` and a
following conv with stride 2, `padding="valid"` and a `2p + 1` kernel into one SAME conv.
SAME pads such a conv evenly only on an odd-sized input; on an even size it pads
`(p - 1, p)` instead of `(p, p)`, and the whole output map moves by a pixel (Keras
Applications' ResNet50 starts with exactly this pair). `exact_strided_padding` pads one
more row and column at the bottom and right (`(p, p + 1)`, which the converter leaves as a
pad) and crops the extra output row and column after the conv: the same numbers, for
about one more output row and column of work.

```python
import keras_bnn
import tensorflow as tf
from keras_bnn.converter_fixes import exact_strided_padding

inputs = tf.keras.Input((32, 32, 3))
x = tf.keras.layers.ZeroPadding2D(3)(inputs)
x = tf.keras.layers.Conv2D(8, 7, strides=2, name="conv")(x)
exact = exact_strided_padding(tf.keras.Model(inputs, x))  # what keras_bnn.export converts
```
"""

from keras_bnn._keras import keras
from keras_bnn.graphs import (as_functional, has_graph, layer_entry, rebuild, redirect,
                              source_names)

__all__ = ["exact_strided_padding"]

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)  # larq's QuantConv2D included


def _fused_wrongly(padding_layer: keras.layers.ZeroPadding2D,
                   conv: keras.layers.Layer) -> list[bool] | None:
    """Per spatial axis, whether the converter would fuse the pair into a SAME conv that pads
    unevenly there (even input size)."""
    if not isinstance(conv, _CONVS) or conv.padding != "valid" or \
            tuple(conv.strides) != (2, 2) or tuple(conv.dilation_rate) != (1, 1) or \
            conv.data_format != "channels_last":
        return None
    pads = tuple(tuple(pair) for pair in padding_layer.padding)
    symmetric = all(before == after == (k - 1) // 2 and k % 2 == 1
                    for (before, after), k in zip(pads, conv.kernel_size))
    even = [size is not None and size % 2 == 0 for size in padding_layer.input_shape[1:3]]
    return even if symmetric and any(even) else None


def exact_strided_padding(model: keras.Model) -> keras.Model:
    """`model` with every `ZeroPadding2D` + stride-2 VALID conv pair that the LCE converter
    would mis-fuse rewritten to an exact equivalent (see the module docstring); `model`
    itself when it has none. Only the model's own graph is rewritten, not nested models'.

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_bnn.converter_fixes import exact_strided_padding

    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.ZeroPadding2D(3)(inputs)
    x = tf.keras.layers.Conv2D(8, 7, strides=2, name="conv")(x)
    model = tf.keras.Model(inputs, x)
    exact = exact_strided_padding(model)  # pads (3, 4), then crops: conv_exact_crop
    images = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(exact(images), model(images), atol=1e-5)
    ```

    # Arguments
        model: A functional or Sequential `tf_keras` model.

    # Returns
        A model computing the same outputs, with the same layers and weights plus a
        `Cropping2D` after each rewritten conv. (A padding that other layers read too is
        left alone: the converter cannot fuse it away.)
    """
    if not has_graph(model):
        return model
    functional = as_functional(model, "export.convert()")
    config = functional.get_config()
    entries = {entry["name"]: entry for entry in config["layers"]}
    rewritten = False
    for layer in functional.layers:
        if not isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        readers = [entry["name"] for entry in config["layers"]
                   if layer.name in source_names(entry)]
        if len(readers) != 1:
            continue
        conv = functional.get_layer(readers[0])
        even = _fused_wrongly(layer, conv)
        if even is None:
            continue
        entries[layer.name]["config"]["padding"] = tuple(
            (before, after + extra) for (before, after), extra in zip(layer.padding, even))
        crop = keras.layers.Cropping2D(tuple((0, int(extra)) for extra in even),
                                       name=f"{conv.name}_exact_crop")
        redirect(config, conv.name, crop.name)
        position = config["layers"].index(entries[conv.name])
        config["layers"].insert(position + 1, layer_entry(crop, [[conv.name, 0, 0]]))
        rewritten = True
    if not rewritten:
        return model
    return rebuild(config, weights_from=functional)

"""The float model's weights into its binarized copy.

Latent weights start from the float weights, scaled into the weight clip's range where the
method clips (signs unchanged); biases stay (LCE fuses them into the binary conv), and a
ReCU conv, which has none, moves its bias into the BatchNorm that follows (the moving mean
shifts by it, exact at inference).

```python
copy_weights(float_model, binary_model, METHODS["bnn"], bias_folds={})
```
"""

import numpy as np

from keras_bnn._keras import keras, lq
from keras_bnn.binarization.methods import Method
from keras_bnn.graphs import as_functional

__all__ = ["copy_weights"]


def copy_weights(original: keras.Model, binary: keras.Model, method: Method,
                 bias_folds: dict[str, str]) -> None:
    """Copies the float weights into the binary model, nested models level by level.

    ```python
    copy_weights(float_model, binary, METHODS["recu"], {"conv1_bn": "conv1"})
    ```

    # Arguments
        original: The functional float model.
        binary: Its binarized rewrite: layers of the same names.
        method: The `Method` binarized with: its weight clip scales the binarized kernels
            into range (keeping their signs); ReCU's convs (a method with `tau`) take no bias.
        bias_folds: `{BatchNorm name: conv name}`: the conv's bias goes into that
            BatchNorm's moving mean.
    """
    clip = keras.constraints.get(method.kernel_constraint)
    clip_value = clip.clip_value if isinstance(clip, lq.constraints.WeightClip) else None
    for layer in binary.layers:
        source = _layer_or_none(original, layer.name)
        if source is None or not source.weights:
            continue
        if isinstance(layer, keras.Model):
            copy_weights(as_functional(source, "binarize()"), layer, method, bias_folds)
        elif hasattr(layer, "input_quantizer") and not hasattr(source, "input_quantizer"):
            kernel = source.kernel.numpy()
            peak = float(np.max(np.abs(kernel)))
            if clip_value is not None and peak > clip_value:
                kernel = kernel * (clip_value / peak)
            layer.kernel.assign(kernel)
            if source.use_bias and method.tau is None:
                layer.bias.assign(source.bias)
        else:
            layer.set_weights(source.get_weights())
        if layer.name in bias_folds:
            conv = _layer_or_none(original, bias_folds[layer.name])
            layer.moving_mean.assign(layer.moving_mean - conv.bias)


def _layer_or_none(model: keras.Model, name: str) -> keras.layers.Layer | None:
    """`model`'s layer `name`, or None where it has none."""
    try:
        return model.get_layer(name)
    except ValueError:
        return None

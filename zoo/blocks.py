"""Building blocks shared by the zoo's networks.

Every binary conv of the zoo is made by `binary_conv`, so that all of them follow the same
rules: bias-free, padded with +1 (`pad_values=1.0`, which BinaryDuo's decoupling and Larq
Compute Engine's fast SAME padding both need), and quantized by the three quantizer
options every builder exposes. Full-precision layers (the first conv, real-valued
shortcuts, the classifier) are plain Keras layers without quantizers.

```python
import tensorflow as tf
from zoo import blocks

inputs = tf.keras.Input((32, 32, 3))
x = blocks.batch_norm(blocks.float_conv(inputs, 64, 3, name="conv1"), name="conv1_bn")
conv = blocks.make_binary_conv("ste_sign", "ste_sign", "weight_clip")
x = blocks.batch_norm(conv(x, 128, 3, name="conv2"), name="conv2_bn")
x = tf.keras.layers.GlobalAveragePooling2D()(x)
model = tf.keras.Model(inputs, blocks.classifier(x, 10))
```
"""

import functools
from collections.abc import Callable, Sequence

import larq as lq
import tensorflow as tf
import tf_keras as keras

from keras_bnn.layers import ReCUConv2D
from keras_bnn.quantizers import TAU_START


def binary_conv(
    x: tf.Tensor,
    filters: int,
    kernel_size: int | tuple[int, int],
    *,
    input_quantizer: str | Callable | None,
    kernel_quantizer: str | Callable | None,
    kernel_constraint: str | Callable | None,
    strides: int | tuple[int, int] = 1,
    padding: str = "same",
    name: str | None = None,
) -> tf.Tensor:
    """Applies a bias-free `lq.layers.QuantConv2D` that pads with +1.

    ```python
    import tensorflow as tf
    from zoo.blocks import binary_conv

    x = tf.keras.Input((16, 16, 64))
    y = binary_conv(x, 128, 3, strides=2, input_quantizer="ste_sign",
                    kernel_quantizer="ste_sign", kernel_constraint="weight_clip")  # 8x8x128
    ```

    # Arguments
        x: Input tensor, channels last.
        filters: Output channels.
        kernel_size: Kernel size, an int or a pair.
        input_quantizer: Activation quantizer (name, instance or None).
        kernel_quantizer: Weight quantizer (name, instance or None).
        kernel_constraint: Weight constraint (name, instance or None).
        strides: Strides.
        padding: `"same"` (padded with +1) or `"valid"`.
        name: Layer name.

    # Returns
        The output tensor.
    """
    return lq.layers.QuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        pad_values=1.0,
        use_bias=False,
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        kernel_constraint=kernel_constraint,
        name=name,
    )(x)


def make_binary_conv(input_quantizer: str | Callable | None,
                     kernel_quantizer: str | Callable | None,
                     kernel_constraint: str | Callable | None) -> Callable[..., tf.Tensor]:
    """Returns `binary_conv` with the quantizer options of a builder filled in.

    ```python
    import tensorflow as tf
    from zoo.blocks import make_binary_conv

    conv = make_binary_conv("ternary_sign", "ste_sign", "weight_clip")  # BinaryDuo, stage 1
    y = conv(tf.keras.Input((16, 16, 64)), 64, 3, name="conv2")
    ```

    # Arguments
        input_quantizer: Activation quantizer (name, instance or None).
        kernel_quantizer: Weight quantizer (name, instance or None).
        kernel_constraint: Weight constraint (name, instance or None).

    # Returns
        A function `conv(x, filters, kernel_size, strides=1, padding="same", name=None)`.
    """
    return functools.partial(
        binary_conv,
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        kernel_constraint=kernel_constraint,
    )


def make_recu_conv(tau: float = TAU_START) -> Callable[..., tf.Tensor]:
    """Returns a conv function like `make_binary_conv`'s that applies ReCU's binary conv.

    ```python
    import tensorflow as tf
    from zoo.blocks import make_recu_conv

    conv = make_recu_conv(tau=0.85)
    y = conv(tf.keras.Input((16, 16, 64)), 64, 3, name="conv2")  # a ReCUConv2D
    ```

    The convs are `keras_bnn.layers.ReCUConv2D` (ReCU kernel quantizer with its own `tau`
    variable, `ReCUActivation` input binarizer, per-channel `alpha`), bias-free and padded
    with +1.

    # Arguments
        tau: Initial τ of every conv, in `(0.5, 1]`.

    # Returns
        A function `conv(x, filters, kernel_size, strides=1, padding="same", name=None)`.

    # Raises
        ValueError: for τ outside `(0.5, 1]` (when a conv is made).

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """

    def recu_conv(x: tf.Tensor, filters: int, kernel_size: int | tuple[int, int], *,
                  strides: int | tuple[int, int] = 1, padding: str = "same",
                  name: str | None = None) -> tf.Tensor:
        return ReCUConv2D(filters, kernel_size, strides=strides, padding=padding,
                          pad_values=1.0, tau=tau, name=name)(x)

    return recu_conv


def float_conv(x: tf.Tensor, filters: int, kernel_size: int | tuple[int, int], *,
               strides: int | tuple[int, int] = 1, padding: str = "same",
               name: str | None = None) -> tf.Tensor:
    """Applies a full-precision, bias-free `Conv2D` (a BatchNorm follows it).

    ```python
    import tensorflow as tf
    from zoo.blocks import float_conv

    y = float_conv(tf.keras.Input((32, 32, 3)), 64, 3, name="conv1")  # 32x32x64
    ```

    # Arguments
        x: Input tensor, channels last.
        filters: Output channels.
        kernel_size: Kernel size, an int or a pair.
        strides: Strides.
        padding: `"same"` (zero padding) or `"valid"`.
        name: Layer name.

    # Returns
        The output tensor.
    """
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(x)


def batch_norm(x: tf.Tensor, name: str | None = None) -> tf.Tensor:
    """Applies BatchNorm with momentum 0.9 (PyTorch's and Torch's 0.1 in Keras' convention).

    ```python
    import tensorflow as tf
    from zoo.blocks import batch_norm

    y = batch_norm(tf.keras.Input((8, 8, 16)), name="conv1_bn")
    ```

    # Arguments
        x: Input tensor.
        name: Layer name.

    # Returns
        The normalized tensor.
    """
    return keras.layers.BatchNormalization(momentum=0.9, name=name)(x)


CLASSIFIER = "classifier"  # the name of every zoo model's classifier layer


def classifier(x: tf.Tensor, num_classes: int) -> tf.Tensor:
    """Applies the full-precision classifier, a `Dense` layer named `CLASSIFIER`.

    ```python
    import tensorflow as tf
    from zoo.blocks import classifier

    logits = classifier(tf.keras.Input((512,)), 10)  # the layer "classifier"
    ```

    # Arguments
        x: Input tensor of rank 2.
        num_classes: Number of classes.

    # Returns
        The logits (no softmax).
    """
    return keras.layers.Dense(num_classes, name=CLASSIFIER)(x)


def check_input_size(input_shape: Sequence[int | None], min_size: int, model_name: str) -> None:
    """Checks that an image shape has a known height and width of at least `min_size`.

    ```python
    from zoo.blocks import check_input_size

    check_input_size((32, 32, 3), 8, "bnn_vgg_small")  # fine
    try:
        check_input_size((4, 4, 3), 8, "bnn_vgg_small")
    except ValueError as error:
        print(error)  # bnn_vgg_small needs a known height and width of at least 8 pixels, ...
    ```

    # Arguments
        input_shape: Image shape, channels last.
        min_size: Smallest height and width the network can take.
        model_name: Name of the network, for the message.

    # Raises
        ValueError: if `input_shape` is not of rank 3, or its height or width is unknown
            or smaller than `min_size`.
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"{model_name} takes images of shape (height, width, channels), got "
            f"input_shape={tuple(input_shape)}."
        )
    if any(size is None or size < min_size for size in input_shape[:2]):
        raise ValueError(
            f"{model_name} needs a known height and width of at least {min_size} pixels, "
            f"got input_shape={tuple(input_shape)}."
        )

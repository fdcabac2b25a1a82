"""Plain binary networks (BNN, Courbariaux et al. 2016, https://arxiv.org/abs/1602.02830)
that the methods are compared with.

All of them binarize activations and weights with `ste_sign` (weights clipped to [-1, 1] by
`weight_clip`) in every conv but the first; the first conv and the classifier stay full
precision, a BatchNorm follows every conv, and the networks output logits. Binary convs
are bias-free and pad with +1. Each builder takes `input_quantizer`, `kernel_quantizer`
and `kernel_constraint`, so that a method can swap the quantizers of every binary conv.

```python
import zoo

baseline = zoo.get_model("bnn_vgg_small")                       # ste_sign everywhere
recu_quantized = zoo.get_model("bnn_vgg_small", input_quantizer="recu_activation",
                               kernel_quantizer="recu", kernel_constraint=None)
```
"""

from collections.abc import Callable, Sequence

import tensorflow as tf
import tf_keras as keras

from zoo import blocks
from zoo.registry import register_model


def _map_size(x: tf.Tensor) -> tuple[int, int]:
    """The spatial size of `x`: the kernel size of a conv that acts as a dense layer.

    BinaryDuo's official code writes the first fully connected layer of VGG-7 and AlexNet
    as a conv whose kernel covers the whole map (4x4 and 6x6); as a conv it stays a binary
    op for Larq Compute Engine, which never binarizes a `Dense` layer.
    """
    return tuple(x.shape[1:3])


def _check_filters(filters: Sequence[int], expected_length: int, model_name: str) -> None:
    """Raises a ValueError unless `filters` has `expected_length` positive ints."""
    positive_ints = all(isinstance(f, int) and f > 0 for f in filters)
    if len(filters) != expected_length or not positive_ints:
        raise ValueError(
            f"{model_name} needs `filters` of {expected_length} positive ints, one per "
            f"layer, got {filters!r}."
        )


@register_model()
def bnn_small(
    *,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
    width: int = 64,
) -> keras.Model:
    """A small binary CNN for 28x28 images: float stem, two binary 3x3 convs, float head.

    The smallest baseline, quick to train and to test: a full-precision 3x3 conv of
    `width // 2` channels, two binary 3x3 convs of `width` channels each followed by a 2x2
    max-pool, global average pooling and the classifier. Takes any image size of at least
    4x4.

    ```python
    import zoo

    model = zoo.get_model("bnn_small", input_quantizer="ternary_sign")
    ```

    # Arguments
        input_shape: Image shape, channels last.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).
        width: Channels of the binary convs.

    # Returns
        A `tf_keras.Model`.

    # References
        - Courbariaux et al., [Binarized Neural Networks: Training Deep Neural Networks with
          Weights and Activations Constrained to +1 or -1](https://arxiv.org/abs/1602.02830),
          2016.
    """
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)
    inputs = keras.Input(input_shape)
    x = blocks.float_conv(inputs, width // 2, 3, name="conv1")
    x = blocks.batch_norm(x, name="conv1_bn")
    for index in (2, 3):
        x = conv(x, width, 3, name=f"conv{index}")
        x = keras.layers.MaxPool2D(name=f"conv{index}_pool")(x)
        x = blocks.batch_norm(x, name=f"conv{index}_bn")
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = blocks.classifier(x, num_classes)
    return keras.Model(inputs, outputs, name="bnn_small")


@register_model()
def bnn_vgg_small(
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
    width_multiplier: float = 1.0,
) -> keras.Model:
    """The VGG-small of LQ-Nets and ReCU for CIFAR-10: 128-128(pool)-256-256(pool)-512-512(pool).

    Six 3x3 convs (the first full precision, five binary), a 2x2 max-pool after the second,
    fourth and sixth (pool before BatchNorm, as in ReCU's official code), then the
    flattened map goes to the classifier: 4x4x512 for 32x32 inputs, 3x3x512 for 28x28.
    ReCU's code puts a hard tanh between the last BatchNorm and the classifier; here the
    classifier reads the BatchNorm output, like the binary convs do.

    ```python
    import zoo

    model = zoo.get_model("bnn_vgg_small", input_shape=(28, 28, 1), width_multiplier=0.5)
    ```

    # Arguments
        input_shape: Image shape, channels last, at least 8x8.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).
        width_multiplier: Scales the channels of every conv (rounded, at least 1).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: if `width_multiplier <= 0` or the images are smaller than 8x8.

    # References
        - Zhang et al., [LQ-Nets: Learned Quantization for Highly Accurate and Compact Deep
          Neural Networks](https://arxiv.org/abs/1807.10029), ECCV 2018.
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
        - Courbariaux et al., [Binarized Neural Networks: Training Deep Neural Networks with
          Weights and Activations Constrained to +1 or -1](https://arxiv.org/abs/1602.02830),
          2016.
    """
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)
    return vgg_small(conv, input_shape, num_classes, width_multiplier, name="bnn_vgg_small")


def vgg_small(conv: Callable[..., tf.Tensor], input_shape: tuple[int, int, int],
              num_classes: int, width_multiplier: float = 1.0,
              name: str = "vgg_small") -> keras.Model:
    """VGG-small (see `bnn_vgg_small`) with the binary convs that `conv` applies.

    ```python
    from zoo import baselines, blocks

    conv = blocks.make_binary_conv("ternary_sign", "ste_sign", "weight_clip")
    model = baselines.vgg_small(conv, (32, 32, 3), 10, width_multiplier=0.5, name="mine")
    ```

    # Arguments
        conv: Binary conv function, as `blocks.make_binary_conv` returns.
        input_shape: As `bnn_vgg_small`.
        num_classes: As `bnn_vgg_small`.
        width_multiplier: As `bnn_vgg_small`.
        name: Model name.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: if `width_multiplier <= 0` or the images are smaller than 8x8.
    """
    if not width_multiplier > 0:
        raise ValueError(f"`width_multiplier` must be > 0, got {width_multiplier}.")
    blocks.check_input_size(input_shape, 8, name)
    widths = [max(1, round(c * width_multiplier)) for c in (128, 128, 256, 256, 512, 512)]

    inputs = keras.Input(input_shape)
    x = blocks.float_conv(inputs, widths[0], 3, name="conv1")
    x = blocks.batch_norm(x, name="conv1_bn")
    for index, filters in enumerate(widths[1:], start=2):
        x = conv(x, filters, 3, name=f"conv{index}")
        if index % 2 == 0:
            x = keras.layers.MaxPool2D(name=f"conv{index}_pool")(x)
        x = blocks.batch_norm(x, name=f"conv{index}_bn")
    x = keras.layers.Flatten()(x)
    outputs = blocks.classifier(x, num_classes)
    return keras.Model(inputs, outputs, name=name)


@register_model()
def bnn_vgg7(
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
    filters: tuple[int, ...] = (64, 64, 128, 128, 512, 512),
) -> keras.Model:
    """BinaryDuo's CIFAR-10 VGG-7 baseline (the "tiny VGG-7" of the official code).

    Layout of the official `models/tinyVGG7.lua`, for 32x32 inputs:

    | layer | conv | then |
    | --- | --- | --- |
    | 1 | 3x3, 64, full precision | BN |
    | 2 | 3x3, 64 | max-pool 2x2, BN (16x16) |
    | 3 | 3x3, 128 | max-pool 2x2, BN (8x8) |
    | 4 | 3x3, 128 | max-pool 2x2, BN (4x4) |
    | 5 | 4x4, 512, valid: covers the whole 4x4 map | BN (1x1) |
    | 6 | 1x1, 512 | BN, ReLU |
    | 7 | classifier, full precision | logits |

    Layers 2-6 are binary; their inputs are the binarized outputs of the BatchNorm before
    them, except that the classifier reads ReLU(BN) in full precision, as in the official
    code. The 4x4 conv always spans the whole remaining map, so 28x28 inputs (3x3 map)
    work too. Differences from the official code: its VGG-7 keeps every conv's weights in
    full precision (plain `cudnn.SpatialConvolution`, only activations are quantized) —
    pass `kernel_quantizer=None, kernel_constraint=None` for that — and its classifier is
    a bias-free 1x1 conv, where here it is a `Dense` layer with a bias like every zoo
    classifier. `filters` gives BinaryDuo's narrower coupled model,
    `(45, 45, 90, 90, 336, 512)`.

    ```python
    import zoo

    baseline = zoo.get_model("bnn_vgg7")
    coupled = zoo.get_model(
        "bnn_vgg7", filters=(45, 45, 90, 90, 336, 512), input_quantizer="ternary_sign"
    )
    ```

    # Arguments
        input_shape: Image shape, channels last, at least 8x8.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).
        filters: Output channels of the six convs.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: if `filters` is not six positive ints or the images are smaller
            than 8x8.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """
    _check_filters(filters, 6, "bnn_vgg7")
    blocks.check_input_size(input_shape, 8, "bnn_vgg7")
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)

    inputs = keras.Input(input_shape)
    x = blocks.float_conv(inputs, filters[0], 3, name="conv1")
    x = blocks.batch_norm(x, name="conv1_bn")
    for index in (2, 3, 4):
        x = conv(x, filters[index - 1], 3, name=f"conv{index}")
        x = keras.layers.MaxPool2D(name=f"conv{index}_pool")(x)
        x = blocks.batch_norm(x, name=f"conv{index}_bn")
    x = conv(x, filters[4], _map_size(x), padding="valid", name="conv5")
    x = blocks.batch_norm(x, name="conv5_bn")
    x = conv(x, filters[5], 1, name="conv6")
    x = blocks.batch_norm(x, name="conv6_bn")
    x = keras.layers.ReLU(name="conv6_relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = blocks.classifier(x, num_classes)
    return keras.Model(inputs, outputs, name="bnn_vgg7")


@register_model()
def bnn_alexnet(
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
    filters: tuple[int, ...] = (96, 256, 384, 384, 256, 4096, 4096),
    dropout_rate: float = 0.1,
) -> keras.Model:
    """Binary AlexNet, laid out as BinaryDuo's official ImageNet AlexNet.

    | layer | conv | then |
    | --- | --- | --- |
    | 1 | 11x11 / 4, zero padding 2, 96, full precision | max-pool 3/2, BN |
    | 2 | 5x5, 256 | max-pool 3/2, BN |
    | 3, 4 | 3x3, 384 | BN |
    | 5 | 3x3, 256 | max-pool 3/2, BN |
    | fc6 | conv over the whole map (6x6 at 224x224), 4096 | BN, dropout |
    | fc7 | 1x1 conv, 4096 | BN, ReLU, dropout |
    | fc8 | classifier, full precision | logits |

    Layers 2 to fc7 are binary convs (the fully connected layers are convs, as in the
    official code, so that Larq Compute Engine runs them as binary ops); the classifier
    reads ReLU(BN) in full precision. Before a binary conv, a dropped unit becomes
    `sign(0) = +1`. Inputs from 63x63 up work (the map before fc6 is then 1x1), e.g.
    64x64 for quick tests. `filters` gives BinaryDuo's coupled model,
    `(88, 192, 256, 256, 192, 2400, 4096)`.

    ```python
    import zoo

    model = zoo.get_model("bnn_alexnet", input_shape=(64, 64, 3), num_classes=200)
    ```

    # Arguments
        input_shape: Image shape, channels last, at least 63x63.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).
        filters: Output channels of conv1-conv5, fc6 and fc7.
        dropout_rate: Dropout after fc6 and fc7 (0.1 in the official code).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: if `filters` is not seven positive ints or the images are smaller
            than 63x63.

    # References
        - Krizhevsky et al., [ImageNet Classification with Deep Convolutional Neural
          Networks](https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks),
          NeurIPS 2012.
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """
    _check_filters(filters, 7, "bnn_alexnet")
    blocks.check_input_size(input_shape, 63, "bnn_alexnet")
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)

    def max_pool(x: tf.Tensor, name: str) -> tf.Tensor:
        return keras.layers.MaxPool2D(3, strides=2, name=name)(x)

    inputs = keras.Input(input_shape)
    x = keras.layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = blocks.float_conv(x, filters[0], 11, strides=4, padding="valid", name="conv1")
    x = blocks.batch_norm(max_pool(x, "conv1_pool"), name="conv1_bn")
    x = conv(x, filters[1], 5, name="conv2")
    x = blocks.batch_norm(max_pool(x, "conv2_pool"), name="conv2_bn")
    x = blocks.batch_norm(conv(x, filters[2], 3, name="conv3"), name="conv3_bn")
    x = blocks.batch_norm(conv(x, filters[3], 3, name="conv4"), name="conv4_bn")
    x = conv(x, filters[4], 3, name="conv5")
    x = blocks.batch_norm(max_pool(x, "conv5_pool"), name="conv5_bn")
    x = conv(x, filters[5], _map_size(x), padding="valid", name="fc6")
    x = keras.layers.Dropout(dropout_rate)(blocks.batch_norm(x, name="fc6_bn"))
    x = blocks.batch_norm(conv(x, filters[6], 1, name="fc7"), name="fc7_bn")
    x = keras.layers.Dropout(dropout_rate)(keras.layers.ReLU(name="fc7_relu")(x))
    x = keras.layers.Flatten()(x)
    outputs = blocks.classifier(x, num_classes)
    return keras.Model(inputs, outputs, name="bnn_alexnet")

"""Binary ResNets with Bi-Real Net's double skip connections.

Every binary 3x3 conv has its own shortcut (`x + BN(conv(x))`, twice per basic block), so
that the real-valued residual stream passes around each binarization. Where a conv halves
the map and widens the channels, the shortcut is real-valued too: 2x2 average pooling, a
full-precision 1x1 conv and BatchNorm (Bi-Real Net, larq-zoo). The stem and the classifier
are full precision; global average pooling feeds the classifier, which outputs logits.

The pieces (`stem_block`, `bireal_stages` of `bireal_unit`s with their shortcut choices,
`classifier_head`) also build ReCU's ResNets in `zoo.recu` and, with a unit of their own,
Real-to-Binary's in `zoo.real_to_binary`.

```python
import functools
import tensorflow as tf
from zoo import blocks, resnets

conv = blocks.make_binary_conv("ste_sign", "ste_sign", "weight_clip")
inputs = tf.keras.Input((32, 32, 3))
x = resnets.stem_block(inputs, "cifar", 32)
x = resnets.bireal_stages(x, (32, 64), 1, functools.partial(resnets.bireal_unit, conv=conv))
model = tf.keras.Model(inputs, resnets.classifier_head(x, 10))  # a 4-conv binary ResNet
```

References:
- Liu et al., [Bi-Real Net](https://arxiv.org/abs/1808.00278), ECCV 2018.
"""

import functools
from collections.abc import Callable, Sequence

import tensorflow as tf
import tf_keras as keras

from keras_bnn.layers import HardTanh, PadChannels
from zoo import blocks
from zoo.registry import register_model

_STEMS = ("imagenet", "cifar")


def avgpool_conv_shortcut(x: tf.Tensor, filters: int, strides: int, name: str) -> tf.Tensor:
    """Bi-Real Net's (and larq-zoo's) shortcut: 2x2 average pooling, full-precision 1x1
    conv, BatchNorm.

    ```python
    import tensorflow as tf
    from zoo import resnets

    x = tf.keras.Input((32, 32, 64))
    y = resnets.avgpool_conv_shortcut(x, 128, 2, name="stage2_block1_1_shortcut")  # 16x16x128
    ```

    # References
        - Liu et al., [Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
          Representational Capability and Advanced Training
          Algorithm](https://arxiv.org/abs/1808.00278), ECCV 2018.
    """
    if strides != 1:
        x = keras.layers.AvgPool2D(strides, padding="same", name=f"{name}_pool")(x)
    x = blocks.float_conv(x, filters, 1, name=f"{name}_conv")
    return blocks.batch_norm(x, name=f"{name}_bn")


def strided_conv_shortcut(x: tf.Tensor, filters: int, strides: int, name: str) -> tf.Tensor:
    """torchvision's (and ReCU's ImageNet) shortcut: full-precision strided 1x1 conv,
    BatchNorm.

    ```python
    import tensorflow as tf
    from zoo import resnets

    x = tf.keras.Input((32, 32, 64))
    y = resnets.strided_conv_shortcut(x, 128, 2, name="shortcut")  # 16x16x128
    ```

    # References
        - He et al., [Deep Residual Learning for Image
          Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016.
    """
    x = blocks.float_conv(x, filters, 1, strides=strides, name=f"{name}_conv")
    return blocks.batch_norm(x, name=f"{name}_bn")


def zero_pad_shortcut(x: tf.Tensor, filters: int, strides: int, name: str) -> tf.Tensor:
    """The parameter-free shortcut of CIFAR ResNets (ReCU's): 2x2 average pooling, then
    zero channels on both sides up to `filters`.

    ```python
    import tensorflow as tf
    from zoo import resnets

    x = tf.keras.Input((32, 32, 64))
    y = resnets.zero_pad_shortcut(x, 128, 2, name="shortcut")  # 16x16x128, no weights
    ```

    # References
        - He et al., [Deep Residual Learning for Image
          Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016, option A.
    """
    if strides != 1:
        x = keras.layers.AvgPool2D(strides, padding="same", name=f"{name}_pool")(x)
    missing = filters - x.shape[-1]
    return PadChannels(missing // 2, missing - missing // 2, name=f"{name}_pad")(x)


def bireal_unit(x: tf.Tensor, filters: int, strides: int, name: str, *,
                conv: Callable[..., tf.Tensor],
                shortcut: Callable[..., tf.Tensor] = avgpool_conv_shortcut,
                clip: bool = False) -> tf.Tensor:
    """One binary 3x3 conv with its own shortcut: `shortcut(x) + BN(conv(x))`, clipped to
    [-1, 1] when `clip`.

    ```python
    import tensorflow as tf
    from zoo import blocks, resnets

    conv = blocks.make_recu_conv()
    x = tf.keras.Input((32, 32, 16))
    y = resnets.bireal_unit(x, 32, 2, "unit", conv=conv, shortcut=resnets.zero_pad_shortcut,
                            clip=True)  # ReCU's unit: 16x16x32, clipped to [-1, 1]
    ```

    # Arguments
        x: Input tensor.
        filters: Output channels.
        strides: Strides of the conv (and of the shortcut).
        name: Prefix of the unit's layer names.
        conv: Binary conv function, as `blocks.make_binary_conv` returns.
        shortcut: `(x, filters, strides, name) -> tensor`, the shortcut of a unit that
            changes the map size or the channels.
        clip: Clip the residual stream to [-1, 1] after the addition (ReCU).

    # Returns
        The unit's output.

    # References
        - Liu et al., [Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
          Representational Capability and Advanced Training
          Algorithm](https://arxiv.org/abs/1808.00278), ECCV 2018.
    """
    residual = x
    if strides != 1 or x.shape[-1] != filters:
        residual = shortcut(x, filters, strides, name=f"{name}_shortcut")
    x = conv(x, filters, 3, strides=strides, name=f"{name}_conv")
    x = blocks.batch_norm(x, name=f"{name}_bn")
    x = keras.layers.Add(name=f"{name}_add")([x, residual])
    return HardTanh(name=f"{name}_clip")(x) if clip else x


def bireal_stages(x: tf.Tensor, stage_filters: Sequence[int],
                  blocks_per_stage: int | Sequence[int],
                  unit: Callable[[tf.Tensor, int, int, str], tf.Tensor]) -> tf.Tensor:
    """The stages of basic blocks, two units (binary convs with their own shortcuts) each;
    every stage but the first starts with stride 2.

    The units are named `stage{s}_block{b}_{u}` (s, b and u from 1; u is 1 or 2), so a
    block ends in the layers of its unit 2.

    ```python
    import functools
    import tensorflow as tf
    from zoo import blocks, resnets

    conv = blocks.make_binary_conv("ste_sign", "ste_sign", "weight_clip")
    x = tf.keras.Input((32, 32, 64))
    y = resnets.bireal_stages(x, (64, 128, 256, 512), 2,
                              functools.partial(resnets.bireal_unit, conv=conv))  # 4x4x512
    ```

    # Arguments
        x: The stem's output.
        stage_filters: Channels per stage.
        blocks_per_stage: Basic blocks per stage: an int, or one per stage.
        unit: `(x, filters, strides, name) -> tensor`, one unit (e.g. `bireal_unit` with
            its options filled in).

    # Returns
        The last stage's output.
    """
    if isinstance(blocks_per_stage, int):
        blocks_per_stage = (blocks_per_stage,) * len(stage_filters)
    for stage, (filters, count) in enumerate(zip(stage_filters, blocks_per_stage), start=1):
        for block in range(1, count + 1):
            for index in (1, 2):
                strides = 2 if stage > 1 and block == 1 and index == 1 else 1
                x = unit(x, filters, strides, name=f"stage{stage}_block{block}_{index}")
    return x


def classifier_head(x: tf.Tensor, num_classes: int, batch_norm: bool = False) -> tf.Tensor:
    """Global average pooling (then BatchNorm, as ReCU's, when `batch_norm`) and the
    full-precision classifier.

    ```python
    import tensorflow as tf
    from zoo import resnets

    logits = resnets.classifier_head(tf.keras.Input((4, 4, 512)), 10, batch_norm=True)
    ```
    """
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if batch_norm:
        x = blocks.batch_norm(x, name="pool_bn")
    return blocks.classifier(x, num_classes)


def stem_block(inputs: tf.Tensor, kind: str, filters: int) -> tf.Tensor:
    """The full-precision stem: ImageNet's 7x7/2 conv and 3x3/2 max-pool, or CIFAR's 3x3 conv,
    each followed by BatchNorm.

    ```python
    import tensorflow as tf
    from zoo import resnets

    x = resnets.stem_block(tf.keras.Input((224, 224, 3)), "imagenet", 64)  # 56x56x64
    y = resnets.stem_block(tf.keras.Input((32, 32, 3)), "cifar", 64)       # 32x32x64
    ```

    # Arguments
        inputs: The images.
        kind: `"imagenet"` or anything else for the CIFAR stem (see `resolve_stem`).
        filters: Channels of the stem conv.
    """
    if kind == "imagenet":
        x = blocks.float_conv(inputs, filters, 7, strides=2, name="stem_conv")
        x = blocks.batch_norm(x, name="stem_bn")
        return keras.layers.MaxPool2D(3, strides=2, padding="same", name="stem_pool")(x)
    x = blocks.float_conv(inputs, filters, 3, name="stem_conv")
    return blocks.batch_norm(x, name="stem_bn")


def resolve_stem(stem_kind: str | None, input_shape: Sequence[int | None]) -> str:
    """`stem_kind`, or for None the CIFAR stem when the images are at most 64x64.

    ```python
    from zoo.resnets import resolve_stem

    resolve_stem(None, (32, 32, 3)), resolve_stem(None, (224, 224, 3))  # "cifar", "imagenet"
    ```

    # Raises
        ValueError: for a `stem_kind` other than None, "imagenet" and "cifar".
    """
    if stem_kind is None:
        small = all(size is not None and size <= 64 for size in input_shape[:2])
        return "cifar" if small else "imagenet"
    if stem_kind not in _STEMS:
        raise ValueError(f"`stem` must be None, 'imagenet' or 'cifar', got {stem_kind!r}.")
    return stem_kind


@register_model()
def bnn_resnet18(
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
    stem: str | None = None,
    stage_filters: tuple[int, ...] = (64, 128, 256, 512),
) -> keras.Model:
    """Binary ResNet-18 with Bi-Real Net's double skip connections.

    Stem, then 4 stages of 64, 128, 256 and 512 channels with 2 basic blocks each (16
    binary 3x3 convs, each with its own shortcut), then global average pooling and the
    classifier. The first conv of stages 2-4 has stride 2 and a real-valued shortcut
    (2x2 average pooling, full-precision 1x1 conv, BatchNorm). With the ImageNet stem
    (7x7/2 conv, BN, 3x3/2 max-pool) at 224x224 this is larq-zoo's Bi-Real Net layout
    (11 699 112 parameters) with +1 padding; the CIFAR stem (3x3 conv, BN, no pooling) is
    the one of ReCU's CIFAR ResNet-18.

    ```python
    import zoo

    imagenet = zoo.get_model("bnn_resnet18")
    cifar = zoo.get_model("bnn_resnet18", input_shape=(32, 32, 3), num_classes=10)
    ```

    # Arguments
        input_shape: Image shape, channels last.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).
        stem: `"imagenet"`, `"cifar"`, or None to pick the CIFAR stem for images of at
            most 64x64 pixels and the ImageNet stem otherwise.
        stage_filters: Channels of the four stages (the stem has the first stage's).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown `stem`.

    # References
        - Liu et al., [Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
          Representational Capability and Advanced Training
          Algorithm](https://arxiv.org/abs/1808.00278), ECCV 2018.
        - He et al., [Deep Residual Learning for Image
          Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016.
    """
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)
    inputs = keras.Input(input_shape)
    x = stem_block(inputs, resolve_stem(stem, input_shape), stage_filters[0])
    x = bireal_stages(x, stage_filters, 2, functools.partial(bireal_unit, conv=conv))
    return keras.Model(inputs, classifier_head(x, num_classes), name="bnn_resnet18")


@register_model()
def bnn_resnet20(
    *,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    input_quantizer: str | Callable | None = "ste_sign",
    kernel_quantizer: str | Callable | None = "ste_sign",
    kernel_constraint: str | Callable | None = "weight_clip",
) -> keras.Model:
    """Binary CIFAR ResNet-20 with Bi-Real Net's double skip connections.

    A full-precision 3x3 conv of 16 channels and BatchNorm, then 3 stages of 16, 32 and
    64 channels with 3 basic blocks each (18 binary 3x3 convs, each with its own
    shortcut), global average pooling and the classifier. Stages 2 and 3 start with a
    stride-2 conv whose shortcut is real-valued (2x2 average pooling, full-precision 1x1
    conv, BatchNorm). ReCU's official ResNet-20 differs: its downsampling shortcut is
    parameter-free (average pooling and zero channels), it applies a hard tanh after every
    addition, and a BatchNorm before the classifier.

    ```python
    import zoo

    model = zoo.get_model("bnn_resnet20", input_quantizer="recu_activation",
                          kernel_quantizer="recu", kernel_constraint=None)
    ```

    # Arguments
        input_shape: Image shape, channels last.
        num_classes: Number of classes (the head outputs logits).
        input_quantizer: Activation quantizer of the binary convs.
        kernel_quantizer: Weight quantizer of the binary convs.
        kernel_constraint: Weight constraint of the binary convs (None for ReCU).

    # Returns
        A `tf_keras.Model`.

    # References
        - He et al., [Deep Residual Learning for Image
          Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016.
        - Liu et al., [Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
          Representational Capability and Advanced Training
          Algorithm](https://arxiv.org/abs/1808.00278), ECCV 2018.
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    conv = blocks.make_binary_conv(input_quantizer, kernel_quantizer, kernel_constraint)
    inputs = keras.Input(input_shape)
    x = stem_block(inputs, "cifar", 16)
    x = bireal_stages(x, (16, 32, 64), 3, functools.partial(bireal_unit, conv=conv))
    return keras.Model(inputs, classifier_head(x, num_classes), name="bnn_resnet20")

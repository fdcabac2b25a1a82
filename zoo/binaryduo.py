"""BinaryDuo's networks: the baselines narrowed to the official "coupled" widths.

Each network is built with ternary activations (`stage="ternary"`, BinaryDuo's stage 1),
or already decoupled (`stage="decoupled"`, `keras_bnn.decouple` of the former: stage 2).
Decoupling doubles every binary conv's input channels, so the ternary networks are about
1/sqrt(2) as wide as the baselines (the official widths, METHODS.md section 1), which
makes the decoupled networks match the baselines' parameters and binary operations.

```python
ternary = zoo.get_model("binaryduo_vgg7")
binary = zoo.get_model("binaryduo_vgg7", stage="decoupled")
```

References:
- [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by Coupling Binary
  Activations](https://arxiv.org/abs/2002.06517)
"""

import math

from keras_bnn.decoupling import decouple
from zoo import baselines, resnets

STAGES = ("ternary", "decoupled")


def _at_stage(build, stage):
    """Builds the ternary network and decouples it when `stage == "decoupled"`."""
    if stage not in STAGES:
        raise ValueError(f"Unknown BinaryDuo stage {stage!r}; expected one of {STAGES}.")
    model = build()
    return decouple(model) if stage == "decoupled" else model


def binaryduo_vgg7(input_shape=(32, 32, 3), num_classes=10, stage="ternary",
                   input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                   kernel_constraint="weight_clip"):
    """BinaryDuo's CIFAR-10 VGG-7 with the official coupled widths 45-45-90-90-336-512.

    The layout of `bnn_vgg7` (the official tinyVGG7); see there.

    # Arguments
        input_shape, num_classes: As `bnn_vgg7`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer, kernel_quantizer, kernel_constraint: Of the binary convs.

    # Raises
        ValueError: for an unknown stage.
    """
    return _at_stage(lambda: baselines.bnn_vgg7(
        input_shape, num_classes, input_quantizer, kernel_quantizer, kernel_constraint,
        filters=(45, 45, 90, 90, 336, 512)), stage)


def binaryduo_vgg_small(input_shape=(32, 32, 3), num_classes=10, stage="ternary",
                        input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                        kernel_constraint="weight_clip"):
    """VGG-small for 28x28 and 32x32 images, every width scaled by 1/sqrt(2).

    # Arguments
        input_shape, num_classes: As `bnn_vgg_small`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer, kernel_quantizer, kernel_constraint: Of the binary convs.

    # Raises
        ValueError: for an unknown stage.
    """
    return _at_stage(lambda: baselines.bnn_vgg_small(
        input_shape, num_classes, input_quantizer, kernel_quantizer, kernel_constraint,
        width_multiplier=1 / math.sqrt(2)), stage)


def binaryduo_alexnet(input_shape=(224, 224, 3), num_classes=1000, stage="ternary",
                      input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                      kernel_constraint="weight_clip"):
    """BinaryDuo's ImageNet AlexNet with the official coupled widths 88-192-256-256-192-2400-4096.

    # Arguments
        input_shape, num_classes: As `bnn_alexnet`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer, kernel_quantizer, kernel_constraint: Of the binary layers.

    # Raises
        ValueError: for an unknown stage.
    """
    return _at_stage(lambda: baselines.bnn_alexnet(
        input_shape, num_classes, input_quantizer, kernel_quantizer, kernel_constraint,
        filters=(88, 192, 256, 256, 192, 2400, 4096)), stage)


def binaryduo_resnet18(input_shape=(224, 224, 3), num_classes=1000, stage="ternary",
                       input_quantizer="ternary_sign", kernel_quantizer="ste_sign",
                       kernel_constraint="weight_clip", stem=None):
    """ResNet-18 (Bi-Real double skips) with the official coupled stage widths 64-90-180-360.

    The official ResNet carries the residual stream as two copies and averages them at a
    downsample; here the stream stays one real-valued tensor (Bi-Real Net's), which the
    decoupled activation reads, and the last stage has 360 channels throughout.

    # Arguments
        input_shape, num_classes, stem: As `bnn_resnet18`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer, kernel_quantizer, kernel_constraint: Of the binary convs.

    # Raises
        ValueError: for an unknown stage.
    """
    return _at_stage(lambda: resnets.bnn_resnet18(
        input_shape, num_classes, input_quantizer, kernel_quantizer, kernel_constraint,
        stem=stem, stage_filters=(64, 90, 180, 360)), stage)

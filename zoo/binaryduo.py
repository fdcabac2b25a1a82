"""BinaryDuo's networks: the baselines narrowed to the official "coupled" widths.

Each network is built with ternary activations (`stage="ternary"`, BinaryDuo's stage 1),
or already decoupled (`stage="decoupled"`, `keras_bnn.decouple` of the former: stage 2).
Decoupling doubles every binary conv's input channels, so the ternary networks are about
1/sqrt(2) as wide as the baselines (the widths of BinaryDuo's official code, which the
paper reconfigures so that the decoupled networks keep the baselines' parameters and
binary operations; `python benchmarks/binaryduo_sizes.py` compares each with its
baseline, as the BinaryDuo guide of the docs shows). AlexNet and ResNet-18 also come at
`widths="matched"`, because their official widths miss that.

```python
import zoo

ternary = zoo.get_model("binaryduo_vgg7")
binary = zoo.get_model("binaryduo_vgg7", stage="decoupled")
```

References:
- Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by Coupling
  Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020, and its official code.
"""

import math
from collections.abc import Callable

import tf_keras as keras

from keras_bnn.decoupling import decouple
from zoo import baselines, resnets
from zoo.registry import register_model

STAGES = ("ternary", "decoupled")

# Coupled widths per network: the official code's, and ones chosen so that the decoupled
# network has its baseline's parameters and binary MACs within 0.2 % (as larq counts
# them). The official widths miss that for AlexNet and ResNet-18: the official
# `alexnet_decoupled.lua` feeds conv2 with 2 x 88 = 176 channels where the baseline has
# 96 (+13.8 % binary MACs), and the official ResNet-18 keeps stage 1 at 64 channels, so
# every stage-1 binary conv reads 128 (+28 % in this zoo's Bi-Real layout, where every
# binary conv reads the residual stream). "matched" scales each baseline width by
# 1/sqrt(2), then trims the widths that feed full-precision layers.
WIDTHS = {
    "alexnet": {"official": (88, 192, 256, 256, 192, 2400, 4096),
                "matched": (68, 181, 272, 272, 181, 2568, 4096)},
    "resnet18": {"official": (64, 90, 180, 360), "matched": (45, 90, 181, 368)},
}


def _widths(network: str, widths: str) -> tuple[int, ...]:
    """The coupled widths of `network` named by `widths` ("official" or "matched")."""
    if widths not in WIDTHS[network]:
        raise ValueError(f"Unknown BinaryDuo widths {widths!r} for {network}; expected "
                         f"one of {tuple(WIDTHS[network])}.")
    return WIDTHS[network][widths]


def _at_stage(build: Callable[[], keras.Model], stage: str) -> keras.Model:
    """Builds the ternary network and decouples it when `stage == "decoupled"`."""
    if stage not in STAGES:
        raise ValueError(f"Unknown BinaryDuo stage {stage!r}; expected one of {STAGES}.")
    model = build()
    return decouple(model) if stage == "decoupled" else model


@register_model(recipe="binaryduo", deployed={"stage": "decoupled"})
def binaryduo_vgg7(*, input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10,
                   stage: str = "ternary", input_quantizer: str | Callable | None = "ternary_sign",
                   kernel_quantizer: str | Callable | None = "ste_sign",
                   kernel_constraint: str | Callable | None = "weight_clip") -> keras.Model:
    """BinaryDuo's CIFAR-10 VGG-7 with the official coupled widths 45-45-90-90-336-512.

    The layout of `bnn_vgg7` (the official tinyVGG7); see there.

    ```python
    import zoo

    ternary = zoo.get_model("binaryduo_vgg7")                     # stage 1
    binary = zoo.get_model("binaryduo_vgg7", stage="decoupled")   # stage 2, deployable
    ```

    # Arguments
        input_shape: As `bnn_vgg7`.
        num_classes: As `bnn_vgg7`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer: Of the binary convs.
        kernel_quantizer: Of the binary convs.
        kernel_constraint: Of the binary convs.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """
    return _at_stage(lambda: baselines.bnn_vgg7(
        input_shape=input_shape, num_classes=num_classes, input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint,
        filters=(45, 45, 90, 90, 336, 512)), stage)


@register_model(recipe="binaryduo", deployed={"stage": "decoupled"})
def binaryduo_vgg_small(*, input_shape: tuple[int, int, int] = (32, 32, 3),
                        num_classes: int = 10, stage: str = "ternary",
                        input_quantizer: str | Callable | None = "ternary_sign",
                        kernel_quantizer: str | Callable | None = "ste_sign",
                        kernel_constraint: str | Callable | None = "weight_clip",
                        width_multiplier: float = 1.0) -> keras.Model:
    """VGG-small for 28x28 and 32x32 images, every width scaled by 1/sqrt(2).

    ```python
    import zoo

    model = zoo.get_model("binaryduo_vgg_small", input_shape=(28, 28, 1),
                          width_multiplier=0.125, stage="decoupled")
    ```

    # Arguments
        input_shape: As `bnn_vgg_small`.
        num_classes: As `bnn_vgg_small`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer: Of the binary convs.
        kernel_quantizer: Of the binary convs.
        kernel_constraint: Of the binary convs.
        width_multiplier: That of the baseline `bnn_vgg_small` this one matches in size
            (its widths are scaled by a further 1/sqrt(2)).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """
    return _at_stage(lambda: baselines.bnn_vgg_small(
        input_shape=input_shape, num_classes=num_classes, input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint,
        width_multiplier=width_multiplier / math.sqrt(2)), stage)


@register_model(recipe="binaryduo", deployed={"stage": "decoupled"})
def binaryduo_alexnet(*, input_shape: tuple[int, int, int] = (224, 224, 3),
                      num_classes: int = 1000, stage: str = "ternary",
                      input_quantizer: str | Callable | None = "ternary_sign",
                      kernel_quantizer: str | Callable | None = "ste_sign",
                      kernel_constraint: str | Callable | None = "weight_clip",
                      widths: str = "official") -> keras.Model:
    """BinaryDuo's ImageNet AlexNet, by default at the official coupled widths.

    `widths="official"`: 88-192-256-256-192-2400-4096, as the official code; decoupled,
    it has 2.6 % fewer parameters and 13.8 % more binary MACs than `bnn_alexnet`.
    `widths="matched"`: 68-181-272-272-181-2568-4096, within 0.2 % of both.

    ```python
    import zoo

    model = zoo.get_model("binaryduo_alexnet", input_shape=(64, 64, 3), num_classes=200,
                          stage="decoupled", widths="matched")
    ```

    # Arguments
        input_shape: As `bnn_alexnet`.
        num_classes: As `bnn_alexnet`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer: Of the binary layers.
        kernel_quantizer: Of the binary layers.
        kernel_constraint: Of the binary layers.
        widths: `"official"` or `"matched"` (see above).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage or widths.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """
    filters = _widths("alexnet", widths)
    return _at_stage(lambda: baselines.bnn_alexnet(
        input_shape=input_shape, num_classes=num_classes, input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint,
        filters=filters), stage)


@register_model(recipe="binaryduo", deployed={"stage": "decoupled"})
def binaryduo_resnet18(*, input_shape: tuple[int, int, int] = (224, 224, 3),
                       num_classes: int = 1000, stage: str = "ternary",
                       input_quantizer: str | Callable | None = "ternary_sign",
                       kernel_quantizer: str | Callable | None = "ste_sign",
                       kernel_constraint: str | Callable | None = "weight_clip",
                       stem: str | None = None, widths: str = "official") -> keras.Model:
    """ResNet-18 (Bi-Real double skips), by default at the official coupled stage widths.

    `widths="official"`: stages of 64-90-180-360 channels; decoupled, 1.5 % fewer
    parameters and 28 % more binary MACs than `bnn_resnet18`. `widths="matched"`:
    45-90-181-368, within 0.2 % of both. The official ResNet carries the residual stream
    as two copies, averages them at a downsample and widens the last conv to 512; here
    the stream stays one real-valued tensor (Bi-Real Net's), which the decoupled
    activation reads, and the last stage keeps its width throughout.

    ```python
    import zoo

    model = zoo.get_model("binaryduo_resnet18", input_shape=(32, 32, 3), num_classes=10,
                          widths="matched")
    ```

    # Arguments
        input_shape: As `bnn_resnet18`.
        num_classes: As `bnn_resnet18`.
        stem: As `bnn_resnet18`.
        stage: `"ternary"` or `"decoupled"`.
        input_quantizer: Of the binary convs.
        kernel_quantizer: Of the binary convs.
        kernel_constraint: Of the binary convs.
        widths: `"official"` or `"matched"` (see above).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage or widths.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
        - Liu et al., [Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
          Representational Capability and Advanced Training
          Algorithm](https://arxiv.org/abs/1808.00278), ECCV 2018.
    """
    stage_filters = _widths("resnet18", widths)
    return _at_stage(lambda: resnets.bnn_resnet18(
        input_shape=input_shape, num_classes=num_classes, input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint,
        stem=stem, stage_filters=stage_filters), stage)

"""ReCU's networks: binary convs with the ReCU clamp, their τ moved by the recipe.

Every binary conv is a `keras_bnn.layers.ReCUConv2D` (weight standardization, the clamp at
±Q(τ), the `ReCUActivation` binarizer and a learnable per-channel scale), bias-free and
padded with +1; the first conv and the classifier are full precision. The ResNets have
Bi-Real Net's double skip connections and clip the residual stream to [-1, 1] after the
stem and after every addition (hard tanh), and a BatchNorm sits between the global
pooling and the classifier, as in the official code.

`tau=None` (default) starts τ at 0.85 and leaves it to the `recu` recipe's
`TauScheduler` (0.85 -> 0.99); a number fixes τ for the whole run, `tau=1.0` being the
paper's ablation without the clamp.

```python
import zoo

model = zoo.get_model("recu_resnet20")                 # τ scheduled by the recipe
no_clamp = zoo.get_model("recu_resnet20", tau=1.0)     # the ablation
```

Differences from the official code: binary convs pad with +1 where it pads the binarized
input with 0 (Larq Compute Engine's fast padding needs ±1); `alpha` starts at 1 where it
starts uniform in [0, 1); BatchNorm gammas start at 1 (the ImageNet code starts them at
1e-8); its CIFAR ResNet-18 has one shortcut per basic block where here every binary conv
has its own, like its ResNet-20 and ImageNet ResNets; its VGG-small puts a hard tanh before
the classifier (here it reads the last BatchNorm).

References:
- Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
  Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, and its official code.
- Liu et al., [Bi-Real Net](https://arxiv.org/abs/1808.00278), ECCV 2018.
"""

import functools
from collections.abc import Callable

import tensorflow as tf
import tf_keras as keras

from keras_bnn.layers import HardTanh
from keras_bnn.quantizers import TAU_START, check_tau
from zoo import baselines, blocks, resnets
from zoo.registry import register_model

def _recu_conv(tau: float | None) -> Callable[..., tf.Tensor]:
    """The ReCU conv function for `tau` (None: scheduled, starting at 0.85)."""
    return blocks.make_recu_conv(TAU_START if tau is None else check_tau(tau))


def _recu_resnet(name: str, input_shape: tuple[int, int, int], num_classes: int,
                 tau: float | None, stem: str, stage_filters: tuple[int, ...],
                 blocks_per_stage: int | tuple[int, ...],
                 shortcut: Callable[..., tf.Tensor]) -> keras.Model:
    """A ReCU ResNet: stem, hard tanh, Bi-Real stages with clipping, pooling, BN, classifier."""
    inputs = keras.Input(input_shape)
    x = resnets.stem_block(inputs, stem, stage_filters[0])
    x = HardTanh(name="stem_clip")(x)
    unit = functools.partial(resnets.bireal_unit, conv=_recu_conv(tau), shortcut=shortcut,
                             clip=True)
    x = resnets.bireal_stages(x, stage_filters, blocks_per_stage, unit)
    outputs = resnets.classifier_head(x, num_classes, batch_norm=True)
    return keras.Model(inputs, outputs, name=name)


@register_model(recipe="recu")
def recu_resnet20(*, input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10,
                  tau: float | None = None) -> keras.Model:
    """ReCU's CIFAR ResNet-20: 16-32-64 channels, 3 basic blocks per stage.

    A full-precision 3x3 conv of 16 channels, then 18 ReCU convs, each with its own
    shortcut; at a downsample the shortcut is 2x2 average pooling and zero channels (no
    parameters). The paper reports 87.4 % on CIFAR-10 (600 epochs).

    ```python
    import zoo

    model = zoo.get_model("recu_resnet20", input_shape=(28, 28, 1))
    ```

    # Arguments
        input_shape: Image shape, channels last.
        num_classes: Number of classes (the head outputs logits).
        tau: None (scheduled by the recipe, starting at 0.85) or a fixed τ in `(0.5, 1]`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, and the official code.
    """
    return _recu_resnet("recu_resnet20", input_shape, num_classes, tau, "cifar", (16, 32, 64),
                        3, resnets.zero_pad_shortcut)


@register_model(recipe="recu")
def recu_resnet18_cifar(*, input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10,
                        tau: float | None = None) -> keras.Model:
    """ReCU's CIFAR ResNet-18: a 3x3 stem, 64-128-256-512 channels, 2 basic blocks per stage.

    Like `recu_resnet20` (zero-channel shortcuts), four stages wide. The paper reports
    92.8 % on CIFAR-10.

    ```python
    import zoo

    model = zoo.get_model("recu_resnet18_cifar", tau=1.0)  # the ablation without the clamp
    ```

    # Arguments
        input_shape: As `recu_resnet20`.
        num_classes: As `recu_resnet20`.
        tau: As `recu_resnet20`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    return _recu_resnet("recu_resnet18_cifar", input_shape, num_classes, tau, "cifar",
                        (64, 128, 256, 512), 2, resnets.zero_pad_shortcut)


@register_model(recipe="recu")
def recu_resnet18(*, input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = 1000,
                  tau: float | None = None) -> keras.Model:
    """ReCU's ImageNet ResNet-18: the 7x7/2 stem and max-pool, 64-128-256-512 channels.

    16 ReCU convs with their own shortcuts; at a downsample the shortcut is a
    full-precision strided 1x1 conv and BatchNorm. The paper reports 61.0 % top-1.

    ```python
    import zoo

    imagenet = zoo.get_model("recu_resnet18")
    quick = zoo.get_model("recu_resnet18", input_shape=(32, 32, 3), num_classes=10)
    ```

    # Arguments
        input_shape: As `recu_resnet20` (ImageNet sizes; from 32x32 up
            works for quick tests).
        num_classes: As `recu_resnet20` (ImageNet sizes; from 32x32 up
            works for quick tests).
        tau: As `recu_resnet20` (ImageNet sizes; from 32x32 up
            works for quick tests).

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    return _recu_resnet("recu_resnet18", input_shape, num_classes, tau, "imagenet",
                        (64, 128, 256, 512), 2, resnets.strided_conv_shortcut)


@register_model(recipe="recu")
def recu_resnet34(*, input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = 1000,
                  tau: float | None = None) -> keras.Model:
    """ReCU's ImageNet ResNet-34: as `recu_resnet18` with 3-4-6-3 basic blocks per stage.

    The paper reports 65.1 % top-1.

    ```python
    import zoo

    model = zoo.get_model("recu_resnet34", input_shape=(64, 64, 3), num_classes=200)
    ```

    # Arguments
        input_shape: As `recu_resnet18`.
        num_classes: As `recu_resnet18`.
        tau: As `recu_resnet18`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    return _recu_resnet("recu_resnet34", input_shape, num_classes, tau, "imagenet",
                        (64, 128, 256, 512), (3, 4, 6, 3), resnets.strided_conv_shortcut)


@register_model(recipe="recu")
def recu_vgg_small(*, input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10,
                   tau: float | None = None,
                   width_multiplier: float = 1.0) -> keras.Model:
    """ReCU's VGG-small for CIFAR-10 (the layout of `bnn_vgg_small`) with ReCU convs.

    The paper reports 92.2 % on CIFAR-10.

    ```python
    import zoo

    model = zoo.get_model("recu_vgg_small", input_shape=(28, 28, 1), width_multiplier=0.5)
    ```

    # Arguments
        input_shape: As `recu_resnet20`.
        num_classes: As `recu_resnet20`.
        tau: As `recu_resnet20`.
        width_multiplier: As `bnn_vgg_small`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]`, `width_multiplier <= 0` or images smaller
            than 8x8.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    return baselines.vgg_small(_recu_conv(tau), input_shape, num_classes, width_multiplier,
                               name="recu_vgg_small")


@register_model(recipe="recu")
def recu_small(*, input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10,
               tau: float | None = None) -> keras.Model:
    """`recu_vgg_small` at 1/8 width (16-16-32-32-64-64 channels): the default of `train.py`.

    Small enough to train on a CPU. How accurate the `recu` recipe makes it on
    Fashion-MNIST, against the other methods at the same size, is measured in
    benchmarks/results/accuracy_fashion_mnist.md, which names the command that wrote it.

    ```python
    import zoo

    model = zoo.get_model("recu_small")  # 28x28x1, 10 classes
    ```

    # Arguments
        input_shape: As `recu_resnet20`.
        num_classes: As `recu_resnet20`.
        tau: As `recu_resnet20`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for τ outside `(0.5, 1]` or images smaller than 8x8.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    return baselines.vgg_small(_recu_conv(tau), input_shape, num_classes, 0.125,
                               name="recu_small")

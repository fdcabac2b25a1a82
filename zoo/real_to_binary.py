"""Real-to-Binary's ResNet-18 and its strong baseline, in the variants of progressive training.

Both networks are Bi-Real-style ResNet-18s (every binary 3x3 conv with its own shortcut)
whose unit is the strong baseline's (Martinez et al., Section 4.1):

    shortcut(x) + PReLU(scale(conv(sign(BN(x)))))

- `strong_baseline_resnet18` scales each binary conv's output with a learned factor per
  channel, row and column (`keras_bnn.layers.LearnedRescaling`, XNOR-Net++);
- `real_to_binary_resnet18` scales it with the data-driven gate computed from the conv's
  real-valued input, `sigmoid(W2 ReLU(W1 GAP(BN(x))))`, reduction 8
  (`keras_bnn.layers.DataDrivenGate`, Section 4.3).

A downsampling unit's shortcut is 2x2 average pooling, a full-precision 1x1 conv and
BatchNorm; the stem (ImageNet 7x7/2 conv and max-pool, or CIFAR 3x3 conv, picked by the
image size) with BatchNorm and ReLU, and the classifier after global average pooling, are
full precision. Each network comes in the three variants (`stage=`) that the progressive
recipe (`zoo.recipes.real_to_binary`) trains one after the other, with the same weights:

| stage | activations | weights |
| --- | --- | --- |
| `"real"` | `tanh` (a soft sign, `keras_bnn.quantizers.TanhSign`) | real |
| `"binary_activations"` | `sign` (`ste_sign`) | real |
| `"binary"` (default, the deployed network) | `sign` (`ste_sign`) | `sign`, scaled per output channel |

In the binary stage the weights are `sign(W)` times the mean `|W|` of each output channel
(Bi-Real Net's `magnitude_aware_sign`; latent weights clipped to [-1, 1]): the switch from
the real weights of the stage before keeps each conv's output scale (plain `sign(W)`
multiplies it by 1 / mean `|W|`, about 28x for a fresh Glorot-uniform 3x3x64 -> 64 kernel,
which the stage then spends its first epochs undoing), and Larq Compute Engine folds the
scale into its `LceBconv2d`.

`block_outputs(model)` names the layers that end each basic block, where attention
matching compares a student with its teacher.

```python
import zoo

student = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), num_classes=10)
teacher = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), num_classes=10,
                        stage="binary_activations")
pairs = [(name, name) for name in zoo.real_to_binary.block_outputs(student)]
```

Differences from larq-zoo's `RealToBinaryNet`: binary convs pad with +1 (Larq Compute
Engine's fast padding) where it pads with 0; binary weights are magnitude-aware (above)
where its are plain `sign(W)`; the strong baseline's stem ends in ReLU like the full
network's (larq-zoo's ends in PReLU), so that the two differ only in the scaling.

References:
- Martinez et al., [Training Binary Neural Networks with Real-to-Binary
  Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020.
- Bulat and Tzimiropoulos, [XNOR-Net++: Improved Binary Neural
  Networks](https://arxiv.org/abs/1909.13863), BMVC 2019.
- Liu et al., [Bi-Real Net](https://arxiv.org/abs/1808.00278), ECCV 2018.
"""

import functools
import re
from collections.abc import Callable

import tensorflow as tf
import tf_keras as keras

from keras_bnn.layers import DataDrivenGate, LearnedRescaling
from zoo import blocks, resnets
from zoo.registry import register_model

# Per stage: the input quantizer, kernel quantizer and kernel constraint of the binary convs.
STAGES = {
    "real": ("tanh_sign", None, None),
    "binary_activations": ("ste_sign", None, None),
    "binary": ("ste_sign", "magnitude_aware_sign", "weight_clip"),
}

_BLOCK_OUTPUT = re.compile(r"stage\d+_block\d+_2_add")


def block_outputs(model: keras.Model) -> list[str]:
    """The names of the layers of `model` that end its basic blocks, in order.

    ```python
    import zoo
    from zoo.real_to_binary import block_outputs

    model = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), num_classes=10)
    block_outputs(model)  # ["stage1_block1_2_add", ..., "stage4_block2_2_add"]: 8 blocks
    ```

    # Arguments
        model: A `real_to_binary_resnet18` or `strong_baseline_resnet18` (any zoo ResNet
            built of `zoo.resnets.bireal_stages` names its layers the same way).

    # Returns
        A list of layer names, one per basic block.
    """
    return [layer.name for layer in model.layers if _BLOCK_OUTPUT.fullmatch(layer.name)]


def learned_rescaling(conv_input: tf.Tensor, conv_output: tf.Tensor, name: str) -> tf.Tensor:
    """The strong baseline's scaling: learned factors per channel, row and column
    (`keras_bnn.layers.LearnedRescaling`, named `{name}_rescale`); `conv_input` is unused.

    ```python
    import tensorflow as tf
    from zoo.real_to_binary import learned_rescaling

    conv_input, conv_output = tf.keras.Input((8, 8, 64)), tf.keras.Input((8, 8, 64))
    y = learned_rescaling(conv_input, conv_output, "stage1_block1_1")
    ```

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.1.
        - Bulat and Tzimiropoulos, [XNOR-Net++: Improved Binary Neural
          Networks](https://arxiv.org/abs/1909.13863), BMVC 2019.
    """
    del conv_input
    return LearnedRescaling(name=f"{name}_rescale")(conv_output)


def data_driven_gate(conv_input: tf.Tensor, conv_output: tf.Tensor, name: str) -> tf.Tensor:
    """Real-to-Binary's scaling: a gate per sample and channel from the conv's real input
    (`keras_bnn.layers.DataDrivenGate`, reduction 8, named `{name}_gate`).

    ```python
    import tensorflow as tf
    from zoo.real_to_binary import data_driven_gate

    conv_input, conv_output = tf.keras.Input((8, 8, 64)), tf.keras.Input((8, 8, 128))
    y = data_driven_gate(conv_input, conv_output, "stage2_block1_1")  # 8x8x128
    ```

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.3.
    """
    return DataDrivenGate(reduction=8, name=f"{name}_gate")([conv_input, conv_output])


def _unit(x: tf.Tensor, filters: int, strides: int, name: str, *,
          conv: Callable[..., tf.Tensor],
          scaling: Callable[[tf.Tensor, tf.Tensor, str], tf.Tensor]) -> tf.Tensor:
    """`shortcut(x) + PReLU(scaling(BN(x), conv(BN(x))))`."""
    residual = x
    if strides != 1 or x.shape[-1] != filters:
        residual = resnets.avgpool_conv_shortcut(x, filters, strides, name=f"{name}_shortcut")
    conv_input = blocks.batch_norm(x, name=f"{name}_bn")
    y = conv(conv_input, filters, 3, strides=strides, name=f"{name}_conv")
    y = scaling(conv_input, y, name)
    y = keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(y)
    return keras.layers.Add(name=f"{name}_add")([y, residual])


def _resnet18(name: str, scaling: Callable[[tf.Tensor, tf.Tensor, str], tf.Tensor],
              input_shape: tuple[int, int, int], num_classes: int, stage: str,
              stem: str | None, stage_filters: tuple[int, ...]) -> keras.Model:
    """A Bi-Real ResNet-18 of `_unit`s with `scaling`, at `stage`."""
    if stage not in STAGES:
        raise ValueError(f"Unknown {name} stage {stage!r}; expected one of {tuple(STAGES)}.")
    blocks.check_input_size(input_shape, 8, name)
    conv = blocks.make_binary_conv(*STAGES[stage])
    inputs = keras.Input(input_shape)
    x = resnets.stem_block(inputs, resnets.resolve_stem(stem, input_shape), stage_filters[0])
    x = keras.layers.ReLU(name="stem_relu")(x)
    unit = functools.partial(_unit, conv=conv, scaling=scaling)
    x = resnets.bireal_stages(x, stage_filters, 2, unit)
    return keras.Model(inputs, resnets.classifier_head(x, num_classes), name=name)


@register_model(recipe="real_to_binary")
def real_to_binary_resnet18(
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    stage: str = "binary",
    stem: str | None = None,
    stage_filters: tuple[int, ...] = (64, 128, 256, 512),
) -> keras.Model:
    """Real-to-Binary's ResNet-18: the strong baseline with data-driven gates.

    16 binary 3x3 convs, each followed by `DataDrivenGate` (computed from the conv's
    real-valued input), PReLU and the addition of its own shortcut. The paper reports
    65.4 % top-1 on ImageNet (larq-zoo's released weights: 65.01 %).

    ```python
    import zoo

    model = zoo.get_model("real_to_binary_resnet18")                   # ImageNet, binary
    cifar = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3),
                          num_classes=10, stage="real")                # CIFAR stem, stage 1
    ```

    # Arguments
        input_shape: Image shape, channels last.
        num_classes: Number of classes (the head outputs logits).
        stage: `"real"`, `"binary_activations"` or `"binary"` (see the module).
        stem: `"imagenet"`, `"cifar"`, or None for the CIFAR stem on images of at most
            64x64 pixels and the ImageNet stem otherwise.
        stage_filters: Channels of the four stages.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage or stem, or images smaller than 8x8.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020.
    """
    return _resnet18("real_to_binary_resnet18", data_driven_gate, input_shape, num_classes,
                     stage, stem, stage_filters)


@register_model(recipe="two_step")
def strong_baseline_resnet18(
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    stage: str = "binary",
    stem: str | None = None,
    stage_filters: tuple[int, ...] = (64, 128, 256, 512),
) -> keras.Model:
    """Real-to-Binary's strong baseline ResNet-18: learned rescaling, PReLU, double skips.

    `real_to_binary_resnet18` with `LearnedRescaling` (per channel, row and column) in
    place of the data-driven gate. The paper trains it in two steps, binary activations
    with real weights, then binary weights: the `two_step` recipe.

    ```python
    import zoo

    step_1 = zoo.get_model("strong_baseline_resnet18", input_shape=(32, 32, 3),
                           num_classes=10, stage="binary_activations")
    step_2 = zoo.get_model("strong_baseline_resnet18", input_shape=(32, 32, 3),
                           num_classes=10)
    step_2.set_weights(step_1.get_weights())  # the same weights, now binarized
    ```

    # Arguments
        input_shape: As `real_to_binary_resnet18`.
        num_classes: As `real_to_binary_resnet18`.
        stage: As `real_to_binary_resnet18`.
        stem: As `real_to_binary_resnet18`.
        stage_filters: As `real_to_binary_resnet18`.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for an unknown stage or stem, or images smaller than 8x8.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.1.
    """
    return _resnet18("strong_baseline_resnet18", learned_rescaling, input_shape, num_classes,
                     stage, stem, stage_filters)

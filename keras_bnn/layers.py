"""Keras layers of the binary-network methods.

ReCU's binary conv, `ReCUConv2D`, owns the τ of its clamp as a non-trainable variable and
scales its output per channel by a learnable `alpha`, as in the official code. ReCU's
ResNets clip their residual stream with `HardTanh` and widen it at a downsample with
`PadChannels` (zero channels: a shortcut without parameters).

BinaryDuo's decoupling (`keras_bnn.decouple`) turns each ternary activation over C channels
into 2C binary-ready channels, with one of two layers:

- `DecoupledActivation`: `[x + t, x - t]`, with the two offsets trainable per channel;
- `DuplicateChannels` followed by a `BatchNormalization` over 2C channels whose betas are
  shifted by `+t` and `-t` (used where a BatchNorm feeds only the ternary activation, so
  that both halves keep their own BatchNorm, as in the official code);

and `Scale` keeps the following binary conv's output equal to the ternary one (a
constant factor that Larq Compute Engine folds into its binary convolution).

Real-to-Binary's binary convs scale their outputs: the strong baseline by a learned
`LearnedRescaling` (factors per output channel, row and column), the full method by the
data-driven `DataDrivenGate` computed from the block's real-valued input.

```python
import keras_bnn
import larq as lq
import tensorflow as tf

inputs = tf.keras.Input((8, 8, 32))
x = keras_bnn.layers.DecoupledActivation(threshold=0.5)(inputs)   # 32 -> 64 channels
x = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0,
                          input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                          kernel_constraint="weight_clip")(x)
x = keras_bnn.layers.Scale(0.5)(x)
model = tf.keras.Model(inputs, x)
```
"""

from collections.abc import Callable
from typing import Any

from keras_bnn._keras import keras, lq, register_serializable, tf
from keras_bnn.graphs import all_layers
from keras_bnn.quantizers import TAU_START, ReCU, check_tau

__all__ = ["DataDrivenGate", "DecoupledActivation", "DuplicateChannels", "HardTanh",
           "LearnedRescaling", "PadChannels", "ReCUConv2D", "Scale", "recu_layers"]


@register_serializable()
class DecoupledActivation(keras.layers.Layer):
    r"""BinaryDuo's decoupled activation: C channels in, 2C binary-ready channels out.

    \\[
    [x_1 \dots x_C] \mapsto [x_1 + o_1, \dots, x_C + o_C,\; x_1 + o_{C+1}, \dots, x_C + o_{2C}]
    \\]

    with trainable offsets `o` initialised to `+threshold` (first copy) and `-threshold`
    (second copy). Binarizing the output with `sign` gives `b1 = sign(x + t)` and
    `b2 = sign(x - t)`, whose mean is BinaryDuo's ternary activation
    `0.5 * (b1 + b2)`; a binary conv over `[b1, b2]` with kernel `[W, W]` scaled by 0.5 equals
    the ternary conv with kernel `W`. In stage 2 the two copies train their offsets apart.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import DecoupledActivation

    y = DecoupledActivation(threshold=0.5)(tf.zeros((1, 4, 4, 8)))  # shape (1, 4, 4, 16)
    ```

    # Arguments
        threshold: `t` of the ternary activation being decoupled, > 0.

    # Raises
        ValueError: if `threshold <= 0`.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """

    def __init__(self, threshold: float = 0.5, **kwargs: Any) -> None:
        if not threshold > 0:
            raise ValueError(f"`threshold` must be > 0, got {threshold}.")
        super().__init__(**kwargs)
        self.threshold = threshold

    def build(self, input_shape: tf.TensorShape) -> None:
        channels = input_shape[-1]
        initial = [self.threshold] * channels + [-self.threshold] * channels
        self.offset = self.add_weight(
            "offset", shape=(2 * channels,), initializer=keras.initializers.Constant(initial)
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.concat([inputs, inputs], axis=-1) + self.offset

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape(input_shape[:-1]).concatenate([2 * input_shape[-1]])

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


@register_serializable()
class DuplicateChannels(keras.layers.Layer):
    """Concatenates the input with itself along the channels: C channels in, 2C out.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import DuplicateChannels

    y = DuplicateChannels()(tf.zeros((1, 4, 4, 8)))  # shape (1, 4, 4, 16)
    ```
    """

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.concat([inputs, inputs], axis=-1)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape(input_shape[:-1]).concatenate([2 * input_shape[-1]])


@register_serializable()
class Scale(keras.layers.Layer):
    """Multiplies its input by a constant (not trained).

    ```python
    import tensorflow as tf
    from keras_bnn.layers import Scale

    y = Scale(0.5)(tf.ones((1, 2)))  # [[0.5, 0.5]]
    ```

    # Arguments
        scale: The constant factor.
    """

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


@register_serializable()
class LearnedRescaling(keras.layers.Layer):
    r"""Scales a conv output by learned factors per channel, row and column.

    \\( y_{hwc} = x_{hwc} \, \alpha_c \beta_h \gamma_w \\): the rank-one rescaling
    \\( \Gamma = \alpha \otimes \beta \otimes \gamma \\) of XNOR-Net++, which
    Real-to-Binary's strong baseline puts after every binary conv. All factors start at 1.
    In a Larq Compute Engine export the channel factors fold into the binary conv and the
    row and column factors run as one float multiply-add.

    ```python
    import larq as lq
    import tensorflow as tf
    from keras_bnn.layers import LearnedRescaling

    x = tf.keras.Input((8, 8, 16))
    y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign")(x)
    y = LearnedRescaling()(y)  # 32 + 8 + 8 learned factors
    ```

    # Raises
        ValueError: (when built) for an input that is not (batch, H, W, C) of known size.

    # References
        - Bulat and Tzimiropoulos, [XNOR-Net++: Improved Binary Neural
          Networks](https://arxiv.org/abs/1909.13863), BMVC 2019.
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.1.
    """

    def build(self, input_shape: tf.TensorShape) -> None:
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(f"LearnedRescaling needs a (batch, H, W, C) input of known size, "
                             f"got {tuple(input_shape)}.")
        _, height, width, channels = input_shape
        self.channel_scale = self.add_weight("channel_scale", (channels,), initializer="ones")
        self.row_scale = self.add_weight("row_scale", (height, 1, 1), initializer="ones")
        self.column_scale = self.add_weight("column_scale", (width, 1), initializer="ones")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        scaled = inputs * self.channel_scale
        # Written as x + x * (s - 1): LCE's converter would fold a plain x * s into the
        # binary conv's per-channel multiplier, whose kernel then refuses the (H, W, 1) shape.
        return scaled + scaled * (self.row_scale * self.column_scale - 1.0)


@register_serializable()
class DataDrivenGate(keras.layers.Layer):
    r"""Real-to-Binary's data-driven channel rescaling of a binary conv's output.

    Called on `[x_real, y]`: \\( G = \sigma(W_2 \, \mathrm{ReLU}(W_1 \,
    \mathrm{GAP}(x_{real}))) \\), one factor per sample and output channel computed from
    the real-valued input of the block, and returns `y * G`. `W1` reduces the input channels
    by `reduction` (8 in the paper), `W2` maps them to `y`'s channels; no biases. In a Larq
    Compute Engine export the gate runs in float beside the binary conv.

    ```python
    import larq as lq
    import tensorflow as tf
    from keras_bnn.layers import DataDrivenGate

    x_real = tf.keras.Input((8, 8, 64))
    y = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign")(x_real)
    y = DataDrivenGate()([x_real, y])  # y scaled per sample and channel
    ```

    # Arguments
        reduction: How much narrower the hidden layer is than `x_real`.

    # Raises
        ValueError: for `reduction < 1`.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.3 (Eq. 6).
    """

    def __init__(self, reduction: int = 8, **kwargs: Any) -> None:
        if reduction < 1:
            raise ValueError(f"DataDrivenGate needs reduction >= 1, got {reduction}.")
        super().__init__(**kwargs)
        self.reduction = reduction

    def build(self, input_shape: list[tf.TensorShape]) -> None:
        real_shape, output_shape = input_shape
        hidden = max(1, real_shape[-1] // self.reduction)
        self.squeeze = self.add_weight("squeeze", (real_shape[-1], hidden),
                                       initializer="glorot_uniform")
        self.excite = self.add_weight("excite", (hidden, output_shape[-1]),
                                      initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        real, outputs = inputs
        pooled = tf.reduce_mean(real, axis=[1, 2])
        gate = tf.sigmoid(tf.nn.relu(pooled @ self.squeeze) @ self.excite)
        return outputs * gate[:, None, None, :]

    def compute_output_shape(self, input_shape: list[tf.TensorShape]) -> tf.TensorShape:
        return tf.TensorShape(input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "reduction": self.reduction}


@register_serializable()
class HardTanh(keras.layers.Layer):
    """Clips its input to `[-1, 1]` (PyTorch's `Hardtanh`), gradient 1 inside, 0 outside.

    ReCU's ResNets clip the residual stream after every addition with it. Larq Compute
    Engine runs it as TFLite's float `RELU_N1_TO_1`.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import HardTanh

    y = HardTanh()(tf.constant([-2.0, 0.5, 3.0]))  # [-1.0, 0.5, 1.0]
    ```

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, official code.
    """

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(inputs, -1.0, 1.0)


@register_serializable()
class PadChannels(keras.layers.Layer):
    """Appends zero channels: `before` in front of the input's channels, `after` behind.

    The parameter-free shortcut of CIFAR ResNets ("option A" of He et al.), which ReCU's
    CIFAR networks use after a 2x2 average pooling where a stage doubles the channels.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import PadChannels

    y = PadChannels(8, 8)(tf.zeros((1, 4, 4, 16)))  # shape (1, 4, 4, 32)
    ```

    # Arguments
        before: Number of zero channels before the input's, >= 0.
        after: Number of zero channels after them, >= 0.

    # Raises
        ValueError: for a negative number.

    # References
        - He et al., [Deep Residual Learning for Image
          Recognition](https://arxiv.org/abs/1512.03385), CVPR 2016.
    """

    def __init__(self, before: int, after: int, **kwargs: Any) -> None:
        if before < 0 or after < 0:
            raise ValueError(f"PadChannels needs before >= 0 and after >= 0, got {before}, "
                             f"{after}.")
        super().__init__(**kwargs)
        self.before, self.after = before, after

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.pad(inputs, [[0, 0]] * (inputs.shape.rank - 1) + [[self.before, self.after]])

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        channels = input_shape[-1] + self.before + self.after
        return tf.TensorShape(input_shape[:-1]).concatenate([channels])

    def get_config(self) -> dict:
        return {**super().get_config(), "before": self.before, "after": self.after}


@register_serializable()
class ReCUConv2D(lq.layers.QuantConv2D):
    r"""ReCU's binary conv: `conv(sign(a0), sign(clip(w1, ±Q(τ)))) * alpha`.

    A larq `QuantConv2D` (so `lq.models.summary` counts its binary MACs) whose kernel
    quantizer is `keras_bnn.quantizers.ReCU` driven by the layer's own non-trainable `tau`
    variable (saved with the weights and in checkpoints; `TauScheduler` moves it), whose
    input quantizer is `ReCUActivation`, and whose output is scaled by a learnable
    per-output-channel `alpha`. The official code initialises alpha uniformly in [0, 1);
    here it starts at 1 (`alpha_initializer="ones"`), so that a fresh layer outputs the
    plain binary conv and the BatchNorm after it sees the usual scale.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import ReCUConv2D

    conv = ReCUConv2D(64, 3, padding="same", pad_values=1.0, tau=0.85)
    y = conv(tf.random.normal((1, 8, 8, 32)))
    conv.tau.assign(0.99)  # the next call clamps at Q(0.99)
    ```

    # Arguments
        filters: As `lq.layers.QuantConv2D`, like `kernel_size` and the options in `**kwargs`
            (`strides`, `padding`, `pad_values`, ...).
        kernel_size: As `lq.layers.QuantConv2D`.
        tau: Initial τ in `(0.5, 1]`.
        center: Center each output channel's weights before standardizing (official code).
        b_star: The Laplace scale standardization aims for (2 in the paper).
        alpha_initializer: Initializer of `alpha`.
        input_quantizer: Activation binarizer (default `ReCUActivation`).

    # Raises
        ValueError: for τ outside `(0.5, 1]`, `b_star <= 0`, a `kernel_quantizer`, a bias or
            an activation (the layer computes `conv * alpha`; put biases and activations
            after the BatchNorm that follows).

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """

    def __init__(self, filters: int, kernel_size: int | tuple[int, int], *, tau: float = TAU_START,
                 center: bool = True, b_star: float = 2.0,
                 alpha_initializer: str | keras.initializers.Initializer = "ones",
                 input_quantizer: str | Callable | None = "recu_activation",
                 **kwargs: Any) -> None:
        for name, allowed in (("kernel_quantizer", None), ("use_bias", False),
                              ("activation", None)):
            if kwargs.pop(name, allowed) not in (allowed, "linear"):
                raise ValueError(
                    f"ReCUConv2D takes no {name}: its kernel quantizer is ReCU and it "
                    "computes conv * alpha; add biases and activations after its BatchNorm."
                )
        self._recu_options = dict(center=center, b_star=b_star)
        ReCU(tau=tau, **self._recu_options)  # validates tau and b_star
        self.initial_tau = check_tau(tau)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        super().__init__(filters, kernel_size, input_quantizer=input_quantizer,
                         use_bias=False, **kwargs)

    def build(self, input_shape: tf.TensorShape) -> None:
        self.tau = self.add_weight(
            "tau", shape=(), initializer=keras.initializers.Constant(self.initial_tau),
            trainable=False,
        )
        self.kernel_quantizer = lq.quantizers.get_kernel_quantizer(
            ReCU(tau=self.tau, **self._recu_options)
        )
        super().build(input_shape)
        self.alpha = self.add_weight("alpha", shape=(self.filters,),
                                     initializer=self.alpha_initializer)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return super().call(inputs) * self.alpha

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("kernel_quantizer")  # always ReCU over the `tau` variable
        tau = float(keras.backend.get_value(self.tau)) if self.built else self.initial_tau
        return {**config, "tau": tau, **self._recu_options,
                "alpha_initializer": keras.initializers.serialize(self.alpha_initializer)}


def recu_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` (nested models included) whose kernel quantizer is ReCU.

    ```python
    import tensorflow as tf
    from keras_bnn.layers import ReCUConv2D, recu_layers

    inputs = tf.keras.Input((8, 8, 16))
    x = ReCUConv2D(16, 3, padding="same", pad_values=1.0, tau=0.9)(inputs)
    model = tf.keras.Model(inputs, ReCUConv2D(16, 3, padding="same", pad_values=1.0)(x))
    taus = [float(layer.tau.numpy()) for layer in recu_layers(model)]  # [0.9, 0.85]
    ```

    # Arguments
        model: A Keras model.

    # Returns
        A list of layers, in the model's order.
    """
    return [layer for layer in all_layers(model)
            if isinstance(getattr(layer, "kernel_quantizer", None), ReCU)]

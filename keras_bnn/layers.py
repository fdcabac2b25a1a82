"""Keras layers of the binary-network methods.

BinaryDuo's decoupling (`keras_bnn.decouple`) turns each ternary activation over C channels
into 2C binary-ready channels, with one of two layers:

- `DecoupledActivation`: `[x + t, x - t]`, with the two offsets trainable per channel;
- `DuplicateChannels` followed by a `BatchNormalization` over 2C channels whose betas are
  shifted by `+t` and `-t` (used where a BatchNorm feeds only the ternary activation, so
  that both halves keep their own BatchNorm, as in the official code);

and `Scale` keeps the following binary conv's output equal to the ternary one (a
constant factor that Larq Compute Engine folds into its binary convolution).

```python
x = keras_bnn.layers.DecoupledActivation(threshold=0.5)(x)        # C -> 2C channels
x = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0,
                          input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                          kernel_constraint="weight_clip")(x)
x = keras_bnn.layers.Scale(0.5)(x)
```
"""

from keras_bnn._keras import keras, register_serializable, tf

__all__ = ["DecoupledActivation", "DuplicateChannels", "Scale"]


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
    y = DecoupledActivation(threshold=0.5)(tf.zeros((1, 4, 4, 8)))  # shape (1, 4, 4, 16)
    ```

    # Arguments
        threshold: `t` of the ternary activation being decoupled, > 0.

    # Raises
        ValueError: if `threshold <= 0`.

    # References
        - [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by Coupling
          Binary Activations](https://arxiv.org/abs/2002.06517)
    """

    def __init__(self, threshold=0.5, **kwargs):
        if not threshold > 0:
            raise ValueError(f"`threshold` must be > 0, got {threshold}.")
        super().__init__(**kwargs)
        self.threshold = threshold

    def build(self, input_shape):
        channels = input_shape[-1]
        initial = [self.threshold] * channels + [-self.threshold] * channels
        self.offset = self.add_weight(
            "offset", shape=(2 * channels,), initializer=keras.initializers.Constant(initial)
        )
        super().build(input_shape)

    def call(self, inputs):
        return tf.concat([inputs, inputs], axis=-1) + self.offset

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[:-1]).concatenate([2 * input_shape[-1]])

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@register_serializable()
class DuplicateChannels(keras.layers.Layer):
    """Concatenates the input with itself along the channels: C channels in, 2C out.

    ```python
    y = DuplicateChannels()(tf.zeros((1, 4, 4, 8)))  # shape (1, 4, 4, 16)
    ```
    """

    def call(self, inputs):
        return tf.concat([inputs, inputs], axis=-1)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[:-1]).concatenate([2 * input_shape[-1]])


@register_serializable()
class Scale(keras.layers.Layer):
    """Multiplies its input by a constant (not trained).

    ```python
    y = Scale(0.5)(x)
    ```

    # Arguments
        scale: The constant factor.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}

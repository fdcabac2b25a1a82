"""Plain binary networks (BNN, Courbariaux et al. 2016) that the methods are compared with."""

from keras_bnn._keras import keras, lq


def bnn_small(
    input_shape=(28, 28, 1),
    num_classes=10,
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    width=64,
):
    """A small binary CNN for 28x28 images: float stem, two binary 3x3 convs, float head.

    The first conv and the classifier stay full precision, as in every method of this
    project; binary convs pad with +1 (`pad_values=1.0`), which BinaryDuo's decoupling and
    Larq Compute Engine's fast SAME padding both need.

    ```python
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
        - [Binarized Neural Networks](https://arxiv.org/abs/1602.02830)
    """
    binary = dict(
        padding="same",
        pad_values=1.0,
        use_bias=False,
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        kernel_constraint=kernel_constraint,
    )
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(width // 2, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = lq.layers.QuantConv2D(width, 3, **binary)(x)
    x = keras.layers.MaxPool2D()(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = lq.layers.QuantConv2D(width, 3, **binary)(x)
    x = keras.layers.MaxPool2D()(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="bnn_small")

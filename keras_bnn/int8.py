"""int8 for the layers of a binary network that stay full precision, in an LCE export.

A binary network keeps its first conv, its shortcuts, its classifier and the arithmetic
between binary convs (BatchNorm, additions, pooling) in full precision; in float32 they
dominate the file of a deployed model (2.8 of the 4.2 MB of a binary ResNet-18). Larq
Compute Engine's converter quantizes every tensor whose range it can read from a
TensorFlow fake-quant op (`tf.quantization.fake_quant_with_min_max_args`), with int8
weights per output channel, and its binary ops take int8 inputs and give int8 outputs. So:

1. `calibrate` runs the model (inference mode) over real images and records the range of
   every tensor that becomes an op boundary in the converted program (`quantized_outputs`
   says which and why not the others), with the narrow `SIGN_RANGE` for the tensors that
   are only ever binarized;
2. `with_fake_quant` returns the model with a fake-quant op on each of those tensors (a
   clone that shares the model's layers and weights), which `keras_bnn.export.convert`
   then converts.

Ops without a readable range stay float between a dequantize and a quantize: the input
and the first conv (unless `quantize_input`), the inside of a layer that computes several
ops (Real-to-Binary's `DataDrivenGate`: a mean, two matrix products and a sigmoid), and
what `quantized_outputs` leaves out. On x86-64 the int8 program is about half the size and
no faster: the LCE interpreter runs int8 ops with TFLite's own kernels, not XNNPACK
(`python benchmarks/latency_breakdown.py`).

```python
import keras_bnn
import zoo
from keras_bnn import data
from keras_bnn.int8 import calibrate, with_fake_quant

model = zoo.get_model("bnn_small", width=16)
mnist = data.load("mnist", max_train_examples=256, max_test_examples=64)
calibration_images, _ = next(iter(mnist.train_dataset(256, augment=False)))
ranges = calibrate(model, calibration_images)          # real images, a few hundred
quantized = with_fake_quant(model, ranges)            # convert this with LCE
ranges["classifier"]  # (min, max) of the logits on those images
ranges["conv1_bn"]    # SIGN_RANGE, (-0.001, 0.001): only ever binarized (by conv2)
```

References:
- [Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
  Inference](https://arxiv.org/abs/1712.05877) (the int8 scheme TFLite implements)
- Larq Compute Engine issue #421: binary convs between int8 layers need ranges on both
  sides.
"""

import numpy as np

from keras_bnn._keras import keras, tf
from keras_bnn.graphs import consumers, has_graph, is_binary_layer, producers
from keras_bnn.layers import DuplicateChannels, PadChannels, Scale

__all__ = ["SIGN_RANGE", "calibrate", "quantized_outputs", "with_fake_quant"]

# Layers the converter folds into the conv or dense layer (or the chain of them) before.
_FUSED_INTO_PRODUCER = (keras.layers.BatchNormalization, keras.layers.ReLU, Scale)
_FUSING_PRODUCERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense,
                     *_FUSED_INTO_PRODUCER)
# Layers whose int8 output has their input's scale (TFLite requires it): their output
# takes the range of their input, and a range of its own would add a requantization.
_SCALE_KEEPING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
                  keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout, PadChannels)
# Of those, the ones that also keep the signs of their input (sign(f(x)) = f(sign(x))).
_SIGN_KEEPING = (keras.layers.MaxPooling2D, keras.layers.Flatten, keras.layers.Reshape,
                 keras.layers.Dropout, PadChannels)

# Layers on the way from a value to its sign that change it per channel, monotonically.
_TOWARDS_SIGNS = (*_SIGN_KEEPING, keras.layers.BatchNormalization, Scale, DuplicateChannels)

# The range of a tensor that is only ever binarized: ±1e-3, a step of 7.8e-6.
SIGN_RANGE = (-1e-3, 1e-3)


def _raw_binary_sums(model):
    """The names of the binary convs of `model` and of the `Scale` layers that only rescale
    their outputs (BinaryDuo's): tensors of integer sums of ±1 terms."""
    sources, raw = producers(model.get_config()), set()
    for layer in model.layers:
        if is_binary_layer(layer) or (isinstance(layer, Scale) and sources[layer.name]
                                      and set(sources[layer.name]) <= raw):
            raw.add(layer.name)
    return raw


def _check_flat_functional(model):
    if not has_graph(model) or len(model.inputs) != 1:
        raise ValueError(f"int8 export needs a functional or Sequential model with one input; "
                         f"{model.name!r} is not.")
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        raise ValueError(f"int8 export needs a model without nested models; {model.name!r} "
                         f"nests {nested}. Rebuild it flat (its layers called in one "
                         "functional model), or export it without int8.")


def _binarizes_its_input(layer):
    """Whether `layer` reads its input only through a 1-bit input quantizer (a sign)."""
    return getattr(getattr(layer, "input_quantizer", None), "precision", None) == 1


def _sign_paths(model, readers_of):
    """Per layer name, how its output is read: `"signs"` when only ever binarized (every
    reader binarizes it, directly or through layers that keep signs), `"towards signs"`
    when every path from it leads to a binarization through per-channel monotone layers
    (BatchNorm, `Scale`, `DuplicateChannels`, max-pooling), else None."""

    def reads_only(name, passing, memo):
        if name not in memo:
            readers = [model.get_layer(reader) for reader in readers_of[name]]
            memo[name] = bool(readers) and all(
                _binarizes_its_input(reader)
                or (isinstance(reader, passing) and reads_only(reader.name, passing, memo))
                for reader in readers)
        return memo[name]

    signs, towards = {}, {}
    return {layer.name: "signs" if reads_only(layer.name, _SIGN_KEEPING, signs)
            else "towards signs" if reads_only(layer.name, _TOWARDS_SIGNS, towards)
            else None
            for layer in model.layers}


def quantized_outputs(model: keras.Model,
                      quantize_input: bool = False) -> list[keras.layers.Layer]:
    """The layers of `model` whose output gets an int8 range; the input layer only when
    `quantize_input`. Left out are:

    - layers that keep their input's scale (pooling, reshaping, padding);
    - layers whose only reader the converter fuses into them (a conv before its BatchNorm);
    - binary convs (and a `Scale` of their output): a binary conv's own output is a sum of
      up to `kh * kw * C` terms of ±1 (±576 for 64 channels), and 8 bits would round away
      most of its levels before the BatchNorm that brings it back to a useful scale.
      Followed directly by that BatchNorm it gets int8 output anyway (the two fuse, and
      the BatchNorm's output has a range); followed by pooling first, it stays float up to
      the BatchNorm;
    - layers on the way from a value to a sign through per-channel monotone layers
      (BinaryDuo's duplicated BatchNorms): only the last of them, read as signs, gets a
      range, `SIGN_RANGE`.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.int8 import quantized_outputs

    model = zoo.get_model("bnn_small")
    names = [layer.name for layer in quantized_outputs(model)]
    # ['conv1_bn', 'conv2_bn', 'conv3_bn', 'global_average_pooling2d', 'classifier']:
    # no conv (fused into its BatchNorm, or binary), no max-pooling
    ```

    # Raises
        ValueError: for a model that is not functional with one input, or nests models.
    """
    _check_flat_functional(model)
    readers_of = consumers(model.get_config())
    paths, raw = _sign_paths(model, readers_of), _raw_binary_sums(model)
    chosen = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            if quantize_input:
                chosen.append(layer)
            continue
        if (isinstance(layer, _SCALE_KEEPING) or layer.name in raw
                or paths[layer.name] == "towards signs"):
            continue
        readers = [model.get_layer(name) for name in readers_of[layer.name]]
        fused = (isinstance(layer, _FUSING_PRODUCERS) and len(readers) == 1
                 and isinstance(readers[0], _FUSED_INTO_PRODUCER))
        if not fused:
            chosen.append(layer)
    return chosen


def calibrate(model: keras.Model, images: np.ndarray, *, quantize_input: bool = False,
              batch_size: int = 64) -> dict[str, tuple[float, float]]:
    """The range of every tensor that `with_fake_quant` quantizes, measured on `images`.

    A tensor that is only ever binarized (read only by binary convs) gets the narrow range
    `SIGN_RANGE` instead: int8 rounds every value within half a step of 0 to 0, whose sign
    is +1, so a calibrated range (step about 1/20 of a BatchNorm's output std) would flip
    the sign of about 1 % of the activations of every binary conv; in `SIGN_RANGE` all
    values saturate to ±127 except a band of ±4e-6 around 0, and the signs survive.

    # Arguments
        model: A functional (or Sequential) model with one input and no nested models.
        images: Calibration inputs, a NumPy batch of real images (a few hundred: the
            ranges are the minimum and maximum seen, widened to contain 0).
        quantize_input: Also quantize the model's input, so that the first layer runs in
            int8 too. Off by default: rounding a normalized image to 8 bits moves the first
            conv's outputs across the sign of the binary layer after it often enough to
            change 14-26 % of the top-1 answers of the shipped CIFAR-10 VGG-small models
            (0.4-9.5 % of the MNIST and Fashion-MNIST ones), against at most 1.8 % for all
            the rest together (`python benchmarks/int8_agreement.py`).
        batch_size: Images per inference call.

    # Returns
        `{layer name: (min, max)}` for the layers of `quantized_outputs` (the input
            layer's name for the model input).

    # Raises
        ValueError: for an empty batch, or a model `quantized_outputs` refuses.
    """
    images = np.asarray(images, dtype=np.float32)
    if not len(images):
        raise ValueError("calibrate needs at least one calibration image.")
    layers = quantized_outputs(model, quantize_input)
    paths = _sign_paths(model, consumers(model.get_config()))
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    lows, highs = np.full(len(layers), np.inf), np.full(len(layers), -np.inf)
    for start in range(0, len(images), batch_size):
        outputs = probe(images[start:start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        lows = np.minimum(lows, [float(np.min(tensor)) for tensor in outputs])
        highs = np.maximum(highs, [float(np.max(tensor)) for tensor in outputs])
    return {layer.name: SIGN_RANGE if paths[layer.name] == "signs" else _widened(low, high)
            for layer, low, high in zip(layers, lows, highs)}


def _widened(low, high):
    """`(low, high)` widened to contain 0 (int8 represents it exactly) and to 1e-6 at least."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    return (low, high) if high - low >= 1e-6 else (low - 5e-7, high + 5e-7)


def _fake_quant(x, value_range):
    low, high = value_range
    return tf.quantization.fake_quant_with_min_max_args(x, min=low, max=high, num_bits=8)


class _WithFakeQuant(keras.layers.Layer):
    """Calls `layer`, fake-quantizing its input (`input_range`) and output (`output_range`)."""

    def __init__(self, layer: keras.layers.Layer, input_range: tuple[float, float] | None,
                 output_range: tuple[float, float] | None) -> None:
        super().__init__(name=f"{layer.name}_int8")
        self.layer, self.input_range, self.output_range = layer, input_range, output_range

    def call(self, inputs: tf.Tensor, *args: object, **kwargs: object) -> tf.Tensor:
        if self.input_range is not None:
            inputs = _fake_quant(inputs, self.input_range)
        outputs = self.layer(inputs, *args, **kwargs)
        return outputs if self.output_range is None else _fake_quant(outputs, self.output_range)


def with_fake_quant(model: keras.Model, ranges: dict[str, tuple[float, float]]) -> keras.Model:
    """`model` with an 8-bit fake-quant op at every tensor `ranges` names, for conversion.

    The result shares the layers (and weights) of `model`; it is meant for
    `keras_bnn.export.convert`, not for training or saving.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.int8 import calibrate, with_fake_quant

    model = zoo.get_model("bnn_small", width=16)
    calibration_images = np.random.default_rng(0).normal(size=(64, 28, 28, 1))  # use real ones
    quantized = with_fake_quant(model, calibrate(model, calibration_images))
    quantized.get_layer("conv1_bn_int8")  # wraps conv1_bn, rounding its output to 8 bits
    ```

    # Arguments
        model: The model `ranges` was calibrated on.
        ranges: As `calibrate` returns them.

    # Returns
        A `tf_keras.Model` computing `model`'s function with its tensors rounded to 8 bits.

    # Raises
        ValueError: for ranges missing a tensor that needs one (calibrated on another model).
    """
    missing = sorted({layer.name for layer in quantized_outputs(model)} - set(ranges))
    if missing:
        raise ValueError(f"The ranges lack {missing[:5]}{' ...' if len(missing) > 5 else ''}: "
                         f"calibrate them on {model.name!r} itself.")
    readers_of = consumers(model.get_config())
    input_range = {reader: ranges[layer.name] for layer in model.layers
                   if isinstance(layer, keras.layers.InputLayer) and layer.name in ranges
                   for reader in readers_of[layer.name]}

    def clone(layer: keras.layers.Layer) -> _WithFakeQuant:
        return _WithFakeQuant(layer, input_range.get(layer.name), ranges.get(layer.name))

    return keras.models.clone_model(model, clone_function=clone)

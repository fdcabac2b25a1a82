"""Single-op Larq Compute Engine programs, and their outputs by LCE and by NumPy.

keras_bnn's runtime must run LCE's custom ops (`LceQuantize`, `LceDequantize`,
`LceBconv2d`, `LceBMaxPool2d`) bit for bit as LCE does. The builders here write TFLite
flatbuffers of one such op with every option LCE reads, with random constants and
inputs; `random_programs` draws a varied sweep of them. `lce_reference_outputs` runs a
program in LCE's own interpreter with its reference binary conv, `numpy_reference_outputs`
in a NumPy model of LCE 0.16's kernels that reads everything from the flatbuffer, so
that any single-op LCE program can be checked against either.

```python
import keras_bnn
from keras_bnn.runtime.programs import (lce_reference_outputs, numpy_reference_outputs,
                                        random_programs)

for program in random_programs(5):
    expected, modelled = lce_reference_outputs(program), numpy_reference_outputs(program)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(expected, modelled))
```
"""

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

__all__ = ["BITS", "Program", "bconv2d_program", "bmaxpool_program", "dequantize_program",
           "lce_reference_outputs", "lce_reference_runs", "numpy_reference_outputs",
           "pack_bits", "packed_size", "quantize_program", "random_programs", "unpack_bits",
           "with_constant"]

BITS = 32  # bits of one packed word (LCE's TBitpacked is an int32)
_INT32 = np.iinfo(np.int32)
_FLOAT32_TINY = np.finfo(np.float32).tiny  # the smallest normal float32

# TFLite schema enums, as LCE's converter writes them into the custom options.
_PADDINGS = {"same": schema.Padding.SAME, "valid": schema.Padding.VALID}
_ACTIVATIONS = {"none": schema.ActivationFunctionType.NONE,
                "relu": schema.ActivationFunctionType.RELU,
                "relu_n1_to_1": schema.ActivationFunctionType.RELU_N1_TO_1,
                "relu6": schema.ActivationFunctionType.RELU6}
# The clamp of each activation on the true conv value, as TFLite's
# CalculateActivationRange gives it for int32.
_ACTIVATION_RANGES = {schema.ActivationFunctionType.NONE: (_INT32.min, _INT32.max),
                      schema.ActivationFunctionType.RELU: (0, _INT32.max),
                      schema.ActivationFunctionType.RELU_N1_TO_1: (-1, 1),
                      schema.ActivationFunctionType.RELU6: (0, 6)}
_TENSOR_TYPES = {np.dtype(np.float32): schema.TensorType.FLOAT32,
                 np.dtype(np.int32): schema.TensorType.INT32,
                 np.dtype(np.int8): schema.TensorType.INT8,
                 np.dtype(np.bool_): schema.TensorType.BOOL}
_DTYPES = {code: dtype for dtype, code in _TENSOR_TYPES.items()}
_OUTPUT_DTYPES = {"float32": np.float32, "int8": np.int8, "bitpacked": np.int32}


@dataclasses.dataclass(frozen=True)
class Program:
    """A TFLite flatbuffer of one LCE op, with inputs for it.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program

    program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
    program.name              # "bconv2d b1 5x5x64>8 k3x3 s1x1 d1x1 same/pad1 none float32 g1 #0"
    program.inputs[0].shape   # (1, 5, 5, 2): 64 channels packed into 2 int32 words
    program.options["op"]     # "bconv2d"
    ```

    # Arguments
        name: Every option of the program in one short line, e.g.
            `"bconv2d b2 9x7x70>33 k3x2 s2x1 d1x1 same/pad0 relu6 int8 g1 #5"`.
        flatbuffer: The TFLite model bytes; its one input is the op's data input.
        inputs: The program's inputs, whole batch included.
        options: The keyword arguments that built it, plus `"op"`: the builder's name.
    """

    name: str
    flatbuffer: bytes
    inputs: list[np.ndarray]
    options: dict


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """A tensor of a single-op program: `data` for a constant, `quantization` is
    `(scale, zero_point)` or None."""

    shape: tuple
    dtype: np.dtype
    data: np.ndarray | None = None
    quantization: tuple | None = None


# ---------------------------------------------------------------------------------------
# Bit packing


def packed_size(channels: int) -> int:
    """The number of int32 words that hold `channels` bits.

    ```python
    from keras_bnn.runtime.programs import packed_size

    packed_size(32), packed_size(33)  # 1, 2
    ```
    """
    return -(-channels // BITS)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Packs a 0/1 array along its last axis as LCE does: bit i of word j is element
    32 j + i, and the padding bits of the last word are 0.

    ```python
    import numpy as np
    from keras_bnn.runtime.programs import pack_bits

    pack_bits(np.array([1, 0, 1] + [0] * 30))  # [5, 0]: bits 0 and 2 of the first word
    ```

    # Arguments
        bits: An array of 0 and 1 (or bools), of any shape.

    # Returns
        An int32 array of the same shape but for the last axis, `packed_size` of it.
    """
    channels = bits.shape[-1]
    padded = np.zeros((*bits.shape[:-1], packed_size(channels) * BITS), np.uint8)
    padded[..., :channels] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view("<i4").astype(np.int32)


def unpack_bits(words: np.ndarray, channels: int | None = None) -> np.ndarray:
    """The 0/1 bits (uint8) of int32 words packed by `pack_bits`: all of them, padding
    bits included, or the first `channels` along the last axis.

    ```python
    import numpy as np
    from keras_bnn.runtime.programs import pack_bits, unpack_bits

    bits = np.random.default_rng(0).integers(0, 2, (4, 70))
    assert (unpack_bits(pack_bits(bits), 70) == bits).all()
    unpack_bits(pack_bits(bits)).shape  # (4, 96): three words, padding bits 0
    ```
    """
    bytes_ = np.ascontiguousarray(words, dtype="<i4").view(np.uint8)
    bits = np.unpackbits(bytes_, axis=-1, bitorder="little")
    return bits if channels is None else bits[..., :channels]


def _random_bits(rng: np.random.Generator, shape: tuple[int, ...], channels: int,
                 density: float = 0.5) -> np.ndarray:
    """Packed random bits for `shape` (its last axis unpacked: `channels`), 1 with
    probability `density`, padding bits 0."""
    return pack_bits(rng.random((*shape, channels)) < density)


# ---------------------------------------------------------------------------------------
# Flatbuffers


def _flatbuffer(op_name: str, options: dict | None, inputs: list["_Tensor | None"],
                output: "_Tensor") -> bytes:
    """The bytes of a TFLite model with the one custom op `op_name`.

    # Arguments
        op_name: The custom code, e.g. `"LceBconv2d"`.
        options: A dict for the op's flexbuffer custom options, or None.
        inputs: The op's inputs, each a `_Tensor` or None (absent, index -1). The first
            one without `data` is the program's input.
        output: The op's output `_Tensor`.
    """
    model = schema.ModelT()
    model.version = 3
    model.description = "keras_bnn.runtime.programs"
    model.operatorCodes = [_custom_code(op_name)]
    model.buffers = [schema.BufferT()]  # buffer 0: the empty one of the non-constants
    subgraph = schema.SubGraphT()
    subgraph.name = "main"
    subgraph.tensors = []
    indices = []
    for position, tensor in enumerate([*inputs, output]):
        if tensor is None:
            indices.append(-1)
            continue
        indices.append(len(subgraph.tensors))
        subgraph.tensors.append(_tensor(f"{op_name}/{position}", tensor, model.buffers))
    operator = schema.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs, operator.outputs = indices[:-1], indices[-1:]
    if options is not None:
        operator.customOptions = np.frombuffer(bytes(flexbuffers.Dumps(options)), np.uint8)
        operator.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    subgraph.operators = [operator]
    subgraph.inputs = [index for index, tensor in zip(indices, inputs)
                       if tensor is not None and tensor.data is None]
    subgraph.outputs = indices[-1:]
    model.subgraphs = [subgraph]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _custom_code(op_name: str) -> schema.OperatorCodeT:
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = op_name
    code.version = 1
    return code


def _tensor(name: str, spec: _Tensor, buffers: list[schema.BufferT]) -> schema.TensorT:
    """A `TensorT` for `spec`; a constant's data is appended to `buffers`."""
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = np.array(spec.shape, np.int32)
    tensor.type = _TENSOR_TYPES[np.dtype(spec.dtype)]
    tensor.buffer = 0
    if spec.data is not None:
        buffer = schema.BufferT()
        data = np.ascontiguousarray(spec.data, spec.data.dtype.newbyteorder("<"))
        buffer.data = np.frombuffer(data.tobytes(), np.uint8)
        buffers.append(buffer)
        tensor.buffer = len(buffers) - 1
    if spec.quantization is not None:
        quantization = schema.QuantizationParametersT()
        quantization.scale = [float(np.float32(spec.quantization[0]))]
        quantization.zeroPoint = [int(spec.quantization[1])]
        tensor.quantization = quantization
    return tensor


@dataclasses.dataclass(frozen=True)
class _Op:
    """The one op of a single-op program as `numpy_reference_outputs` reads it.

    `inputs` holds a `_Tensor` per op input (None where absent), with `data` for the
    constants; `options` the decoded custom options.
    """

    name: str
    options: dict
    inputs: list
    output: _Tensor


def _read_op(flatbuffer: bytes) -> "_Op":
    """The `_Op` of a single-op flatbuffer."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    subgraph, = model.subgraphs
    operator, = subgraph.operators
    name = model.operatorCodes[operator.opcodeIndex].customCode
    name = name.decode() if isinstance(name, bytes) else name
    options = {} if operator.customOptions is None else \
        flexbuffers.Loads(np.asarray(operator.customOptions, np.uint8).tobytes())
    inputs = [_read_tensor(model, index) for index in operator.inputs]
    return _Op(name, options, inputs, _read_tensor(model, operator.outputs[0]))


def _read_tensor(model: schema.ModelT, index: int) -> _Tensor | None:
    """The `_Tensor` of tensor `index` of the model's subgraph (None for -1)."""
    if index < 0:
        return None
    tensor = model.subgraphs[0].tensors[index]
    dtype = _DTYPES[tensor.type]
    shape = tuple(int(size) for size in tensor.shape)
    raw = model.buffers[tensor.buffer].data
    data = None
    if raw is not None and len(raw):
        little_endian = np.asarray(raw, np.uint8).tobytes()
        data = np.frombuffer(little_endian, dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    quantization = tensor.quantization
    if quantization is None or quantization.scale is None or not len(quantization.scale):
        return _Tensor(shape, dtype, data)
    zero_point = 0 if quantization.zeroPoint is None else int(quantization.zeroPoint[0])
    return _Tensor(shape, dtype, data, (np.float32(quantization.scale[0]), zero_point))


# ---------------------------------------------------------------------------------------
# Builders


def bconv2d_program(*, batch: int, height: int, width: int, channels_in: int,
                    channels_out: int, kernel_size: tuple[int, int] = (3, 3),
                    strides: tuple[int, int] = (1, 1), dilations: tuple[int, int] = (1, 1),
                    padding: str = "same", pad_value: int = 1, activation: str = "none",
                    output: str = "float32", groups: int = 1, seed: int = 0) -> Program:
    """A program of one `LceBconv2d` with random input bits and constants.

    The filter is `[channels_out, kh, kw, ceil(channels_in / groups / 32)]` packed bits
    (padding bits 0). For float32 and int8 output the op gets a post-activation
    multiplier and bias (mixed signs and magnitudes, some exactly dyadic so that int8
    rounding meets ties) and no thresholds; for bitpacked output it gets thresholds spread
    over and just beyond the reachable accumulator range `[0, K]`, and no multiplier or
    bias, as LCE's converter writes them. The exception: bitpacked output with SAME zero
    padding keeps multiplier and bias, because LCE reads the multiplier for its padding
    correction whatever the output type (and crashes without one); the converter never
    writes that combination. int8 output gets a random scale and zero point.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program

    program = bconv2d_program(batch=2, height=9, width=7, channels_in=70, channels_out=33,
                              kernel_size=(3, 2), padding="same", pad_value=0,
                              activation="relu6", output="int8", seed=5)
    ```

    # Arguments
        batch, height, width, channels_in: The unpacked input shape (NHWC).
        channels_out: Output channels (unpacked, also for bitpacked output).
        kernel_size, strides, dilations: (height, width) pairs.
        padding: `"same"` or `"valid"`.
        pad_value: For SAME, 1 pads with +1 (bits 0), 0 with true zeros.
        activation: `"none"`, `"relu"`, `"relu_n1_to_1"` or `"relu6"`.
        output: `"float32"`, `"int8"` or `"bitpacked"` (int32 words).
        groups: Grouped conv: `channels_in / groups` must be a multiple of 32.
        seed: Seed of all random data.

    # Returns
        A `Program`, whose input is the packed int32 `[batch, height, width,
        ceil(channels_in / 32)]`.

    # Raises
        ValueError: for a configuration LCE cannot express.
    """
    options = dict(batch=batch, height=height, width=width, channels_in=channels_in,
                   channels_out=channels_out, kernel_size=tuple(kernel_size),
                   strides=tuple(strides), dilations=tuple(dilations), padding=padding,
                   pad_value=pad_value, activation=activation, output=output,
                   groups=groups, seed=seed)
    _check_bconv2d(options)
    rng = np.random.default_rng(seed)
    per_group = channels_in // groups
    depth = kernel_size[0] * kernel_size[1] * per_group  # K
    input_density, filter_density = rng.choice([0.5, 0.5, 0.5, 0.1, 0.9, 0.02], 2)
    packed_input = _random_bits(rng, (batch, height, width), channels_in, input_density)
    filter_ = _random_bits(rng, (channels_out, *kernel_size), per_group, filter_density)
    multiplier, bias = _post_activation(rng, channels_out)
    out_height, out_width = (_output_size(size, kernel, stride, dilation, padding)
                             for size, kernel, stride, dilation
                             in zip((height, width), kernel_size, strides, dilations))
    zero_padding = padding == "same" and pad_value == 0
    keep_transform = output != "bitpacked" or zero_padding
    inputs = [
        _Tensor(packed_input.shape, np.int32),
        _Tensor(filter_.shape, np.int32, filter_),
        _Tensor(multiplier.shape, np.float32, multiplier) if keep_transform else None,
        _Tensor(bias.shape, np.float32, bias) if keep_transform else None,
        _Tensor((channels_out,), np.int32, _thresholds(rng, channels_out, depth))
        if output == "bitpacked" else None,
    ]
    out_channels = packed_size(channels_out) if output == "bitpacked" else channels_out
    quantization = _int8_quantization(rng, multiplier, depth) if output == "int8" else None
    output_tensor = _Tensor((batch, out_height, out_width, out_channels),
                            _OUTPUT_DTYPES[output], quantization=quantization)
    custom_options = {
        "channels_in": channels_in,
        "dilation_height_factor": dilations[0], "dilation_width_factor": dilations[1],
        "fused_activation_function": _ACTIVATIONS[activation],
        "pad_values": pad_value, "padding": _PADDINGS[padding],
        "stride_height": strides[0], "stride_width": strides[1],
    }
    flatbuffer = _flatbuffer("LceBconv2d", custom_options, inputs, output_tensor)
    name = (f"bconv2d b{batch} {height}x{width}x{channels_in}>{channels_out} "
            f"k{kernel_size[0]}x{kernel_size[1]} s{strides[0]}x{strides[1]} "
            f"d{dilations[0]}x{dilations[1]} {padding}/pad{pad_value} {activation} {output} "
            f"g{groups} #{seed}")
    return Program(name, flatbuffer, [packed_input], {"op": "bconv2d", **options})


def _check_bconv2d(options: dict) -> None:
    """Raises ValueError for a conv configuration that LCE cannot express."""
    groups, channels_in = options["groups"], options["channels_in"]
    if groups > 1 and (channels_in % groups or (channels_in // groups) % BITS):
        raise ValueError(f"A grouped conv needs channels_in / groups a multiple of {BITS}: "
                         f"{channels_in} / {groups}.")
    if options["channels_out"] % groups:
        raise ValueError(f"channels_out {options['channels_out']} is not a multiple of "
                         f"groups {groups}.")
    if options["padding"] not in _PADDINGS or options["pad_value"] not in (0, 1) \
            or options["activation"] not in _ACTIVATIONS \
            or options["output"] not in _OUTPUT_DTYPES:
        raise ValueError(f"Unknown padding, pad_value, activation or output in {options}.")
    for size, kernel, dilation in zip((options["height"], options["width"]),
                                      options["kernel_size"], options["dilations"]):
        if options["padding"] == "valid" and (kernel - 1) * dilation + 1 > size:
            raise ValueError(f"A VALID conv needs the dilated kernel to fit the input: {options}.")


def _post_activation(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A post-activation multiplier and bias (float32): log-uniform magnitudes of both
    signs, and a third of each from the dyadic k / 4 (zero included)."""
    def draw() -> np.ndarray:
        magnitudes = np.exp(rng.uniform(np.log(1e-3), np.log(10.0), channels))
        values = magnitudes * rng.choice([-1.0, 1.0], channels)
        dyadic = rng.integers(-8, 9, channels) / 4
        return np.where(rng.random(channels) < 1 / 3, dyadic, values).astype(np.float32)

    return draw(), draw()


def _thresholds(rng: np.random.Generator, channels: int, depth: int) -> np.ndarray:
    """Thresholds for bitpacked output: spread over `[-2, depth + 1]` (the accumulator
    lies in `[0, depth]`), bunched a little around `depth / 2`, a few int32 extremes."""
    spread = rng.integers(-2, depth + 2, channels)
    middle = np.clip(np.round(rng.normal(depth / 2, 1 + depth ** 0.5 / 2, channels)),
                     -2, depth + 1)
    extremes = rng.choice([_INT32.min, _INT32.max], channels)
    choice = rng.random(channels)
    return np.where(choice < 0.5, spread,
                    np.where(choice < 0.95, middle, extremes)).astype(np.int32)


def _int8_quantization(rng: np.random.Generator, multiplier: np.ndarray,
                       depth: int) -> tuple[float, int]:
    """An int8 output (scale, zero point) that spreads the conv's outputs over the int8
    range, saturating some; a power of two now and then, for exact ties."""
    typical = float(np.max(np.abs(multiplier))) * max(1.0, depth ** 0.5) / 40
    scale = (typical if typical > 0 else 1.0) * np.exp(rng.uniform(np.log(0.25), np.log(4.0)))
    if rng.random() < 0.3:
        scale = 2.0 ** np.round(np.log2(scale))
    zero_point = int(rng.integers(-128, 128)) if rng.random() < 0.3 else int(rng.integers(-8, 9))
    return float(np.float32(scale)), zero_point


def quantize_program(*, shape: tuple[int, ...], input_type: str = "float32",
                     zero_point: int = 0, seed: int = 0) -> Program:
    """A program of one `LceQuantize`, which packs the signs of its input along the last
    axis.

    Float inputs hold, as far as they fit, exact 0.0 and -0.0, the smallest normal and
    denormal numbers of both signs, the largest finite ones and ±inf (no NaN), the rest
    random of all magnitudes; int8 inputs (scale 0.05, which LCE ignores) hold -128, 127
    and the zero point and its neighbours; bool inputs are random.

    ```python
    from keras_bnn.runtime.programs import quantize_program

    program = quantize_program(shape=(2, 3, 70), input_type="int8", zero_point=-3)
    ```

    # Arguments
        shape: The input shape, rank 1 to 4 (or more).
        input_type: `"float32"`, `"int8"` or `"bool"`.
        zero_point: The int8 input's zero point (ignored for the other types).
        seed: Seed of the random input.

    # Returns
        A `Program` whose output is int32 `shape[:-1] + (ceil(shape[-1] / 32),)`.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    values = _quantize_inputs(rng, input_type, math.prod(shape), zero_point).reshape(shape)
    quantization = (0.05, zero_point) if input_type == "int8" else None
    output = _Tensor((*shape[:-1], packed_size(shape[-1])), np.int32)
    flatbuffer = _flatbuffer("LceQuantize", None,
                             [_Tensor(shape, values.dtype, quantization=quantization)], output)
    zero = f" zp{zero_point}" if input_type == "int8" else ""
    name = f"quantize {input_type}{zero} {'x'.join(map(str, shape))} #{seed}"
    options = {"op": "quantize", "shape": shape, "input_type": input_type,
               "zero_point": zero_point, "seed": seed}
    return Program(name, flatbuffer, [values], options)


def _quantize_inputs(rng: np.random.Generator, input_type: str, size: int,
                     zero_point: int) -> np.ndarray:
    """`size` random values of `input_type` for `LceQuantize`, with the edge values of
    `quantize_program` at random places (as many as fit)."""
    if input_type == "bool":
        return rng.random(size) < 0.5
    if input_type == "float32":
        tiny, largest = np.finfo(np.float32).tiny, np.finfo(np.float32).max
        subnormal = np.finfo(np.float32).smallest_subnormal
        edges = np.array([0.0, -0.0, subnormal, -subnormal, tiny, -tiny, tiny / 2, -tiny / 2,
                          largest, -largest, np.inf, -np.inf], np.float32)
        magnitudes = np.exp(rng.uniform(np.log(1e-30), np.log(1e30), size))
        values = (magnitudes * rng.choice([-1.0, 1.0], size)).astype(np.float32)
    elif input_type == "int8":
        edges = np.clip([-128, 127, zero_point - 1, zero_point, zero_point + 1], -128, 127)
        values = rng.integers(-128, 128, size).astype(np.int8)
    else:
        raise ValueError(f"Unknown input type {input_type!r}: float32, int8 or bool.")
    count = min(size, len(edges))
    values[rng.permutation(size)[:count]] = edges[:count]
    return values


def dequantize_program(*, shape: tuple[int, ...], output_type: str = "float32",
                       scale: float = 1.0, zero_point: int = 0, seed: int = 0) -> Program:
    """A program of one `LceDequantize`, which unpacks bits (0: +1, 1: -1) along the
    last axis.

    ```python
    from keras_bnn.runtime.programs import dequantize_program

    program = dequantize_program(shape=(4, 33), output_type="int8", scale=0.4,
                                 zero_point=-5)
    ```

    # Arguments
        shape: The unpacked output shape; the input is int32 `shape[:-1] +
            (ceil(shape[-1] / 32),)` of random bits, padding bits 0.
        output_type: `"float32"`, `"int8"` or `"bool"` (+1 is true).
        scale, zero_point: The int8 output's quantization (ignored for the other types).
        seed: Seed of the random input.

    # Returns
        A `Program`.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    packed = _random_bits(rng, shape[:-1], shape[-1])
    dtype = {"float32": np.float32, "int8": np.int8, "bool": np.bool_}[output_type]
    quantization = (scale, zero_point) if output_type == "int8" else None
    flatbuffer = _flatbuffer("LceDequantize", None, [_Tensor(packed.shape, np.int32)],
                             _Tensor(shape, dtype, quantization=quantization))
    int8 = f" scale{np.float32(scale):.4g} zp{zero_point}" if output_type == "int8" else ""
    name = f"dequantize {output_type}{int8} {'x'.join(map(str, shape))} #{seed}"
    options = {"op": "dequantize", "shape": shape, "output_type": output_type,
               "scale": scale, "zero_point": zero_point, "seed": seed}
    return Program(name, flatbuffer, [packed], options)


def bmaxpool_program(*, batch: int, height: int, width: int, channels: int,
                     pool_size: tuple[int, int], strides: tuple[int, int], padding: str,
                     seed: int = 0) -> Program:
    """A program of one `LceBMaxPool2d`: the AND of the packed words over each window
    (for SAME, of the pixels inside the input), that is the max of the ±1 values.

    ```python
    from keras_bnn.runtime.programs import bmaxpool_program

    program = bmaxpool_program(batch=1, height=5, width=6, channels=40, pool_size=(2, 3),
                               strides=(2, 1), padding="same")
    ```

    # Arguments
        batch, height, width, channels: The unpacked input shape; the input is int32
            `[batch, height, width, ceil(channels / 32)]` of random bits, padding bits 0.
        pool_size, strides: (height, width) pairs.
        padding: `"same"` or `"valid"` (the window must fit the input).
        seed: Seed of the random input.

    # Returns
        A `Program`.

    # Raises
        ValueError: for a VALID window larger than the input.
    """
    if padding == "valid" and (pool_size[0] > height or pool_size[1] > width):
        raise ValueError(f"A VALID pool of {pool_size} does not fit {height}x{width}.")
    rng = np.random.default_rng(seed)
    density = rng.choice([0.5, 0.8, 0.95])  # mostly ones, for ANDs that are not all 0
    packed = _random_bits(rng, (batch, height, width), channels, density)
    out_height, out_width = (_output_size(size, pool, stride, 1, padding)
                             for size, pool, stride in zip((height, width), pool_size, strides))
    custom_options = {"filter_height": pool_size[0], "filter_width": pool_size[1],
                      "padding": _PADDINGS[padding], "stride_height": strides[0],
                      "stride_width": strides[1]}
    output = _Tensor((batch, out_height, out_width, packed.shape[-1]), np.int32)
    flatbuffer = _flatbuffer("LceBMaxPool2d", custom_options,
                             [_Tensor(packed.shape, np.int32)], output)
    name = (f"bmaxpool b{batch} {height}x{width}x{channels} p{pool_size[0]}x{pool_size[1]} "
            f"s{strides[0]}x{strides[1]} {padding} #{seed}")
    options = dict(op="bmaxpool", batch=batch, height=height, width=width,
                   channels=channels, pool_size=tuple(pool_size), strides=tuple(strides),
                   padding=padding, seed=seed)
    return Program(name, flatbuffer, [packed], options)


# ---------------------------------------------------------------------------------------
# The sweep

_CONV_WORK = 3e7  # the most word popcounts of LCE's reference conv in one sweep program


def random_programs(count: int, *, seed: int = 0,
                    lce_reference_only: bool = True) -> list[Program]:
    """`count` varied single-op programs: about 60 % `LceBconv2d`, 15 % each
    `LceQuantize` and `LceDequantize`, 10 % `LceBMaxPool2d`.

    Convs draw batch 1-8, height and width 1-16 (a tenth up to 40), channels_in and
    channels_out 1-300 (exact multiples of 32 and 64 and odd counts weighted up), kernels
    1-5 (independently per axis), strides 1-3, dilations 1-3, both paddings and pad
    values, all four activations and three output types, and grouped convs (a quarter),
    within a budget of work that keeps each program well under a second in LCE.
    Quantize and dequantize draw ranks 1-4 and all their types, zero points and int8
    scales; pools draw pool sizes 1-4, strides 1-3 and both paddings. Only valid
    configurations are drawn (VALID needs the dilated kernel to fit).

    ```python
    from keras_bnn.runtime.programs import random_programs

    programs = random_programs(20, seed=1)
    assert random_programs(5, seed=1)[4].name == programs[4].name  # program i is fixed
    ```

    # Arguments
        count: How many programs.
        seed: Seed of the whole sweep; program i is the same for any `count > i`.
        lce_reference_only: Leave out the configurations LCE's reference kernel refuses
            (SAME zero padding with an odd number of input channels per group), so that
            `lce_reference_outputs` can run every program.

    # Returns
        A list of `Program`s.
    """
    return [_random_program(np.random.default_rng([seed, index]), lce_reference_only)
            for index in range(count)]


def _random_program(rng: np.random.Generator, lce_reference_only: bool) -> Program:
    """One program of the sweep, drawn with `rng`."""
    draw = rng.random()
    program_seed = int(rng.integers(2 ** 31))
    if draw < 0.6:
        return bconv2d_program(**_random_bconv2d_options(rng, lce_reference_only),
                               seed=program_seed)
    if draw < 0.75:
        input_type = rng.choice(["float32", "int8", "bool"])
        return quantize_program(shape=_random_shape(rng), input_type=str(input_type),
                                zero_point=_random_zero_point(rng), seed=program_seed)
    if draw < 0.9:
        output_type = rng.choice(["float32", "int8", "bool"])
        return dequantize_program(shape=_random_shape(rng), output_type=str(output_type),
                                  scale=_random_scale(rng), zero_point=_random_zero_point(rng),
                                  seed=program_seed)
    return bmaxpool_program(**_random_bmaxpool_options(rng), seed=program_seed)


def _random_channels(rng: np.random.Generator) -> int:
    """1-300 channels: a third exact multiples of 32 (64s among them), a third odd."""
    kind = rng.random()
    if kind < 1 / 3:
        return int(rng.choice([32, 64, 96, 128, 160, 192, 256, 288]))
    if kind < 2 / 3:
        return int(rng.integers(0, 150)) * 2 + 1
    return int(rng.integers(1, 301))


def _random_size(rng: np.random.Generator) -> int:
    return int(rng.integers(1, 17)) if rng.random() < 0.9 else int(rng.integers(17, 41))


def _random_pair(rng: np.random.Generator, high: int, ones: float = 0.0) -> tuple[int, int]:
    """Two independent values in `[1, high]`, each 1 with extra probability `ones`."""
    return tuple(1 if rng.random() < ones else int(rng.integers(1, high + 1)) for _ in "hw")


def _random_bconv2d_options(rng: np.random.Generator, lce_reference_only: bool) -> dict:
    """Keyword arguments of `bconv2d_program` (but the seed) for a valid conv within the
    work budget; drawn again until one is."""
    while True:
        groups = int(rng.choice([2, 3, 4, 8])) if rng.random() < 0.25 else 1
        if groups > 1:
            channels_in = groups * BITS * int(rng.integers(1, 300 // (groups * BITS) + 1))
            channels_out = groups * int(rng.integers(1, 300 // groups + 1))
        else:
            channels_in, channels_out = _random_channels(rng), _random_channels(rng)
        options = dict(
            batch=int(rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8])),
            height=_random_size(rng), width=_random_size(rng),
            channels_in=channels_in, channels_out=channels_out,
            kernel_size=_random_pair(rng, 5), strides=_random_pair(rng, 3, ones=0.4),
            dilations=_random_pair(rng, 3, ones=0.6),
            padding=str(rng.choice(["same", "valid"])), pad_value=int(rng.integers(0, 2)),
            activation=str(rng.choice(list(_ACTIVATIONS))),
            output=str(rng.choice(list(_OUTPUT_DTYPES))), groups=groups)
        if _valid_conv(options, lce_reference_only) and _conv_work(options) <= _CONV_WORK:
            return options


def with_constant(program: Program, position: int, values: np.ndarray) -> Program:
    """`program` with the constant input `position` of its op replaced by `values` (of the
    same dtype and size), e.g. multipliers with infinities.

    ```python
    import numpy as np
    from keras_bnn.runtime.programs import bconv2d_program, numpy_reference_outputs, with_constant

    program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
    edge = with_constant(program, 2, np.full(8, np.inf, np.float32))  # the multipliers
    numpy_reference_outputs(edge)  # infinities and NaN, as LCE computes them
    ```

    # Arguments
        program: A single-op `Program`.
        position: The index of the constant among the op's inputs (for `LceBconv2d`:
            1 filter, 2 multiplier, 3 bias, 4 thresholds).
        values: The new constant.

    # Returns
        A new `Program` with the same name, inputs and options.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(program.flatbuffer))
    subgraph = model.subgraphs[0]
    tensor = subgraph.tensors[subgraph.operators[0].inputs[position]]
    little_endian = values.astype(values.dtype.newbyteorder("<")).tobytes()
    model.buffers[tensor.buffer].data = np.frombuffer(little_endian, np.uint8)
    flatbuffer = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return dataclasses.replace(program, flatbuffer=flatbuffer)


def lce_reference_runs(program: Program) -> bool:
    """Whether LCE's reference kernel runs `program`: it refuses a conv with SAME zero
    padding and an odd number of input channels per group.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program, lce_reference_runs

    assert not lce_reference_runs(bconv2d_program(batch=1, height=3, width=3, channels_in=33,
                                                  channels_out=8, pad_value=0))
    ```
    """
    return program.options["op"] != "bconv2d" or not _refused_by_lce(program.options)


def _refused_by_lce(options: dict) -> bool:
    return (options["padding"] == "same" and options["pad_value"] == 0
            and (options["channels_in"] // options["groups"]) % 2 == 1)


def _valid_conv(options: dict, lce_reference_only: bool) -> bool:
    """Whether `bconv2d_program` accepts the options, and (with `lce_reference_only`)
    LCE's reference kernel too."""
    refused = _refused_by_lce(options)
    fits = options["padding"] == "same" or all(
        (kernel - 1) * dilation + 1 <= size
        for size, kernel, dilation in zip((options["height"], options["width"]),
                                          options["kernel_size"], options["dilations"]))
    return fits and not (lce_reference_only and refused)


def _conv_work(options: dict) -> int:
    """Word popcounts of LCE's reference conv for the options."""
    out_height, out_width = (_output_size(size, kernel, stride, dilation, options["padding"])
                             for size, kernel, stride, dilation
                             in zip((options["height"], options["width"]),
                                    options["kernel_size"], options["strides"],
                                    options["dilations"]))
    words = packed_size(options["channels_in"] // options["groups"])
    return (options["batch"] * out_height * out_width * options["channels_out"]
            * options["kernel_size"][0] * options["kernel_size"][1] * words)


def _random_shape(rng: np.random.Generator) -> tuple[int, ...]:
    """Rank 1-4, last axis from `_random_channels`, the others 1-8."""
    rank = int(rng.integers(1, 5))
    return (*(int(size) for size in rng.integers(1, 9, rank - 1)), _random_channels(rng))


def _random_zero_point(rng: np.random.Generator) -> int:
    return int(rng.choice([-128, 127])) if rng.random() < 0.1 else int(rng.integers(-128, 128))


def _random_scale(rng: np.random.Generator) -> float:
    """int8 scales from 1e-4 (saturating ±1) to 1e3 (both bits at the zero point), some
    where 1 / scale is close to or exactly a tie."""
    if rng.random() < 0.3:
        return float(rng.choice([0.4, 2 / 3, 2.0, 2.5, 1 / 127.5, 1 / 2.5, 1.0]))
    return float(np.exp(rng.uniform(np.log(1e-4), np.log(1e3))))


def _random_bmaxpool_options(rng: np.random.Generator) -> dict:
    """Keyword arguments of `bmaxpool_program` (but the seed) for a valid pool."""
    while True:
        options = dict(batch=int(rng.integers(1, 9)), height=_random_size(rng),
                       width=_random_size(rng), channels=_random_channels(rng),
                       pool_size=_random_pair(rng, 4), strides=_random_pair(rng, 3),
                       padding=str(rng.choice(["same", "valid"])))
        fits = options["pool_size"][0] <= options["height"] \
            and options["pool_size"][1] <= options["width"]
        if options["padding"] == "same" or fits:
            return options


# ---------------------------------------------------------------------------------------
# Running


def lce_reference_outputs(program: Program) -> list[np.ndarray]:
    """The outputs of `program` in LCE's interpreter, its binary convs run by LCE's
    reference kernel (`use_reference_bconv=True`), one thread, the whole batch at once.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program, lce_reference_outputs

    expected, = lce_reference_outputs(bconv2d_program(batch=4, height=5, width=5,
                                                      channels_in=64, channels_out=8))
    ```

    # Returns
        A list with one array per output of the program.

    # Raises
        RuntimeError: where LCE refuses the program (its message names the check).
    """
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(program.flatbuffer, num_threads=1, use_reference_bconv=True)
    # LCE's `predict` runs one example at a time with a batch of 1; the wrapper beneath
    # it runs the tensors as they are.
    return [np.array(output) for output in interpreter.interpreter.predict(list(program.inputs))]


def numpy_reference_outputs(program: Program) -> list[np.ndarray]:
    """The outputs of `program` by a NumPy model of LCE 0.16's kernels on x86-64, bit for
    bit, reading the op, its options and constants from the flatbuffer.

    It models what LCE's x86 wheel does beyond the C++ it is built from: denormals
    flushed to zero (in `LceQuantize` too), int8 conv outputs saturated from any float
    (NaN gives 0), `LceDequantize`'s int8 offset overflowing to INT32_MIN, and the NaN
    an addition keeps. Beyond LCE's reference kernel it computes SAME zero padding with
    an odd number of input channels per group exactly (LCE refuses it): each padded
    kernel position counts as true zeros, that is as half the channels' popcount, in
    the doubled accumulator that LCE's output transform clamps.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program, numpy_reference_outputs

    program = bconv2d_program(batch=1, height=4, width=4, channels_in=3, channels_out=5,
                              pad_value=0)
    outputs = numpy_reference_outputs(program)  # LCE would refuse this one
    ```

    # Returns
        A list with the one output of the program.

    # Raises
        ValueError: for an op other than LCE's four.
    """
    op = _read_op(program.flatbuffer)
    if op.name not in _REFERENCES:
        raise ValueError(f"No NumPy reference for the op {op.name!r}.")
    return [_REFERENCES[op.name](op, program.inputs[0])]


def _output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """TFLite's output size of a windowed op along one axis."""
    if padding == "same":
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def _pads(size: int, kernel: int, stride: int, dilation: int,
          padding: str) -> tuple[int, int]:
    """The (before, after) padding of one axis as TFLite computes it: half of the total
    (rounded down) before, the rest after."""
    if padding == "valid":
        return 0, 0
    total = max(0, (_output_size(size, kernel, stride, dilation, padding) - 1) * stride
                + (kernel - 1) * dilation + 1 - size)
    return total // 2, total - total // 2


def _windows(array: np.ndarray, kernel_size: tuple[int, int], strides: tuple[int, int],
             dilations: tuple[int, int], padding: str,
             fill: float) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """For each kernel position (ky, kx), the `[batch, out_h, out_w, ...]` slice of
    `array` (`[batch, h, w, ...]`) it reads, padded with `fill`."""
    pads = [_pads(size, kernel, stride, dilation, padding)
            for size, kernel, stride, dilation
            in zip(array.shape[1:3], kernel_size, strides, dilations)]
    padded = np.pad(array, [(0, 0), *pads] + [(0, 0)] * (array.ndim - 3),
                    constant_values=fill)
    out_height, out_width = (_output_size(size, kernel, stride, dilation, padding)
                             for size, kernel, stride, dilation
                             in zip(array.shape[1:3], kernel_size, strides, dilations))
    for ky in range(kernel_size[0]):
        for kx in range(kernel_size[1]):
            top, left = ky * dilations[0], kx * dilations[1]
            yield (ky, kx), padded[:, top:top + (out_height - 1) * strides[0] + 1:strides[0],
                                   left:left + (out_width - 1) * strides[1] + 1:strides[1]]


@dataclasses.dataclass(frozen=True)
class _Conv:
    """The geometry of an `LceBconv2d`, from its options and filter shape."""

    kernel_size: tuple
    strides: tuple
    dilations: tuple
    padding: str
    pad_value: int
    groups: int  # packed channels_in / the filter's packed channels, as LCE infers it
    channels_per_group: int

    @property
    def depth(self) -> int:
        """K: the number of input bits one output value sums over."""
        return self.kernel_size[0] * self.kernel_size[1] * self.channels_per_group


def _conv(op: _Op) -> _Conv:
    """The `_Conv` of an `LceBconv2d` `_Op`."""
    options, filter_shape = op.options, op.inputs[1].shape
    groups = packed_size(options["channels_in"]) // filter_shape[3]
    return _Conv(kernel_size=filter_shape[1:3],
                 strides=(options["stride_height"], options["stride_width"]),
                 dilations=(options["dilation_height_factor"], options["dilation_width_factor"]),
                 padding=_padding_name(options["padding"]), pad_value=options["pad_values"],
                 groups=groups, channels_per_group=options["channels_in"] // groups)


def _padding_name(code: int) -> str:
    return {code: name for name, code in _PADDINGS.items()}[code]


def _doubled_accumulators(op: _Op, packed_input: np.ndarray) -> np.ndarray:
    """`x = 2 * accum` of LCE's binary conv, int64 `[batch, out_h, out_w, channels_out]`.

    accum sums popcount(input XOR filter) over the kernel's positions and the group's
    words, padding bits included. A position in the padding reads input bits 0 (+1)
    with pad value 1; with pad value 0 it adds `channels_in / groups` to x instead
    (LCE's reference adds half of that to accum, for an even count).
    """
    conv = _conv(op)
    filter_bits = unpack_bits(op.inputs[1].data).astype(np.float32)  # [O, kh, kw, Cbits]
    input_bits = unpack_bits(packed_input).astype(np.float32)  # [B, H, W, groups * Cbits]
    group_bits = filter_bits.shape[3]
    group_out = filter_bits.shape[0] // conv.groups
    inside = np.ones((1, *packed_input.shape[1:3], 1), np.float32)
    geometry = (conv.kernel_size, conv.strides, conv.dilations, conv.padding)
    total = 0
    for ((ky, kx), bits), (_, valid) in zip(_windows(input_bits, *geometry, fill=0),
                                            _windows(inside, *geometry, fill=0)):
        parts = []
        for group in range(conv.groups):
            a = bits[..., group * group_bits:(group + 1) * group_bits]
            f = filter_bits[group * group_out:(group + 1) * group_out, ky, kx]
            # popcount(a XOR f) = |a| + |f| - 2 a.f, all exact in float32
            parts.append(a.sum(-1, keepdims=True) + f.sum(-1) - 2 * (a @ f.T))
        doubled = 2 * np.concatenate(parts, axis=-1).astype(np.int64)
        if conv.padding == "same" and conv.pad_value == 0:
            doubled = np.where(valid > 0, doubled, conv.channels_per_group)
        total = total + doubled
    return total


def _clamp_range(op: _Op, depth: int) -> tuple[int, int]:
    """LCE's clamp of `x = 2 * accum` for the fused activation: the activation's range
    of the true value `depth - x`, first cut to `[-depth, depth]`, in terms of x."""
    low, high = _ACTIVATION_RANGES[op.options["fused_activation_function"]]
    low, high = max(low, -depth), min(high, depth)
    return depth - high, depth - low


def _output_transform(op: _Op, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """LCE's fused float32 multiplier and bias: in double, `-mul / scale` and
    `(bias + depth * mul) / scale + zero_point`, then rounded to float32 (denormals
    flushed)."""
    scale, zero_point = op.output.quantization or (1.0, 0)
    multiplier = op.inputs[2].data.astype(np.float64)
    bias = op.inputs[3].data.astype(np.float64)
    scale = np.float64(scale)
    return (_flush(-multiplier / scale),
            _flush((bias + np.float64(depth) * multiplier) / scale + zero_point))


def _flush(values: np.ndarray | float) -> np.ndarray:
    """float32 `values` as LCE computes them on x86-64: its wheel runs its kernels with
    the CPU's flush-to-zero and denormals-are-zero modes on, so a denormal result (or
    operand) is a zero of its sign."""
    values = np.asarray(values).astype(np.float32)
    return np.where(np.abs(values) < _FLOAT32_TINY, np.copysign(np.float32(0), values), values)


def _bconv2d_reference(op: _Op, packed_input: np.ndarray) -> np.ndarray:
    """`LceBconv2d`: float32, int8 or bitpacked output of the doubled accumulators."""
    doubled = _doubled_accumulators(op, packed_input)
    if op.output.dtype == np.int32:
        return pack_bits(doubled > 2 * op.inputs[4].data.astype(np.int64))
    depth = _conv(op).depth
    low, high = _clamp_range(op, depth)
    multiplier, bias = _output_transform(op, depth)
    # float32 multiply, then float32 add: LCE's x86 build has no fused multiply-add
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, inf - inf: NaN as in C
        product = _flush(np.clip(doubled, low, high).astype(np.float32) * multiplier)
        # x86 adds keep the NaN of their first operand, LCE's product, whatever the bias
        values = np.where(np.isnan(product), product, _flush(product + bias))
    return values if op.output.dtype == np.float32 else _to_int8(values)


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """std::round in float32: ties away from zero, exactly (no `x + 0.5`)."""
    whole = np.trunc(values)
    with np.errstate(invalid="ignore"):  # inf - inf: an infinity stays itself
        return whole + np.where(np.abs(values - whole) >= 0.5, np.sign(values), 0)


def _to_int32_x86(values: np.ndarray) -> np.ndarray:
    """Float to int32 as x86's cvttss2si does: NaN and values out of range give
    INT32_MIN (C++ leaves it undefined; LCE's x86 build gets this in `LceDequantize`)."""
    representable = np.isfinite(values) & (values >= -2.0 ** 31) & (values < 2.0 ** 31)
    whole = np.where(representable, values, 0).astype(np.int64)
    return np.where(representable, whole, _INT32.min).astype(np.int32)


def _to_int8(values: np.ndarray) -> np.ndarray:
    """LCE's int8 conv output: round half away from zero and saturate to [-128, 127],
    out-of-range values and infinities included; NaN gives 0. (The conversion of a
    value beyond int32 is undefined in C++; LCE's x86 build saturates it in float and
    converts NaN to INT32_MIN, whose low byte it stores.)"""
    rounded = np.clip(_round_half_away(values), -128, 127)
    return np.where(np.isnan(values), 0, rounded).astype(np.int8)


def _quantize_reference(op: _Op, values: np.ndarray) -> np.ndarray:
    """`LceQuantize`: bit 1 for the negative values, packed along the last axis.

    float32: `x < 0` with denormals read as zero (see `_flush`): -0.0, NaN and negative
    denormals give bit 0. int8: `q < zero_point`. bool: `not value`.
    """
    if values.dtype == np.float32:
        negative = _flush(values) < 0
    elif values.dtype == np.int8:
        zero_point = op.inputs[0].quantization[1] if op.inputs[0].quantization else 0
        negative = values.astype(np.int32) < zero_point
    else:
        negative = ~values.astype(bool)
    return pack_bits(negative)


def _dequantize_reference(op: _Op, packed: np.ndarray) -> np.ndarray:
    """`LceDequantize`: bit 0 gives +1 (true), bit 1 gives -1 (false).

    int8 writes `zero_point ± round(1 / scale)` saturated to int8, with LCE's arithmetic
    on x86: 1 / scale in float32 (a denormal scale reads as 0, which gives the same
    infinity), rounded half away from zero, converted as x86 does, the sums wrapping in
    int32, the result cut to its low byte.
    """
    channels = op.output.shape[-1]
    negative = unpack_bits(packed, channels).astype(bool)
    if op.output.dtype == np.float32:
        return np.where(negative, np.float32(-1), np.float32(1))
    if op.output.dtype == np.bool_:
        return ~negative
    scale, zero_point = op.output.quantization
    with np.errstate(divide="ignore", over="ignore"):
        offset = int(_to_int32_x86(_round_half_away(np.float32(1) / np.float32(scale))))
    plus = _wrap(min(127, _wrap(zero_point + offset, 32)), 8)
    minus = _wrap(max(-128, _wrap(zero_point - offset, 32)), 8)
    return np.where(negative, np.int8(minus), np.int8(plus))


def _wrap(value: int, bits: int) -> int:
    """An integer wrapped to a signed `bits`-bit integer, as C++ on x86 overflows or
    narrows it."""
    return (int(value) + 2 ** (bits - 1)) % 2 ** bits - 2 ** (bits - 1)


def _bmaxpool_reference(op: _Op, packed: np.ndarray) -> np.ndarray:
    """`LceBMaxPool2d`: the AND of the words of each window's pixels inside the input."""
    options = op.options
    pool_size = (options["filter_height"], options["filter_width"])
    strides = (options["stride_height"], options["stride_width"])
    result = np.full(op.output.shape, -1, np.int32)  # all ones: the AND of nothing
    for _, window in _windows(packed, pool_size, strides, (1, 1),
                              _padding_name(options["padding"]), fill=-1):
        result &= window
    return result


_REFERENCES = {"LceBconv2d": _bconv2d_reference, "LceQuantize": _quantize_reference,
               "LceDequantize": _dequantize_reference, "LceBMaxPool2d": _bmaxpool_reference}

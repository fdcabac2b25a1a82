"""Larq Compute Engine's converter and interpreter, as keras_bnn calls them.

`lce_flatbuffer` converts the inference call of a Keras model (in a child process, see
`keras_bnn.converter_process`), `lce_interpreter` runs a flatbuffer with a chosen binary
conv kernel, and `run` returns its outputs in the order of the Keras model's, which is not
the order the interpreter gives them in.

```python
flatbuffer = lce_flatbuffer(model)
outputs = run(flatbuffer, images)  # a list: one array per output of `model`
```
"""

import re
import tempfile

from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn._keras import tf
from keras_bnn.converter_process import convert_saved_model

__all__ = ["DEFAULT_KERNEL", "KERNELS", "inference_function", "lce_flatbuffer",
           "lce_interpreter", "run"]

# How the LCE interpreter runs a model: the kernel of its binary convs and, for "xnnpack",
# TFLite's XNNPACK delegate for the float ops beside them. On x86-64 LCE has no
# hand-optimized binary kernels: its default falls back to a slow generic one, the indirect
# BGEMM kernel is about 5x faster, and XNNPACK takes a further 5-7 % off the float stem,
# shortcuts and head (ResNet-18 at 224x224, one thread: 140 / 28.9 / 27.1 ms;
# `python benchmarks/inference.py`). So "xnnpack" is what this package runs.
KERNELS = {
    "default": {},
    "indirect_bgemm": {"use_indirect_bgemm": True},
    "reference": {"use_reference_bconv": True},
    "xnnpack": {"use_indirect_bgemm": True, "use_xnnpack": True},
}
DEFAULT_KERNEL = "xnnpack"


def lce_interpreter(flatbuffer, kernel=DEFAULT_KERNEL, num_threads=1):
    """The LCE interpreter for a flatbuffer, running its binary convs with `kernel`.

    ```python
    outputs = lce_interpreter(flatbuffer).predict(images)
    ```

    # Arguments
        flatbuffer: TFLite model bytes.
        kernel: A key of `KERNELS` (default `DEFAULT_KERNEL`, the fastest on x86-64).
        num_threads: Threads of the interpreter.

    # Raises
        ValueError: for an unknown kernel.
    """
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}.")
    return Interpreter(flatbuffer, num_threads=num_threads, **KERNELS[kernel])


def run(flatbuffer, inputs, kernel=DEFAULT_KERNEL):
    """The outputs of a flatbuffer made by `lce_flatbuffer`, in the Keras model's order.

    The converter orders a program's outputs as it likes (12 outputs came out as 11, 6, 1,
    9, ...); the signature it keeps names each `output_<i>` after its place in the Keras
    model's list (or by its key, for a dict of outputs), and that is the order returned
    here, as `tf.nest.flatten(model.predict(inputs))` orders the Keras ones.

    ```python
    logits, features = run(lce_flatbuffer(two_output_model), images)
    ```

    # Returns
        A list of NumPy arrays, one per output, even for a single output.
    """
    outputs = lce_interpreter(flatbuffer, kernel).predict(inputs)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return [outputs[position] for position in _keras_order(flatbuffer)]


def _keras_order(flatbuffer):
    """For each Keras output in turn, its position among the interpreter's outputs."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    positions = {tensor: position for position, tensor in enumerate(model.subgraphs[0].outputs)}
    if not model.signatureDefs:
        return list(range(len(positions)))
    named = {_output_key(output.name): output.tensorIndex
             for output in model.signatureDefs[0].outputs}
    return [positions[named[key]] for key in sorted(named)]


def _output_key(name):
    """`output_<i>` sorts by i; the keys of a model with a dict of outputs by name, as
    `tf.nest.flatten` orders them."""
    numbered = re.fullmatch(rb"output_(\d+)", name)
    return int(numbered[1]) if numbered else name.decode()


def inference_function(model):
    """The model's inference call (`training=False`) traced once for a batch of 1.

    ```python
    tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], model)
    ```
    """
    signature = [tf.TensorSpec((1, *tensor.shape[1:]), tensor.dtype) for tensor in model.inputs]

    def call(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    return tf.function(call, input_signature=signature).get_concrete_function()


def lce_flatbuffer(model):
    """The model converted by Larq Compute Engine, as bytes.

    `larq_compute_engine.convert_keras_model` first saves the whole Keras model, which
    traces every layer's training call as well: 12 s of 14 s for `recu_resnet20`. Saving
    only `inference_function(model)` with the model's variables gives the converter the
    same graph in 2 s. The converter runs in its own process
    (`keras_bnn.converter_process`): a crash of it raises `ConverterCrash` here.
    """
    module = tf.Module()
    module.model_variables = list(model.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures=inference_function(model))
        return convert_saved_model(directory)

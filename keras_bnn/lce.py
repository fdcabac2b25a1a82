"""Larq Compute Engine's converter, and the interpreters of its programs, as keras_bnn
calls them.

`lce_flatbuffer` converts the inference call of a Keras model (in a child process, see
`keras_bnn.converter_process`), `lce_interpreter` runs a flatbuffer with a chosen kernel
(keras_bnn's x86 runtime, `keras_bnn.runtime`, by default, or one of LCE's own), and `run`
returns its outputs in the order of the Keras model's, which is not the order the
interpreter gives them in.

```python
import keras_bnn
import numpy as np
import zoo
from keras_bnn.lce import lce_flatbuffer, run

model = zoo.get_model("bnn_small", width=16)
images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
flatbuffer = lce_flatbuffer(model)
outputs = run(flatbuffer, images)  # a list: one array per output of `model`, here (4, 10)
```
"""

import re
import tempfile
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from tensorflow.lite.tools import flatbuffer_utils

from keras_bnn._keras import keras, tf
from keras_bnn import runtime
from keras_bnn.converter_process import convert_saved_model

if TYPE_CHECKING:
    from larq_compute_engine.tflite.python.interpreter import Interpreter as LCEInterpreter

__all__ = ["DEFAULT_KERNEL", "FALLBACK_KERNEL", "KERNELS", "LCE_KERNELS", "RUNTIME_KERNELS",
           "available_kernels", "default_kernel", "inference_function", "lce_flatbuffer",
           "lce_interpreter", "run"]

# LCE's own interpreter: the kernel of its binary convs and, for "xnnpack", TFLite's XNNPACK
# delegate for the float ops beside them. LCE has no hand-optimized x86 binary kernels: its
# default falls back to a slow generic one and its indirect BGEMM is several times faster;
# "reference" is the plain loop keras_bnn's runtime is checked against, bit for bit.
LCE_KERNELS = {
    "default": {},
    "indirect_bgemm": {"use_indirect_bgemm": True},
    "reference": {"use_reference_bconv": True},
    "xnnpack": {"use_indirect_bgemm": True, "use_xnnpack": True},
}
# keras_bnn's runtime (`keras_bnn.runtime`), with XNNPACK for the float ops: the best kernel
# set this CPU has, or one of them forced.
RUNTIME_KERNELS = {"runtime": "auto", "runtime_avx512": "avx512", "runtime_avx2": "avx2",
                   "runtime_portable": "portable"}
KERNELS = (*LCE_KERNELS, *RUNTIME_KERNELS)
# What runs a program when no kernel is named: keras_bnn's runtime, the fastest on x86-64
# (`python benchmarks/inference.py`), else LCE's fastest x86 choice, with a warning saying
# why (on another machine, without a C compiler, or for a program the runtime refuses).
DEFAULT_KERNEL = "runtime"
FALLBACK_KERNEL = "xnnpack"


def available_kernels() -> list[str]:
    """The kernels of `KERNELS` that run on this machine: LCE's, and the runtime's whose
    instruction sets the CPU has (none where the runtime cannot be built).

    ```python
    import keras_bnn
    from keras_bnn.lce import available_kernels

    available_kernels()  # [..., "xnnpack", "runtime", "runtime_avx512", ...]
    ```
    """
    try:
        sets = runtime.available_kernels()
    except runtime.RuntimeUnavailable:
        sets = ()
    return [*LCE_KERNELS, *(name for name, kernel_set in RUNTIME_KERNELS.items()
                            if kernel_set in sets)]


def default_kernel() -> str:
    """What runs programs here when no kernel is named: `DEFAULT_KERNEL` where keras_bnn's
    runtime runs, else `FALLBACK_KERNEL`.

    ```python
    import keras_bnn
    from keras_bnn.lce import default_kernel

    default_kernel()  # "runtime" on x86-64 Linux with gcc, "xnnpack" elsewhere
    ```
    """
    return DEFAULT_KERNEL if DEFAULT_KERNEL in available_kernels() else FALLBACK_KERNEL


def lce_interpreter(flatbuffer: bytes, kernel: str | None = None,
                    num_threads: int = 1) -> "LCEInterpreter | runtime.Interpreter":
    """An interpreter of an LCE flatbuffer, running its binary ops with `kernel`.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.lce import lce_flatbuffer, lce_interpreter

    flatbuffer = lce_flatbuffer(zoo.get_model("bnn_small", width=16))
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    outputs = lce_interpreter(flatbuffer).predict(images)         # keras_bnn's runtime
    outputs = lce_interpreter(flatbuffer, "reference").predict(images)  # LCE's reference
    outputs.shape  # (4, 10)
    ```

    # Arguments
        flatbuffer: TFLite model bytes.
        kernel: One of `KERNELS`; None for `DEFAULT_KERNEL`, falling back to
            `FALLBACK_KERNEL` (with a warning) where the runtime cannot run the program.
        num_threads: Threads of the interpreter.

    # Returns
        LCE's `Interpreter` or a `keras_bnn.runtime.Interpreter` (the same methods).

    # Raises
        ValueError: for an unknown kernel; `keras_bnn.runtime.UnsupportedProgram` for a
            runtime kernel named on purpose and a program it does not run.
        keras_bnn.runtime.RuntimeUnavailable: for a runtime kernel named on purpose on a
            machine where it cannot run.
    """
    if kernel is None:
        try:
            return lce_interpreter(flatbuffer, DEFAULT_KERNEL, num_threads)
        except (runtime.RuntimeUnavailable, runtime.UnsupportedProgram) as error:
            warnings.warn(f"keras_bnn's runtime cannot run this program here ({error}); "
                          f"LCE's interpreter ({FALLBACK_KERNEL}) runs it.", stacklevel=2)
            return lce_interpreter(flatbuffer, FALLBACK_KERNEL, num_threads)
    if kernel in RUNTIME_KERNELS:
        return runtime.Interpreter(flatbuffer, num_threads=num_threads,
                                   kernel=RUNTIME_KERNELS[kernel])
    if kernel not in LCE_KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}.")
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=num_threads, **LCE_KERNELS[kernel])


def run(flatbuffer: bytes, inputs: np.ndarray | list[np.ndarray],
        kernel: str | None = None) -> list[np.ndarray]:
    """The outputs of a flatbuffer made by `lce_flatbuffer`, in the Keras model's order.

    The converter orders a program's outputs as it likes (12 outputs came out as 11, 6, 1,
    9, ...); the signature it keeps names each `output_<i>` after its place in the Keras
    model's list (or by its key, for a dict of outputs), and that is the order returned
    here, as `tf.nest.flatten(model.predict(inputs))` orders the Keras ones.

    ```python
    import keras_bnn
    import numpy as np
    import tensorflow as tf
    import zoo
    from keras_bnn.lce import lce_flatbuffer, run

    model = zoo.get_model("bnn_small", width=16)
    two_output_model = tf.keras.Model(model.inputs,
                                      [model.output, model.get_layer("conv3_bn").output])
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    logits, features = run(lce_flatbuffer(two_output_model), images)
    logits.shape, features.shape  # (4, 10), (4, 7, 7, 16): in the Keras model's order
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


def inference_function(model: keras.Model) -> Callable:
    """The model's inference call (`training=False`) traced once for a batch of 1.

    ```python
    import keras_bnn
    import tensorflow as tf
    import zoo
    from keras_bnn.lce import inference_function

    model = zoo.get_model("bnn_small", width=16)
    function = inference_function(model)
    function(tf.zeros((1, 28, 28, 1))).shape  # (1, 10)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    ```
    """
    signature = [tf.TensorSpec((1, *tensor.shape[1:]), tensor.dtype) for tensor in model.inputs]

    def call(*inputs: tf.Tensor) -> tf.Tensor:
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    return tf.function(call, input_signature=signature).get_concrete_function()


# What the converter reads is the inference graph: saving the gradient functions of the
# quantizers' custom gradients too (TensorFlow's default) took most of the save's time.
_INFERENCE_ONLY = tf.saved_model.SaveOptions(experimental_custom_gradients=False)


def lce_flatbuffer(model: keras.Model) -> bytes:
    """The model converted by Larq Compute Engine, as bytes.

    `larq_compute_engine.convert_keras_model` first saves the whole Keras model, which
    traces every layer's training call as well. Saving only `inference_function(model)`
    with the model's variables, without the custom gradients' functions, gives the
    converter the same graph in a fraction of the time. The converter runs in its own
    process (`keras_bnn.converter_process`): a crash of it raises `ConverterCrash` here.

    ```python
    import keras_bnn, zoo
    from keras_bnn.lce import lce_flatbuffer

    flatbuffer = lce_flatbuffer(zoo.get_model("bnn_small"))  # bytes of a .tflite file
    ```
    """
    module = tf.Module()
    module.model_variables = list(model.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures=inference_function(model),
                            options=_INFERENCE_ONLY)
        return convert_saved_model(directory)

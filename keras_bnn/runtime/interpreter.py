"""`Interpreter`: a Larq Compute Engine program run by TensorFlow Lite with keras_bnn's
own kernels for LCE's ops, as LCE's interpreter runs it (same methods, same results).

TensorFlow's stock `tf.lite.Interpreter` loads the runtime's library as an external
delegate (`tf.lite.experimental.load_delegate`), which claims the programs' `LceQuantize`,
`LceBconv2d`, `LceDequantize` and `LceBMaxPool2d` ops; XNNPACK runs the float ops around
them. A program with an LCE op or option the runtime does not run exactly is refused
(`UnsupportedProgram`, naming the op and the option), never run approximately.

```python
import keras_bnn
import numpy as np
import zoo
from keras_bnn import export
from keras_bnn.runtime import Interpreter

flatbuffer = export.convert(zoo.get_model("bnn_small")).flatbuffer
interpreter = Interpreter(flatbuffer, num_threads=2)
logits = interpreter.predict(np.zeros((3, 28, 28, 1), np.float32))  # one example at a time
print(interpreter.kernel)              # "avx512", "avx2" or "portable"
```

Reference: Bannink et al., [Larq Compute Engine: Design, Benchmark, and Deploy
State-of-the-Art Binarized Neural Networks](https://arxiv.org/abs/2011.09398), MLSys 2021
(the ops and their semantics).
"""

import ctypes
import re
import warnings

import numpy as np

from keras_bnn._keras import tf
from keras_bnn.runtime import build

__all__ = ["KERNELS", "TESTED_TENSORFLOW", "Interpreter", "UnsupportedProgram",
           "available_kernels", "check_tensorflow", "live_allocations"]

# The kernel sets: "auto" picks the best one this CPU has (AVX-512 with VPOPCNTDQ, else
# AVX2, else portable C); naming one forces it (to measure it, or to compare).
KERNELS = ("auto", "avx512", "avx2", "portable")

# TensorFlow versions whose TensorFlow Lite structs the native code was checked against
# (its `tflite_abi.h` declares them; the interpreter passes them by address and by value).
TESTED_TENSORFLOW = ("2.21",)


class UnsupportedProgram(ValueError):
    """A program with an op or an option the runtime does not run: the message names the
    op, its output tensor and the option. LCE's interpreter (`keras_bnn.lce`) runs it.

    ```python
    from keras_bnn.runtime import Interpreter, UnsupportedProgram

    try:
        Interpreter(b"not a TFLite program")
    except UnsupportedProgram as error:
        print(error)  # what TensorFlow Lite or the runtime refused
    ```
    """


def check_tensorflow(version: str | None = None) -> None:
    """Refuses a TensorFlow whose TensorFlow Lite structs were not checked.

    ```python
    from keras_bnn.runtime import RuntimeUnavailable, check_tensorflow

    check_tensorflow("2.21.0")  # fine
    try:
        check_tensorflow("2.22.0")
    except RuntimeUnavailable as error:
        print(error)  # keras_bnn's runtime was checked against TensorFlow 2.21, ...
    ```

    # Arguments
        version: A TensorFlow version; None for the one installed.

    # Raises
        keras_bnn.runtime.build.RuntimeUnavailable: for another version than
            `TESTED_TENSORFLOW`.
    """
    version = version or tf.__version__
    if ".".join(version.split(".")[:2]) not in TESTED_TENSORFLOW:
        raise build.RuntimeUnavailable(
            f"keras_bnn's runtime was checked against TensorFlow {', '.join(TESTED_TENSORFLOW)}, "
            f"whose TensorFlow Lite structs it shares, not against {version}; install a tested "
            "TensorFlow (constraints.txt) or use LCE's interpreter (kernel='xnnpack').")


def _library() -> ctypes.CDLL:
    return ctypes.CDLL(str(build.library_path()))


def available_kernels() -> tuple[str, ...]:
    """The kernel sets this CPU runs, "auto" first: every x86-64 CPU runs the portable
    one, an AVX-512 one (with VPOPCNTDQ) runs AVX2 too.

    ```python
    from keras_bnn.runtime import available_kernels

    available_kernels()  # ("auto", "avx512", "avx2", "portable") on a Zen 4 or Ice Lake
    ```

    # Raises
        keras_bnn.runtime.build.RuntimeUnavailable: where the runtime cannot be built.
    """
    library = _library()
    library.keras_bnn_runtime_best_kernel.restype = ctypes.c_char_p
    best = library.keras_bnn_runtime_best_kernel().decode()
    return KERNELS[:1] + KERNELS[KERNELS.index(best):]


def live_allocations() -> int:
    """Memory blocks the runtime holds in this process (0 when no interpreter is alive).

    ```python
    from keras_bnn.runtime import Interpreter, live_allocations
    from keras_bnn.runtime.programs import bconv2d_program

    program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
    with Interpreter(program.flatbuffer) as interpreter:
        assert live_allocations() > 0
    assert live_allocations() == 0
    ```
    """
    library = _library()
    library.keras_bnn_runtime_live_allocations.restype = ctypes.c_long
    return library.keras_bnn_runtime_live_allocations()


def _delegate_message(error: Exception) -> str:
    """The runtime's own sentence in a TensorFlow Lite error, else the whole error."""
    found = re.search(r"keras_bnn runtime: [^\n]*", str(error))
    return found[0] if found else str(error)


class Interpreter:
    """Runs an LCE flatbuffer with keras_bnn's kernels for LCE's ops.

    The same interface as `larq_compute_engine.tflite.python.interpreter.Interpreter`:
    `predict`, `input_types`, `input_shapes`, `output_types`, `output_shapes`.

    ```python
    from keras_bnn.runtime import Interpreter
    from keras_bnn.runtime.programs import bconv2d_program

    program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
    interpreter = Interpreter(program.flatbuffer, num_threads=2)
    outputs = interpreter.predict(program.inputs[0])  # shape (1, 5, 5, 8), float32
    ```

    # Arguments
        flatbuffer: The program (bytes of a `.tflite` file LCE's converter wrote).
        num_threads: Threads for the binary ops and for XNNPACK's float ops.
        kernel: One of `KERNELS`.
        batch_size: Examples per run; the program's own batch size by default (1 for
            `keras_bnn.export`'s programs). A larger one resizes the program.

    # Raises
        ValueError: for an unknown kernel or a bad number of threads.
        keras_bnn.runtime.build.RuntimeUnavailable: on a machine where the runtime cannot
            run (not x86-64 Linux, no C compiler, an untested TensorFlow, a kernel the CPU
            lacks).
        UnsupportedProgram: for a program with an op or option the runtime does not run.
    """

    def __init__(self, flatbuffer: bytes, num_threads: int = 1, kernel: str = "auto",
                 batch_size: int | None = None) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"Unknown kernel {kernel!r}: use one of {', '.join(KERNELS)}.")
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}.")
        check_tensorflow()
        path = build.library_path()
        try:
            self._delegate = tf.lite.experimental.load_delegate(
                str(path), {"kernel": kernel, "num_threads": num_threads})
        except ValueError as error:
            raise build.RuntimeUnavailable(f"keras_bnn's runtime: {error}") from None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            try:
                self._interpreter = tf.lite.Interpreter(
                    model_content=bytes(flatbuffer), experimental_delegates=[self._delegate],
                    num_threads=num_threads)
                self._interpreter.allocate_tensors()
                if batch_size is not None:
                    self._resize(batch_size)
            except (RuntimeError, ValueError) as error:
                raise UnsupportedProgram(_delegate_message(error)) from None
        library = _library()
        library.keras_bnn_runtime_kernel.restype = ctypes.c_char_p
        library.keras_bnn_runtime_kernel.argtypes = [ctypes.c_void_p]
        self.kernel = library.keras_bnn_runtime_kernel(
            self._delegate._get_native_delegate_pointer()).decode()
        self._inputs = self._interpreter.get_input_details()
        self._outputs = self._interpreter.get_output_details()

    def close(self) -> None:
        """Frees the program and the runtime's memory for it now, rather than whenever
        Python collects this object (also on leaving a `with` block).

        ```python
        from keras_bnn.runtime import Interpreter
        from keras_bnn.runtime.programs import bconv2d_program

        program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
        with Interpreter(program.flatbuffer) as interpreter:
            outputs = interpreter.predict(program.inputs[0])
        ```
        """
        self._interpreter = None  # first: TensorFlow Lite frees its kernels, ours included
        self._delegate = None

    def __enter__(self) -> "Interpreter":
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def _resize(self, batch_size: int) -> None:
        for detail in self._interpreter.get_input_details():
            self._interpreter.resize_tensor_input(detail["index"],
                                                  [batch_size, *detail["shape"][1:]])
        self._interpreter.allocate_tensors()

    @property
    def input_types(self) -> list:
        """The NumPy type of each input."""
        return [detail["dtype"] for detail in self._inputs]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each input, batch dimension included."""
        return [tuple(int(d) for d in detail["shape"]) for detail in self._inputs]

    @property
    def output_types(self) -> list:
        """The NumPy type of each output."""
        return [detail["dtype"] for detail in self._outputs]

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each output, batch dimension included."""
        return [tuple(int(d) for d in detail["shape"]) for detail in self._outputs]

    def predict(self, x: np.ndarray | list[np.ndarray],
                verbose: int = 0) -> np.ndarray | list[np.ndarray]:
        """The program's outputs for the examples in `x`, as LCE's interpreter gives them.

        ```python
        import numpy as np
        from keras_bnn.runtime import Interpreter
        from keras_bnn.runtime.programs import bconv2d_program

        program = bconv2d_program(batch=1, height=5, width=5, channels_in=64, channels_out=8)
        interpreter = Interpreter(program.flatbuffer, batch_size=2)
        images = np.concatenate([program.inputs[0]] * 4)   # (N, H, W, C), N = 4
        outputs = interpreter.predict(images)              # shape (4, 5, 5, 8)
        ```

        # Arguments
            x: An array of examples, or a list of arrays for a program with several
                inputs; their number a multiple of the program's batch size.
            verbose: Ignored (LCE's shows a progress bar).

        # Returns
            An array, or a list of arrays (one per output, in the program's order).

        # Raises
            ValueError: when the number of examples is not a multiple of the batch size.
        """
        del verbose
        inputs = x if isinstance(x, list) else [x]
        batch = self.input_shapes[0][0]
        count = len(inputs[0])
        if count % batch:
            raise ValueError(f"{count} examples do not make whole batches of {batch}.")
        results = [[] for _ in self._outputs]
        for start in range(0, count, batch):
            for detail, values in zip(self._inputs, inputs):
                self._interpreter.set_tensor(detail["index"],
                                             np.asarray(values[start:start + batch],
                                                        dtype=detail["dtype"]))
            self._interpreter.invoke()
            for result, detail in zip(results, self._outputs):
                result.append(self._interpreter.get_tensor(detail["index"]))
        outputs = [result[0] if len(result) == 1 else np.concatenate(result)
                   for result in results]
        return outputs[0] if len(outputs) == 1 else outputs

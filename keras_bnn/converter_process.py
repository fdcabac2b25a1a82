"""Larq Compute Engine's converter in a child process, so that its crash cannot take the
caller down.

The converter is native code; on some models it dies with a segmentation fault (larq-zoo's
DoReFaNet at 224x224 does), which in-process would end the user's Python session, and with
it a training run that exports at its end. `convert_saved_model` hands the SavedModel
folder to a converter process that this Python process starts once and keeps (so that
TensorFlow and LCE are imported once, not per conversion), and turns its death into
`ConverterCrash`; the next call starts a new one.

```python
import keras_bnn
import tensorflow as tf
from keras_bnn.converter_process import convert_saved_model

model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
tf.saved_model.save(model, "saved_model")
flatbuffer = convert_saved_model("saved_model")  # bytes of the .tflite program
```
"""

import os
import signal
import struct
import subprocess
import sys
from typing import IO

__all__ = ["ConverterCrash", "convert_saved_model"]

# The converter process: reads a SavedModel folder per line, answers with a status byte
# ("+" the flatbuffer follows, "!" an error message follows), a length and the payload, on
# its own copy of stdout; whatever else writes to stdout (Python or native code) goes to
# stderr, so that it cannot garble the answers.
_SERVER = """
import os, struct, sys
answers = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr
import larq_compute_engine as lce
for line in sys.stdin:
    try:
        status, payload = b"+", lce.convert_saved_model(line.rstrip("\\n"))
    except Exception as error:
        status, payload = b"!", f"{type(error).__name__}: {error}".encode()
    answers.write(status + struct.pack("<Q", len(payload)) + payload)
    answers.flush()
"""

_process = None


class ConverterCrash(RuntimeError):
    """LCE's converter process died while converting (a crash in its native code).

    ```python
    from keras_bnn.converter_process import ConverterCrash, convert_saved_model

    try:
        flatbuffer = convert_saved_model("saved_model")
    except ConverterCrash as error:
        print(error)  # Larq Compute Engine's converter crashed (signal SIGSEGV); ...
    except ValueError as error:
        print(error)  # Larq Compute Engine's converter failed: ... (no SavedModel there)
    ```
    """


def _converter() -> subprocess.Popen:
    global _process
    if _process is None or _process.poll() is not None:
        _process = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return _process


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def convert_saved_model(directory: str | os.PathLike) -> bytes:
    """`larq_compute_engine.convert_saved_model(directory)`, run in the converter process.

    ```python
    import keras_bnn
    import tensorflow as tf
    from keras_bnn.converter_process import convert_saved_model

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    tf.saved_model.save(model, "saved_model")
    flatbuffer = convert_saved_model("saved_model")
    tf.lite.Interpreter(model_content=flatbuffer).get_input_details()[0]["shape"]  # [1, 4]
    ```

    # Arguments
        directory: A SavedModel folder; a relative path is read from the current folder.

    # Returns
        The flatbuffer, bytes.

    # Raises
        ConverterCrash: when the converter process dies (the message names the signal).
        ValueError: when the converter reports an error (its type and message).
    """
    process = _converter()
    try:
        # The process keeps the folder it started in: send where the caller means.
        process.stdin.write(f"{os.path.abspath(directory)}\n".encode())
        process.stdin.flush()
        status = _read(process.stdout, 1)
        (size,) = struct.unpack("<Q", _read(process.stdout, 8))
        payload = _read(process.stdout, size)
    except (BrokenPipeError, EOFError):
        code = process.wait()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        raise ConverterCrash(f"Larq Compute Engine's converter crashed ({how}); this "
                             "Python process is unharmed.") from None
    if status == b"!":
        raise ValueError(f"Larq Compute Engine's converter failed: {payload.decode()}")
    return payload

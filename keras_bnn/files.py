"""How keras_bnn writes files: checks made before any work, so that a bad path fails at
once with one clear line (train.py's run folder, the export's file, the download cache),
and writes that replace a file in one step, so that a reader never sees half a file and a
failed write leaves none (every file train.py, the export and the download cache write).

```python
from keras_bnn.files import check_writable_folder, replaced_atomically, write_json_atomically

check_writable_folder("runs/x")
write_json_atomically("runs/x/metrics.json", {"accuracy": 0.9})
with replaced_atomically("runs/x/notes.txt") as temporary:  # same suffix, same folder
    temporary.write_text("written in one step")
```
"""

import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator

__all__ = ["check_writable_folder", "replaced_atomically", "write_bytes_atomically",
           "write_json_atomically"]


def check_writable_folder(path: str | os.PathLike) -> None:
    """Checks, without leaving anything behind, that files can be written in folder `path`
    (or in the folder that would hold it, when it does not exist yet).

    ```python
    import pathlib
    from keras_bnn.files import check_writable_folder

    check_writable_folder("runs/x")  # fine where the current folder is writable
    pathlib.Path("notes.txt").write_text("a file")
    try:
        check_writable_folder("notes.txt/runs")
    except OSError as error:
        print(error)  # .../notes.txt is a file, not a folder
    ```

    # Raises
        OSError: with a one-line message saying which path is a file or is not writable.
    """
    path = pathlib.Path(path).absolute()
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"{existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".keras_bnn-probe-"):
            pass
    except OSError as error:
        raise PermissionError(f"{existing} is not writable ({error.strerror})") from None


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """A temporary path beside `path` (same folder and suffix) to write to; when the block
    ends without an error it replaces `path` in one step (`os.replace`, atomic on one file
    system), and when it raises it is removed. Creates the folder.

    ```python
    import tensorflow as tf
    from keras_bnn.files import replaced_atomically

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    with replaced_atomically("model.keras") as temporary:  # .tmp-model-XXXX.keras
        model.save(temporary)
    ```

    # Raises
        OSError: when the folder cannot be made or written; the error of the block itself,
            never one of the clean-up after it.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.stem}-",
                                             suffix=path.suffix)
    os.close(descriptor)
    temporary = pathlib.Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Writes `data` to `path` through `replaced_atomically`. Returns the path.

    ```python
    from keras_bnn.files import write_bytes_atomically

    path = write_bytes_atomically("out/model.tflite", b"TFL3")  # creates out/
    assert path.read_bytes() == b"TFL3"
    ```
    """
    with replaced_atomically(path) as temporary:
        temporary.write_bytes(data)
    return pathlib.Path(path)


def write_json_atomically(path: str | os.PathLike, payload: object) -> None:
    """Writes JSON to `path` through `replaced_atomically`, indented, NumPy numbers as
    floats.

    ```python
    import json
    import numpy as np
    from keras_bnn.files import write_json_atomically

    write_json_atomically("metrics.json", {"accuracy": np.float32(0.5)})
    assert json.load(open("metrics.json")) == {"accuracy": 0.5}
    ```
    """
    write_bytes_atomically(path, (json.dumps(payload, indent=2, default=float) + "\n").encode())

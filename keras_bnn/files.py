"""Checks on where keras_bnn writes, made before any work so that a bad path fails at once
with one clear line (train.py's run folder, the export's file, the download cache).

```python
from keras_bnn.files import check_writable_folder
check_writable_folder("runs/x")
```
"""

import pathlib
import tempfile

__all__ = ["check_writable_folder"]


def check_writable_folder(path):
    """Checks, without leaving anything behind, that files can be written in folder `path`
    (or in the folder that would hold it, when it does not exist yet).

    ```python
    check_writable_folder("runs/x")        # fine: the current folder is writable
    check_writable_folder("/sys/runs/x")   # OSError: /sys is not writable (Permission denied)
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

"""Finding and reading image-classification data sets from local files.

MNIST and Fashion-MNIST come as four IDX files (gzip'd or not):
`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
`t10k-labels-idx1-ubyte`. A data directory is looked up, in this order, in the
`data_dir` argument, in `$KERAS_BNN_DATA_DIR/<name>` (and `$KERAS_BNN_DATA_DIR` itself),
and in the system location of Debian's dataset packages (`/usr/share/datasets/<name>`).

```python
from keras_bnn import data

(x_train, y_train), (x_test, y_test) = data.load_mnist_like("fashion_mnist")
train = data.to_dataset(x_train, y_train, batch_size=128, shuffle=True)
```
"""

import gzip
import os
import pathlib

import numpy as np

from keras_bnn._keras import tf

__all__ = ["DataNotFoundError", "find_data_dir", "load_mnist_like", "read_idx", "to_dataset"]

DATA_DIR_VARIABLE = "KERAS_BNN_DATA_DIR"
SYSTEM_DATA_ROOT = pathlib.Path("/usr/share/datasets")

MNIST_LIKE = ("mnist", "fashion_mnist")
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched; the message lists them."""


def read_idx(path):
    """Reads one IDX file (the MNIST format), gzip'd or not, into a NumPy array.

    # Arguments
        path: Path of the file.

    # Returns
        An array with the file's dtype and shape.

    # Raises
        ValueError: if the file is not a valid IDX file.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        raw = file.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} "
            f"for shape {shape}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def _idx_path(directory, stem):
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _has_mnist_files(directory):
    return all(_idx_path(directory, stem) for pair in _IDX_FILES.values() for stem in pair)


def _candidate_dirs(name, data_dir):
    if data_dir is not None:
        return [pathlib.Path(data_dir)]
    candidates = []
    if os.environ.get(DATA_DIR_VARIABLE):
        root = pathlib.Path(os.environ[DATA_DIR_VARIABLE])
        candidates += [root / name, root / name.replace("_", "-"), root]
    candidates.append(SYSTEM_DATA_ROOT / name.replace("_", "-"))
    return candidates


def find_data_dir(name, data_dir=None):
    """The directory holding the four IDX files of `name` ("mnist" or "fashion_mnist").

    # Arguments
        name: Data set name.
        data_dir: Directory given by the user; when set, the only place searched.

    # Returns
        A `pathlib.Path`.

    # Raises
        DataNotFoundError: listing every directory tried and how to provide the files.
    """
    candidates = _candidate_dirs(name, data_dir)
    for directory in candidates:
        if _has_mnist_files(directory):
            return directory
    stems = ", ".join(stem for pair in _IDX_FILES.values() for stem in pair)
    tried = "\n".join(f"  - {directory}" for directory in candidates)
    hint = (
        "\nOn Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist"
        if name == "fashion_mnist"
        else ""
    )
    raise DataNotFoundError(
        f"Could not find the {name} files ({stems}, optionally .gz) in:\n{tried}\n"
        f"Put them in one directory and pass it as data_dir (train.py --data_dir=DIR), "
        f"or set {DATA_DIR_VARIABLE} to a directory holding a '{name}' folder.{hint}"
    )


def load_mnist_like(name, data_dir=None):
    """Loads MNIST or Fashion-MNIST from IDX files as float32 images in [0, 1].

    # Arguments
        name: "mnist" or "fashion_mnist".
        data_dir: See `find_data_dir`.

    # Returns
        `((x_train, y_train), (x_test, y_test))`, images shaped `(n, 28, 28, 1)`, labels int32.

    # Raises
        ValueError: for an unknown name. DataNotFoundError: see `find_data_dir`.
    """
    if name not in MNIST_LIKE:
        raise ValueError(f"Unknown MNIST-like data set {name!r}; expected one of {MNIST_LIKE}.")
    directory = find_data_dir(name, data_dir)
    splits = []
    for images_stem, labels_stem in _IDX_FILES.values():
        images = read_idx(_idx_path(directory, images_stem))
        labels = read_idx(_idx_path(directory, labels_stem))
        if len(images) != len(labels):
            raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels.")
        splits.append((images[..., None].astype(np.float32) / 255.0, labels.astype(np.int32)))
    return tuple(splits)


def to_dataset(images, labels, batch_size, shuffle=False, seed=0):
    """A batched, prefetched `tf.data.Dataset` of `(image, label)` pairs.

    # Arguments
        images: Array of images.
        labels: Array of labels.
        batch_size: Batch size.
        shuffle: Reshuffle the examples every epoch.
        seed: Shuffle seed.

    # Returns
        A `tf.data.Dataset`.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

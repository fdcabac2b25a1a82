"""IDX files, the format of MNIST and Fashion-MNIST: `read_idx` reads one file,
`_idx_reader` the four files of a data set.

The format and MNIST are described on MNIST's homepage, http://yann.lecun.com/exdb/mnist/
(LeCun et al., "Gradient-based learning applied to document recognition", 1998);
Fashion-MNIST, https://github.com/zalandoresearch/fashion-mnist (Xiao et al., 2017), has the
same files and shapes.
"""

import gzip
import os
import pathlib
import zlib

import numpy as np

from keras_bnn.data.splits import _ArraySplit, _LocalReader, _Source

_CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# What the error message of a data set not found says was looked for.
_IDX_LOOKED_FOR = (
    "the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)"
)
# The third byte of the magic number -> the type of the values.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (the MNIST format), gzip'd or not, into a NumPy array.

    # Arguments
        path: Path of the file.

    # Returns
        An array with the file's dtype and shape.

    # Raises
        ValueError: if the file is not a valid IDX file.

    # Example
        ```python
        import os
        import pathlib

        import keras_bnn
        from keras_bnn.data import read_idx

        mnist = pathlib.Path(os.environ.get("KERAS_BNN_DATA_DIR", "."), "mnist")
        labels = read_idx(mnist / "t10k-labels-idx1-ubyte.gz")  # shape (10000,), uint8
        images = read_idx(mnist / "t10k-images-idx3-ubyte.gz")  # shape (10000, 28, 28), uint8
        ```
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(
            f"{path} is truncated or corrupt ({type(error).__name__}: {error}); "
            "download it again."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} "
            f"for shape {shape}; download it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def _idx_reader(name: str) -> _LocalReader:
    """A reader of the four IDX files of `name` ("mnist" or "fashion_mnist")."""

    def read(directory: pathlib.Path, size: tuple[int, int] | None) -> _Source | None:
        paths = {stem: _idx_path(directory, stem) for pair in _IDX_FILES.values() for stem in pair}
        if not all(paths.values()):
            return None
        splits = []
        for images_stem, labels_stem in _IDX_FILES.values():
            images, labels = read_idx(paths[images_stem]), read_idx(paths[labels_stem])
            if images.ndim != 3 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{directory}: {paths[images_stem].name} holds {images.shape} images but "
                    f"{paths[labels_stem].name} holds {labels.shape} labels."
                )
            splits.append(_ArraySplit(images[..., None], labels.astype(np.int32), size))
        shape = (size or images.shape[1:3]) + (1,)
        return _Source(str(directory), *splits, _CLASS_NAMES[name], shape)

    return read


def _idx_path(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    """`directory`'s file `stem`, gzip'd (preferred) or not; None when it has neither."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None

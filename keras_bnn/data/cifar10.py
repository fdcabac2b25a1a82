"""CIFAR-10 from an image folder, the official `cifar-10-batches-py/` folder of pickled
batches, or the official `cifar-10-python.tar.gz` archive (read without extracting it).

The data set and its files: https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky,
"Learning Multiple Layers of Features from Tiny Images", 2009).
"""

import io
import pathlib
import pickle
import tarfile
import typing

import numpy as np

from keras_bnn.data.image_folder import _read_image_folder
from keras_bnn.data.splits import _ArraySplit, _Source

_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                    "dog", "frog", "horse", "ship", "truck")
_CIFAR10_BATCHES = {
    "train": tuple(f"data_batch_{number}" for number in range(1, 6)),
    "test": ("test_batch",),
}
# What the error message of a data set not found says was looked for.
_CIFAR10_LOOKED_FOR = (
    "an image folder train/<class>/*, test/<class>/* (also inside cifar10-jpeg/), the "
    "official cifar-10-batches-py/ folder or the official cifar-10-python.tar.gz"
)


def _read_cifar10(directory: pathlib.Path, size: tuple[int, int] | None) -> _Source | None:
    """CIFAR-10 as an image folder, the official batches folder or the official archive,
    directly in `directory` or in the sub-folder or file of its usual name; else None."""
    for place in (directory, directory / "cifar10-jpeg", directory / "cifar-10-batches-py",
                  directory / "cifar-10-python.tar.gz"):
        source = _read_image_folder(place, size)
        if source is not None:
            if source.class_names != _CIFAR10_CLASSES:
                raise ValueError(
                    f"{place} holds the classes {source.class_names}, not CIFAR-10's "
                    f"{_CIFAR10_CLASSES}; load it as 'folder:{place}' instead."
                )
            return source
        if (place / _CIFAR10_BATCHES["test"][0]).is_file():
            return _cifar10_from_batches(place, _read_batch_files(place), size)
        if place.is_file() and tarfile.is_tarfile(place):
            return _cifar10_from_batches(place, _read_batch_members(place), size)
    return None


def _read_batch_files(directory: pathlib.Path) -> dict[str, bytes]:
    """The official batch files in `directory`, by file name."""
    return {
        name: (directory / name).read_bytes()
        for names in _CIFAR10_BATCHES.values()
        for name in names
        if (directory / name).is_file()
    }


def _read_batch_members(archive: pathlib.Path) -> dict[str, bytes]:
    """The official batch files inside a tar archive, read without extracting it."""
    wanted = {name for names in _CIFAR10_BATCHES.values() for name in names}
    batches = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            name = pathlib.PurePosixPath(member.name).name
            if member.isfile() and name in wanted:
                batches[name] = tar.extractfile(member).read()
    return batches


def _cifar10_from_batches(
    place: pathlib.Path, batches: dict[str, bytes], size: tuple[int, int] | None
) -> _Source:
    """CIFAR-10 from the official pickled batches, given as `{file name: bytes}`."""
    splits = []
    for names in _CIFAR10_BATCHES.values():
        missing = [name for name in names if name not in batches]
        if missing:
            raise ValueError(f"{place} is not a complete CIFAR-10 copy: it lacks {missing}.")
        images, labels = zip(*(_unpickle_batch(batches[name], place, name) for name in names))
        splits.append(_ArraySplit(np.concatenate(images), np.concatenate(labels), size))
    shape = (size or (32, 32)) + (3,)
    return _Source(str(place), *splits, _CIFAR10_CLASSES, shape)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dictionaries, lists and NumPy arrays, and refuses anything else.

    The official CIFAR-10 files are pickles; this keeps a doctored file from running code.
    """

    _ALLOWED = frozenset({
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str) -> typing.Callable[..., typing.Any]:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle_batch(
    raw: bytes, place: pathlib.Path, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images `(n, 32, 32, 3)` uint8 and int32 labels of one official CIFAR-10 batch."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        images = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{place}: {name} is not a CIFAR-10 batch ({error}).") from None
    if images.ndim != 2 or images.shape[1] != 32 * 32 * 3 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{place}: {name} holds data {images.shape} and labels {labels.shape}, "
            "expected (n, 3072) and (n,)."
        )
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels

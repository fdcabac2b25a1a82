"""Image folders: `train/<class>/*` and `test/<class>/*` (or `val/<class>/*`), one folder of
JPEG, PNG, BMP or GIF images per class, the classes in alphabetical order."""

import pathlib

import numpy as np

from keras_bnn._keras import tf
from keras_bnn.data.splits import _FileSplit, _Source

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_TEST_FOLDERS = ("test", "val")  # the first one that exists is the test split


def _read_image_folder(root: pathlib.Path, size: tuple[int, int] | None) -> _Source | None:
    """The image folder `root`, or None when `root` has no train/ and no test/ or val/ folder.

    Without `size`, the images must all have the size of the first training image.
    """
    test_dir = next((root / test for test in _TEST_FOLDERS if (root / test).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        return None
    train_dirs = (root / "train").iterdir()
    class_names = tuple(sorted(path.name for path in train_dirs if path.is_dir()))
    if not class_names:
        raise ValueError(f"{root / 'train'} has no class folders.")
    train_paths, train_labels = _list_images(root / "train", class_names)
    test_paths, test_labels = _list_images(test_dir, class_names)
    first = tf.io.decode_image(tf.io.read_file(train_paths[0]), expand_animations=False)
    channels = 1 if first.shape[-1] in (1, 2) else 3
    shape = (size or tuple(first.shape[:2])) + (channels,)
    splits = (
        _FileSplit(paths, labels, shape, resize=size is not None, first=train_paths[0])
        for paths, labels in ((train_paths, train_labels), (test_paths, test_labels))
    )
    return _Source(str(root), *splits, class_names, shape)


def _list_images(
    split_dir: pathlib.Path, class_names: tuple[str, ...]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Image paths (sorted by class, then file name) and their int32 labels."""
    folders = {path.name for path in split_dir.iterdir() if path.is_dir()}
    unknown = sorted(folders - set(class_names))
    if unknown:
        raise ValueError(f"{split_dir} has class folders that train/ lacks: {unknown}.")
    paths, labels = [], []
    for label, class_name in enumerate(class_names):
        if not (split_dir / class_name).is_dir():
            continue
        files = sorted(
            str(path) for path in (split_dir / class_name).iterdir()
            if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file()
        )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise ValueError(f"{split_dir} holds no images ({', '.join(_IMAGE_SUFFIXES)}).")
    return tuple(paths), np.array(labels, np.int32)

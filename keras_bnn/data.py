"""Image-classification data sets as deterministic, resumable `tf.data` pipelines.

`load(name)` finds a data set, reads it and returns a `DataSet`: its shape, classes and sizes,
and two pipelines. `DataSet.train_dataset` is an infinite stream of shuffled, augmented and
normalized batches that depends only on its seed: started at step `k`, it yields exactly
the batches `k, k + 1, ...` of the stream started at 0, so an interrupted training run
resumes with identical results. `DataSet.test_dataset` is the test split once, in order.

Names and formats:

- `"mnist"`, `"fashion_mnist"`: the four IDX files of the originals (gzip'd or not).
- `"cifar10"`: an image folder `train/<class>/*`, `test/<class>/*` (directly or in a
  `cifar10-jpeg/` folder), the official `cifar-10-batches-py/` folder, or the official
  `cifar-10-python.tar.gz` archive, read without extracting it.
- `"folder:PATH"`: any image folder with `train/` and `test/` (or `val/`) folders of
  class folders; JPEG, PNG, BMP or GIF images.
- any other name: a tensorflow-datasets data set, which is also where `"mnist"`,
  `"fashion_mnist"` and `"cifar10"` come from when no local files are found.

Local files are looked up, in this order, in the `data_dir` argument (only there when it is
given), in `$KERAS_BNN_DATA_DIR/<name>` and `$KERAS_BNN_DATA_DIR`, and in the system
location of Debian's dataset packages, `/usr/share/datasets/<name>` (with `-` for `_`).

```python
from keras_bnn import data

cifar = data.load("cifar10", "/data/cifar10")
model.fit(cifar.train_dataset(128, seed=1), steps_per_epoch=390, epochs=200,
          validation_data=cifar.test_dataset(512))
```
"""

import dataclasses
import gzip
import io
import os
import pathlib
import pickle
import socket
import tarfile
import typing
import zlib

import numpy as np

from keras_bnn._keras import tf

__all__ = [
    "DATA_DIR_VARIABLE", "DataNotFoundError", "DataSet", "NORMALIZATION", "SYSTEM_DATA_ROOT",
    "load", "read_idx",
]

DATA_DIR_VARIABLE = "KERAS_BNN_DATA_DIR"
SYSTEM_DATA_ROOT = pathlib.Path("/usr/share/datasets")

# Per-channel (mean, standard deviation) of the images in [0, 1]. Every data set not named
# here gets ImageNet's (and grey images the average of ImageNet's three channels).
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
# Data sets trained without augmentation; all others get a random crop of the image padded
# by 1/8 of its size (4 pixels for CIFAR-10) and a random horizontal flip.
_NOT_AUGMENTED = ("mnist", "fashion_mnist")

_CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CIFAR10_BATCHES = {
    "train": tuple(f"data_batch_{number}" for number in range(1, 6)),
    "test": ("test_batch",),
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_TEST_FOLDERS = ("test", "val")

# The examples kept by `max_train_examples` / `max_test_examples` are drawn with this seed.
_SUBSET_SEED = 0
# tensorflow-datasets sources have no random access: they are shuffled through a buffer.
_SHUFFLE_BUFFER = 10_000
# Images of varying size (ImageNet) have their shorter side resized to 256/224 of the crop.
_DEFAULT_CROP = 224
_RESIZE_PER_CROP = 256 / 224
# Where most tensorflow-datasets downloads come from; probed before a download so that
# an offline machine gets an answer at once instead of after minutes of retries.
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_DOWNLOAD_PROBE_TIMEOUT_S = 3


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched; the message lists them and what to do."""


@dataclasses.dataclass(frozen=True)
class DataSet:
    """An image-classification data set and its train and test pipelines.

    Made by `load`. Images come out as float32 `input_shape` arrays normalized per channel
    with the constants of `NORMALIZATION`, labels as int32 class indices.

    # Arguments
        name: Name given to `load` ("mnist", "cifar10", "folder:/abs/path", a
            tensorflow-datasets name).
        source: Where the data were read from: a directory or file, or
            `"tensorflow-datasets:<name>"`.
        input_shape: `(height, width, channels)` of the images the pipelines yield.
        num_classes: Number of classes.
        class_names: Class names, in label order.
        num_train: Number of training examples (after `max_train_examples`).
        num_test: Number of test examples (after `max_test_examples`).

    # Example
        ```python
        mnist = keras_bnn.data.load("mnist")
        images, labels = next(iter(mnist.train_dataset(batch_size=32)))
        assert images.shape == (32,) + mnist.input_shape
        ```
    """

    name: str
    source: str
    input_shape: tuple
    num_classes: int
    class_names: tuple
    num_train: int
    num_test: int
    _train: typing.Any = dataclasses.field(repr=False, compare=False)
    _test: typing.Any = dataclasses.field(repr=False, compare=False)
    _padding: typing.Optional[tuple] = dataclasses.field(repr=False, compare=False)

    def train_dataset(self, batch_size, *, seed=0, start_step=0, augment=True):
        """An infinite, deterministic and resumable stream of training batches.

        Example number `i = step * batch_size + j` of the stream is example `i % num_train`
        of pass `i // num_train` through a permutation of the training set drawn from
        `(seed, pass)`, and its augmentation is drawn from `(seed, i)`. Batches can therefore
        straddle two passes, and a stream started at `start_step` yields exactly the batches
        `start_step, start_step + 1, ...` of the stream started at 0. For tensorflow-datasets
        sources, which have no random access, the stream is shuffled through a buffer and
        `start_step` skips the examples before it, which is exact only as long as
        tensorflow-datasets reads its files in the same order.

        # Arguments
            batch_size: Examples per batch; every batch is full.
            seed: Integer seed of the shuffling and the augmentation.
            start_step: Number of the first batch.
            augment: Random crop and horizontal flip (for the data sets that use them);
                `False` gives the images as `test_dataset` does.

        # Returns
            A `tf.data.Dataset` of `(images, labels)` batches that never ends.

        # Raises
            ValueError: for a batch size below 1 or a negative start step.

        # Example
            ```python
            train = data_set.train_dataset(128, seed=3, start_step=optimizer.iterations)
            ```
        """
        _check_positive("batch_size", batch_size)
        start_step = int(start_step)
        if start_step < 0:
            raise ValueError(f"start_step must be >= 0, got {start_step}.")
        def preprocess(index, image, label):
            if augment and self._padding is not None:
                image = _random_crop_and_flip(
                    image, tf.stack([tf.constant(seed, tf.int64), index]), self.input_shape,
                    self._padding,
                )
            return self._finish(image), label

        examples = self._train.shuffled(seed, start_step * batch_size)
        examples = examples.map(preprocess, tf.data.AUTOTUNE, deterministic=True)
        return examples.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    def test_dataset(self, batch_size):
        """The test split once, in file order, not augmented; the last batch may be smaller.

        # Arguments
            batch_size: Examples per batch.

        # Returns
            A `tf.data.Dataset` of `(images, labels)` batches.

        # Raises
            ValueError: for a batch size below 1.

        # Example
            ```python
            model.evaluate(data_set.test_dataset(512))
            ```
        """
        _check_positive("batch_size", batch_size)
        examples = self._test.ordered().map(
            lambda image, label: (self._finish(image), label),
            tf.data.AUTOTUNE,
            deterministic=True,
        )
        return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def _finish(self, image):
        """Center crop to `input_shape` (a no-op for same-size images), then normalization."""
        image = tf.image.resize_with_crop_or_pad(image, *self.input_shape[:2])
        mean, std = _normalization(self.name, self.input_shape[-1])
        return (image - mean) / std


def load(name, data_dir=None, *, max_train_examples=None, max_test_examples=None,
         image_size=None):
    """Finds and reads an image-classification data set.

    # Arguments
        name: "mnist", "fashion_mnist", "cifar10", "folder:PATH" (an image folder; a relative
            PATH is taken from `data_dir` when given) or a tensorflow-datasets name.
        data_dir: Directory of the local files, and the `data_dir` of tensorflow-datasets
            (for data sets downloaded by hand, such as "imagenet2012", also its manual
            download directory). When given, local files are looked for only there and in
            its sub-folder named like the data set.
        max_train_examples: Keep only this many training examples, a fixed random choice
            (the same every time), for quick runs.
        max_test_examples: Keep only this many test examples, a fixed random choice kept
            in file order.
        image_size: Resize every image to this size, an int or `(height, width)`; for
            tensorflow-datasets images of varying size (ImageNet), the size of the crop
            (default 224) taken after resizing the shorter side to 256/224 of it. Images of
            an image folder must otherwise all have the size of the first one.

    # Returns
        A `DataSet`.

    # Raises
        DataNotFoundError: when the data set is in none of the places searched and
            tensorflow-datasets cannot provide it either; the message lists every place
            tried and says how to provide the data.
        ValueError: for an unknown name, bad arguments, or files that are not what their
            name says.

    # Example
        ```python
        quick = keras_bnn.data.load("cifar10", max_train_examples=1000)
        flowers = keras_bnn.data.load("folder:/data/flowers", image_size=96)
        ```
    """
    for argument, value in (("max_train_examples", max_train_examples),
                            ("max_test_examples", max_test_examples)):
        if value is not None:
            _check_positive(argument, value)
    size = _image_size(image_size)
    if name.startswith("folder:"):
        root = pathlib.Path(data_dir or ".", name[len("folder:"):]).absolute()
        name, source = f"folder:{root}", _read_image_folder(root, size)
    elif name in _LOCAL_FORMATS:
        source = _find_local(name, data_dir, size)
    else:
        source = _from_tfds(name, data_dir, size)
    return _data_set(name, source, max_train_examples, max_test_examples)


def read_idx(path):
    """Reads one IDX file (the MNIST format), gzip'd or not, into a NumPy array.

    # Arguments
        path: Path of the file.

    # Returns
        An array with the file's dtype and shape.

    # Raises
        ValueError: if the file is not a valid IDX file.

    # Example
        ```python
        labels = read_idx("mnist/t10k-labels-idx1-ubyte.gz")  # shape (10000,), uint8
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


# ---- What `load` assembles ------------------------------------------------------------


class _Source(typing.NamedTuple):
    """A data set as read: where from, its two splits, classes and image shape."""

    source: str
    train: typing.Any
    test: typing.Any
    class_names: tuple
    input_shape: tuple
    varying_size: bool = False


def _data_set(name, source, max_train_examples, max_test_examples):
    train = source.train.limited(max_train_examples)
    test = source.test.limited(max_test_examples)
    height, width = source.input_shape[:2]
    if name in _NOT_AUGMENTED:
        padding = None
    elif source.varying_size:
        padding = (0, 0)
    else:
        padding = (height // 8, width // 8)
    return DataSet(
        name=name,
        source=source.source,
        input_shape=tuple(source.input_shape),
        num_classes=len(source.class_names),
        class_names=tuple(source.class_names),
        num_train=train.size,
        num_test=test.size,
        _train=train,
        _test=test,
        _padding=padding,
    )


# ---- Finding local files --------------------------------------------------------------


def _search_dirs(name, data_dir):
    """Directories searched for the local files of `name`, in order."""
    dashed = name.replace("_", "-")
    if data_dir is not None:
        root = pathlib.Path(data_dir)
        if not root.exists():
            raise DataNotFoundError(f"data_dir {root} for {name} does not exist.")
        if not os.access(root, os.R_OK):
            raise DataNotFoundError(f"data_dir {root} for {name} cannot be read.")
        return list(dict.fromkeys([root, root / name, root / dashed]))
    directories = []
    if os.environ.get(DATA_DIR_VARIABLE):
        root = pathlib.Path(os.environ[DATA_DIR_VARIABLE])
        directories += [root / name, root / dashed, root]
    directories.append(SYSTEM_DATA_ROOT / dashed)
    return list(dict.fromkeys(directories))


def _find_local(name, data_dir, size):
    """Reads `name` from the first directory that has it, else from tensorflow-datasets."""
    reader, _, _ = _LOCAL_FORMATS[name]
    tried = _search_dirs(name, data_dir)
    for directory in tried:
        source = reader(directory, size)
        if source is not None:
            return source
    return _from_tfds(name, data_dir, size, tried=tried)


def _read_idx_dir(name):
    """A reader of the four IDX files of `name` ("mnist" or "fashion_mnist")."""

    def read(directory, size):
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


def _idx_path(directory, stem):
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_cifar10(directory, size):
    """CIFAR-10 as an image folder, the official batches folder or the official archive."""
    for place in (directory, directory / "cifar10-jpeg", directory / "cifar-10-batches-py",
                  directory / "cifar-10-python.tar.gz"):
        if _is_image_folder(place):
            source = _read_image_folder(place, size)
            if source.class_names != _CLASS_NAMES["cifar10"]:
                raise ValueError(
                    f"{place} holds the classes {source.class_names}, not CIFAR-10's "
                    f"{_CLASS_NAMES['cifar10']}; load it as 'folder:{place}' instead."
                )
            return source
        if (place / _CIFAR10_BATCHES["test"][0]).is_file():
            return _cifar10_from_batches(place, _read_batch_files(place), size)
        if place.is_file() and tarfile.is_tarfile(place):
            return _cifar10_from_batches(place, _read_batch_members(place), size)
    return None


def _read_batch_files(directory):
    return {
        name: (directory / name).read_bytes()
        for names in _CIFAR10_BATCHES.values()
        for name in names
        if (directory / name).is_file()
    }


def _read_batch_members(archive):
    """The official batch files inside a tar archive, read without extracting it."""
    wanted = {name for names in _CIFAR10_BATCHES.values() for name in names}
    batches = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            name = pathlib.PurePosixPath(member.name).name
            if member.isfile() and name in wanted:
                batches[name] = tar.extractfile(member).read()
    return batches


def _cifar10_from_batches(place, batches, size):
    """CIFAR-10 from the official pickled batches, given as `{file name: bytes}`."""
    splits = []
    for names in _CIFAR10_BATCHES.values():
        missing = [name for name in names if name not in batches]
        if missing:
            raise ValueError(f"{place} is not a complete CIFAR-10 copy: it lacks {missing}.")
        images, labels = zip(*(_unpickle_batch(batches[name], place, name) for name in names))
        splits.append(_ArraySplit(np.concatenate(images), np.concatenate(labels), size))
    shape = (size or (32, 32)) + (3,)
    return _Source(str(place), *splits, _CLASS_NAMES["cifar10"], shape)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dictionaries, lists and NumPy arrays, and refuses anything else.

    The official CIFAR-10 files are pickles; this keeps a doctored file from running code.
    """

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle_batch(raw, place, name):
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


def _is_image_folder(path):
    return (path / "train").is_dir() and any((path / test).is_dir() for test in _TEST_FOLDERS)


def _read_image_folder(root, size):
    """An image folder `root/train/<class>/*`, `root/test/<class>/*` (or `root/val/...`)."""
    if not _is_image_folder(root):
        tried = "\n".join(f"  - {root / folder}" for folder in ("train",) + _TEST_FOLDERS)
        raise DataNotFoundError(
            f"{root} is not an image folder: it needs a train/ folder and a test/ or val/ "
            f"folder, each with one folder of images per class. Looked for:\n{tried}"
        )
    test_dir = next(root / test for test in _TEST_FOLDERS if (root / test).is_dir())
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


def _list_images(split_dir, class_names):
    """Image paths (sorted by class, then file name) and their labels."""
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


_LOCAL_FORMATS = {
    # name: (reader, the files looked for, a hint on how to get them)
    "mnist": (
        _read_idx_dir("mnist"),
        "the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)",
        "",
    ),
    "fashion_mnist": (
        _read_idx_dir("fashion_mnist"),
        "the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)",
        "\nOn Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist",
    ),
    "cifar10": (
        _read_cifar10,
        "an image folder train/<class>/*, test/<class>/* (also inside cifar10-jpeg/), the "
        "official cifar-10-batches-py/ folder or the official cifar-10-python.tar.gz",
        "",
    ),
}


# ---- tensorflow-datasets --------------------------------------------------------------


def _from_tfds(name, data_dir, size, tried=None):
    """`name` from tensorflow-datasets, prepared (downloaded) first if need be.

    `tried` lists the local directories already searched in vain, for the error message;
    it is `None` for names that have no local format.
    """
    builder = _tfds_builder(name, data_dir)
    if not builder.is_prepared():
        problem = _prepare(builder, data_dir)
        if problem:
            raise DataNotFoundError(_not_found_message(name, builder, tried, problem))
    image_key, label_key = _supervised_keys(builder)
    image_shape = builder.info.features[image_key].shape
    varying_size = None in image_shape[:2]
    if varying_size:
        crop = size or (_DEFAULT_CROP, _DEFAULT_CROP)
        size, shorter_side = None, round(max(crop) * _RESIZE_PER_CROP)
        shape = crop + image_shape[2:]
    else:
        shorter_side = None
        shape = (size or image_shape[:2]) + image_shape[2:]
    splits = [
        _TfdsSplit(builder, split, image_key, label_key, size, shorter_side)
        for split in _tfds_splits(builder)
    ]
    class_names = tuple(builder.info.features[label_key].names)
    return _Source(f"tensorflow-datasets:{name}", *splits, class_names, shape, varying_size)


def _tfds_builder(name, data_dir):
    import tensorflow_datasets as tfds  # slow to import, and only needed here

    try:
        return tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown data set {name!r}: neither one of the local formats "
            f"({', '.join(_LOCAL_FORMATS)}, folder:PATH) nor a tensorflow-datasets name."
        ) from None


def _tfds_splits(builder):
    """Names of the train and the test split ("test", else "validation")."""
    splits = builder.info.splits
    test = next((split for split in ("test", "validation") if split in splits), None)
    if "train" not in splits or test is None:
        raise ValueError(
            f"tensorflow-datasets' {builder.name} has the splits {list(splits)}; "
            "expected 'train' and 'test' (or 'validation')."
        )
    return "train", test


def _prepare(builder, data_dir):
    """Downloads and prepares `builder`'s data; returns why that failed, or None."""
    import tensorflow_datasets as tfds

    manual = bool(builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    if not manual and not _network_available():
        return (f"its data are not prepared in {builder.data_dir} and there is no network "
                "to download them")
    manual_dir = str(data_dir) if manual and data_dir is not None else None
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as error:  # noqa: BLE001 - a failed download raises anything at all
        first_line = (str(error).strip().splitlines() or [""])[0]
        return f"preparing it failed: {type(error).__name__}: {first_line}"
    return None


def _network_available():
    """Whether tensorflow-datasets' download host answers within a few seconds."""
    try:
        socket.create_connection(_DOWNLOAD_HOST, timeout=_DOWNLOAD_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _not_found_message(name, builder, tried, problem):
    lines = [f"Could not find the {name} data set."]
    if tried is not None:
        _, files, hint = _LOCAL_FORMATS[name]
        lines += [f"Looked for {files} in:"] + [f"  - {directory}" for directory in tried]
    lines.append(f"tensorflow-datasets could not provide it{'' if tried is None else ' either'}: "
                 f"{problem}.")
    if tried is not None:
        lines.append(
            f"Put the files in one directory and pass it as data_dir (train.py --data_dir=DIR), "
            f"or set {DATA_DIR_VARIABLE} to a directory holding a '{name}' folder.{hint}"
        )
    elif builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        instructions = " ".join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
        lines.append(
            f"Download its files by hand into data_dir (train.py --data_dir=DIR): {instructions}"
        )
    else:
        lines.append(
            f"Prepare it where there is a network (tfds build {name} --data_dir=DIR) and pass "
            "that directory as data_dir (train.py --data_dir=DIR)."
        )
    return "\n".join(lines)


def _supervised_keys(builder):
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2 or len(builder.info.features[keys[0]].shape) != 3:
        raise ValueError(
            f"tensorflow-datasets' {builder.name} is not an image-classification data set "
            f"(its supervised keys are {keys})."
        )
    return keys


# ---- Splits: where examples come from -------------------------------------------------


class _RandomAccessSplit:
    """A split that reads any example by its index.

    Subclasses define `size`, `take(indices)` (the split of those examples only) and
    `_reader()` (a function from an index tensor to `(image, label)`).
    """

    def limited(self, limit):
        """The first `limit` examples of a fixed shuffle, kept in file order."""
        if limit is None or limit >= self.size:
            return self
        chosen = np.random.default_rng(_SUBSET_SEED).permutation(self.size)[:limit]
        return self.take(np.sort(chosen))

    def ordered(self):
        """`(image, label)` pairs in file order, images float32 in [0, 1]."""
        return tf.data.Dataset.range(self.size).map(
            self._reader(), tf.data.AUTOTUNE, deterministic=True
        )

    def shuffled(self, seed, start):
        """`(i, image, label)` for i = start, start + 1, ...: each pass a new permutation."""
        read, size = self._reader(), self.size
        seed, last = tf.constant(seed, tf.int64), tf.constant(size - 1, tf.int64)

        def example(i):
            permutation_seed = tf.stack([seed, i // size])  # a new permutation every pass
            index = tf.random.experimental.index_shuffle(i % size, permutation_seed, last)
            return (i, *read(index))

        return tf.data.Dataset.counter(start).map(example, tf.data.AUTOTUNE, deterministic=True)


@dataclasses.dataclass(frozen=True, eq=False)
class _ArraySplit(_RandomAccessSplit):
    """Images `(n, height, width, channels)` uint8 and int32 labels held in memory."""

    images: np.ndarray
    labels: np.ndarray
    resize: typing.Optional[tuple] = None

    @property
    def size(self):
        return len(self.labels)

    def take(self, indices):
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices])

    def _reader(self):
        # Tensors made here, outside the `tf.data` functions, are captured by reference
        # rather than copied into their graphs as constants.
        images, labels = tf.convert_to_tensor(self.images), tf.convert_to_tensor(self.labels)
        return lambda index: (
            _to_float(tf.gather(images, index), self.resize),
            tf.gather(labels, index),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class _FileSplit(_RandomAccessSplit):
    """Image files, decoded when read, and their int32 labels."""

    paths: tuple
    labels: np.ndarray
    shape: tuple
    resize: bool
    first: str

    @property
    def size(self):
        return len(self.paths)

    def take(self, indices):
        paths = tuple(self.paths[index] for index in indices)
        return dataclasses.replace(self, paths=paths, labels=self.labels[indices])

    def _reader(self):
        paths, labels = tf.constant(self.paths), tf.convert_to_tensor(self.labels)
        return lambda index: (self._read(tf.gather(paths, index)), tf.gather(labels, index))

    def _read(self, path):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=self.shape[-1], expand_animations=False
        )
        if self.resize:
            return _to_float(image, self.shape[:2])
        size = tf.shape(image)[:2]
        same_size = tf.debugging.Assert(
            tf.reduce_all(tf.equal(size, self.shape[:2])),
            [tf.strings.join([
                "Image ", path, " is ",
                tf.strings.reduce_join(tf.strings.as_string(size), separator="x"),
                f", but the first image, {self.first}, is {self.shape[0]}x{self.shape[1]}: "
                "pass image_size to resize all images.",
            ])],
        )
        with tf.control_dependencies([same_size]):
            return tf.ensure_shape(_to_float(image), self.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class _TfdsSplit:
    """A split of a prepared tensorflow-datasets data set (sequential access only)."""

    builder: typing.Any
    split: str
    image_key: str
    label_key: str
    resize: typing.Optional[tuple]
    shorter_side: typing.Optional[int]
    limit: typing.Optional[int] = None

    @property
    def size(self):
        total = self.builder.info.splits[self.split].num_examples
        return total if self.limit is None else min(self.limit, total)

    def limited(self, limit):
        """The first `limit` examples (tensorflow-datasets shuffled them when preparing)."""
        return self if limit is None else dataclasses.replace(self, limit=limit)

    def ordered(self):
        return self._examples(shuffle_files=False).map(
            self._decode, tf.data.AUTOTUNE, deterministic=True
        )

    def shuffled(self, seed, start):
        import tensorflow_datasets as tfds

        examples = self._examples(True, read_config=tfds.ReadConfig(shuffle_seed=seed))
        examples = examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        examples = examples.repeat()
        examples = tf.data.Dataset.zip(tf.data.Dataset.counter(), examples).skip(start)
        return examples.map(
            lambda i, example: (i, *self._decode(*example)), tf.data.AUTOTUNE, deterministic=True
        )

    def _examples(self, shuffle_files, **kwargs):
        """`(encoded image, label)` pairs: images are decoded after `skip`, not before."""
        import tensorflow_datasets as tfds

        split = self.split if self.limit is None else f"{self.split}[:{self.limit}]"
        return self.builder.as_dataset(
            split=split,
            shuffle_files=shuffle_files,
            as_supervised=True,
            decoders={self.image_key: tfds.decode.SkipDecoding()},
            **kwargs,
        )

    def _decode(self, encoded, label):
        image = self.builder.info.features[self.image_key].decode_example(encoded)
        if self.shorter_side:
            image = _resize_shorter_side(_to_float(image), self.shorter_side)
        else:
            image = _to_float(image, self.resize)
        return image, tf.cast(label, tf.int32)


# ---- Image operations -----------------------------------------------------------------


def _to_float(image, size=None):
    """uint8 image -> float32 in [0, 1], resized to `size` when given."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    return image if size is None else tf.image.resize(image, size, antialias=True)


def _resize_shorter_side(image, side):
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    new_shape = tf.cast(tf.round(shape * side / tf.reduce_min(shape)), tf.int32)
    return tf.image.resize(image, new_shape, antialias=True)


def _random_crop_and_flip(image, seed, shape, padding):
    """A random `shape` crop of `image` zero-padded by `padding`, flipped half the time.

    All randomness is drawn from the stateless `seed` (shape `[2]`).
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pad_height, pad_width = padding
    image = tf.pad(image, [[pad_height, pad_height], [pad_width, pad_width], [0, 0]])
    image = tf.image.stateless_random_crop(image, shape, seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def _normalization(name, channels):
    """Per-channel (mean, std) float32 constants for images of `name` in [0, 1]."""
    mean, std = NORMALIZATION.get(name, NORMALIZATION["imagenet"])
    if channels != len(mean):
        mean, std = (np.mean(mean),) * channels, (np.mean(std),) * channels
    return tf.constant(mean, tf.float32), tf.constant(std, tf.float32)


# ---- Arguments --------------------------------------------------------------------------


def _check_positive(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}.")


def _image_size(image_size):
    """`image_size` as `(height, width)`, or None."""
    if image_size is None:
        return None
    is_int = isinstance(image_size, (int, np.integer))
    size = (image_size, image_size) if is_int else tuple(image_size)
    if len(size) != 2 or not all(isinstance(side, (int, np.integer)) and side > 0 for side in size):
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}.")
    return tuple(int(side) for side in size)

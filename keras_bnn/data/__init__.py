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
import keras_bnn
import tensorflow as tf
import zoo
from keras_bnn import data

mnist = data.load("mnist", max_train_examples=256, max_test_examples=128)
model = zoo.get_model("bnn_small", input_shape=mnist.input_shape,
                      num_classes=mnist.num_classes)
model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(mnist.train_dataset(32, seed=1), steps_per_epoch=2, epochs=1,
          validation_data=mnist.test_dataset(64), verbose=0)
```

Where things live: this `__init__` holds the API, where local files are looked for and the
message when a data set is found nowhere; `idx` (MNIST, Fashion-MNIST), `cifar10` and
`image_folder` read local files, `tfds` reads tensorflow-datasets, `splits` holds the splits
they return and `images` the image operations of the pipelines.
"""

import dataclasses
import os
import pathlib
import typing

import numpy as np

from keras_bnn._keras import tf
from keras_bnn.data.cifar10 import _CIFAR10_LOOKED_FOR, _read_cifar10
from keras_bnn.data.idx import _IDX_LOOKED_FOR, _idx_reader, read_idx
from keras_bnn.data.image_folder import _TEST_FOLDERS, _read_image_folder
from keras_bnn.data.images import _random_crop_and_flip
from keras_bnn.data.splits import _LocalReader, _Source, _Split
from keras_bnn.data.tfds import _how_to_provide, _prepare, _read_tfds, _tfds_builder

if typing.TYPE_CHECKING:
    import tensorflow_datasets

__all__ = [
    "DATA_DIR_VARIABLE", "NORMALIZATION", "SYSTEM_DATA_ROOT", "DataNotFoundError", "DataSet",
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


class _LocalFormat(typing.NamedTuple):
    """How a name with local files is read, and what a not-found message says about it."""

    read: _LocalReader
    looked_for: str  # the files looked for
    hint: str  # how else to get them, "" or a line that starts with "\n"


_LOCAL_FORMATS = {
    "mnist": _LocalFormat(_idx_reader("mnist"), _IDX_LOOKED_FOR, ""),
    "fashion_mnist": _LocalFormat(
        _idx_reader("fashion_mnist"), _IDX_LOOKED_FOR,
        "\nOn Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist",
    ),
    "cifar10": _LocalFormat(_read_cifar10, _CIFAR10_LOOKED_FOR, ""),
}


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched; the message lists them and what to do.

    Raised by `load`.

    # Example
        ```python
        import keras_bnn
        from keras_bnn import data

        try:
            cifar = data.load("cifar10", "no_such_folder")
        except data.DataNotFoundError as error:
            print(error)  # data_dir no_such_folder for cifar10 does not exist.
        ```
    """


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
        import keras_bnn
        from keras_bnn import data

        mnist = data.load("mnist", max_train_examples=64, max_test_examples=64)
        images, labels = next(iter(mnist.train_dataset(batch_size=32)))
        assert images.shape == (32,) + mnist.input_shape  # (32, 28, 28, 1)
        mnist.num_classes, mnist.num_train  # (10, 64)
        ```
    """

    name: str
    source: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    num_train: int
    num_test: int
    _train: _Split = dataclasses.field(repr=False, compare=False)
    _test: _Split = dataclasses.field(repr=False, compare=False)
    # What the random crop pads the image by, or None for no augmentation at all.
    _padding: tuple[int, int] | None = dataclasses.field(repr=False, compare=False)

    def train_dataset(
        self, batch_size: int, *, seed: int = 0, start_step: int | tf.Variable = 0,
        augment: bool = True,
    ) -> tf.data.Dataset:
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
            start_step: Number of the first batch (an int, or a variable such as an
                optimizer's `iterations`).
            augment: Random crop and horizontal flip (for the data sets that use them);
                `False` gives the images as `test_dataset` does.

        # Returns
            A `tf.data.Dataset` of `(images, labels)` batches that never ends.

        # Raises
            ValueError: for a batch size below 1 or a negative start step.

        # Example
            ```python
            import keras_bnn
            import tensorflow as tf
            from keras_bnn import data

            data_set = data.load("mnist", max_train_examples=256, max_test_examples=64)
            optimizer = tf.keras.optimizers.Adam()
            train = data_set.train_dataset(128, seed=3, start_step=optimizer.iterations)
            images, labels = next(iter(train))  # float32 (128, 28, 28, 1), int32 (128,)
            ```
        """
        _check_positive("batch_size", batch_size)
        start_step = int(start_step)
        if start_step < 0:
            raise ValueError(f"start_step must be >= 0, got {start_step}.")

        def preprocess(
            index: tf.Tensor, image: tf.Tensor, label: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            if augment and self._padding is not None:
                image = _random_crop_and_flip(
                    image, tf.stack([tf.constant(seed, tf.int64), index]), self.input_shape,
                    self._padding,
                )
            return self._finish(image), label

        examples = self._train.shuffled(seed, start_step * batch_size)
        examples = examples.map(preprocess, tf.data.AUTOTUNE, deterministic=True)
        return examples.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    def test_dataset(self, batch_size: int) -> tf.data.Dataset:
        """The test split once, in file order, not augmented; the last batch may be smaller.

        # Arguments
            batch_size: Examples per batch.

        # Returns
            A `tf.data.Dataset` of `(images, labels)` batches.

        # Raises
            ValueError: for a batch size below 1.

        # Example
            ```python
            import keras_bnn
            import tensorflow as tf
            import zoo
            from keras_bnn import data

            data_set = data.load("mnist", max_train_examples=64, max_test_examples=256)
            model = zoo.get_model("bnn_small")
            model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            model.evaluate(data_set.test_dataset(128), verbose=0)  # [loss, accuracy]
            ```
        """
        _check_positive("batch_size", batch_size)
        examples = self._test.ordered().map(
            lambda image, label: (self._finish(image), label),
            tf.data.AUTOTUNE,
            deterministic=True,
        )
        return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def _finish(self, image: tf.Tensor) -> tf.Tensor:
        """Center crop to `input_shape` (a no-op for same-size images), then normalization."""
        image = tf.image.resize_with_crop_or_pad(image, *self.input_shape[:2])
        mean, std = _normalization(self.name, self.input_shape[-1])
        return (image - mean) / std


def load(
    name: str, data_dir: str | os.PathLike | None = None, *,
    max_train_examples: int | None = None, max_test_examples: int | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> DataSet:
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
        import pathlib

        import keras_bnn
        import numpy as np
        import tensorflow as tf
        from keras_bnn import data

        quick = data.load("mnist", max_train_examples=1000)  # found in $KERAS_BNN_DATA_DIR
        quick.num_train, quick.num_test  # (1000, 10000)

        # An image folder: train/<class>/*, test/<class>/* (here 4 random PNGs per class).
        for split in ("train", "test"):
            for name in ("cat", "dog"):
                folder = pathlib.Path("pets", split, name)
                folder.mkdir(parents=True)
                for index in range(4):
                    pixels = np.random.randint(0, 256, (40, 40, 3), np.uint8)
                    tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(pixels))
        pets = data.load("folder:pets", image_size=32)
        pets.input_shape, pets.class_names  # ((32, 32, 3), ('cat', 'dog'))
        ```
    """
    for argument, value in (("max_train_examples", max_train_examples),
                            ("max_test_examples", max_test_examples)):
        if value is not None:
            _check_positive(argument, value)
    size = _image_size(image_size)
    if name.startswith("folder:"):
        root = pathlib.Path(data_dir or ".", name[len("folder:"):]).absolute()
        name, source = f"folder:{root}", _from_image_folder(root, size)
    elif name in _LOCAL_FORMATS:
        source = _find_local(name, data_dir, size)
    else:
        source = _from_tfds(name, data_dir, size)
    return _data_set(name, source, max_train_examples, max_test_examples)


# ---- What `load` assembles ------------------------------------------------------------


def _data_set(
    name: str, source: _Source, max_train_examples: int | None, max_test_examples: int | None
) -> DataSet:
    """The `DataSet` of `source`, its splits limited, with the augmentation `name` gets."""
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


def _normalization(name: str, channels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-channel (mean, std) float32 constants for images of `name` in [0, 1]."""
    mean, std = NORMALIZATION.get(name, NORMALIZATION["imagenet"])
    if channels != len(mean):
        mean, std = (np.mean(mean),) * channels, (np.mean(std),) * channels
    return tf.constant(mean, tf.float32), tf.constant(std, tf.float32)


# ---- Where data are looked for, and what is said when they are not found ---------------


def _from_image_folder(root: pathlib.Path, size: tuple[int, int] | None) -> _Source:
    """The image folder `root` of a "folder:" name; DataNotFoundError when it is none."""
    source = _read_image_folder(root, size)
    if source is None:
        tried = "\n".join(f"  - {root / folder}" for folder in ("train", *_TEST_FOLDERS))
        raise DataNotFoundError(
            f"{root} is not an image folder: it needs a train/ folder and a test/ or val/ "
            f"folder, each with one folder of images per class. Looked for:\n{tried}"
        )
    return source


def _search_dirs(name: str, data_dir: str | os.PathLike | None) -> list[pathlib.Path]:
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


def _find_local(
    name: str, data_dir: str | os.PathLike | None, size: tuple[int, int] | None
) -> _Source:
    """Reads `name` from the first directory that has it, else from tensorflow-datasets."""
    tried = _search_dirs(name, data_dir)
    for directory in tried:
        source = _LOCAL_FORMATS[name].read(directory, size)
        if source is not None:
            return source
    return _from_tfds(name, data_dir, size, tried=tried)


def _from_tfds(
    name: str, data_dir: str | os.PathLike | None, size: tuple[int, int] | None,
    tried: list[pathlib.Path] | None = None,
) -> _Source:
    """`name` from tensorflow-datasets, prepared (downloaded) first if need be.

    `tried` lists the local directories already searched in vain, for the error message;
    it is `None` for names that have no local format.
    """
    builder = _tfds_builder(name, data_dir)
    if builder is None:
        raise ValueError(
            f"Unknown data set {name!r}: neither one of the local formats "
            f"({', '.join(_LOCAL_FORMATS)}, folder:PATH) nor a tensorflow-datasets name."
        )
    problem = _prepare(builder, data_dir)
    if problem:
        raise DataNotFoundError(_not_found_message(name, builder, tried, problem))
    return _read_tfds(name, builder, size)


def _not_found_message(
    name: str, builder: "tensorflow_datasets.core.DatasetBuilder",
    tried: list[pathlib.Path] | None, problem: str,
) -> str:
    """Every place tried, why tensorflow-datasets failed, and how to provide the data."""
    header = f"Could not find the {name} data set."
    if tried is None:
        return "\n".join([
            header,
            f"tensorflow-datasets could not provide it: {problem}.",
            _how_to_provide(name, builder),
        ])
    local = _LOCAL_FORMATS[name]
    return "\n".join([
        header,
        f"Looked for {local.looked_for} in:",
        *(f"  - {directory}" for directory in tried),
        f"tensorflow-datasets could not provide it either: {problem}.",
        (f"Put the files in one directory and pass it as data_dir (train.py --data_dir=DIR), "
         f"or set {DATA_DIR_VARIABLE} to a directory holding a '{name}' folder.{local.hint}"),
    ])


# ---- Arguments --------------------------------------------------------------------------


def _check_positive(argument: str, value: typing.Any) -> None:
    """ValueError unless `value` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}.")


def _image_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """`image_size` as `(height, width)`, or None."""
    if image_size is None:
        return None
    is_int = isinstance(image_size, (int, np.integer))
    size = (image_size, image_size) if is_int else tuple(image_size)
    if len(size) != 2 or not all(isinstance(side, (int, np.integer)) and side > 0 for side in size):
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}.")
    return tuple(int(side) for side in size)

"""Where a data set's examples come from: its splits, and `_Source`, what a reader returns.

Every split has a `size`, and gives the examples `limited(n)` keeps, in file order
(`ordered()`) or as the infinite shuffled stream of `DataSet.train_dataset` (`shuffled`).
Local splits (`_ArraySplit` in memory, `_FileSplit` image files) read any example by its
index, so that the stream can start at any step; `_TfdsSplit` (tensorflow-datasets) reads
its files in sequence and shuffles through a buffer.
"""

import dataclasses
import pathlib
import typing

import numpy as np

from keras_bnn._keras import tf
from keras_bnn.data.images import _resize_shorter_side, _to_float

if typing.TYPE_CHECKING:
    import tensorflow_datasets

# The examples kept by `max_train_examples` / `max_test_examples` are drawn with this seed.
_SUBSET_SEED = 0
# tensorflow-datasets sources have no random access: they are shuffled through a buffer.
_SHUFFLE_BUFFER = 10_000

# Reads one example: its index -> (image, label).
_ExampleReader = typing.Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


class _RandomAccessSplit:
    """A split that reads any example by its index.

    Subclasses define `size`, `take(indices)` (the split of those examples only) and
    `_reader()` (an `_ExampleReader`).
    """

    def limited(self, limit: int | None) -> "_RandomAccessSplit":
        """The first `limit` examples of a fixed shuffle, kept in file order."""
        if limit is None or limit >= self.size:
            return self
        chosen = np.random.default_rng(_SUBSET_SEED).permutation(self.size)[:limit]
        return self.take(np.sort(chosen))

    def ordered(self) -> tf.data.Dataset:
        """`(image, label)` pairs in file order, images float32 in [0, 1]."""
        return tf.data.Dataset.range(self.size).map(
            self._reader(), tf.data.AUTOTUNE, deterministic=True
        )

    def shuffled(self, seed: int, start: int) -> tf.data.Dataset:
        """`(i, image, label)` for i = start, start + 1, ...: each pass a new permutation."""
        read, size = self._reader(), self.size
        seed, last = tf.constant(seed, tf.int64), tf.constant(size - 1, tf.int64)

        def example(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            permutation_seed = tf.stack([seed, i // size])  # a new permutation every pass
            index = tf.random.experimental.index_shuffle(i % size, permutation_seed, last)
            return (i, *read(index))

        return tf.data.Dataset.counter(start).map(example, tf.data.AUTOTUNE, deterministic=True)


@dataclasses.dataclass(frozen=True, eq=False)
class _ArraySplit(_RandomAccessSplit):
    """Images `(n, height, width, channels)` uint8 and int32 labels held in memory."""

    images: np.ndarray
    labels: np.ndarray
    resize: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> "_ArraySplit":
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices])

    def _reader(self) -> _ExampleReader:
        # Tensors made here, outside the `tf.data` functions, are captured by reference
        # rather than copied into their graphs as constants.
        images, labels = tf.convert_to_tensor(self.images), tf.convert_to_tensor(self.labels)
        return lambda index: (
            _to_float(tf.gather(images, index), self.resize),
            tf.gather(labels, index),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class _FileSplit(_RandomAccessSplit):
    """Image files, decoded when read, and their int32 labels.

    Without `resize`, every image must have the `shape` of the `first` one.
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    shape: tuple[int, int, int]
    resize: bool
    first: str

    @property
    def size(self) -> int:
        return len(self.paths)

    def take(self, indices: np.ndarray) -> "_FileSplit":
        paths = tuple(self.paths[index] for index in indices)
        return dataclasses.replace(self, paths=paths, labels=self.labels[indices])

    def _reader(self) -> _ExampleReader:
        paths, labels = tf.constant(self.paths), tf.convert_to_tensor(self.labels)
        return lambda index: (self._read(tf.gather(paths, index)), tf.gather(labels, index))

    def _read(self, path: tf.Tensor) -> tf.Tensor:
        """The image at `path`, float32 in [0, 1], of `shape` (resized, or checked)."""
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
                (f", but the first image, {self.first}, is {self.shape[0]}x{self.shape[1]}: "
                 "pass image_size to resize all images."),
            ])],
        )
        with tf.control_dependencies([same_size]):
            return tf.ensure_shape(_to_float(image), self.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class _TfdsSplit:
    """A split of a prepared tensorflow-datasets data set (sequential access only).

    Images are resized to `resize`, or have their shorter side resized to `shorter_side`
    (images of varying size), or neither.
    """

    builder: "tensorflow_datasets.core.DatasetBuilder"
    split: str
    image_key: str
    label_key: str
    resize: tuple[int, int] | None
    shorter_side: int | None
    limit: int | None = None

    @property
    def size(self) -> int:
        total = self.builder.info.splits[self.split].num_examples
        return total if self.limit is None else min(self.limit, total)

    def limited(self, limit: int | None) -> "_TfdsSplit":
        """The first `limit` examples (tensorflow-datasets shuffled them when preparing)."""
        return self if limit is None else dataclasses.replace(self, limit=limit)

    def ordered(self) -> tf.data.Dataset:
        """`(image, label)` pairs in the order tensorflow-datasets stores them."""
        return self._examples(shuffle_files=False).map(
            self._decode, tf.data.AUTOTUNE, deterministic=True
        )

    def shuffled(self, seed: int, start: int) -> tf.data.Dataset:
        """`(i, image, label)` for i = start, start + 1, ... of a stream shuffled by `seed`."""
        import tensorflow_datasets as tfds

        examples = self._examples(True, read_config=tfds.ReadConfig(shuffle_seed=seed))
        examples = examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        examples = examples.repeat()
        examples = tf.data.Dataset.zip(tf.data.Dataset.counter(), examples).skip(start)
        return examples.map(
            lambda i, example: (i, *self._decode(*example)), tf.data.AUTOTUNE, deterministic=True
        )

    def _examples(self, shuffle_files: bool, **kwargs: typing.Any) -> tf.data.Dataset:
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

    def _decode(self, encoded: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The float32 image in [0, 1], resized as asked, and the int32 label."""
        image = self.builder.info.features[self.image_key].decode_example(encoded)
        if self.shorter_side:
            image = _resize_shorter_side(_to_float(image), self.shorter_side)
        else:
            image = _to_float(image, self.resize)
        return image, tf.cast(label, tf.int32)


_Split = _RandomAccessSplit | _TfdsSplit


class _Source(typing.NamedTuple):
    """A data set as read: where from, its two splits, classes and image shape."""

    source: str
    train: _Split
    test: _Split
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    varying_size: bool = False


# A local format's reader: (directory, image size or None) -> what it read there, or None
# where its files are not.
_LocalReader = typing.Callable[[pathlib.Path, tuple[int, int] | None], _Source | None]

"""Image operations of the data pipelines: conversion to float, resizing, augmentation."""

from keras_bnn._keras import tf


def _to_float(image: tf.Tensor, size: tuple[int, int] | None = None) -> tf.Tensor:
    """uint8 image -> float32 in [0, 1], resized to `size` when given."""
    image = tf.image.convert_image_dtype(image, tf.float32)
    return image if size is None else tf.image.resize(image, size, antialias=True)


def _resize_shorter_side(image: tf.Tensor, side: int) -> tf.Tensor:
    """`image` resized, its aspect ratio kept, so that its shorter side is `side` pixels."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    new_shape = tf.cast(tf.round(shape * side / tf.reduce_min(shape)), tf.int32)
    return tf.image.resize(image, new_shape, antialias=True)


def _random_crop_and_flip(
    image: tf.Tensor, seed: tf.Tensor, shape: tuple[int, int, int], padding: tuple[int, int]
) -> tf.Tensor:
    """A random `shape` crop of `image` zero-padded by `padding`, flipped half the time.

    All randomness is drawn from the stateless `seed` (shape `[2]`).
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pad_height, pad_width = padding
    image = tf.pad(image, [[pad_height, pad_height], [pad_width, pad_width], [0, 0]])
    image = tf.image.stateless_random_crop(image, shape, seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)

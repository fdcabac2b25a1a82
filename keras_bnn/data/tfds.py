"""tensorflow-datasets (https://www.tensorflow.org/datasets) as a source: its builder of a
data set, preparing (downloading) the data after a quick network probe, and the two splits.
"""

import os
import socket
import typing

from keras_bnn.data.splits import _Source, _TfdsSplit

if typing.TYPE_CHECKING:
    import tensorflow_datasets

# Images of varying size (ImageNet) have their shorter side resized to 256/224 of the crop.
_DEFAULT_CROP = 224
_RESIZE_PER_CROP = 256 / 224
# Where most tensorflow-datasets downloads come from; probed before a download so that
# an offline machine gets an answer at once instead of after minutes of retries.
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_DOWNLOAD_PROBE_TIMEOUT_S = 3


def _tfds_builder(
    name: str, data_dir: str | os.PathLike | None
) -> "tensorflow_datasets.core.DatasetBuilder | None":
    """tensorflow-datasets' builder of `name`, or None for a name it does not know."""
    import tensorflow_datasets as tfds  # slow to import, and only needed when used

    try:
        return tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        return None


def _prepare(
    builder: "tensorflow_datasets.core.DatasetBuilder", data_dir: str | os.PathLike | None
) -> str | None:
    """Downloads and prepares `builder`'s data unless they are; returns why that failed,
    or None."""
    import tensorflow_datasets as tfds

    if builder.is_prepared():
        return None
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


def _network_available() -> bool:
    """Whether tensorflow-datasets' download host answers within a few seconds."""
    try:
        socket.create_connection(_DOWNLOAD_HOST, timeout=_DOWNLOAD_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _how_to_provide(name: str, builder: "tensorflow_datasets.core.DatasetBuilder") -> str:
    """How to provide `name`'s data where `_prepare` failed: its manual download, or
    preparing it on a machine with a network."""
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        instructions = " ".join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
        return f"Download its files by hand into data_dir (train.py --data_dir=DIR): {instructions}"
    return (
        f"Prepare it where there is a network (tfds build {name} --data_dir=DIR) and pass "
        "that directory as data_dir (train.py --data_dir=DIR)."
    )


def _read_tfds(
    name: str, builder: "tensorflow_datasets.core.DatasetBuilder", size: tuple[int, int] | None
) -> _Source:
    """The prepared data of `builder`, its images resized to `size` when given; images of
    varying size have their shorter side resized, for a crop of `size` (default 224)."""
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


def _tfds_splits(builder: "tensorflow_datasets.core.DatasetBuilder") -> tuple[str, str]:
    """Names of the train and the test split ("test", else "validation")."""
    splits = builder.info.splits
    test = next((split for split in ("test", "validation") if split in splits), None)
    if "train" not in splits or test is None:
        raise ValueError(
            f"tensorflow-datasets' {builder.name} has the splits {list(splits)}; "
            "expected 'train' and 'test' (or 'validation')."
        )
    return "train", test


def _supervised_keys(builder: "tensorflow_datasets.core.DatasetBuilder") -> tuple[str, str]:
    """The image and the label feature; ValueError if the data set has no such pair."""
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2 or len(builder.info.features[keys[0]].shape) != 3:
        raise ValueError(
            f"tensorflow-datasets' {builder.name} is not an image-classification data set "
            f"(its supervised keys are {keys})."
        )
    return keys

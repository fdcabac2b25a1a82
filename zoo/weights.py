"""The pretrained-weights registry: which trained weights exist, where, and how good.

Each entry names a zoo model and the builder options it was trained with, the data set,
the weights file with its SHA-256, the test accuracy measured at the end of training, and
the exact `train.py` command that produced it. Entries with `url: null` ship inside this
package (`zoo/pretrained/`); the others are downloaded into the cache by
`keras_bnn.downloads.fetch`. Either way the file's hash is checked before it is loaded.

```python
import zoo

zoo.weights.entries("bnn_vgg_small")          # what is registered for a model
model = zoo.get_model("bnn_vgg_small", weights="fashion_mnist")
```

A run of `train.py` is registered (weights copied into `zoo/pretrained/`, hash and
accuracy recorded) with `python -m zoo register RUN_DIR --key fashion_mnist`.
"""

import dataclasses
import json
import os
import pathlib
import urllib.parse
from collections.abc import Iterable

from keras_bnn import downloads

__all__ = ["PRETRAINED_DIR", "REGISTRY_NAME", "WeightsEntry", "entries", "find", "is_url",
           "save_registry", "weights_file"]

PRETRAINED_DIR = pathlib.Path(__file__).parent / "pretrained"  # the registry and shipped files
REGISTRY_NAME = "registry.json"


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """One registered set of weights (see the module docstring).

    ```python
    import zoo

    entry = zoo.weights.find("bnn_vgg_small", "fashion_mnist")
    entry.options, entry.input_shape, entry.test_accuracy  # what it was trained with, and got
    record = entry.to_json()                               # as the registry file holds it
    assert zoo.weights.WeightsEntry.from_json(record) == entry
    ```

    # Attributes
        model: Zoo model name.
        key: The name `get_model(model, weights=key)` takes, e.g. "fashion_mnist".
        options: Builder options the weights were trained with.
        input_shape, num_classes: Of the trained model.
        dataset: Data set name as `train.py --dataset` takes it; `data_source` says which
            copy it was trained on (e.g. a JPEG copy of CIFAR-10 rather than the original).
        file: File name (in `zoo/pretrained/` or the cache).
        url: Where to download it; None when it ships in the package.
        sha256: The file's SHA-256.
        test_accuracy: Top-1 on the whole test set (`test_examples` images).
        command: The `train.py` command that trained it.
    """

    model: str
    key: str
    options: dict
    input_shape: tuple
    num_classes: int
    dataset: str
    data_source: str
    file: str
    url: str | None
    sha256: str
    test_accuracy: float
    test_examples: int
    command: str

    @classmethod
    def from_json(cls, record: dict) -> "WeightsEntry":
        """The entry of a record of the registry file (`to_json`'s inverse)."""
        return cls(**{**record, "input_shape": tuple(record["input_shape"])})

    def to_json(self) -> dict:
        """The entry as a record of the registry file: a dict of JSON values."""
        return {**dataclasses.asdict(self), "input_shape": list(self.input_shape)}


def _read_registry() -> list[WeightsEntry]:
    registry = PRETRAINED_DIR / REGISTRY_NAME
    if not registry.is_file():
        return []
    return [WeightsEntry.from_json(record) for record in json.loads(registry.read_text())]


def entries(model: str | None = None) -> list[WeightsEntry]:
    """The registered weights, of one zoo model or of all, in registry order.

    ```python
    import zoo

    [entry.key for entry in zoo.weights.entries("recu_vgg_small")]  # ["cifar10", ...]
    ```
    """
    return [entry for entry in _read_registry() if model in (None, entry.model)]


def find(model: str, key: str) -> WeightsEntry:
    """The entry registered for `model` under `key`.

    ```python
    import zoo

    entry = zoo.weights.find("bnn_vgg_small", "mnist")
    try:
        zoo.weights.find("bnn_vgg_small", "imagenet")
    except ValueError as error:
        print(error)  # No weights 'imagenet' are registered ... (registered: 'cifar10', ...)
    ```

    # Raises
        ValueError: when there is none; the message lists the model's keys.
    """
    for entry in entries(model):
        if entry.key == key:
            return entry
    known = ", ".join(repr(entry.key) for entry in entries(model)) or "none"
    raise ValueError(f"No weights {key!r} are registered for zoo model {model!r} (registered: "
                     f"{known}). Pass a registry key, a local weights file or a URL with "
                     "weights_hash=.")


def is_url(text: str | os.PathLike) -> bool:
    """Whether `text` is an http(s) or file URL.

    ```python
    from zoo.weights import is_url

    assert is_url("https://example.org/model.weights.h5")
    assert not is_url("runs/x/model.weights.h5")
    ```
    """
    return urllib.parse.urlparse(str(text)).scheme in ("http", "https", "file")


def weights_file(entry: WeightsEntry) -> pathlib.Path:
    """The local, hash-verified path of an entry's weights (downloaded when needed).

    ```python
    import zoo

    path = zoo.weights.weights_file(zoo.weights.find("bnn_vgg_small", "fashion_mnist"))
    path.name  # "bnn_vgg_small-fashion_mnist.weights.h5", shipped in zoo/pretrained/
    ```

    # Raises
        keras_bnn.downloads.DownloadError: for a shipped file whose hash is wrong (a broken
            installation), and as `keras_bnn.downloads.fetch` for downloads.
    """
    if entry.url is not None:
        return downloads.fetch(entry.url, entry.sha256, filename=entry.file)
    path = PRETRAINED_DIR / entry.file
    if not path.is_file() or downloads.file_sha256(path) != entry.sha256:
        raise downloads.DownloadError(
            f"The shipped weights {path} are missing or do not have the registered SHA-256 "
            f"{entry.sha256}: reinstall keras_bnn."
        )
    return path


def save_registry(all_entries: Iterable[WeightsEntry]) -> None:
    """Writes the registry file (sorted by model and key), replacing every entry.

    ```python
    import pathlib
    import shutil
    import zoo

    shipped = zoo.weights.PRETRAINED_DIR  # point the registry at a copy, to write to it
    zoo.weights.PRETRAINED_DIR = pathlib.Path(shutil.copytree(shipped, "pretrained"))
    try:
        zoo.weights.save_registry(zoo.weights.entries("bnn_vgg_small"))
        assert {entry.model for entry in zoo.weights.entries()} == {"bnn_vgg_small"}
    finally:
        zoo.weights.PRETRAINED_DIR = shipped
    ```
    """
    records = [entry.to_json() for entry in sorted(all_entries, key=lambda e: (e.model, e.key))]
    (PRETRAINED_DIR / REGISTRY_NAME).write_text(json.dumps(records, indent=1) + "\n")

"""Verified downloads into a local cache that a failure cannot corrupt.

A file is fetched into a temporary file beside its cache entry, checked against its
SHA-256, and only then moved into place (`os.replace`, atomic on one file system): a
hash mismatch, a truncated transfer or a dropped connection raises `DownloadError` and
leaves nothing in the cache. A cached file is verified again before every use.

```python
import hashlib
import pathlib
import keras_bnn.downloads

pathlib.Path("weights.bin").write_bytes(b"abc")
url = pathlib.Path("weights.bin").absolute().as_uri()  # file://..., or an https URL
path = keras_bnn.downloads.fetch(url, sha256=hashlib.sha256(b"abc").hexdigest(),
                                 directory="cache")  # cache/weights.bin, verified
```

The cache is `~/.keras/keras_bnn/`, or the folder named by `$KERAS_BNN_CACHE`.
"""

import hashlib
import http.client
import os
import pathlib
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO

from keras_bnn.files import check_writable_folder, replaced_atomically

__all__ = ["CACHE_ENVIRONMENT_VARIABLE", "DownloadError", "cache_dir", "fetch", "file_sha256"]

CACHE_ENVIRONMENT_VARIABLE = "KERAS_BNN_CACHE"
_CHUNK_BYTES = 1 << 20


class DownloadError(OSError):
    """A file that could not be fetched or verified: the message says why and what to do.

    ```python
    import hashlib
    import pathlib

    pathlib.Path("weights.bin").write_bytes(b"abc")
    url = pathlib.Path("weights.bin").absolute().as_uri()  # file://..., or an https URL
    from keras_bnn.downloads import DownloadError, fetch

    try:
        fetch(url, sha256="0" * 64, directory="cache")
    except DownloadError as error:
        print(error)  # ... has SHA-256 ba7816bf..., not the expected 000...: ... not cached.
    ```
    """


def cache_dir() -> pathlib.Path:
    """The cache folder: `$KERAS_BNN_CACHE` if set, else `~/.keras/keras_bnn`.

    ```python
    from keras_bnn.downloads import cache_dir

    cache_dir()  # PosixPath('/home/me/.keras/keras_bnn'), or $KERAS_BNN_CACHE
    ```
    """
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".keras" / "keras_bnn"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits.

    ```python
    import pathlib
    from keras_bnn.downloads import file_sha256

    pathlib.Path("hello.txt").write_bytes(b"abc")
    file_sha256("hello.txt")  # "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    ```
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hash(expected: str | None) -> str:
    expected = str(expected or "").lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256={expected!r} is not a SHA-256 (64 hex digits); pass the "
                         "file's hash, e.g. from `sha256sum FILE`.")
    return expected


def fetch(url: str, sha256: str, *, filename: str | None = None,
          directory: str | os.PathLike | None = None, timeout: float = 60) -> pathlib.Path:
    """The path of the cached, verified copy of `url`, downloading it when needed.

    ```python
    import hashlib
    import pathlib

    pathlib.Path("weights.bin").write_bytes(b"abc")
    url = pathlib.Path("weights.bin").absolute().as_uri()  # file://..., or an https URL
    from keras_bnn.downloads import fetch

    digest = hashlib.sha256(b"abc").hexdigest()
    path = fetch(url, digest, filename="abc.bin", directory="cache")  # cache/abc.bin
    assert fetch(url, digest, filename="abc.bin", directory="cache") == path  # cached now
    ```

    # Arguments
        url: http(s) or file URL.
        sha256: The file's expected SHA-256 (hex).
        filename: Name in the cache; default the last part of the URL's path.
        directory: Cache folder; default `cache_dir()`.
        timeout: Seconds without data before the transfer is given up.

    # Returns
        A `pathlib.Path` in the cache whose content has the given hash.

    # Raises
        ValueError: for a malformed hash.
        DownloadError: when the file cannot be fetched (offline: the message says where to
            put a copy), is truncated, or has another hash; when the cache folder is a
            file or cannot be written. The cache is left as it was, except that a cached
            copy with the wrong hash is removed.
    """
    expected = _check_hash(sha256)
    directory = pathlib.Path(directory) if directory is not None else cache_dir()
    name = filename or pathlib.PurePosixPath(urllib.parse.urlparse(url).path).name
    if not name:
        raise ValueError(f"Cannot name the cache file of {url!r}: pass filename=.")
    target = directory / name
    if target.is_file():
        if file_sha256(target) == expected:
            return target
        target.unlink()  # corrupted or stale: fetch it again
    try:
        check_writable_folder(directory)
    except OSError as error:
        raise DownloadError(f"Cannot cache {name}: {error}. Set ${CACHE_ENVIRONMENT_VARIABLE} "
                            "to a folder you can write.") from None
    with replaced_atomically(target) as temporary:
        with open(temporary, "wb") as file:
            _download(url, file, timeout, target)
        actual = file_sha256(temporary)
        if actual != expected:
            raise DownloadError(
                f"{url} has SHA-256 {actual}, not the expected {expected}: the file is "
                "corrupted or not the one registered. Nothing was cached."
            )
    return target


def _download(url: str, file: BinaryIO, timeout: float, target: pathlib.Path) -> None:
    """Writes the body of `url` into `file`; a short or failed transfer raises."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected_bytes = response.headers.get("Content-Length")
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                file.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"The server answered {url} with HTTP {error.code} "
                            f"{error.reason}: the URL is wrong or the file has moved. Nothing "
                            "was cached.") from error
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"Could not download {url} ({reason}). Offline? Fetch the file elsewhere and "
            f"put it at {target} (its hash is checked), or set ${CACHE_ENVIRONMENT_VARIABLE} "
            "to a folder that holds it. Nothing was cached."
        ) from error
    if expected_bytes is not None and received != int(expected_bytes):
        raise DownloadError(
            f"The download of {url} stopped after {received} of {expected_bytes} bytes. "
            "Nothing was cached; try again."
        )

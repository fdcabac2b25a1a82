"""Shared test set-up: keras_bnn first (Keras 2), two logical CPUs, the real data sets,
a local HTTP server."""

import functools
import http.server
import pathlib
import tarfile
import threading

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 before anything else)
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import downloads

# Two logical CPU devices, so that tests can train under MirroredStrategy. This must happen
# before TensorFlow initializes its runtime, hence at import time of the conftest.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

SHARED_DATASETS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets():
    """`../shared/datasets` beside the project; a test that needs it fails when it is missing."""
    if not SHARED_DATASETS.is_dir():
        pytest.fail(
            f"{SHARED_DATASETS} is missing: the tests read real data sets from there. "
            "Place the shared folder beside this checkout."
        )
    return SHARED_DATASETS


def extract_cifar(shared_datasets, root, per_class):
    """Extracts `cifar10-jpeg/{train,test}/<class>/NNNN.jpg` of the real archive into `root`:
    the first `per_class[split]` images of every class (all 60,000 would take too long)."""
    with tarfile.open(shared_datasets / "cifar10-jpeg.tar.gz") as archive:
        for member in archive:
            parts = pathlib.PurePosixPath(member.name).parts
            if member.isfile() and int(parts[-1].split(".")[0]) < per_class[parts[1]]:
                target = root.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
    return root


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with fresh layer names and a fixed seed."""
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def cifar_images(shared_datasets):
    """32 real CIFAR-10 test images (JPEG copy), normalized."""
    images = []
    with tarfile.open(shared_datasets / "cifar10-jpeg.tar.gz") as archive:
        for member in archive:
            if "/test/" in member.name and member.name.endswith(".jpg"):
                raw = archive.extractfile(member).read()
                images.append(tf.io.decode_jpeg(raw).numpy())
                if len(images) == 32:
                    break
    return (np.stack(images).astype(np.float32) / 255.0 - 0.47) / 0.25


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A folder served over HTTP on 127.0.0.1, and a fresh download cache."""
    folder = tmp_path / "served"
    folder.mkdir()
    monkeypatch.setenv(downloads.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path / "cache"))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=folder)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Polling every 10 ms, shutdown() returns at once (the default 0.5 s, per test).
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def pytest_collection_modifyitems(items):
    """Runs the slow tier first: the two test processes then end together, instead of one
    waiting idle while the other runs a long test that started last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

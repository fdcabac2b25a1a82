"""Shared test set-up: TensorFlow in each test process (keras_bnn first, for Keras 2), the
real data sets, a local HTTP server, the order of the modules."""

import atexit
import functools
import http.server
import os
import pathlib
import sys
import tarfile
import threading

import numpy as np
import pytest


def pytest_configure(config):
    """Sets up TensorFlow in each process that runs tests, before any test module imports
    it: keras_bnn first (Keras 2), the process's share of the cores, two logical CPUs.
    pytest-xdist's controller process runs no test and skips it (a TensorFlow start less
    before the test processes start)."""
    worker = hasattr(config, "workerinput")
    if worker:
        atexit.register(_end_without_teardown)  # first registered: runs after all others
    controller = (not worker and not config.getoption("collectonly")
                  and config.getoption("dist", "no") != "no" and config.getoption("tx", None))
    if not controller:
        _set_up_tensorflow()


def _end_without_teardown():
    """Ends an xdist test process once its results are sent and its exit handlers have run,
    without the interpreter's teardown of what the tests left (gigabytes of models and
    TensorFlow's state: seconds that the whole run waited for)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _set_up_tensorflow():
    # Under `pytest -n N`, each test process (and each process it starts) gets its share
    # of the cores for TensorFlow's ops: N processes each using every core, as TensorFlow
    # does by default, spend the machine's time on contention.
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if processes > 1:
        share = max(1, (os.cpu_count() or 1) // processes)
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(share))

    import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 before anything else)
    import tensorflow as tf

    # Two logical CPU devices, so that tests can train under MirroredStrategy. This must
    # happen before TensorFlow initializes its runtime.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


TESTS = pathlib.Path(__file__).resolve().parent
SHARED_DATASETS = TESTS.parents[1] / "shared" / "datasets"


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
    import tensorflow as tf

    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def cifar_images(shared_datasets):
    """32 real CIFAR-10 test images (JPEG copy), normalized."""
    import tensorflow as tf

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
    from keras_bnn import downloads

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


# The modules that take longest, longest first (about how many seconds their tests take on 2
# cores, from `pytest --durations=0`). `make test` hands each module whole to one of two
# processes (`--dist loadscope`: a module's fixtures are built once), the next module to
# whichever process is free first; with the long ones first, the two processes end together.
LONGEST_FIRST = (
    "test_examples.py",  # 135 s
    "test_train.py",  # 128 s
    "test_export.py",  # 85 s
    "test_zoo.py",  # 63 s
    "test_models_written_elsewhere.py",  # 30 s
    "test_zoo_binaryduo.py",  # 25 s
    "test_zoo_recu.py",  # 25 s
    "test_zoo_weights.py",  # 25 s
    "test_int8.py",  # 25 s
    "test_keras_env.py",  # 24 s
    "test_decoupling.py",  # 23 s
    "test_binarization.py",  # 20 s
    "test_benchmark.py",  # 17 s
    "test_data.py",  # 16 s
    "test_zoo_real_to_binary.py",  # 14 s
    "test_callbacks.py",  # 13 s
)


def pytest_collection_modifyitems(items):
    """Orders the modules longest first (LONGEST_FIRST, then the others as collected),
    keeping each module's tests together and in their order."""
    missing = [name for name in LONGEST_FIRST if not (TESTS / name).is_file()]
    if missing:
        raise pytest.UsageError(f"conftest.LONGEST_FIRST names {missing}, not in {TESTS}")

    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)

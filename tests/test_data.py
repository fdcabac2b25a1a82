"""Reading and finding MNIST-like data sets from the real files in ../shared/datasets."""

import gzip

import numpy as np
import pytest

from keras_bnn import data


def test_read_idx_reads_the_real_mnist_files(shared_datasets):
    images = data.read_idx(shared_datasets / "mnist" / "train-images-idx3-ubyte.gz")
    labels = data.read_idx(shared_datasets / "mnist" / "train-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0


def test_load_fashion_mnist_gives_normalized_balanced_splits(shared_datasets):
    (x_train, y_train), (x_test, y_test) = data.load_mnist_like(
        "fashion_mnist", shared_datasets / "fashion-mnist"
    )
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)


def test_read_idx_refuses_truncated_and_foreign_files(shared_datasets, tmp_path):
    raw = gzip.open(shared_datasets / "mnist" / "t10k-labels-idx1-ubyte.gz").read()
    truncated = tmp_path / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(truncated)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(foreign)


def test_data_dir_is_found_through_the_environment_variable(
    shared_datasets, tmp_path, monkeypatch
):
    (tmp_path / "mnist").symlink_to(shared_datasets / "mnist")
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    assert data.find_data_dir("mnist") == tmp_path / "mnist"


def test_missing_data_lists_every_place_tried_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(data, "SYSTEM_DATA_ROOT", tmp_path / "system")
    with pytest.raises(data.DataNotFoundError) as error:
        data.find_data_dir("fashion_mnist")
    message = str(error.value)
    for tried in (tmp_path / "fashion_mnist", tmp_path / "fashion-mnist", tmp_path,
                  tmp_path / "system" / "fashion-mnist"):
        assert f"- {tried}\n" in message + "\n"
    assert "--data_dir" in message and "apt-get install dataset-fashion-mnist" in message


def test_unknown_data_set_name_is_refused():
    with pytest.raises(ValueError, match="Unknown MNIST-like data set 'cifar100'"):
        data.load_mnist_like("cifar100")


def test_to_dataset_batches_every_example_once():
    images = np.arange(10, dtype=np.float32).reshape(10, 1)
    labels = np.arange(10)
    batches = list(data.to_dataset(images, labels, batch_size=4, shuffle=True))
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    seen = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(np.sort(seen), labels)
    np.testing.assert_array_equal(np.concatenate([x.numpy()[:, 0] for x, _ in batches]), seen)

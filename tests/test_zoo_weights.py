"""Pretrained weights: the shipped ones reach their registered accuracy on samples of the
real test sets; get_model's registry keys, URLs, include_top and their errors; `python -m zoo`."""

import json
import shutil

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.__main__ as zoo_cli
from conftest import extract_cifar
from keras_bnn import data, downloads

SHIPPED = [entry for entry in zoo.weights.entries() if entry.url is None]
METHODS = ("bnn_vgg_small", "binaryduo_vgg_small", "recu_vgg_small")
DATASETS = ("fashion_mnist", "mnist", "cifar10")
# Shipped weights are checked on a sample of each test set: 2,000 images measure an accuracy
# to within 3.5 points at three standard deviations (binomial, p = 0.5), while weights that
# did not load, or loaded into the wrong layers, fall to chance (10 %).
SAMPLE, TOLERANCE = 2000, 0.035


@pytest.fixture(scope="session")
def data_dirs(shared_datasets, tmp_path_factory):
    """Where each data set is: CIFAR-10 is 200 test images per class of the JPEG copy (and
    one training image per class, which the image-folder reader needs)."""
    cifar = extract_cifar(shared_datasets, tmp_path_factory.mktemp("cifar10"),
                          {"train": 1, "test": SAMPLE // 10})
    return {"fashion_mnist": shared_datasets / "fashion-mnist",
            "mnist": shared_datasets / "mnist", "cifar10": cifar}


def accuracy(model, dataset):
    correct = total = 0
    for images, labels in dataset.test_dataset(500):
        predicted = np.argmax(model(images, training=False), axis=-1)
        correct += int(np.sum(predicted == labels.numpy().reshape(-1)))
        total += len(predicted)
    return correct / total


def test_every_method_ships_weights_for_every_data_set():
    assert {(e.model, e.dataset) for e in SHIPPED} >= {(m, d) for m in METHODS for d in DATASETS}
    for entry in SHIPPED:
        path = zoo.weights.PRETRAINED_DIR / entry.file
        assert downloads.file_sha256(path) == entry.sha256, entry.file
        assert entry.command.startswith("python train.py --model=" + entry.model)
        assert entry.test_examples == 10_000
        assert ("JPEG" in entry.data_source) == (entry.dataset == "cifar10")


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: f"{e.model}-{e.key}")
def test_shipped_weights_reach_their_registered_accuracy(entry, data_dirs):
    model = zoo.get_model(entry.model, weights=entry.key)
    dataset = data.load(entry.dataset, data_dirs[entry.dataset], max_test_examples=SAMPLE)
    measured = accuracy(model, dataset)
    assert abs(measured - entry.test_accuracy) <= TOLERANCE, (measured, entry.test_accuracy)


@pytest.fixture
def entry():
    return zoo.weights.find("bnn_vgg_small", "fashion_mnist")


def test_without_top_the_model_outputs_what_the_classifier_reads(entry):
    model = zoo.get_model(entry.model, weights=entry.key)
    features = zoo.get_model(entry.model, weights=entry.key, include_top=False)
    assert all(layer.name != "classifier" for layer in features.layers)
    x = np.random.default_rng(0).normal(size=(2, *entry.input_shape)).astype(np.float32)
    expected = tf.keras.Model(model.input, model.get_layer("classifier").input)(x)
    np.testing.assert_allclose(features(x), expected, rtol=1e-6)


def test_registered_weights_load_at_another_size_without_a_flattening_classifier(entry):
    trained = zoo.get_model(entry.model, weights=entry.key)
    with pytest.raises(ValueError, match="flattened last map"):
        zoo.get_model(entry.model, weights=entry.key, input_shape=(32, 32, 1))
    features = zoo.get_model(entry.model, weights=entry.key, input_shape=(32, 32, 1),
                             include_top=False)
    assert features.input_shape == (None, 32, 32, 1)
    for name in ("conv1", "conv6", "conv6_bn"):
        for a, b in zip(features.get_layer(name).get_weights(),
                        trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("arguments, message", [
    ({"num_classes": 5}, "10-class classifier, not 5"),
    ({"input_shape": (28, 28, 3)}, "take 1-channel images, not 3"),
    ({"width_multiplier": 0.5}, "contradicts"),
    ({"weights": "imagenet"}, "registered: 'cifar10', 'fashion_mnist', 'mnist'"),
    ({"weights_hash": "0" * 64}, "checked against their own hash"),
])
def test_registered_weights_asked_for_what_they_cannot_be_are_refused(entry, arguments, message):
    with pytest.raises(ValueError, match=message):
        zoo.get_model(entry.model, **{"weights": entry.key, **arguments})


def test_a_damaged_shipped_file_is_refused(entry, tmp_path, monkeypatch):
    shutil.copytree(zoo.weights.PRETRAINED_DIR, tmp_path / "pretrained")
    damaged = tmp_path / "pretrained" / entry.file
    damaged.write_bytes(damaged.read_bytes()[:-10])
    monkeypatch.setattr(zoo.weights, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(downloads.DownloadError, match="reinstall"):
        zoo.get_model(entry.model, weights=entry.key)


def test_weights_from_a_url_are_verified_then_loaded(served, tmp_path):
    folder, url = served
    model = zoo.get_model("bnn_small")
    model.set_weights([w + 0.1 for w in model.get_weights()])
    model.save_weights(folder / "small.weights.h5")
    digest = downloads.file_sha256(folder / "small.weights.h5")
    loaded = zoo.get_model("bnn_small", weights=f"{url}/small.weights.h5", weights_hash=digest)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(downloads.DownloadError, match="SHA-256"):
        zoo.get_model("bnn_small", weights=f"{url}/small.weights.h5", weights_hash="0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []  # not kept under a hash it lacks


def fake_run(folder, options, weights_offset=0.25):
    """A finished train.py run folder of bnn_vgg_small, as `register` reads it."""
    model = zoo.get_model("bnn_vgg_small", input_shape=(28, 28, 1), **options)
    model.set_weights([w + weights_offset for w in model.get_weights()])
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({
        "model": "bnn_vgg_small", "model_options": options, "dataset": "fashion_mnist",
        "data_source": "IDX files", "test_accuracy": 0.81234, "test_examples": 10000,
        "command": "python train.py --model=bnn_vgg_small"}))
    return model


def test_register_adds_a_run_that_then_loads_by_key(tmp_path, monkeypatch, capsys):
    shutil.copytree(zoo.weights.PRETRAINED_DIR, tmp_path / "pretrained")
    monkeypatch.setattr(zoo.weights, "PRETRAINED_DIR", tmp_path / "pretrained")
    trained = fake_run(tmp_path / "run", {"width_multiplier": 0.125})
    zoo_cli.main(["register", str(tmp_path / "run"), "--key", "mine"])
    assert "test accuracy 0.8123" in capsys.readouterr().out
    entry = zoo.weights.find("bnn_vgg_small", "mine")
    assert entry.options == {"width_multiplier": 0.125} and entry.input_shape == (28, 28, 1)
    loaded = zoo.get_model("bnn_vgg_small", weights="mine")
    for a, b in zip(loaded.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(zoo.weights.entries()) == len(SHIPPED) + 1

    with pytest.raises(SystemExit, match="pass the options it was trained with"):
        zoo_cli.main(["register", str(tmp_path / "run"), "--key", "x",
                      "--option", "width_multiplier=0.5"])


def test_list_prints_sizes_and_registered_accuracies(entry, capsys):
    zoo_cli.main(["list", "bnn_vgg_small"])
    lines = capsys.readouterr().out.splitlines()
    row = lines[2]
    model = zoo.get_model("bnn_vgg_small")
    assert row.startswith("| bnn_vgg_small | ") and row.endswith("| cifar10, fashion_mnist, mnist |")
    macs = lq.models.ModelProfile(model).op_count("mac", 1)
    assert f"| {model.count_params():,} | {macs:,} |" in row
    registered = next(line for line in lines if "| fashion_mnist |" in line)
    trained = zoo.get_model(entry.model, weights=entry.key)
    assert f"| {trained.count_params():,} |" in registered
    assert registered.endswith(f"| {100 * entry.test_accuracy:.2f} % |")
    assert "| width_multiplier=0.125 | 28x28x1 |" in registered
    with pytest.raises(SystemExit, match="unknown zoo model"):
        zoo_cli.main(["list", "resnet9000"])

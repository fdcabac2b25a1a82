"""keras_bnn.data on the real files of ../shared/datasets: every format, the pipelines' exact
contents, determinism, resumption, augmentation, the search for files and its errors."""

import gzip
import os
import pickle
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import extract_cifar
from keras_bnn import data

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR_PER_CLASS = {"train": 20, "test": 10}  # images per class extracted from the archive


# ---- Fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="session")
def cifar_root(shared_datasets, tmp_path_factory):
    """A folder holding `cifar10-jpeg/{train,test}/<class>/NNNN.jpg`: the first images of
    every class of the real archive (extracting all 60,000 would take too long)."""
    return extract_cifar(shared_datasets, tmp_path_factory.mktemp("cifar"), CIFAR_PER_CLASS)


@pytest.fixture(scope="session")
def cifar_files(cifar_root):
    """`{split: (pixels uint8 (n, 32, 32, 3), labels, paths)}` of the extracted images, in
    file order (classes alphabetically, then file names)."""
    files = {}
    for split in ("train", "test"):
        paths = sorted((cifar_root / "cifar10-jpeg" / split).glob("*/*.jpg"))
        pixels = np.stack([tf.io.decode_jpeg(tf.io.read_file(str(path))).numpy() for path in paths])
        labels = np.array([CIFAR10_CLASSES.index(path.parent.name) for path in paths])
        files[split] = (pixels, labels, paths)
    return files


@pytest.fixture(scope="session")
def mnist_raw(shared_datasets):
    read = lambda stem: data.read_idx(shared_datasets / "mnist" / f"{stem}.gz")  # noqa: E731
    return {
        "train": (read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")),
        "test": (read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte")),
    }


@pytest.fixture()
def no_local_data(tmp_path, monkeypatch):
    """No environment variable and an empty system location."""
    monkeypatch.delenv(data.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(data, "SYSTEM_DATA_ROOT", tmp_path / "system")


def batches(dataset, count):
    return [(images.numpy(), labels.numpy()) for images, labels in dataset.take(count)]


def assert_same_batches(first, second):
    assert len(first) == len(second)
    for (images_a, labels_a), (images_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)


def pixels(images, name):
    """Normalized images of data set `name` back to [0, 1]."""
    mean, std = data.NORMALIZATION.get(name, data.NORMALIZATION["imagenet"])
    if images.shape[-1] != len(mean):
        mean, std = np.mean(mean), np.mean(std)
    return images * np.array(std, np.float32) + np.array(mean, np.float32)


def to_bytes(images, name):
    """Normalized images back to uint8, one bytes fingerprint per image."""
    return [image.tobytes() for image in np.round(pixels(images, name) * 255).astype(np.uint8)]


# ---- IDX files ------------------------------------------------------------------------


def test_read_idx_reads_the_real_mnist_files(mnist_raw):
    images, labels = mnist_raw["train"]
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images.min() == 0


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


# ---- MNIST and Fashion-MNIST ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, folder, first_class",
    [("mnist", "mnist", "0"), ("fashion_mnist", "fashion-mnist", "T-shirt/top")],
)
def test_mnist_like_test_split_is_every_image_in_order_normalized_exactly(
    shared_datasets, name, folder, first_class
):
    mnist = data.load(name, shared_datasets / folder)
    assert mnist.source == str(shared_datasets / folder)
    assert (mnist.input_shape, mnist.num_classes, mnist.num_train, mnist.num_test) == (
        (28, 28, 1), 10, 60000, 10000)
    assert mnist.class_names[0] == first_class and len(mnist.class_names) == 10
    raw_images = data.read_idx(shared_datasets / folder / "t10k-images-idx3-ubyte.gz")
    raw_labels = data.read_idx(shared_datasets / folder / "t10k-labels-idx1-ubyte.gz")
    test = batches(mnist.test_dataset(3000), 10)
    assert [len(labels) for _, labels in test] == [3000, 3000, 3000, 1000]
    images = np.concatenate([images for images, _ in test])
    assert images.dtype == np.float32 and test[0][1].dtype == np.int32
    (mean,), (std,) = data.NORMALIZATION[name]
    np.testing.assert_allclose(images[..., 0], (raw_images / 255 - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in test]), raw_labels)


@pytest.mark.parametrize("name, folder", [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")])
def test_normalized_training_images_have_mean_0_and_std_1(shared_datasets, name, folder):
    mnist = data.load(name, shared_datasets / folder, max_train_examples=2000)
    images = np.concatenate([x for x, _ in batches(mnist.train_dataset(500), 4)])
    assert abs(images.mean()) < 0.03 and abs(images.std() - 1) < 0.05


def test_every_example_appears_once_per_pass_with_its_label(shared_datasets, mnist_raw):
    mnist = data.load("mnist", shared_datasets / "mnist", max_train_examples=240)
    assert mnist.num_train == 240
    stream = batches(mnist.train_dataset(48, seed=3), 10)  # two passes of 5 batches
    raw_images, raw_labels = mnist_raw["train"]
    label_of = {image.tobytes(): label for image, label in zip(raw_images, raw_labels)}
    passes = []
    for part in (stream[:5], stream[5:]):
        seen = [image[..., 0].tobytes()
                for images, _ in part for image in np.round(pixels(images, "mnist") * 255)
                .astype(np.uint8)]
        labels = np.concatenate([labels for _, labels in part])
        assert len(set(seen)) == 240
        assert [label_of[image] for image in seen] == labels.tolist()
        passes.append(seen)
    assert set(passes[0]) == set(passes[1]) and passes[0] != passes[1]
    assert set(np.concatenate([labels for _, labels in stream])) == set(range(10))


def test_max_test_examples_keeps_a_fixed_subset_in_file_order(shared_datasets, mnist_raw):
    mnist = data.load("mnist", shared_datasets / "mnist", max_test_examples=300)
    assert mnist.num_test == 300
    images, labels = batches(mnist.test_dataset(1000), 2)[0]
    raw_images, raw_labels = mnist_raw["test"]
    index_of = {image.tobytes(): index for index, image in enumerate(raw_images)}
    indices = [index_of[image[..., 0].tobytes()]
               for image in np.round(pixels(images, "mnist") * 255).astype(np.uint8)]
    assert len(indices) == 300 and indices == sorted(indices) and indices[-1] > 5000
    np.testing.assert_array_equal(labels, raw_labels[indices])
    again = data.load("mnist", shared_datasets / "mnist", max_test_examples=300)
    assert_same_batches(batches(again.test_dataset(1000), 1), [(images, labels)])


def test_mnist_is_not_augmented_and_can_be_resized(shared_datasets):
    mnist = data.load("mnist", shared_datasets / "mnist", max_train_examples=64)
    assert_same_batches(batches(mnist.train_dataset(32), 2),
                        batches(mnist.train_dataset(32, augment=False), 2))
    resized = data.load("mnist", shared_datasets / "mnist", max_train_examples=64, image_size=32)
    assert resized.input_shape == (32, 32, 1)
    assert batches(resized.train_dataset(8), 1)[0][0].shape == (8, 32, 32, 1)


# ---- Determinism and resumption -------------------------------------------------------


@pytest.fixture(params=["mnist", "cifar10"])
def small_data_set(request, shared_datasets):
    """MNIST (in memory) or CIFAR-10 (an image folder, augmented), a few hundred images."""
    if request.param == "mnist":
        return data.load("mnist", shared_datasets / "mnist", max_train_examples=200)
    return data.load("cifar10", request.getfixturevalue("cifar_root"))


def test_same_seed_gives_the_same_batches_and_another_seed_others(small_data_set):
    first = batches(small_data_set.train_dataset(32, seed=7), 3)
    assert_same_batches(first, batches(small_data_set.train_dataset(32, seed=7), 3))
    other = batches(small_data_set.train_dataset(32, seed=8), 3)
    assert not np.array_equal(first[0][1], other[0][1])
    assert not np.array_equal(first[0][0], other[0][0])


def test_a_stream_started_at_step_5_is_the_rest_of_the_stream_started_at_0(small_data_set):
    # 10 batches of 32 straddle the end of the first pass (200 examples) and of the second.
    from_start = batches(small_data_set.train_dataset(32, seed=1), 14)
    resumed = batches(small_data_set.train_dataset(32, seed=1, start_step=5), 9)
    assert_same_batches(from_start[5:], resumed)
    assert all(images.shape[0] == 32 for images, _ in from_start)


# ---- CIFAR-10 -------------------------------------------------------------------------


def test_cifar10_image_folder_test_split_is_every_file_in_order(cifar_root, cifar_files):
    cifar = data.load("cifar10", cifar_root)
    assert cifar.source == str(cifar_root / "cifar10-jpeg")
    assert cifar.class_names == CIFAR10_CLASSES and cifar.num_classes == 10
    assert (cifar.input_shape, cifar.num_train, cifar.num_test) == ((32, 32, 3), 200, 100)
    expected_pixels, expected_labels, _ = cifar_files["test"]
    test = batches(cifar.test_dataset(64), 5)
    assert [len(labels) for _, labels in test] == [64, 36]
    images = np.concatenate([images for images, _ in test])
    np.testing.assert_allclose(pixels(images, "cifar10"), expected_pixels / 255, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in test]), expected_labels)
    # The folder itself (not its parent) works too.
    assert data.load("cifar10", cifar_root / "cifar10-jpeg").num_test == 100


def test_cifar10_training_images_are_randomly_cropped_and_flipped(cifar_root, cifar_files):
    cifar = data.load("cifar10", cifar_root)
    (augmented, labels), = batches(cifar.train_dataset(64, seed=2), 1)
    (plain, plain_labels), = batches(cifar.train_dataset(64, seed=2, augment=False), 1)
    np.testing.assert_array_equal(labels, plain_labels)
    # Without augmentation: exactly the files' images.
    files = set(image.tobytes() for image in cifar_files["train"][0])
    assert all(image in files for image in to_bytes(plain, "cifar10"))
    # With: each one a 32x32 crop of the zero-padded plain image, flipped or not.
    shifts, flips = [], []
    for image, source in zip(pixels(augmented, "cifar10"), pixels(plain, "cifar10")):
        padded = np.pad(source, [(4, 4), (4, 4), (0, 0)])
        matches = [(dy, dx, flip) for flip in (False, True) for dy in range(9) for dx in range(9)
                   if np.allclose((padded[:, ::-1] if flip else padded)[dy:dy + 32, dx:dx + 32],
                                  image, atol=1e-4)]
        assert matches, "an augmented image is no crop of its padded original"
        shifts.append(matches[0][:2])
        flips.append(matches[0][2])
    assert 10 < sum(flips) < 54 and len(set(shifts)) > 10
    assert not np.allclose(augmented, plain)


def write_official_batches(directory, cifar_files):
    """A tiny copy of the official `cifar-10-batches-py/` layout from real images: five
    training batches of 6 images and a test batch of 8; returns the pixels and labels."""
    directory.mkdir(parents=True)
    train_pixels, train_labels, _ = cifar_files["train"]
    test_pixels, test_labels, _ = cifar_files["test"]
    chosen = {"train": np.arange(0, 200, 6)[:30], "test": np.arange(0, 100, 12)[:8]}
    splits = {"train": (train_pixels[chosen["train"]], train_labels[chosen["train"]]),
              "test": (test_pixels[chosen["test"]], test_labels[chosen["test"]])}
    names = [(f"data_batch_{number}", "train", slice(6 * number - 6, 6 * number))
             for number in range(1, 6)] + [("test_batch", "test", slice(None))]
    for name, split, part in names:
        images, labels = splits[split][0][part], splits[split][1][part]
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(),
                 b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
                 b"filenames": [b"x.png"] * len(images)}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    return splits


@pytest.mark.parametrize("layout", ["folder", "archive"])
def test_cifar10_official_batches_give_exactly_their_pixels(tmp_path, cifar_files, layout):
    splits = write_official_batches(tmp_path / "cifar-10-batches-py", cifar_files)
    expected = tmp_path / "cifar-10-batches-py"
    if layout == "archive":
        expected = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(expected, "w:gz") as archive:
            archive.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        for path in (tmp_path / "cifar-10-batches-py").iterdir():
            path.unlink()
        (tmp_path / "cifar-10-batches-py").rmdir()
    cifar = data.load("cifar10", tmp_path)
    assert cifar.source == str(expected)
    assert (cifar.num_train, cifar.num_test, cifar.class_names) == (30, 8, CIFAR10_CLASSES)
    (test_images, test_labels), = batches(cifar.test_dataset(100), 2)
    np.testing.assert_array_equal(
        np.round(pixels(test_images, "cifar10") * 255).astype(np.uint8), splits["test"][0])
    np.testing.assert_array_equal(test_labels, splits["test"][1])
    # One pass of training batches holds every training image once, with its label.
    one_pass = batches(cifar.train_dataset(10, augment=False), 3)
    seen = {image: label for images, labels in one_pass
            for image, label in zip(to_bytes(images, "cifar10"), labels)}
    assert seen == {image.tobytes(): label for image, label in zip(*splits["train"])}


def test_a_doctored_cifar10_pickle_runs_no_code(tmp_path, cifar_files):
    write_official_batches(tmp_path / "cifar-10-batches-py", cifar_files)
    marker = tmp_path / "code-ran"

    class Doctored:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Doctored()))
    with pytest.raises(ValueError, match="test_batch is not a CIFAR-10 batch"):
        data.load("cifar10", tmp_path)
    assert not marker.exists()


def test_a_folder_with_other_classes_is_not_taken_for_cifar10(tmp_path, cifar_files):
    for split in ("train", "test"):
        (tmp_path / split / "kitten").mkdir(parents=True)
        (tmp_path / split / "kitten" / "0.jpg").write_bytes(cifar_files[split][2][0].read_bytes())
    with pytest.raises(ValueError, match=r"not CIFAR-10's .* load it as 'folder:"):
        data.load("cifar10", tmp_path)


# ---- Image folders --------------------------------------------------------------------


def make_folder(root, cifar_files, test_folder="val"):
    """`root/train/{cat,dog}/` with 6 images each (half of them PNG), `root/<test>/...` 3 each."""
    for split, folder, count in (("train", "train", 6), ("test", test_folder, 3)):
        images, labels, paths = cifar_files[split]
        for class_name in ("cat", "dog"):
            (root / folder / class_name).mkdir(parents=True)
            chosen = [path for path, label in zip(paths, labels)
                      if CIFAR10_CLASSES[label] == class_name][:count]
            for number, path in enumerate(chosen):
                image = tf.io.decode_jpeg(tf.io.read_file(str(path)))
                if number % 2:
                    (root / folder / class_name / f"{number}.png").write_bytes(
                        tf.io.encode_png(image).numpy())
                else:
                    (root / folder / class_name / f"{number}.jpg").write_bytes(path.read_bytes())
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_image_folder_with_val_split_resized(tmp_path, cifar_files):
    make_folder(tmp_path / "pets", cifar_files)
    pets = data.load(f"folder:{tmp_path / 'pets'}", image_size=(24, 20))
    assert (pets.name, pets.source) == (f"folder:{tmp_path / 'pets'}", str(tmp_path / "pets"))
    assert (pets.class_names, pets.num_train, pets.num_test) == (("cat", "dog"), 12, 6)
    assert pets.input_shape == (24, 20, 3)
    (images, labels), = batches(pets.test_dataset(10), 1)
    assert images.shape == (6, 24, 20, 3) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    expected = tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(
        str(tmp_path / "pets" / "val" / "cat" / "0.jpg"))) / 255, (24, 20), antialias=True)
    mean, std = data.NORMALIZATION["imagenet"]
    np.testing.assert_allclose(images[0], (expected - np.array(mean)) / np.array(std), atol=1e-4)
    (train, train_labels), = batches(pets.train_dataset(12, seed=4), 1)
    assert train.shape == (12, 24, 20, 3) and sorted(train_labels) == [0] * 6 + [1] * 6
    # A relative path is taken from data_dir, and an int image_size is a square.
    square = data.load("folder:pets", tmp_path, image_size=16)
    assert square.name == f"folder:{tmp_path / 'pets'}" and square.input_shape == (16, 16, 3)


def test_image_folder_of_grey_images_without_resize(tmp_path, mnist_raw):
    images, labels = mnist_raw["test"]
    for split, part in (("train", slice(0, 20)), ("test", slice(20, 30))):
        for number, (image, label) in enumerate(zip(images[part], labels[part])):
            path = tmp_path / split / f"digit{label}" / f"{number}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tf.io.encode_png(image[..., None]).numpy())
    digits = data.load(f"folder:{tmp_path}")
    assert digits.input_shape == (28, 28, 1)
    batch, batch_labels = batches(digits.test_dataset(10), 1)[0]
    assert batch.shape == (10, 28, 28, 1)
    grey_mean, grey_std = np.mean(data.NORMALIZATION["imagenet"][0]), np.mean(
        data.NORMALIZATION["imagenet"][1])
    order = np.argsort(labels[20:30], kind="stable")  # test files sorted by class folder
    np.testing.assert_allclose(batch[..., 0], (images[20:30][order] / 255 - grey_mean) / grey_std,
                               atol=1e-5)
    assert [digits.class_names[label] for label in batch_labels] == [
        f"digit{label}" for label in labels[20:30][order]]


def test_image_folder_of_mixed_sizes_names_the_odd_image(tmp_path, cifar_files):
    make_folder(tmp_path, cifar_files, test_folder="test")
    odd = tmp_path / "test" / "dog" / "odd.png"
    odd.write_bytes(tf.io.encode_png(tf.zeros((40, 36, 3), tf.uint8)).numpy())
    folder = data.load(f"folder:{tmp_path}")
    assert folder.input_shape == (32, 32, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"Image {odd} is 40x36, but"):
        batches(folder.test_dataset(10), 1)


def test_a_folder_without_train_and_test_is_refused(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(data.DataNotFoundError, match=r"needs a train/ folder and a test/ or val/"):
        data.load(f"folder:{tmp_path}")


# ---- Where data are looked for --------------------------------------------------------


@pytest.mark.parametrize("name, link", [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")])
def test_data_are_found_through_the_environment_variable(
    shared_datasets, tmp_path, monkeypatch, no_local_data, name, link
):
    (tmp_path / link).symlink_to(shared_datasets / link)
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    assert data.load(name, max_train_examples=10).source == str(tmp_path / link)


def test_data_are_found_in_the_system_location(shared_datasets, tmp_path, no_local_data):
    (tmp_path / "system").mkdir()
    (tmp_path / "system" / "fashion-mnist").symlink_to(shared_datasets / "fashion-mnist")
    loaded = data.load("fashion_mnist", max_test_examples=10)
    assert loaded.source == str(tmp_path / "system" / "fashion-mnist")


def test_data_dir_is_searched_before_and_instead_of_the_other_places(
    shared_datasets, tmp_path, monkeypatch, no_local_data
):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "mnist").symlink_to(shared_datasets / "mnist")
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path / "env"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mnist").symlink_to(shared_datasets / "fashion-mnist")
    assert data.load("mnist", tmp_path / "mine").source == str(tmp_path / "mine" / "mnist")
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        data.load("mnist", tmp_path / "missing")


@pytest.fixture()
def offline(monkeypatch):
    """No network: the download host cannot be reached, and downloads are never started."""
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    def no_download(*args, **kwargs):
        pytest.fail("a download was started although the network was found missing")

    monkeypatch.setattr(data.tfds.socket, "create_connection", refuse)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)


def test_missing_data_offline_lists_every_place_tried_and_what_to_do(
    tmp_path, monkeypatch, no_local_data, offline
):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path / "env"))
    started = time.monotonic()
    with pytest.raises(data.DataNotFoundError) as error:
        data.load("fashion_mnist")
    assert time.monotonic() - started < 30
    message = str(error.value)
    for tried in (tmp_path / "env" / "fashion_mnist", tmp_path / "env" / "fashion-mnist",
                  tmp_path / "env", tmp_path / "system" / "fashion-mnist"):
        assert f"  - {tried}\n" in message
    assert "tensorflow-datasets could not provide it either" in message
    assert "no network" in message and "t10k-labels-idx1-ubyte" in message
    assert "--data_dir" in message and "apt-get install dataset-fashion-mnist" in message


def test_missing_data_in_data_dir_lists_it_and_its_sub_folder(tmp_path, no_local_data, offline):
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataNotFoundError) as error:
        data.load("cifar10", tmp_path / "empty")
    message = str(error.value)
    assert f"  - {tmp_path / 'empty'}\n  - {tmp_path / 'empty' / 'cifar10'}\n" in message
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "system") not in message


def test_a_failed_download_becomes_one_clear_error(tmp_path, monkeypatch, no_local_data):
    def failing_download(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url: /cvdf-datasets/mnist (test)\n...")

    monkeypatch.setattr(data.tfds, "_network_available", lambda: True)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", failing_download)
    with pytest.raises(data.DataNotFoundError) as error:
        data.load("mnist", tmp_path)
    assert "preparing it failed: ConnectionError: Max retries exceeded" in str(error.value)
    assert error.value.__cause__ is None and error.value.__context__ is None


def test_imagenet_without_its_manual_download_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setattr(data.tfds.socket, "create_connection", lambda *args, **kwargs: pytest.fail(
        "no network access is needed to find the manual download missing"))
    started = time.monotonic()
    with pytest.raises(data.DataNotFoundError) as error:
        data.load("imagenet2012", tmp_path)
    assert time.monotonic() - started < 30
    assert "ILSVRC2012_img_train.tar" in str(error.value) and "by hand" in str(error.value)


def test_unknown_names_and_bad_arguments_are_refused(shared_datasets):
    with pytest.raises(ValueError, match=r"Unknown data set 'no_such_set'.*cifar10, folder:PATH"):
        data.load("no_such_set")
    mnist = data.load("mnist", shared_datasets / "mnist", max_train_examples=10)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        mnist.train_dataset(0)
    with pytest.raises(ValueError, match="start_step must be >= 0"):
        mnist.train_dataset(8, start_step=-1)
    with pytest.raises(ValueError, match="max_train_examples must be a positive integer"):
        data.load("mnist", shared_datasets / "mnist", max_train_examples=0)
    with pytest.raises(ValueError, match="image_size must be an int or"):
        data.load("mnist", shared_datasets / "mnist", image_size=(1, 2, 3))


# ---- tensorflow-datasets --------------------------------------------------------------


class KerasBnnTestCounts(tfds.core.GeneratorBasedBuilder):
    """Grey 8x8 images whose pixels all equal the example's number; label: odd or even."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(names=["even", "odd"]),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(range(40)),
                "test": self._generate_examples(range(100, 110))}

    def _generate_examples(self, numbers):
        for number in numbers:
            yield number, {"image": np.full((8, 8, 1), number, np.uint8), "label": number % 2}


class KerasBnnTestPhotos(tfds.core.GeneratorBasedBuilder):
    """RGB images of varying sizes, like ImageNet's."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=3),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12), "validation": self._generate_examples(4)}

    def _generate_examples(self, count):
        for number in range(count):
            shape = (20 + 3 * number, 40 - 2 * number, 3)
            yield number, {"image": np.full(shape, 10 * number, np.uint8), "label": number % 3}


def stored_order(data_dir, name, split):
    """The first pixel of every image of a split, in the order tensorflow-datasets stores them."""
    stored = tfds.builder(name, data_dir=str(data_dir)).as_dataset(split=split, shuffle_files=False)
    return [int(example["image"][0, 0, 0]) for example in stored]


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tfds")
    for name in ("keras_bnn_test_counts", "keras_bnn_test_photos"):
        tfds.builder(name, data_dir=str(directory)).download_and_prepare()
    return directory


def test_tensorflow_datasets_source_in_order_deterministic_and_resumable(tfds_dir):
    counts = data.load("keras_bnn_test_counts", tfds_dir)
    assert counts.source == "tensorflow-datasets:keras_bnn_test_counts"
    assert (counts.input_shape, counts.class_names) == ((8, 8, 1), ("even", "odd"))
    assert (counts.num_train, counts.num_test) == (40, 10)
    number = lambda images: np.round(pixels(images, counts.name)[:, 4, 4, 0] * 255)  # noqa: E731
    (test, test_labels), = batches(counts.test_dataset(16), 2)
    assert number(test).tolist() == stored_order(tfds_dir, "keras_bnn_test_counts", "test")
    assert sorted(number(test)) == list(range(100, 110)) and test_labels.dtype == np.int32
    assert (test_labels == number(test) % 2).all()
    stream = batches(counts.train_dataset(8, seed=5), 6)
    assert_same_batches(stream, batches(counts.train_dataset(8, seed=5), 6))
    assert_same_batches(stream[2:], batches(counts.train_dataset(8, seed=5, start_step=2), 4))
    numbers = np.concatenate([number(images) for images, _ in stream[:5]])
    assert numbers.tolist() != list(range(40)) and sorted(numbers) == list(range(40))
    assert all((labels == number(images) % 2).all() for images, labels in stream)
    assert data.load("keras_bnn_test_counts", tfds_dir, max_train_examples=16).num_train == 16


def test_mnist_without_local_files_comes_from_tensorflow_datasets(
    tfds_dir, tmp_path, monkeypatch, no_local_data
):
    # Stands in for tensorflow-datasets' prepared MNIST, which needs a download.
    asked, counts = [], tfds.builder("keras_bnn_test_counts", data_dir=str(tfds_dir))

    def prepared_builder(name, data_dir=None):
        asked.append((name, data_dir))
        return counts

    monkeypatch.setattr(tfds, "builder", prepared_builder)
    mnist = data.load("mnist", tmp_path, max_train_examples=16, max_test_examples=4)
    assert asked == [("mnist", str(tmp_path))]
    assert mnist.source == "tensorflow-datasets:mnist"
    assert (mnist.num_train, mnist.num_test, mnist.input_shape) == (16, 4, (8, 8, 1))
    (images, _), = batches(mnist.train_dataset(16, seed=1), 1)
    (plain, _), = batches(mnist.train_dataset(16, seed=1, augment=False), 1)
    np.testing.assert_array_equal(images, plain)  # MNIST's recipe: no augmentation
    numbers = np.round(pixels(images, "mnist")[:, 0, 0, 0] * 255)  # MNIST's normalization
    assert sorted(numbers) == sorted(stored_order(tfds_dir, "keras_bnn_test_counts", "train")[:16])


def test_tensorflow_datasets_images_of_varying_size_are_resized_and_cropped(tfds_dir):
    photos = data.load("keras_bnn_test_photos", tfds_dir, image_size=16)
    assert photos.input_shape == (16, 16, 3) and photos.num_test == 4
    (test, labels), = batches(photos.test_dataset(8), 1)
    numbers = np.array(stored_order(tfds_dir, "keras_bnn_test_photos", "validation")) // 10
    assert test.shape == (4, 16, 16, 3) and (labels == numbers % 3).all()
    np.testing.assert_allclose(pixels(test, "imagenet").reshape(4, -1).T,
                               np.tile(numbers * 10 / 255, (16 * 16 * 3, 1)), atol=1e-5)
    (train, _), = batches(photos.train_dataset(6, seed=1), 1)
    assert train.shape == (6, 16, 16, 3)

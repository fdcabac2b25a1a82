"""Every bad input a new user met gives one clear line and leaves no file behind.

The train.py cases run its `main` in this process (its flags parsed as the command line
would be; test_train.py runs the real command); the rest call the API. Each case returns
the message; the test asserts it is one line that says what was wrong, and that nothing
new appeared anywhere under the test's folder (the run folder, the cache, the export).
"""

import gzip
import shutil
import sys

import pytest
from absl import flags

import keras_bnn
import train
import zoo
from keras_bnn import downloads, export
import tf_keras as keras
import larq as lq

pytestmark = pytest.mark.unit

READ_ONLY = "/sys"  # not writable even for root, on every Linux machine


@pytest.fixture
def run_train(monkeypatch, tmp_path):
    """Runs train.py's main with `args` in `tmp_path`; returns what it exits with."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        argv = ["train.py", *args]
        monkeypatch.setattr(sys, "argv", argv)
        flags.FLAGS.unparse_flags()
        flags.FLAGS(argv)
        try:
            with pytest.raises(SystemExit) as exited:
                train.main(argv[:1])
        finally:
            flags.FLAGS.unparse_flags()
        return str(exited.value.code)

    return run


@pytest.fixture
def fashion_copy(shared_datasets, tmp_path):
    """A copy of the real Fashion-MNIST files, to damage."""
    return shutil.copytree(shared_datasets / "fashion-mnist", tmp_path / "fashion")


def truncated_gz(folder):
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    return f"--data_dir={folder}"


def corrupted_gz(folder):
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)  # zeros inside the deflate stream
    path.write_bytes(bytes(raw))
    return f"--data_dir={folder}"


def not_gzip(folder):
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.decompress(path.read_bytes()))  # named .gz, but plain
    return f"--data_dir={folder}"


TRAIN_CASES = {
    "truncated .gz": (lambda d, t: [truncated_gz(d)], "t10k-labels-idx1-ubyte.gz is truncated "
                                                      "or corrupt (EOFError"),
    "corrupted .gz": (lambda d, t: [corrupted_gz(d)], "t10k-labels-idx1-ubyte.gz is truncated "
                                                      "or corrupt"),
    "not gzip": (lambda d, t: [not_gzip(d)], "t10k-labels-idx1-ubyte.gz is truncated or "
                                             "corrupt (BadGzipFile"),
    "output_dir is a file": (
        lambda d, t: [f"--output_dir={t / 'a_file'}"], "a_file is a file, not a folder"),
    "output_dir read-only": (
        lambda d, t: [f"--output_dir={READ_ONLY}/run"], f"{READ_ONLY} is not writable"),
    "option of the wrong kind": (
        lambda d, t: ["--model=bnn_vgg_small", "--model_option=width_multiplier=abc"],
        "option width_multiplier='abc' of zoo model 'bnn_vgg_small' must be a number"),
    "unknown option": (
        lambda d, t: ["--model_option=nonexistent=1"],
        "zoo model 'recu_small' has no option 'nonexistent'; its options are tau"),
    "unknown quantizer": (
        lambda d, t: ["--model=bnn_small", "--input_quantizer=bogus"],
        "input_quantizer='bogus' is not a quantizer; use one of approx_sign"),
}


def files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_py_says_what_is_wrong_in_one_line_and_writes_nothing(
        case, run_train, fashion_copy, tmp_path):
    make_args, message = TRAIN_CASES[case]
    (tmp_path / "a_file").write_text("not a folder")
    args = make_args(fashion_copy, tmp_path)
    if not any(arg.startswith("--data_dir") for arg in args):
        args.append(f"--data_dir={fashion_copy}")
    if not any(arg.startswith("--output_dir") for arg in args):
        args.append(f"--output_dir={tmp_path / 'run'}")
    before = files_under(tmp_path)
    exit_message = run_train(*args)
    assert exit_message.startswith("error: ") and "\n" not in exit_message, exit_message
    assert message in exit_message
    assert files_under(tmp_path) == before  # no run folder, no command.json


def ternary_conv_model(**conv_options):
    inputs = keras.Input((8, 8, 4) if conv_options.get("data_format") != "channels_first"
                         else (4, 8, 8))
    x = lq.layers.QuantConv2D(4, 3, use_bias=False, **conv_options)(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(
        data_format=conv_options.get("data_format", "channels_last"))(x))


def truncated_download(tmp_path, served):
    folder, url = served
    zoo.get_model("bnn_small").save_weights(folder / "small.weights.h5")
    broken = (folder / "small.weights.h5").read_bytes()[:5000]
    (folder / "small.weights.h5").write_bytes(broken)  # served with its own matching hash
    zoo.get_model("bnn_small", weights=f"{url}/small.weights.h5",
                  weights_hash=downloads.file_sha256(folder / "small.weights.h5"))


def cache_at(path, served, monkeypatch):
    folder, url = served
    (folder / "small.weights.h5").write_bytes(b"weights")
    monkeypatch.setenv(downloads.CACHE_ENVIRONMENT_VARIABLE, str(path))
    downloads.fetch(f"{url}/small.weights.h5", downloads.file_sha256(folder / "small.weights.h5"))


API_CASES = {
    "download truncated, hash matching": (
        lambda t, s, m: truncated_download(t, s), ValueError,
        "is not a readable weights file, it is truncated or corrupt"),
    "cache is a file": (
        lambda t, s, m: cache_at(t / "a_file", s, m), downloads.DownloadError,
        "a_file is a file, not a folder. Set $KERAS_BNN_CACHE to a folder you can write"),
    "cache read-only": (
        lambda t, s, m: cache_at(f"{READ_ONLY}/keras_bnn_cache", s, m), downloads.DownloadError,
        f"{READ_ONLY} is not writable"),
    "export to a folder": (
        lambda t, s, m: export.convert(zoo.get_model("bnn_small"), t), export.ExportError,
        "is a folder; give the path of the .tflite file"),
    "export read-only": (
        lambda t, s, m: export.convert(zoo.get_model("bnn_small"), f"{READ_ONLY}/m.tflite"),
        export.ExportError, f"Cannot write {READ_ONLY}/m.tflite: {READ_ONLY} is not writable"),
    "decouple channels_first": (
        lambda t, s, m: keras_bnn.decouple(ternary_conv_model(
            input_quantizer="ternary_sign", data_format="channels_first")),
        ValueError, "is channels_first; decouple() doubles the channels of the last axis"),
    "export larq's ste_tern": (
        lambda t, s, m: export.convert(ternary_conv_model(input_quantizer="ste_tern",
                                                          kernel_quantizer="ste_sign")),
        export.ExportError, "has ternary quantizers (quant_conv2d.input_quantizer)"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_the_api_says_what_is_wrong_in_one_line_and_leaves_nothing(
        case, tmp_path, served, monkeypatch):
    action, error_class, message = API_CASES[case]
    (tmp_path / "a_file").write_text("not a folder")
    before = [name for name in files_under(tmp_path) if not name.startswith("served")]
    with pytest.raises(error_class) as raised:
        action(tmp_path, served, monkeypatch)
    assert message in str(raised.value) and "\n" not in str(raised.value), str(raised.value)
    assert [name for name in files_under(tmp_path) if not name.startswith("served")] == before


def test_a_ternary_kernel_quantizer_is_refused_too():
    model = ternary_conv_model(input_quantizer="ste_sign", kernel_quantizer="ste_tern")
    with pytest.raises(export.ExportError, match=r"quant_conv2d\.kernel_quantizer"):
        export.convert(model)

"""LCE's converter runs in a child process: the same bytes as in-process, and a crash of it
becomes an ExportError (a training run then still saves the model and records why)."""

import tempfile

import larq_compute_engine as lce
import pytest
import tensorflow as tf

import zoo
from keras_bnn import converter_process, export

# A converter process that dies the way LCE's converter does on larq-zoo's DoReFaNet.
SEGFAULTING_SERVER = ("import os, signal, sys\n"
                      "sys.stdin.readline()\n"
                      "os.kill(os.getpid(), signal.SIGSEGV)\n")


@pytest.fixture
def crashing_converter(monkeypatch):
    monkeypatch.setattr(converter_process, "_SERVER", SEGFAULTING_SERVER)
    monkeypatch.setattr(converter_process, "_process", None)


def test_the_converter_process_gives_the_bytes_of_the_converter_itself():
    model = zoo.get_model("bnn_small")
    module = tf.Module()
    module.model_variables = list(model.variables)
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory,
                            signatures=export.inference_function(model))
        assert converter_process.convert_saved_model(directory) == \
            lce.convert_saved_model(directory)


def test_a_relative_path_is_read_from_the_callers_folder_not_the_processes(tmp_path,
                                                                           monkeypatch):
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    tf.saved_model.save(model, str(tmp_path / "first"))
    converter_process.convert_saved_model(tmp_path / "first")  # the process runs, elsewhere
    monkeypatch.chdir(tmp_path)
    tf.saved_model.save(model, "relative")
    assert converter_process.convert_saved_model("relative")[4:8] == b"TFL3"


def test_a_converter_crash_is_an_export_error_and_the_next_export_works(crashing_converter,
                                                                          monkeypatch):
    model = zoo.get_model("bnn_small")
    with pytest.raises(export.ExportError, match=r"converter crashed \(signal SIGSEGV\); this "
                                                 r"Python process is unharmed"):
        export.convert(model)
    monkeypatch.undo()  # the real converter again (the dead process is replaced)
    assert export.convert(model).converted_binary_convs == 2


def test_a_training_run_saves_the_model_and_records_a_converter_crash(
        crashing_converter, shared_datasets, tmp_path):
    from zoo import run

    metrics = run.train(run.RunRequest(
        data_dir=str(shared_datasets / "fashion-mnist"), model="bnn_small", epochs=1,
        steps_per_epoch=2, max_train_examples=256, max_test_examples=64,
        output_dir=str(tmp_path)))
    assert "converter crashed (signal SIGSEGV)" in metrics["export"]["error"]
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / "model.tflite").exists()

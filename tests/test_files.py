"""keras_bnn.files: writes that replace a file in one step, or leave it as it was."""

import json

import pytest

from keras_bnn import files

pytestmark = pytest.mark.unit


def test_a_write_replaces_the_file_in_one_step_keeping_its_suffix(tmp_path):
    path = tmp_path / "sub" / "model.keras"
    with files.replaced_atomically(path) as temporary:
        assert temporary.parent == path.parent and temporary.suffix == ".keras"
        assert not path.exists()  # readers see the old file, or none, until the block ends
        temporary.write_text("new")
    assert path.read_text() == "new"
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "metrics.json"
    files.write_json_atomically(path, {"accuracy": 0.5})
    with pytest.raises(RuntimeError, match="disk full"):
        with files.replaced_atomically(path) as temporary:
            temporary.write_text("half")
            raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert files.write_bytes_atomically(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"

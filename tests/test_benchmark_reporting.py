"""benchmarks/reporting.py: the statistics, captions and result files every benchmark uses."""

import json
import os
import pathlib
import shlex
import statistics
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import reporting  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

pytestmark = pytest.mark.unit


def test_mean_and_sample_std_over_seeds():
    mean, std = reporting.mean_and_std([0.80, 0.84, 0.82])
    assert mean == pytest.approx(0.82)
    assert std == pytest.approx(statistics.stdev([0.80, 0.84, 0.82]))  # n - 1, not n
    assert std == pytest.approx(0.02)
    assert reporting.mean_and_std([0.9]) == (0.9, 0.0)


def test_training_budget_names_the_subset_only_when_there_is_one():
    assert reporting.training_budget(3, None) == "3 epochs"
    assert reporting.training_budget(3, 20000) == "3 epochs on 20,000 training images"


def test_command_line_can_be_pasted_back_into_a_shell(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["accuracy.py", "--epochs=3", "--data_source=JPEG copy"])
    command = reporting.command_line("accuracy.py")
    assert command == "python benchmarks/accuracy.py --epochs=3 '--data_source=JPEG copy'"
    assert shlex.split(command)[2:] == sys.argv[1:]


def test_machine_names_the_cpu_and_the_cores_this_process_sees():
    machine = reporting.machine()
    name, cores = machine.rsplit(" (", 1)
    assert name.strip() and "model name" not in name
    assert cores == f"{os.cpu_count()} cores)"


def test_results_are_written_as_markdown_and_json(tmp_path):
    reporting.write_results(tmp_path / "new" / "accuracy_x", "caption\n\n| a |", {"rows": [1]})
    assert (tmp_path / "new" / "accuracy_x.md").read_text() == "caption\n\n| a |\n"
    assert json.loads((tmp_path / "new" / "accuracy_x.json").read_text()) == {"rows": [1]}


def test_tables_have_a_header_a_rule_and_one_line_per_row():
    text = reporting.table(["model", "ms"], [["bnn_resnet18", 7.4], ["recu_resnet18", "6.4"]])
    assert text.splitlines() == ["| model | ms |", "| --- | --- |", "| bnn_resnet18 | 7.4 |",
                                 "| recu_resnet18 | 6.4 |"]

"""Every Python example in the README runs as written."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(EXAMPLES) >= 2


# Runs every example, in order, in one fresh Python process (one TensorFlow start instead
# of one per example), each in its own namespace and folder; prints a JSON list with the
# traceback of each failed example (None where it ran).
RUNNER = """
import contextlib, io, json, os, sys, traceback
examples, root = json.loads(sys.argv[1]), sys.argv[2]
failures = []
for index, code in enumerate(examples):
    os.chdir(os.path.join(root, str(index)))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"README example {index}", "exec"), {"__name__": "__main__"})
        failures.append(None)
    except BaseException:
        failures.append(traceback.format_exc())
print(json.dumps(failures))
"""


@pytest.fixture(scope="module")
def example_failures(tmp_path_factory, shared_datasets):
    root = tmp_path_factory.mktemp("readme")
    for index in range(len(EXAMPLES)):
        (root / str(index)).mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["KERAS_BNN_DATA_DIR"] = str(shared_datasets)  # where data.load finds real data sets
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(EXAMPLES), str(root)], capture_output=True,
        text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=lambda i: f"example{i}")
def test_readme_example_runs(index, example_failures):
    assert example_failures[index] is None, example_failures[index]


def test_readme_opens_with_the_two_setup_commands():
    first_lines = [line.strip() for line in README.read_text().splitlines()[:2]]
    assert first_lines[0].startswith("make train")
    assert first_lines[1].startswith("make test")

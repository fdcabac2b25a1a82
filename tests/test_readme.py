"""Every Python example in the README and in the docs pages (docs/*.md) runs as written."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
# (where, code) of every ```python block, in page order.
SOURCES = [(f"{page.relative_to(ROOT)} example {index}", code) for page in PAGES
           for index, code in enumerate(
               re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL))]
EXAMPLES = [code for _, code in SOURCES]


def test_the_readme_and_the_docs_have_python_examples():
    assert sum(where.startswith("README") for where, _ in SOURCES) >= 2
    assert sum(where.startswith("docs") for where, _ in SOURCES) >= 2


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


@pytest.mark.parametrize("index", range(len(EXAMPLES)),
                         ids=[where.replace(" ", "_") for where, _ in SOURCES])
def test_example_runs(index, example_failures):
    assert example_failures[index] is None, example_failures[index]


def test_readme_opens_with_the_two_setup_commands():
    first_lines = [line.strip() for line in README.read_text().splitlines()[:2]]
    assert first_lines[0].startswith("make train")
    assert first_lines[1].startswith("make test")

"""The code examples users read: the README's and the docs pages' ```python blocks, and the
docstring examples the API reference shows. `test_examples.py` runs them all.

Run them outside pytest (prints each failure, then a count):

    .venv/bin/python tests/examples.py pages
    .venv/bin/python tests/examples.py docstrings [NAME_PREFIX]
"""

import contextlib
import importlib
import inspect
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", flags=re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a page or docstring, dedented, in order."""
    return [textwrap.dedent(block) for _, block in _BLOCK.findall(text)]


def page_examples() -> list[tuple[str, str]]:
    """(where, code) of every ```python block of the README and of docs/**/*.md."""
    pages = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    return [(f"{page.relative_to(ROOT)} example {index}", code) for page in pages
            for index, code in enumerate(python_blocks(page.read_text()))]


def api_modules() -> list[str]:
    """The modules the API reference renders (the `::: name` lines of docs/api/*.md)."""
    return sorted({line.removeprefix("::: ").strip()
                   for page in (ROOT / "docs" / "api").glob("*.md")
                   for line in page.read_text().splitlines() if line.startswith("::: ")})


def _documented_objects(module):
    """`module`, its public functions and classes (its own and those in `__all__`), and
    their classes' public methods and properties: what its API page renders."""
    exported = set(getattr(module, "__all__", ()))
    yield module.__name__, module
    for name, member in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(member) or inspect.isclass(member)):
            continue
        if member.__module__ != module.__name__ and name not in exported:
            continue
        yield f"{module.__name__}.{name}", member
        if inspect.isclass(member):
            for attribute, value in vars(member).items():
                value = getattr(value, "__func__", getattr(value, "fget", value))
                if not attribute.startswith("_") and inspect.isfunction(value):
                    yield f"{module.__name__}.{name}.{attribute}", value


def docstring_examples() -> list[tuple[str, str]]:
    """(where, code) of every ```python block in the docstrings the API reference shows,
    each once (a name exported by two modules is shown on both pages)."""
    import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)

    examples, seen = [], set()
    for module_name in api_modules():
        for where, obj in _documented_objects(importlib.import_module(module_name)):
            for code in python_blocks(inspect.getdoc(obj) or ""):
                if code not in seen:
                    seen.add(code)
                    examples.append((where, code))
    return examples


def _run_in_this_process(examples: list[tuple[str, str]],
                         root: str) -> list[tuple[str | None, float]]:
    """Runs each example in its own namespace and a new folder under `root`; for each, the
    traceback if it failed (else None) and the seconds it took."""
    import time
    import traceback

    runs = []
    for index, (where, code) in enumerate(examples):
        folder = pathlib.Path(root, str(index))
        folder.mkdir()
        os.chdir(folder)
        started, failure = time.perf_counter(), None
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, where, "exec"), {"__name__": "__main__"})
        except BaseException:
            failure = traceback.format_exc()
        runs.append((failure, time.perf_counter() - started))
    return runs


def run_examples(examples: list[tuple[str, str]],
                 root: pathlib.Path) -> list[tuple[str | None, float]]:
    """Runs `examples` in order in ONE fresh Python process (one TensorFlow start for all),
    as a user would: without `TF_USE_LEGACY_KERAS`, with `KERAS_BNN_DATA_DIR` pointing at
    the shared data sets. Returns, for each example, the traceback if it failed (else None)
    and the seconds it took."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["KERAS_BNN_DATA_DIR"] = str(SHARED_DATASETS)  # where data.load finds real data sets
    script = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import examples;"
              "print(json.dumps(examples._run_in_this_process(json.load(sys.stdin), sys.argv[1])))")
    result = subprocess.run([sys.executable, "-c", script, str(root)], input=json.dumps(examples),
                            capture_output=True, text=True, env=env, timeout=900, cwd=root)
    if result.returncode != 0:
        raise RuntimeError(f"the examples' process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def failure_report(examples: list[tuple[str, str]],
                   runs: list[tuple[str | None, float]]) -> str:
    """Each failed example's place, code and traceback."""
    return "\n\n".join(f"--- {where}\n{code}\n{failure}"
                       for (where, code), (failure, _) in zip(examples, runs) if failure)


if __name__ == "__main__":
    kind, prefix = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    chosen = [(where, code) for where, code in
              (page_examples() if kind == "pages" else docstring_examples())
              if where.startswith(prefix)]
    runs = run_examples(chosen, pathlib.Path(tempfile.mkdtemp(prefix="examples-")))
    print(failure_report(chosen, runs))
    timed = sorted(((seconds, where) for (where, _), (_, seconds) in zip(chosen, runs)),
                   reverse=True)
    print("slowest:", *(f"{seconds:6.1f} s  {where}" for seconds, where in timed[:10]), sep="\n")
    print(f"{len(chosen)} examples, {sum(failure is not None for failure, _ in runs)} failed, "
          f"{sum(seconds for _, seconds in runs):.0f} s")

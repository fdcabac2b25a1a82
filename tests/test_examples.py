"""Every code example users read runs as written: the README's and the docs pages'
```python blocks, and the docstring examples shown in the API reference (tests/examples.py
collects them)."""

import pytest

from examples import README, docstring_examples, failure_report, page_examples, run_examples

PAGE_EXAMPLES = page_examples()


def test_the_readme_and_the_docs_have_python_examples():
    assert sum(where.startswith("README") for where, _ in PAGE_EXAMPLES) >= 1
    assert sum(where.startswith("docs/guides") for where, _ in PAGE_EXAMPLES) >= 7


def test_readme_opens_with_the_two_setup_commands():
    first_lines = [line.strip() for line in README.read_text().splitlines()[:2]]
    assert first_lines[0].startswith("make train")
    assert first_lines[1].startswith("make test")


def test_the_api_reference_shows_docstring_examples():
    assert len(docstring_examples()) >= 200  # every public module's page shows examples


@pytest.mark.slow
def test_every_example_runs(tmp_path, shared_datasets):
    """The README's and the docs pages' examples, then the API reference's, in one process
    (one TensorFlow start, and the converter process, for all)."""
    examples = PAGE_EXAMPLES + docstring_examples()
    runs = run_examples(examples, tmp_path)
    assert not any(failure for failure, _ in runs), failure_report(examples, runs)

"""The docs site builds in strict mode: a page for every public module, the benchmark
results as written, the zoo page from the registry."""

import pathlib
import pkgutil
import re

import pytest
import yaml
from mkdocs.commands.build import build
from mkdocs.config import load_config

import keras_bnn
import zoo
from markdown_tables import markdown_tables

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def public_modules(package):
    """`package`'s modules one level down, without the private ones and `__main__`."""
    return [f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
            if not info.name.startswith("_")]


def documented_modules():
    """The modules the API pages render (`::: name` lines)."""
    pages = (ROOT / "docs" / "api").glob("*.md")
    return {line.removeprefix("::: ").strip() for page in pages
            for line in page.read_text().splitlines() if line.startswith("::: ")}


def test_every_public_module_has_an_api_page_in_the_navigation():
    expected = {"keras_bnn", "zoo", *public_modules(keras_bnn), *public_modules(zoo)}
    assert expected <= documented_modules(), sorted(expected - documented_modules())
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    reference = next(entry["API reference"] for entry in config["nav"]
                     if isinstance(entry, dict) and "API reference" in entry)
    pages = {page for package in reference for entries in package.values()
             for entry in entries for page in entry.values()}
    assert pages == {f"api/{path.name}" for path in (ROOT / "docs" / "api").glob("*.md")}


def test_the_benchmarks_page_includes_every_result_file_as_written():
    included = {line.split('"')[1] for line in (ROOT / "docs" / "benchmarks.md").read_text()
                .splitlines() if line.startswith("--8<--")}
    results = {f"benchmarks/results/{path.name}"
               for path in (ROOT / "benchmarks" / "results").glob("*.md")}
    assert included == results


def test_the_training_guide_explains_every_flag_of_train_py():
    import train  # defines its flags

    flags = {flag.name for flag in train.FLAGS.flags_by_module_dict()["train"]}
    page = (ROOT / "docs" / "guides" / "training.md").read_text()
    explained = {name for line in page.splitlines() if line.startswith("| `--")
                 for name in re.findall(r"`--(\w+)`", line.split(" | ")[0])}
    assert explained - {"noexport"} == flags


@pytest.mark.slow
def test_the_docs_build_in_strict_mode(tmp_path):
    """A broken link, a missing page or a docstring griffe cannot read fails the build."""
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"),
                         strict=True)
    build(config)
    home = (tmp_path / "site" / "index.html").read_text()
    assert "recu_vgg_small.tflite" in home  # the README's first run, included
    quantizers = (tmp_path / "site" / "api" / "quantizers" / "index.html").read_text()
    assert "keras_bnn.quantizers.ReCU" in quantizers and "Parameters" in quantizers
    benchmarks = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    command = "python benchmarks/inference.py --runs=20"  # the result file's own line
    assert command in (ROOT / "benchmarks/results/inference.md").read_text()
    assert command in benchmarks
    zoo_page = (tmp_path / "site" / "zoo" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in zoo_page for name in zoo.list_models())  # the hook's
    assert all(f"<td>{name}</td>" in zoo_page for name in zoo.list_models())  # zoo/sizes.md
    # Three tables, headers included: the models, their sizes, the registered weights.
    assert zoo_page.count("<tr>") == 3 + 2 * len(zoo.list_models()) + len(zoo.weights.entries())
    assert "../shared" not in zoo_page  # a path users do not have


@pytest.mark.unit
def test_the_readme_results_are_rows_of_the_result_files():
    """The README's headline tables are columns of a result file's table, copied unchanged:
    a rerun benchmark whose numbers moved fails here until the README follows."""
    results = "\n".join(path.read_text() for path in (ROOT / "benchmarks/results").glob("*.md"))
    result_tables = markdown_tables(results)
    section = README.read_text().split("\n## Results\n")[1].split("\n## ")[0]
    readme_tables = markdown_tables(section)
    assert len(readme_tables) >= 2
    for header, rows in readme_tables:
        sources = [(h, r) for h, r in result_tables if set(header) <= set(h)]
        assert sources, f"no result file has a table with the columns {header}"
        for row in rows:
            assert any(
                {h[i]: cell for i, cell in enumerate(r)}.items() >= dict(zip(header, row)).items()
                for h, rs in sources for r in rs), f"README row {row} is in no result file"

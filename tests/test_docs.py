"""The docs site builds in strict mode: a page for every public module, the benchmark
results as written, the zoo page from the registry."""

import pathlib
import pkgutil

import pytest
import yaml
from mkdocs.commands.build import build
from mkdocs.config import load_config

import keras_bnn
import zoo

ROOT = pathlib.Path(__file__).resolve().parents[1]


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
    pages = {page for entry in reference for page in entry.values()}
    assert pages == {f"api/{path.name}" for path in (ROOT / "docs" / "api").glob("*.md")}


def test_the_benchmarks_page_includes_every_result_file_as_written():
    included = {line.split('"')[1] for line in (ROOT / "docs" / "benchmarks.md").read_text()
                .splitlines() if line.startswith("--8<--")}
    results = {f"benchmarks/results/{path.name}"
               for path in (ROOT / "benchmarks" / "results").glob("*.md")}
    assert included == results


@pytest.mark.slow
def test_the_docs_build_in_strict_mode(tmp_path):
    """A broken link, a missing page or a docstring griffe cannot read fails the build."""
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"),
                         strict=True)
    build(config)
    home = (tmp_path / "site" / "index.html").read_text()
    assert "First export" in home
    quantizers = (tmp_path / "site" / "api" / "quantizers" / "index.html").read_text()
    assert "keras_bnn.quantizers.ReCU" in quantizers and "Parameters" in quantizers
    benchmarks = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    command = "python benchmarks/inference.py --runs=20"  # the result file's own line
    assert command in (ROOT / "benchmarks/results/inference.md").read_text()
    assert command in benchmarks
    zoo_page = (tmp_path / "site" / "zoo" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in zoo_page for name in zoo.list_models())
    assert zoo_page.count("<tr>") == 2 + len(zoo.list_models()) + len(zoo.weights.entries())

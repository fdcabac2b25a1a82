"""MkDocs hooks of the docs site: the model zoo page's tables, generated from the registry.

`docs/zoo.md` holds two markers that the build replaces: `<!-- zoo-models -->` with one row
per registered model (`zoo.registry`), `<!-- zoo-weights -->` with one row per registered
pretrained weights (`zoo.weights`); the page can never list a model the code does not have.
The models' sizes take building every model, too slow for each build: the page includes
`zoo/sizes.md`, which `python -m zoo sizes` writes and tests/test_zoo.py checks.
"""

MODELS_MARKER = "<!-- zoo-models -->"
WEIGHTS_MARKER = "<!-- zoo-weights -->"


def _options(options: dict) -> str:
    """Builder options as code, `-` when none."""
    return ", ".join(f"`{key}={value!r}`" for key, value in options.items()) or "-"


def zoo_tables() -> dict[str, str]:
    """The models and their registered weights, as Markdown tables, by marker.

    ```python
    import sys

    sys.path.insert(0, "docs")  # from the repository root
    import hooks

    print(hooks.zoo_tables()[hooks.MODELS_MARKER])  # | model | family | default recipe | ...
    ```
    """
    import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
    from zoo import registry
    from zoo.__main__ import markdown_table  # the table of `python -m zoo list`

    entries = [registry.entry(name) for name in registry.names()]
    models = markdown_table(
        [[f"`{e.name}`", e.family, f"`{e.recipe}`", "x".join(map(str, e.input_shape)),
          str(e.num_classes), _options(e.deployed)] for e in entries],
        ["model", "family", "default recipe", "input", "classes", "deployed as"])
    weights = markdown_table(
        [[f"`{w.model}`", f"`{w.key}`", _options(w.options), f"`{w.dataset}`",
          "x".join(map(str, w.input_shape)),
          f"{100 * w.test_accuracy:.2f} % of {w.test_examples:,}",
          "shipped" if w.url is None else f"[download]({w.url})"]
         for e in entries for w in e.pretrained],
        ["model", "weights", "options", "data set", "input", "top-1 (test set)", "file"])
    return {MODELS_MARKER: models, WEIGHTS_MARKER: weights}


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    """Fills the markers of the zoo page (an MkDocs hook)."""
    if MODELS_MARKER not in markdown and WEIGHTS_MARKER not in markdown:
        return markdown
    for marker, table in zoo_tables().items():
        markdown = markdown.replace(marker, table)
    return markdown

"""MkDocs hooks of the docs site: the model zoo page's tables, generated from the registry.

`docs/zoo.md` holds the marker `<!-- zoo-models -->`; the build replaces it with one row per
registered model (`zoo.registry`) and one per registered pretrained weights
(`zoo.weights`), so the page can never list a model the code does not have.
"""

MARKER = "<!-- zoo-models -->"


def zoo_tables() -> str:
    """The models and their registered weights, as Markdown tables."""
    import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
    from zoo import registry
    from zoo.__main__ import markdown_table  # the table of `python -m zoo list`

    entries = [registry.entry(name) for name in registry.names()]
    models = markdown_table(
        [[f"`{e.name}`", e.family, f"`{e.recipe}`", "x".join(map(str, e.input_shape)),
          str(e.num_classes), ", ".join(f"`{k}={v!r}`" for k, v in e.deployed.items()) or "-"]
         for e in entries],
        ["model", "family", "default recipe", "input", "classes", "deployed as"])
    weights = markdown_table(
        [[f"`{w.model}`", f"`{w.key}`", ", ".join(f"`{k}={v!r}`" for k, v in w.options.items())
          or "-", w.data_source, f"{100 * w.test_accuracy:.2f} % of {w.test_examples:,}"]
         for e in entries for w in e.pretrained],
        ["model", "weights", "options", "data", "top-1 (test set)"])
    return f"{models}\n\n## Pretrained weights\n\n{weights}"


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    """Fills the marker of the zoo page (an MkDocs hook)."""
    return markdown.replace(MARKER, zoo_tables()) if MARKER in markdown else markdown

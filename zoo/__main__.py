"""The zoo from the command line: list the models, register trained weights.

    python -m zoo list [MODEL ...]
    python -m zoo sizes [--output FILE]
    python -m zoo register RUN_DIR --key fashion_mnist [--option stage=decoupled]
                           [--data_source TEXT] [--url URL]

`list` prints, per model at its default input shape, the parameters, the binary
multiply-accumulates and the model size with 1-bit binary weights (as `lq.models.summary`
counts them), then the registered weights: each configuration's size and test accuracy.
`sizes` writes the first table, without the weights column, into `zoo/sizes.md`, which the
docs' model-zoo page includes; tests/test_zoo.py fails when a row there is stale or missing.
`register` copies the model of a finished `train.py` run into `zoo/pretrained/` as a
weights file of the zoo model (its options from the run's metrics.json, plus `--option`),
and records its SHA-256, test accuracy, data source and command in the registry.
"""

import argparse
import json
import os
import pathlib
import sys

import larq as lq
import tf_keras as keras

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn import downloads


def _profile_cells(model: keras.Model) -> list[str]:
    """Parameters, binary MACs and size in MiB (1-bit binary weights) of `model`, as texts."""
    profile = lq.models.ModelProfile(model)
    return [f"{model.count_params():,}", f"{profile.op_count('mac', 1):,}",
            f"{profile.memory / 8 / 2**20:.3f}"]


SIZES_FILE = pathlib.Path(__file__).with_name("sizes.md")
SIZES_HEADER = ["model", "parameters", "binary MACs", "size (MiB)"]


def size_row(name: str) -> list[str]:
    """`name` as deployed: its name, parameters, binary MACs and size in MiB.

    The model is built at its defaults with its deployable options
    (`zoo.deployed_options`, e.g. BinaryDuo's decoupled stage).

    ```python
    import zoo.__main__ as cli

    cli.size_row("bnn_small")  # ["bnn_small", "56,874", "21,676,032", "0.011"]
    ```
    """
    return [name, *_profile_cells(zoo.get_model(name, **zoo.deployed_options(name)))]


def model_row(name: str) -> list[str]:
    """`name`'s `size_row`, and its registered weights' keys.

    ```python
    import zoo.__main__ as cli

    cli.model_row("bnn_small")  # ["bnn_small", parameters, binary MACs, MiB, "-"]
    ```
    """
    keys = ", ".join(entry.key for entry in zoo.weights.entries(name))
    return [*size_row(name), keys or "-"]


def weights_row(entry: zoo.weights.WeightsEntry) -> list[str]:
    """A registered entry: its configuration's size and its measured accuracy.

    ```python
    import zoo
    import zoo.__main__ as cli

    cli.weights_row(zoo.weights.find("bnn_vgg_small", "mnist"))  # [model, key, ..., top-1]
    ```
    """
    model = zoo.get_model(entry.model, weights=entry.key)
    options = ", ".join(f"{key}={value}" for key, value in entry.options.items())
    return [entry.model, entry.key, options or "-", "x".join(map(str, entry.input_shape)),
            *_profile_cells(model), f"{100 * entry.test_accuracy:.2f} %"]


def markdown_table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table of `rows` (lists of cell texts) under `header`.

    ```python
    import zoo.__main__ as cli

    print(cli.markdown_table([["bnn_small", "1"]], ["model", "n"]))
    # | model | n |
    # | --- | --- |
    # | bnn_small | 1 |
    ```
    """
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def list_models(names: list[str]) -> None:
    """Prints the table of `python -m zoo list`: the models `names` (all when empty), then
    their registered weights.

    ```python
    import zoo.__main__ as cli

    cli.list_models(["bnn_small", "recu_small"])
    ```

    # Raises
        SystemExit: for an unknown model name.
    """
    unknown = sorted(set(names) - set(zoo.list_models()))
    if unknown:
        raise SystemExit(f"error: unknown zoo model(s) {', '.join(unknown)}; known: "
                         f"{', '.join(zoo.list_models())}")
    names = names or zoo.list_models()
    print(markdown_table([model_row(name) for name in names],
                         ["model", "parameters", "binary MACs", "size (MiB)",
                          "registered weights"]))
    entries = [entry for name in names for entry in zoo.weights.entries(name)]
    if entries:
        print("\nRegistered weights (top-1 on the whole test set):\n")
        print(markdown_table([weights_row(entry) for entry in entries],
                             ["model", "weights", "options", "input", "parameters",
                              "binary MACs", "size (MiB)", "top-1"]))


def sizes_table(names: list[str] | None = None) -> str:
    """The Markdown table of `size_row`s of `names` (every model when None): what
    `write_sizes` writes for the docs.

    ```python
    import zoo.__main__ as cli

    print(cli.sizes_table(["bnn_small"]))
    # | model | parameters | binary MACs | size (MiB) |
    # | --- | --- | --- | --- |
    # | bnn_small | 56,874 | 21,676,032 | 0.011 |
    ```
    """
    return markdown_table([size_row(name) for name in names or zoo.list_models()],
                          SIZES_HEADER)


def write_sizes(path: str | os.PathLike = SIZES_FILE) -> pathlib.Path:
    """Writes `sizes_table()` of every model into `path` (`python -m zoo sizes`).

    The default, `zoo/sizes.md`, is committed; the docs' model-zoo page includes it, and
    tests/test_zoo.py checks each of its rows against the model as built now.

    ```python
    import zoo.__main__ as cli

    cli.write_sizes("sizes.md")  # builds every zoo model
    ```

    # Arguments
        path: The file to write.

    # Returns
        The path written.
    """
    path = pathlib.Path(path)
    path.write_text(f"<!-- Written by `python -m zoo sizes`; do not edit. -->\n\n"
                    f"{sizes_table()}\n")
    return path


def register(run_dir: str | os.PathLike, key: str, options: dict, url: str | None = None,
             data_source: str | None = None) -> zoo.weights.WeightsEntry:
    """Registers the model of the finished run in `run_dir` under `key` (see the module).

    ```python
    import json
    import pathlib
    import shutil
    import zoo
    import zoo.__main__ as cli

    run = pathlib.Path("run")  # stands for a finished train.py run folder
    run.mkdir()
    zoo.get_model("bnn_small").save(run / "model.keras")
    (run / "metrics.json").write_text(json.dumps({
        "model": "bnn_small", "dataset": "mnist", "data_source": "IDX files",
        "test_accuracy": 0.9, "test_examples": 10000, "command": "python train.py"}))
    shipped = zoo.weights.PRETRAINED_DIR  # register into a copy of the package's registry
    zoo.weights.PRETRAINED_DIR = pathlib.Path(shutil.copytree(shipped, "pretrained"))
    try:
        entry = cli.register(run, "mnist", {})  # bnn_small-mnist.weights.h5 in the copy
    finally:
        zoo.weights.PRETRAINED_DIR = shipped
    ```

    # Arguments
        run_dir: The run folder (its `model.keras` and `metrics.json`).
        key: The registry key, e.g. "fashion_mnist".
        options: Builder options beyond those the run recorded.
        url: Where the file will be downloadable; None when it ships in the package.
        data_source: Which copy of the data set it was trained on; None for the run's own
            record.

    # Returns
        The new `WeightsEntry` (it replaces one of the same model and key).

    # Raises
        ValueError: for a run that is not finished, or whose model does not fit the zoo
            model built with the options.
    """
    run_dir = pathlib.Path(run_dir)
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise ValueError(f"{run_dir} has no metrics.json: register a finished train.py run.")
    metrics = json.loads(metrics_file.read_text())
    trained = keras.models.load_model(run_dir / "model.keras", compile=False)
    options = {**metrics.get("model_options", {}), **options}
    model = zoo.get_model(metrics["model"], input_shape=trained.input_shape[1:],
                          num_classes=trained.output_shape[-1], **options)
    try:
        model.set_weights(trained.get_weights())
    except ValueError as error:
        raise ValueError(f"The model of {run_dir} is not {metrics['model']} built with "
                         f"{options}: pass the options it was trained with. ({error})") from error
    folder = zoo.weights.PRETRAINED_DIR
    file = f"{metrics['model']}-{key}.weights.h5"
    folder.mkdir(exist_ok=True)
    model.save_weights(folder / file)
    entry = zoo.weights.WeightsEntry(
        model=metrics["model"], key=key, options=options,
        input_shape=tuple(model.input_shape[1:]), num_classes=model.output_shape[-1],
        dataset=metrics["dataset"], data_source=data_source or metrics["data_source"], file=file,
        url=url,
        sha256=downloads.file_sha256(folder / file),
        test_accuracy=round(metrics["test_accuracy"], 4), test_examples=metrics["test_examples"],
        command=metrics["command"])
    others = [e for e in zoo.weights.entries() if (e.model, e.key) != (entry.model, key)]
    zoo.weights.save_registry([*others, entry])
    return entry


def main(argv: list[str] | None = None) -> None:
    """`python -m zoo list|register ...` (see the module docstring).

    ```python
    import zoo.__main__ as cli

    cli.main(["list", "bnn_small"])  # prints the table
    ```

    # Arguments
        argv: The command-line arguments; None reads `sys.argv[1:]`, as `argparse` does.

    # Raises
        SystemExit: for bad arguments, an unknown model, or a run that cannot be registered.
    """
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the models, their size and registered weights")
    listing.add_argument("models", nargs="*", help="zoo models (default: all)")
    sizing = commands.add_parser("sizes", help="write every model's size into the table "
                                 "the docs include")
    sizing.add_argument("--output", default=SIZES_FILE,
                        help="the file to write (default: zoo/sizes.md, the committed one)")
    registering = commands.add_parser("register", help="register a train.py run's weights")
    registering.add_argument("run_dir", help="folder of a finished train.py run")
    registering.add_argument("--key", required=True, help="registry key, e.g. fashion_mnist")
    registering.add_argument("--option", action="append", default=[],
                          help="builder option name=value beyond the run's own")
    registering.add_argument("--data_source", help="which copy of the data set it was trained "
                          "on (default: the run's own record, a path)")
    registering.add_argument("--url", help="where the file will be downloadable (default: it "
                          "ships in the package)")
    arguments = parser.parse_args(argv)
    if arguments.command == "list":
        list_models(arguments.models)
        return
    if arguments.command == "sizes":
        print(f"wrote {write_sizes(arguments.output)}")
        return
    try:
        entry = register(arguments.run_dir, arguments.key, zoo.parse_options(arguments.option),
                         url=arguments.url, data_source=arguments.data_source)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}")
    print(f"registered {entry.model} {entry.key!r}: {entry.file}, test accuracy "
          f"{entry.test_accuracy:.4f}, sha256 {entry.sha256}")


if __name__ == "__main__":
    sys.exit(main())

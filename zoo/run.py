"""A training run: a zoo model trained on a data set, stage after stage, into a run folder.

`train(request)` is what `python train.py` does (train.py only turns its flags into a
`RunRequest`); call it in-process from tests, benchmarks or a notebook:

```python
import keras_bnn  # sets up TensorFlow with Keras 2 first
from zoo import run

metrics = run.train(run.RunRequest(model="bnn_small", epochs=1, steps_per_epoch=2,
                                   max_test_examples=64, export=False,
                                   output_dir="runs/quick"))
print(metrics["test_accuracy"])
```

The run folder holds:

    command.json         the request (and the command line, when train.py started it)
    wall_seconds.json    the run's time so far, over all its invocations
    <stage>/checkpoints  a checkpoint every epoch (model, optimizer state, epoch) + history
    <stage>/tensorboard  TensorBoard logs
    <stage>/model.keras  the stage's trained model
    model.keras, model.h5, metrics.json, training_curves.png
    model.tflite         the Larq Compute Engine program, checked against model.keras on
                         test images (`export=False` skips it)
    latent_weights.png   (ReCU models) latent-weight histograms with the clamp ±Q(τ)

Running the same request again after an interruption (even `kill -9`) resumes the newest
unfinished run of that request from its last finished epoch, with the same result as an
uninterrupted run.
"""

import dataclasses
import datetime
import json
import os
import pathlib
import sys
import tempfile
import time

import larq as lq
import tensorflow as tf
import tf_keras as keras

import zoo
from keras_bnn import data, export, files, optimizers, plots, training
from keras_bnn.layers import recu_layers
from zoo import recipes
from zoo.recipes import RunRequest, Stage

__all__ = ["COMMAND_FILE", "METRICS_FILE", "CLOCK_FILE", "RUNS_ROOT", "RunError", "RunRequest",
           "run_identity", "train"]

RUNS_ROOT = pathlib.Path("runs")
COMMAND_FILE = "command.json"
METRICS_FILE = "metrics.json"
CLOCK_FILE = "wall_seconds.json"
# Where a run executes and where it writes do not change its result: a run started on
# several devices can be resumed on one.
_NOT_IDENTITY = ("strategy", "output_dir")


class RunError(ValueError):
    """A problem with what the user asked for (data not found, bad options, a model the
    recipe refuses, ...); train.py prints it as one line."""


def run_identity(request: RunRequest) -> dict:
    """The fields of `request` that define a run's result: how a resumed run is recognised.

    ```python
    import keras_bnn
    from zoo.run import RunRequest, run_identity

    run_identity(RunRequest(strategy="mirrored")) == run_identity(RunRequest())  # True
    ```
    """
    fields = {name: value for name, value in dataclasses.asdict(request).items()
              if name not in _NOT_IDENTITY}
    return json.loads(json.dumps(fields))  # as command.json holds it (tuples become lists)


def train(request: RunRequest, *, command: str | None = None) -> dict | None:
    """Runs the recipe's stages on the data set and writes the run folder.

    # Arguments
        request: What to train, on what, how and where (`RunRequest`; `None` fields take the
            recipe's or the data set's defaults).
        command: The command line that asked for it (train.py's), recorded with the run.

    # Returns
        The run's metrics (also in `metrics.json`): test accuracy and loss, per-stage
        results, parameters, wall seconds and the export's checks; `None` on a worker of a
        multi-worker run other than the chief (only the chief writes them).

    # Raises
        RunError: for anything the user can fix (data not found, bad options, ...).
    """
    started = time.perf_counter()
    strategy = _strategy(request)
    chief = training.is_chief(strategy)
    identity = run_identity(request)
    output_dir = _output_dir(request.output_dir, identity)
    try:  # before the data set loads, and before anything is written
        files.check_writable_folder(output_dir)
    except OSError as error:
        raise RunError(f"--output_dir={output_dir}: {error}; choose a folder you can "
                       "write.") from None
    # A finished run that is run again only reloads and re-evaluates: keep its training time.
    finished = output_dir / METRICS_FILE
    trained_seconds = json.loads(finished.read_text())["wall_seconds"] if finished.exists() \
        else None
    clock = _RunClock(output_dir, started)
    try:
        zoo.check_options(request.model, request.model_options)
    except ValueError as error:
        raise RunError(f"--model={request.model}: {error}") from None
    keras.utils.set_random_seed(request.seed)
    try:
        dataset = data.load(request.dataset, request.data_dir,
                            max_train_examples=request.max_train_examples,
                            max_test_examples=request.max_test_examples,
                            image_size=request.image_size)
    except (data.DataNotFoundError, ValueError) as error:
        raise RunError(str(error)) from None
    steps_per_epoch = request.steps_per_epoch or dataset.num_train // request.batch_size
    if steps_per_epoch < 1:
        raise RunError(f"--batch_size={request.batch_size} is larger than the "
                       f"{dataset.num_train} training examples.")
    request = dataclasses.replace(request, input_shape=dataset.input_shape,
                                  num_classes=dataset.num_classes)
    stages = recipes.get_recipe(request.recipe or recipes.default_recipe(request.model))(request)
    if chief:
        output_dir.mkdir(parents=True, exist_ok=True)
        files.write_json_atomically(output_dir / COMMAND_FILE,
                                    {"command": command, "request": identity})
    print(f"Run folder: {output_dir}  (data: {dataset.source})")

    model, history, stage_results = None, [], []
    for index, stage in enumerate(stages):
        model, result = _run_stage(request, index, stage, model, dataset, steps_per_epoch,
                                   output_dir / stage.name, strategy, clock)
        stage_history = result.pop("history")
        history += [{**logs, "stage": stage.name} for logs in stage_history]
        stage_results.append({"stage": stage.name, "epochs": stage.epochs, **result,
                              "test_accuracy": stage_history[-1].get("val_accuracy")})

    test_loss, test_accuracy = model.evaluate(
        _for_distribution(dataset.test_dataset(request.batch_size)), verbose=0
    )
    _save_model(model, output_dir / "model.keras", chief)
    # The .h5 copy is for tools that want that format; it leaves out the optimizer state
    # (in model.keras and the checkpoints), which tf_keras cannot write to .h5 for a model
    # loaded from .keras (duplicate variable names).
    _save_model(model, output_dir / "model.h5", chief, include_optimizer=False)
    if not chief:
        return None
    plots.plot_history(history, output_dir / "training_curves.png",
                       title=f"{request.model} on {request.dataset}")
    if recu_layers(model):
        plots.plot_latent_weights(model, output_dir / "latent_weights.png")
    metrics = {
        "model": request.model,
        "model_options": request.model_options,
        "dataset": request.dataset,
        "data_source": dataset.source,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_examples": dataset.num_test,
        "epochs": sum(stage.epochs for stage in stages),
        "stages": stage_results,
        "parameters": model.count_params(),
        "wall_seconds": trained_seconds or clock.seconds(),
        "command": command,
    }
    if request.export:
        metrics["export"] = _export(output_dir / "model.keras", dataset,
                                    output_dir / "model.tflite")
    files.write_json_atomically(output_dir / METRICS_FILE, metrics)
    print(f"test accuracy {test_accuracy:.4f} ({request.dataset}, {dataset.num_test} test "
          f"images); everything is in {output_dir}")
    return metrics


def _strategy(request: RunRequest) -> tf.distribute.Strategy:
    """The distribution strategy asked for; multi-worker needs TF_CONFIG and an output_dir."""
    if request.strategy == "mirrored":
        return training.mirrored_strategy()
    if request.strategy == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise RunError("--strategy=multi_worker needs the cluster in the TF_CONFIG "
                           "environment variable (see docs/guides/several_machines.md).")
        if request.output_dir is None:
            raise RunError("--strategy=multi_worker needs --output_dir, the same on every "
                           "worker.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if request.strategy != "default":
        raise RunError(f"Unknown strategy {request.strategy!r}; expected default, mirrored "
                       "or multi_worker.")
    return tf.distribute.get_strategy()


def _output_dir(output_dir: str | None, identity: dict) -> pathlib.Path:
    """`output_dir`; else the newest unfinished run of the request `identity`; else a new
    folder under `RUNS_ROOT`."""
    if output_dir:
        output_dir = pathlib.Path(output_dir)
        command_file = output_dir / COMMAND_FILE
        if command_file.exists():
            run = json.loads(command_file.read_text())
            other = run.get("request") or {}
            if other != identity:
                differences = ", ".join(
                    f"{name}: {other.get(name)!r} there, {identity.get(name)!r} here"
                    for name in sorted(identity.keys() | other.keys())
                    if other.get(name) != identity.get(name))
                raise RunError(f"{output_dir} holds a run of another request "
                               f"({run.get('command') or 'started from Python'}; "
                               f"{differences}); choose another --output_dir or delete "
                               "that folder.")
        return output_dir
    for command_file in sorted(RUNS_ROOT.glob(f"*/{COMMAND_FILE}"), reverse=True):
        run = json.loads(command_file.read_text())
        unfinished = not (command_file.parent / METRICS_FILE).exists()
        if unfinished and run.get("request") == identity:
            print(f"Resuming the unfinished run in {command_file.parent}")
            return command_file.parent
    return RUNS_ROOT / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


class _RunClock:
    """A run's wall time over all its invocations: what the earlier ones had recorded at
    their last finished epoch (in `CLOCK_FILE`), plus this one's so far."""

    def __init__(self, output_dir: pathlib.Path, started: float):
        self._path = output_dir / CLOCK_FILE
        self._earlier = json.loads(self._path.read_text())["seconds"] if self._path.exists() \
            else 0.0
        self._started = started

    def seconds(self) -> float:
        return round(self._earlier + time.perf_counter() - self._started, 1)

    def callback(self) -> keras.callbacks.Callback:
        """A Keras callback that records the time at every epoch's end."""
        return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
            files.write_json_atomically(self._path, {"seconds": self.seconds()})))


def _for_distribution(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Shards by examples (not files) across workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _save_model(model: keras.Model, path: pathlib.Path, chief: bool, **save_options) -> None:
    """Saves on every worker (collective under multi-worker), for real on the chief only;
    the other workers save into a temporary folder that is removed afterwards."""
    if chief:
        with files.replaced_atomically(path) as temporary:
            model.save(temporary, **save_options)
        return
    with tempfile.TemporaryDirectory(prefix="keras_bnn_worker_") as scratch:
        model.save(pathlib.Path(scratch) / path.name, **save_options)


def _run_stage(request: RunRequest, index: int, stage: Stage, previous_model: keras.Model | None,
               dataset: data.DataSet, steps_per_epoch: int, stage_dir: pathlib.Path,
               strategy: tf.distribute.Strategy, clock: _RunClock) -> tuple[keras.Model, dict]:
    """Trains one stage (or loads it when already finished).

    Returns the trained model and the stage's results: its per-epoch history and, for a
    stage that starts from the previous stage's model, that model's test accuracy and loss
    before training (BinaryDuo: the decoupled model must match the ternary one).
    """
    chief = training.is_chief(strategy)
    test_data = _for_distribution(dataset.test_dataset(request.batch_size))
    model_path = stage_dir / "model.keras"
    checkpoint_dir = stage_dir / "checkpoints"
    start_file = stage_dir / "start.json"
    if model_path.exists():
        print(f"Stage {stage.name!r} is finished; loading {model_path}")
        with strategy.scope():
            model = keras.models.load_model(model_path)
        start = json.loads(start_file.read_text()) if start_file.exists() else {}
        return model, {"history": training.load_history(checkpoint_dir), **start}

    with strategy.scope():
        try:
            model = stage.build_model(previous_model)
        except (TypeError, ValueError) as error:  # bad model options, a model a recipe refuses
            raise RunError(str(error)) from None
        compile_options = dict(
            optimizer=optimizers.make_optimizer(
                **stage.optimizer_options(), epochs=stage.epochs, steps_per_epoch=steps_per_epoch
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.compile(**compile_options)
        # What fit trains: the model, or in a taught stage the model with its teacher; both
        # share the optimizer, so the saved model carries its state.
        trainer = stage.trainer(model, previous_model)
        if trainer is not model:
            trainer.compile(**compile_options)
    if chief:
        print(f"Stage {index + 1}: {stage.name!r}, {stage.epochs} epochs of {steps_per_epoch} "
              "steps")
    # Every worker computes the summary: reading BatchNorm statistics is a collective op.
    lq.models.summary(model, print_fn=print if chief else lambda line: None)
    start = {}
    if previous_model is not None:
        loss, accuracy = model.evaluate(test_data, verbose=0)
        start = {"initial_test_accuracy": accuracy, "initial_test_loss": loss}
        if chief:
            stage_dir.mkdir(parents=True, exist_ok=True)
            files.write_json_atomically(start_file, start)
            print(f"Stage {stage.name!r} starts from the previous stage's model, transformed: "
                  f"test accuracy {accuracy:.4f}, loss {loss:.4f}")
    log_dir = stage_dir / "tensorboard" if chief else None
    callbacks = stage.callbacks(log_dir)
    if chief:
        callbacks += [keras.callbacks.TensorBoard(str(log_dir)), clock.callback()]
    history = training.fit_resumable(
        trainer,
        lambda start_step: _for_distribution(dataset.train_dataset(
            request.batch_size, seed=request.seed + index, start_step=start_step)),
        epochs=stage.epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_dir=checkpoint_dir,
        validation_data=test_data,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
        strategy=strategy,
    )
    _save_model(model, model_path, chief)
    return model, {"history": history, **start}


def _export(model_file: pathlib.Path, dataset: data.DataSet, path: pathlib.Path) -> dict:
    """Writes the LCE flatbuffer of the saved model, checked on test images; a failure is
    reported. The model is read back from its file so that the export runs outside any
    distribution strategy (a multi-worker model's variables need every worker to read).

    # Returns
        What goes into metrics.json: the file and its checks, or the error.
    """
    images, _ = next(iter(dataset.test_dataset(16)))
    model = keras.models.load_model(model_file)
    try:
        result = export.convert(model, path, sample_inputs=images.numpy())
    except export.ExportError as error:
        print(f"LCE export skipped: {error}")
        return {"error": str(error)}
    print(f"LCE export:\n{result.report()}")
    return {"file": path.name, "size_bytes": result.size_bytes,
            "lce_binary_convs": result.converted_binary_convs,
            "mean_relative_difference": result.mean_rel_diff}

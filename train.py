"""Train a zoo model on a real data set, stage after stage: `python train.py [flags]`.

With no flags it trains the zoo's `recu_small` (ReCU's VGG-small at 1/8 width) on
Fashion-MNIST for 5 epochs with the `recu` recipe (about 5 minutes on 2 CPU cores, about
89-90 % test accuracy; the README has the measured figures) and writes everything into
`runs/<timestamp>/`:

    command.json         the exact command
    wall_seconds.json    the run's time so far, over all its invocations
    <stage>/checkpoints  a checkpoint every epoch (model, optimizer state, epoch) + history
    <stage>/tensorboard  TensorBoard logs
    <stage>/model.keras  the stage's trained model
    model.keras, model.h5, metrics.json, training_curves.png
    model.tflite         the Larq Compute Engine program, checked against model.keras
                         on test images (--noexport to skip)
    latent_weights.png   (ReCU models) latent-weight histograms with the clamp ±Q(τ)

Re-running the same command after an interruption (even `kill -9`) resumes the newest
unfinished run of that command from its last finished epoch, with the same result as an
uninterrupted run. Examples:

    python train.py --model=bnn_vgg7 --dataset=cifar10 --data_dir=DIR --epochs=100 \
        --optimizer=sgd --learning_rate=0.1 --lr_schedule=step --decay_epochs=50,75
    python train.py --strategy=mirrored            # every local GPU (or logical CPU)
    TF_CONFIG=... python train.py --strategy=multi_worker --output_dir=runs/shared
"""

import datetime
import json
import os
import pathlib
import shlex
import sys
import tempfile
import time

from absl import app, flags, logging

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import zoo
from keras_bnn import data, export, files, optimizers, plots, training
from keras_bnn._keras import keras, lq, tf
from keras_bnn.layers import recu_layers
from zoo import recipes

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "recu_small", zoo.list_models(), "Zoo model to train.")
flags.DEFINE_string("dataset", "fashion_mnist",
                    "mnist, fashion_mnist, cifar10, folder:PATH or a tensorflow-datasets name.")
flags.DEFINE_string("data_dir", None, "Directory of the data set (searched for otherwise).")
flags.DEFINE_enum("recipe", None, recipes.recipe_names(),
                  "Training recipe (its stages); default: the model's method's (binaryduo for "
                  "binaryduo_* models, recu for recu_*), else single.")
flags.DEFINE_integer("epochs", 5, "Training epochs (of the first stage).", lower_bound=1)
flags.DEFINE_integer("stage2_epochs", None, "Epochs of the second stage of two-stage recipes "
                     "(default: the recipe's).", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Global batch size.", lower_bound=1)
flags.DEFINE_enum("optimizer", None, list(optimizers.OPTIMIZERS), "Optimizer (recipe's default).")
flags.DEFINE_float("learning_rate", None, "Base learning rate (recipe's default).",
                   lower_bound=0.0)
flags.DEFINE_enum("lr_schedule", None, list(optimizers.SCHEDULES),
                  "Learning-rate schedule (recipe's default).")
flags.DEFINE_float("warmup_epochs", None, "Warm-up epochs of the cosine schedule.",
                   lower_bound=0.0)
flags.DEFINE_list("decay_epochs", None, "Epochs at which the step schedule decays by 10x.")
flags.DEFINE_float("weight_decay", None, "Decoupled weight decay.", lower_bound=0.0)
flags.DEFINE_float("attention_weight", None, "Weight of attention matching in the stages "
                   "taught by the previous one (real_to_binary recipe; default 1).",
                   lower_bound=0.0)
flags.DEFINE_float("distillation_weight", None, "Weight of logit distillation in those "
                   "stages (default 1).", lower_bound=0.0)
flags.DEFINE_string("input_quantizer", None, "Activation quantizer of the binary layers.")
flags.DEFINE_string("kernel_quantizer", None, "Weight quantizer of the binary layers.")
flags.DEFINE_multi_string("model_option", [], "A builder option of the zoo model as "
                          "name=value (a Python literal, or a string), e.g. width=45; repeatable.")
flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch (0: one pass over the data).",
                     lower_bound=0)
flags.DEFINE_integer("max_train_examples", None, "Use only this many training examples.",
                     lower_bound=1)
flags.DEFINE_integer("max_test_examples", None, "Use only this many test examples.",
                     lower_bound=1)
flags.DEFINE_integer("image_size", None, "Resize folder images to this size.", lower_bound=1)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: every local GPU (or logical CPU); "
                  "multi_worker: the cluster in TF_CONFIG.")
flags.DEFINE_string("output_dir", None, "Run folder (default: runs/<timestamp>, or the "
                    "newest unfinished run of the same command, which is resumed).")
flags.DEFINE_boolean("export", True, "Write model.tflite with Larq Compute Engine at the end, "
                     "verified against the Keras model on test images.")
flags.DEFINE_integer("seed", 0, "Random seed (weights and data order).")

RUNS_ROOT = pathlib.Path("runs")
COMMAND_FILE = "command.json"
METRICS_FILE = "metrics.json"
CLOCK_FILE = "wall_seconds.json"


class UserError(Exception):
    """A problem with what the user asked for; train.py prints it as one line."""


def make_strategy(name):
    """The distribution strategy of --strategy; multi-worker needs TF_CONFIG and --output_dir."""
    if name == "mirrored":
        return training.mirrored_strategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy=multi_worker needs the cluster in the TF_CONFIG "
                            "environment variable (see the README).")
        if FLAGS.output_dir is None:
            raise UserError("--strategy=multi_worker needs --output_dir, the same on every "
                            "worker.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def run_identity(arguments):
    """The flags that define a run's result: how a resumed run is recognised.

    Where it runs (--strategy) and where it writes (--output_dir) do not count, so a run
    started on several devices can be resumed on one.
    """
    ignored = ("--strategy", "--output_dir")
    return sorted(arg for arg in arguments if not arg.startswith(ignored))


def resolve_output_dir(arguments):
    """--output_dir; else the newest unfinished run of the same command; else a new folder."""
    identity = run_identity(arguments)
    if FLAGS.output_dir:
        output_dir = pathlib.Path(FLAGS.output_dir)
        command_file = output_dir / COMMAND_FILE
        if command_file.exists():
            run = json.loads(command_file.read_text())
            if run_identity(run["arguments"]) != identity:
                raise UserError(f"{output_dir} holds a run of another command "
                                f"({run['command']}); choose another --output_dir or delete "
                                "that folder.")
        return output_dir
    for command_file in sorted(RUNS_ROOT.glob(f"*/{COMMAND_FILE}"), reverse=True):
        run = json.loads(command_file.read_text())
        unfinished = not (command_file.parent / METRICS_FILE).exists()
        if unfinished and run_identity(run["arguments"]) == identity:
            print(f"Resuming the unfinished run in {command_file.parent}")
            return command_file.parent
    return RUNS_ROOT / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


class RunClock:
    """A run's wall time over all its invocations: what the earlier ones had recorded at
    their last finished epoch (in `CLOCK_FILE`), plus this one's so far."""

    def __init__(self, output_dir, started):
        self._path = output_dir / CLOCK_FILE
        self._earlier = json.loads(self._path.read_text())["seconds"] if self._path.exists() \
            else 0.0
        self._started = started

    def seconds(self):
        return round(self._earlier + time.perf_counter() - self._started, 1)

    def callback(self):
        """A Keras callback that records the time at every epoch's end."""
        return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
            files.write_json_atomically(self._path, {"seconds": self.seconds()})))


def for_distribution(dataset):
    """Shards by examples (not files) across workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def save_model(model, path, chief, **save_options):
    """Saves on every worker (collective under multi-worker), for real on the chief only."""
    path = pathlib.Path(path)
    if not chief:
        path = pathlib.Path(tempfile.mkdtemp(prefix="keras_bnn_worker_")) / path.name
    with files.replaced_atomically(path) as temporary:
        model.save(temporary, **save_options)


def run_stage(index, stage, previous_model, dataset, steps_per_epoch, stage_dir, strategy,
              clock):
    """Trains one stage (or loads it when already finished).

    Returns the trained model and the stage's results: its per-epoch history and, for a
    stage that starts from the previous stage's model, that model's test accuracy and loss
    before training (BinaryDuo: the decoupled model must match the ternary one).
    """
    chief = training.is_chief(strategy)
    test_data = for_distribution(dataset.test_dataset(FLAGS.batch_size))
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
            raise UserError(str(error)) from None
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
        print(f"Stage {index + 1}: {stage.name!r}, {stage.epochs} epochs of {steps_per_epoch} steps")
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
        lambda start_step: for_distribution(
            dataset.train_dataset(FLAGS.batch_size, seed=FLAGS.seed + index, start_step=start_step)
        ),
        epochs=stage.epochs,
        steps_per_epoch=steps_per_epoch,
        checkpoint_dir=checkpoint_dir,
        validation_data=test_data,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
        strategy=strategy,
    )
    save_model(model, model_path, chief)
    return model, {"history": history, **start}


def export_model(model_file, dataset, path):
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


def train(arguments):
    """Runs the recipe's stages on the data set and writes the run folder.

    # Arguments
        arguments: The command-line flags as given (they identify the run for resuming).

    # Raises
        UserError: for anything the user can fix (data not found, bad options, ...).
    """
    started = time.perf_counter()
    strategy = make_strategy(FLAGS.strategy)
    chief = training.is_chief(strategy)
    output_dir = resolve_output_dir(arguments)
    try:  # before the data set loads, and before anything is written
        files.check_writable_folder(output_dir)
    except OSError as error:
        raise UserError(f"--output_dir={output_dir}: {error}; choose a folder you can "
                        "write.") from None
    # A finished run that is run again only reloads and re-evaluates: keep its training time.
    finished = output_dir / METRICS_FILE
    trained_seconds = json.loads(finished.read_text())["wall_seconds"] if finished.exists() \
        else None
    clock = RunClock(output_dir, started)
    model_options = {name: FLAGS[name].value for name in ("input_quantizer", "kernel_quantizer")
                     if FLAGS[name].value is not None}
    try:
        model_options.update(zoo.parse_options(FLAGS.model_option))
    except ValueError as error:
        raise UserError(f"--model_option: {error}") from None
    try:
        zoo.check_options(FLAGS.model, model_options)
    except ValueError as error:
        raise UserError(f"--model={FLAGS.model}: {error}") from None
    keras.utils.set_random_seed(FLAGS.seed)
    try:
        dataset = data.load(FLAGS.dataset, FLAGS.data_dir,
                            max_train_examples=FLAGS.max_train_examples,
                            max_test_examples=FLAGS.max_test_examples,
                            image_size=FLAGS.image_size)
    except (data.DataNotFoundError, ValueError) as error:
        raise UserError(str(error)) from None
    steps_per_epoch = FLAGS.steps_per_epoch or dataset.num_train // FLAGS.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"--batch_size={FLAGS.batch_size} is larger than the "
                        f"{dataset.num_train} training examples.")

    request = recipes.RunRequest(
        model=FLAGS.model, input_shape=dataset.input_shape, num_classes=dataset.num_classes,
        epochs=FLAGS.epochs, model_options=model_options, optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate, schedule=FLAGS.lr_schedule,
        warmup_epochs=FLAGS.warmup_epochs,
        decay_epochs=tuple(float(e) for e in FLAGS.decay_epochs) if FLAGS.decay_epochs else None,
        weight_decay=FLAGS.weight_decay, stage2_epochs=FLAGS.stage2_epochs,
        attention_weight=FLAGS.attention_weight, distillation_weight=FLAGS.distillation_weight,
    )
    stages = recipes.get_recipe(FLAGS.recipe or recipes.default_recipe(FLAGS.model))(request)
    command = shlex.join(["python", "train.py", *arguments])
    if chief:
        output_dir.mkdir(parents=True, exist_ok=True)
        files.write_json_atomically(output_dir / COMMAND_FILE,
                                    {"command": command, "arguments": arguments})
    print(f"Run folder: {output_dir}  (data: {dataset.source})")

    model, history, stage_results = None, [], []
    for index, stage in enumerate(stages):
        model, result = run_stage(index, stage, model, dataset, steps_per_epoch,
                                  output_dir / stage.name, strategy, clock)
        stage_history = result.pop("history")
        history += [{**logs, "stage": stage.name} for logs in stage_history]
        stage_results.append({"stage": stage.name, "epochs": stage.epochs, **result,
                              "test_accuracy": stage_history[-1].get("val_accuracy")})

    test_loss, test_accuracy = model.evaluate(
        for_distribution(dataset.test_dataset(FLAGS.batch_size)), verbose=0
    )
    save_model(model, output_dir / "model.keras", chief)
    # The .h5 copy is for tools that want that format; it leaves out the optimizer state
    # (in model.keras and the checkpoints), which tf_keras cannot write to .h5 for a model
    # loaded from .keras (duplicate variable names).
    save_model(model, output_dir / "model.h5", chief, include_optimizer=False)
    if not chief:
        return
    plots.plot_history(history, output_dir / "training_curves.png",
                       title=f"{FLAGS.model} on {FLAGS.dataset}")
    if recu_layers(model):
        plots.plot_latent_weights(model, output_dir / "latent_weights.png")
    metrics = {
        "model": FLAGS.model,
        "model_options": model_options,
        "dataset": FLAGS.dataset,
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
    if FLAGS.export:
        metrics["export"] = export_model(output_dir / "model.keras", dataset,
                                         output_dir / "model.tflite")
    files.write_json_atomically(output_dir / METRICS_FILE, metrics)
    print(f"test accuracy {test_accuracy:.4f} ({FLAGS.dataset}, {dataset.num_test} test "
          f"images); everything is in {output_dir}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown the progress
        logging.set_verbosity(logging.WARNING)
    try:
        train(sys.argv[1:])
    except UserError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)

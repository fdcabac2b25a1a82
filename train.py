"""Train a zoo model on a real data set, stage after stage: `python train.py [flags]`.

The flags fill a `zoo.run.RunRequest` and `zoo.run.train` runs it (its docstring lists the
run folder's files). With no flags it trains the zoo's `recu_small` (ReCU's VGG-small at 1/8
width) on Fashion-MNIST for 5 epochs with the `recu` recipe (a few minutes on 2 CPU cores;
the README has the measured figures) and writes everything into `runs/<timestamp>/`.
Re-running the same command after an interruption (even `kill -9`) resumes the newest
unfinished run of that command from its last finished epoch, with the same result as an
uninterrupted run. Examples:

    python train.py --model=bnn_vgg7 --dataset=cifar10 --data_dir=DIR --epochs=100 \
        --optimizer=sgd --learning_rate=0.1 --lr_schedule=step --decay_epochs=50,75
    python train.py --strategy=mirrored            # every local GPU (or logical CPU)
    TF_CONFIG=... python train.py --strategy=multi_worker --output_dir=runs/shared
"""

import dataclasses
import shlex
import sys

from absl import app, flags, logging

import zoo
from keras_bnn import optimizers
from zoo import recipes, run
from zoo.run import RunError, RunRequest

DEFAULT = RunRequest()

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", DEFAULT.model, zoo.list_models(), "Zoo model to train.")
flags.DEFINE_string("dataset", DEFAULT.dataset,
                    "mnist, fashion_mnist, cifar10, folder:PATH or a tensorflow-datasets name.")
flags.DEFINE_string("data_dir", None, "Directory of the data set (searched for otherwise).")
flags.DEFINE_enum("recipe", None, recipes.recipe_names(),
                  "Training recipe (its stages); default: the one the zoo registers with "
                  "the model (zoo.registry.entry(model).recipe).")
flags.DEFINE_integer("epochs", DEFAULT.epochs, "Training epochs of each stage (BinaryDuo: of its "
                     "ternary stage; see --stage2_epochs).",
                     lower_bound=1)
flags.DEFINE_integer("stage2_epochs", None, "Epochs of BinaryDuo's decoupled stage "
                     "(default: the recipe's share of --epochs).", lower_bound=1)
flags.DEFINE_integer("batch_size", DEFAULT.batch_size, "Global batch size.", lower_bound=1)
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
flags.DEFINE_integer("steps_per_epoch", DEFAULT.steps_per_epoch,
                     "Steps per epoch (0: one pass over the data).", lower_bound=0)
flags.DEFINE_integer("max_train_examples", None, "Use only this many training examples.",
                     lower_bound=1)
flags.DEFINE_integer("max_test_examples", None, "Use only this many test examples.",
                     lower_bound=1)
flags.DEFINE_integer("image_size", None, "Resize folder images to this size.", lower_bound=1)
flags.DEFINE_enum("strategy", DEFAULT.strategy, ["default", "mirrored", "multi_worker"],
                  "default: one device; mirrored: every local GPU (or logical CPU); "
                  "multi_worker: the cluster in TF_CONFIG.")
flags.DEFINE_string("output_dir", None, "Run folder (default: runs/<timestamp>, or the "
                    "newest unfinished run of the same request, which is resumed).")
flags.DEFINE_boolean("export", DEFAULT.export, "Write model.tflite with Larq Compute Engine "
                     "at the end, verified against the Keras model on test images.")
flags.DEFINE_integer("seed", DEFAULT.seed, "Random seed (weights and data order).")


def request_from_flags() -> RunRequest:
    """The `RunRequest` of the parsed flags.

    # Raises
        RunError: for a `--model_option` that is not `name=value`.
    """
    model_options = {name: FLAGS[name].value for name in ("input_quantizer", "kernel_quantizer")
                     if FLAGS[name].value is not None}
    try:
        model_options.update(zoo.parse_options(FLAGS.model_option))
    except ValueError as error:
        raise RunError(f"--model_option: {error}") from None
    decay_epochs = tuple(float(e) for e in FLAGS.decay_epochs) if FLAGS.decay_epochs else None
    # The flags named as the request's fields; the others are converted above.
    same_name = {field.name for field in dataclasses.fields(RunRequest)} & set(FLAGS) - {
        "decay_epochs"}
    return RunRequest(**{name: FLAGS[name].value for name in same_name},
                      model_options=model_options, schedule=FLAGS.lr_schedule,
                      decay_epochs=decay_epochs)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown the progress
        logging.set_verbosity(logging.WARNING)
    try:
        run.train(request_from_flags(), command=shlex.join(["python", "train.py", *sys.argv[1:]]))
    except RunError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)

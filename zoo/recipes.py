"""Training recipes: how a zoo model is trained, stage after stage.

A recipe turns what the user asked for (`RunRequest`) into a list of
`Stage`s. Each stage builds its model (from the previous stage's trained model, for
multi-stage methods such as BinaryDuo's ternary -> decoupled), and names its optimizer,
learning-rate schedule and extra callbacks; a stage of Real-to-Binary's progressive
recipe also learns from the previous stage's model as its teacher (`Distillation`).
`zoo.run.train` runs the stages in order, each with its own checkpoints.

```python
from zoo import recipes

request = recipes.RunRequest(model="bnn_small", input_shape=(28, 28, 1), num_classes=10)
stages = recipes.get_recipe("single")(request)  # [Stage(name='train', epochs=5, ...)]
```
"""

import dataclasses
import pathlib
from collections.abc import Callable

import tf_keras as keras

import zoo
from keras_bnn.callbacks import TauScheduler, WeightStats
from keras_bnn.decoupling import decouple, has_ternary_activations
from keras_bnn.distillation import Distiller
from keras_bnn.twin import float_twin
from zoo import real_to_binary as real_to_binary_models
from zoo import registry

__all__ = ["RECIPES", "Distillation", "RunRequest", "Stage", "binaryduo_epochs",
           "default_recipe", "get_recipe", "recipe_names"]


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What the user asked for: a training run of a zoo model (`zoo.run.train` runs it,
    train.py's flags fill it). `None` fields take the recipe's or the data set's defaults.

    ```python
    import keras_bnn
    from zoo.recipes import RunRequest

    request = RunRequest(model="recu_resnet20", dataset="cifar10", epochs=100)
    request.recipe  # None: the model's default recipe (`default_recipe`)
    ```

    # Arguments
        model: Zoo model name.
        dataset: `mnist`, `fashion_mnist`, `cifar10`, `folder:PATH` or a
            tensorflow-datasets name (`keras_bnn.data.load`).
        data_dir: Folder of the data set (searched for when `None`).
        recipe: `RECIPES` name (default: the model's, `default_recipe`).
        epochs: Epochs of the run (a multi-stage recipe splits or adds to them).
        model_options: Extra keyword arguments of the model builder.
        optimizer: `keras_bnn.optimizers.OPTIMIZERS` name.
        learning_rate: Base learning rate.
        schedule: `keras_bnn.optimizers.SCHEDULES` name.
        warmup_epochs: Linear warm-up of the cosine schedule.
        decay_epochs: Epochs of the step schedule's decays.
        weight_decay: Decoupled weight decay.
        stage2_epochs: Epochs of a second stage (BinaryDuo's decoupled fine-tuning).
        attention_weight: Weight of attention matching in distilled stages (Real-to-Binary).
        distillation_weight: Weight of logit distillation in distilled stages.
        batch_size: Global batch size.
        steps_per_epoch: Steps per epoch (0: one pass over the training data).
        max_train_examples: Use only this many training examples.
        max_test_examples: Use only this many test examples.
        image_size: Resize folder images to this size.
        seed: Random seed (weights and data order).
        export: Write the Larq Compute Engine program at the end, checked on test images.
        strategy: `default` (one device), `mirrored` (every local GPU, or logical CPU) or
            `multi_worker` (the cluster in `TF_CONFIG`).
        output_dir: Run folder (default: `runs/<timestamp>`, or the newest unfinished run of
            the same request, which is resumed).
        input_shape: Image shape of the data set (the run fills it in from the data).
        num_classes: Classes of the data set (the run fills it in from the data).
    """

    model: str = "recu_small"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    recipe: str | None = None
    epochs: int = 5
    model_options: dict = dataclasses.field(default_factory=dict)
    optimizer: str | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    warmup_epochs: float | None = None
    decay_epochs: tuple | None = None
    weight_decay: float | None = None
    stage2_epochs: int | None = None
    attention_weight: float | None = None
    distillation_weight: float | None = None
    batch_size: int = 128
    steps_per_epoch: int = 0
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    image_size: int | None = None
    seed: int = 0
    export: bool = True
    strategy: str = "default"
    output_dir: str | None = None
    input_shape: tuple | None = None
    num_classes: int | None = None


@dataclasses.dataclass(frozen=True)
class Distillation:
    """How a stage's model learns from the previous stage's model, its frozen teacher.

    The stage trains a `keras_bnn.distillation.Distiller`: the task loss, plus attention
    matching at the end of every basic block (the layers `block_outputs` names, the same
    in student and teacher), plus logit distillation.

    # Arguments
        attention_weight: Weight of the attention matching loss.
        distillation_weight: Weight of the logit distillation loss.
        temperature: Temperature of the logit distillation.
        block_outputs: `model -> [layer names]` matched by attention.
    """

    attention_weight: float
    distillation_weight: float
    temperature: float = 1.0
    block_outputs: Callable = real_to_binary_models.block_outputs

    def trainer(self, student: keras.Model, teacher: keras.Model) -> Distiller:
        """The `Distiller` that trains `student` against `teacher`."""
        pairs = [(name, name) for name in self.block_outputs(student)]
        return Distiller(student, teacher, pairs, attention_weight=self.attention_weight,
                         distillation_weight=self.distillation_weight,
                         temperature=self.temperature)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a recipe: a model to build and how to train it.

    # Arguments
        name: Stage name (its checkpoints go in a folder of that name).
        epochs: Epochs of this stage.
        build_model: `previous_model -> model`; `previous_model` is the trained model of
            the stage before (None for the first stage).
        optimizer: The optimizer's name (`keras_bnn.optimizers.make_optimizer`'s `name`).
        learning_rate: Base learning rate.
        schedule: Learning-rate schedule.
        warmup_epochs: Linear warm-up of the cosine schedule.
        decay_epochs: Epochs of the step schedule's decays.
        weight_decay: Decoupled weight decay.
        callbacks: `log_dir -> list` of extra Keras callbacks for this stage; `log_dir` is
            the stage's TensorBoard folder (None on workers that write nothing).
        distillation: A `Distillation` when the previous stage's model teaches this one.
    """

    name: str
    epochs: int
    build_model: Callable
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    decay_epochs: tuple = ()
    weight_decay: float = 0.0
    callbacks: Callable = lambda log_dir: []
    distillation: Distillation | None = None

    def trainer(self, model: keras.Model, previous_model: keras.Model | None) -> keras.Model:
        """What `fit` trains: `model`, or its `Distiller` with `previous_model` as teacher."""
        if self.distillation is None:
            return model
        return self.distillation.trainer(model, previous_model)

    def optimizer_options(self) -> dict:
        """The keyword arguments of `make_optimizer` (without steps and epochs)."""
        return dict(
            name=self.optimizer,
            learning_rate=self.learning_rate,
            schedule=self.schedule,
            warmup_epochs=self.warmup_epochs,
            decay_epochs=self.decay_epochs,
            weight_decay=self.weight_decay,
        )


def _overrides(request: RunRequest) -> dict:
    """The optimizer fields the user set explicitly."""
    fields = ("optimizer", "learning_rate", "schedule", "warmup_epochs", "decay_epochs",
              "weight_decay")
    return {name: getattr(request, name) for name in fields if getattr(request, name) is not None}


def _build_from_zoo(request: RunRequest) -> Callable:
    """`previous_model -> model` that builds the requested zoo model afresh."""

    def build_model(previous_model: keras.Model | None) -> keras.Model:
        del previous_model
        return zoo.get_model(
            request.model,
            input_shape=request.input_shape,
            num_classes=request.num_classes,
            **request.model_options,
        )

    return build_model


def single_stage(request: RunRequest) -> list[Stage]:
    """Train the model once: Adam, learning rate 1e-3, cosine decay (larq's usual BNN set-up).

    # Arguments
        request: A `RunRequest`.

    # Returns
        A list with one `Stage`, named "train".
    """
    return [Stage(name="train", epochs=request.epochs, build_model=_build_from_zoo(request),
                  **_overrides(request))]


# BinaryDuo's official schedule (ImageNet ResNet-18): stage 1 decays x0.1 at epochs
# 71/91/111 of 120, stage 2 at 21/31/36 of 40; both SGD with Nesterov momentum 0.9,
# learning rate 0.1, weight decay 1e-4. Scaled here to the epochs asked for.
_BINARYDUO_STAGE1_DECAYS = (71 / 120, 91 / 120, 111 / 120)
_BINARYDUO_STAGE2_DECAYS = (21 / 40, 31 / 40, 36 / 40)
_BINARYDUO_STAGE2_SHARE = 40 / 120


def binaryduo(request: RunRequest) -> list[Stage]:
    """BinaryDuo's two stages: train the ternary model, decouple it, fine-tune the binary one.

    Stage "ternary" trains `request.epochs` epochs; stage "decoupled" starts from
    `keras_bnn.decouple` of its result (the same function: train.py logs its test accuracy
    before training) and trains `request.stage2_epochs` epochs (default a third of stage
    1, as in the official code). Each stage uses SGD with Nesterov momentum, learning rate
    0.1, weight decay 1e-4 and step decays at the official epochs scaled to its length;
    flags override optimizer settings for both stages.

    # Arguments
        request: A `RunRequest` for a model with ternary activations (a `binaryduo_*` zoo
            model, or any zoo model with `input_quantizer="ternary_sign"`).

    # Returns
        Two `Stage`s, "ternary" and "decoupled".

    # Raises
        ValueError: when the model has no ternary activation to decouple.

    # References
        - [BinaryDuo](https://arxiv.org/abs/2002.06517), Section 4 and the official code.
    """
    build_zoo_model = _build_from_zoo(request)

    def build_ternary(previous_model: keras.Model | None) -> keras.Model:
        model = build_zoo_model(previous_model)
        if not has_ternary_activations(model):
            raise ValueError(
                f"The binaryduo recipe needs ternary activations, and {request.model!r} as "
                "asked has none: use a binaryduo_* model or --input_quantizer=ternary_sign."
            )
        return model

    stage2_epochs = request.stage2_epochs or _binaryduo_stage2_epochs(request.epochs)
    sgd = dict(optimizer="sgd", learning_rate=0.1, schedule="step", weight_decay=1e-4)
    stages = []
    for name, epochs, decays, build in (
        ("ternary", request.epochs, _BINARYDUO_STAGE1_DECAYS, build_ternary),
        ("decoupled", stage2_epochs, _BINARYDUO_STAGE2_DECAYS, decouple),
    ):
        defaults = {**sgd, "decay_epochs": tuple(round(f * epochs, 3) for f in decays)}
        stages.append(Stage(name=name, epochs=epochs, build_model=build,
                            **{**defaults, **_overrides(request)}))
    return stages


def _binaryduo_stage2_epochs(stage1_epochs: int) -> int:
    return max(1, round(stage1_epochs * _BINARYDUO_STAGE2_SHARE))


def binaryduo_epochs(total_epochs: int) -> tuple[int, int]:
    """BinaryDuo's two stages within a budget of `total_epochs`, in the official ratio
    (120 + 40 epochs): `(stage 1 epochs, stage 2 epochs)`, for a comparison at equal
    training time.

    ```python
    import keras_bnn
    from zoo.recipes import binaryduo_epochs

    binaryduo_epochs(8)  # (6, 2)
    ```

    # Raises
        ValueError: for fewer than 2 epochs (each stage needs one).
    """
    if total_epochs < 2:
        raise ValueError(f"BinaryDuo trains two stages: {total_epochs} epochs cannot hold them.")
    stage1 = next(epochs for epochs in range(total_epochs, 0, -1)
                  if epochs + _binaryduo_stage2_epochs(epochs) <= total_epochs)
    return stage1, total_epochs - stage1


def recu(request: RunRequest) -> list[Stage]:
    """ReCU's recipe: SGD, warm-up then cosine, the τ schedule and dead-weight monitoring.

    One stage, "train": SGD with momentum 0.9 (Nesterov here), learning rate 0.1, linear
    warm-up over 5 epochs (over 5 % of shorter runs than 100 epochs) then cosine to 0;
    weight decay 5e-4 for CIFAR-sized images (at most 64x64) and 1e-4 for ImageNet-sized
    ones, on conv and dense kernels only (the official CIFAR code also decays BatchNorm
    parameters). Callbacks: `TauScheduler` (0.85 -> 0.99, exponential; or τ held constant
    when the model is built with a fixed `tau`, e.g. `--model_option=tau=1.0` for the
    no-clamp ablation) and `WeightStats` (dead-weight fraction, flip ratio, quantization
    error per layer and epoch; latent-weight histograms in TensorBoard). Flags override
    the optimizer settings.

    # Arguments
        request: A `RunRequest` for a model with ReCU convs (a `recu_*` zoo model).

    # Returns
        A list with one `Stage`, named "train".

    # References
        - [ReCU](https://arxiv.org/abs/2103.12369), Section 4 and the official code.
    """
    tau = request.model_options.get("tau")
    imagenet_sized = min(request.input_shape[:2]) > 64

    def callbacks(log_dir: pathlib.Path | None) -> list[keras.callbacks.Callback]:
        scheduler = TauScheduler() if tau is None else TauScheduler(tau, tau, "constant")
        return [scheduler, WeightStats(None if log_dir is None else log_dir / "weights")]

    defaults = dict(optimizer="sgd", learning_rate=0.1, schedule="cosine",
                    warmup_epochs=min(5.0, 0.05 * request.epochs),
                    weight_decay=1e-4 if imagenet_sized else 5e-4)
    return [Stage(name="train", epochs=request.epochs, build_model=_build_from_zoo(request),
                  callbacks=callbacks, **{**defaults, **_overrides(request)})]


def float_twin_stage(request: RunRequest) -> list[Stage]:
    """Train the model's full-precision twin once, as `single_stage` trains the model.

    The twin (`keras_bnn.float_twin`) has the model's layers without their quantizers: the
    float reference a binary network of the same size is measured against.

    ```shell
    python train.py --model=bnn_vgg_small --recipe=float_twin
    ```

    # Arguments
        request: A `RunRequest`.

    # Returns
        A list with one `Stage`, named "train".
    """
    build = _build_from_zoo(request)
    return [Stage(name="train", epochs=request.epochs,
                  build_model=lambda previous_model: float_twin(build(previous_model)),
                  **_overrides(request))]


def _build_stage_variant(request: RunRequest, recipe: str, stage: str) -> Callable:
    """`previous_model -> model`: the zoo model at `stage` (one of
    `zoo.real_to_binary.STAGES`; the recipe sets it), starting from the previous stage's
    weights (the variants share them).

    # Raises
        ValueError: (when called) for a model that has no such stages.
    """
    build_zoo_model = _build_from_zoo(dataclasses.replace(
        request, model_options={**request.model_options, "stage": stage}))

    def build_model(previous_model: keras.Model | None) -> keras.Model:
        if registry.entry(request.model).family != "real_to_binary":
            raise ValueError(
                f"The {recipe} recipe trains real_to_binary_* and strong_baseline_* models "
                f"stage after stage; {request.model!r} has no such stages."
            )
        model = build_zoo_model(None)
        if previous_model is not None:
            for layer in model.layers:
                if layer.weights:
                    layer.set_weights(previous_model.get_layer(layer.name).get_weights())
        return model

    return build_model


def real_to_binary(request: RunRequest) -> list[Stage]:
    """Real-to-Binary's progressive teacher-student training: real, then binary
    activations, then fully binary, each stage taught by the previous one.

    Three stages of `request.epochs` epochs each, every one starting from the weights of
    the one before (the three variants of `zoo.real_to_binary` share their weights):

    1. "real": soft-sign (tanh) activations and real weights, trained on the labels;
    2. "binary_activations": sign activations, real weights; its teacher is stage 1's model;
    3. "binary": the deployed network; its teacher is stage 2's model.

    A taught stage adds attention matching at the end of every basic block
    (`request.attention_weight`, default 1) and logit distillation at temperature 1
    (`request.distillation_weight`, default 1) to the task loss. Adam with cosine decay,
    learning rate 1e-3, 1e-3 and 2e-4 (larq-zoo's stage learning rates); flags override
    the optimizer settings of every stage.

    ```shell
    python train.py --model=real_to_binary_resnet18 --dataset=cifar10 --data_dir=DIR
    ```

    # Arguments
        request: A `RunRequest` for a `real_to_binary_*` or `strong_baseline_*` model.

    # Returns
        Three `Stage`s: "real", "binary_activations", "binary".

    # Raises
        ValueError: (when stage 1 is built) for a model without these stages.

    # References
        - [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), Section 4.2; larq-zoo's
          multi-stage Real-to-Binary experiments for the learning rates.
    """
    distillation = Distillation(
        attention_weight=_default(request.attention_weight, 1.0),
        distillation_weight=_default(request.distillation_weight, 1.0),
    )
    return [Stage(name=name, epochs=request.epochs,
                  build_model=_build_stage_variant(request, "real_to_binary", name),
                  distillation=None if name == "real" else distillation,
                  **{"learning_rate": learning_rate, **_overrides(request)})
            for name, learning_rate in (("real", 1e-3), ("binary_activations", 1e-3),
                                        ("binary", 2e-4))]


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


def two_step(request: RunRequest) -> list[Stage]:
    """The strong baseline's two-step training: binary activations with real weights,
    then binary weights too, starting from the first step's weights.

    Two stages of `request.epochs` epochs, "binary_activations" (Adam, learning rate 1e-3)
    and "binary" (2e-4), cosine decay, no teacher; flags override the optimizer settings.

    # Arguments
        request: A `RunRequest` for a `strong_baseline_*` or `real_to_binary_*` model.

    # Returns
        Two `Stage`s: "binary_activations", "binary".

    # Raises
        ValueError: (when stage 1 is built) for a model without these stages.

    # References
        - [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), Section 4.1.
    """
    return [Stage(name=name, epochs=request.epochs,
                  build_model=_build_stage_variant(request, "two_step", name),
                  **{"learning_rate": learning_rate, **_overrides(request)})
            for name, learning_rate in (("binary_activations", 1e-3), ("binary", 2e-4))]


RECIPES = {"binaryduo": binaryduo, "float_twin": float_twin_stage,
           "real_to_binary": real_to_binary, "recu": recu, "single": single_stage,
           "two_step": two_step}

def default_recipe(model_name: str) -> str:
    """The recipe a zoo model trains with by default: its method's, registered with it
    (`zoo.registry`), "single" for the baselines."""
    return registry.entry(model_name).recipe


def recipe_names() -> list[str]:
    """The names `get_recipe` knows, sorted."""
    return sorted(RECIPES)


def get_recipe(name: str) -> Callable[[RunRequest], list[Stage]]:
    """The recipe function called `name`.

    # Raises
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known recipes: {', '.join(recipe_names())}.")
    return RECIPES[name]

"""Training recipes: how a zoo model is trained, stage after stage.

A recipe turns what the user asked for (`RunRequest`, from train.py's flags) into a list of
`Stage`s. Each stage builds its model (from the previous stage's trained model, for
multi-stage methods such as BinaryDuo's ternary -> decoupled), and names its optimizer,
learning-rate schedule and extra callbacks. train.py runs the stages in order, each with
its own checkpoints.

```python
stages = zoo.recipes.get_recipe("single")(RunRequest(model="bnn_small", epochs=5, ...))
```
"""

import dataclasses
from collections.abc import Callable

import zoo
from keras_bnn.callbacks import TauScheduler, WeightStats
from keras_bnn.decoupling import decouple, has_ternary_activations
from keras_bnn.twin import float_twin

__all__ = ["RECIPES", "RunRequest", "Stage", "default_recipe", "get_recipe", "recipe_names"]


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What the user asked for; `None` fields take the recipe's defaults.

    # Arguments
        model: Zoo model name.
        input_shape: Image shape of the data set.
        num_classes: Classes of the data set.
        epochs: Epochs of the run (a multi-stage recipe splits or adds to them).
        model_options: Extra keyword arguments of the model builder.
        optimizer: `keras_bnn.optimizers.OPTIMIZERS` name.
        learning_rate: Base learning rate.
        schedule: `keras_bnn.optimizers.SCHEDULES` name.
        warmup_epochs: Linear warm-up of the cosine schedule.
        decay_epochs: Epochs of the step schedule's decays.
        weight_decay: Decoupled weight decay.
        stage2_epochs: Epochs of a second stage (BinaryDuo's decoupled fine-tuning).
    """

    model: str
    input_shape: tuple
    num_classes: int
    epochs: int
    model_options: dict = dataclasses.field(default_factory=dict)
    optimizer: str | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    warmup_epochs: float | None = None
    decay_epochs: tuple | None = None
    weight_decay: float | None = None
    stage2_epochs: int | None = None


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a recipe: a model to build and how to train it.

    # Arguments
        name: Stage name (its checkpoints go in a folder of that name).
        epochs: Epochs of this stage.
        build_model: `previous_model -> model`; `previous_model` is the trained model of
            the stage before (None for the first stage).
        optimizer, learning_rate, schedule, warmup_epochs, decay_epochs, weight_decay:
            The arguments of `keras_bnn.optimizers.make_optimizer`.
        callbacks: `log_dir -> list` of extra Keras callbacks for this stage; `log_dir` is
            the stage's TensorBoard folder (None on workers that write nothing).
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

    def optimizer_options(self):
        """The keyword arguments of `make_optimizer` (without steps and epochs)."""
        return dict(
            name=self.optimizer,
            learning_rate=self.learning_rate,
            schedule=self.schedule,
            warmup_epochs=self.warmup_epochs,
            decay_epochs=self.decay_epochs,
            weight_decay=self.weight_decay,
        )


def _overrides(request):
    """The optimizer fields the user set explicitly."""
    fields = ("optimizer", "learning_rate", "schedule", "warmup_epochs", "decay_epochs",
              "weight_decay")
    return {name: getattr(request, name) for name in fields if getattr(request, name) is not None}


def _build_from_zoo(request):
    """`previous_model -> model` that builds the requested zoo model afresh."""

    def build_model(previous_model):
        del previous_model
        return zoo.get_model(
            request.model,
            input_shape=request.input_shape,
            num_classes=request.num_classes,
            **request.model_options,
        )

    return build_model


def single_stage(request):
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


def binaryduo(request):
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

    def build_ternary(previous_model):
        model = build_zoo_model(previous_model)
        if not has_ternary_activations(model):
            raise ValueError(
                f"The binaryduo recipe needs ternary activations, and {request.model!r} as "
                "asked has none: use a binaryduo_* model or --input_quantizer=ternary_sign."
            )
        return model

    stage2_epochs = request.stage2_epochs or max(1, round(request.epochs * _BINARYDUO_STAGE2_SHARE))
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


def recu(request):
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

    def callbacks(log_dir):
        scheduler = TauScheduler() if tau is None else TauScheduler(tau, tau, "constant")
        return [scheduler, WeightStats(None if log_dir is None else log_dir / "weights")]

    defaults = dict(optimizer="sgd", learning_rate=0.1, schedule="cosine",
                    warmup_epochs=min(5.0, 0.05 * request.epochs),
                    weight_decay=1e-4 if imagenet_sized else 5e-4)
    return [Stage(name="train", epochs=request.epochs, build_model=_build_from_zoo(request),
                  callbacks=callbacks, **{**defaults, **_overrides(request)})]


def float_twin_stage(request):
    """Train the model's full-precision twin once, as `single_stage` trains the model.

    The twin (`keras_bnn.float_twin`) has the model's layers without their quantizers: the
    float reference a binary network of the same size is measured against.

    ```python
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


RECIPES = {"binaryduo": binaryduo, "float_twin": float_twin_stage, "recu": recu,
           "single": single_stage}


def default_recipe(model_name):
    """The recipe a zoo model trains with by default: its method's, else "single"."""
    method = model_name.split("_")[0]
    return method if method in RECIPES else "single"


def recipe_names():
    """The names `get_recipe` knows, sorted."""
    return sorted(RECIPES)


def get_recipe(name):
    """The recipe function called `name`.

    # Raises
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known recipes: {', '.join(recipe_names())}.")
    return RECIPES[name]

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

__all__ = ["RECIPES", "RunRequest", "Stage", "get_recipe", "recipe_names"]


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
        callbacks: `() -> list` of extra Keras callbacks for this stage.
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
    callbacks: Callable = list

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


def single_stage(request):
    """Train the model once: Adam, learning rate 1e-3, cosine decay (larq's usual BNN set-up).

    # Arguments
        request: A `RunRequest`.

    # Returns
        A list with one `Stage`, named "train".
    """

    def build_model(previous_model):
        del previous_model
        return zoo.get_model(
            request.model,
            input_shape=request.input_shape,
            num_classes=request.num_classes,
            **request.model_options,
        )

    return [Stage(name="train", epochs=request.epochs, build_model=build_model,
                  **_overrides(request))]


RECIPES = {"single": single_stage}


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

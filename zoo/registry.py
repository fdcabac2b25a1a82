"""The model registry: every zoo model registers itself where it is defined.

A builder in a family's file (`baselines.py`, `recu.py`, ...) takes its options as keyword
arguments, `input_shape` and `num_classes` first with the defaults the model is built with,
and is registered with `@register_model`: its name (the function's), its family (the
file's), the recipe `train.py` trains it with by default, and the options of its
deployable form (what `keras_bnn.export` writes; BinaryDuo's networks decoupled); its
pretrained weights are those `zoo.weights` registers under its name. `zoo`'s
lists, `train.py`'s defaults and the tests read them from here, so adding a model is one
decorated function in one file (see the docs' model zoo guide).

```python
import zoo
from zoo import registry
from zoo.registry import register_model

@register_model(recipe="recu")
def my_recu_small(*, input_shape=(28, 28, 1), num_classes=10, tau=None):
    return zoo.recu.recu_small(input_shape=input_shape, num_classes=num_classes, tau=tau)

registry.entry("my_recu_small").recipe   # "recu"
registry.names(family="recu")            # ["recu_resnet18", ..., "recu_small", ...]
```
"""

import dataclasses
import inspect
from collections.abc import Callable

from zoo import weights

__all__ = ["ModelEntry", "entry", "names", "register_model"]


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered zoo model.

    ```python
    from zoo import registry

    entry = registry.entry("binaryduo_vgg7")
    entry.family, entry.recipe, entry.deployed  # "binaryduo", "binaryduo", {"stage": "decoupled"}
    model = entry.builder(**entry.deployed)     # at entry.input_shape, entry.num_classes
    ```

    # Attributes
        name: The name `zoo.get_model` takes (the builder's).
        builder: The function that builds it (keyword arguments only).
        family: The module that defines it ("baselines", "recu", ...).
        recipe: The recipe it trains with by default (`zoo.recipes`).
        deployed: Builder options of its deployable form.
        input_shape, num_classes: What it is built with when not given.
    """

    name: str
    builder: Callable
    family: str
    recipe: str
    deployed: dict
    input_shape: tuple
    num_classes: int

    @property
    def pretrained(self) -> list[weights.WeightsEntry]:
        """Its registered pretrained weights (`zoo.weights.entries`): each with the options,
        data set and test accuracy it was trained with, and its file's SHA-256.

        ```python
        from zoo import registry

        [w.key for w in registry.entry("recu_vgg_small").pretrained]  # ["cifar10", ...]
        ```
        """
        return weights.entries(self.name)


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(*, recipe: str = "single",
                   deployed: dict | None = None) -> Callable[[Callable], Callable]:
    """Registers the decorated builder as a zoo model (see the module docstring).

    ```python
    import tensorflow as tf
    from zoo.registry import entry, register_model

    @register_model(recipe="single")
    def tiny_float(*, input_shape=(28, 28, 1), num_classes=10):
        inputs = tf.keras.Input(input_shape)
        x = tf.keras.layers.Flatten()(inputs)
        return tf.keras.Model(inputs, tf.keras.layers.Dense(num_classes)(x))

    entry("tiny_float").input_shape  # (28, 28, 1)
    ```

    # Arguments
        recipe: The recipe it trains with by default.
        deployed: Builder options of its deployable form (default: none).

    # Returns
        A decorator that registers the builder and returns it unchanged.

    # Raises
        TypeError: for a builder whose options are not keyword-only, or without defaults
            for `input_shape` and `num_classes`.
        ValueError: for a name registered twice.
    """

    def decorator(builder: Callable) -> Callable:
        parameters = inspect.signature(builder).parameters
        positional = [p.name for p in parameters.values() if p.kind != p.KEYWORD_ONLY]
        if positional or not {"input_shape", "num_classes"} <= set(parameters):
            raise TypeError(f"zoo builder {builder.__name__} must take keyword-only options, "
                            f"input_shape and num_classes among them (not: {positional}).")
        if builder.__name__ in _ENTRIES:
            raise ValueError(f"zoo model {builder.__name__!r} is registered twice.")
        _ENTRIES[builder.__name__] = ModelEntry(
            name=builder.__name__, builder=builder,
            family=builder.__module__.rsplit(".", 1)[-1], recipe=recipe,
            deployed=dict(deployed or {}),
            input_shape=parameters["input_shape"].default,
            num_classes=parameters["num_classes"].default)
        return builder

    return decorator


def entry(name: str) -> ModelEntry:
    """The registered model `name`.

    ```python
    from zoo import registry

    registry.entry("recu_small").input_shape  # (28, 28, 1)
    try:
        registry.entry("bogus")
    except ValueError as error:
        print(error)  # Unknown zoo model 'bogus'; known models: bnn_alexnet, ...
    ```

    # Raises
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _ENTRIES:
        raise ValueError(f"Unknown zoo model {name!r}; known models: {', '.join(names())}.")
    return _ENTRIES[name]


def names(*, family: str | None = None) -> list[str]:
    """The registered models' names, sorted; those of one `family` when given.

    ```python
    from zoo import registry

    registry.names(family="binaryduo")
    # ["binaryduo_alexnet", "binaryduo_resnet18", "binaryduo_vgg7", "binaryduo_vgg_small"]
    ```
    """
    return sorted(name for name, model in _ENTRIES.items()
                  if family is None or model.family == family)

"""Keras 3 models in: the `tf_keras` twin of a model built with `import keras`.

In TensorFlow >= 2.16, `import keras` is Keras 3, and that is what most float models are
written in now; larq and Larq Compute Engine need the Keras 2 API (`tf_keras`). Every
function of keras_bnn that takes a model (`binarize`, `float_twin`, `decouple`,
`export.convert`, `benchmark.compare_with_float`) first passes it through `to_tf_keras`,
which rebuilds a Keras 3 model layer for layer in `tf_keras`, with its weights, and returns
any other model unchanged.

```python
import keras_bnn
import keras  # Keras 3

float_model = keras.Sequential([
    keras.Input((32, 32, 3)),
    keras.layers.Conv2D(16, 3, name="conv1"), keras.layers.BatchNormalization(),
    keras.layers.Conv2D(32, 3, name="conv2"), keras.layers.BatchNormalization(),
    keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10),
])
binary = keras_bnn.binarize(float_model, "recu")  # a tf_keras model with binary convs
```
"""

import inspect
import sys
import types
from typing import Any

import numpy as np

from keras_bnn._keras import keras

__all__ = ["is_keras_3_model", "to_tf_keras"]

# Modules of Keras 3 whose serialized objects a layer's config may hold, and where their
# tf_keras classes of the same name are.
_OBJECT_MODULES = {
    "keras.initializers": keras.initializers,
    "keras.regularizers": keras.regularizers,
    "keras.constraints": keras.constraints,
}
_UNSET = (None, False, 0, (), [], {})


def _keras_3() -> types.ModuleType | None:
    """The Keras 3 package when it was imported (no Keras 3 model can exist otherwise)."""
    module = sys.modules.get("keras")
    version = getattr(module, "__version__", "")
    return module if version.startswith("3.") else None


def is_keras_3_model(model: Any) -> bool:
    """Whether `model` is a Keras 3 model (`import keras`), not a `tf_keras` one.

    ```python
    import keras  # Keras 3
    import tensorflow as tf
    from keras_bnn.keras3 import is_keras_3_model

    assert is_keras_3_model(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    assert not is_keras_3_model(tf.keras.Sequential([tf.keras.layers.Dense(2)]))  # tf_keras
    ```
    """
    keras_3 = _keras_3()
    return keras_3 is not None and isinstance(model, keras_3.Model)


def to_tf_keras(model: Any) -> keras.Model:
    """The `tf_keras` twin of a Keras 3 model, with its weights; any other model unchanged.

    Sequential models become `tf_keras.Sequential`, functional ones (nested and shared
    layers included) functional. Every layer becomes the `tf_keras` layer of the same class
    with the same options; the twin computes the same outputs.

    ```python
    import keras  # Keras 3
    import numpy as np
    from keras_bnn.keras3 import to_tf_keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    twin = to_tf_keras(model)  # a tf_keras.Model with the same weights
    images = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(twin(images), model(images), atol=1e-6)
    ```

    # Arguments
        model: A built Keras 3 model (TensorFlow backend), or a `tf_keras` model.

    # Returns
        A `tf_keras.Model`.

    # Raises
        ValueError: for a subclassed or unbuilt Keras 3 model, a layer or operation that has
            no `tf_keras` counterpart (named with its type), or an option of a layer that
            `tf_keras` does not have.
    """
    if not is_keras_3_model(model):
        return model
    keras_3 = _keras_3()
    if keras_3.backend.backend() != "tensorflow":
        raise ValueError(
            f"Keras 3 model {model.name!r} uses the {keras_3.backend.backend()!r} backend; "
            "keras_bnn takes Keras 3 models of the TensorFlow backend (KERAS_BACKEND=tensorflow)."
        )
    if isinstance(model, keras_3.Sequential):
        return _sequential_twin(model, keras_3)
    if not hasattr(model, "_operations") or not getattr(model, "inputs", None):
        raise ValueError(
            f"Keras 3 model {model.name!r} is a subclassed {type(model).__name__}: only "
            "Sequential and functional Keras 3 models can be rebuilt in tf_keras."
        )
    return _functional_twin(model, keras_3)


def _sequential_twin(model: Any, keras_3: types.ModuleType) -> keras.Sequential:
    if not model.built or not model.inputs:
        raise ValueError(
            f"Keras 3 Sequential model {model.name!r} has no defined input; start it with "
            "keras.Input(shape) (or build it) before passing it to keras_bnn."
        )
    twin = keras.Sequential(name=model.name)
    twin.add(_input_twin(model.inputs[0]))
    for layer in model.layers:
        twin.add(_layer_twin(layer, keras_3))
    for layer, layer_twin in zip(model.layers, twin.layers):
        _copy_weights(layer, layer_twin, keras_3)
    return twin


def _functional_twin(model: Any, keras_3: types.ModuleType) -> keras.Model:
    """Runs the Keras 3 graph on tf_keras inputs, each operation replaced by its twin
    (made once per layer, so shared layers stay shared)."""
    twins = {}

    def twin_call(operation: Any) -> Any:
        if id(operation) not in twins:
            twins[id(operation)] = _layer_twin(operation, keras_3)
        twin = twins[id(operation)]
        # Keras 3 passes `mask=None` and the like explicitly; tf_keras layers want them unset.
        return lambda *args, **kwargs: twin(
            *args, **{key: value for key, value in kwargs.items() if value is not None})

    inputs = [_input_twin(tensor) for tensor in model.inputs]
    outputs = model._run_through_graph(inputs, operation_fn=twin_call)
    twin = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)
    for operation in model._operations:
        if id(operation) in twins:
            _copy_weights(operation, twins[id(operation)], keras_3)
    return twin


def _input_twin(tensor: Any) -> Any:
    """A tf_keras `Input` of the shape, dtype and name of the Keras 3 input `tensor`."""
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype,
                       name=tensor._keras_history.operation.name)


def _layer_twin(operation: Any, keras_3: types.ModuleType) -> keras.layers.Layer:
    """The tf_keras layer of the same class and options as the Keras 3 `operation`."""
    if isinstance(operation, keras_3.Model):
        return to_tf_keras(operation)
    layer_class = getattr(keras.layers, type(operation).__name__, None)
    is_builtin = type(operation).__module__.startswith("keras.src.layers")
    if not isinstance(operation, keras_3.layers.Layer) or not is_builtin or layer_class is None:
        kind = "layer" if isinstance(operation, keras_3.layers.Layer) else "operation"
        raise ValueError(
            f"Keras 3 {kind} {operation.name!r} ({type(operation).__module__}."
            f"{type(operation).__name__}) has no tf_keras counterpart, so the model cannot "
            "be rebuilt for larq. Write it with built-in Keras layers (keras.layers.Add "
            "instead of `x + y` or keras.ops), or build the model with tf_keras."
        )
    accepted = _init_arguments(layer_class)
    options = {}
    for key, value in operation.get_config().items():
        if key in accepted:
            options[key] = _tf_keras_value(value, operation, key)
        elif value not in _UNSET:
            raise ValueError(
                f"Keras 3 layer {operation.name!r} ({type(operation).__name__}) sets "
                f"{key}={value!r}, an option that tf_keras's {layer_class.__name__} does not "
                "have; remove it (or build the model with tf_keras)."
            )
    return layer_class(**options)


def _init_arguments(cls: type) -> set[str]:
    """The named arguments of `cls.__init__` and of its base classes' (which `**kwargs`
    passes on to)."""
    return {name for klass in cls.__mro__ if "__init__" in vars(klass)
            for name in inspect.signature(klass.__init__).parameters}


def _tf_keras_value(value: Any, layer: Any, key: str) -> Any:
    """An option's value in tf_keras terms: dtype policies by name, initializers,
    regularizers and constraints as the tf_keras objects of the same class."""
    if not (isinstance(value, dict) and "class_name" in value and "config" in value):
        return value
    if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
        return value["config"]["name"]
    module = _OBJECT_MODULES.get(value.get("module"))
    object_class = getattr(module, value["class_name"], None) if module else None
    if object_class is None:
        raise ValueError(
            f"Keras 3 layer {layer.name!r} has {key}={value['class_name']!r}, which has no "
            "tf_keras counterpart; use a built-in one (or build the model with tf_keras)."
        )
    accepted = _init_arguments(object_class)
    config = {k: v for k, v in value["config"].items() if k in accepted or v not in _UNSET}
    return object_class(**config)


def _copy_weights(layer: Any, twin: keras.layers.Layer, keras_3: types.ModuleType) -> None:
    if isinstance(layer, keras_3.Model):
        return  # copied when its own twin was made
    weights = layer.get_weights()
    shapes = [w.shape for w in weights], [tuple(w.shape) for w in twin.weights]
    if [tuple(s) for s in shapes[0]] != shapes[1]:
        raise ValueError(
            f"Keras 3 layer {layer.name!r} ({type(layer).__name__}) has weights of shapes "
            f"{shapes[0]}, its tf_keras twin {shapes[1]}: this layer cannot be carried over."
        )
    twin.set_weights([np.asarray(w) for w in weights])

"""The model zoo: the papers' networks, built on keras_bnn.

Every model binarizes activations and weights in all convs but the first, keeps the first
conv and the classifier in full precision and outputs logits. Builders take
`input_quantizer`, `kernel_quantizer` and `kernel_constraint`, so that a method swaps the
quantizers of every binary conv at once.

```python
import keras_bnn  # sets up TensorFlow with Keras 2 first
import zoo

zoo.list_models()  # ['bnn_alexnet', 'bnn_resnet18', ...]
model = zoo.get_model("bnn_resnet20", num_classes=100, input_quantizer="ternary_sign")
model = zoo.get_model("bnn_vgg7", weights="runs/bnn_vgg7/model.weights.h5")
```
"""

import inspect
import os
import pathlib

from zoo import baselines, binaryduo, recu, resnets

MODELS = {
    "binaryduo_alexnet": binaryduo.binaryduo_alexnet,
    "binaryduo_resnet18": binaryduo.binaryduo_resnet18,
    "binaryduo_vgg7": binaryduo.binaryduo_vgg7,
    "binaryduo_vgg_small": binaryduo.binaryduo_vgg_small,
    "bnn_alexnet": baselines.bnn_alexnet,
    "bnn_resnet18": resnets.bnn_resnet18,
    "bnn_resnet20": resnets.bnn_resnet20,
    "bnn_small": baselines.bnn_small,
    "bnn_vgg7": baselines.bnn_vgg7,
    "bnn_vgg_small": baselines.bnn_vgg_small,
    "recu_resnet18": recu.recu_resnet18,
    "recu_resnet18_cifar": recu.recu_resnet18_cifar,
    "recu_resnet20": recu.recu_resnet20,
    "recu_resnet34": recu.recu_resnet34,
    "recu_vgg_small": recu.recu_vgg_small,
}

WEIGHTS_SUFFIXES = (".h5", ".keras")


def _builder_defaults(builder):
    """The builder's own defaults of `input_shape` and `num_classes`."""
    parameters = inspect.signature(builder).parameters
    return {key: parameters[key].default for key in ("input_shape", "num_classes")}


# Per model, the `input_shape` and `num_classes` it is built with when not given.
DEFAULTS = {name: _builder_defaults(builder) for name, builder in MODELS.items()}


def list_models():
    """The names of the zoo's models, sorted.

    # Returns
        A list of strings, each a valid `name` for `get_model`.
    """
    return sorted(MODELS)


def get_model(name, *, input_shape=None, num_classes=None, weights=None, **options):
    """Builds the zoo model `name`, optionally with weights from a local file.

    ```python
    model = zoo.get_model("bnn_vgg_small", input_shape=(28, 28, 1), width_multiplier=0.5)
    model.save_weights("vgg.weights.h5")
    same = zoo.get_model("bnn_vgg_small", input_shape=(28, 28, 1), width_multiplier=0.5,
                         weights="vgg.weights.h5")
    ```

    # Arguments
        name: One of `list_models()`.
        input_shape: Image shape, channels last; None for the model's default
            (`DEFAULTS[name]["input_shape"]`).
        num_classes: Number of classes; None for the model's default.
        weights: None (random initialization), or the path of a local weights file:
            `.h5` or `.weights.h5` from `model.save_weights`, or a `.keras` model file,
            written by the same model built with the same options.
        **options: Further arguments of the model's builder, e.g. `input_quantizer`,
            `kernel_quantizer`, `kernel_constraint`, and the model's own options.

    # Returns
        A `tf_keras.Model` that outputs logits.

    # Raises
        ValueError: for an unknown name (the message lists the known ones); for `weights`
            that are not None or a local `.h5`/`.keras` file (registry names and URLs are
            not supported yet); for a weights file that does not fit the built model.
        TypeError: for an option the builder does not take.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown zoo model {name!r}; known models: {', '.join(list_models())}.")
    defaults = DEFAULTS[name]
    model = MODELS[name](
        input_shape=defaults["input_shape"] if input_shape is None else tuple(input_shape),
        num_classes=defaults["num_classes"] if num_classes is None else num_classes,
        **options,
    )
    if weights is not None:
        _load_weights(model, name, weights)
    return model


def _load_weights(model, name, weights):
    """Loads a local weights file into `model`, with a message that says what went wrong."""
    path = pathlib.Path(weights) if isinstance(weights, (str, os.PathLike)) else None
    if path is None or not path.is_file() or path.suffix not in WEIGHTS_SUFFIXES:
        raise ValueError(
            f"weights={weights!r}: only None or the path of a local weights file "
            f"(.h5, .weights.h5 or .keras) are supported yet"
            + ("" if path is None or path.is_file() else "; there is no such file")
            + ". Pretrained weights by name or URL come later."
        )
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"The weights in {path} do not fit zoo model {name!r} as built "
            f"(input_shape={model.input_shape[1:]}, num_classes={model.output_shape[-1]}): "
            f"build it with the options the weights were saved with. ({error})"
        ) from error

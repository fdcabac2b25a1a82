"""The model zoo: the papers' networks, built on keras_bnn.

Every model binarizes activations and weights in all convs but the first, keeps the first
conv and the classifier in full precision and outputs logits. Builders take
`input_quantizer`, `kernel_quantizer` and `kernel_constraint`, so that a method swaps the
quantizers of every binary conv at once.

```python
import keras_bnn  # sets up TensorFlow with Keras 2 first
import zoo

zoo.list_models()  # ['binaryduo_alexnet', 'binaryduo_resnet18', ...]
model = zoo.get_model("bnn_resnet20", num_classes=100, input_quantizer="ternary_sign")
model = zoo.get_model("recu_vgg_small", weights="cifar10")  # registered (zoo.weights)
model.save_weights("vgg_small.weights.h5")
model = zoo.get_model("recu_vgg_small", width_multiplier=0.125,
                      weights="vgg_small.weights.h5")  # a local file
```

`python -m zoo list` prints every model's size and registered weights.
"""

import ast
import inspect
import os
import pathlib

import tf_keras as keras

from keras_bnn import downloads, quantizers
from zoo import baselines, binaryduo, real_to_binary, recu, registry, resnets  # noqa: F401
from zoo import weights as weights_lib
from zoo.blocks import CLASSIFIER

WEIGHTS_SUFFIXES = (".h5", ".keras")

# Every registered model's builder, and the `input_shape` and `num_classes` it is built
# with when not given (the registry's, see `zoo.registry`).
MODELS = {name: registry.entry(name).builder for name in registry.names()}
DEFAULTS = {name: {"input_shape": registry.entry(name).input_shape,
                   "num_classes": registry.entry(name).num_classes}
            for name in registry.names()}


def list_models() -> list[str]:
    """The names of the zoo's models, sorted.

    # Returns
        A list of strings, each a valid `name` for `get_model`.
    """
    return registry.names()


def deployed_options(name: str) -> dict:
    """The builder options of `name`'s deployable form (registered with it): BinaryDuo's
    networks decoupled (Larq Compute Engine cannot run their ternary activations), the
    others as they are.

    ```python
    import keras_bnn
    import zoo

    zoo.deployed_options("binaryduo_resnet18")  # {'stage': 'decoupled'}
    zoo.deployed_options("recu_resnet18")  # {}
    ```
    """
    return dict(registry.entry(name).deployed)


def parse_options(pairs: list[str]) -> dict:
    """Builder options from `name=value` texts (values are Python literals, else strings).

    ```python
    import keras_bnn
    import zoo

    zoo.parse_options(["width=45", "stem=cifar"])  # {'width': 45, 'stem': 'cifar'}
    ```

    # Raises
        ValueError: for a text that is not `name=value`.
    """
    options = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name.isidentifier():
            raise ValueError(f"{pair!r}: expected name=value, e.g. width=45.")
        try:
            options[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[name] = text
    return options


def get_model(name: str, *, input_shape: tuple[int, int, int] | None = None,
              num_classes: int | None = None, include_top: bool = True,
              weights: str | os.PathLike | None = None, weights_hash: str | None = None,
              **options: object) -> keras.Model:
    """Builds the zoo model `name`, optionally with trained weights.

    ```python
    import keras_bnn
    import zoo

    model = zoo.get_model("bnn_vgg_small", weights="fashion_mnist")  # registered weights
    features = zoo.get_model("recu_vgg_small", weights="cifar10", include_top=False)
    model.save("vgg_small.keras")
    model = zoo.get_model("bnn_vgg_small", input_shape=(28, 28, 1), width_multiplier=0.125,
                          weights="vgg_small.keras")  # a local file
    ```

    # Arguments
        name: One of `list_models()`.
        input_shape: Image shape, channels last; None for the model's default
            (`DEFAULTS[name]["input_shape"]`), or for registered weights the shape they were
            trained at. Registered weights load at other image sizes with the same number
            of channels wherever the layers' weights do not depend on the size (everything
            but the classifier of a network that flattens its last map).
        num_classes: Classes of the classifier; None for the model's default, or the
            registered weights' own. With a weights file, the classes it was saved with.
        include_top: False to leave out the classifier: the model then outputs the
            (pooled or flattened) features the classifier reads.
        weights: None (random initialization); a registry key of the model (see
            `zoo.weights.entries(name)`, e.g. "fashion_mnist"); the path of a local file
            (`.h5` or `.weights.h5` from `model.save_weights`, or a `.keras` model file)
            written by the same model built with the same options; or an http(s) URL of
            such a file, with `weights_hash`.
        weights_hash: SHA-256 of the file at a `weights` URL (required for URLs).
        **options: Further arguments of the model's builder, e.g. `input_quantizer`,
            `kernel_quantizer`, `kernel_constraint`, and the model's own options. With
            registered weights, their options are used and others may not contradict them.

    # Returns
        A `tf_keras.Model` that outputs logits (features when `include_top=False`).

    # Raises
        ValueError: for an unknown name (the message lists the known ones); for an option
            the builder does not take or a value it cannot (see `check_options`); for weights
            that are none of the above, or that do not fit the model as asked (the message
            says which argument to change).
        keras_bnn.downloads.DownloadError: when a URL cannot be fetched or verified.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown zoo model {name!r}; known models: {', '.join(list_models())}.")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights={weights!r}: expected None, a registry key, a file path or "
                         "a URL.")
    if weights is not None and not _is_file_or_url(weights):
        if weights_hash is not None:
            raise ValueError(f"weights_hash is for weights files and URLs; the registered "
                             f"{weights!r} weights are checked against their own hash.")
        return _registered(name, weights_lib.find(name, str(weights)), input_shape,
                           num_classes, include_top, options)
    model = _build(name, input_shape, num_classes, options)
    if weights is not None:
        _load_weights(model, name, _weights_path(weights, weights_hash))
    return model if include_top else _without_top(model)


def check_options(name: str, options: dict) -> None:
    """Checks builder options of the zoo model `name` before anything is built.

    ```python
    import keras_bnn
    import zoo

    zoo.check_options("bnn_vgg_small", {"width_multiplier": 0.5})  # fine
    try:
        zoo.check_options("bnn_vgg_small", {"width_multiplier": "abc"})
    except ValueError as error:
        print(error)  # option width_multiplier='abc' of zoo model 'bnn_vgg_small' must be...
    ```

    # Raises
        ValueError: for an option the builder does not take (the message lists those it
            does), a value of another kind than the option's default (a text for a number),
            or an unknown quantizer name.
    """
    parameters = inspect.signature(MODELS[name]).parameters
    own = [key for key in parameters if key not in ("input_shape", "num_classes")]
    for key, value in options.items():
        if key not in own:
            raise ValueError(f"zoo model {name!r} has no option {key!r}; its options are "
                             f"{', '.join(own)}.")
        default = parameters[key].default
        if key.endswith("_quantizer"):
            quantizers.check_quantizer(value, key)
        elif not _same_kind(value, default):
            raise ValueError(f"option {key}={value!r} of zoo model {name!r} must be "
                             f"{_KINDS[type(default)]}, like its default {default!r}.")


_KINDS = {bool: "True or False", int: "a number", float: "a number",
          tuple: "a tuple, e.g. (4, 8)"}


def _same_kind(value: object, default: object) -> bool:
    """Whether `value` can stand where the builder's `default` does: None always, a number
    for a number, a tuple or list for a tuple (other defaults take any value)."""
    if value is None or type(default) not in _KINDS:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, (tuple, list))


def _build(name: str, input_shape: tuple | None, num_classes: int | None,
           options: dict) -> keras.Model:
    check_options(name, options)
    defaults = DEFAULTS[name]
    return MODELS[name](
        input_shape=defaults["input_shape"] if input_shape is None else tuple(input_shape),
        num_classes=defaults["num_classes"] if num_classes is None else num_classes,
        **options,
    )


def _is_file_or_url(weights: str | os.PathLike) -> bool:
    return weights_lib.is_url(weights) or pathlib.Path(weights).suffix in WEIGHTS_SUFFIXES


def _weights_path(weights: str | os.PathLike, weights_hash: str | None) -> pathlib.Path:
    """The local path of a weights file or URL (downloaded and verified)."""
    if weights_lib.is_url(weights):
        if weights_hash is None:
            raise ValueError(f"weights={weights!r} is a URL: pass weights_hash= (its SHA-256) "
                             "so that the download can be verified.")
        return downloads.fetch(str(weights), weights_hash)
    path = pathlib.Path(weights)
    if not path.is_file():
        raise ValueError(f"weights={weights!r}: there is no such file.")
    if weights_hash is not None and downloads.file_sha256(path) != str(weights_hash).lower():
        raise ValueError(f"weights={weights!r} does not have the SHA-256 {weights_hash}.")
    return path


def _registered(name: str, entry: weights_lib.WeightsEntry, input_shape: tuple | None,
                num_classes: int | None, include_top: bool, options: dict) -> keras.Model:
    """Builds `name` with the registered weights `entry`, as the arguments ask."""
    clashes = {key: value for key, value in options.items()
               if key in entry.options and entry.options[key] != value}
    if clashes:
        raise ValueError(f"The {entry.key!r} weights of {name!r} were trained with "
                         f"{entry.options}; {clashes} contradicts that.")
    if num_classes not in (None, entry.num_classes):
        raise ValueError(
            f"The {entry.key!r} weights of {name!r} have a {entry.num_classes}-class "
            f"classifier, not {num_classes}: leave num_classes out, or pass "
            "include_top=False and put your own classifier on the features."
        )
    shape = entry.input_shape if input_shape is None else tuple(input_shape)
    if shape[-1] != entry.input_shape[-1]:
        raise ValueError(f"The {entry.key!r} weights of {name!r} take {entry.input_shape[-1]}-"
                         f"channel images, not {shape[-1]}: input_shape={shape} cannot load them.")
    options = {**entry.options, **options}
    trained = _build(name, entry.input_shape, entry.num_classes, options)
    _load_weights(trained, name, weights_lib.weights_file(entry))
    if shape == entry.input_shape:
        return trained if include_top else _without_top(trained)
    model = _build(name, shape, entry.num_classes, options)
    for source, target in zip(trained.layers, model.layers):
        if include_top or source.name != CLASSIFIER:
            try:
                target.set_weights(source.get_weights())
            except ValueError as error:
                raise ValueError(
                    f"The {entry.key!r} weights of {name!r} (trained at {entry.input_shape}) "
                    f"do not fit layer {target.name!r} at input_shape={shape}: the classifier "
                    "reads the flattened last map, whose size depends on the image size. "
                    "Use the trained input shape, or include_top=False."
                ) from error
    return model if include_top else _without_top(model)


def _without_top(model: keras.Model) -> keras.Model:
    """`model` without its classifier: it outputs what the classifier reads."""
    classifier = model.get_layer(CLASSIFIER)
    return keras.Model(model.inputs, classifier.input, name=f"{model.name}_features")


def _load_weights(model: keras.Model, name: str, path: pathlib.Path) -> None:
    """Loads a local weights file into `model`, with a message that says what went wrong."""
    if path.suffix not in WEIGHTS_SUFFIXES:
        raise ValueError(f"weights={str(path)!r}: a weights file ends in .h5, .weights.h5 or "
                         ".keras.")
    try:
        model.load_weights(path)
    except OSError as error:  # h5py: not an HDF5 file, or a truncated one
        cached = path.parent == downloads.cache_dir()
        if cached:
            path.unlink()
        raise ValueError(
            f"{path} is not a readable weights file, it is truncated or corrupt ({error})."
            + (" It was removed from the cache; if the server keeps sending it, its "
               "registered hash is that of a broken file." if cached else "")
        ) from None
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"The weights in {path} do not fit zoo model {name!r} as built "
            f"(input_shape={model.input_shape[1:]}, num_classes={model.output_shape[-1]}): "
            f"build it with the options the weights were saved with. ({error})"
        ) from error

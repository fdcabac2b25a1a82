"""Checking that a Larq Compute Engine program computes what its Keras model computes, at
every binary conv, where a wrong conversion cannot hide.

A check of the final outputs alone can pass a wrong program: in a barely trained network
the outputs hardly depend on the input, so a converter that moved the input map of the
first binary conv of a binarized ResNet50 by a pixel changed its outputs by 3 % only
(`keras_bnn.converter_fixes` has that fault). And it cannot be tight: a value within
rounding of 0 that binarizes to the other sign in LCE (its full-precision layers round
differently) changes a few numbers next to it, and in a deep network those changes grow
from layer to layer.

`check_binary_convs` therefore cuts the model at every tensor a binary conv reads (before
its input quantizer binarizes it) or writes. A twin of the model that outputs those
tensors too (`probe_twin`) is converted and run by LCE; then Keras computes each tensor
again, from LCE's values of the tensors just before it (`cut_model`). Each comparison is
local: a right conversion agrees to float rounding everywhere (a flipped sign cannot
spread past the next cut), a shifted or otherwise wrong map differs at its own cut by
about as much as its size.

```python
import keras_bnn
import numpy as np
import zoo
from keras_bnn.verification import check_binary_convs

model = zoo.get_model("bnn_small", width=16)
images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
check = check_binary_convs(model, images[:4], {"conv2", "conv3"})
print(check.local[0])  # conv2 input: mean relative difference 8.7e-08, ...
```
"""

import dataclasses
from collections.abc import Iterable

import numpy as np

from keras_bnn._keras import keras, tf
from keras_bnn.graphs import as_functional, entry_sources, rebuild, source_tensor
from keras_bnn.lce import lce_flatbuffer, run

__all__ = ["CHECKED_SAMPLES", "LOCAL_TOLERANCE", "Comparison", "ConvCheck",
           "VerificationError", "check_binary_convs", "compare", "cut_model", "keras_outputs",
           "probe_twin"]

# Largest accepted mean|LCE - Keras| / mean|Keras| of a tensor that Keras computes from
# LCE's own values of the tensors before it. A right conversion gives float rounding
# (below 1e-6; exactly 0 at the binary convs' outputs, which count bits); a flip of one
# value at 0 among 65,536 read by a 64-filter conv, about 2e-4; an input map moved by a
# pixel, 0.46 (binarized ResNet50 at 64x64, random inputs; `tests/test_verification.py`).
LOCAL_TOLERANCE = 0.01

# Mean relative differences up to this are float rounding (a right conversion gives below
# 1e-6); one flipped sign among the values a conv reads gives more (about 2e-4, above).
ROUNDING = 1e-5

# How many sample inputs `check_binary_convs` runs: every cut tensor holds thousands of
# values per sample, plenty to see a wrong map.
CHECKED_SAMPLES = 8


class VerificationError(ValueError):
    """An LCE program that computes something else than its Keras model.

    # Attributes
        comparison: The `Comparison` of the first tensor that differs.
    """

    def __init__(self, message: str, comparison: "Comparison") -> None:
        super().__init__(message)
        self.comparison = comparison


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How one tensor of an LCE program compares with the Keras model's.

    # Attributes
        name: What the tensor is (`"output 0"`, `"conv2d_1 input"`).
        mean_rel_diff: mean|LCE - Keras| / mean|Keras| over the sample inputs.
        max_abs_diff: max|LCE - Keras|.
        max_rel_diff: `max_abs_diff` / max|Keras|.
    """

    name: str
    mean_rel_diff: float
    max_abs_diff: float
    max_rel_diff: float

    def __str__(self) -> str:
        return (f"{self.name}: mean relative difference {self.mean_rel_diff:.3g}, max abs "
                f"difference {self.max_abs_diff:.3g} (relative {self.max_rel_diff:.3g})")


def compare(name: str, expected: np.ndarray, got: np.ndarray) -> Comparison:
    """The `Comparison` of the LCE tensor `got` with the Keras tensor `expected`.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn import lce
    from keras_bnn.verification import compare

    model = zoo.get_model("bnn_small", width=16)
    flatbuffer = lce.lce_flatbuffer(model)
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    compare("output 0", model.predict(x, verbose=0), lce.run(flatbuffer, x)[0]).mean_rel_diff
    # about 1e-7: float rounding
    ```
    """
    difference, scale = np.abs(got - expected), np.abs(expected)
    max_abs_diff = float(difference.max())
    return Comparison(name, float(difference.mean()) / max(float(scale.mean()), 1e-12),
                      max_abs_diff, max_abs_diff / max(float(scale.max()), 1e-12))


@dataclasses.dataclass(frozen=True)
class ConvCheck:
    """What `check_binary_convs` found.

    # Attributes
        local: For each cut tensor, then each model output, Keras computing it from LCE's
            values at the cuts just before it, against LCE.
        end_to_end: The same tensors, Keras computing the whole model, against LCE:
            where a flip at 0 starts to spread shows here.
    """

    local: list[Comparison]
    end_to_end: list[Comparison]

    def largest_local(self) -> Comparison:
        """The `local` comparison with the largest mean relative difference."""
        return max(self.local, key=lambda comparison: comparison.mean_rel_diff)

    def first_difference(self, threshold: float = ROUNDING) -> Comparison | None:
        """The first `end_to_end` comparison above `threshold` (default: more than float
        rounding), or None."""
        return next((c for c in self.end_to_end if c.mean_rel_diff > threshold), None)


def _cuts(config, binary_convs):
    """The sources (`(layer, node, tensor)`) that binary convs of `config` read and write,
    in the order the config lists its layers, with a name for each; model inputs left out."""
    inputs = {name for name, _, _ in config["input_layers"]}
    cuts = {}
    for entry in config["layers"]:
        if entry["name"] not in binary_convs:
            continue
        calls = len(entry["inbound_nodes"])
        for node, sources in enumerate(entry["inbound_nodes"]):
            call = f" (call {node})" if calls > 1 else ""
            source = tuple(next(entry_sources({"inbound_nodes": [sources]}))[:3])
            if source[0] not in inputs:
                cuts.setdefault(source, f"{entry['name']} input{call}")
            cuts.setdefault((entry["name"], node, 0), f"{entry['name']} output{call}")
    return list(cuts), list(cuts.values())


def probe_twin(model: keras.Model,
               binary_convs: Iterable[str]) -> tuple[keras.Model, list[str]]:
    """A model computing what `model` does, with the tensors read and written by the
    named binary convs as extra outputs after its own; and their names.

    ```python
    import keras_bnn
    import zoo
    from keras_bnn.verification import probe_twin

    model = zoo.get_model("bnn_small")
    twin, names = probe_twin(model, {"conv2"})
    names  # ['conv2 input', 'conv2 output']
    len(twin.outputs)  # 3: the model's logits, then those two tensors
    ```

    # Arguments
        model: A functional or Sequential `tf_keras` model.
        binary_convs: Names of its binary convs. Convs of nested models cannot be cut
            (their tensors live in the nested model's graph); the nested model's output
            is checked where the model reads it.

    # Returns
        `(twin, names)`; the twin is made of `model`'s own layers (nothing is copied).

    # Raises
        ValueError: for a subclassed model.
    """
    functional = as_functional(model, "probe_twin()")
    sources, names = _cuts(functional.get_config(), binary_convs)
    cut_tensors = [source_tensor(functional, source) for source in sources]
    return keras.Model(functional.inputs, [*functional.outputs, *cut_tensors]), names


def cut_model(model: keras.Model, binary_convs: Iterable[str],
              shapes: Iterable[tuple[int, ...]]) -> keras.Model:
    """A model that computes each tensor of `probe_twin(model, binary_convs)` from the
    tensors cut before it, given as inputs.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.lce import lce_flatbuffer, run
    from keras_bnn.verification import cut_model, probe_twin

    model = zoo.get_model("bnn_small", width=16)
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    twin, names = probe_twin(model, {"conv2"})
    lce_values_at_the_cuts = run(lce_flatbuffer(twin), images)[1:]  # conv2's input, output
    cut = cut_model(model, {"conv2"}, [(28, 28, 8), (28, 28, 16)])
    local = cut.predict([images, *lce_values_at_the_cuts], verbose=0)
    # Keras's logits and conv2's input and output, each from LCE's values before it
    ```

    # Arguments
        model: A functional or Sequential `tf_keras` model.
        binary_convs: As for `probe_twin`.
        shapes: The shape (without batch size) of each cut tensor, in `probe_twin`'s order.

    # Returns
        A model with `model`'s weights, inputs `[*model inputs, *cut tensors]` and outputs
            `[*model outputs, *cut tensors]`, where every reader of a cut tensor reads its
            input instead.
    """
    functional = as_functional(model, "cut_model()")
    config = functional.get_config()
    sources, _ = _cuts(config, binary_convs)
    cut_inputs = {}
    for index, (source, shape) in enumerate(zip(sources, shapes)):
        name = f"cut_{index}_{source[0]}"
        cut_inputs[source] = name
        config["layers"].insert(0, {
            "class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"batch_input_shape": (None, *shape), "dtype": "float32",
                       "sparse": False, "ragged": False, "name": name}})
    readers = [source for entry in config["layers"] for source in entry_sources(entry)]
    for source in readers + config["output_layers"]:
        if tuple(source[:3]) in cut_inputs:
            source[:3] = [cut_inputs[tuple(source[:3])], 0, 0]
    config["input_layers"] += [[name, 0, 0] for name in cut_inputs.values()]
    config["output_layers"] += [list(source) for source in sources]
    return rebuild(config, weights_from=functional)


def keras_outputs(model: keras.Model, inputs: list[np.ndarray],
                  batch_size: int = 64) -> list[np.ndarray]:
    """The outputs of `model` (inference mode) on a list of NumPy batches, as a list.

    Direct calls, `batch_size` samples at a time: `predict` would first trace the model,
    which takes longer than running it on the few samples of a check.

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.verification import keras_outputs

    model = zoo.get_model("bnn_small")
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    logits, = keras_outputs(model, [images])  # a NumPy array, (4, 10)
    ```
    """
    batches = []
    for start in range(0, len(inputs[0]), batch_size):
        batch = [value[start:start + batch_size] for value in inputs]
        outputs = model(batch if len(batch) > 1 else batch[0], training=False)
        batches.append([np.asarray(output) for output in tf.nest.flatten(outputs)])
    return [np.concatenate(parts) for parts in zip(*batches)]


def check_binary_convs(model: keras.Model, inputs: np.ndarray | list[np.ndarray],
                       binary_convs: Iterable[str], tolerance: float = LOCAL_TOLERANCE,
                       kernel: str | None = None) -> ConvCheck:
    """Converts `probe_twin(model)` with LCE, runs it on `inputs`, and compares every cut
    tensor, and the outputs, with Keras computing them from LCE's values at the cuts
    before them (see the module docstring).

    ```python
    import keras_bnn
    import numpy as np
    import zoo
    from keras_bnn.verification import check_binary_convs

    model = zoo.get_model("bnn_small", width=16)
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    check = check_binary_convs(model, images, {"conv2"})
    check.first_difference()  # None where LCE matches Keras end to end
    ```

    # Arguments
        model: A functional or Sequential `tf_keras` model.
        inputs: A NumPy batch (or a list of them, for several inputs); the first
            `CHECKED_SAMPLES` are run.
        binary_convs: Names of its binary convs (see `probe_twin`).
        tolerance: The largest accepted local `Comparison.mean_rel_diff`.
        kernel: What runs the program (`keras_bnn.lce.lce_interpreter`); None for the
            default, keras_bnn's runtime.

    # Returns
        A `ConvCheck`.

    # Raises
        VerificationError: naming the first tensor, in the order the model computes them,
            whose local difference is above `tolerance`.
        ValueError: for a subclassed model.
    """
    inputs = [value[:CHECKED_SAMPLES] for value in tf.nest.flatten(inputs)]
    twin, names = probe_twin(model, binary_convs)
    outputs = len(twin.outputs) - len(names)
    lce_values = run(lce_flatbuffer(twin), inputs if len(inputs) > 1 else inputs[0], kernel)
    cuts = lce_values[outputs:]
    cut = cut_model(model, binary_convs, [value.shape[1:] for value in cuts])
    keras_values, local_values = keras_outputs(twin, inputs), keras_outputs(cut, inputs + cuts)
    labels = [*names, *(f"output {index}" for index in range(outputs))]
    ordered = [*range(outputs, len(labels)), *range(outputs)]  # cuts first, as computed
    local = [compare(label, local_values[index], lce_values[index])
             for label, index in zip(labels, ordered)]
    for comparison in local:
        if not comparison.mean_rel_diff <= tolerance:
            raise VerificationError(
                f"The converted {model.name!r} computes {comparison.name} differently from "
                f"the Keras model given the same values before it: {comparison} (tolerance "
                f"{tolerance:g}); the conversion is wrong there.", comparison
            )
    end_to_end = [compare(label, keras_values[index], lce_values[index])
                  for label, index in zip(labels, ordered)]
    return ConvCheck(local, end_to_end)

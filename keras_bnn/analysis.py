"""How wrong is a straight-through estimator? BinaryDuo's gradient-mismatch measurement.

Training follows the STE gradient of the loss. The network that is deployed computes with
discrete values, and its loss is piecewise constant in the weights; what it "should" follow
is the gradient of that loss smoothed over a small neighbourhood. BinaryDuo (Kim et al.,
ICLR 2020, section 3) estimates the latter per layer and reports its cosine similarity with
the STE gradient: the closer to 1, the less the STE misleads training.

- `"cdg"`, the coordinate discrete gradient: for sampled coordinates i of a layer's kernel,
  the central difference `(L(w + eps e_i) - L(w - eps e_i)) / (2 eps)`.
- `"esg"`, evolution strategies (Gaussian smoothing, the paper's appendix): the average of
  `(L(w + eps u) - L(w - eps u)) / (2 eps) * u` over samples `u ~ N(0, I)` of the whole
  kernel, drawn orthogonal to each other in blocks (less noise for the same count).

The loss is evaluated in inference mode (BatchNorm with its moving statistics), and the
STE gradient is taken in the same mode, on the same batch.

```python
import keras_bnn
import numpy as np
import zoo

model = zoo.get_model("bnn_small", kernel_quantizer=None, kernel_constraint=None)
images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
labels = np.arange(8) % 10
result = keras_bnn.analysis.gradient_mismatch(model, images, labels, eps=0.02, num_coords=8)
print(result.markdown())
result.plot("mismatch.png")
```

References:
- Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by Coupling
  Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020, Section 3 and
  Appendix.
"""

import dataclasses
import math
import os
from collections.abc import Callable, Iterator

import numpy as np

from keras_bnn._keras import keras, tf
from keras_bnn.graphs import all_layers, is_quantized_layer

__all__ = ["ESTIMATORS", "GradientMismatch", "MismatchRow", "gradient_mismatch"]

ESTIMATORS = ("cdg", "esg")


@dataclasses.dataclass(frozen=True)
class MismatchRow:
    """One layer's measurement.

    ```python
    from keras_bnn.analysis import MismatchRow

    row = MismatchRow(layer="conv2", estimator="cdg", cosine=0.61, count=64, eps=0.01)
    ```

    # Attributes
        layer: Layer name.
        estimator: "cdg" or "esg".
        cosine: Cosine similarity of the STE gradient and the estimate (NaN when the
            estimate is zero: no perturbation changed the loss; raise `eps`).
        count: Coordinates ("cdg") or samples ("esg") used.
        eps: Perturbation size.
    """

    layer: str
    estimator: str
    cosine: float
    count: int
    eps: float


@dataclasses.dataclass
class GradientMismatch:
    """The rows of `gradient_mismatch`, as a table or a bar chart.

    ```python
    from keras_bnn.analysis import GradientMismatch, MismatchRow

    result = GradientMismatch([MismatchRow("conv2", "cdg", 0.61, 64, 0.01),
                               MismatchRow("conv3", "cdg", 0.74, 64, 0.01)])
    print(result.markdown())  # | conv2 | cdg | 0.610 | 64 | 0.01 |, ...
    result.plot("mismatch.png")
    ```

    # Attributes
        rows: One `MismatchRow` per measured layer.
    """

    rows: list[MismatchRow]

    def markdown(self) -> str:
        """The rows as a Markdown table: layer, estimator, cosine similarity,
        coordinates or samples, and eps."""
        lines = ["| layer | estimator | cosine similarity | coordinates/samples | eps |",
                 "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.layer} | {r.estimator} | {r.cosine:.3f} | {r.count} | {r.eps:g} |"
                  for r in self.rows]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike, title: str = "Gradient mismatch") -> None:
        """Writes a PNG bar chart of the cosine similarity per layer to `path`."""
        from keras_bnn.plots import plot_bars

        plot_bars([r.layer for r in self.rows], [r.cosine for r in self.rows], path,
                  ylabel="cosine(STE gradient, estimate)", title=title)


def _check(estimator: str, eps: float, num_coords: int, num_samples: int) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r}: use one of {', '.join(ESTIMATORS)}.")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps={eps!r}: the perturbation size must be a finite number > 0, "
                         "comparable to the weights' scale (e.g. 0.01).")
    for name, value in (("num_coords", num_coords), ("num_samples", num_samples)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r}: must be an integer >= 1.")


def _select_layers(model: keras.Model, names: list[str] | None) -> list[keras.layers.Layer]:
    """The layers to measure: those named, or every quantized layer with a kernel."""
    with_kernel = {layer.name: layer for layer in all_layers(model)
                   if isinstance(getattr(layer, "kernel", None), tf.Variable)}
    if names is None:
        selected = [layer for layer in with_kernel.values() if is_quantized_layer(layer)]
        if not selected:
            raise ValueError(f"Model {model.name!r} has no quantized layer with a kernel: "
                             "pass layers=[names] to choose layers.")
        return selected
    unknown = [name for name in names if name not in with_kernel]
    if unknown:
        raise ValueError(f"layers={list(names)}: no layer with a kernel is called "
                         f"{', '.join(map(repr, unknown))}; these are: {', '.join(with_kernel)}.")
    return [with_kernel[name] for name in names]


def _orthogonal_gaussian(rng: np.random.Generator, count: int, size: int,
                         block: int = 1024) -> Iterator[np.ndarray]:
    """`count` samples of N(0, I_size), orthogonal within blocks of up to min(size, block).

    Each sample is marginally Gaussian (a random direction with a chi-distributed norm), so
    their average estimates the Gaussian-smoothed gradient as i.i.d. samples do, with far
    less variance: orthogonal directions do not repeat each other (Choromanski et al.,
    "Structured Evolution with Compact Architectures for Scalable Policy Optimization",
    ICML 2018, https://arxiv.org/abs/1804.02395).
    """
    while count > 0:
        width = min(count, size, block)
        directions, _ = np.linalg.qr(rng.standard_normal((size, width)))
        norms = np.linalg.norm(rng.standard_normal((width, size)), axis=1)
        yield from (directions * norms).T
        count -= width


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else float("nan")


def gradient_mismatch(model: keras.Model, x: np.ndarray | tf.Tensor, y: np.ndarray | tf.Tensor,
                      *, estimator: str = "cdg", eps: float = 0.01, num_coords: int = 64,
                      num_samples: int = 64, layers: list[str] | None = None,
                      loss: keras.losses.Loss | Callable | None = None,
                      seed: int = 0) -> GradientMismatch:
    """Cosine similarity between the STE gradient and the discrete network's, per layer.

    ```python
    import numpy as np
    import zoo
    from keras_bnn.analysis import gradient_mismatch

    model = zoo.get_model("bnn_small", kernel_quantizer=None, kernel_constraint=None)
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    labels = np.arange(8) % 10
    cdg = gradient_mismatch(model, images, labels, layers=["conv2"], eps=0.02, num_coords=8)
    esg = gradient_mismatch(model, images, labels, layers=["conv2"], estimator="esg",
                            eps=0.02, num_samples=4)
    cdg.rows[0].cosine, esg.rows[0].cosine  # each in [-1, 1]
    ```

    # Arguments
        model: A Keras model (quantizers as larq layers, or none at all).
        x: A batch of inputs.
        y: Their targets (the loss is its mean over the batch).
        estimator: "cdg" (coordinate discrete gradient) or "esg" (evolution strategies).
        eps: Perturbation size, comparable to the weights' scale.
        num_coords: Kernel coordinates per layer for "cdg" (all when the kernel has fewer).
        num_samples: Gaussian samples per layer for "esg".
        layers: Names of the layers to measure; None for every quantized layer with a
            kernel.
        loss: A Keras loss; default sparse categorical cross-entropy on logits.
        seed: Seeds the sampled coordinates or directions (same seed, same result).

    # Returns
        A `GradientMismatch` with one `MismatchRow` per layer. The model's weights are left
        as they were.

    # Raises
        ValueError: for an unknown estimator, `eps <= 0`, counts below 1, or layers that
            do not exist or have no kernel.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020, Section 3.
    """
    _check(estimator, eps, num_coords, num_samples)
    selected = _select_layers(model, layers)
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    forward = tf.function(lambda: loss(y, model(x, training=False)))
    rng = np.random.default_rng(seed)
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=False))
    gradients = tape.gradient(value, [layer.kernel for layer in selected])
    rows = []
    for layer, gradient in zip(selected, gradients):
        kernel, ste = layer.kernel, gradient.numpy().ravel()
        original = kernel.numpy()

        def loss_at(direction: np.ndarray) -> float:
            kernel.assign(original + direction.reshape(original.shape))
            return float(forward())

        try:
            if estimator == "cdg":
                count = min(num_coords, ste.size)
                coordinates = rng.choice(ste.size, size=count, replace=False)
                estimate = np.empty(count)
                for n, i in enumerate(coordinates):
                    step = np.zeros(ste.size, dtype=original.dtype)
                    step[i] = eps
                    estimate[n] = (loss_at(step) - loss_at(-step)) / (2 * eps)
                cosine = _cosine(ste[coordinates], estimate)
            else:
                count = num_samples
                estimate = np.zeros(ste.size)
                for u in _orthogonal_gaussian(rng, count, ste.size):
                    u = u.astype(original.dtype)
                    estimate += (loss_at(eps * u) - loss_at(-eps * u)) / (2 * eps) * u
                cosine = _cosine(ste, estimate / count)
        finally:
            kernel.assign(original)
        rows.append(MismatchRow(layer.name, estimator, cosine, count, float(eps)))
    return GradientMismatch(rows)

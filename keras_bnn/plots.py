"""PNG figures of a run: training curves, and ReCU's latent-weight distributions.

```python
import tensorflow as tf
from keras_bnn.layers import ReCUConv2D
from keras_bnn.plots import plot_bars, plot_history, plot_latent_weights

history = [{"loss": 1.2, "accuracy": 0.6}, {"loss": 0.8, "accuracy": 0.7}]
plot_history(history, "training_curves.png", title="bnn_small on fashion_mnist")
inputs = tf.keras.Input((8, 8, 16))
model = tf.keras.Model(inputs, ReCUConv2D(16, 3, padding="same", pad_values=1.0)(inputs))
plot_latent_weights(model, "latent_weights.png")
plot_bars(["conv2", "conv3"], [0.61, 0.74], "mismatch.png", ylabel="cosine")
```
"""

import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from keras_bnn._keras import keras  # noqa: E402
from keras_bnn.layers import recu_layers  # noqa: E402
from keras_bnn.quantizers import recu_threshold, standardize_kernel  # noqa: E402

__all__ = ["plot_bars", "plot_history", "plot_latent_weights"]


def plot_history(history: Sequence[dict], path: str | os.PathLike, title: str = "") -> None:
    """Plots the per-epoch logs of `fit` (`loss`, `accuracy`, `val_loss`, `val_accuracy`).

    ```python
    from keras_bnn.plots import plot_history

    history = [{"loss": 1.2, "accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.65},
               {"loss": 0.8, "accuracy": 0.7, "val_loss": 0.9, "val_accuracy": 0.70}]
    stage_2 = [{**logs, "stage": "decoupled"} for logs in history]
    plot_history([*history, *stage_2], "curves.png", title="two stages")
    ```

    # Arguments
        history: A list of per-epoch log dicts (as `keras_bnn.training.fit_resumable`
            returns), in epoch order; stages of a multi-stage run may be concatenated,
            each log may carry a `"stage"` name, drawn as a vertical boundary.
        path: Where the PNG goes.
        title: Figure title.
    """
    epochs = range(1, len(history) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "test")):
            values = [logs.get(prefix + metric) for logs in history]
            if any(value is not None for value in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=label)
        for index in range(1, len(history)):
            if history[index].get("stage") != history[index - 1].get("stage"):
                axis.axvline(index + 0.5, color="grey", linestyle="--", linewidth=1)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_latent_weights(model: keras.Model, path: str | os.PathLike, columns: int = 4) -> None:
    """Histograms of every ReCU layer's standardized latent weights, the clamp ±Q(τ) marked.

    The figure of the ReCU paper: weights beyond the clamp get no gradient ("dead"); the
    title of each panel gives τ and the share of them.

    ```python
    import zoo
    from keras_bnn.plots import plot_latent_weights

    plot_latent_weights(zoo.get_model("recu_small"), "latent_weights.png")  # 5 panels
    ```

    # Arguments
        model: A model with ReCU-quantized layers (`ReCUConv2D`), nested ones included.
        path: Where the PNG goes.
        columns: Panels per row.

    # Raises
        ValueError: when the model has no ReCU layer.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    layers = recu_layers(model)
    if not layers:
        raise ValueError(f"Model {model.name!r} has no ReCU layer to plot.")
    rows = math.ceil(len(layers) / columns)
    figure, axes = plt.subplots(rows, min(columns, len(layers)), squeeze=False,
                                figsize=(3.2 * min(columns, len(layers)), 2.6 * rows),
                                constrained_layout=True)
    for axis, layer in zip(axes.flat, layers):
        quantizer = layer.kernel_quantizer
        latent = getattr(layer.kernel, "latent_variable", layer.kernel)
        weights = standardize_kernel(latent, quantizer.center, quantizer.b_star)
        clamp = float(recu_threshold(weights, quantizer.tau))
        weights = weights.numpy().ravel()
        axis.hist(weights, bins=80, color="tab:blue", alpha=0.8)
        for sign in (-1, 1):
            axis.axvline(sign * clamp, color="tab:red", linestyle="--", linewidth=1)
        dead = (abs(weights) > clamp).mean()
        axis.set_title(f"{layer.name}\ntau={quantizer.tau:.3f}, dead {dead:.1%}", fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(layers):]:
        axis.axis("off")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_bars(labels: Sequence[str], values: Sequence[float] | dict[str, Sequence[float]],
              path: str | os.PathLike, *, ylabel: str = "", title: str = "",
              groups: Sequence[str] | None = None) -> None:
    """A bar chart: one bar per label, or per label and group side by side.

    ```python
    from keras_bnn.plots import plot_bars

    plot_bars(["conv2", "conv3"], [0.61, 0.74], "mismatch.png", ylabel="cosine")
    plot_bars(["conv2", "conv3"], {"cdg": [0.61, 0.74], "esg": [0.58, 0.70]}, "both.png",
              groups=["cdg", "esg"])
    ```

    # Arguments
        labels: Bar (or bar group) names along the x axis.
        values: One value per label; with `groups`, a dict `{group: values}`.
        path: Where the PNG goes.
        ylabel: Axis label and figure title.
        title: Axis label and figure title.
        groups: None, or the group names in `values` in legend order.
    """
    series = {"": values} if groups is None else {group: values[group] for group in groups}
    width = 0.8 / len(series)
    figure, axis = plt.subplots(figsize=(max(4, 0.9 * len(labels) * len(series)), 3.5),
                                constrained_layout=True)
    for n, (group, group_values) in enumerate(series.items()):
        positions = [i + (n - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axis.bar(positions, group_values, width, label=group or None)
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    if groups is not None:
        axis.legend(fontsize="small")
    figure.savefig(path, dpi=100)
    plt.close(figure)

"""Training curves as a PNG: loss and accuracy per epoch, train and test.

```python
plot_history(history, "runs/x/training_curves.png", title="bnn_small on fashion_mnist")
```
"""

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = ["plot_history"]


def plot_history(history, path, title=""):
    """Plots the per-epoch logs of `fit` (`loss`, `accuracy`, `val_loss`, `val_accuracy`).

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

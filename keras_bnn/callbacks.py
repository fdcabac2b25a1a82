"""Keras callbacks of the binary-network recipes: ReCU's τ schedule (`TauScheduler`) and
per-layer statistics of the binary weights (`WeightStats`).

```python
import keras_bnn
import numpy as np
import tensorflow as tf
from keras_bnn.layers import ReCUConv2D

inputs = tf.keras.Input((8, 8, 3))
x = ReCUConv2D(8, 3, padding="same", pad_values=1.0)(inputs)
outputs = tf.keras.layers.Dense(2)(tf.keras.layers.GlobalAveragePooling2D()(x))
model = tf.keras.Model(inputs, outputs)
model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(np.zeros((4, 8, 8, 3)), np.zeros(4), epochs=2, verbose=0,
          callbacks=[keras_bnn.callbacks.TauScheduler(), keras_bnn.callbacks.WeightStats()])
```
"""

import math
import os
from collections.abc import Callable

import numpy as np

from keras_bnn._keras import keras, tf
from keras_bnn.graphs import all_layers, is_binary_layer
from keras_bnn.quantizers import (TAU_END, TAU_START, ReCU, check_tau, recu_threshold,
                                  standardize_kernel)

__all__ = ["TAU_SCHEDULES", "TauScheduler", "WeightStats", "binary_weight_stats",
           "tau_schedule"]


def _exponential(progress: float) -> float:
    return (math.exp(progress) - 1.0) / (math.e - 1.0)


TAU_SCHEDULES = {
    "exponential": _exponential,  # ReCU, Eq. 24
    "linear": lambda progress: progress,
    "cosine": lambda progress: 0.5 * (1.0 - math.cos(math.pi * progress)),
    "constant": lambda progress: 0.0,
}


def tau_schedule(epoch: int, epochs: int, tau_min: float = TAU_START, tau_max: float = TAU_END,
                 schedule: str | Callable[[int, int], float] = "exponential") -> float:
    r"""τ for `epoch` (from 0) of a run of `epochs` epochs.

    `"exponential"` is ReCU's Eq. 24,
    \\( \tau_i = \tau_{min} + (\tau_{max} - \tau_{min}) \frac{e^{i/I} - 1}{e - 1} \\);
    `"linear"` and `"cosine"` rise from `tau_min` to `tau_max` the same way; `"constant"` stays
    at `tau_min`; a callable `f(epoch, epochs) -> tau` is called as is.

    ```python
    from keras_bnn.callbacks import tau_schedule

    tau_schedule(0, 600)    # 0.85
    tau_schedule(300, 600)  # 0.90286
    tau_schedule(300, 600, schedule="linear")  # 0.92
    ```

    # Arguments
        epoch: The epoch, from 0.
        epochs: Epochs of the whole run.
        tau_min: τ of the first epoch.
        tau_max: τ the schedule approaches at the end.
        schedule: A name of `TAU_SCHEDULES`, or a callable `f(epoch, epochs) -> tau`.

    # Returns
        τ as a float in `(0.5, 1]`.

    # Raises
        ValueError: for an unknown schedule name or a τ outside `(0.5, 1]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Eq. 24.
    """
    if callable(schedule):
        return check_tau(schedule(epoch, epochs))
    if schedule not in TAU_SCHEDULES:
        raise ValueError(f"Unknown tau schedule {schedule!r}; expected a callable or one of "
                         f"{sorted(TAU_SCHEDULES)}.")
    return check_tau(tau_min + (tau_max - tau_min) * TAU_SCHEDULES[schedule](epoch / epochs))


class TauScheduler(keras.callbacks.Callback):
    """Sets τ of every ReCU layer at the start of each epoch, and logs it.

    Every layer of the model (nested models included) with a `tau` variable —
    `keras_bnn.layers.ReCUConv2D` — gets `tau_schedule(epoch, epochs, ...)`, where `epochs`
    is the run's total (the `epochs` of `fit`). The value goes into the epoch logs as
    `"tau"` (TensorBoard shows it). A resumed run (`initial_epoch > 0`) continues the
    schedule exactly, since τ is a function of the epoch number.

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_bnn.callbacks import TauScheduler
    from keras_bnn.layers import ReCUConv2D

    inputs = tf.keras.Input((8, 8, 3))
    x = ReCUConv2D(8, 3, padding="same", pad_values=1.0)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(x))
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((4, 8, 8, 3)), np.zeros((4, 8)), epochs=3, verbose=0,
                        callbacks=[TauScheduler(0.85, 0.99, "exponential")])
    history.history["tau"]  # [0.85, 0.882..., 0.927...]
    ```

    # Arguments
        tau_min: τ of the first epoch, in `(0.5, 1]`.
        tau_max: τ the schedule approaches at the end, in `(0.5, 1]`.
        schedule: `"exponential"` (ReCU), `"linear"`, `"cosine"`, `"constant"` (`tau_min`
            throughout) or a callable `f(epoch, epochs) -> tau`.

    # Raises
        ValueError: for τ bounds outside `(0.5, 1]` or `tau_min > tau_max`, or an unknown
            schedule; at the first epoch, when the model has no layer with a `tau`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Eq. 24.
    """

    def __init__(self, tau_min: float = TAU_START, tau_max: float = TAU_END,
                 schedule: str | Callable[[int, int], float] = "exponential") -> None:
        super().__init__()
        if check_tau(tau_min) > check_tau(tau_max):
            raise ValueError(f"tau_min ({tau_min}) must not exceed tau_max ({tau_max}).")
        tau_schedule(0, 1, tau_min, tau_max, schedule)  # validates the schedule
        self.tau_min, self.tau_max, self.schedule = tau_min, tau_max, schedule
        self.tau = None

    def _tau_variables(self) -> list[tf.Variable]:
        variables = [layer.tau for layer in all_layers(self.model)
                     if isinstance(getattr(layer, "tau", None), tf.Variable)]
        if not variables:
            raise ValueError(f"Model {self.model.name!r} has no layer with a tau variable "
                             "(such as ReCUConv2D): TauScheduler has nothing to set.")
        return variables

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.tau = tau_schedule(epoch, self.params["epochs"], self.tau_min, self.tau_max,
                                self.schedule)
        for variable in self._tau_variables():
            variable.assign(self.tau)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["tau"] = self.tau


def _binary_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers of `model` (nested ones too) whose kernel is quantized to one bit."""
    return [layer for layer in all_layers(model)
            if is_binary_layer(layer, inputs=False) and getattr(layer, "kernel", None) is not None]


def _latent_kernel(layer: keras.layers.Layer) -> np.ndarray:
    return np.asarray(getattr(layer.kernel, "latent_variable", layer.kernel).numpy())


def binary_weight_stats(layer: keras.layers.Layer) -> dict[str, np.ndarray | float]:
    """What binary training does to one layer's weights, now.

    - `dead_fraction` (ReCU layers only): the share of standardized latent weights beyond
      the clamp `±Q(τ)`, which get no gradient through the sign ("dead weights");
    - `quantization_error`: `||w - mean|w| sign(w)||² / ||w||²` of the weights the sign reads
      (for ReCU, the clamped standardized ones), the relative error of the best scaled
      binary approximation;
    - `signs`: the binary weights, for flip ratios between epochs.

    ```python
    import larq as lq
    from keras_bnn.callbacks import binary_weight_stats

    layer = lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                  kernel_constraint="weight_clip")
    layer.build((None, 8, 8, 4))
    stats = binary_weight_stats(layer)
    stats["quantization_error"]  # about 0.25 for uniformly initialised weights
    ```

    # Arguments
        layer: A layer with a one-bit `kernel_quantizer`.

    # Returns
        A dict with the entries above (`dead_fraction` only for ReCU layers).

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Section 3 (dead weights).
    """
    latent = _latent_kernel(layer)
    quantizer = layer.kernel_quantizer
    stats = {"signs": np.asarray(quantizer(tf.constant(latent))) >= 0}
    read = latent
    if isinstance(quantizer, ReCU):
        standardized = standardize_kernel(tf.constant(latent), quantizer.center, quantizer.b_star)
        clamp = float(recu_threshold(standardized, quantizer.tau))
        standardized = standardized.numpy()
        stats["dead_fraction"] = float(np.mean(np.abs(standardized) > clamp))
        read = np.clip(standardized, -clamp, clamp)
    approximation = np.mean(np.abs(read)) * np.where(read >= 0, 1.0, -1.0)
    stats["quantization_error"] = float(np.sum((read - approximation) ** 2) / np.sum(read**2))
    return stats


class WeightStats(keras.callbacks.Callback):
    """Logs per binary layer and epoch how its weights fare, and their histograms.

    For every layer with a one-bit kernel quantizer (larq's with `ste_sign`, `ReCUConv2D`,
    nested models included) it adds to the epoch logs `<layer>/flip_ratio` (share of
    binary weights whose sign changed during the epoch), `<layer>/quantization_error` and,
    for ReCU layers, `<layer>/dead_fraction`, plus model-wide means without the layer
    prefix. With `log_dir` it also writes each layer's latent weights as a TensorBoard
    histogram every epoch.

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_bnn.callbacks import TauScheduler, WeightStats
    from keras_bnn.layers import ReCUConv2D

    inputs = tf.keras.Input((8, 8, 3))
    x = ReCUConv2D(8, 3, padding="same", pad_values=1.0, name="conv")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(x))
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 8, 8, 3)), np.ones((4, 8)), epochs=2, verbose=0,
                        callbacks=[TauScheduler(), WeightStats("weights_logs")])
    history.history["conv/dead_fraction"]  # one value per epoch
    ```

    # Arguments
        log_dir: Where the TensorBoard histograms go (None: no histograms).

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Section 3 (dead weights).
    """

    def __init__(self, log_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._signs = {}
        self._writer = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._layers = _binary_layers(self.model)
        self._signs = {layer.name: binary_weight_stats(layer)["signs"] for layer in self._layers}
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        totals = {}
        for layer in self._layers:
            stats = binary_weight_stats(layer)
            signs = stats.pop("signs")
            stats["flip_ratio"] = float(np.mean(signs != self._signs[layer.name]))
            self._signs[layer.name] = signs
            for key, value in stats.items():
                logs[f"{layer.name}/{key}"] = value
                totals.setdefault(key, []).append(value)
            if self._writer is not None:
                with self._writer.as_default():
                    tf.summary.histogram(f"{layer.name}/latent_weights", _latent_kernel(layer),
                                         step=epoch)
        logs.update({key: float(np.mean(values)) for key, values in totals.items()})

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()

"""Keras callbacks of the binary-network recipes.

```python
model.fit(data, epochs=600, callbacks=[keras_bnn.callbacks.TauScheduler()])
```
"""

import math

import numpy as np

from keras_bnn._keras import all_layers, keras, tf
from keras_bnn.graphs import is_binary_layer
from keras_bnn.quantizers import ReCU, check_tau, recu_threshold, standardize_kernel

__all__ = ["TAU_SCHEDULES", "TauScheduler", "WeightStats", "binary_weight_stats",
           "tau_schedule"]


def _exponential(progress):
    return (math.exp(progress) - 1.0) / (math.e - 1.0)


TAU_SCHEDULES = {
    "exponential": _exponential,  # ReCU, Eq. 24
    "linear": lambda progress: progress,
    "cosine": lambda progress: 0.5 * (1.0 - math.cos(math.pi * progress)),
    "constant": lambda progress: 0.0,
}


def tau_schedule(epoch, epochs, tau_min=0.85, tau_max=0.99, schedule="exponential"):
    r"""τ for `epoch` (from 0) of a run of `epochs` epochs.

    `"exponential"` is ReCU's Eq. 24,
    \\( \tau_i = \tau_{min} + (\tau_{max} - \tau_{min}) \frac{e^{i/I} - 1}{e - 1} \\);
    `"linear"` and `"cosine"` rise from `tau_min` to `tau_max` the same way; `"constant"` stays
    at `tau_min`; a callable `f(epoch, epochs) -> tau` is called as is.

    ```python
    tau_schedule(0, 600)    # 0.85
    tau_schedule(300, 600)  # 0.90286
    ```

    # Raises
        ValueError: for an unknown schedule name or a τ outside `(0.5, 1]`.
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
    model.fit(data, epochs=600, callbacks=[TauScheduler(0.85, 0.99, "exponential")])
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
        - [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), Eq. 24.
    """

    def __init__(self, tau_min=0.85, tau_max=0.99, schedule="exponential"):
        super().__init__()
        if check_tau(tau_min) > check_tau(tau_max):
            raise ValueError(f"tau_min ({tau_min}) must not exceed tau_max ({tau_max}).")
        tau_schedule(0, 1, tau_min, tau_max, schedule)  # validates the schedule
        self.tau_min, self.tau_max, self.schedule = tau_min, tau_max, schedule
        self.tau = None

    def _tau_variables(self):
        variables = [layer.tau for layer in all_layers(self.model)
                     if isinstance(getattr(layer, "tau", None), tf.Variable)]
        if not variables:
            raise ValueError(f"Model {self.model.name!r} has no layer with a tau variable "
                             "(such as ReCUConv2D): TauScheduler has nothing to set.")
        return variables

    def on_epoch_begin(self, epoch, logs=None):
        self.tau = tau_schedule(epoch, self.params["epochs"], self.tau_min, self.tau_max,
                                self.schedule)
        for variable in self._tau_variables():
            variable.assign(self.tau)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["tau"] = self.tau


def _binary_layers(model):
    """Layers of `model` (nested ones too) whose kernel is quantized to one bit."""
    return [layer for layer in all_layers(model)
            if is_binary_layer(layer, inputs=False) and getattr(layer, "kernel", None) is not None]


def _latent_kernel(layer):
    return np.asarray(getattr(layer.kernel, "latent_variable", layer.kernel).numpy())


def binary_weight_stats(layer):
    """What binary training does to one layer's weights, now.

    - `dead_fraction` (ReCU layers only): the share of standardized latent weights beyond
      the clamp `±Q(τ)`, which get no gradient through the sign ("dead weights");
    - `quantization_error`: `||w - mean|w| sign(w)||² / ||w||²` of the weights the sign reads
      (for ReCU, the clamped standardized ones), the relative error of the best scaled
      binary approximation;
    - `signs`: the binary weights, for flip ratios between epochs.

    # Arguments
        layer: A layer with a one-bit `kernel_quantizer`.

    # Returns
        A dict with the entries above (`dead_fraction` only for ReCU layers).
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
    model.fit(data, epochs=10, callbacks=[TauScheduler(), WeightStats("runs/x/weights")])
    ```

    # Arguments
        log_dir: Where the TensorBoard histograms go (None: no histograms).

    # References
        - [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), Section 3 (dead weights).
    """

    def __init__(self, log_dir=None):
        super().__init__()
        self.log_dir = log_dir
        self._signs = {}
        self._writer = None

    def on_train_begin(self, logs=None):
        self._layers = _binary_layers(self.model)
        self._signs = {layer.name: binary_weight_stats(layer)["signs"] for layer in self._layers}
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch, logs=None):
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

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()

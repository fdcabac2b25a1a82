"""Keras callbacks of the binary-network recipes.

```python
model.fit(data, epochs=600, callbacks=[keras_bnn.callbacks.TauScheduler()])
```
"""

import math

from keras_bnn._keras import keras, tf
from keras_bnn.quantizers import check_tau

__all__ = ["TAU_SCHEDULES", "TauScheduler", "tau_schedule"]


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
        variables = [layer.tau for layer in self.model.submodules
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

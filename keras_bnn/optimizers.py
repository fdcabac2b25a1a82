"""Optimizers and learning-rate schedules of the binary-network recipes.

The schedules are functions of the optimizer's step counter, so a run restored from a
checkpoint continues them exactly.

```python
import keras_bnn

optimizer = keras_bnn.optimizers.make_optimizer(
    "sgd", 0.1, schedule="cosine", epochs=600, steps_per_epoch=196, warmup_epochs=5,
    weight_decay=5e-4,
)
```
"""

import math
from typing import Any

from keras_bnn._keras import keras, lq, register_serializable, tf

__all__ = ["OPTIMIZERS", "SCHEDULES", "WarmupCosineDecay", "make_optimizer", "make_schedule"]

OPTIMIZERS = ("adam", "sgd", "bop")
SCHEDULES = ("constant", "step", "cosine")

# Variables that weight decay leaves alone: BatchNorm parameters and biases (ReCU's recipe
# decays conv and dense weights only).
_NO_WEIGHT_DECAY = ["gamma", "beta", "bias", "alpha"]


@register_serializable()
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from `learning_rate / warmup_steps` to `learning_rate`, then cosine to 0.

    The ReCU recipe: 5 warm-up epochs, then cosine annealing over the remaining epochs.

    ```python
    from keras_bnn.optimizers import WarmupCosineDecay

    schedule = WarmupCosineDecay(0.1, total_steps=600 * 196, warmup_steps=5 * 196)
    float(schedule(0)), float(schedule(5 * 196)), float(schedule(600 * 196))  # ~1e-4, 0.1, 0
    ```

    # Arguments
        learning_rate: Peak learning rate.
        total_steps: Steps of the whole run, warm-up included.
        warmup_steps: Steps of the linear warm-up (0 for none).

    # Raises
        ValueError: unless `0 <= warmup_steps < total_steps`.

    # References
        - Loshchilov and Hutter, [SGDR: Stochastic Gradient Descent with Warm
          Restarts](https://arxiv.org/abs/1608.03983), ICLR 2017.
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021 (the recipe).
    """

    def __init__(self, learning_rate: float, total_steps: int, warmup_steps: int = 0) -> None:
        super().__init__()
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps = {total_steps}), got {warmup_steps}."
            )
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int | tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        warmup = self.learning_rate * (step + 1.0) / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / float(self.total_steps - self.warmup_steps)
        cosine = 0.5 * self.learning_rate * (1.0 + tf.cos(math.pi * tf.minimum(progress, 1.0)))
        return tf.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def make_schedule(
    learning_rate: float,
    schedule: str = "constant",
    *,
    epochs: int = 1,
    steps_per_epoch: int = 1,
    warmup_epochs: float = 0,
    decay_epochs: tuple[int, ...] | list[int] = (),
    decay_factor: float = 0.1,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A learning rate or schedule, by name.

    ```python
    from keras_bnn.optimizers import make_schedule

    step = make_schedule(0.1, "step", steps_per_epoch=100, decay_epochs=(30, 60))
    float(step(2999)), float(step(3000))  # 0.1, 0.01: decayed from the first step of epoch 30
    cosine = make_schedule(0.1, "cosine", epochs=600, steps_per_epoch=196, warmup_epochs=5)
    ```

    # Arguments
        learning_rate: Base (peak) learning rate, > 0.
        schedule: `"constant"`; `"step"`: multiplied by `decay_factor` at each epoch of
            `decay_epochs` (BinaryDuo); `"cosine"`: linear warm-up over `warmup_epochs`, then
            cosine to 0 at the end of `epochs` (ReCU).
        epochs: Epochs of the run.
        steps_per_epoch: Optimizer steps per epoch.
        warmup_epochs: Warm-up epochs of `"cosine"`.
        decay_epochs: Epochs at which `"step"` decays.
        decay_factor: Factor of each `"step"` decay.

    # Returns
        A float or a `LearningRateSchedule`.

    # Raises
        ValueError: for an unknown schedule or a non-positive learning rate.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}.")
    if schedule == "constant":
        return learning_rate
    if schedule == "step":
        # Step k (from 0) uses values[i] while k <= boundaries[i]: the first step of
        # decay epoch e, k = e * steps_per_epoch, is the first decayed one.
        boundaries = [int(epoch * steps_per_epoch) - 1 for epoch in sorted(decay_epochs)]
        values = [learning_rate * decay_factor**k for k in range(len(boundaries) + 1)]
        if not boundaries:
            return learning_rate
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if schedule == "cosine":
        return WarmupCosineDecay(
            learning_rate, epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch)
        )
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}.")


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    **schedule_kwargs: Any,
) -> keras.optimizers.Optimizer | keras.optimizers.legacy.Optimizer:
    """An optimizer by name, with a learning-rate schedule from `make_schedule`.

    - `"adam"`: Adam (decoupled weight decay when `weight_decay > 0`).
    - `"sgd"`: SGD with Nesterov momentum, as BinaryDuo and ReCU train.
    - `"bop"`: larq's Bop for the binary weights and Adam for the others, through
      `lq.optimizers.CaseOptimizer`; it needs Keras' legacy optimizers.

    Weight decay skips BatchNorm parameters, biases and scales.

    ```python
    from keras_bnn.optimizers import make_optimizer

    sgd = make_optimizer("sgd", 0.1, schedule="cosine", epochs=600, steps_per_epoch=196,
                         warmup_epochs=5, weight_decay=5e-4)      # ReCU
    adam = make_optimizer("adam", 1e-3, schedule="step", steps_per_epoch=196,
                          decay_epochs=(30, 60))                  # BinaryDuo-style decay
    bop = make_optimizer("bop", 1e-3)
    ```

    # Arguments
        name: One of `OPTIMIZERS`.
        learning_rate: Base learning rate (of Adam for `"bop"`).
        weight_decay: Decoupled weight decay per step, as a fraction of the learning rate.
        momentum: SGD momentum.
        **schedule_kwargs: Passed to `make_schedule` (`schedule`, `epochs`, ...).

    # Returns
        A Keras optimizer.

    # Raises
        ValueError: for an unknown name or a negative weight decay.

    # References
        - Helwegen et al., [Latent Weights Do Not Exist: Rethinking Binarized Neural Network
          Optimization](https://arxiv.org/abs/1906.02107), NeurIPS 2019 (Bop).
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}.")
    rate = make_schedule(learning_rate, **schedule_kwargs)
    decay = weight_decay or None
    if name == "adam":
        optimizer = keras.optimizers.Adam(rate, weight_decay=decay)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(rate, momentum=momentum, nesterov=True,
                                         weight_decay=decay)
    elif name == "bop":
        if weight_decay:
            raise ValueError("weight_decay is not supported with bop; use 0.")
        return lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=keras.optimizers.legacy.Adam(rate),
        )
    else:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {OPTIMIZERS}.")
    if decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_WEIGHT_DECAY)
    return optimizer

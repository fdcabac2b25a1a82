"""`model.fit` that survives interruptions: a checkpoint every epoch, exact resumption.

Every epoch ends with a checkpoint of the model's variables (trainable and not: BatchNorm
statistics, τ), the optimizer's state (its step counter drives the learning-rate schedule)
and the epoch count, and with the per-epoch logs written next to it. Calling
`fit_resumable` again with the same arguments after a crash or `kill -9` restores the
last finished epoch and continues: with a data stream that can start at any step (see
`keras_bnn.data.DataSet.train_dataset`) the result is the same as an uninterrupted run.

```python
import keras_bnn
import tensorflow as tf
from keras_bnn.training import fit_resumable, mirrored_strategy

def train_data(start_step):  # an endless stream of batches that can start at any step
    return tf.data.Dataset.from_tensors((tf.zeros((4, 8)), tf.zeros(4))).repeat()

strategy = mirrored_strategy()
with strategy.scope():
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(2)])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
history = fit_resumable(model, train_data, epochs=2, steps_per_epoch=3,
                        checkpoint_dir="runs/x/checkpoints", verbose=0, strategy=strategy)
```
"""

import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Callable, Sequence

from keras_bnn._keras import keras, tf
from keras_bnn.files import write_json_atomically

__all__ = ["fit_resumable", "is_chief", "load_history", "mirrored_strategy"]

_HISTORY_FILE = "history.json"


def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """`MirroredStrategy` over every local GPU, or every logical CPU when there is none.

    Between CPU devices it reduces through one device: TensorFlow's collective ops key
    their instances per process, and two CPU strategies in one process (tests, notebooks)
    can collide on them.

    ```python
    import tensorflow as tf
    from keras_bnn.training import mirrored_strategy

    strategy = mirrored_strategy()
    with strategy.scope():
        model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(2)])
    strategy.num_replicas_in_sync  # GPUs, or logical CPUs
    ```
    """
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    return tf.distribute.MirroredStrategy(
        [device.name for device in tf.config.list_logical_devices("CPU")],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process is the chief worker (always true outside multi-worker training).

    ```python
    from keras_bnn.training import is_chief, mirrored_strategy

    assert is_chief()                     # the default strategy: one process
    assert is_chief(mirrored_strategy())  # one machine
    ```

    # Arguments
        strategy: A distribution strategy; the current one when None.
    """
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def load_history(checkpoint_dir: str | os.PathLike) -> list[dict[str, float]]:
    """The per-epoch logs saved with the checkpoints in `checkpoint_dir` (empty when none).

    ```python
    from keras_bnn.training import load_history

    load_history("runs/none/checkpoints")  # [] (no run there yet)
    ```
    """
    path = pathlib.Path(checkpoint_dir) / _HISTORY_FILE
    return json.loads(path.read_text()) if path.exists() else []


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves the checkpoint, then the history that matches it, at the end of every epoch."""

    def __init__(self, manager: tf.train.CheckpointManager, epoch: tf.Variable,
                 history: list[dict[str, float]], history_dir: pathlib.Path | None) -> None:
        super().__init__()
        self._manager = manager
        self._epoch = epoch
        self._history = history
        self._history_dir = history_dir

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch.assign(epoch + 1)
        self._manager.save(checkpoint_number=epoch + 1)
        self._history.append({key: float(value) for key, value in (logs or {}).items()})
        if self._history_dir is not None:
            write_json_atomically(self._history_dir / _HISTORY_FILE, self._history)


def _build_optimizer_state(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Creates the optimizer's slot variables now, so that a restore fills them at once.

    Keras' legacy optimizers (larq's Bop) create them lazily; checkpoint restoration then
    defers to their creation, which works as well.
    """
    optimizer = model.optimizer
    if isinstance(optimizer, keras.optimizers.Optimizer):
        with strategy.scope():
            optimizer.build(model.trainable_variables)


def fit_resumable(
    model: keras.Model,
    train_data: Callable[[int], tf.data.Dataset],
    *,
    epochs: int,
    steps_per_epoch: int,
    checkpoint_dir: str | os.PathLike,
    validation_data: tf.data.Dataset | tuple | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: str | int = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> list[dict[str, float]]:
    """Trains a compiled model with a checkpoint every epoch, resuming from the last one.

    ```python
    import tensorflow as tf
    from keras_bnn.training import fit_resumable

    def train_data(start_step):
        return tf.data.Dataset.from_tensors((tf.zeros((4, 8)), tf.zeros(4))).repeat()

    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(2)])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    options = dict(steps_per_epoch=3, checkpoint_dir="checkpoints", verbose=0)
    fit_resumable(model, train_data, epochs=2, **options)            # epochs 1 and 2
    history = fit_resumable(model, train_data, epochs=3, **options)  # restores, runs epoch 3
    assert len(history) == 3
    ```

    # Arguments
        model: A compiled Keras model (compiled in `strategy`'s scope when distributed).
        train_data: `start_step -> tf.data.Dataset`, an infinite stream of batches that
            starts at optimizer step `start_step`.
        epochs: Total epochs of the run (finished ones included).
        steps_per_epoch: Steps per epoch.
        checkpoint_dir: Where checkpoints and the per-epoch logs go. In multi-worker
            training only the chief writes there; the other workers write to a temporary
            directory, as the collective save requires.
        validation_data: Evaluated at the end of every epoch (logs `val_*`).
        callbacks: More Keras callbacks.
        verbose: `model.fit` verbosity.
        strategy: The distribution strategy the model was built under (for chief
            detection); the current one when None.

    # Returns
        The logs of every epoch of the run, restored epochs included: a list of dicts.
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    checkpoint_dir = pathlib.Path(checkpoint_dir)
    if chief:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    # The other workers write where the collective save needs them to: a folder removed after.
    with (contextlib.nullcontext(str(checkpoint_dir)) if chief
          else tempfile.TemporaryDirectory(prefix="keras_bnn_worker_")) as write_dir:
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch)
        _build_optimizer_state(model, strategy)
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
        initial_epoch = int(epoch.numpy())
        history = load_history(checkpoint_dir)[:initial_epoch]
        manager = tf.train.CheckpointManager(checkpoint, str(write_dir), max_to_keep=2)
        if initial_epoch >= epochs:
            return history

        saver = _EpochCheckpoint(manager, epoch, history, checkpoint_dir if chief else None)
        model.fit(
            train_data(initial_epoch * steps_per_epoch),
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            callbacks=[*callbacks, saver],
            verbose=verbose,
        )
        return history

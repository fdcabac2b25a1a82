"""`model.fit` that survives interruptions: a checkpoint every epoch, exact resumption.

Every epoch ends with a checkpoint of the model's variables (trainable and not: BatchNorm
statistics, τ), the optimizer's state (its step counter drives the learning-rate schedule)
and the epoch count, and with the per-epoch logs written next to it. Calling
`fit_resumable` again with the same arguments after a crash or `kill -9` restores the
last finished epoch and continues: with a data stream that can start at any step (see
`keras_bnn.data.DataSet.train_dataset`) the result is the same as an uninterrupted run.

```python
with strategy.scope():
    model = build_model()
    model.compile(optimizer, loss, metrics=["accuracy"])
history = fit_resumable(
    model, lambda step: data.train_dataset(128, seed=0, start_step=step),
    epochs=10, steps_per_epoch=468, checkpoint_dir="runs/x/checkpoints",
)
```
"""

import json
import pathlib
import tempfile

from keras_bnn._keras import keras, tf
from keras_bnn.files import write_json_atomically

__all__ = ["fit_resumable", "is_chief", "load_history", "mirrored_strategy"]

_HISTORY_FILE = "history.json"


def mirrored_strategy():
    """`MirroredStrategy` over every local GPU, or every logical CPU when there is none.

    Between CPU devices it reduces through one device: TensorFlow's collective ops key
    their instances per process, and two CPU strategies in one process (tests, notebooks)
    can collide on them.

    ```python
    strategy = mirrored_strategy()
    with strategy.scope():
        model = build_model()
    ```
    """
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    return tf.distribute.MirroredStrategy(
        [device.name for device in tf.config.list_logical_devices("CPU")],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )


def is_chief(strategy=None):
    """Whether this process is the chief worker (always true outside multi-worker training)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def load_history(checkpoint_dir):
    """The per-epoch logs saved with the checkpoints in `checkpoint_dir` (empty when none)."""
    path = pathlib.Path(checkpoint_dir) / _HISTORY_FILE
    return json.loads(path.read_text()) if path.exists() else []


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves the checkpoint, then the history that matches it, at the end of every epoch."""

    def __init__(self, manager, epoch, history, history_dir):
        super().__init__()
        self._manager = manager
        self._epoch = epoch
        self._history = history
        self._history_dir = history_dir

    def on_epoch_end(self, epoch, logs=None):
        self._epoch.assign(epoch + 1)
        self._manager.save(checkpoint_number=epoch + 1)
        self._history.append({key: float(value) for key, value in (logs or {}).items()})
        if self._history_dir is not None:
            write_json_atomically(self._history_dir / _HISTORY_FILE, self._history)


def _build_optimizer_state(model, strategy):
    """Creates the optimizer's slot variables now, so that a restore fills them at once.

    Keras' legacy optimizers (larq's Bop) create them lazily; checkpoint restoration then
    defers to their creation, which works as well.
    """
    optimizer = model.optimizer
    if isinstance(optimizer, keras.optimizers.Optimizer):
        with strategy.scope():
            optimizer.build(model.trainable_variables)


def fit_resumable(
    model,
    train_data,
    *,
    epochs,
    steps_per_epoch,
    checkpoint_dir,
    validation_data=None,
    callbacks=(),
    verbose="auto",
    strategy=None,
):
    """Trains a compiled model with a checkpoint every epoch, resuming from the last one.

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
        write_dir = checkpoint_dir
    else:
        write_dir = pathlib.Path(tempfile.mkdtemp(prefix="keras_bnn_worker_"))

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

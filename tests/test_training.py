"""fit_resumable: checkpoints every epoch, exact resumption, distributed training."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import optimizers, training

BATCH = 16


def stream(start_step):
    """A deterministic infinite stream of batches that can start at any step."""

    def example(index):
        x = tf.random.stateless_normal((6, 6, 2), seed=tf.stack([index, tf.constant(7, tf.int64)]))
        return x, tf.cast(tf.reduce_sum(x[..., 0]) > 0, tf.int32)

    examples = tf.data.Dataset.range(start_step * BATCH, 10**9).map(example)
    return examples.batch(BATCH, drop_remainder=True)


def build_model(seed=0, batch_norm=True):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(inputs)
    if batch_norm:
        x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(x))
    optimizer = optimizers.make_optimizer("sgd", 0.05, schedule="cosine", epochs=4,
                                          steps_per_epoch=5, weight_decay=1e-3)
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def fit(model, checkpoint_dir, epochs, **kwargs):
    return training.fit_resumable(model, stream, epochs=epochs, steps_per_epoch=5,
                                  checkpoint_dir=checkpoint_dir, verbose=0, **kwargs)


def all_state(model):
    """Weights (BatchNorm statistics included) and optimizer state."""
    return [v.numpy() for v in model.weights + model.optimizer.variables()]


def test_resuming_gives_the_same_weights_and_history_as_one_run(tmp_path):
    straight = build_model()
    straight_history = fit(straight, tmp_path / "straight", epochs=4)

    first = build_model()
    fit(first, tmp_path / "resumed", epochs=2)  # "interrupted" after two epochs
    resumed = build_model(seed=1)  # a new process would start from other weights
    resumed_history = fit(resumed, tmp_path / "resumed", epochs=4)

    assert int(resumed.optimizer.iterations) == 20
    for a, b in zip(all_state(straight), all_state(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert len(resumed_history) == 4
    for a, b in zip(straight_history, resumed_history):
        assert a == pytest.approx(b, rel=1e-5)


def test_history_is_saved_with_every_checkpoint_and_restored(tmp_path):
    model = build_model()
    history = fit(model, tmp_path, epochs=2, validation_data=stream(1000).take(2))
    assert training.load_history(tmp_path) == history
    assert [set(logs) for logs in history] == [{"loss", "accuracy", "val_loss", "val_accuracy"}] * 2
    assert tf.train.latest_checkpoint(tmp_path).endswith("ckpt-2")
    # A finished run returns its history without training again.
    again = build_model(seed=3)
    assert fit(again, tmp_path, epochs=2) == history
    assert int(again.optimizer.iterations) == 10


def test_mirrored_training_matches_one_device_and_restores_on_one(tmp_path):
    strategy = training.mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2  # conftest.py makes two logical CPUs
    # Without BatchNorm (which normalizes per replica) the two runs are the same computation.
    with strategy.scope():
        mirrored = build_model(batch_norm=False)
    mirrored_history = fit(mirrored, tmp_path / "mirrored", epochs=2, strategy=strategy)
    single = build_model(batch_norm=False)
    single_history = fit(single, tmp_path / "single", epochs=2)

    for m, s in zip(mirrored_history, single_history):
        assert m == pytest.approx(s, rel=1e-4)
    for a, b in zip(mirrored.weights, single.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)

    restored = build_model(seed=5, batch_norm=False)
    fit(restored, tmp_path / "mirrored", epochs=2)  # restores the mirrored checkpoint
    for a, b in zip(mirrored.weights, restored.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert int(restored.optimizer.iterations) == 10


@pytest.mark.parametrize(
    "jobs,task_type,task_id,chief",
    [({"worker": 2}, "worker", 0, True), ({"worker": 2}, "worker", 1, False),
     ({"chief": 1, "worker": 1}, "chief", 0, True),
     ({"chief": 1, "worker": 1}, "worker", 0, False)],
)
def test_chief_is_the_chief_task_or_else_worker_zero(jobs, task_type, task_id, chief):
    cluster = tf.train.ClusterSpec(
        {job: [f"127.0.0.1:{2000 + 10 * i + k}" for k in range(n)]
         for i, (job, n) in enumerate(jobs.items())}
    )
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        cluster, task_type=task_type, task_id=task_id
    )

    class Strategy:
        cluster_resolver = resolver

    assert training.is_chief(Strategy()) is chief
    assert training.is_chief(tf.distribute.get_strategy())

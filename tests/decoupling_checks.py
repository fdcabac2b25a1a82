"""Checks shared by the decoupling tests: BatchNorm state away from its initial values,
and "computes the same function"."""

import numpy as np
import tensorflow as tf


def perturb_batch_norms(model, seed):
    """BatchNorm statistics and parameters away from their initial values."""
    rng = np.random.default_rng(seed)
    for layer in model.submodules:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])


def assert_same_function(ternary, decoupled, images):
    expected = ternary(images, training=False).numpy()
    got = decoupled(images, training=False).numpy()
    scale = np.abs(expected).max()
    assert scale > 0
    assert np.abs(got - expected).max() <= 1e-4 * scale

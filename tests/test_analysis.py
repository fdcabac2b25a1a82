"""keras_bnn.analysis.gradient_mismatch: exact on a smooth network, deterministic, the
weights untouched, bad arguments refused; a binary activation shows a mismatch."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn.analysis import gradient_mismatch

pytestmark = pytest.mark.unit


def small_network(input_quantizer=None):
    """Dense -> (quantized) dense -> logits, on 12 features."""
    inputs = tf.keras.Input((12,))
    x = tf.keras.layers.Dense(10, activation="tanh", name="first")(inputs)
    x = lq.layers.QuantDense(8, input_quantizer=input_quantizer, name="middle")(x)
    outputs = tf.keras.layers.Dense(3, name="last")(x)
    return tf.keras.Model(inputs, outputs)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 12)).astype(np.float32), rng.integers(0, 3, size=64)


@pytest.mark.parametrize("estimator, options", [("cdg", {"eps": 1e-2, "num_coords": 40}),
                                                ("esg", {"eps": 1e-3, "num_samples": 600})])
def test_without_quantizers_the_estimate_is_the_exact_gradient(estimator, options, batch):
    model = small_network()
    result = gradient_mismatch(model, *batch, estimator=estimator,
                               layers=["first", "middle", "last"], **options)
    assert [row.layer for row in result.rows] == ["first", "middle", "last"]
    for row in result.rows:
        assert row.cosine > 0.99, row


def test_a_binary_activation_makes_the_ste_gradient_disagree(batch):
    model = small_network("ste_sign")
    (row,) = gradient_mismatch(model, *batch, layers=["first"], eps=0.05, num_coords=120).rows
    assert row.cosine < 0.95  # the smooth network above: > 0.99


def test_default_layers_are_the_quantized_ones_and_weights_are_restored(batch):
    model = small_network("ste_sign")
    before = [w.copy() for w in model.get_weights()]
    result = gradient_mismatch(model, *batch, estimator="esg", num_samples=4)
    assert [row.layer for row in result.rows] == ["middle"]
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", ["cdg", "esg"])
def test_the_same_seed_gives_the_same_estimate_and_another_seed_another(estimator, batch):
    model = small_network("ste_sign")
    options = dict(estimator=estimator, eps=0.05, num_coords=8, num_samples=8,
                   layers=["first", "middle"])
    first = gradient_mismatch(model, *batch, seed=1, **options).rows
    assert gradient_mismatch(model, *batch, seed=1, **options).rows == first
    assert gradient_mismatch(model, *batch, seed=2, **options).rows != first


def test_the_table_and_the_chart(batch, tmp_path):
    result = gradient_mismatch(small_network("ste_sign"), *batch, layers=["first", "middle"],
                               num_coords=4)
    lines = result.markdown().splitlines()
    assert lines[0].startswith("| layer | estimator | cosine similarity")
    assert lines[2].startswith("| first | cdg | ") and lines[2].endswith("| 4 | 0.01 |")
    result.plot(tmp_path / "mismatch.png")
    assert (tmp_path / "mismatch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("arguments, message", [
    ({"estimator": "spsa"}, "estimator='spsa': use one of cdg, esg"),
    ({"eps": 0}, "eps=0: the perturbation size must be"),
    ({"eps": float("nan")}, "eps=nan"),
    ({"num_coords": 0}, "num_coords=0: must be an integer >= 1"),
    ({"num_samples": 2.5}, "num_samples=2.5"),
    ({"layers": ["nope"]}, "no layer with a kernel is called 'nope'"),
])
def test_bad_arguments_are_refused(arguments, message, batch):
    with pytest.raises(ValueError, match=message):
        gradient_mismatch(small_network("ste_sign"), *batch, **arguments)


def test_a_model_without_quantized_layers_needs_layers_named(batch):
    with pytest.raises(ValueError, match="no quantized layer with a kernel: pass layers="):
        gradient_mismatch(small_network(), *batch)

"""keras_bnn.lce: a flatbuffer's outputs come back in the Keras model's order."""

import numpy as np
import pytest

from keras_bnn import lce
import tf_keras as keras

pytestmark = pytest.mark.unit


def test_run_returns_the_outputs_in_the_keras_order():
    # The converter reorders outputs (12 came out as 11, 6, 1, 9, ...); run undoes it.
    inputs = keras.Input((4, 4, 3))
    outputs, x = [], inputs
    for index in range(12):
        x = keras.layers.Conv2D(2 + index, 1, name=f"conv_{index}")(x)
        outputs.append(x)
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    got = lce.run(lce.lce_flatbuffer(model), images)
    assert [value.shape[-1] for value in got] == [2 + index for index in range(12)]
    for want, have in zip(model.predict(images, verbose=0), got):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


def test_run_returns_a_list_for_one_output():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    got = lce.run(lce.lce_flatbuffer(model), np.ones((2, 4), np.float32))
    assert isinstance(got, list) and got[0].shape == (2, 3)

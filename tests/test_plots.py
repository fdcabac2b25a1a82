"""The PNG figures of a run."""

import pytest
import tensorflow as tf

from keras_bnn import plots
from keras_bnn.layers import ReCUConv2D

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n"


def test_training_curves_for_a_two_stage_history(tmp_path):
    history = [{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "stage": "a"},
               {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.5, "stage": "b"}]
    plots.plot_history(history, tmp_path / "curves.png", title="t")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG


def test_latent_weight_histograms_of_every_recu_layer(tmp_path):
    inputs = tf.keras.Input((8, 8, 3))
    x = ReCUConv2D(8, 3, padding="same", pad_values=1.0)(inputs)
    x = ReCUConv2D(8, 3, padding="same", pad_values=1.0, tau=0.99)(x)
    plots.plot_latent_weights(tf.keras.Model(inputs, x), tmp_path / "latent.png")
    assert (tmp_path / "latent.png").stat().st_size > 10_000
    assert (tmp_path / "latent.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="has no ReCU layer"):
        plots.plot_latent_weights(tf.keras.Sequential([tf.keras.Input((2,)),
                                                        tf.keras.layers.Dense(1)]),
                                  tmp_path / "none.png")


def test_bar_chart_with_groups_side_by_side(tmp_path):
    values = {"ste_sign": [0.4, 0.7], "ternary_sign": [0.9, 0.95]}
    plots.plot_bars(["conv1", "conv2"], values, tmp_path / "bars.png", groups=list(values))
    assert (tmp_path / "bars.png").read_bytes()[:8] == PNG

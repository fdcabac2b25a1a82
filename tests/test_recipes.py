"""Recipes turn a request into stages with the papers' settings."""

import pytest

from keras_bnn.callbacks import TauScheduler, WeightStats
from zoo import recipes


def request(**fields):
    return recipes.RunRequest(**{"model": "bnn_small", "input_shape": (28, 28, 1),
                                 "num_classes": 10, "epochs": 120, **fields})


def test_single_stage_uses_the_defaults_unless_overridden():
    (stage,) = recipes.single_stage(request(epochs=7))
    assert (stage.name, stage.epochs, stage.optimizer, stage.schedule) == (
        "train", 7, "adam", "cosine")
    (stage,) = recipes.single_stage(request(optimizer="sgd", learning_rate=0.1))
    assert (stage.optimizer, stage.learning_rate) == ("sgd", 0.1)


def test_float_twin_trains_the_same_layers_without_quantizers():
    (stage,) = recipes.get_recipe("float_twin")(request(epochs=7, learning_rate=0.01))
    assert (stage.epochs, stage.optimizer, stage.learning_rate) == (7, "adam", 0.01)
    binary = recipes.single_stage(request())[0].build_model(None)
    twin = stage.build_model(None)
    assert twin.count_params() == binary.count_params()
    assert [type(layer).__name__ for layer in twin.layers if "conv" in layer.name][:3] == [
        "Conv2D", "BatchNormalization", "Conv2D"]
    assert not any(getattr(layer, "input_quantizer", None) for layer in twin.layers)


def test_binaryduo_scales_the_official_schedule_to_the_epochs_asked_for():
    ternary, decoupled = recipes.binaryduo(request(model="bnn_small", epochs=120))
    assert (ternary.name, decoupled.name) == ("ternary", "decoupled")
    assert ternary.decay_epochs == (71, 91, 111) and decoupled.epochs == 40
    assert decoupled.decay_epochs == (21, 31, 36)
    for stage in (ternary, decoupled):
        assert (stage.optimizer, stage.learning_rate, stage.weight_decay) == ("sgd", 0.1, 1e-4)
    _, short = recipes.binaryduo(request(epochs=6, stage2_epochs=4, learning_rate=0.02))
    assert short.epochs == 4 and short.decay_epochs == (2.1, 3.1, 3.6)
    assert short.learning_rate == 0.02


def test_binaryduo_stage_2_decouples_the_stage_1_model():
    ternary, decoupled = recipes.binaryduo(request(model_options={"input_quantizer": "ternary_sign"}))
    model = ternary.build_model(None)
    assert any(layer.name.endswith("_scale") for layer in decoupled.build_model(model).layers)
    with pytest.raises(ValueError, match="needs ternary activations"):
        recipes.binaryduo(request())[0].build_model(None)


def test_recu_recipe_has_the_papers_settings_and_watches_tau_and_weights(tmp_path):
    (stage,) = recipes.recu(request(model="recu_resnet20", input_shape=(32, 32, 3), epochs=600))
    assert (stage.optimizer, stage.learning_rate, stage.schedule, stage.warmup_epochs,
            stage.weight_decay) == ("sgd", 0.1, "cosine", 5.0, 5e-4)
    scheduler, stats = stage.callbacks(tmp_path)
    assert isinstance(scheduler, TauScheduler) and isinstance(stats, WeightStats)
    assert (scheduler.tau_min, scheduler.tau_max, scheduler.schedule) == (0.85, 0.99, "exponential")
    assert stats.log_dir == tmp_path / "weights"

    (imagenet,) = recipes.recu(request(model="recu_resnet18", input_shape=(224, 224, 3),
                                       epochs=10, learning_rate=0.05))
    assert (imagenet.weight_decay, imagenet.warmup_epochs, imagenet.learning_rate) == (
        1e-4, 0.5, 0.05)


def test_recu_recipe_holds_a_fixed_tau_constant():
    (stage,) = recipes.recu(request(model="recu_resnet20", model_options={"tau": 1.0}))
    scheduler, stats = stage.callbacks(None)
    assert (scheduler.tau_min, scheduler.tau_max, scheduler.schedule) == (1.0, 1.0, "constant")
    assert stats.log_dir is None


@pytest.mark.parametrize("model,recipe", [("binaryduo_vgg7", "binaryduo"), ("bnn_vgg7", "single"),
                                          ("recu_resnet20", "recu")])
def test_default_recipe_follows_the_model_family(model, recipe):
    assert recipes.default_recipe(model) == recipe


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ValueError, match="known recipes: binaryduo, float_twin, recu, single"):
        recipes.get_recipe("recu2")

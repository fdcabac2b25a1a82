"""Recipes turn a request into stages with the papers' settings."""

import numpy as np
import pytest

from keras_bnn.callbacks import TauScheduler, WeightStats
from keras_bnn.distillation import Distiller
from zoo import real_to_binary, recipes

pytestmark = pytest.mark.unit


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


def r2b_request(model="real_to_binary_resnet18", **fields):
    return request(model=model, input_shape=(32, 32, 3), epochs=3,
                   model_options={"stage_filters": (8, 8, 16, 16)}, **fields)


def test_real_to_binary_goes_real_then_binary_activations_then_binary_each_taught_by_the_last():
    stages = recipes.real_to_binary(r2b_request())
    assert [s.name for s in stages] == ["real", "binary_activations", "binary"]
    assert [s.learning_rate for s in stages] == [1e-3, 1e-3, 2e-4]
    assert all((s.epochs, s.optimizer, s.schedule) == (3, "adam", "cosine") for s in stages)
    assert stages[0].distillation is None
    assert all((s.distillation.attention_weight, s.distillation.distillation_weight) == (1.0, 1.0)
               for s in stages[1:])

    models = []
    for stage in stages:
        models.append(stage.build_model(models[-1] if models else None))
        trainer = stage.trainer(models[-1], models[-2] if len(models) > 1 else None)
        if stage.distillation is None:
            assert trainer is models[-1]
        else:
            assert isinstance(trainer, Distiller) and trainer.teacher is models[-2]
            assert not models[-2].trainable
    assert [quantizer_precision(m) for m in models] == [32, 1, 1]
    for previous, model in zip(models, models[1:]):  # each stage starts where the last ended
        for a, b in zip(previous.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


def quantizer_precision(model):
    return model.get_layer("stage1_block1_1_conv").input_quantizer.precision


def test_real_to_binary_weights_and_optimizer_follow_the_flags():
    stages = recipes.real_to_binary(r2b_request(attention_weight=0.0, distillation_weight=3.0,
                                                learning_rate=0.01, optimizer="sgd"))
    assert {(s.learning_rate, s.optimizer) for s in stages} == {(0.01, "sgd")}
    assert (stages[2].distillation.attention_weight,
            stages[2].distillation.distillation_weight) == (0.0, 3.0)


def test_distilled_stages_match_attention_at_the_end_of_every_block():
    real, taught, _ = recipes.real_to_binary(r2b_request())
    teacher = real.build_model(None)
    student = taught.build_model(teacher)
    trainer = taught.trainer(student, teacher)
    names = real_to_binary.block_outputs(student)
    assert len(names) == 8
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    maps, logits = trainer._student_taps(images, training=False)
    assert [m.shape[1] for m in maps] == [32, 32, 16, 16, 8, 8, 4, 4]
    np.testing.assert_allclose(logits, student(images), rtol=1e-6)


def test_two_step_trains_binary_activations_then_binary_weights_without_a_teacher():
    first, second = recipes.two_step(r2b_request(model="strong_baseline_resnet18"))
    assert (first.name, second.name) == ("binary_activations", "binary")
    assert (first.learning_rate, second.learning_rate) == (1e-3, 2e-4)
    assert first.distillation is second.distillation is None
    model = second.build_model(first.build_model(None))
    assert model.get_layer("stage1_block1_1_conv").kernel_quantizer.precision == 1


@pytest.mark.parametrize("recipe", ["real_to_binary", "two_step"])
def test_progressive_recipes_refuse_models_without_their_stages(recipe):
    stages = recipes.get_recipe(recipe)(request(model="bnn_resnet20", input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match="trains real_to_binary_\\* and strong_baseline_\\* models"):
        stages[0].build_model(None)


@pytest.mark.parametrize("model,recipe", [("binaryduo_vgg7", "binaryduo"), ("bnn_vgg7", "single"),
                                          ("recu_resnet20", "recu"),
                                          ("real_to_binary_resnet18", "real_to_binary"),
                                          ("strong_baseline_resnet18", "two_step")])
def test_default_recipe_follows_the_model_family(model, recipe):
    assert recipes.default_recipe(model) == recipe


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ValueError, match="known recipes: binaryduo, float_twin, real_to_binary, recu, single, two_step"):
        recipes.get_recipe("recu2")

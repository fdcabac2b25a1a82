"""zoo.registry: a model is one decorated, keyword-only builder; the zoo reads the rest."""

import pytest

import zoo
from zoo import recipes, registry, weights

pytestmark = pytest.mark.unit


def test_every_model_is_registered_with_its_family_recipe_and_defaults():
    assert zoo.list_models() == registry.names() == sorted(zoo.MODELS)
    assert registry.entry("recu_small").family == "recu"
    assert recipes.default_recipe("recu_small") == "recu"
    assert recipes.default_recipe("strong_baseline_resnet18") == "two_step"
    assert recipes.default_recipe("bnn_vgg7") == "single"
    assert zoo.DEFAULTS["recu_small"] == {"input_shape": (28, 28, 1), "num_classes": 10}
    assert zoo.deployed_options("binaryduo_vgg7") == {"stage": "decoupled"}
    assert zoo.deployed_options("bnn_vgg7") == {}
    assert {registry.entry(name).family for name in registry.names()} == {
        "baselines", "binaryduo", "real_to_binary", "recu", "resnets"}


def test_builders_take_keyword_arguments_only():
    with pytest.raises(TypeError):
        zoo.MODELS["bnn_small"]((28, 28, 1), 10)

    with pytest.raises(TypeError, match="keyword-only options"):
        @registry.register_model()
        def positional_model(input_shape=(8, 8, 1), num_classes=2):
            return None


def test_a_name_is_registered_once_and_an_unknown_one_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        @registry.register_model()
        def bnn_small(*, input_shape=(8, 8, 1), num_classes=2):
            return None
    with pytest.raises(ValueError, match="Unknown zoo model 'bnn_huge'; known models: "
                                         "binaryduo_alexnet"):
        registry.entry("bnn_huge")


def test_an_entry_lists_the_pretrained_weights_registered_for_its_model():
    assert {w.key for w in registry.entry("recu_vgg_small").pretrained} == {
        w.key for w in weights.entries("recu_vgg_small")} != set()
    assert registry.entry("recu_resnet34").pretrained == []

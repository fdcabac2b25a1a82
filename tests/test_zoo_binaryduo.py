"""BinaryDuo's zoo networks: ternary and decoupled stages, size parity with the baselines."""

import larq as lq
import pytest
import tensorflow as tf

import zoo
from zoo import registry
from keras_bnn.quantizers import TernarySign
import keras_bnn
from decoupling_checks import assert_same_function, perturb_batch_norms

# (model, input shape): the ImageNet networks at 64x64 to keep the tests quick.
MODELS = [("vgg7", (32, 32, 3)), ("vgg_small", (32, 32, 3)), ("alexnet", (64, 64, 3)),
          ("resnet18", (64, 64, 3))]


def binary_macs(model):
    return lq.models.ModelProfile(model).op_count("mac", 1)


def test_every_binaryduo_model_of_the_zoo_is_tested():
    assert set(registry.names(family="binaryduo")) == {f"binaryduo_{name}" for name, _ in MODELS}
    assert all(registry.entry(f"binaryduo_{name}").deployed == {"stage": "decoupled"}
               for name, _ in MODELS)


@pytest.mark.parametrize("name,shape", MODELS)
def test_ternary_stage_has_ternary_activations_and_decoupled_stage_computes_the_same(
    name, shape, cifar_images
):
    ternary = zoo.get_model(f"binaryduo_{name}", input_shape=shape, num_classes=10)
    quantizers = [layer.input_quantizer for layer in ternary.layers
                  if isinstance(getattr(layer, "input_quantizer", None), TernarySign)]
    assert quantizers and all(q.threshold == 0.5 for q in quantizers)
    assert all(layer.pad_values == 1.0 for layer in ternary.layers
               if isinstance(layer, lq.layers.QuantConv2D) and layer.padding == "same")
    perturb_batch_norms(ternary, 0)
    images = tf.image.resize(cifar_images[:8], shape[:2]).numpy()
    assert_same_function(ternary, keras_bnn.decouple(ternary), images)


@pytest.mark.parametrize("name,shape,options", [
    ("vgg7", (32, 32, 3), {}), ("vgg_small", (32, 32, 3), {}), ("vgg_small", (28, 28, 1), {}),
    ("alexnet", (224, 224, 3), {"widths": "matched"}),
    ("resnet18", (224, 224, 3), {"widths": "matched"}),
    ("resnet18", (32, 32, 3), {"widths": "matched"}),
])
def test_decoupled_model_has_the_baselines_parameters_and_binary_macs(name, shape, options):
    baseline = zoo.get_model(f"bnn_{name}", input_shape=shape)
    decoupled = zoo.get_model(f"binaryduo_{name}", input_shape=shape, stage="decoupled",
                              **options)
    assert decoupled.count_params() == pytest.approx(baseline.count_params(), rel=0.02)
    assert binary_macs(decoupled) == pytest.approx(binary_macs(baseline), rel=0.02)


def binary_input_channels(model):
    return [layer.input_shape[-1] for layer in model.layers
            if isinstance(layer, lq.layers.QuantConv2D)]


def test_official_widths_are_those_of_the_official_decoupled_code():
    # models/alexnet_decoupled.lua and resnet_decoupled.lua of the official repository.
    # Input channels do not depend on the input size: AlexNet at 64x64, as ResNet-18.
    alexnet = zoo.get_model("binaryduo_alexnet", input_shape=(64, 64, 3), stage="decoupled")
    assert binary_input_channels(alexnet) == [176, 384, 512, 512, 384, 4800]
    resnet = zoo.get_model("binaryduo_resnet18", input_shape=(64, 64, 3), stage="decoupled")
    assert binary_input_channels(resnet) == [128] * 5 + [180] * 4 + [360] * 4 + [720] * 3


def test_unknown_widths_are_refused():
    with pytest.raises(ValueError, match="Unknown BinaryDuo widths 'wide' for resnet18"):
        zoo.get_model("binaryduo_resnet18", widths="wide")


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="Unknown BinaryDuo stage 'binary'"):
        zoo.get_model("binaryduo_vgg7", stage="binary")

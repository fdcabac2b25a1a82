"""Real-to-Binary's zoo networks: the strong baseline's unit, the scaling of each network,
the three stage variants sharing one set of weights, block outputs for attention."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
from keras_bnn.layers import DataDrivenGate, LearnedRescaling
from keras_bnn.quantizers import TanhSign
from zoo import real_to_binary, registry

MODELS = {"real_to_binary_resnet18": DataDrivenGate, "strong_baseline_resnet18": LearnedRescaling}
SMALL = {"stage_filters": (8, 16, 32, 64)}


def quant_convs(model):
    return [layer for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]


def test_every_real_to_binary_model_of_the_zoo_is_tested():
    assert set(registry.names(family="real_to_binary")) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape, stem_kernel", [((32, 32, 3), 3), ((80, 80, 3), 7)])
def test_binary_convs_are_scaled_as_the_method_says_and_the_ends_are_full_precision(
        name, shape, stem_kernel):
    model = zoo.get_model(name, input_shape=shape, num_classes=7, **SMALL)
    convs = quant_convs(model)
    assert len(convs) == 16 and all(conv.pad_values == 1.0 for conv in convs)
    scalings = [layer for layer in model.layers if isinstance(layer, MODELS[name])]
    assert len(scalings) == 16
    assert not any(isinstance(layer, (DataDrivenGate, LearnedRescaling)) and
                   not isinstance(layer, MODELS[name]) for layer in model.layers)
    stem = model.get_layer("stem_conv")
    assert type(stem) is tf.keras.layers.Conv2D and stem.kernel_size == (stem_kernel,) * 2
    assert type(model.layers[-1]) is tf.keras.layers.Dense
    shortcuts = [layer for layer in model.layers if layer.name.endswith("_shortcut_conv")]
    assert len(shortcuts) == 3 and all(type(s) is tf.keras.layers.Conv2D for s in shortcuts)
    assert model.output_shape == (None, 7)


def test_each_unit_binarizes_the_batch_normalized_stream_and_gates_from_it():
    model = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), **SMALL)
    conv, gate = model.get_layer("stage2_block1_1_conv"), model.get_layer("stage2_block1_1_gate")
    normalized = model.get_layer("stage2_block1_1_bn").output
    assert conv.input is normalized and gate.input[0] is normalized
    assert gate.input[1] is conv.output
    prelu = model.get_layer("stage2_block1_1_prelu")
    added = model.get_layer("stage2_block1_1_add").input
    assert prelu.input is gate.output
    assert added[0] is prelu.output
    assert added[1] is model.get_layer("stage2_block1_1_shortcut_bn").output


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stages_change_only_the_quantizers_and_share_their_weights(name):
    models = {stage: zoo.get_model(name, input_shape=(32, 32, 3), stage=stage, **SMALL)
              for stage in real_to_binary.STAGES}
    shapes = {stage: [w.shape for w in model.get_weights()] for stage, model in models.items()}
    assert shapes["real"] == shapes["binary_activations"] == shapes["binary"]
    real, activations, binary = (quant_convs(models[s])[0] for s in real_to_binary.STAGES)
    assert isinstance(real.input_quantizer, TanhSign) and real.kernel_quantizer is None
    assert activations.input_quantizer.precision == 1 and activations.kernel_quantizer is None
    assert binary.input_quantizer.precision == binary.kernel_quantizer.precision == 1
    profiles = {stage: lq.models.ModelProfile(model).op_count("mac", 1)
                for stage, model in models.items()}
    assert profiles["real"] == profiles["binary_activations"] == 0 < profiles["binary"]


def test_binary_stage_weights_keep_the_output_scale_of_the_real_weights():
    """sign(W) * mean|W| per output channel: a conv's output keeps its magnitude when its
    real weights become binary, so stage 3 starts where stage 2 ended."""
    kwargs = dict(input_shape=(32, 32, 3), **SMALL)
    real = zoo.get_model("strong_baseline_resnet18", stage="binary_activations", **kwargs)
    binary = zoo.get_model("strong_baseline_resnet18", stage="binary", **kwargs)
    binary.set_weights(real.get_weights())
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    name = "stage1_block1_1_conv"
    outputs = [tf.keras.Model(m.inputs, m.get_layer(name).output)(images).numpy()
               for m in (real, binary)]
    ratio = np.abs(outputs[1]).mean() / np.abs(outputs[0]).mean()
    assert 0.5 < ratio < 2.0, ratio


def test_block_outputs_name_the_end_of_each_basic_block():
    model = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), **SMALL)
    names = real_to_binary.block_outputs(model)
    assert names == [f"stage{s}_block{b}_2_add" for s in range(1, 5) for b in (1, 2)]
    assert [model.get_layer(n).output.shape[1] for n in names] == [32, 32, 16, 16, 8, 8, 4, 4]


def test_unknown_stage_or_too_small_images_are_clear_errors():
    with pytest.raises(ValueError, match="expected one of \\('real', 'binary_activations'"):
        zoo.get_model("real_to_binary_resnet18", stage="ternary")
    with pytest.raises(ValueError, match="at least 8 pixels"):
        zoo.get_model("strong_baseline_resnet18", input_shape=(4, 4, 3))


def test_saves_and_loads_without_custom_objects(tmp_path):
    model = zoo.get_model("real_to_binary_resnet18", input_shape=(32, 32, 3), stage="real",
                          **SMALL)
    model.save(tmp_path / "r2b.keras")
    loaded = tf.keras.models.load_model(tmp_path / "r2b.keras")
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), rtol=1e-5,
                               atol=1e-6)

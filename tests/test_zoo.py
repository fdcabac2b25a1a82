"""The zoo's API and its baseline binary networks (every `bnn_*` model of the zoo).

BinaryDuo's networks reuse these builders with other widths; test_zoo_binaryduo.py covers them.

Each architecture is pinned by its layer structure (which convs are binary, with which
quantizers) and, for VGG-small, VGG-7, ResNet-20 and ResNet-18, by a parameter count
computed here from the architecture's formula. ImageNet-sized models run at 64x64.
"""

import functools
import re

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.__main__ as zoo_cli
from zoo import registry
from markdown_tables import markdown_tables
from keras_bnn import quantizers

# Binary convs, and full-precision shortcut convs, per model: every model must be listed.
BINARY_CONVS = {
    "bnn_alexnet": 6,  # conv2-conv5, fc6, fc7
    "bnn_resnet18": 16,
    "bnn_resnet20": 18,
    "bnn_small": 2,
    "bnn_vgg7": 5,
    "bnn_vgg_small": 5,
}
SHORTCUT_CONVS = {"bnn_resnet18": 3, "bnn_resnet20": 2}

# The input size tests use for models whose default is ImageNet's 224x224.
SMALL_INPUT = {"bnn_alexnet": (64, 64, 3), "bnn_resnet18": (64, 64, 3)}
# Narrow widths for the tests that write and read files: a file holds the same layers at
# any width, and the full-width ImageNet models take seconds to write (47 MB for ResNet-18).
NARROW = {"bnn_alexnet": {"filters": (8, 16, 16, 16, 16, 32, 32)},
          "bnn_resnet18": {"stage_filters": (8, 16, 16, 32)}}
# A different input shape per model for the override test (ResNet-18: the ImageNet stem).
OTHER_INPUT = {
    "bnn_alexnet": (80, 80, 1),
    "bnn_resnet18": (72, 72, 1),
    "bnn_resnet20": (28, 28, 1),
    "bnn_small": (32, 32, 3),
    "bnn_vgg7": (28, 28, 1),
    "bnn_vgg_small": (28, 28, 1),
}

# The baselines, as the registry knows them (`zoo.registry`).
MODELS = sorted(registry.names(family="baselines") + registry.names(family="resnets"))


def input_shape(name):
    return SMALL_INPUT.get(name, zoo.DEFAULTS[name]["input_shape"])


def build(name, **options):
    return zoo.get_model(name, input_shape=input_shape(name), **options)


@functools.cache
def built(name):
    """`build(name)`, once per test process: for the tests that only read the model."""
    return build(name)


def images(shape, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype(np.float32)


def predict(model, x):
    return model(x, training=False).numpy()


def conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]


def reads_batch_norm(layer):
    """Whether `layer` reads a BatchNorm output, through pooling, dropout or additions."""
    source = layer.inbound_nodes[0].inbound_layers
    while isinstance(source, (list, tf.keras.layers.Add, tf.keras.layers.Dropout,
                              tf.keras.layers.MaxPool2D)):
        # Of an addition, the first input is the BatchNorm of the previous binary conv.
        source = source[0] if isinstance(source, list) else source.inbound_nodes[0].inbound_layers
    return isinstance(source, tf.keras.layers.BatchNormalization)


def perturb_all_weights(model, seed=1):
    """Moves every variable (BatchNorm statistics included) away from its initial value."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.uniform(0.1, 0.2, size=w.shape) for w in model.get_weights()])


def test_every_model_has_expectations_and_defaults():
    assert MODELS == sorted(MODELS)
    assert set(MODELS) == set(BINARY_CONVS) == set(OTHER_INPUT)
    assert set(zoo.DEFAULTS) == set(zoo.list_models())
    assert zoo.DEFAULTS["bnn_resnet18"] == {"input_shape": (224, 224, 3), "num_classes": 1000}
    assert zoo.DEFAULTS["bnn_alexnet"] == {"input_shape": (224, 224, 3), "num_classes": 1000}
    assert zoo.DEFAULTS["bnn_resnet20"] == {"input_shape": (32, 32, 3), "num_classes": 10}
    assert zoo.DEFAULTS["bnn_small"] == {"input_shape": (28, 28, 1), "num_classes": 10}


@pytest.mark.parametrize("name", MODELS)
def test_builds_with_defaults_and_outputs_logits(name):
    model = built(name)
    assert model.input_shape[1:] == input_shape(name)
    outputs = predict(model, images(input_shape(name)))
    assert outputs.shape == (2, zoo.DEFAULTS[name]["num_classes"])
    assert np.all(np.isfinite(outputs))
    assert model.layers[-1].activation is tf.keras.activations.linear  # logits, no softmax


@pytest.mark.parametrize("name", sorted(SMALL_INPUT))
def test_imagenet_models_build_at_their_default_224(name):
    model = zoo.get_model(name)
    assert model.input_shape == (None, 224, 224, 3)
    assert predict(model, images((224, 224, 3), batch=1)).shape == (1, 1000)


@pytest.mark.parametrize("name", MODELS)
def test_input_shape_and_num_classes_overrides(name):
    model = zoo.get_model(name, input_shape=OTHER_INPUT[name], num_classes=7)
    assert model.input_shape[1:] == OTHER_INPUT[name]
    assert predict(model, images(OTHER_INPUT[name])).shape == (2, 7)


@pytest.mark.parametrize("name", MODELS)
def test_first_conv_and_classifier_are_full_precision_every_other_conv_binary(name):
    model = built(name)
    first, *others = conv_layers(model)
    assert type(first) is tf.keras.layers.Conv2D
    assert first.kernel.shape[2] == input_shape(name)[-1]  # it reads the image
    classifier = model.layers[-1]
    assert type(classifier) is tf.keras.layers.Dense and classifier.name == "classifier"
    assert not any(isinstance(layer, lq.layers.QuantDense) for layer in model.layers)

    shortcuts = [layer for layer in others if "shortcut" in layer.name]
    assert len(shortcuts) == SHORTCUT_CONVS.get(name, 0)
    for layer in shortcuts:
        assert type(layer) is tf.keras.layers.Conv2D and layer.kernel_size == (1, 1)

    binary = [layer for layer in others if layer not in shortcuts]
    assert len(binary) == BINARY_CONVS[name]
    for layer in binary:
        assert isinstance(layer, lq.layers.QuantConv2D), layer.name
        assert isinstance(layer.input_quantizer, lq.quantizers.SteSign), layer.name
        assert isinstance(layer.kernel_quantizer, lq.quantizers.SteSign), layer.name
        assert isinstance(layer.kernel_constraint, lq.constraints.WeightClip), layer.name
        assert not layer.use_bias, layer.name
        if layer.padding == "same" and max(layer.kernel_size) > 1:
            assert layer.pad_values == 1.0, layer.name
        assert reads_batch_norm(layer), layer.name


@pytest.mark.parametrize("name", MODELS)
def test_options_swap_the_quantizers_of_every_binary_conv(name):
    model = build(name, input_quantizer="ternary_sign", kernel_quantizer=None,
                  kernel_constraint=None)
    binary = [layer for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert len(binary) == BINARY_CONVS[name]
    for layer in binary:
        assert isinstance(layer.input_quantizer, quantizers.TernarySign)
        assert layer.kernel_quantizer is None and layer.kernel_constraint is None
    assert np.all(np.isfinite(predict(model, images(input_shape(name)))))
    # Ternary activations count as 2-bit operations, float weights as 32-bit ones.
    assert lq.models.ModelProfile(model).op_count("mac", 1) == 0


@pytest.mark.parametrize("options,message", [
    ({"width_multiplier": 0.5}, "'bnn_vgg7' has no option 'width_multiplier'; its options "
                                "are input_quantizer, kernel_quantizer, kernel_constraint"),
    ({"width": "abc"}, "option width='abc' of zoo model 'bnn_small' must be a number"),
    ({"input_quantizer": "bogus"}, "input_quantizer='bogus' is not a quantizer; use one of "
                                   "approx_sign,"),
])
def test_a_bad_option_is_refused_before_building(options, message):
    name = "bnn_vgg7" if "width_multiplier" in options else "bnn_small"
    with pytest.raises(ValueError, match=re.escape(message)):
        zoo.get_model(name, **options)


@pytest.mark.parametrize("name", quantizers.QUANTIZER_NAMES)
def test_every_quantizer_name_resolves(name):
    assert callable(lq.quantizers.get(name))


def bn(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def vgg7_parameters(classes=10):
    widths = [3, 64, 64, 128, 128]
    convs = sum(9 * c_in * c_out + bn(c_out) for c_in, c_out in zip(widths, widths[1:]))
    fully_connected = 4 * 4 * 128 * 512 + bn(512) + 512 * 512 + bn(512)
    return convs + fully_connected + 512 * classes + classes


def vgg_small_parameters(classes=10):
    widths = [3, 128, 128, 256, 256, 512, 512]
    convs = sum(9 * c_in * c_out + bn(c_out) for c_in, c_out in zip(widths, widths[1:]))
    return convs + 4 * 4 * 512 * classes + classes


def bireal_resnet_parameters(stem, stage_filters, blocks_per_stage, classes):
    """Stem conv + BN, 3x3 binary conv + BN per unit, 1x1 conv + BN per downsampling."""
    total, channels = stem, stage_filters[0]
    for filters in stage_filters:
        if filters != channels:
            total += channels * filters + bn(filters)
        total += 9 * channels * filters + bn(filters)  # first unit
        total += (2 * blocks_per_stage - 1) * (9 * filters * filters + bn(filters))
        channels = filters
    return total + channels * classes + classes


KNOWN_PARAMETERS = {
    "bnn_vgg7": ({}, vgg7_parameters()),
    "bnn_vgg_small": ({}, vgg_small_parameters()),
    "bnn_resnet20": ({}, bireal_resnet_parameters(27 * 16 + bn(16), (16, 32, 64), 3, 10)),
    # 11 699 112 is also larq-zoo's published count for its Bi-Real Net.
    "bnn_resnet18": ({}, bireal_resnet_parameters(
        49 * 3 * 64 + bn(64), (64, 128, 256, 512), 2, 1000)),
    "bnn_resnet18 cifar": (
        {"input_shape": (32, 32, 3), "num_classes": 10},
        bireal_resnet_parameters(27 * 64 + bn(64), (64, 128, 256, 512), 2, 10),
    ),
}


@pytest.mark.parametrize("case", sorted(KNOWN_PARAMETERS))
def test_parameter_count_matches_the_architecture(case):
    options, expected = KNOWN_PARAMETERS[case]
    model = zoo.get_model(case.split()[0], **options)
    assert model.count_params() == expected


def test_known_counts():
    assert KNOWN_PARAMETERS["bnn_resnet20"][1] == 274_042
    assert KNOWN_PARAMETERS["bnn_resnet18"][1] == 11_699_112
    assert KNOWN_PARAMETERS["bnn_vgg7"][1] == 1_581_258


def test_vgg7_binary_macs_match_the_architecture():
    # conv2 at 32x32, conv3 at 16x16, conv4 at 8x8 (3x3), conv5 4x4 and conv6 1x1 at 1x1.
    expected = (32 * 32 * 9 * 64 * 64 + 16 * 16 * 9 * 64 * 128 + 8 * 8 * 9 * 128 * 128
                + 16 * 128 * 512 + 512 * 512)
    profile = lq.models.ModelProfile(zoo.get_model("bnn_vgg7"))
    assert profile.op_count("mac", 1) == expected == 67_371_008


@pytest.mark.parametrize("name", MODELS)
def test_larq_summary_reports_binary_weights_and_macs(name):
    model = built(name)
    lines = []
    lq.models.summary(model, print_fn=lines.append)
    text = "\n".join(lines)
    ratio = float(re.search(r"Ratio of MACs that are binarized\s+([\d.]+)", text).group(1))
    assert ratio > 0.5
    profile = lq.models.ModelProfile(model)
    assert profile.op_count("mac", 1) > 0
    binary_weights = sum(
        layer.kernel.shape.num_elements()
        for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)
    )
    assert profile.weight_count(1) == binary_weights > 0


def size_table_rows(text):
    """The rows of the size table `text` (cells), by model name."""
    ((_, rows),) = markdown_tables(text)
    return {row[0]: row for row in rows}


def test_the_docs_size_table_has_a_row_for_every_model_and_no_other():
    committed = size_table_rows(zoo_cli.SIZES_FILE.read_text())  # the docs' zoo page has it
    assert sorted(committed) == zoo.list_models(), "run: python -m zoo sizes"


@pytest.mark.parametrize("name", zoo.list_models())
def test_the_docs_size_table_row_is_the_model_as_built_now(name):
    """Every model as deployed, at its defaults (ImageNet ones at 224x224)."""
    committed = size_table_rows(zoo_cli.SIZES_FILE.read_text())
    assert committed.get(name) == size_table_rows(zoo_cli.sizes_table([name]))[name], \
        "stale: run python -m zoo sizes"


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="nope") as error:
        zoo.get_model("nope")
    for name in MODELS:
        assert name in str(error.value)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("file_name", ["weights.h5", "model.keras", "model.h5"])
def test_weights_from_every_local_format(file_name, tmp_path):
    model = zoo.get_model("bnn_resnet20")
    perturb_all_weights(model)
    path = tmp_path / file_name
    if file_name.startswith("model"):
        model.save(path)
    else:
        model.save_weights(path)
    loaded = zoo.get_model("bnn_resnet20", weights=path)
    x = images((32, 32, 3))
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))


@pytest.mark.parametrize(
    "options, other_model",
    [({"num_classes": 5}, "bnn_resnet20"), ({}, "bnn_vgg7"), ({}, "bnn_small")],
)
def test_weights_that_do_not_fit_are_a_clear_error(options, other_model, tmp_path):
    path = tmp_path / "other.weights.h5"
    zoo.get_model(other_model).save_weights(path)
    with pytest.raises(ValueError, match=r"do not fit zoo model 'bnn_resnet20'") as error:
        zoo.get_model("bnn_resnet20", weights=path, **options)
    assert str(path) in str(error.value)
    assert f"num_classes={options.get('num_classes', 10)}" in str(error.value)


@pytest.mark.parametrize("weights, message", [
    ("imagenet", "No weights 'imagenet' are registered for zoo model 'bnn_small'"),
    ("notes.txt", "No weights 'notes.txt' are registered"),
    ("missing.h5", "there is no such file"),
    ("https://example.com/w.h5", "pass weights_hash="),
    (3, "expected None, a registry key, a file path or a URL"),
])
def test_weights_that_are_nothing_loadable_are_refused(weights, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(ValueError, match=message):
        zoo.get_model("bnn_small", weights=weights)


@pytest.mark.parametrize("name", MODELS)
def test_saves_as_keras_and_as_weights_and_loads_both(name, tmp_path):
    """A `.keras` file loads without custom_objects; a weights file through `weights=`."""
    model = build(name, num_classes=5, **NARROW.get(name, {}))
    perturb_all_weights(model)
    model.save(tmp_path / "model.keras")
    model.save_weights(tmp_path / "model.weights.h5")
    x = images(input_shape(name))
    expected = predict(model, x)

    reloaded = tf.keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(predict(reloaded, x), expected)
    assert [type(layer) for layer in reloaded.layers] == [type(layer) for layer in model.layers]
    # (A build starts from other random weights: equal outputs mean the file was read.)
    loaded = build(name, num_classes=5, weights=str(tmp_path / "model.weights.h5"),
                   **NARROW.get(name, {}))
    np.testing.assert_array_equal(predict(loaded, x), expected)


@pytest.mark.parametrize(
    "shape, stem, expected",
    [((64, 64, 3), None, "cifar"), ((65, 65, 3), None, "imagenet"),
     ((32, 32, 3), "imagenet", "imagenet"), ((224, 224, 3), "cifar", "cifar")],
)
def test_resnet18_stem_follows_the_input_size_or_the_option(shape, stem, expected):
    model = zoo.get_model("bnn_resnet18", input_shape=shape, stem=stem)
    stem_conv = model.get_layer("stem_conv")
    layer_names = [layer.name for layer in model.layers]
    if expected == "cifar":
        assert stem_conv.kernel_size == (3, 3) and stem_conv.strides == (1, 1)
        assert "stem_pool" not in layer_names
        assert model.get_layer("pool").input.shape[1:3] == (shape[0] // 8, shape[1] // 8)
    else:
        assert stem_conv.kernel_size == (7, 7) and stem_conv.strides == (2, 2)
        assert "stem_pool" in layer_names
        assert model.get_layer("pool").input.shape[1] == -(-shape[0] // 32)


def test_resnet18_refuses_an_unknown_stem():
    with pytest.raises(ValueError, match="stem"):
        zoo.get_model("bnn_resnet18", stem="tiny")


@pytest.mark.parametrize(
    "name, shape, minimum",
    [("bnn_alexnet", (62, 62, 3), 63), ("bnn_vgg7", (7, 32, 3), 8),
     ("bnn_vgg_small", (None, None, 3), 8)],
)
def test_too_small_or_unknown_input_sizes_are_clear_errors(name, shape, minimum):
    with pytest.raises(ValueError, match=f"at least {minimum} pixels"):
        zoo.get_model(name, input_shape=shape)


def test_vgg_small_width_multiplier_scales_every_conv():
    model = zoo.get_model("bnn_vgg_small", width_multiplier=0.5)
    assert [layer.filters for layer in conv_layers(model)] == [64, 64, 128, 128, 256, 256]
    with pytest.raises(ValueError, match="width_multiplier"):
        zoo.get_model("bnn_vgg_small", width_multiplier=0)


@pytest.mark.parametrize(
    "name, coupled",
    [("bnn_vgg7", (45, 45, 90, 90, 336, 512)),
     ("bnn_alexnet", (88, 192, 256, 256, 192, 2400, 4096))],
)
def test_filters_give_binaryduo_coupled_widths(name, coupled):
    model = build(name, filters=coupled)
    assert [layer.filters for layer in conv_layers(model)] == list(coupled)
    with pytest.raises(ValueError, match="filters"):
        build(name, filters=coupled[:-1])

"""Tests for `keras_adios.encoders.SmallResNet`."""

import os
import textwrap

import keras
import numpy as np
import pytest

from keras_adios.encoders import SmallResNet
from harness import assert_allclose
from harness import run_encoder_in_classifier_test
from harness import nhwc_output_shape
from harness import non_trainable_count, resnet_param_counts, run_serialization_test, trainable_count

# The defaults; they share their convolution shapes with the ResNet18 tests
# (JAX compiles each new initializer shape eagerly).
WIDTHS = (32, 64, 128)


def test_default_output_dims_and_parameter_count():
    model = SmallResNet()
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 128)
    assert model.feature_dim == 128
    assert np.all(np.isfinite(y))
    assert (trainable_count(model), non_trainable_count(model)) == (
        resnet_param_counts((32, 64, 128), 1, 3, "batch")
    )
    # stem 864+64, stage1 2*9216+2*64, stage2 18432+36864+2048+3*128,
    # stage3 73728+147456+8192+3*256; moving statistics: 2 * 672.
    assert trainable_count(model) == 307_360
    assert non_trainable_count(model) == 1_344


def test_spatial_sizes_and_blocks_per_stage():
    model = SmallResNet(widths=WIDTHS, blocks_per_stage=2)
    assert nhwc_output_shape(model, "conv1") == (None, 32, 32, 32)
    assert nhwc_output_shape(model, "layer1_1_out") == (None, 32, 32, 32)
    assert nhwc_output_shape(model, "layer2_1_out") == (None, 16, 16, 64)
    assert nhwc_output_shape(model, "layer3_1_out") == (None, 8, 8, 128)
    assert model.output_shape == (None, 128)
    # Only the first block of a stage that changes shape has a projection.
    names = {layer.name for layer in model.layers}
    assert "layer1_0_downsample_0" not in names  # 32 -> 32, stride 1
    assert "layer2_0_downsample_0" in names
    assert "layer2_1_downsample_0" not in names
    assert (trainable_count(model), non_trainable_count(model)) == (
        resnet_param_counts(WIDTHS, 2, 3, "batch")
    )


def test_single_stage_identity_shortcut_and_other_channels():
    # A one-stage net whose only stage keeps the stem's width has no
    # projection; the shortcut is the identity.
    model = SmallResNet(input_shape=(None, None, 1), widths=(32,))
    assert not any("downsample" in layer.name for layer in model.layers)
    y = model(np.random.rand(3, 20, 12, 1).astype("float32"))
    assert tuple(y.shape) == (3, 32)
    assert trainable_count(model) == resnet_param_counts((32,), 1, 3, "batch", channels=1)[0]


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_norm_options(norm):
    model = SmallResNet(widths=(32, 48), norm=norm)
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    has_gn = any(isinstance(layer, keras.layers.GroupNormalization) for layer in model.layers)
    assert (has_bn, has_gn) == (norm == "batch", norm == "group")
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert all(c.use_bias == (norm == "none") for c in convs)
    if norm == "group":
        # gcd(32, channels): 32 channels -> 32 groups, 48 -> 16 groups.
        assert model.get_layer("bn1").groups == 32
        assert model.get_layer("layer2_0_bn1").groups == 16
        assert model.get_layer("bn1").epsilon == pytest.approx(1e-5)
    trainable, non_trainable = resnet_param_counts((32, 48), 1, 3, norm)
    assert trainable_count(model) == trainable
    assert non_trainable_count(model) == non_trainable
    y = keras.ops.convert_to_numpy(
        model(np.random.rand(2, 32, 32, 3).astype("float32"), training=True)
    )
    assert y.shape == (2, 48)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"widths": ()}, "widths"),
        ({"widths": (16, 0)}, "widths"),
        ({"widths": (16, "32")}, "widths"),
        ({"widths": 16}, "widths"),
        ({"blocks_per_stage": 0}, "blocks_per_stage"),
        ({"norm": "batchnorm"}, "norm"),
        ({"input_shape": (32, 32, 3, 1)}, "input_shape"),
        ({"input_shape": (-1, 32, 3)}, "input_shape"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        SmallResNet(**kwargs)


def test_get_config_round_trip():
    model = SmallResNet(
        input_shape=(None, None, 3), widths=WIDTHS, blocks_per_stage=2,
        norm="group", name="tiny",
    )
    config = model.get_config()
    for key, value in {
        "input_shape": [None, None, 3],
        "widths": list(WIDTHS),
        "blocks_per_stage": 2,
        "norm": "group",
        "name": "tiny",
    }.items():
        assert config[key] == value
    revived = run_serialization_test(model)
    assert revived.count_params() == model.count_params()


def test_saving_round_trip(tmp_path):
    model = SmallResNet(widths=WIDTHS)
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    # Move the BatchNorm moving statistics away from their initial values
    # so that the round trip also checks the non-trainable weights.
    for _ in range(2):
        model(x, training=True)
    expected = model(x, training=False)
    path = os.path.join(tmp_path, "small_resnet.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, SmallResNet)
    assert restored.get_config() == model.get_config()
    assert_allclose(restored(x, training=False), expected, atol=0, rtol=0)


def test_trains_inside_sequential_classifier(tmp_path):
    classifier, x = run_encoder_in_classifier_test(SmallResNet(widths=WIDTHS), batch=8)
    # The nested encoder survives saving the whole classifier.
    path = os.path.join(tmp_path, "classifier.keras")
    classifier.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.layers[0], SmallResNet)
    assert_allclose(
        restored.predict(x, verbose=0), classifier.predict(x, verbose=0),
        atol=0, rtol=0,
    )


def test_docstring_example_runs():
    code = SmallResNet.__doc__.split("```python")[1].split("```")[0]
    namespace = {}
    exec(textwrap.dedent(code), namespace)
    assert tuple(namespace["features"].shape) == (2, 64)

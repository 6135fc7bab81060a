"""Tests for the private helpers shared by the ResNet encoders."""

import keras
import numpy as np
import pytest

from keras_adios.encoders import resnet_blocks


@pytest.mark.parametrize(
    "channels, groups",
    [(8, 8), (16, 16), (24, 8), (32, 32), (48, 16), (64, 32), (512, 32)],
)
def test_group_count_is_at_most_32_and_divides_channels(channels, groups):
    assert resnet_blocks.num_groups(channels) == groups
    assert channels % groups == 0


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_norm_layer_factory(norm):
    layer = resnet_blocks.norm_layer(norm, 64, name="n")
    if norm == "none":
        assert layer is None
    elif norm == "batch":
        assert isinstance(layer, keras.layers.BatchNormalization)
        # PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1.
        assert (layer.momentum, layer.epsilon) == (0.9, 1e-5)
    else:
        assert isinstance(layer, keras.layers.GroupNormalization)
        assert (layer.groups, layer.epsilon) == (32, 1e-5)


def test_basic_block_shortcuts():
    inputs = keras.Input((8, 8, 16))
    same = resnet_blocks.basic_block(inputs, 16, 1, "batch", name="a")
    down = resnet_blocks.basic_block(inputs, 32, 2, "batch", name="b")
    model = keras.Model(inputs, [same, down])
    names = {layer.name for layer in model.layers}
    assert "a_downsample_0" not in names
    assert {"b_downsample_0", "b_downsample_1"} <= names
    projection = model.get_layer("b_downsample_0")
    assert projection.get_config()["kernel_size"] == (1, 1)
    assert tuple(same.shape) == (None, 8, 8, 16)
    assert tuple(down.shape) == (None, 4, 4, 32)
    # Identity shortcut with zeroed convolutions: output = ReLU(input).
    for name in ("a_conv1", "a_conv2"):
        layer = model.get_layer(name)
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    x = np.random.randn(2, 8, 8, 16).astype("float32")
    out = keras.ops.convert_to_numpy(model(x, training=False)[0])
    # BatchNorm at init in inference: (0 - 0) / sqrt(1 + 1e-5) * 1 + 0 = 0.
    np.testing.assert_allclose(out, np.maximum(x, 0), atol=1e-6)


def test_check_input_shape():
    assert resnet_blocks.check_input_shape([None, 7, 3]) == (None, 7, 3)
    for bad in [(32, 32), (32, 32, None), (0, 32, 3), (32.0, 32, 3), 32, None]:
        with pytest.raises(ValueError, match="Received: input_shape="):
            resnet_blocks.check_input_shape(bad)

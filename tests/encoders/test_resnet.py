"""The one ResNet backbone: ResNet18 and SmallResNet are configurations of it."""

import keras
import numpy as np
import pytest

from harness import run_serialization_test
from keras_adios.encoders import ResNet
from keras_adios.encoders import ResNet18
from keras_adios.encoders import SmallResNet


def _same_network(a, b, shape=(2, 32, 32, 3)):
    assert [w.path for w in a.weights] == [w.path for w in b.weights]
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).uniform(size=shape).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a(x, training=False)), keras.ops.convert_to_numpy(b(x, training=False)),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_resnet18_is_the_four_stage_configuration(stem):
    _same_network(
        ResNet18(stem=stem, width=8),
        ResNet(stage_widths=(8, 16, 32, 64), blocks_per_stage=2, stem=stem, name="resnet18"),
    )


def test_small_resnet_is_the_small_stem_configuration():
    _same_network(
        SmallResNet(widths=(8, 16), blocks_per_stage=2),
        ResNet(stage_widths=(8, 16), blocks_per_stage=2, stem="small", name="small_resnet"),
    )


def test_config_round_trip_and_feature_dim():
    model = ResNet(input_shape=(None, None, 3), stage_widths=(8, 16, 24), blocks_per_stage=1, stem="small")
    revived = run_serialization_test(model)
    assert revived.feature_dim == 24 and revived.stage_widths == (8, 16, 24)
    assert tuple(revived(np.zeros((1, 20, 20, 3), "float32")).shape) == (1, 24)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stem": "vit"}, r"`stem`.*Received: stem='vit'"),
        ({"stage_widths": ()}, r"stage_widths.*Received: stage_widths=\(\)"),
        ({"stage_widths": (8, 0)}, r"stage_widths.*Received"),
        ({"blocks_per_stage": 0}, r"blocks_per_stage.*Received: blocks_per_stage=0"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)


@pytest.mark.parametrize("make", [
    lambda norm: ResNet18(norm=norm, width=32),
    lambda norm: SmallResNet(widths=(32, 64, 128), norm=norm),
], ids=["resnet18", "small_resnet"])
def test_sync_batch_norm(backend, make):
    if backend == "jax":
        with pytest.raises(ValueError, match="DataParallel"):
            make("sync_batch")
        return
    sync, plain = make("sync_batch"), make("batch")
    assert sync.get_layer("bn1").synchronized is True
    sync.set_weights(plain.get_weights())
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    # Single replica / no process group: synchronised statistics equal the local ones.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(sync(x, training=True)), keras.ops.convert_to_numpy(plain(x, training=True)),
        atol=1e-5,
    )



def _call(model, x, training, backend):
    """`model(x)`; a channels-first model on TensorFlow's CPU runs compiled by XLA.

    TensorFlow's own CPU Conv2D kernel takes NHWC only (an UnimplementedError
    for NCHW), XLA's takes both; on a GPU both layouts run as they are.
    """
    import tensorflow as tf

    if backend == "tensorflow" and model.data_format == "channels_first" and not tf.config.list_logical_devices("GPU"):
        return tf.function(lambda t: model(t, training=training), jit_compile=True, autograph=False)(x)
    return model(x, training=training)


@pytest.mark.parametrize("norm, stem", [("batch", "cifar"), ("group", "imagenet")])
def test_feature_layouts_compute_the_same_network(backend, norm, stem, tmp_path):
    last = ResNet(stage_widths=(8, 16), stem=stem, norm=norm, feature_layout="channels_last")
    first = ResNet(stage_widths=(8, 16), stem=stem, norm=norm, feature_layout="channels_first")
    assert last.data_format == "channels_last" and first.data_format == "channels_first"
    assert first.get_layer("layer2_1_out").output.shape[1] == 16  # channels on axis 1 inside
    assert last.get_layer("layer2_1_out").output.shape[-1] == 16
    assert [(w.path, w.shape) for w in last.weights] == [(w.path, w.shape) for w in first.weights]
    # Weights saved from one layout load into the other (a .keras file saved on
    # TensorFlow, "auto" = channels-last, loads on PyTorch as channels-first).
    last.save_weights(tmp_path / "last.weights.h5")
    first.load_weights(tmp_path / "last.weights.h5")
    x = np.random.default_rng(1).normal(size=(3, 32, 32, 3)).astype("float32")
    for training in (True, False):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(_call(first, x, training, backend)),
            keras.ops.convert_to_numpy(last(x, training=training)),
            rtol=1e-4, atol=1e-5,
        )
    # Training statistics land in the same moving averages (BatchNorm) in both layouts.
    for a, b in zip(last.non_trainable_weights, first.non_trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5)


def test_feature_layout_auto_is_channels_first_on_torch_only(backend):
    model = SmallResNet(widths=(8,))
    assert model.feature_layout == "auto"
    assert model.data_format == ("channels_first" if backend == "torch" else "channels_last")
    revived = run_serialization_test(SmallResNet(widths=(8,), feature_layout="channels_first"))
    assert revived.feature_layout == "channels_first" and revived.data_format == "channels_first"
    with pytest.raises(ValueError, match=r"`feature_layout` must be one of .*Received: feature_layout='nchw'"):
        ResNet18(width=8, feature_layout="nchw")

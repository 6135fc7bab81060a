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


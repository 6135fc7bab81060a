import json

import pytest

from keras_adios.data import AugmentationConfig
from harness import run_serialization_test

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize(
    "name, size, mean0",
    [
        ("cifar10", 32, 0.4914),
        ("cifar100", 32, 0.4914),
        ("stl10", 96, 0.4914),
        ("imagenet100", 224, 0.485),
        ("imagenet100s", 96, 0.485),
        ("shapes32", 32, 0.49),
        ("shapes64", 64, 0.49),
    ],
)
def test_presets(name, size, mean0):
    config = AugmentationConfig.preset(name)
    assert config.image_size == size
    assert config.mean[0] == pytest.approx(mean0)
    assert len(config.mean) == len(config.std) == 3


def test_paper_defaults():
    config = AugmentationConfig.preset("stl10")
    assert config.min_scale == 0.08 and config.max_scale == 1.0
    assert config.ratio == pytest.approx((3 / 4, 4 / 3))
    assert (config.brightness, config.contrast, config.saturation, config.hue) == (
        0.8,
        0.8,
        0.8,
        0.2,
    )
    assert config.color_jitter_prob == 0.8 and config.grayscale_prob == 0.2
    assert config.blur_prob == 0.5 and config.solarization_prob == 0.0
    assert config.flip_prob == 0.5 and config.blur_sigma == (0.1, 2.0)
    assert config.std == pytest.approx((0.247, 0.243, 0.261))
    assert AugmentationConfig.preset("imagenet100").eval_crop_fraction == 0.875


def test_synthetic_preset_choices():
    assert AugmentationConfig.preset("shapes32").blur_prob == 0.0
    assert AugmentationConfig.preset("shapes32").min_scale == 0.2
    assert AugmentationConfig.preset("shapes64").blur_prob == 0.5


def test_preset_overrides_and_aliases():
    config = AugmentationConfig.preset("ImageNet100-S", brightness=0.4, hue=0.1)
    assert config.image_size == 96
    assert config.brightness == 0.4 and config.hue == 0.1 and config.contrast == 0.8


def test_unknown_preset():
    with pytest.raises(ValueError, match="cifar10"):
        AugmentationConfig.preset("mnist")


@pytest.mark.parametrize("size, kernel", [(32, 3), (64, 7), (96, 9), (224, 23), (16, 3)])
def test_blur_kernel_size_rule(size, kernel):
    assert AugmentationConfig(size).kernel_size == kernel
    assert AugmentationConfig(size, blur_kernel_size=5).kernel_size == 5


def test_config_round_trip():
    config = AugmentationConfig.preset("imagenet100s", eval_resize_size=256, mean=0.3)
    json.dumps(config.get_config())
    revived = AugmentationConfig.from_config(config.get_config())
    assert revived == config and hash(revived) == hash(config)
    assert revived != AugmentationConfig.preset("imagenet100s")
    assert run_serialization_test(config) == config
    assert "eval_resize_size=256" in repr(config)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 0},
        {"image_size": 32, "min_scale": 0.0},
        {"image_size": 32, "min_scale": 0.5, "max_scale": 0.4},
        {"image_size": 32, "brightness": -0.1},
        {"image_size": 32, "hue": 0.6},
        {"image_size": 32, "flip_prob": 1.5},
        {"image_size": 32, "blur_kernel_size": 4},
        {"image_size": 32, "ratio": (2.0, 1.0)},
        {"image_size": 32, "std": (0.2, 0.0, 0.2)},
        {"image_size": 32, "mean": (0.2, 0.2)},
        {"image_size": 32, "eval_crop_fraction": 0.0},
        {"image_size": 32, "eval_resize_size": 16},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        AugmentationConfig(**kwargs)

"""Tests for `keras_adios.encoders.ResNet18`."""

import os
import textwrap

import keras
import numpy as np
import pytest

from keras_adios.encoders import ResNet18
from harness import assert_allclose
from harness import nhwc_output_shape
from harness import run_encoder_in_classifier_test
from harness import non_trainable_count, resnet_param_counts, run_serialization_test, trainable_count

TORCHVISION_RESNET18_NO_FC = 11_176_512  # 11,689,512 minus fc (512*1000+1000).
# A narrower network for the tests that do not need the full width. Under JAX
# every new variable shape costs an eager compilation; width 32 shares most
# kernel shapes with width 64 (and with SmallResNet's defaults).
W = 32


def test_default_output_is_512_features():
    model = ResNet18()
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 512)
    assert model.output_shape == (None, 512)
    assert model.feature_dim == 512
    assert np.all(np.isfinite(y))
    # Global average pooling of ReLU outputs: non-negative features.
    assert np.all(y >= 0)
    assert y.std() > 0


def test_cifar_stem_parameter_count_matches_torchvision():
    model = ResNet18(input_shape=(32, 32, 3), stem="cifar")
    # torchvision resnet18 without fc, with the 7x7x3x64 conv1 (9408)
    # replaced by solo-learn's 3x3x3x64 conv1 (1728).
    expected = TORCHVISION_RESNET18_NO_FC - 9408 + 1728
    assert expected == 11_168_832
    assert trainable_count(model) == expected
    assert (trainable_count(model), non_trainable_count(model)) == (
        resnet_param_counts((64, 128, 256, 512), 2, 3, "batch")
    )
    # 4800 BatchNorm channels, each with a moving mean and variance.
    assert non_trainable_count(model) == 9600


def test_imagenet_stem_parameter_count_matches_torchvision():
    model = ResNet18(input_shape=(224, 224, 3), stem="imagenet")
    assert trainable_count(model) == TORCHVISION_RESNET18_NO_FC
    assert (trainable_count(model), non_trainable_count(model)) == (
        resnet_param_counts((64, 128, 256, 512), 2, 7, "batch")
    )


def test_cifar_stem_spatial_sizes():
    model = ResNet18(width=W)
    # Padding 2 with a 3x3 stride-1 kernel: 32x32 -> 34x34, no max-pool.
    assert nhwc_output_shape(model, "conv1") == (None, 34, 34, W)
    assert nhwc_output_shape(model, "layer1_1_out") == (None, 34, 34, W)
    assert nhwc_output_shape(model, "layer2_1_out") == (None, 17, 17, 2 * W)
    assert nhwc_output_shape(model, "layer3_1_out") == (None, 9, 9, 4 * W)
    assert nhwc_output_shape(model, "layer4_1_out") == (None, 5, 5, 8 * W)
    assert not any(
        isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers
    )


@pytest.mark.parametrize(
    "size, sizes",
    [
        (224, (112, 56, 56, 28, 14, 7)),
        (96, (48, 24, 24, 12, 6, 3)),
        (33, (17, 9, 9, 5, 3, 2)),
    ],
)
def test_imagenet_stem_spatial_sizes(size, sizes):
    model = ResNet18(input_shape=(size, size, 3), stem="imagenet", width=W)
    names = [
        "conv1",
        "maxpool",
        "layer1_1_out",
        "layer2_1_out",
        "layer3_1_out",
        "layer4_1_out",
    ]
    got = tuple(nhwc_output_shape(model, n)[1] for n in names)
    assert got == sizes
    assert model.get_layer("conv1").get_config()["kernel_size"] == (7, 7)
    assert model.get_layer("conv1").get_config()["strides"] == (2, 2)


@pytest.mark.parametrize(
    "input_shape, stem, call_size",
    [
        ((64, 64, 3), "cifar", 64),
        ((None, None, 3), "cifar", 40),
        ((None, None, 3), "imagenet", 96),
    ],
)
def test_input_sizes(input_shape, stem, call_size):
    model = ResNet18(input_shape=input_shape, stem=stem, width=W)
    y = model(np.random.rand(2, call_size, call_size, 3).astype("float32"))
    assert tuple(y.shape) == (2, 8 * W)
    assert model.output_shape == (None, 8 * W)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_norm_options(norm):
    model = ResNet18(norm=norm, width=W)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 20  # stem + 16 block convs + 3 projections
    # Convolutions carry a bias only when no norm follows them.
    assert all(c.use_bias == (norm == "none") for c in convs)
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    has_gn = any(isinstance(layer, keras.layers.GroupNormalization) for layer in model.layers)
    assert (has_bn, has_gn) == (norm == "batch", norm == "group")
    if norm == "batch":
        bn = model.get_layer("bn1")
        assert bn.momentum == pytest.approx(0.9)
        assert bn.epsilon == pytest.approx(1e-5)
        assert bn.synchronized is False
    if norm == "group":
        assert model.get_layer("bn1").groups == 32
        assert model.get_layer("layer4_0_bn1").groups == 32
    trainable, non_trainable = resnet_param_counts((W, 2 * W, 4 * W, 8 * W), 2, 3, norm)
    assert trainable_count(model) == trainable
    assert non_trainable_count(model) == non_trainable
    y = keras.ops.convert_to_numpy(
        model(np.random.rand(2, 32, 32, 3).astype("float32"), training=True)
    )
    assert y.shape == (2, 8 * W)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stem": "resnet"}, "stem"),
        ({"norm": "layer"}, "norm"),
        ({"width": 0}, "width"),
        ({"width": 8.0}, "width"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"input_shape": (32, 32, 0)}, "input_shape"),
        ({"input_shape": (32, 32, None)}, "input_shape"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        ResNet18(**kwargs)


def test_get_config_round_trip():
    model = ResNet18(input_shape=(None, None, 3), stem="imagenet", width=W)
    config = model.get_config()
    for key, value in {
        "input_shape": [None, None, 3],
        "stem": "imagenet",
        "norm": "batch",
        "width": W,
        "name": "resnet18",
    }.items():
        assert config[key] == value
    revived = run_serialization_test(model)
    assert revived.count_params() == model.count_params()


def test_saving_round_trip(tmp_path):
    model = ResNet18(width=W, name="enc")
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    expected = model(x, training=False)
    path = os.path.join(tmp_path, "resnet18.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, ResNet18)
    assert restored.name == "enc"
    assert restored.get_config() == model.get_config()
    assert_allclose(restored(x, training=False), expected, atol=0, rtol=0)


def test_trains_inside_sequential_classifier():
    run_encoder_in_classifier_test(ResNet18(width=W))


def _torch_resnet18(width, stem):
    """A hand-written copy of torchvision's ResNet-18 (fc removed)."""
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if stem == "cifar":
                self.conv1 = nn.Conv2d(3, width, 3, 1, 2, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()
            c_in = width
            for i, (mult, stride) in enumerate(zip((1, 2, 4, 8), (1, 2, 2, 2))):
                c = width * mult
                stage = nn.Sequential(
                    BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)
                )
                setattr(self, f"layer{i + 1}", stage)
                c_in = c

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(4):
                x = getattr(self, f"layer{i + 1}")(x)
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    return Net()


@pytest.mark.parametrize("stem, size", [("cifar", 32), ("imagenet", 33)])
def test_matches_torch_reference_after_weight_porting(stem, size):
    import torch  # reference implementation only (a test dependency)

    rng = np.random.default_rng(0)
    width = W
    ref = _torch_resnet18(width, stem)
    model = ResNet18(input_shape=(size, size, 3), stem=stem, width=width)
    n_ported = 0
    with torch.no_grad():
        for name, module in ref.named_modules():
            keras_name = name.replace(".", "_")
            if isinstance(module, torch.nn.Conv2d):
                c_out, c_in, kh, kw = module.weight.shape
                # He-scaled so that activations stay O(1) through the net.
                kernel = rng.normal(size=module.weight.shape) * np.sqrt(
                    2.0 / (c_in * kh * kw)
                )
                module.weight.copy_(torch.tensor(kernel))
                model.get_layer(keras_name).kernel.assign(
                    kernel.transpose(2, 3, 1, 0).astype("float32")
                )
                n_ported += 1
            elif isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                gamma = rng.uniform(0.5, 1.5, c)
                beta = rng.normal(size=c) * 0.1
                mean = rng.normal(size=c) * 0.1
                var = rng.uniform(0.5, 1.5, c)
                for t, v in zip(
                    (module.weight, module.bias),
                    (gamma, beta),
                ):
                    t.copy_(torch.tensor(v))
                module.running_mean.copy_(torch.tensor(mean))
                module.running_var.copy_(torch.tensor(var))
                bn = model.get_layer(keras_name)
                bn.set_weights(
                    [a.astype("float32") for a in (gamma, beta, mean, var)]
                )
                n_ported += 1
    assert n_ported == 40  # 20 convs + 20 norms
    x = rng.uniform(size=(2, size, size, 3)).astype("float32")
    x_torch = torch.tensor(x.transpose(0, 3, 1, 2))
    # Inference: moving statistics.
    ref.eval()
    with torch.no_grad():
        expected = ref(x_torch).numpy()
    assert_allclose(model(x, training=False), expected, atol=1e-4, rtol=1e-4)
    # Training: batch statistics.
    ref.train()
    with torch.no_grad():
        expected = ref(x_torch).numpy()
    assert_allclose(model(x, training=True), expected, atol=1e-4, rtol=1e-4)


def test_docstring_example_runs():
    code = ResNet18.__doc__.split("```python")[1].split("```")[0]
    namespace = {}
    exec(textwrap.dedent(code), namespace)
    assert tuple(namespace["features"].shape) == (2, 512)
    assert namespace["encoder"].stem == "imagenet"

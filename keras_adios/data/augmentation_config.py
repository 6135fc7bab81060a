"""Configuration (with per-dataset presets) of the two-view SSL augmentation."""

import keras

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.247, 0.243, 0.261)
STL10_MEAN = (0.4914, 0.4823, 0.4466)
STL10_STD = (0.247, 0.243, 0.261)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.228, 0.224, 0.225)
# Measured on `load_synthetic_shapes("train", 10000, seed=0)` (32 and 64 px
# agree to 4 decimals): per-channel mean 0.485, std 0.167; rounded.
SHAPES_MEAN = (0.49, 0.49, 0.49)
SHAPES_STD = (0.17, 0.17, 0.17)
# The same for `background="shortcut"` (loud backgrounds): mean 0.468, std 0.222.
SHAPES_SHORTCUT_MEAN = (0.47, 0.47, 0.47)
SHAPES_SHORTCUT_STD = (0.22, 0.22, 0.22)

# Sizes and statistics from the ADIOS code (`src/args/utils.py`,
# `pretrain_dataloader.py`); augmentation strengths are the ADIOS defaults
# (`src/args/dataset.py`) used by all of its pretraining scripts.
_PRESETS = {
    "cifar10": dict(image_size=32, mean=CIFAR_MEAN, std=CIFAR_STD),
    "cifar100": dict(image_size=32, mean=CIFAR_MEAN, std=CIFAR_STD),
    # solo-learn's CIFAR pretraining recipe (`scripts/pretrain/cifar/augmentations/`):
    # the same crop (scale 0.08-1), a weaker jitter (0.4, 0.4, 0.2, 0.1; p=0.8),
    # grayscale p=0.2, no blur and no solarisation at 32 px.
    "cifar10sololearn": dict(
        image_size=32, mean=CIFAR_MEAN, std=CIFAR_STD, brightness=0.4, contrast=0.4,
        saturation=0.2, hue=0.1, blur_prob=0.0,
    ),
    "stl10": dict(image_size=96, mean=STL10_MEAN, std=STL10_STD),
    "imagenet100": dict(
        image_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, eval_crop_fraction=0.875
    ),
    "imagenet100s": dict(
        image_size=96, mean=IMAGENET_MEAN, std=IMAGENET_STD, eval_crop_fraction=0.875
    ),
    # Our own choices for the synthetic shapes (no counterpart in the paper):
    # min_scale 0.2 so that a 32 px crop (>= 14x14 px) still shows a good part
    # of an object covering 15-45 % of the image; no blur at 32 px (the 3x3
    # kernel of the 10 % rule mostly just smears the 3-5 px wide parts, as in
    # the SimCLR CIFAR recipe); blur with the usual p=0.5 at 64 px.
    "shapes32": dict(
        image_size=32, mean=SHAPES_MEAN, std=SHAPES_STD, min_scale=0.2, blur_prob=0.0
    ),
    "shapes64": dict(
        image_size=64, mean=SHAPES_MEAN, std=SHAPES_STD, min_scale=0.2, blur_prob=0.5
    ),
}
_PRESETS["shapes32shortcut"] = dict(
    _PRESETS["shapes32"], mean=SHAPES_SHORTCUT_MEAN, std=SHAPES_SHORTCUT_STD
)
_PRESETS["shapes64shortcut"] = dict(
    _PRESETS["shapes64"], mean=SHAPES_SHORTCUT_MEAN, std=SHAPES_SHORTCUT_STD
)


def _check_probability(name, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value}")


def _check_pair(name, value, low):
    value = tuple(float(v) for v in value)
    if len(value) != 2 or not low <= value[0] <= value[1]:
        raise ValueError(
            f"`{name}` must be a pair (min, max) with {low} <= min <= max. "
            f"Received: {name}={value}"
        )
    return value


def _check_triple(name, value, positive):
    if isinstance(value, (int, float)):
        value = (value,) * 3
    value = tuple(float(v) for v in value)
    if len(value) != 3 or (positive and min(value) <= 0):
        raise ValueError(
            f"`{name}` must be a float or 3 floats{' > 0' if positive else ''}. "
            f"Received: {name}={value}"
        )
    return value


@keras.saving.register_keras_serializable(package="keras_adios")
class AugmentationConfig:
    """Settings of the ADIOS/solo-learn two-view augmentation and eval transform.

    The defaults are the ADIOS defaults (`src/args/dataset.py` of the official
    code): RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3), bicubic),
    ColorJitter(0.8, 0.8, 0.8, 0.2) with p=0.8, grayscale p=0.2, Gaussian blur
    (sigma in [0.1, 2]) p=0.5, solarisation p=0, horizontal flip p=0.5, then
    per-channel normalisation. `AugmentationConfig.preset(name)` gives the
    image size and normalisation of each dataset.

    Args:
        image_size: int. Output height and width of the views and of the eval
            transform.
        min_scale: float in (0, 1]. Smallest crop area as a fraction of the
            image area. Defaults to `0.08`.
        max_scale: float in [min_scale, 1]. Largest crop area fraction.
            Defaults to `1.0`.
        ratio: pair of floats. Range of the crop's aspect ratio (width /
            height), sampled log-uniformly. Defaults to `(3/4, 4/3)`.
        brightness, contrast, saturation: floats >= 0. Jitter strengths as in
            torchvision `ColorJitter`: the factor is drawn from
            `[max(0, 1 - s), 1 + s]`. Default to `0.8`.
        hue: float in [0, 0.5]. Hue shift drawn from `[-hue, hue]` (in turns).
            Defaults to `0.2`.
        color_jitter_prob: float. Probability of applying the colour jitter
            (the four adjustments then run in a random order). Defaults to
            `0.8`.
        grayscale_prob: float. Probability of converting to grayscale.
            Defaults to `0.2`.
        blur_prob: float. Probability of a Gaussian blur. Defaults to `0.5`.
        blur_sigma: pair of floats. Range of the blur's standard deviation in
            pixels (of the output view). Defaults to `(0.1, 2.0)`.
        blur_kernel_size: int or `None`. Odd kernel size. `None` means the SimCLR
            rule: `k = int(0.1 * image_size)`, made odd as `2 * (k // 2) + 1`,
            at least 3 (3 at 32 px, 7 at 64, 9 at 96, 23 at 224). Defaults
            to `None`.
        solarization_prob: float. Probability of solarising (inverting values
            >= 0.5). Defaults to `0.0`.
        flip_prob: float. Probability of a horizontal flip. Defaults to
            `0.5`.
        mean, std: float or 3 floats. Per-channel normalisation statistics of
            images in [0, 1]. Default to `0.5`.
        eval_crop_fraction: float in (0, 1]. The eval transform resizes the
            short side to `round(image_size / eval_crop_fraction)` and takes
            the central `image_size` square. `1.0` (the default) is a plain
            resize for square images.
        eval_resize_size: int or `None`. If set, overrides
            `eval_crop_fraction`: the short side is resized to this size
            before the central crop. Defaults to `None`.

    Example:

    ```python
    from keras_adios.data import AugmentationConfig

    config = AugmentationConfig.preset("stl10", brightness=0.4)
    config.image_size  # 96
    AugmentationConfig.from_config(config.get_config()) == config  # True
    ```
    """

    PRESETS = tuple(_PRESETS)

    def __init__(
        self,
        image_size,
        min_scale=0.08,
        max_scale=1.0,
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        brightness=0.8,
        contrast=0.8,
        saturation=0.8,
        hue=0.2,
        color_jitter_prob=0.8,
        grayscale_prob=0.2,
        blur_prob=0.5,
        blur_sigma=(0.1, 2.0),
        blur_kernel_size=None,
        solarization_prob=0.0,
        flip_prob=0.5,
        mean=0.5,
        std=0.5,
        eval_crop_fraction=1.0,
        eval_resize_size=None,
    ):
        if int(image_size) != image_size or image_size < 1:
            raise ValueError(
                f"`image_size` must be a positive integer. Received: image_size={image_size}"
            )
        if not 0.0 < min_scale <= max_scale <= 1.0:
            raise ValueError(
                "Expected 0 < min_scale <= max_scale <= 1. "
                f"Received: min_scale={min_scale}, max_scale={max_scale}"
            )
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"`hue` must be in [0, 0.5]. Received: hue={hue}")
        for name, value in (
            ("color_jitter_prob", color_jitter_prob),
            ("grayscale_prob", grayscale_prob),
            ("blur_prob", blur_prob),
            ("solarization_prob", solarization_prob),
            ("flip_prob", flip_prob),
        ):
            _check_probability(name, value)
        if blur_kernel_size is not None and (
            int(blur_kernel_size) != blur_kernel_size
            or blur_kernel_size < 1
            or blur_kernel_size % 2 == 0
        ):
            raise ValueError(
                "`blur_kernel_size` must be None or a positive odd integer. "
                f"Received: blur_kernel_size={blur_kernel_size}"
            )
        if not 0.0 < eval_crop_fraction <= 1.0:
            raise ValueError(
                "`eval_crop_fraction` must be in (0, 1]. "
                f"Received: eval_crop_fraction={eval_crop_fraction}"
            )
        if eval_resize_size is not None and eval_resize_size < image_size:
            raise ValueError(
                "`eval_resize_size` must be None or >= image_size. "
                f"Received: eval_resize_size={eval_resize_size}, image_size={image_size}"
            )

        # === Config ===
        self.image_size = int(image_size)
        self.min_scale = float(min_scale)
        self.max_scale = float(max_scale)
        self.ratio = _check_pair("ratio", ratio, low=1e-6)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        self.color_jitter_prob = float(color_jitter_prob)
        self.grayscale_prob = float(grayscale_prob)
        self.blur_prob = float(blur_prob)
        self.blur_sigma = _check_pair("blur_sigma", blur_sigma, low=1e-6)
        self.blur_kernel_size = None if blur_kernel_size is None else int(blur_kernel_size)
        self.solarization_prob = float(solarization_prob)
        self.flip_prob = float(flip_prob)
        self.mean = _check_triple("mean", mean, positive=False)
        self.std = _check_triple("std", std, positive=True)
        self.eval_crop_fraction = float(eval_crop_fraction)
        self.eval_resize_size = None if eval_resize_size is None else int(eval_resize_size)

    @property
    def kernel_size(self):
        """The Gaussian blur kernel size actually used (odd, >= 3)."""
        if self.blur_kernel_size is not None:
            return self.blur_kernel_size
        return max(3, 2 * (int(0.1 * self.image_size) // 2) + 1)

    @classmethod
    def preset(cls, name, **overrides):
        """Returns the config of a dataset, optionally with some fields changed.

        Args:
            name: string. One of `"cifar10"`, `"cifar100"` (32 px, CIFAR
                statistics), `"cifar10_solo_learn"` (the same with
                solo-learn's CIFAR jitter 0.4/0.4/0.2/0.1 and no blur), `"stl10"` (96 px), `"imagenet100"` (224 px,
                ImageNet statistics, eval = resize 256 + center crop 224),
                `"imagenet100s"` (96 px, ImageNet statistics, eval = resize
                110 + center crop 96; see `eval_transform` for the ADIOS
                code's 256 -> 96 quirk), `"shapes32"`, `"shapes64"` (the
                synthetic shapes: measured statistics, `min_scale=0.2`, no
                blur at 32 px), `"shapes32_shortcut"`, `"shapes64_shortcut"`
                (the same with the statistics of the loud backgrounds).
            **overrides: any `AugmentationConfig` argument, e.g.
                `brightness=0.4` for the BYOL jitter of the ADIOS scripts.
        """
        key = name.lower().replace("-", "").replace("_", "")
        if key not in _PRESETS:
            raise ValueError(
                f"Unknown augmentation preset {name!r}. Available presets: "
                f"{', '.join(_PRESETS)}."
            )
        kwargs = dict(_PRESETS[key])
        kwargs.update(overrides)
        return cls(**kwargs)

    def get_config(self):
        return {
            "image_size": self.image_size,
            "min_scale": self.min_scale,
            "max_scale": self.max_scale,
            "ratio": list(self.ratio),
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "hue": self.hue,
            "color_jitter_prob": self.color_jitter_prob,
            "grayscale_prob": self.grayscale_prob,
            "blur_prob": self.blur_prob,
            "blur_sigma": list(self.blur_sigma),
            "blur_kernel_size": self.blur_kernel_size,
            "solarization_prob": self.solarization_prob,
            "flip_prob": self.flip_prob,
            "mean": list(self.mean),
            "std": list(self.std),
            "eval_crop_fraction": self.eval_crop_fraction,
            "eval_resize_size": self.eval_resize_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self):
        return hash(repr(sorted(self.get_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

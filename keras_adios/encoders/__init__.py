"""Image encoders: `(B, H, W, C)` images to `(B, D)` features."""

from keras_adios.encoders.resnet import ResNet
from keras_adios.encoders.resnet18 import ResNet18
from keras_adios.encoders.small_resnet import SmallResNet
from keras_adios.encoders.vision_transformer import VisionTransformer
from keras_adios.encoders.vit_tiny import ViTTiny

__all__ = ["ResNet", "ResNet18", "SmallResNet", "ViTTiny", "VisionTransformer"]

"""A tiny ADIOS stand-in: a keras.Model with `.encoder` and `.masker`."""

import keras
import numpy as np
import pytest

IMAGE_SIZE = 8
NUM_CLASSES = 3
MEAN = np.array([0.5, 0.4, 0.3], "float32")
STD = np.array([0.25, 0.2, 0.3], "float32")


class TinyADIOS(keras.Model):
    """Encoder (conv + BN + pooling), optional softmax masker, linear head.

    `call` occludes the input with the first mask, `x * (1 - m_0)`, so the
    masker is part of the graph and trained by `fit`.
    """

    def __init__(self, num_masks=2, with_masker=True, **kwargs):
        super().__init__(**kwargs)
        shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
        self.encoder = keras.Sequential(
            [
                keras.Input(shape),
                keras.layers.Conv2D(4, 3, padding="same"),
                keras.layers.BatchNormalization(),
                keras.layers.GlobalAveragePooling2D(),
            ],
            name="encoder",
        )
        if with_masker:
            self.masker = keras.Sequential(
                [
                    keras.Input(shape),
                    keras.layers.Conv2D(num_masks, 1),
                    keras.layers.Softmax(axis=-1),
                ],
                name="masker",
            )
        else:
            self.masker = None
        self.head = keras.layers.Dense(NUM_CLASSES)

    def call(self, x, training=False):
        if self.masker is not None:
            m = self.masker(x, training=training)
            x = x * (1.0 - m[..., :1])
        return self.head(self.encoder(x, training=training))


@pytest.fixture
def make_model():
    def make(num_masks=2, with_masker=True):
        model = TinyADIOS(num_masks=num_masks, with_masker=with_masker)
        model.compile(
            optimizer=keras.optimizers.SGD(0.05),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    return make


@pytest.fixture
def toy_data():
    """Normalised images whose colour depends on the class, and labels."""
    rng = np.random.default_rng(0)

    def sample(n):
        labels = np.arange(n) % NUM_CLASSES
        colours = np.eye(3, dtype="float32")[labels] * 0.6 + 0.2
        images = colours[:, None, None, :] + 0.05 * rng.normal(
            size=(n, IMAGE_SIZE, IMAGE_SIZE, 3)
        )
        images = np.clip(images, 0.0, 1.0)
        return ((images - MEAN) / STD).astype("float32"), labels

    return sample(24), sample(12)

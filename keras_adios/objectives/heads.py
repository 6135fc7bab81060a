"""Projector / predictor MLP heads shared by the objectives."""

import keras

from keras_adios.layers.batch_normalization import BatchNormalization


def _batch_norm(name, center=True, scale=True):
    # PyTorch BatchNorm1d defaults: momentum 0.1 (Keras 0.9), eps 1e-5.
    return BatchNormalization(
        momentum=0.9, epsilon=1e-5, center=center, scale=scale, name=name
    )


def mlp_head(layer_sizes, batch_norm, name, last_bias=True, last_batch_norm=False):
    """Linear (-> BN) -> ReLU blocks, then a final Linear (-> BN without affine).

    Args:
        layer_sizes: list of ints, the width of each Linear layer, last is the
            output dimension.
        batch_norm: bool, BatchNorm after every hidden Linear (its bias is then
            dropped, as in the authors' heads).
        name: str, name of the returned `keras.Sequential`.
        last_bias: bool, whether the output Linear has a bias.
        last_batch_norm: bool, a non-affine BatchNorm after the output Linear
            (SimSiam's projector).
    """
    layers = []
    for i, width in enumerate(layer_sizes[:-1]):
        layers.append(
            keras.layers.Dense(width, use_bias=not batch_norm, name=f"dense_{i}")
        )
        if batch_norm:
            layers.append(_batch_norm(f"bn_{i}"))
        layers.append(keras.layers.ReLU(name=f"relu_{i}"))
    layers.append(
        keras.layers.Dense(layer_sizes[-1], use_bias=last_bias, name="dense_out")
    )
    if last_batch_norm:
        layers.append(_batch_norm("bn_out", center=False, scale=False))
    return keras.Sequential(layers, name=name)

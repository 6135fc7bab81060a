"""Picking a `tf.distribute` strategy for the machine."""

import keras


def get_strategy(tpu=None, multi_worker=False, verbose=True):
    """Returns the `tf.distribute.Strategy` for this machine (TensorFlow only).

    In order:

    1. `multi_worker=True`: a `MultiWorkerMirroredStrategy` configured from
       the `TF_CONFIG` environment variable (see `keras_adios.distribute`).
    2. A TPU, if `tf.distribute.cluster_resolver.TPUClusterResolver(tpu)`
       finds one (`tpu=None` or `"local"` on a TPU VM, or a TPU name/address):
       the TPU system is initialised and a `TPUStrategy` returned. When
       `tpu` is given explicitly and no TPU is found, the error is raised.
    3. More than one GPU: `MirroredStrategy` over all of them.
    4. Otherwise the default strategy (one GPU or the CPU).

    Create the model, compile it and call `fit` under `strategy.scope()`.
    `keras_adios.ADIOS.compile` then applies, for multi-worker training,
    the Keras 3.15 workaround.

    Args:
        tpu: optional TPU name or address for `TPUClusterResolver`; `None`
            tries the local TPU VM / the `TPU_NAME` environment variable.
        multi_worker: bool, use `MultiWorkerMirroredStrategy` (needs
            `TF_CONFIG` on every worker).
        verbose: bool, print which strategy was chosen.

    Returns:
        A `tf.distribute.Strategy`.

    Example:

    ```python
    strategy = keras_adios.distribute.get_strategy()
    with strategy.scope():
        model = keras_adios.ADIOS(encoder, masker, objective="simclr")
        model.compile(encoder_optimizer=..., masker_optimizer=...)
    model.fit(dataset, epochs=100)
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "`get_strategy` returns a tf.distribute strategy and needs the "
            "TensorFlow backend. On JAX use "
            "`keras.distribution.set_distribution(keras.distribution.DataParallel())`. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    import tensorflow as tf

    def report(strategy, what):
        if verbose:
            print(f"keras_adios: {what} ({strategy.num_replicas_in_sync} replicas in sync)")
        return strategy

    if multi_worker:
        return report(tf.distribute.MultiWorkerMirroredStrategy(), "MultiWorkerMirroredStrategy")
    resolver, tpu = _tpu_resolver(tf, tpu)
    if resolver is not None:
        if tpu != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return report(tf.distribute.TPUStrategy(resolver), "TPUStrategy")
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return report(tf.distribute.MirroredStrategy([g.name for g in gpus]), "MirroredStrategy")
    return report(tf.distribute.get_strategy(), "default strategy")


def _tpu_resolver(tf, tpu):
    """`(TPUClusterResolver or None, tpu)`; raises if a given `tpu` is not found."""
    if tpu is None and tf.config.list_physical_devices("TPU"):
        tpu = "local"  # a TPU VM
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    except (ValueError, RuntimeError, KeyError, tf.errors.NotFoundError):
        if tpu is not None:
            raise
        return None, tpu  # no TPU_NAME, not on a TPU VM or Cloud TPU host
    if tpu is not None or resolver.master():
        return resolver, tpu
    return None, tpu

"""Learning-rate schedules."""

from keras_adios.schedules.warmup_cosine import WarmupCosine

__all__ = ["WarmupCosine"]

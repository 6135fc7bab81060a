"""TensorFlow gradient plumbing for the shared ADIOS step (GradientTape)."""

import tensorflow as tf


class TensorFlowStepMixin:
    """`train_step(data)` / `test_step(data)` for the TensorFlow trainer."""

    def train_step(self, data):
        return self._adios_train_step(data)

    def test_step(self, data):
        return self._adios_test_step(data)

    def _value_and_grad(self, loss_fn, variables):
        # Only the requested variables are watched, so forward passes that do
        # not depend on them (e.g. the frozen reference branch in the masker
        # phase) are not recorded on the tape.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for v in variables:
                tape.watch(v.value)
            loss, aux = loss_fn()
            scaled = self._scale_loss_for_gradients(loss)
        grads = tape.gradient(scaled, [v.value for v in variables])
        grads = [tf.zeros_like(v.value) if g is None else g for g, v in zip(grads, variables)]
        return loss, aux, grads

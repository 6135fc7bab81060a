"""TensorFlow gradient plumbing for the shared ADIOS step (GradientTape)."""

import tensorflow as tf


def _zeros_for_none(grads, sources):
    return [tf.zeros_like(s) if g is None else g for g, s in zip(grads, sources)]


class TensorFlowStepMixin:
    """`train_step(data)` / `test_step(data)` for the TensorFlow trainer."""

    def train_step(self, data):
        return self._adios_train_step(data)

    def test_step(self, data):
        return self._adios_test_step(data)

    def _value_and_grad(self, loss_fn, variables, inputs=()):
        # Only the requested variables (and input tensors) are watched, so
        # forward passes that do not depend on them (e.g. the frozen reference
        # branch in the masker phase) are not recorded on the tape.
        inputs = list(inputs)
        sources = [v.value for v in variables] + inputs
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for source in sources:
                tape.watch(source)
            loss, aux = loss_fn(*inputs)
            scaled = self._scale_loss_for_gradients(loss)
        grads = tape.gradient(scaled, sources)
        return loss, aux, _zeros_for_none(grads, sources)

    def _vjp(self, forward_fn, variables):
        # The tape records only the forward; it is left before the caller
        # continues, so later computations are not recorded on it.
        sources = [v.value for v in variables]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for source in sources:
                tape.watch(source)
            outputs = list(forward_fn())

        def pullback(cotangents):
            grads = tape.gradient(outputs, sources, output_gradients=list(cotangents))
            return _zeros_for_none(grads, sources)

        return outputs, pullback

    def _after(self, tensors, dependencies):
        # Control dependencies: inside a tf.function the executor would
        # otherwise run independent forwards side by side, all alive at once.
        with tf.control_dependencies([d for d in dependencies if d is not None]):
            return [tf.identity(t) for t in tensors]

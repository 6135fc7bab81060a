"""JAX gradient plumbing for the shared ADIOS step (stateless, jit-friendly).

Keras' JAX trainer calls `train_step(state, data)` with the values of every
variable and expects the new values back. The shared ADIOS step is written in
the ordinary stateful style (optimizers' `apply`, `variable.assign`, metric
updates), so here it runs inside a `keras.StatelessScope` that maps every
variable to its value in `state` and collects what the step assigned (the
approach fchollet suggests in keras-team/keras#18881). Gradients are taken
with `jax.value_and_grad` over a function that opens a nested scope in which
the differentiated variables take the traced values; the scope's other
updates (BatchNorm statistics, seed generators) are returned as auxiliary
outputs and re-assigned in the outer scope. The encoder phase's updated
variables therefore feed the masker phase inside one jitted step. `_vjp` uses
the same nested scope under `jax.vjp`: the masks are computed once per step
and their pull-back to the masker weights runs later in the same trace.
"""

import jax
import keras


class JAXStepMixin:
    """`train_step(state, data)` / `test_step(state, data)` for the JAX trainer."""

    def train_step(self, state, data):
        refs = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        return self._run_in_scope(refs, state, lambda: self._adios_train_step(data))

    def test_step(self, state, data):
        refs = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.metrics_variables,
        )
        return self._run_in_scope(refs, state, lambda: self._adios_test_step(data))

    def _run_in_scope(self, refs, state, step_fn):
        mapping = [
            (ref, value)
            for group_refs, group_values in zip(refs, state)
            for ref, value in zip(group_refs, group_values)
        ]
        # Transient trace-time handles: bypass Keras' attribute tracking.
        object.__setattr__(self, "_jax_state_refs", [ref for ref, _ in mapping])
        try:
            with keras.StatelessScope(state_mapping=mapping) as scope:
                object.__setattr__(self, "_jax_scope", scope)
                logs = step_fn()
        finally:
            object.__setattr__(self, "_jax_scope", None)
            object.__setattr__(self, "_jax_state_refs", None)
        new_state = tuple(
            [scope.get_current_value(ref) for ref in group_refs] for group_refs in refs
        )
        return logs, new_state

    def _scoped(self, fn, variables):
        """`fn` as a pure function of `variables`' values, for `jax` transforms.

        Returns `(scoped, values, others)`: `scoped(values, *args)` runs
        `fn(*args)` in a nested `StatelessScope` where `variables` take the
        given (traced) values and every other state variable its current
        value, and returns `(fn's result, the other variables' new values)`;
        `values` are the current values of `variables`; `others` the other
        variables, in the order of their new values.
        """
        outer = getattr(self, "_jax_scope", None)
        if outer is None:
            raise RuntimeError(
                "ADIOS gradients on JAX must be taken inside train_step."
            )
        differentiated = {id(v) for v in variables}
        others = [r for r in self._jax_state_refs if id(r) not in differentiated]
        other_values = [outer.get_current_value(r) for r in others]
        values = [outer.get_current_value(v) for v in variables]

        def scoped(trainable_values, *args):
            mapping = list(zip(others, other_values)) + list(zip(variables, trainable_values))
            with keras.StatelessScope(state_mapping=mapping) as inner:
                result = fn(*args)
            return result, [inner.get_current_value(r) for r in others]

        return scoped, values, others

    def _value_and_grad(self, loss_fn, variables, inputs=()):
        def scaled_loss(*args):
            loss, aux = loss_fn(*args)
            return self._scale_loss_for_gradients(loss), (loss, aux)

        scoped, values, others = self._scoped(scaled_loss, variables)

        def objective(trainable_values, input_values):
            (scaled, (loss, aux)), updated = scoped(trainable_values, *input_values)
            return scaled, (loss, aux, updated)

        (_, (loss, aux, updated)), (grads, input_grads) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True
        )(values, list(inputs))
        for ref, new in zip(others, updated):
            ref.assign(new)
        return loss, aux, list(grads) + list(input_grads)

    def _vjp(self, forward_fn, variables):
        scoped, values, others = self._scoped(lambda: list(forward_fn()), variables)
        outputs, pullback, updated = jax.vjp(scoped, values, has_aux=True)
        for ref, new in zip(others, updated):
            ref.assign(new)

        def pull(cotangents):
            (grads,) = pullback(list(cotangents))
            return list(grads)

        return outputs, pull

    def _after(self, tensors, dependencies):
        # An optimization barrier: XLA may not compute `tensors`' users before
        # `dependencies` are computed (nor move work across it).
        tensors, _ = jax.lax.optimization_barrier((list(tensors), list(dependencies)))
        return list(tensors)

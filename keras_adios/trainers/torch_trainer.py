"""PyTorch gradient plumbing for the shared ADIOS step (autograd)."""

import torch

from keras_adios.distribute import torch_distributed


def _zeros_for_none(grads, sources):
    return [torch.zeros_like(s) if g is None else g for g, s in zip(grads, sources)]


class TorchStepMixin:
    """`train_step(data)` / `test_step(data)` for the PyTorch trainer.

    Gradients are taken with `torch.autograd.grad` on the requested variables
    only, so no `.grad` buffers are written and no `zero_grad` is needed
    between the encoder and masker phases; the shared step applies them under
    `keras_adios.utils.backend_utils.no_grad()` (`torch.no_grad()` here).

    In a `torch.distributed` group (`keras_adios.distribute.torch_distributed`)
    the gradients of the variables are summed across processes here, before
    any optimizer sees them (the losses are already divided by the number of
    processes); gradients with respect to step inputs (the masks) stay local.
    """

    def train_step(self, data):
        return self._adios_train_step(data)

    def test_step(self, data):
        with torch.no_grad():
            return self._adios_test_step(data)

    def _value_and_grad(self, loss_fn, variables, inputs=()):
        with torch.enable_grad():
            inputs = [t.detach().requires_grad_(True) for t in inputs]
            loss, aux = loss_fn(*inputs)
            scaled = self._scale_loss_for_gradients(loss)
            sources = [v.value for v in variables] + inputs
            grads = _zeros_for_none(torch.autograd.grad(scaled, sources, allow_unused=True), sources)
        count = len(variables)
        return loss.detach(), aux, torch_distributed.all_reduce_sum(grads[:count]) + grads[count:]

    def _vjp(self, forward_fn, variables):
        # The forward keeps its graph; the caller only uses detached copies
        # of the outputs until `pullback` runs backward through it once.
        with torch.enable_grad():
            outputs = list(forward_fn())
        sources = [v.value for v in variables]

        def pullback(cotangents):
            # Outputs without a graph (e.g. BYOL's stop-gradient target) pass no gradient.
            pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
            if not pairs:
                return [torch.zeros_like(s) for s in sources]
            grads = torch.autograd.grad(
                [o for o, _ in pairs], sources, grad_outputs=[c for _, c in pairs], allow_unused=True
            )
            return torch_distributed.all_reduce_sum(_zeros_for_none(grads, sources))

        return [o.detach() for o in outputs], pullback

    def _after(self, tensors, dependencies):
        # Eager: every statement has run before the next one starts.
        del dependencies
        return list(tensors)

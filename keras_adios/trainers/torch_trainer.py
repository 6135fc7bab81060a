"""PyTorch gradient plumbing for the shared ADIOS step (autograd)."""

import torch


class TorchStepMixin:
    """`train_step(data)` / `test_step(data)` for the PyTorch trainer.

    Gradients are taken with `torch.autograd.grad` on the requested variables
    only, so no `.grad` buffers are written and no `zero_grad` is needed
    between the encoder and masker phases; the shared step applies them under
    `keras_adios.utils.backend_utils.no_grad()` (`torch.no_grad()` here).
    """

    def train_step(self, data):
        return self._adios_train_step(data)

    def test_step(self, data):
        with torch.no_grad():
            return self._adios_test_step(data)

    def _value_and_grad(self, loss_fn, variables):
        with torch.enable_grad():
            loss, aux = loss_fn()
            scaled = self._scale_loss_for_gradients(loss)
            params = [v.value for v in variables]
            grads = torch.autograd.grad(scaled, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        return loss.detach(), aux, grads

"""Model-gradient saliency for :class:`mixkit.SaliencyMix`."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["gradient_saliency"]


def gradient_saliency(model: Callable[[torch.Tensor], torch.Tensor], *,
                      channel_axis: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    """A saliency function for ``SaliencyMix(saliency=...)``: ``|d top logit / d x|``, max over channels.

    The returned function takes a batch ``(B, C, ...)`` and returns maps ``(B, ...)`` (the channel axis
    removed), computed with gradients enabled and without touching the model's parameter gradients.
    Put the model in the mode you want (``eval()`` keeps batch-norm statistics untouched).
    """

    def saliency(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"gradient_saliency needs a torch.Tensor batch, got {type(x).__name__}")
        xg = x.detach().to(torch.float32 if not x.is_floating_point() else x.dtype).requires_grad_(True)
        with torch.enable_grad():
            logits = model(xg)
            if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                raise ValueError(f"the model must return logits (B, C) for B={x.shape[0]}, got {tuple(logits.shape)}")
            (grad,) = torch.autograd.grad(logits.max(dim=1).values.sum(), xg)
        return grad.abs().amax(dim=channel_axis).detach()

    return saliency

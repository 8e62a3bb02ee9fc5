"""Losses for mixed labels."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..labels import MixedTargets

__all__ = ["mixed_cross_entropy", "soft_cross_entropy"]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Cross entropy with soft targets: ``-(targets * log_softmax(logits)).sum(-1)``.

    ``logits``: ``(B, C)``; ``targets``: ``(B, C)`` rows of probabilities (or mixed one-hots).
    """
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits and targets must have the same shape (B, C); got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    loss = -(targets.to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum(-1)
    return _reduce(loss, reduction)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mixed_cross_entropy(logits: torch.Tensor, targets: Any, *, reduction: str = "mean") -> torch.Tensor:
    """Cross entropy for mixed labels, equal to the dense soft-target cross entropy.

    ``targets``: dense ``(B, C)`` soft targets, or a :class:`~mixkit.MixedTargets` pair
    ``(y_a, y_b, lam)``: then ``lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)`` per sample,
    without building ``(B, C)`` targets (index labels; label smoothing as stored in the pair).
    """
    if not isinstance(targets, MixedTargets):
        if not isinstance(targets, torch.Tensor):
            raise TypeError(
                f"targets must be a (B, C) tensor or mixkit.MixedTargets, got {type(targets).__name__}"
            )
        return soft_cross_entropy(logits, targets, reduction=reduction)
    if logits.ndim != 2 or logits.shape[0] != len(targets):
        raise ValueError(
            f"logits must have shape (B, C) with B={len(targets)} to match the targets, got {tuple(logits.shape)}"
        )
    lam = torch.as_tensor(targets.lam, device=logits.device, dtype=logits.dtype)
    eps = targets.label_smoothing

    def one(y: Any) -> torch.Tensor:
        y = torch.as_tensor(y, device=logits.device)
        if y.ndim == 1:
            return F.cross_entropy(logits, y.long(), reduction="none", label_smoothing=eps)
        t = y.to(logits.dtype)
        if eps:
            t = t * (1.0 - eps) + eps / t.shape[-1]
        return soft_cross_entropy(logits, t, reduction="none")

    loss = lam * one(targets.y_a) + (1.0 - lam) * one(targets.y_b)
    return _reduce(loss, reduction)

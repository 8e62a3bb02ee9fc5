"""Losses for mixed labels: soft-target cross entropy and binary cross entropy for multi-label targets."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..labels import MixedTargets

__all__ = ["mixed_binary_cross_entropy", "mixed_cross_entropy", "soft_cross_entropy"]


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
    _refuse_continuous(targets, "mixed_cross_entropy")
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


def _refuse_continuous(targets: MixedTargets, name: str) -> None:
    if getattr(targets, "targets", "classes") == "continuous":
        raise ValueError(
            f"{name} takes class labels, but these MixedTargets hold continuous (regression) targets; use a "
            "regression loss on each side, lam * loss(pred, y_a) + (1 - lam) * loss(pred, y_b), or on "
            "targets.dense()"
        )


def _multi_hot_rows(y: Any, logits: torch.Tensor, num_classes: int | None, eps: float, name: str) -> torch.Tensor:
    """One side of a pair form as float rows ``(B, C)`` in ``logits``' dtype and device."""
    y = torch.as_tensor(y, device=logits.device)
    c = logits.shape[1]
    if y.ndim == 1:
        if y.is_floating_point() or y.dtype == torch.bool:
            raise TypeError(f"{name} of shape {tuple(y.shape)} must hold integer class indices, got dtype {y.dtype}")
        if num_classes is not None and num_classes != c:
            raise ValueError(
                f"the pair form was built for num_classes={num_classes} but logits have {c} columns"
            )
        t = F.one_hot(y.long(), c).to(logits.dtype)
    elif y.ndim == 2:
        if y.shape[1] != c:
            raise ValueError(
                f"{name} has {y.shape[1]} columns but logits have {c}; multi-hot rows (B, C) must match the "
                "logits (B, C)"
            )
        t = y.to(logits.dtype)
    else:
        raise ValueError(
            f"{name} must be class indices (B,) or multi-hot rows (B, C), got shape {tuple(y.shape)}"
        )
    return t * (1.0 - eps) + eps / c if eps else t


def mixed_binary_cross_entropy(logits: torch.Tensor, targets: Any, *, reduction: str = "mean",
                               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross entropy with logits for mixed multi-label targets, equal to the dense BCE.

    ``logits``: ``(B, C)``, one independent logit per class. ``targets``: dense ``(B, C)`` targets in
    ``[0, 1]`` (weighted multi-hot rows, ``lam * y + (1 - lam) * y[partner]``, need not sum to 1), or
    a :class:`~mixkit.MixedTargets` pair ``(y_a, y_b, lam)`` holding multi-hot rows ``(B, C)`` (or class
    indices ``(B,)``, taken as one-hot rows). BCE is linear in the target, so the pair form gives
    ``lam * BCE(logits, y_a) + (1 - lam) * BCE(logits, y_b)`` per element, which equals
    ``F.binary_cross_entropy_with_logits`` on the dense mixed target (label smoothing as stored in
    the pair). ``reduction``: ``"mean"`` over all ``B * C`` elements, ``"sum"``, or ``"none"`` for
    ``(B, C)``; ``pos_weight``: ``(C,)``, as in torch.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch tensor (B, C), got {type(logits).__name__}")
    if pos_weight is not None:
        pos_weight = torch.as_tensor(pos_weight, device=logits.device, dtype=logits.dtype)
    if not isinstance(targets, MixedTargets):
        if not isinstance(targets, torch.Tensor):
            raise TypeError(
                f"targets must be a (B, C) tensor or mixkit.MixedTargets, got {type(targets).__name__}"
            )
        if logits.shape != targets.shape:
            raise ValueError(
                f"logits and targets must have the same shape (B, C); got {tuple(logits.shape)} and "
                f"{tuple(targets.shape)}"
            )
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction=reduction,
                                                  pos_weight=pos_weight)
    if logits.ndim != 2 or logits.shape[0] != len(targets):
        raise ValueError(
            f"logits must have shape (B, C) with B={len(targets)} to match the targets, got {tuple(logits.shape)}"
        )
    _refuse_continuous(targets, "mixed_binary_cross_entropy")
    eps = targets.label_smoothing
    ta = _multi_hot_rows(targets.y_a, logits, targets.num_classes, eps, "targets.y_a")
    tb = _multi_hot_rows(targets.y_b, logits, targets.num_classes, eps, "targets.y_b")
    lam = torch.as_tensor(targets.lam, device=logits.device, dtype=logits.dtype).reshape(-1, 1)

    def bce(t: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, t, reduction="none", pos_weight=pos_weight)

    loss = lam * bce(ta) + (1.0 - lam) * bce(tb)
    return _reduce(loss, reduction)

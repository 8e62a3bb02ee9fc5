"""Segmentation masks mixed with the plan of their image.

A mask batch is ``(B, *S)`` of integer class ids, whose trailing dimensions are the dimensions the
plan cuts (``plan.sizes``; e.g. ``(B, H, W)`` for NCHW images cut over ``(-2, -1)``); any leading
dimensions after the batch (frames of a video, ...) are taken whole. Convention as everywhere:
the sample keeps ``lam`` of its own data and takes ``1 - lam`` from ``partner``.

- A :class:`~mixkit.BoxPlan` pastes the same box into the mask (dtype kept).
- A binary :class:`~mixkit.MaskPlan` (FMix, ClassMix, ...) copies the same pixels (dtype kept).
- A blend (MixUp) or a soft mask gives per-pixel soft targets ``(B, C, *S)``, or with
  ``label_format="pair"`` a :class:`MixedMasks` ``(mask_a, mask_b, lam)`` for a two-term loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._xp import backend, dtype_kind
from ..kernels import mask_mix, paste
from ._common import like, plan_kind, take_rows, unsupported

__all__ = ["MixedMasks", "check_mask", "mask_axes", "mix_by_geometry", "mix_masks", "pixel_weights", "soft_masks", "spatial_sizes"]


def mask_axes(plan: Any, mask_ndim: int) -> tuple[int, ...]:
    """The mask's axes for the plan's cut axes: its last ``len(plan.axes)`` ones, in the same order."""
    k = len(plan.axes)
    rank = np.argsort(np.argsort(plan.axes))
    return tuple(int(mask_ndim - k + r) for r in rank)


def spatial_sizes(plan: Any) -> tuple[int, ...]:
    """The plan's cut sizes in increasing axis order: the trailing shape a companion must have."""
    order = np.argsort(plan.axes)
    return tuple(int(plan.sizes[i]) for i in order)


def pixel_weights(plan: Any, ndim: int) -> np.ndarray:
    """A mask plan's ``(B, *sizes)`` weights reshaped to broadcast over a companion of ``ndim`` dims."""
    order = np.argsort(plan.axes)
    m = np.transpose(np.asarray(plan.mask), (0,) + tuple(int(i) + 1 for i in order))
    k = len(plan.axes)
    return m.reshape((m.shape[0],) + (1,) * (ndim - 1 - k) + m.shape[1:])


def check_mask(mask: Any, x_shape: tuple[int, ...], spatial: tuple[int, ...], name: str = "mask") -> None:
    """A mask must be an integer batch ``(B, ..., *spatial)`` matching the image ``x_shape``."""
    try:
        kind = backend(mask)
    except TypeError:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(mask).__name__}") from None
    if kind == "array_api":
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(mask).__name__}")
    if dtype_kind(mask) not in "ui":
        raise TypeError(
            f"{name} must hold integer class ids (e.g. uint8 or int64), got dtype {mask.dtype}; "
            "soft masks are made by the mixing itself"
        )
    shape = tuple(int(s) for s in mask.shape)
    k = len(spatial)
    if len(shape) < k + 1 or shape[0] != x_shape[0] or shape[len(shape) - k:] != tuple(spatial):
        raise ValueError(
            f"{name} must have shape (B, ..., {', '.join(map(str, spatial))}) to match the image's batch "
            f"{x_shape[0]} and spatial size {tuple(spatial)} (image shape {tuple(x_shape)}); got {shape}"
        )


@dataclass(frozen=True, eq=False)
class MixedMasks:
    """Pair form of mixed segmentation targets: pixel-wise ``lam * CE(mask_a) + (1 - lam) * CE(mask_b)``.

    ``mask_a``/``mask_b``: ``(B, *S)`` class ids; ``lam``: float ``(B,)`` (the weight of ``mask_a``).
    """

    mask_a: Any
    mask_b: Any
    lam: np.ndarray
    num_classes: int | None = None
    ignore_index: int | None = None

    def cross_entropy(self, logits: Any, *, reduction: str = "mean") -> Any:
        """Pixel-wise ``lam * CE(logits, mask_a) + (1 - lam) * CE(logits, mask_b)`` for torch logits
        ``(B, C, *S)``, without building ``(B, C, *S)`` targets; ignored pixels add nothing."""
        import torch
        import torch.nn.functional as F

        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        dev = logits.device
        def ids(m: Any) -> Any:
            t = torch.from_numpy(np.array(m, dtype=np.int64)) if backend(m) == "numpy" else m
            return t.to(dev).long()

        a, b = ids(self.mask_a), ids(self.mask_b)
        if tuple(logits.shape[:1]) + tuple(logits.shape[2:]) != tuple(a.shape):
            raise ValueError(
                f"logits must have shape (B, C, *S) with (B, *S) = {tuple(a.shape)}, got {tuple(logits.shape)}"
            )
        ignore = -100 if self.ignore_index is None else int(self.ignore_index)
        la = F.cross_entropy(logits, a, reduction="none", ignore_index=ignore)
        lb = F.cross_entropy(logits, b, reduction="none", ignore_index=ignore)
        lam = torch.from_numpy(np.array(self.lam, dtype=np.float64)).to(dev, logits.dtype)
        lam = lam.view((-1,) + (1,) * (la.dim() - 1))
        loss = lam * la + (1 - lam) * lb
        if reduction == "none":
            return loss
        return loss.mean() if reduction == "mean" else loss.sum()

    def dense(self, num_classes: int | None = None) -> Any:
        """Soft targets ``(B, C, *S)``: ``lam * one_hot(mask_a) + (1 - lam) * one_hot(mask_b)``."""
        c = num_classes if num_classes is not None else self.num_classes
        if c is None:
            raise ValueError("MixedMasks.dense needs num_classes")
        a = one_hot_map(self.mask_a, c, self.ignore_index)
        b = one_hot_map(self.mask_b, c, self.ignore_index)
        w = like(np.asarray(self.lam, np.float64).reshape((-1,) + (1,) * (len(a.shape) - 1)), a)
        return w * a + (1 - w) * b


def one_hot_map(mask: Any, num_classes: int, ignore_index: int | None = None) -> Any:
    """One-hot float32 ``(B, C, *S)`` for class ids ``(B, *S)``; ignored pixels get all zeros."""
    if backend(mask) == "torch":
        import torch

        m = mask.long()
        valid = (m >= 0) & (m < num_classes)
        if ignore_index is not None:
            valid &= m != ignore_index
        out = torch.zeros((m.shape[0], num_classes) + tuple(m.shape[1:]), dtype=torch.float32, device=m.device)
        out.scatter_(1, torch.where(valid, m, 0).unsqueeze(1), valid.unsqueeze(1).float())
        return out
    m = np.asarray(mask).astype(np.int64)
    classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (m.ndim - 1))
    out = (m[:, None] == classes).astype(np.float32)
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        out *= (m != ignore_index)[:, None]
    return out


def soft_masks(mask: Any, partner: np.ndarray, weight: np.ndarray, num_classes: int,
               ignore_index: int | None = None) -> Any:
    """Per-pixel soft targets ``w * one_hot(mask) + (1 - w) * one_hot(mask[partner])``.

    ``weight``: ``(B,)`` (one ``lam`` per sample) or ``(B, *S)`` (a weight per pixel); result float32
    ``(B, C, *S)`` in the mask's library.
    """
    own = one_hot_map(mask, num_classes, ignore_index)
    other = one_hot_map(take_rows(mask, partner), num_classes, ignore_index)
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim == 1:
        w = w.reshape((-1,) + (1,) * (len(own.shape) - 1))
    else:
        w = w[:, None]
    w = like(w, own)
    return w * own + (1 - w) * other


def _check_classes(mask: Any, num_classes: int | None, ignore_index: int | None) -> int:
    if num_classes is None:
        raise ValueError(
            "blending a segmentation mask gives per-pixel soft targets, which need the number of mask "
            "classes: pass mask_classes=C (or num_classes=C to the transform)"
        )
    m = np.asarray(mask.detach().cpu() if backend(mask) == "torch" else mask)
    bad = (m < 0) | (m >= num_classes)
    if ignore_index is not None:
        bad &= m != ignore_index
    if bad.any():
        raise ValueError(
            f"mask holds class id {int(m[bad].flat[0])}, outside [0, {num_classes}); pass the right "
            "mask_classes, or ignore_index for the void label"
        )
    return int(num_classes)


def mix_masks(plan: Any, mask: Any, *, num_classes: int | None = None, label_format: str = "dense",
              ignore_index: int | None = None) -> Any:
    """Mix a segmentation mask ``(B, ..., *S)`` with the image's ``plan`` (see the module doc).

    Returns class ids of the mask's dtype for a paste (box or binary mask), soft targets
    ``(B, C, ..., *S)`` float32 for a blend, or :class:`MixedMasks` for a blend with
    ``label_format="pair"``. The same as ``plan.mix_mask(mask, ...)``.
    """
    return plan.mix_mask(mask, num_classes=num_classes, label_format=label_format, ignore_index=ignore_index)


def mix_by_geometry(plan: Any, mask: Any, *, num_classes: int | None = None, label_format: str = "dense",
                    ignore_index: int | None = None) -> Any:
    """:func:`mix_masks` for a plan of the ``"box"``, ``"mask"`` or ``"blend"`` geometry."""
    kind = plan_kind(plan)
    if kind == "custom":
        raise unsupported(plan, "segmentation masks")
    if kind == "box":
        return paste(mask, plan.partner, plan.start, plan.stop, mask_axes(plan, len(mask.shape)))
    if kind == "mask" and plan.binary:
        return mask_mix(mask, plan.partner, plan.mask, mask_axes(plan, len(mask.shape)))
    if kind == "mask":
        c = _check_classes(mask, num_classes, ignore_index)
        weight = np.broadcast_to(pixel_weights(plan, len(mask.shape)), tuple(int(s) for s in mask.shape))
        return soft_masks(mask, plan.partner, weight, c, ignore_index)
    if label_format == "pair":
        return MixedMasks(mask, take_rows(mask, plan.partner), np.asarray(plan.lam), num_classes, ignore_index)
    c = _check_classes(mask, num_classes, ignore_index)
    return soft_masks(mask, plan.partner, plan.lam, c, ignore_index)

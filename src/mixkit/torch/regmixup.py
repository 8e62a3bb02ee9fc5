"""RegMixup (Pinto et al., NeurIPS 2022): mixing as a regulariser added to the clean loss.

Each step trains on the clean batch and on a mixed copy of it::

    loss = CE(model(x), y) + weight * CE(model(x_mixed), y_mixed)

with ``x_mixed = lam * x + (1 - lam) * x[partner]`` and ``lam ~ Beta(alpha, alpha)`` for a large
``alpha``, so ``lam`` stays near 0.5. The authors' code uses ``alpha = 20`` (its default, and for
CIFAR-10) and ``alpha = 10`` for CIFAR-100, one ``lam`` per batch, and sends the clean and the mixed
halves through the model as one batch of twice the size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..labels import MixedTargets, check_labels, one_hot, smooth_labels
from ..methods._base import check_num_classes
from ..methods.mixup import MixUp
from ..plan import MixPlan
from .losses import mixed_cross_entropy, soft_cross_entropy

__all__ = ["RegMixup", "RegMixupBatch"]

#: the authors' code's default ``alpha`` (``Beta(20, 20)``: ``lam`` within about 0.5 +- 0.08)
DEFAULT_ALPHA = 20.0


def _clean_ce(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float, reduction: str) -> torch.Tensor:
    """Cross entropy of the clean half: class indices ``(B,)`` or rows ``(B, C)``."""
    if y.ndim == 1:
        return F.cross_entropy(logits, y.long(), reduction=reduction, label_smoothing=label_smoothing)
    t = y.to(logits.dtype)
    if label_smoothing:
        t = smooth_labels(t, label_smoothing)
    return soft_cross_entropy(logits, t, reduction=reduction)


@dataclass(frozen=True, eq=False)
class RegMixupBatch:
    """The two halves of one RegMixup step.

    ``clean_x``, ``clean_y``: the batch ``(B, ...)`` and labels as given (the same objects, not
    copies). ``mixed_x``: ``(B, ...)``, ``lam * x + (1 - lam) * x[partner]`` by ``plan``;
    ``mixed_y``: the mixer's targets for it (dense ``(B, C)`` or :class:`~mixkit.MixedTargets`).
    ``weight``: the mixed half's weight in the loss. ``num_classes`` and ``label_smoothing`` are the
    mixer's, used for the clean targets.
    """

    clean_x: torch.Tensor
    clean_y: torch.Tensor
    mixed_x: torch.Tensor
    mixed_y: Any
    weight: float
    plan: MixPlan
    num_classes: int | None = None
    label_smoothing: float = 0.0

    def __len__(self) -> int:
        return int(self.clean_x.shape[0])

    def clean_targets(self) -> Any:
        """The clean labels in the mixed half's form: dense ``(B, C)`` rows (one-hot for class
        indices, smoothed as the mixer smooths), or a :class:`~mixkit.MixedTargets` with ``lam = 1``."""
        y = self.clean_y
        if isinstance(self.mixed_y, MixedTargets):
            lam = torch.ones(y.shape[0], dtype=self.mixed_y.lam.dtype, device=y.device)
            return MixedTargets(y, y, lam, self.num_classes, self.label_smoothing)
        if y.ndim == 1:
            t = one_hot(y, int(self.num_classes), dtype=self.mixed_y.dtype)  # type: ignore[arg-type]
        else:
            t = y.to(self.mixed_y.dtype)
        return smooth_labels(t, self.label_smoothing) if self.label_smoothing else t

    def concat(self) -> tuple[torch.Tensor, Any]:
        """``(x, targets)`` of the whole step: ``x`` ``(2B, ...)``, clean samples first, then mixed;
        ``targets`` dense ``(2B, C)`` or one :class:`~mixkit.MixedTargets` of length ``2B``.

        A new tensor of twice the batch. A plain mean of a loss over it weighs both halves equally
        (``(CE_clean + CE_mixed) / 2``, as the authors' code trains); :meth:`loss` applies ``weight``.
        """
        x = torch.cat([self.clean_x, self.mixed_x.to(self.clean_x.dtype)], dim=0)
        clean = self.clean_targets()
        if isinstance(self.mixed_y, MixedTargets):
            m = self.mixed_y
            y_a = torch.cat([clean.y_a, m.y_a.to(clean.y_a.dtype)], dim=0)
            y_b = torch.cat([clean.y_b, m.y_b.to(clean.y_b.dtype)], dim=0)
            lam = torch.cat([clean.lam, m.lam.to(clean.lam.dtype)], dim=0)
            return x, MixedTargets(y_a, y_b, lam, m.num_classes, m.label_smoothing)
        return x, torch.cat([clean, self.mixed_y], dim=0)

    def loss(self, model: Callable[[torch.Tensor], torch.Tensor] | None = None, *, logits: torch.Tensor | None = None,
             loss_fn: Callable[[torch.Tensor, Any], torch.Tensor] | None = None) -> torch.Tensor:
        """``loss_fn(clean) + weight * loss_fn(mixed)``.

        Either ``model`` (a callable ``x -> logits``), which sees both halves in ONE forward pass of
        ``(2B, ...)`` (so batch norm sees the two together, as in the authors' code), or ``logits``
        ``(2B, C)`` already computed on :meth:`concat`'s ``x``. ``loss_fn(logits, targets)`` defaults
        to cross entropy: class indices or rows for the clean half (smoothed as the mixer smooths), the
        mixed targets through :func:`~mixkit.torch.mixed_cross_entropy`. A loss of your own receives
        the clean labels as given and the mixed targets in the mixer's label format, e.g.
        :func:`~mixkit.torch.mixed_binary_cross_entropy` for multi-hot labels.
        """
        if (model is None) == (logits is None):
            raise ValueError("RegMixupBatch.loss needs exactly one of model (x -> logits) or logits=")
        b = len(self)
        if model is not None:
            if not callable(model):
                raise TypeError(f"model must be a callable x -> logits, got {type(model).__name__}")
            logits = model(torch.cat([self.clean_x, self.mixed_x.to(self.clean_x.dtype)], dim=0))
        if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or logits.shape[0] != 2 * b:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(
                f"logits must cover both halves, clean then mixed: shape (2B, C) with 2B={2 * b}, got {shape}"
            )
        clean_logits, mixed_logits = logits[:b], logits[b:]
        if loss_fn is None:
            clean = _clean_ce(clean_logits, self.clean_y, self.label_smoothing, "mean")
            mixed = mixed_cross_entropy(mixed_logits, self.mixed_y)
        else:
            clean = loss_fn(clean_logits, self.clean_y)
            mixed = loss_fn(mixed_logits, self.mixed_y)
        return clean + self.weight * mixed


class RegMixup:
    """RegMixup (Pinto et al., 2022): ``batch = RegMixup(num_classes=10)(x, y, rng=gen)``.

    Returns a :class:`RegMixupBatch` holding the clean batch (``x`` and ``y`` themselves, untouched)
    and a mixed copy from ``mixer`` (``out = lam * x + (1 - lam) * x[partner]``), with its targets and
    the loss weight; ``batch.loss(model)`` is ``CE(clean) + weight * CE(mixed)``, and
    ``batch.concat()`` gives the ``(2B, ...)`` batch with its ``(2B, C)`` targets.

    Args:
        mixer: any mixkit method (``MixUp``, ``CutMix``, ``OneOf``, ...). Default:
            ``MixUp(20.0, num_classes=num_classes)``, one ``lam ~ Beta(20, 20)`` per batch, the
            default of the authors' code (they use ``alpha = 20`` on CIFAR-10, ``10`` on CIFAR-100).
        weight: the mixed loss's weight (the paper's ``eta``), default 1.0. The authors' code takes
            one mean over the ``2B`` batch, which is half of ``CE(clean) + 1.0 * CE(mixed)``.
        num_classes: for class-index labels with the default mixer (a given mixer has its own).

    Cost: every step runs the model on twice the batch (``2B`` samples), so about twice the
    compute and activation memory of a plain or a MixUp step at the same ``B``.
    """

    def __init__(self, mixer: Any = None, *, weight: float = 1.0, num_classes: int | None = None) -> None:
        num_classes = check_num_classes(num_classes)
        if mixer is None:
            mixer = MixUp(DEFAULT_ALPHA, num_classes=num_classes)
        else:
            if not (callable(getattr(mixer, "sample", None)) and callable(getattr(mixer, "apply", None))):
                raise TypeError(
                    f"mixer must be a mixkit method with sample() and apply() (e.g. mixkit.MixUp(20.0)), "
                    f"got {type(mixer).__name__}"
                )
            if num_classes is not None and getattr(mixer, "num_classes", None) != num_classes:
                raise ValueError(
                    f"num_classes={num_classes} is for the default mixer; the given mixer has "
                    f"num_classes={getattr(mixer, 'num_classes', None)!r}: set it on the mixer"
                )
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
            raise TypeError(f"weight must be a number >= 0, got {type(weight).__name__}")
        if not (math.isfinite(float(weight)) and float(weight) >= 0.0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        self.mixer = mixer
        self.weight = float(weight)

    def __call__(self, x: torch.Tensor, y: Any, *, rng: Any = None) -> RegMixupBatch:
        """Sample a plan for ``x`` ``(B, ...)`` and labels ``y`` (class indices ``(B,)`` or rows ``(B, C)``)
        and return both halves; ``x`` and ``y`` are not modified."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor (B, ...), got {type(x).__name__}")
        if not isinstance(y, torch.Tensor):
            raise TypeError(
                f"y must be a torch tensor of class indices (B,) or rows (B, C), got {type(y).__name__}; "
                "RegMixup needs the labels of the clean half"
            )
        y = check_labels(y, int(x.shape[0]), getattr(self.mixer, "num_classes", None))
        plan = self.mixer.sample(int(x.shape[0]), rng=rng, shape=tuple(x.shape), x=x, y=y)
        mixed = self.mixer.apply(plan, x, y)
        return RegMixupBatch(x, y, mixed.x, mixed.y, self.weight, plan,
                             getattr(self.mixer, "num_classes", None), getattr(self.mixer, "label_smoothing", 0.0))

    def __repr__(self) -> str:
        return f"RegMixup({self.mixer!r}, weight={self.weight!r})"

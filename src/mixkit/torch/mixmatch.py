"""MixMatch (Berthelot et al., 2019): the loss of one semi-supervised training step.

The user brings the model, the augmentation and the optimiser; :class:`MixMatch` guesses labels for
the unlabelled batch, mixes labelled and unlabelled samples together with MixUp (one plan for inputs
and targets, ``lam = max(lam, 1 - lam)`` so each sample keeps the larger share) and returns the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import as_generator, check_alpha
from ..labels import as_targets, check_labels
from ..methods._base import apply_plan
from ..methods.masks import check_positive
from ..methods.mixup import MixUp
from ..plan import MixPlan
from .losses import soft_cross_entropy

__all__ = ["MixMatch", "MixMatchLoss", "sharpen"]


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """``p ** (1 / T)`` renormalised over the last axis: rows of ``p`` ``(B, C)`` move towards one-hot."""
    q = p.clamp_min(0) ** (1.0 / temperature)
    return q / q.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(q.dtype).tiny)


class MixMatchLoss(NamedTuple):
    """``loss = labelled + weight * unlabelled`` (``loss`` has a graph; the others are detached)."""

    loss: torch.Tensor
    labelled: torch.Tensor
    unlabelled: torch.Tensor
    weight: float


class MixMatch:
    """The MixMatch loss for one step: ``mm(model, x, y, u, step=s, rng=gen).loss.backward()``.

    Per step: K augmentations of the unlabelled batch ``u`` go through the model without gradient;
    their softmax outputs are averaged and sharpened with temperature ``T`` into the guessed
    labels. The labelled batch (one-hot targets) and the K unlabelled views (guessed targets) are
    concatenated, shuffled partners are drawn over the whole of it, and each sample is blended with
    its partner by MixUp with ``lam ~ Beta(alpha, alpha)``, ``lam = max(lam, 1 - lam)``. The loss is
    cross-entropy on the mixed labelled part plus ``lambda_u * ramp(step)`` times the mean squared
    error between softmax outputs and targets on the mixed unlabelled part; ``ramp`` rises linearly
    from 0 to 1 over ``rampup_steps``.

    Batch norm: all mixed inputs, labelled and unlabelled, go through the model in ONE forward pass,
    so batch statistics (and the running averages) are those of the whole mixed batch rather than
    of a labelled-only or an unlabelled-only batch; the paper's code gets the same effect by
    interleaving samples between its separate passes. The guessing pass (all K views at once,
    without gradient) runs in the model's current mode, as in the paper's code; in train mode it also
    updates the running averages.

    Args:
        num_classes: the number of classes ``C``.
        K: augmentations per unlabelled sample (paper: 2).
        T: sharpening temperature (paper: 0.5).
        alpha: MixUp's ``Beta(alpha, alpha)`` (paper: 0.75).
        lambda_u: weight of the unlabelled loss once ramped up (paper: 75 on CIFAR-10).
        rampup_steps: steps of the linear ramp of ``lambda_u`` (paper: 16000); 0 for no ramp.
        augment: ``u -> augmented u``, used when ``u`` is one tensor; without it, pass the K views.
        mixup: False skips the MixUp step (the paper's ablation); everything else stays.
    """

    def __init__(self, num_classes: int, *, K: int = 2, T: float = 0.5, alpha: float = 0.75,
                 lambda_u: float = 75.0, rampup_steps: int = 16000,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, mixup: bool = True) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
            raise ValueError(f"K (augmentations per unlabelled sample) must be an int >= 1, got {K!r}")
        self.num_classes = int(num_classes)
        self.K = int(K)
        self.T = check_positive(T, "T")
        self.alpha = check_alpha(alpha)
        lam_u = float(lambda_u) if isinstance(lambda_u, (int, float)) and not isinstance(lambda_u, bool) else None
        if lam_u is None or not np.isfinite(lam_u) or lam_u < 0:
            raise ValueError(f"lambda_u must be a finite number >= 0, got {lambda_u!r}")
        self.lambda_u = lam_u
        if isinstance(rampup_steps, bool) or not isinstance(rampup_steps, (int, np.integer)) or rampup_steps < 0:
            raise ValueError(f"rampup_steps must be an int >= 0, got {rampup_steps!r}")
        self.rampup_steps = int(rampup_steps)
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable u -> augmented u, got {type(augment).__name__}")
        self.augment = augment
        self.mixup = bool(mixup)
        self._mixer = MixUp(self.alpha, lam_mode="sample", majority=True)

    def weight(self, step: int) -> float:
        """``lambda_u`` times the linear ramp at ``step``."""
        if self.rampup_steps == 0:
            return self.lambda_u
        return self.lambda_u * float(np.clip(step / self.rampup_steps, 0.0, 1.0))

    def _views(self, u: Any) -> list[torch.Tensor]:
        if isinstance(u, torch.Tensor):
            if self.augment is None:
                raise ValueError(
                    "u is one tensor but no augment= was given: pass MixMatch(augment=fn) or a list of "
                    f"K={self.K} augmented views of the unlabelled batch"
                )
            return [self.augment(u) for _ in range(self.K)]
        if not isinstance(u, Sequence) or not all(isinstance(v, torch.Tensor) for v in u):
            raise TypeError(f"u must be a tensor or a sequence of K={self.K} tensors, got {type(u).__name__}")
        views = list(u)
        if len(views) != self.K:
            raise ValueError(f"expected K={self.K} augmented views of the unlabelled batch, got {len(views)}")
        if len({tuple(v.shape) for v in views}) != 1:
            raise ValueError(f"the K views must have the same shape, got {[tuple(v.shape) for v in views]}")
        return views

    @torch.no_grad()
    def guess_labels(self, model: Callable[[torch.Tensor], torch.Tensor], views: Sequence[torch.Tensor]) -> torch.Tensor:
        """Sharpened mean of the softmax over the K views: ``(B_u, C)``, no gradient."""
        n = views[0].shape[0]
        probs = F.softmax(model(torch.cat(list(views))).float(), dim=-1)
        if probs.shape != (n * len(views), self.num_classes):
            raise ValueError(
                f"the model must return logits of shape (batch, {self.num_classes}); got {tuple(probs.shape)}"
            )
        return sharpen(probs.view(len(views), n, -1).mean(0), self.T)

    def plan(self, n: int, rng: Any = None) -> MixPlan:
        """The MixUp plan over ``n`` concatenated samples (identity when ``mixup=False``)."""
        if not self.mixup:
            return MixPlan(partner=np.arange(n), lam=np.ones(n))
        return self._mixer.sample(n, rng=as_generator(rng))

    def __call__(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: Any, u: Any, *,
                 step: int, rng: Any = None) -> MixMatchLoss:
        """The loss for labelled ``x`` ``(B, ...)`` with labels ``y`` (indices ``(B,)`` or ``(B, C)``) and
        unlabelled ``u`` (a tensor with ``augment=``, or K augmented views ``(B_u, ...)``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor (the augmented labelled batch), got {type(x).__name__}")
        y = check_labels(y, int(x.shape[0]), self.num_classes)
        views = self._views(u)
        if tuple(views[0].shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"labelled and unlabelled samples must have the same shape; got x {tuple(x.shape)} and "
                f"u {tuple(views[0].shape)}"
            )
        b = int(x.shape[0])
        q = self.guess_labels(model, views)
        tx = as_targets(y, num_classes=self.num_classes)
        tx = torch.as_tensor(tx, dtype=q.dtype, device=x.device)
        inputs = torch.cat([x] + [v.to(x.dtype) for v in views])
        targets = torch.cat([tx] + [q] * self.K)
        plan = self.plan(int(inputs.shape[0]), rng)
        mixed = apply_plan(plan, inputs)
        mixed_targets = apply_plan(plan, targets)
        logits = model(mixed)
        loss_x = soft_cross_entropy(logits[:b], mixed_targets[:b])
        loss_u = torch.mean((F.softmax(logits[b:].float(), dim=-1) - mixed_targets[b:]) ** 2)
        w = self.weight(step)
        total = loss_x + w * loss_u
        return MixMatchLoss(total, loss_x.detach(), loss_u.detach(), w)

    def __repr__(self) -> str:
        extra = "" if self.mixup else ", mixup=False"
        return (f"MixMatch(num_classes={self.num_classes}, K={self.K}, T={self.T}, alpha={self.alpha}, "
                f"lambda_u={self.lambda_u}, rampup_steps={self.rampup_steps}{extra})")

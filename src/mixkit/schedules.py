"""Training recipes over epochs: mixing switched off for the last epochs, ``alpha`` and ``p`` schedules,
and per-method probabilities for :class:`~mixkit.OneOf`.

A schedule is any picklable callable ``progress -> value`` with ``progress`` in [0, 1] over the
epochs that mix (0 at the first epoch, 1 at the last one that mixes). :class:`Linear`, :class:`Cosine`
and :class:`Constant` cover the usual recipes. :class:`Scheduled` wraps a transform, and
``set_epoch(e)`` picks the settings for epoch ``e`` (a float for per-step updates).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_alpha, check_probability
from .methods._base import Mixer
from .methods.compose import OneOf
from .plan import MixPlan

__all__ = ["Constant", "Cosine", "Linear", "Scheduled"]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Constant:
    """The same value at every progress."""

    value: float

    def __call__(self, progress: float) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Linear:
    """``start`` at progress 0 to ``end`` at progress 1, in a straight line."""

    start: float
    end: float

    def __call__(self, progress: float) -> float:
        t = min(max(float(progress), 0.0), 1.0)
        return float(self.start + (self.end - self.start) * t)


@dataclass(frozen=True)
class Cosine:
    """``start`` at progress 0 to ``end`` at progress 1 along half a cosine (flat at both ends)."""

    start: float
    end: float

    def __call__(self, progress: float) -> float:
        t = min(max(float(progress), 0.0), 1.0)
        return float(self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * t)))


ScheduleLike = float | Callable[[float], float] | None


def _as_schedule(name: str, value: ScheduleLike) -> Callable[[float], float] | None:
    if value is None or callable(value):
        return value
    return Constant(_number(name, value))


def _copy_tree(mixer: Mixer) -> Mixer:
    """A shallow copy of ``mixer`` and of the transforms inside it (``OneOf`` members, a ``base``)."""
    t = copy.copy(mixer)
    if isinstance(t, OneOf):
        t.transforms = [_copy_tree(m) for m in t.transforms]
    if getattr(t, "base", None) is not None:
        t.base = _copy_tree(t.base)
    return t


def _set_p(mixer: Mixer, value: float) -> None:
    """Make ``value`` the probability of mixing of ``mixer``: a ``OneOf`` draws it itself (its transforms
    then always mix), a label-aware method with a ``base`` through the base."""
    mixer.p = value
    if isinstance(mixer, OneOf):
        for inner in mixer.transforms:
            _set_p(inner, 1.0 if value > 0 else 0.0)
    if getattr(mixer, "base", None) is not None:
        _set_p(mixer.base, value)


class Scheduled(Mixer):
    """A transform whose settings follow the epoch: ``t.set_epoch(e)`` once per epoch, then call ``t``.

    Args:
        mixer: the transform to schedule (any mixkit method, or :class:`~mixkit.OneOf`).
        total_epochs: the length of training, in epochs.
        off_last: mixing is off for the last ``off_last`` epochs (``epoch >= total_epochs - off_last``):
            samples pass through unchanged with their plain labels (as dense or pair targets, like
            the mixed ones, so the loss need not change).
        alpha: a number or schedule for ``alpha`` (of the mixer, or of every transform in a ``OneOf``
            that has one); None keeps the mixer's own.
        p: a number or schedule for the probability of mixing a batch; None keeps the mixer's own.
        weights: for a ``OneOf``, one number or schedule per transform: the probability of choosing
            each method, renormalised at every epoch.

    Progress runs from 0 at epoch 0 to 1 at the last epoch that mixes, ``total_epochs - off_last - 1``.
    """

    def __init__(self, mixer: Mixer, *, total_epochs: int, off_last: int = 0, alpha: ScheduleLike = None,
                 p: ScheduleLike = None, weights: Sequence[ScheduleLike] | None = None) -> None:
        if not isinstance(mixer, Mixer):
            raise TypeError(f"Scheduled needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(mixer).__name__}")
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, (int, np.integer)) or total_epochs < 1:
            raise ValueError(f"total_epochs must be a positive int, got {total_epochs!r}")
        if isinstance(off_last, bool) or not isinstance(off_last, (int, np.integer)) or not 0 <= off_last <= total_epochs:
            raise ValueError(f"off_last must be an int in [0, total_epochs={total_epochs}], got {off_last!r}")
        num_classes, smoothing, fmt, kind = mixer._label_config()
        super().__init__(num_classes=num_classes, p=1.0, label_smoothing=smoothing, label_format=fmt,
                         targets=kind)
        self.mixer = mixer
        self.total_epochs = int(total_epochs)
        self.off_last = int(off_last)
        self.alpha = _as_schedule("alpha", alpha)
        self.p_schedule = _as_schedule("p", p)
        if weights is not None:
            if not isinstance(mixer, OneOf):
                raise ValueError("weights= schedules the choice among the transforms of a OneOf; got "
                                 f"a {type(mixer).__name__}")
            weights = list(weights)
            if len(weights) != len(mixer.transforms):
                raise ValueError(f"weights needs one entry per transform of the OneOf ({len(mixer.transforms)}), "
                                 f"got {len(weights)}")
            weights = [_as_schedule("weights", w) for w in weights]
        self.weights = weights
        if self.alpha is not None and not self._alpha_targets(mixer):
            raise ValueError(f"alpha= needs a transform with an alpha; {type(mixer).__name__} has none")
        self.epoch: float = 0.0
        self._current = self._configure(0.0)

    @staticmethod
    def _alpha_targets(mixer: Mixer) -> list[Mixer]:
        inner = mixer.transforms if isinstance(mixer, OneOf) else [mixer]
        return [t for t in inner if hasattr(t, "alpha")]

    @property
    def mixing(self) -> bool:
        """Whether the current epoch mixes (False in the last ``off_last`` epochs)."""
        return self.epoch < self.total_epochs - self.off_last

    @property
    def progress(self) -> float:
        """Progress in [0, 1] over the epochs that mix."""
        span = self.total_epochs - self.off_last - 1
        return 1.0 if span <= 0 else min(max(self.epoch / span, 0.0), 1.0)

    def set_epoch(self, epoch: float) -> Scheduled:
        """Select the settings for ``epoch`` (0-based; a float such as ``e + step / steps`` is fine)."""
        value = _number("epoch", epoch)
        if value < 0:
            raise ValueError(f"epoch must be >= 0, got {value}")
        self.epoch = value
        self._current = self._configure(self.progress)
        cell = getattr(self, "epoch_cell", None)  # MixCollate's shared float: workers' copies follow it
        if cell is not None:
            cell.value = value
        return self

    def _configure(self, progress: float) -> Mixer:
        t = _copy_tree(self.mixer)
        if not self.mixing:
            _set_p(t, 0.0)
            return t
        if self.alpha is not None:
            value = check_alpha(self.alpha(progress), "alpha (scheduled)")
            for m in self._alpha_targets(t):
                m.alpha = value
        if self.p_schedule is not None:
            _set_p(t, check_probability(self.p_schedule(progress), "p (scheduled)"))
        if self.weights is not None:
            w = np.array([1.0 if s is None else s(progress) for s in self.weights], dtype=np.float64)
            if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(f"scheduled weights must be non-negative with a positive sum, got {w.tolist()}")
            t.weights = w / w.sum()
        return t

    @property
    def current(self) -> Mixer:
        """The transform as configured for the current epoch."""
        return self._current

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        return self.mixer.needs

    @property
    def axes(self) -> Any:
        """The current transform's ``axes`` (None for one without)."""
        return getattr(self._current, "axes", None)

    @property
    def takes_partners(self) -> bool:  # type: ignore[override]
        return self.mixer.takes_partners

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MixPlan:
        """The current epoch's transform draws the plan, with every argument passed on."""
        return self._current._sample(batch_size, gen, shape, x=x, y=y, companions=companions)

    def _mix_labels(self, plan: MixPlan, y: Any) -> Any:
        return self._current._mix_labels(plan, y)

    def __repr__(self) -> str:
        parts = [repr(self.mixer), f"total_epochs={self.total_epochs}"]
        if self.off_last:
            parts.append(f"off_last={self.off_last}")
        for name, value in (("alpha", self.alpha), ("p", self.p_schedule), ("weights", self.weights)):
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"Scheduled({', '.join(parts)}, epoch={self.epoch})"

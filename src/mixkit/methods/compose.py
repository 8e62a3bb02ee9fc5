"""Choosing among methods per call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..plan import MixPlan
from ._base import Mixer

__all__ = ["OneOf"]


class OneOf(Mixer):
    """Apply one of ``transforms`` per call, chosen with the probabilities ``weights`` (uniform by default).

    Args:
        transforms: mixkit methods; they must agree on ``num_classes``, ``label_smoothing``,
            ``label_format`` and ``targets``, so the labels mean the same whichever is chosen.
        weights: one non-negative number per transform, renormalised to the choice probabilities.
        p: the probability of mixing a call at all, as everywhere (a call not mixed keeps every sample
            as it is); the chosen transform's own ``p`` then applies as well.

    ``sample`` passes every argument (``x``, ``y``, companions) to the chosen transform and returns
    its plan; :attr:`needs` is what any of the transforms needs.
    """

    def __init__(self, transforms: Sequence[Mixer], *, weights: Sequence[float] | None = None,
                 p: float = 1.0) -> None:
        transforms = list(transforms)
        if not transforms:
            raise ValueError("OneOf needs at least one transform, got an empty list")
        for t in transforms:
            if not isinstance(t, Mixer):
                raise TypeError(f"OneOf takes mixkit transforms (MixUp, CutMix, ...), got {type(t).__name__}")
        configs = {t._label_config() for t in transforms}
        if len(configs) > 1:
            raise ValueError(
                "the transforms in OneOf disagree on num_classes / label_smoothing / label_format / targets "
                f"({sorted(map(str, configs))}); give them the same label settings"
            )
        if p is not None and not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"OneOf's p is the probability of mixing (a number in [0, 1]), got {p!r}; pass the "
                "per-transform choice weights as weights="
            )
        if weights is None:
            w = np.full(len(transforms), 1.0 / len(transforms))
        else:
            try:
                w = np.asarray(weights, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"weights must be numbers, one per transform, got {weights!r}") from None
            if w.shape != (len(transforms),):
                raise ValueError(
                    f"weights must have one number per transform ({len(transforms)}), got {list(np.atleast_1d(w))}"
                )
            if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(f"weights must be non-negative finite numbers with a positive sum, got {w.tolist()}")
            w = w / w.sum()
        num_classes, smoothing, fmt, kind = configs.pop()
        super().__init__(num_classes=num_classes, p=p, label_smoothing=smoothing, label_format=fmt,
                         targets=kind)
        self.transforms = transforms
        self.weights = w

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset().union(*(t.needs for t in self.transforms))

    @property
    def takes_partners(self) -> bool:  # type: ignore[override]
        return all(t.takes_partners for t in self.transforms)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MixPlan:
        if self.p < 1.0 and not gen.random() < self.p:  # this call is not mixed: every sample kept whole
            return MixPlan(partner=np.arange(batch_size), lam=np.ones(batch_size))
        k = int(gen.choice(len(self.transforms), p=self.weights))
        return self.transforms[k]._sample(batch_size, gen, shape, x=x, y=y, companions=companions)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        extra = f", p={self.p}" if self.p < 1.0 else ""
        return f"OneOf([{inner}], weights={np.round(self.weights, 4).tolist()}{extra})"

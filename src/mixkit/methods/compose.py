"""Choosing among methods per call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import as_generator
from ..plan import MixPlan
from ._base import Mixer

__all__ = ["OneOf"]


class OneOf(Mixer):
    """Apply one of ``transforms`` per call, chosen with probabilities ``p`` (uniform by default).

    All transforms must agree on ``num_classes``, ``label_smoothing`` and ``label_format``, so the
    labels mean the same whichever is chosen. ``sample`` returns the chosen transform's plan.
    """

    def __init__(self, transforms: Sequence[Mixer], p: Sequence[float] | None = None) -> None:
        transforms = list(transforms)
        if not transforms:
            raise ValueError("OneOf needs at least one transform, got an empty list")
        for t in transforms:
            if not isinstance(t, Mixer):
                raise TypeError(f"OneOf takes mixkit transforms (MixUp, CutMix, ...), got {type(t).__name__}")
        configs = {t._label_config() for t in transforms}
        if len(configs) > 1:
            raise ValueError(
                "the transforms in OneOf disagree on num_classes / label_smoothing / label_format "
                f"({sorted(map(str, configs))}); give them the same label settings"
            )
        if p is None:
            weights = np.full(len(transforms), 1.0 / len(transforms))
        else:
            weights = np.asarray(p, dtype=np.float64)
            if weights.shape != (len(transforms),):
                raise ValueError(f"p must have one probability per transform ({len(transforms)}), got {list(p)}")
            if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
                raise ValueError(f"p must be non-negative finite weights with a positive sum, got {list(p)}")
            weights = weights / weights.sum()
        num_classes, smoothing, fmt = configs.pop()
        super().__init__(num_classes=num_classes, p=1.0, label_smoothing=smoothing, label_format=fmt)
        self.transforms = transforms
        self.weights = weights

    def sample(self, batch_size: int, *, rng: Any = None, shape: tuple[int, ...] | None = None) -> MixPlan:
        gen = as_generator(rng)
        k = int(gen.choice(len(self.transforms), p=self.weights))
        return self.transforms[k].sample(batch_size, rng=gen, shape=shape)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"OneOf([{inner}], p={np.round(self.weights, 4).tolist()})"

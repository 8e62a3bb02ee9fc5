"""CutMix (Yun et al., 2019): paste a box of the partner into each sample, over any set of axes.

``lam`` is always the exact kept fraction after the box is clipped to the sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import normalize_axes
from ..pairing import sample_partner
from ..plan import BoxPlan
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, finish_box_plan

__all__ = ["CutMix", "cutmix", "sample_boxes"]


def sample_boxes(
    sizes: tuple[int, ...],
    cut: np.ndarray,
    rng: np.random.Generator,
    *,
    min_max: tuple[float, float] | None = None,
    shared: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(start, stop)``, each int64 ``(B, len(sizes))``.

    Without ``min_max``: each side is ``size * cut ** (1 / k)`` (k axes) so the box covers about
    ``cut`` of the sample, centred at a uniform position and clipped at the edges.
    With ``min_max=(lo, hi)``: each side is a uniform fraction in ``[lo, hi]`` of its axis, placed
    fully inside. ``shared``: one box for the whole batch.
    """
    b = cut.shape[0]
    n = 1 if shared else b
    k = len(sizes)
    size = np.asarray(sizes, dtype=np.int64)
    if min_max is None:
        frac = np.asarray(cut[:n], dtype=np.float64) ** (1.0 / k)
        side = np.rint(frac[:, None] * size[None, :]).astype(np.int64)
        centre = rng.integers(0, np.maximum(size, 1), size=(n, k))
        start = centre - side // 2
        stop = start + side
        start = np.clip(start, 0, size)
        stop = np.clip(stop, 0, size)
    else:
        lo, hi = min_max
        low = np.floor(lo * size).astype(np.int64)
        high = np.maximum(np.floor(hi * size).astype(np.int64), low)
        side = rng.integers(low, high + 1, size=(n, k))
        start = rng.integers(0, size - side + 1, size=(n, k))
        stop = start + side
    if shared:
        start = np.repeat(start, b, axis=0)
        stop = np.repeat(stop, b, axis=0)
    return start, stop


class CutMix(Mixer):
    """CutMix: paste a box of ``x[partner[i]]`` into ``x[i]``; ``lam[i]`` is the exact kept fraction.

    Args:
        alpha: the box covers ``1 - lam0`` of the sample, ``lam0 ~ Beta(alpha, alpha)``.
        axes: the axes to cut along, counted on the batch: ``(-2, -1)`` for NCHW images, ``(1, 2)``
            for NHWC, ``(-1,)`` for ``(B, C, T)`` series, ``(1,)`` for ``(B, L, D)`` tokens, three axes
            for volumes. Other axes are taken whole.
        lam_mode: ``"batch"`` (one box for the batch) or ``"sample"`` (a box per sample).
        pairing, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`.
        lam: a fixed target box size ``1 - lam`` instead of a Beta draw (the exact ``lam`` still
            reflects clipping).
        min_max: ``(lo, hi)``: each box side is a uniform fraction in ``[lo, hi]`` of its axis (the
            Beta draw is then unused).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        axes: int | tuple[int, ...] = (-2, -1),
        lam_mode: str = "batch",
        pairing: str = "shuffle",
        num_classes: int | None = None,
        p: float = 1.0,
        lam: float | None = None,
        min_max: tuple[float, float] | None = None,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
        targets: str = "classes",
    ) -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing,
                         label_format=label_format, targets=targets)
        self.lam = None
        self._options(alpha=alpha, axes=axes, lam_mode=lam_mode, pairing=pairing, lam=lam)
        if min_max is not None:
            try:
                lo, hi = (float(v) for v in min_max)
            except (TypeError, ValueError):
                raise TypeError(f"min_max must be a pair (lo, hi) of fractions, got {min_max!r}") from None
            if not (0.0 <= lo <= hi <= 1.0):
                raise ValueError(f"min_max must satisfy 0 <= lo <= hi <= 1, got {min_max!r}")
            min_max = (lo, hi)
        self.min_max = min_max

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> BoxPlan:
        """Partners and boxes for a batch of shape ``shape`` (the full ``x.shape``)."""
        if shape is None:
            raise self._missing("the batch's shape to place boxes", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        sizes = tuple(shape[a] for a in axes)
        partner = sample_partner(batch_size, self.pairing, gen)
        lam0 = sample_lam(batch_size, self.alpha, self.lam_mode, gen, lam=self.lam)
        start, stop = sample_boxes(sizes, 1.0 - lam0, gen, min_max=self.min_max,
                                   shared=self.lam_mode == "batch")
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        partner, lam, start, stop = finish_box_plan(partner, start, stop, sizes, applied)
        return BoxPlan(partner=partner, lam=lam, axes=axes, sizes=sizes, start=start, stop=stop)

    def _repr_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alpha": self.alpha, "axes": self.axes, "lam_mode": self.lam_mode,
                               "pairing": self.pairing}
        if self.lam is not None:
            out["lam"] = self.lam
        if self.min_max is not None:
            out["min_max"] = self.min_max
        return out


def cutmix(x: Any, y: Any = None, *, alpha: float = 1.0, axes: int | tuple[int, ...] = (-2, -1),
           num_classes: int | None = None, rng: Any = None, out: Any = None, inplace: bool = False,
           **options: Any) -> Any:
    """Functional CutMix: ``CutMix(alpha, axes=axes, num_classes=..., **options)(x, y, rng=rng)``; a
    :class:`~mixkit.Mixed`."""
    return CutMix(alpha, axes=axes, num_classes=num_classes, **options)(
        x, y, rng=rng, out=out, inplace=inplace)

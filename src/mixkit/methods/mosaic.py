"""Mosaic (as in YOLOv4): four images shrunk into the four quadrants of one, around a random centre.

Output sample ``i`` holds sample ``i`` itself in the top-left quadrant and three other samples in the
others, each resized (nearest neighbour) to its quadrant. Labels are mixed with the quadrants' areas:
``target[i] = sum_k area_k * y[sources[i, k]]``; the own share ``lam[i]`` is the top-left area. A sample
whose three draws are all itself (always in a batch of one), or an image with no pixels, is left as it
is with ``lam = 1``.
Boxes, keypoints and segmentation masks are moved and scaled with their image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import normalize_axes
from .._xp import backend
from ..companions._common import like, take_rows, to_tensor
from ..plan import MixPlan, _frozen, check_axes_fit, register_plan_type
from ._base import Mixer
from .resizemix import match_memory_format

__all__ = ["Mosaic", "MosaicPlan"]


@register_plan_type
@dataclass(frozen=True, eq=False, repr=False)
class MosaicPlan(MixPlan):
    """``sources`` int64 ``(B, 4)`` (top-left, top-right, bottom-left, bottom-right; ``sources[:, 0]`` is
    the sample itself), ``centre`` int64 ``(B, 2)`` the ``(row, col)`` where the quadrants meet, ``axes``
    the (height, width) axes and ``sizes`` their lengths. ``lam`` is the top-left area fraction and
    ``partner`` the source with the largest other quadrant."""

    axes: tuple[int, ...] = ()
    sizes: tuple[int, ...] = ()
    sources: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    centre: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    geometry: ClassVar[str | None] = None  # four sources per sample: it moves its companions itself
    companions: ClassVar[frozenset[str]] = frozenset({"mask", "boxes", "box_labels", "box_valid", "keypoints"})
    pairwise: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        b = self.batch_size
        axes = tuple(int(a) for a in self.axes)
        sizes = tuple(int(s) for s in self.sizes)
        sources = _frozen(self.sources, np.int64).reshape(b, 4)
        centre = _frozen(self.centre, np.int64).reshape(b, 2)
        if len(axes) != 2 or len(sizes) != 2:
            raise ValueError(f"a mosaic plan needs two axes (height, width), got axes {axes} sizes {sizes}")
        if b and (sources.min() < 0 or sources.max() >= b):
            raise ValueError(f"mosaic sources must lie in [0, {b})")
        if b and (np.any(centre < 0) or np.any(centre > np.array(sizes))):
            raise ValueError("the mosaic centre must lie inside the image")
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "centre", centre)

    @property
    def weights(self) -> np.ndarray:
        """Area fraction of each quadrant, ``(B, 4)``; rows sum to 1 (an image of no pixels is all its own)."""
        h, w = self.sizes
        if h * w == 0:
            return np.tile(np.array([1.0, 0.0, 0.0, 0.0]), (self.batch_size, 1))
        cy, cx = self.centre[:, 0].astype(np.float64), self.centre[:, 1].astype(np.float64)
        return np.stack([cy * cx, cy * (w - cx), (h - cy) * cx, (h - cy) * (w - cx)], axis=1) / float(h * w)

    @property
    def moves(self) -> np.ndarray:
        """Which samples the plan changes, bool ``(B,)`` (the others keep every pixel: centre at the corner)."""
        h, w = self.sizes
        return (self.centre[:, 0] < h) | (self.centre[:, 1] < w) if h * w else np.zeros(self.batch_size, bool)

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Source sample ``(B, H, W)``, source row ``(B, H)`` and source column ``(B, W)`` of each pixel."""
        h, w = self.sizes
        cy, cx = self.centre[:, :1], self.centre[:, 1:]
        r = np.arange(h)[None, :]
        c = np.arange(w)[None, :]
        bottom = r >= cy
        right = c >= cx
        qh = np.where(bottom, h - cy, cy).astype(np.float64)
        qw = np.where(right, w - cx, cx).astype(np.float64)
        row = np.floor((r - np.where(bottom, cy, 0) + 0.5) * h / np.maximum(qh, 1)).astype(np.int64)
        col = np.floor((c - np.where(right, cx, 0) + 0.5) * w / np.maximum(qw, 1)).astype(np.int64)
        quad = 2 * bottom[:, :, None] + right[:, None, :]
        sample = np.take_along_axis(self.sources, quad.reshape(len(quad), -1), axis=1)
        return sample.reshape(quad.shape), np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)

    def _gather(self, x: Any, hw: tuple[int, int]) -> Any:
        """A new array: each pixel of ``x`` from its source (layout kept: a torch tensor's memory format)."""
        b = int(x.shape[0])
        h, w = self.sizes
        if not self.moves.any():  # an empty batch, an image of no pixels, or nothing applied
            return x.clone() if backend(x) == "torch" else np.array(x, copy=True)
        s, r, c = self._index()
        if backend(x) == "torch":
            import torch

            xm = torch.movedim(x, hw, (-2, -1))
            lead = xm.shape[1:-2]
            xm = xm.reshape(b, -1, h, w)
            m = xm.shape[1]
            dev = x.device
            idx = (to_tensor(s, dev)[:, None], torch.arange(m, device=dev)[None, :, None, None],
                   to_tensor(r, dev)[:, None, :, None], to_tensor(c, dev)[:, None, None, :])
            res = xm[idx].reshape((b,) + tuple(lead) + (h, w))
            return match_memory_format(torch.movedim(res, (-2, -1), hw), x)
        xm = np.moveaxis(x, hw, (-2, -1))
        lead = xm.shape[1:-2]
        xm = xm.reshape(b, -1, h, w)
        m = xm.shape[1]
        res = xm[s[:, None], np.arange(m)[None, :, None, None], r[:, None, :, None], c[:, None, None, :]]
        return np.ascontiguousarray(np.moveaxis(res.reshape((b,) + lead + (h, w)), (-2, -1), hw))

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        check_axes_fit(self, shape, "tiles")

    def _apply(self, x: Any, out: Any) -> Any:
        """The mosaic of the batch ``x`` (its axes ``self.axes`` are height and width)."""
        res = self._gather(x, self.axes)
        if out is None:
            return res
        if backend(out) == "torch":
            return out.copy_(res)
        out[...] = res
        return out

    def mix_mask(self, mask: Any, *, num_classes: int | None = None, label_format: str = "dense",
                 ignore_index: int | None = None) -> Any:
        """The mosaic of a segmentation mask ``(B, ..., H, W)`` (dtype kept)."""
        nd = len(mask.shape)
        return self._gather(mask, (nd - 2, nd - 1))

    def with_partner(self, partner: np.ndarray) -> MosaicPlan:
        raise ValueError("a mosaic takes its four sources itself; it cannot take partners drawn elsewhere")

    def mix_targets(self, targets: Any) -> Any:
        """``sum_k weights[:, k] * targets[sources[:, k]]`` for dense targets ``(B, C)``."""
        wts = self.weights
        total = None
        for k in range(4):
            wk = like(wts[:, k:k + 1].astype(np.float64), targets)
            term = wk * take_rows(targets, self.sources[:, k])
            total = term if total is None else total + term
        return total

    def _quad_transform(self, i: int, k: int) -> tuple[float, float, float, float]:
        """Scale and offset ``(sx, sy, ox, oy)`` that map source coordinates into quadrant ``k`` of ``i``."""
        h, w = self.sizes
        cy, cx = int(self.centre[i, 0]), int(self.centre[i, 1])
        qh = cy if k < 2 else h - cy
        qw = cx if k % 2 == 0 else w - cx
        return qw / w, qh / h, (0 if k % 2 == 0 else cx), (0 if k < 2 else cy)

    def mix_boxes(self, batch: Any, *, hw_axes: tuple[int, int], size: tuple[int, int],
                  min_visible: float = 0.25, seg: np.ndarray | None = None) -> Any:
        from ..companions.boxes import BoxBatch

        boxes, labels, weights = [], [], []
        for i in range(self.batch_size):
            parts_b, parts_l, parts_w = [], [], []
            for k in range(4):
                s = int(self.sources[i, k])
                sx, sy, ox, oy = self._quad_transform(i, k)
                bx = batch.boxes[s] * np.array([sx, sy, sx, sy]) + np.array([ox, oy, ox, oy])
                keep = (bx[:, 2] > bx[:, 0]) & (bx[:, 3] > bx[:, 1]) if sx > 0 and sy > 0 else np.zeros(len(bx), bool)
                parts_b.append(bx[keep])
                parts_w.append(batch.weights[s][keep])
                if batch.labels is not None:
                    parts_l.append(batch.labels[s][keep])
            boxes.append(np.concatenate(parts_b).reshape(-1, 4))
            weights.append(np.concatenate(parts_w).astype(np.float32))
            if batch.labels is not None:
                labels.append(np.concatenate(parts_l))
        return BoxBatch(boxes, labels if batch.labels is not None else None, weights)

    def mix_keypoints(self, kps: list[np.ndarray], *, hw_axes: tuple[int, int], size: tuple[int, int]
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        out, weights = [], []
        for i in range(self.batch_size):
            parts, wts = [], []
            for k in range(4):
                s = int(self.sources[i, k])
                sx, sy, ox, oy = self._quad_transform(i, k)
                pt = kps[s].copy()
                pt[:, 0] = pt[:, 0] * sx + ox
                pt[:, 1] = pt[:, 1] * sy + oy
                if sx == 0 or sy == 0:
                    pt[:, 2] = 0
                parts.append(pt)
                wts.append((pt[:, 2] > 0).astype(np.float32))
            out.append(np.concatenate(parts))
            weights.append(np.concatenate(wts))
        return out, weights


class Mosaic(Mixer):
    """Mosaic: each sample becomes a 2x2 mosaic of itself (top-left) and three other samples.

    Args:
        centre_range: the centre's row and column are uniform in ``[lo, hi]`` times the image size.
        axes: the (height, width) axes, ``(-2, -1)`` for NCHW.
        num_classes, p, label_smoothing: as in :class:`~mixkit.MixUp` (``p`` per sample). Labels are
            dense four-way mixtures, so ``label_format`` is always ``"dense"``.
    """

    takes_partners = False

    def __init__(self, *, centre_range: tuple[float, float] = (0.25, 0.75), axes: tuple[int, int] = (-2, -1),
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 targets: str = "classes") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, targets=targets)
        try:
            lo, hi = (float(v) for v in centre_range)
        except (TypeError, ValueError):
            raise TypeError(f"centre_range must be a pair (lo, hi) of fractions, got {centre_range!r}") from None
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"centre_range must satisfy 0 < lo <= hi < 1, got {centre_range!r}")
        self.centre_range = (lo, hi)
        self._options(axes=axes)
        if len(self.axes) != 2:
            raise ValueError(f"Mosaic needs two axes (height, width), got {axes!r}")

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MosaicPlan:
        if shape is None:
            raise self._missing("the batch's shape", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        h, w = shape[axes[0]], shape[axes[1]]
        rows = np.arange(batch_size)
        others = np.stack([gen.permutation(batch_size) for _ in range(3)], axis=1) if batch_size else np.zeros((0, 3), np.int64)
        sources = np.concatenate([rows[:, None], others], axis=1).astype(np.int64)
        lo, hi = self.centre_range
        cy = gen.integers(int(np.floor(lo * h)), int(np.floor(hi * h)) + 1, size=batch_size)
        cx = gen.integers(int(np.floor(lo * w)), int(np.floor(hi * w)) + 1, size=batch_size)
        applied = gen.random(batch_size) < self.p if self.p < 1 else np.ones(batch_size, bool)
        # a sample whose three other quadrants all drew itself (always so in a batch of one) and an image
        # of no pixels have nothing to mix: the sample is left as it is, lam = 1
        applied &= ~np.all(others == rows[:, None], axis=1) & (h * w > 0)
        cy = np.where(applied, cy, h)
        cx = np.where(applied, cx, w)
        centre = np.stack([cy, cx], axis=1).astype(np.int64)
        probe = MosaicPlan(partner=rows, lam=np.ones(batch_size), axes=axes, sizes=(h, w), sources=sources,
                           centre=centre)
        wts = probe.weights
        lam = wts[:, 0]
        partner = np.where(wts[:, 1:].max(axis=1) > 0, sources[rows, 1 + np.argmax(wts[:, 1:], axis=1)], rows)
        return MosaicPlan(partner=partner, lam=lam, axes=axes, sizes=(h, w), sources=sources, centre=centre)

    def _repr_fields(self) -> dict[str, Any]:
        return {"centre_range": self.centre_range, "axes": self.axes}


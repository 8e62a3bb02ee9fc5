"""ResizeMix (Qin et al., 2020): the whole partner, shrunk, pasted into a box of each sample.

Unlike CutMix, the box holds all of the partner at a smaller scale rather than the partner's pixels
at the same place. Convention: outside the box ``out[i] = x[i]``; inside it, ``x[partner[i]]``
resized to the box. ``lam[i] = 1 - box volume / sample volume`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import (
    as_generator,
    check_axes_option,
    check_batch_size,
    check_choice,
    check_range,
    normalize_axes,
)
from .._xp import backend
from ..kernels import box_mask
from ..pairing import PAIRINGS, sample_partner
from ..plan import MixPlan, freeze_boxes, register_plan_type
from ..sampling import LAM_MODES, sample_applied
from ._base import Mixer, finish_box_plan

__all__ = ["INTERPOLATIONS", "ResizeMix", "ResizePlan", "interpolation_matrix", "resize_paste"]

INTERPOLATIONS = ("linear", "area")


def interpolation_matrix(n_in: int, n_out: int, method: str = "linear") -> np.ndarray:
    """Weights ``(n_out, n_in)`` that resample one axis of length ``n_in`` to ``n_out``; rows sum to 1.

    ``"linear"``: pixel-centre linear interpolation (as ``torch.nn.functional.interpolate`` with
    ``align_corners=False``); ``"area"``: each output pixel is the mean of the input it covers.
    """
    m = np.zeros((n_out, n_in))
    if n_out == 0 or n_in == 0:
        return m
    scale = n_in / n_out
    if method == "linear":
        src = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = src - i0
        np.add.at(m, (np.arange(n_out), i0), 1.0 - w)
        np.add.at(m, (np.arange(n_out), i1), w)
        return m
    lo = np.arange(n_out) * scale
    hi = lo + scale
    edges = np.arange(n_in + 1, dtype=np.float64)
    overlap = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
    m = np.clip(overlap, 0.0, None)
    return m / m.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False, repr=False)
class ResizePlan(MixPlan):
    """The partner resized into a box of each sample.

    ``axes``/``sizes``: the box axes of the batch and their lengths; ``start``/``stop`` (int64
    ``(B, len(axes))``): each sample's half-open box, empty where nothing is pasted; ``interpolation``:
    ``"linear"`` or ``"area"``. ``lam[i] = 1 - box volume / prod(sizes)``.
    """

    axes: tuple[int, ...] = ()
    sizes: tuple[int, ...] = ()
    start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    stop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze_boxes(self, "resize")
        check_choice("interpolation", self.interpolation, INTERPOLATIONS)

    def apply_to(self, x: Any, *, out: Any = None) -> Any:
        """Apply the plan to ``x`` ``(B, ...)`` (called by :func:`mixkit.apply_plan`)."""
        if self.axes and max(self.axes) >= len(x.shape):
            raise ValueError(f"the plan resizes over axes {self.axes} but x has only {len(x.shape)} dimensions")
        sizes = tuple(int(x.shape[a]) for a in self.axes)
        if sizes != self.sizes:
            raise ValueError(
                f"the plan's boxes are for axes {self.axes} of sizes {self.sizes}, but x has sizes {sizes} "
                "there; sample a new plan with shape=x.shape"
            )
        return resize_paste(x, self.partner, self.start, self.stop, self.axes, self.interpolation, out=out)


register_plan_type(ResizePlan)


def _canvas_weights(sizes: tuple[int, ...], start: np.ndarray, stop: np.ndarray, method: str) -> list[np.ndarray]:
    """Per axis, ``(B, size, size)`` weights that map a whole sample onto its box (zero rows outside)."""
    b = start.shape[0]
    mats = []
    cache: dict[tuple[int, int], np.ndarray] = {}
    for k, s in enumerate(sizes):
        w = np.zeros((b, s, s))
        for i in range(b):
            lo, hi = int(start[i, k]), int(stop[i, k])
            if hi > lo:
                key = (s, hi - lo)
                if key not in cache:
                    cache[key] = interpolation_matrix(s, hi - lo, method)
                w[i, lo:hi, :] = cache[key]
        mats.append(w)
    return mats


def resize_paste(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray, axes: tuple[int, ...],
                 interpolation: str = "linear", *, out: Any = None) -> Any:
    """Paste ``x[partner[i]]``, resized to the box ``[start[i], stop[i])`` over ``axes``, into sample ``i``.

    ``x``: batch ``(B, ...)`` (NumPy, torch or Array-API); ``partner``: ``(B,)``; ``start``/``stop``:
    ``(B, len(axes))``. Resampling is computed in float (float32 for integer batches, then rounded).
    ``out=x`` pastes in place (NumPy and torch).
    """
    import array_api_compat

    kind = backend(x)
    if kind == "array_api" and out is not None:
        raise TypeError(f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}")
    xp = array_api_compat.array_namespace(x)
    dev = array_api_compat.device(x)
    ndim = len(x.shape)
    sizes = tuple(int(x.shape[a]) for a in axes)
    is_float = xp.isdtype(x.dtype, "real floating")
    cdt = x.dtype if is_float else xp.float32
    part = xp.astype(xp.take(x, xp.asarray(np.array(partner, dtype=np.int64), device=dev), axis=0), cdt)
    for a, w in zip(axes, _canvas_weights(sizes, start, stop, interpolation)):
        moved = xp.expand_dims(xp.moveaxis(part, a, -1), axis=-2)  # (B, ..., 1, size)
        wt = xp.asarray(np.swapaxes(w, 1, 2).reshape((w.shape[0],) + (1,) * (ndim - 2) + w.shape[1:]),
                        dtype=cdt, device=dev)
        part = xp.moveaxis(xp.squeeze(xp.matmul(moved, wt), axis=-2), -1, a)
    if not is_float:
        info = xp.iinfo(x.dtype)
        part = xp.astype(xp.clip(xp.round(part), info.min, info.max), x.dtype)
    inside = xp.asarray(box_mask(tuple(int(s) for s in x.shape), tuple(axes), start, stop), device=dev)
    res = xp.where(inside, part, x)
    if out is None:
        return res
    if kind == "torch":
        return out.copy_(res)
    out[...] = res
    return out


class ResizeMix(Mixer):
    """ResizeMix: shrink the partner by a side ratio ``tau ~ U(scale)`` and paste it into a random box.

    The box has side ``round(tau * size)`` on every axis (the partner keeps its aspect ratio) and
    lies fully inside the sample; ``lam`` is the exact kept fraction ``1 - box volume / volume``.

    Args:
        scale: ``(low, high)`` range of the side ratio ``tau`` (the paper's default ``(0.1, 0.8)``).
        interpolation: ``"linear"`` or ``"area"`` resampling of the partner.
        axes: the axes to resize over (``(-2, -1)`` for NCHW images); other axes are taken whole.
        lam_mode: ``"batch"`` (one ``tau`` and box for the batch) or ``"sample"``.
        pairing, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`.
    """

    def __init__(self, *, scale: tuple[float, float] = (0.1, 0.8), interpolation: str = "linear",
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, label_format=label_format)
        self.scale = check_range("scale", scale, 0.0, 1.0)
        self.interpolation = check_choice("interpolation", interpolation, INTERPOLATIONS)
        self.axes = check_axes_option(axes)
        self.lam_mode = check_choice("lam_mode", lam_mode, LAM_MODES)
        self.pairing = check_choice("pairing", pairing, PAIRINGS)

    def sample(self, batch_size: int, *, rng: Any = None, shape: tuple[int, ...] | None = None) -> ResizePlan:
        """Draw partners, ratios and boxes for a batch of shape ``shape`` (the full ``x.shape``)."""
        if shape is None:
            raise ValueError("ResizeMix.sample needs the batch's shape to place boxes: pass shape=x.shape")
        shape = tuple(int(s) for s in shape)
        batch_size = check_batch_size(batch_size, shape)
        axes = normalize_axes(self.axes, len(shape))
        sizes = tuple(shape[a] for a in axes)
        size = np.asarray(sizes, dtype=np.int64)
        gen = as_generator(rng)
        partner = sample_partner(batch_size, self.pairing, gen)
        n = 1 if self.lam_mode == "batch" else batch_size
        tau = gen.uniform(self.scale[0], self.scale[1], size=n)
        side = np.minimum(np.maximum(np.rint(tau[:, None] * size[None, :]), 1), size).astype(np.int64)
        start = np.floor(gen.random((n, len(sizes))) * (size - side + 1)).astype(np.int64)
        stop = start + side
        if n == 1:
            start, stop = np.repeat(start, batch_size, axis=0), np.repeat(stop, batch_size, axis=0)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        partner, lam, start, stop = finish_box_plan(partner, start, stop, sizes, applied)
        return ResizePlan(partner=partner, lam=lam, axes=axes, sizes=sizes, start=start, stop=stop,
                          interpolation=self.interpolation)

    def _repr_fields(self) -> dict[str, Any]:
        return {"scale": self.scale, "interpolation": self.interpolation, "axes": self.axes,
                "lam_mode": self.lam_mode, "pairing": self.pairing}

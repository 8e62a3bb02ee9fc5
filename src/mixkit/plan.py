"""Plans: the random parameters of one mixing call, sampled once and applied by pure kernels.

Convention everywhere: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, so ``lam`` is the
weight of the sample's own data. For a pasted box, ``lam[i]`` is the exact fraction of sample ``i``
that is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["BoxPlan", "MaskPlan", "MixPlan", "plan_from_dict", "register_plan_type"]


def _frozen(a: Any, dtype: Any) -> np.ndarray:
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def _indices(name: str, a: Any) -> np.ndarray:
    """An int64 copy of index values; refuses floats and bools rather than truncating them."""
    arr = np.asarray(a)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return _frozen(arr, np.int64)


def _plan_axes(axes: Any) -> tuple[int, ...]:
    """Sample axes of a plan: ints, never the batch axis 0, each once (negative ones count from the end)."""
    out = tuple(int(a) for a in axes)
    if 0 in out:
        raise ValueError(f"plan axes {out} include the batch axis 0; name the sample's axes, e.g. (-2, -1)")
    if len(set(out)) != len(out):
        raise ValueError(f"plan axes {out} repeat an axis; name each axis once")
    return out


def freeze_boxes(plan: Any, what: str) -> None:
    """Check and freeze a plan's ``axes``, ``sizes``, ``start`` and ``stop`` (box-shaped plans)."""
    axes = _plan_axes(plan.axes)
    sizes = tuple(int(s) for s in plan.sizes)
    start = _indices("start", plan.start).reshape(plan.batch_size, len(axes))
    stop = _indices("stop", plan.stop).reshape(plan.batch_size, len(axes))
    if len(sizes) != len(axes):
        raise ValueError(f"a {what} plan needs one size per axis; got axes {axes} and sizes {sizes}")
    if np.any(start < 0) or np.any(stop > np.array(sizes, dtype=np.int64)) or np.any(start > stop):
        raise ValueError("box bounds must satisfy 0 <= start <= stop <= size on every axis")
    object.__setattr__(plan, "axes", axes)
    object.__setattr__(plan, "sizes", sizes)
    object.__setattr__(plan, "start", start)
    object.__setattr__(plan, "stop", stop)


@dataclass(frozen=True, eq=False)
class MixPlan:
    """A blend: ``partner`` (int64, shape ``(B,)``) and ``lam`` (float64, shape ``(B,)``)."""

    partner: np.ndarray
    lam: np.ndarray

    def __post_init__(self) -> None:
        partner = _indices("partner", self.partner)
        lam = _frozen(self.lam, np.float64)
        if partner.ndim != 1 or lam.shape != partner.shape:
            raise ValueError(
                f"a plan needs partner and lam of the same shape (B,); got {partner.shape} and {lam.shape}"
            )
        b = partner.shape[0]
        if b and (partner.min() < 0 or partner.max() >= b):
            raise ValueError(f"partner indices must lie in [0, {b}); got {partner.min()}..{partner.max()}")
        if b and not (np.all(lam >= 0) and np.all(lam <= 1)):
            raise ValueError("lam must lie in [0, 1] for every sample")
        object.__setattr__(self, "partner", partner)
        object.__setattr__(self, "lam", lam)

    @property
    def batch_size(self) -> int:
        return int(self.partner.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for logging and replay (see :func:`plan_from_dict`)."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    def __repr__(self) -> str:
        lam = np.round(self.lam[:4], 3).tolist()
        more = ", ..." if self.batch_size > 4 else ""
        return f"{type(self).__name__}(batch_size={self.batch_size}, lam={lam}{more})"


@dataclass(frozen=True, eq=False, repr=False)
class BoxPlan(MixPlan):
    """A paste of a box of the partner into each sample.

    ``axes`` are the cut axes of the batch (non-negative, axis 0 is the batch); ``sizes`` their
    lengths; ``start``/``stop`` (int64, shape ``(B, len(axes))``) the half-open box of each sample,
    empty where nothing is pasted. ``lam[i] = 1 - box volume / prod(sizes)``, exactly.
    """

    axes: tuple[int, ...] = ()
    sizes: tuple[int, ...] = ()
    start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    stop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze_boxes(self, "box")

    @property
    def box_fraction(self) -> np.ndarray:
        """Fraction of each sample covered by its box, shape ``(B,)``."""
        extent = (self.stop - self.start).astype(np.float64)
        return np.prod(extent, axis=1) / float(np.prod(self.sizes)) if self.sizes else extent[:, 0]


@dataclass(frozen=True, eq=False, repr=False)
class MaskPlan(MixPlan):
    """A per-element mask: ``out = mask * x + (1 - mask) * x[partner]`` over the mask's axes.

    ``axes``: the batch axes the mask spans (non-negative, never 0); ``mask``: float64
    ``(B, *sizes)`` in [0, 1], 1 where the sample keeps its own data. A mask of only 0 and 1 pastes,
    any other blends. ``lam[i]`` is exactly ``mask[i].mean()``.
    """

    axes: tuple[int, ...] = ()
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float64))

    def __post_init__(self) -> None:
        super().__post_init__()
        axes = _plan_axes(self.axes)
        mask = _frozen(self.mask, np.float64)
        if mask.ndim != len(axes) + 1 or mask.shape[0] != self.batch_size:
            raise ValueError(
                f"a mask plan needs a mask of shape (B, *sizes) with one size per axis {axes}; got {mask.shape}"
            )
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise ValueError("mask values must lie in [0, 1]")
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "mask", mask)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.mask.shape[1:])

    @property
    def binary(self) -> bool:
        return bool(np.all((self.mask == 0) | (self.mask == 1)))


_PLAN_TYPES = {cls.__name__: cls for cls in (MixPlan, BoxPlan, MaskPlan)}


def register_plan_type(cls: type) -> type:
    """Make a plan class known to :func:`plan_from_dict` (used by the method modules)."""
    _PLAN_TYPES[cls.__name__] = cls
    return cls


def plan_from_dict(data: dict[str, Any]) -> MixPlan:
    """Rebuild a plan logged with ``plan.to_dict()``."""
    data = dict(data)
    name = data.pop("type", "MixPlan")
    if name not in _PLAN_TYPES:
        raise ValueError(f"unknown plan type {name!r}; known: {sorted(_PLAN_TYPES)}")
    cls = _PLAN_TYPES[name]
    for key in ("axes", "sizes"):
        if key in data:
            data[key] = tuple(data[key])
    return cls(**data)

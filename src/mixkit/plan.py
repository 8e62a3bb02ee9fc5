"""Plans: the random parameters of one mixing call, sampled once and applied by pure kernels.

Convention everywhere: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, so ``lam`` is the
weight of the sample's own data. For a pasted box, ``lam[i]`` is the exact fraction of sample ``i``
that is kept.

Every plan applies itself through one protocol, so no caller needs to know which kind it holds:

- ``plan.check_fits(shape)``: ValueError unless the plan was sampled for a batch of ``shape``;
- ``plan.apply(x, *, out=None)``: the mixed batch (the kernels; ``out=x`` writes in place);
- ``plan.mix_targets(targets)``: dense ``(B, C)`` targets mixed as the batch is mixed;
- ``plan.pairwise`` / ``plan.label_pair()``: ``(partner, lam)`` of the pair label form, for plans
  where each sample mixes with one partner;
- ``plan.companions``: the companion keys (``"mask"``, ``"boxes"``, ...) the plan can carry, and
  ``plan.mix_mask``, ``plan.mix_boxes``, ``plan.mix_keypoints``, ``plan.fit_sequence`` that move them;
- ``plan.with_partner(partner)``: the same mixing with partners drawn elsewhere (label-aware pairing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .companions import boxes as _boxes
from .companions import segmentation as _segmentation
from .companions import sequences as _sequences
from .kernels import MAX_SOURCES, blend, blend_many, mask_mix, paste

__all__ = ["ALL_COMPANIONS", "BoxPlan", "MaskPlan", "MixPlan", "MultiMixPlan", "plan_from_dict",
           "register_plan_type"]

#: Every companion a batch can carry (the keyword names of a call and keys of a dict sample).
ALL_COMPANIONS = frozenset(
    ("mask", "boxes", "box_labels", "box_valid", "keypoints", "padding_mask", "lengths", "token_labels")
)


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


def check_axes_fit(plan: Any, shape: tuple[int, ...], verb: str) -> None:
    """ValueError unless ``shape`` has the plan's ``axes`` with the plan's ``sizes``."""
    if plan.axes and max(plan.axes) >= len(shape):
        raise ValueError(f"the plan {verb} axes {plan.axes} but x has only {len(shape)} dimensions")
    sizes = tuple(int(shape[a]) for a in plan.axes)
    if sizes != tuple(plan.sizes):
        raise ValueError(
            f"the plan is for axes {plan.axes} of sizes {tuple(plan.sizes)}, but x has sizes {sizes} there; "
            "sample a new plan with shape=x.shape"
        )


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

    #: how companions follow the plan over the sample axes: ``"blend"`` (per-sample ``lam``), ``"box"``
    #: (``start``/``stop`` over ``axes``), ``"mask"`` (a per-element ``mask`` over ``axes``), or None
    geometry: ClassVar[str | None] = "blend"
    #: the companions this plan can carry (see :data:`ALL_COMPANIONS`)
    companions: ClassVar[frozenset[str]] = ALL_COMPANIONS
    #: True when every sample is mixed with one partner, so labels have the pair form
    pairwise: ClassVar[bool] = True
    #: the cut axes of the batch; a blend has none
    axes: ClassVar[tuple[int, ...]] = ()

    @property
    def batch_size(self) -> int:
        return int(self.partner.shape[0])

    @property
    def weights(self) -> np.ndarray:
        """The weight of each source, float64 ``(B, 2)``: ``lam`` (the sample's own) and ``1 - lam``
        (its partner's); rows sum to 1. Plans of more sources give ``(B, k)``, own weight first."""
        return np.stack([self.lam, 1.0 - self.lam], axis=1)

    # -- the protocol every plan type follows ---------------------------------------------------
    def check_fits(self, shape: tuple[int, ...]) -> None:
        """Raise ValueError unless the plan was sampled for a batch of ``shape`` ``(B, ...)``."""
        b = int(shape[0]) if len(shape) else -1
        if self.batch_size != b:
            raise ValueError(
                f"the plan was sampled for a batch of {self.batch_size} but x has batch size {b}; "
                "sample a new plan with .sample(len(x), shape=x.shape)"
            )

    def apply(self, x: Any, *, out: Any = None) -> Any:
        """The batch ``x`` ``(B, ...)`` mixed with this plan (into ``out`` when given; ``out=x`` mixes in
        place). ``out = lam * x + (1 - lam) * x[partner]`` for a blend."""
        self.check_fits(tuple(int(s) for s in x.shape))
        return self._apply(x, out)

    def _apply(self, x: Any, out: Any) -> Any:
        """The kernels, for a batch already checked to fit."""
        return blend(x, self.partner, self.lam, out=out)

    def label_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """``(partner, lam)`` ``(B,)`` for the pair label form: each label is ``lam`` of its own and
        ``1 - lam`` of its partner's."""
        if not self.pairwise:
            raise ValueError(
                f"{type(self).__name__} mixes more than two samples, so its labels have no pair form; "
                "use label_format='dense'"
            )
        return self.partner, self.lam

    def mix_targets(self, targets: Any) -> Any:
        """Dense float targets ``(B, C)`` mixed as the batch is: ``lam * t + (1 - lam) * t[partner]``."""
        partner, lam = self.label_pair()
        return blend(targets, partner, lam)

    def with_partner(self, partner: np.ndarray) -> MixPlan:
        """This plan with new partners; rows paired with themselves keep all of their data (``lam = 1``)."""
        own = np.asarray(partner) == np.arange(self.batch_size)
        return dataclasses.replace(self, partner=partner, lam=np.where(own, 1.0, self.lam))

    def _require(self, what: str) -> None:
        if what not in self.companions:
            raise ValueError(
                f"{type(self).__name__} cannot carry {what}; it carries "
                f"{', '.join(sorted(self.companions)) or 'no companions'}"
            )

    def mix_mask(self, mask: Any, *, num_classes: int | None = None, label_format: str = "dense",
                 ignore_index: int | None = None) -> Any:
        """A segmentation mask ``(B, ..., *S)`` mixed with the image (see :mod:`mixkit.companions.segmentation`)."""
        self._require("mask")
        return _segmentation.mix_by_geometry(self, mask, num_classes=num_classes, label_format=label_format,
                                             ignore_index=ignore_index)

    def mix_boxes(self, batch: Any, *, hw_axes: tuple[int, int], size: tuple[int, int],
                  min_visible: float = 0.25, seg: np.ndarray | None = None) -> Any:
        """Boxes of each mixed image (a :class:`~mixkit.companions.boxes.BoxBatch`)."""
        self._require("boxes")
        return _boxes.mix_boxes_by_geometry(self, batch, hw_axes=hw_axes, size=size, min_visible=min_visible,
                                            seg=seg)

    def mix_keypoints(self, points: list[np.ndarray], *, hw_axes: tuple[int, int], size: tuple[int, int]
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Keypoints of each mixed image and their weights."""
        self._require("keypoints")
        return _boxes.mix_keypoints_by_geometry(self, points, hw_axes=hw_axes, size=size)

    def fit_sequence(self, valid: np.ndarray, time_axis: int) -> Any:
        """The plan fitted to the valid steps ``(B, L)`` of a padded sequence batch."""
        self._require("padding_mask")
        return _sequences.fit_sequence_plan(self, valid, time_axis)

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

    geometry: ClassVar[str | None] = "box"

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze_boxes(self, "box")

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        check_axes_fit(self, shape, "cuts")

    def _apply(self, x: Any, out: Any) -> Any:
        return paste(x, self.partner, self.start, self.stop, self.axes, out=out)

    def with_partner(self, partner: np.ndarray) -> BoxPlan:
        own = (np.asarray(partner) == np.arange(self.batch_size))[:, None]
        return dataclasses.replace(self, partner=partner, lam=np.where(own[:, 0], 1.0, self.lam),
                                   start=np.where(own, 0, self.start), stop=np.where(own, 0, self.stop))

    @property
    def box_fraction(self) -> np.ndarray:
        """Fraction of each sample covered by its box, shape ``(B,)``."""
        extent = (self.stop - self.start).astype(np.float64)
        return np.prod(extent, axis=1) / float(np.prod(self.sizes)) if self.sizes else extent[:, 0]


@dataclass(frozen=True, eq=False, repr=False)
class MaskPlan(MixPlan):
    """A per-element mask: ``out = mask * x + (1 - mask) * x[partner]`` over the mask's axes.

    ``axes``: the batch axes the mask spans (non-negative, never 0); ``mask``: ``(B, *sizes)`` in
    [0, 1], 1 (True) where the sample keeps its own data. A binary mask is held as bool (one byte
    per element; FMix's hard masks, GridMix, ClassMix), and pastes: each element comes from the
    sample or its partner. A soft mask blends; the samplers (FMix with ``max_soft > 0``, SmoothMix)
    hold it as float32 (four bytes per element). Given integer 0/1 values the plan holds bool; given
    float32, float32; given other floats, float64. ``lam[i]`` (float64) is exactly the mean of the
    mask as held, ``mixkit.methods.masks.mask_lam(mask)[i]``.

    Results: the kernels read a float32 mask as stored and widen each weight ``w`` to float64 before
    taking ``1 - w``, so a float32 mask mixes every dtype and layout bit for bit as the float64 mask
    of the same values does (a stored float64 plan replays as before; ``to_dict`` of a float32
    plan says ``"mask_dtype": "float32"`` and ``plan_from_dict`` gives it back as float32). Against a float64
    mask of the unrounded values (what the samplers held before), each weight moves by at most
    ``2**-25``: for batches computed in float32 (float32, float16, bfloat16, 1-2 byte integers)
    ``cdt(w)`` is unchanged and ``cdt(1 - w)`` moves by at most ``2**-24``, so a float result moves
    by at most ``2**-24 * |x[partner]|`` and a rounding, an integer one by at most 1 (next to a
    rounding tie only); float64 and 4-8 byte integer batches move by at most
    ``2**-25 * (|x| + |x[partner]|)``.
    """

    axes: tuple[int, ...] = ()
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float64))

    def __post_init__(self) -> None:
        super().__post_init__()
        axes = _plan_axes(self.axes)
        mask = np.asarray(self.mask)
        if mask.dtype.kind in "iu":
            if mask.size and (mask.max() > 1 or mask.min() < 0):
                raise ValueError("mask values must lie in [0, 1]")
            mask = _frozen(mask, np.bool_)
        elif mask.dtype == np.bool_:
            mask = _frozen(mask, np.bool_)
        else:
            mask = _frozen(mask, np.float32 if mask.dtype == np.float32 else np.float64)
            if mask.size and not (mask.min() >= 0 and mask.max() <= 1):  # False for NaN too
                raise ValueError("mask values must lie in [0, 1]")
        self._set_mask(axes, mask)

    def _set_mask(self, axes: tuple[int, ...], mask: np.ndarray) -> None:
        if mask.ndim != len(axes) + 1 or mask.shape[0] != self.batch_size:
            raise ValueError(
                f"a mask plan needs a mask of shape (B, *sizes) with one size per axis {axes}; got {mask.shape}"
            )
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "mask", mask)

    @classmethod
    def _trusted(cls, *, partner: np.ndarray, lam: np.ndarray, axes: tuple[int, ...],
                 mask: np.ndarray) -> MaskPlan:
        """A plan from a sampler that guarantees the mask (bool, or float32/float64 in [0, 1], a fresh
        array the plan may own): no copy of the mask and no pass over it. ``partner`` and ``lam`` are
        checked as in every plan."""
        if mask.dtype not in (np.bool_, np.float32, np.float64):
            raise TypeError(f"a sampled mask is bool, float32 or float64, got {mask.dtype}")
        plan = cls.__new__(cls)
        object.__setattr__(plan, "partner", partner)
        object.__setattr__(plan, "lam", lam)
        MixPlan.__post_init__(plan)
        mask.setflags(write=False)
        plan._set_mask(_plan_axes(axes), mask)
        return plan

    geometry: ClassVar[str | None] = "mask"

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.mask.shape[1:])

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        check_axes_fit(self, shape, "masks")

    def _apply(self, x: Any, out: Any) -> Any:
        return mask_mix(x, self.partner, self.mask, self.axes, out=out)

    def with_partner(self, partner: np.ndarray) -> MaskPlan:
        own = np.asarray(partner) == np.arange(self.batch_size)
        mask = np.array(self.mask, copy=True)
        mask[own] = 1
        lam = np.where(own, 1.0, self.lam)
        return dataclasses.replace(self, partner=partner, lam=lam, mask=mask)

    @property
    def binary(self) -> bool:
        """True when the mask holds only 0 and 1 (always for a bool mask): the plan pastes."""
        if self.mask.dtype == np.bool_:
            return True
        return bool(np.all((self.mask == 0) | (self.mask == 1)))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["sizes"] = list(self.sizes)  # the mask's shape, which the list of an empty mask cannot show
        if self.mask.dtype == np.float32:  # a soft mask as the samplers hold it: replayed as float32
            out["mask_dtype"] = "float32"
        return out


@dataclass(frozen=True, eq=False, repr=False)
class MultiMixPlan(MixPlan):
    """A blend of ``k >= 3`` samples: ``out[i] = sum_j weights[i, j] * x[sources[i, j]]``.

    ``partner``: int64 ``(B, k - 1)``, the other sources of each sample; ``weights``: float64
    ``(B, k)`` in [0, 1], rows summing to 1, ``weights[:, 0]`` the sample's own weight (so ``lam``,
    ``(B,)``, is ``weights[:, 0]``, the convention of every plan). ``sources`` is ``(B, k)``: the
    sample itself, then its partners. Labels are mixed with the same weights (dense targets only: a
    sample has more than one partner, so there is no pair form). It carries no companions.
    """

    partner: np.ndarray
    lam: Any = None  # derived: weights[:, 0]; given, it must equal that column
    weights: Any = None

    geometry: ClassVar[str | None] = None
    companions: ClassVar[frozenset[str]] = frozenset()
    pairwise: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.weights is None:
            raise ValueError("a MultiMixPlan needs weights (B, k), the sample's own weight first")
        partner = _indices("partner", self.partner)
        weights = _frozen(self.weights, np.float64)
        if weights.ndim != 2 or partner.ndim != 2 or weights.shape[0] != partner.shape[0] \
                or weights.shape[1] != partner.shape[1] + 1:
            raise ValueError(
                f"a MultiMixPlan needs partner (B, k - 1) and weights (B, k); got {partner.shape} and "
                f"{weights.shape}"
            )
        k = weights.shape[1]
        if not 3 <= k <= MAX_SOURCES:
            raise ValueError(
                f"a MultiMixPlan mixes k = 3..{MAX_SOURCES} sources, got k = {k}; two sources are a MixPlan"
            )
        b = partner.shape[0]
        if b and (partner.min() < 0 or partner.max() >= b):
            raise ValueError(f"partner indices must lie in [0, {b}); got {partner.min()}..{partner.max()}")
        if b and not (np.all(weights >= 0) and np.all(weights <= 1)):  # False for NaN too
            raise ValueError("weights must lie in [0, 1] for every sample and source")
        if b and np.max(np.abs(weights.sum(axis=1) - 1.0)) > 1e-6:
            row = int(np.argmax(np.abs(weights.sum(axis=1) - 1.0)))
            raise ValueError(
                f"each row of weights must sum to 1; row {row} sums to {weights[row].sum():.6g}"
            )
        own = weights[:, 0].copy()
        if self.lam is not None:
            lam = np.asarray(self.lam, dtype=np.float64)
            if lam.shape != own.shape or not np.array_equal(lam, own):
                raise ValueError("lam of a MultiMixPlan is weights[:, 0]; leave it out or pass that column")
        object.__setattr__(self, "partner", partner)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "lam", _frozen(own, np.float64))

    @property
    def k(self) -> int:
        """Sources per output sample (the sample itself and ``k - 1`` partners)."""
        return int(self.weights.shape[1])

    @property
    def sources(self) -> np.ndarray:
        """int64 ``(B, k)``: the sample's own index, then its partners."""
        return np.concatenate([np.arange(self.batch_size, dtype=np.int64)[:, None], self.partner], axis=1)

    def _apply(self, x: Any, out: Any) -> Any:
        return blend_many(x, self.sources, self.weights, out=out)

    def mix_targets(self, targets: Any) -> Any:
        """Dense float targets ``(B, C)`` mixed as the batch is: ``sum_j weights[:, j] * t[sources[:, j]]``."""
        return blend_many(targets, self.sources, self.weights)

    def with_partner(self, partner: np.ndarray) -> MixPlan:
        raise ValueError(
            f"a MultiMixPlan mixes each sample with {self.k - 1} partners, but partners drawn elsewhere "
            "(label-aware pairing, C-Mixup) are one per sample; use MixUp with k=2 there"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (``partner``, ``weights`` and ``k``, which an empty batch's lists cannot show)."""
        return {"type": type(self).__name__, "partner": self.partner.tolist(),
                "weights": self.weights.tolist(), "k": self.k}

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> MultiMixPlan:
        data = dict(data)
        k = data.pop("k", None)
        unknown = sorted(set(data) - {"partner", "weights", "lam"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} for MultiMixPlan; its fields are ['k', 'partner', 'weights']")
        if "partner" not in data or "weights" not in data:
            raise ValueError("a MultiMixPlan dict needs 'partner' and 'weights'")
        partner, weights = np.asarray(data["partner"]), np.asarray(data["weights"], dtype=np.float64)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise TypeError(f"k must be an int, got {k!r}")
            if partner.size == 0:
                partner = partner.reshape(0, int(k) - 1).astype(np.int64)
            if weights.size == 0:
                weights = weights.reshape(0, int(k))
        return cls(partner=partner, weights=weights, lam=data.get("lam"))

    def __repr__(self) -> str:
        w = np.round(self.weights[:2], 3).tolist()
        more = ", ..." if self.batch_size > 2 else ""
        return f"MultiMixPlan(batch_size={self.batch_size}, k={self.k}, weights={w}{more})"


_PLAN_TYPES = {cls.__name__: cls for cls in (MixPlan, BoxPlan, MaskPlan, MultiMixPlan)}


def register_plan_type(cls: type) -> type:
    """Make a plan class known to :func:`plan_from_dict` (used by the method modules)."""
    _PLAN_TYPES[cls.__name__] = cls
    return cls


def plan_from_dict(data: dict[str, Any]) -> MixPlan:
    """Rebuild a plan logged with ``plan.to_dict()`` (also for an empty batch or zero-size axes)."""
    if not isinstance(data, dict):
        raise TypeError(f"plan_from_dict takes the dict of plan.to_dict(), got {type(data).__name__}")
    data = dict(data)
    name = data.pop("type", "MixPlan")
    if name not in _PLAN_TYPES:
        raise ValueError(f"unknown plan type {name!r}; known: {sorted(_PLAN_TYPES)}")
    cls = _PLAN_TYPES[name]
    if hasattr(cls, "_from_dict"):
        return cls._from_dict(data)
    names = {f.name for f in fields(cls)}
    for key in ("axes", "sizes"):
        if key in data:
            data[key] = tuple(int(v) for v in data[key])
    if "mask" in names and "sizes" not in names and "mask" in data:
        # a mask plan: its list form loses the shape when it is empty, so the dict also holds "sizes"
        mask = np.asarray(data["mask"])  # a bool mask's list holds True/False and stays bool
        held = data.pop("mask_dtype", "float64")
        if held not in ("float32", "float64"):
            raise ValueError(f"mask_dtype must be 'float32' or 'float64', got {held!r}")
        if mask.dtype != np.bool_:
            # float32 values survive the list of Python floats exactly
            mask = mask.astype(np.float32 if held == "float32" else np.float64)
        sizes = data.pop("sizes", None)
        b = len(data.get("partner", ()))
        if sizes is not None:
            if mask.size != b * int(np.prod(sizes, dtype=np.int64)):
                raise ValueError(f"the plan's mask has {mask.size} values, not B x prod(sizes) = {b} x {sizes}")
            mask = mask.reshape((b, *sizes))
        elif mask.size == 0:
            raise ValueError("the plan's mask is empty and the dict has no 'sizes' to give its shape")
        data["mask"] = mask
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} for {name}; its fields are {sorted(names)}")
    return cls(**data)

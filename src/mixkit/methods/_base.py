"""What every mixing method shares: the call protocol, label handling and plan dispatch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validate import as_generator, check_batch, check_choice, check_probability
from .._xp import backend
from ..kernels import blend, mask_mix, mix_index_labels, paste
from ..labels import as_targets, check_labels, mix_targets, pair_targets
from ..plan import BoxPlan, MaskPlan, MixPlan

__all__ = ["Mixer", "apply_plan", "check_plan_fits"]

LABEL_FORMATS = ("dense", "pair")


def check_plan_fits(plan: MixPlan, x: Any) -> None:
    """Raise ValueError if ``plan`` was sampled for a batch of another size or shape."""
    if not isinstance(plan, MixPlan):
        raise TypeError(f"expected a plan from .sample(), got {type(plan).__name__}")
    b = int(x.shape[0])
    if plan.batch_size != b:
        raise ValueError(
            f"the plan was sampled for a batch of {plan.batch_size} but x has batch size {b}; "
            "sample a new plan with .sample(len(x), shape=x.shape)"
        )
    if isinstance(plan, (BoxPlan, MaskPlan)):
        if plan.axes and max(plan.axes) >= len(x.shape):
            raise ValueError(
                f"the plan cuts axes {plan.axes} but x has only {len(x.shape)} dimensions"
            )
        sizes = tuple(int(x.shape[a]) for a in plan.axes)
        if sizes != plan.sizes:
            raise ValueError(
                f"the plan's boxes are for axes {plan.axes} of sizes {plan.sizes}, but x has sizes "
                f"{sizes} there; sample a new plan with shape=x.shape"
            )


def apply_plan(plan: MixPlan, x: Any, *, out: Any = None, inplace: bool = False) -> Any:
    """Mix the batch ``x`` ``(B, ...)`` with ``plan``; returns the mixed batch.

    ``out``: a buffer like ``x`` to write into; ``inplace=True`` writes into ``x`` itself (the only
    way an input is changed). Without either, a new array is returned.
    """
    check_batch(x)
    check_plan_fits(plan, x)
    if inplace:
        if out is not None and out is not x:
            raise ValueError("pass either inplace=True or out=, not both")
        out = x
    elif out is not None:
        if backend(out) != backend(x) or tuple(out.shape) != tuple(x.shape) or out.dtype != x.dtype:
            raise ValueError(
                f"out must be an array of the same library, shape and dtype as x "
                f"({type(x).__name__} {tuple(x.shape)} {x.dtype}); got {type(out).__name__} "
                f"{tuple(out.shape)} {out.dtype}"
            )
        if backend(out) == "numpy" and not out.flags.writeable:
            raise ValueError("out is read-only; pass a writable buffer")
    if out is not None and backend(out) == "numpy" and not out.flags.writeable:
        raise ValueError("x is read-only, so it cannot be mixed in place; drop inplace=True")
    if isinstance(plan, BoxPlan):
        return paste(x, plan.partner, plan.start, plan.stop, plan.axes, out=out)
    if isinstance(plan, MaskPlan):
        return mask_mix(x, plan.partner, plan.mask, plan.axes, out=out)
    apply_custom = getattr(plan, "apply_to", None)
    if apply_custom is not None:
        return apply_custom(x, out=out)
    return blend(x, plan.partner, plan.lam, out=out)


class Mixer:
    """Base of the mixing transforms: ``t(x, y, rng=...) -> (x_mixed, y_mixed)``.

    Subclasses implement :meth:`sample`. Labels: class indices ``(B,)`` with ``num_classes``, or
    probabilities / multi-hot ``(B, C)``. ``label_format="dense"`` returns ``(B, C)`` float targets,
    ``"pair"`` a :class:`~mixkit.MixedTargets`. ``label_smoothing`` (default 0) is applied before mixing.
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        p: float = 1.0,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
    ) -> None:
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.p = check_probability(p, "p")
        self.label_smoothing = check_probability(label_smoothing, "label_smoothing")
        self.label_format = check_choice("label_format", label_format, LABEL_FORMATS)

    # -- to be provided by each method ---------------------------------------------------------
    def sample(self, batch_size: int, *, rng: Any = None, shape: tuple[int, ...] | None = None) -> MixPlan:
        raise NotImplementedError

    def _sample_structured(self, batch_size: int, rng: np.random.Generator, shape: tuple[int, ...],
                           sample: dict[str, Any]) -> MixPlan:
        """The plan for a structured sample; methods whose plan depends on a companion (ClassMix reads
        the segmentation mask) override this."""
        return self.sample(batch_size, rng=rng, shape=shape)

    # -- shared protocol -------------------------------------------------------------------------
    def __call__(self, x: Any, y: Any = None, *, rng: Any = None, out: Any = None,
                 inplace: bool = False, **companions: Any) -> Any:
        """Sample a plan for ``x`` and apply it; returns ``(x_mixed, y_mixed)`` (``y_mixed`` is None
        when ``y`` is None).

        Structured samples: a dict ``{"image" or "x": batch, "labels": y, "mask": ..., "boxes": ...}``,
        or companions as keywords (``mask=``, ``boxes=``, ``box_labels=``, ``keypoints=``,
        ``padding_mask=``, ``lengths=``, ``token_labels=``), are all mixed with the same plan and
        returned as a dict (see :mod:`mixkit.methods._structured` for the keys and options).
        """
        if isinstance(x, Mapping) or companions:
            from ._structured import call_structured

            return call_structured(self, x, y, rng=rng, out=out, inplace=inplace, extra=companions)
        check_batch(x)
        b = int(x.shape[0])
        if y is not None:
            check_labels(y, b, self.num_classes)
        plan = self.sample(b, rng=as_generator(rng), shape=tuple(int(s) for s in x.shape))
        return self.apply(plan, x, y, out=out, inplace=inplace)

    def apply(self, plan: MixPlan, x: Any, y: Any = None, *, out: Any = None,
              inplace: bool = False, **companions: Any) -> Any:
        """Apply a plan from :meth:`sample` to ``x`` ``(B, ...)`` and labels ``y`` (or to a structured
        sample, as in :meth:`__call__`)."""
        if isinstance(x, Mapping) or companions:
            from ._structured import apply_to_sample

            return apply_to_sample(self, plan, x, y, out=out, inplace=inplace, extra=companions)
        check_batch(x)
        check_plan_fits(plan, x)
        y = None if y is None else check_labels(y, int(x.shape[0]), self.num_classes)
        x_out = apply_plan(plan, x, out=out, inplace=inplace)
        return x_out, (None if y is None else self.mix_labels(plan, y))

    def mix_labels(self, plan: MixPlan, y: Any) -> Any:
        """Labels mixed with the plan's ``partner`` and ``lam``: dense ``(B, C)`` or the pair form."""
        y = check_labels(y, plan.batch_size, self.num_classes)
        many = getattr(plan, "mix_label_targets", None)
        if many is not None:  # plans with more than two sources per sample (Mosaic)
            if self.label_format == "pair":
                raise ValueError(f"{type(plan).__name__} mixes more than two samples; use label_format='dense'")
            return many(as_targets(y, num_classes=self.num_classes, label_smoothing=self.label_smoothing))
        if self.label_format == "pair":
            return pair_targets(y, plan.partner, plan.lam, num_classes=self.num_classes,
                                label_smoothing=self.label_smoothing)
        if len(y.shape) == 1:  # class indices: one fused launch where the device has the kernel
            fused = mix_index_labels(y, plan.partner, plan.lam, self.num_classes, self.label_smoothing)
            if fused is not None:
                return fused
        targets = as_targets(y, num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return mix_targets(targets, plan.partner, plan.lam)

    # -- presentation ----------------------------------------------------------------------------
    def _repr_fields(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        fields = dict(self._repr_fields())
        fields.update(num_classes=self.num_classes, p=self.p)
        if self.label_smoothing:
            fields["label_smoothing"] = self.label_smoothing
        if self.label_format != "dense":
            fields["label_format"] = self.label_format
        inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__name__}({inner})"

    def _label_config(self) -> tuple[Any, ...]:
        return (self.num_classes, self.label_smoothing, self.label_format)


def finish_plan(partner: np.ndarray, lam: np.ndarray, applied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples not applied, or paired with themselves, keep all of their own data: ``lam = 1``."""
    rows = np.arange(partner.shape[0])
    keep = (~applied) | (partner == rows)
    partner = np.where(applied, partner, rows)
    lam = np.where(keep, 1.0, lam)
    return partner, lam


def finish_box_plan(
    partner: np.ndarray, start: np.ndarray, stop: np.ndarray, sizes: tuple[int, ...], applied: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Box plans: samples not applied, paired with themselves or with an empty box paste nothing
    (their box becomes ``[0, 0)``); ``lam`` is the exact kept fraction ``1 - volume / prod(sizes)``.

    Returns ``(partner, lam, start, stop)``.
    """
    rows = np.arange(partner.shape[0])
    volume = np.prod(stop - start, axis=1).astype(np.float64)
    empty = (~applied) | (partner == rows) | (volume == 0)
    start = np.where(empty[:, None], 0, start)
    stop = np.where(empty[:, None], 0, stop)
    partner = np.where(applied, partner, rows)
    total = float(np.prod(sizes))
    volume = np.where(empty, 0.0, volume)
    lam = 1.0 - volume / total if total > 0 else np.ones(partner.shape[0])
    return partner, lam, start, stop

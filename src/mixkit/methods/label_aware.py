"""Mixing that reads the labels: partners drawn by class (Balanced-MixUp, intra-/inter-class) and
Remix's label rule for imbalanced data.

These transforms need the labels when the plan is sampled, so ``t(x, y, rng=...)`` passes them on,
and ``t.sample(B, rng=..., shape=x.shape, y=y)`` takes them. The input is mixed as usual
(``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, or the ``base`` method's box or mask); the
labels are mixed with the plan's ``label_lam``, which equals ``lam`` except where Remix moves it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import (
    _finite_float,
    as_generator,
    check_alpha,
    check_batch,
    check_batch_size,
    check_choice,
    check_probability,
)
from ..kernels import blend
from ..labels import as_targets, check_labels, mix_targets, pair_targets
from ..pairing import PAIRINGS, sample_partner
from ..pairing_labels import (
    LABEL_PAIRINGS,
    ClassCounts,
    class_indices,
    remix_label_lam,
    sample_label_partner,
)
from ..plan import BoxPlan, MaskPlan, MixPlan, _frozen, plan_from_dict, register_plan_type
from ..sampling import LAM_MODES, sample_applied, sample_lam
from ._base import Mixer, apply_plan, finish_plan

__all__ = ["BalancedMixUp", "LabelPairedMix", "LabelPlan", "Remix"]


@dataclass(frozen=True, eq=False, repr=False)
class LabelPlan(MixPlan):
    """A plan whose labels are mixed with ``label_lam`` ``(B,)`` instead of ``lam``.

    ``inner``: the plan that mixes the input (a box, mask or resize plan of a ``base`` method), or
    None for a blend with ``partner`` and ``lam``.
    """

    label_lam: np.ndarray = field(default_factory=lambda: np.zeros(0))
    inner: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        label_lam = _frozen(self.label_lam, np.float64)
        if label_lam.shape != self.lam.shape:
            raise ValueError(f"label_lam must have shape {self.lam.shape}, got {label_lam.shape}")
        if label_lam.size and not (np.all(label_lam >= 0) and np.all(label_lam <= 1)):
            raise ValueError("label_lam must lie in [0, 1] for every sample")
        inner = self.inner
        if isinstance(inner, dict):
            inner = plan_from_dict(inner)
        if inner is not None and (not isinstance(inner, MixPlan) or inner.batch_size != self.batch_size):
            raise ValueError("inner must be a plan for the same batch size, or None")
        object.__setattr__(self, "label_lam", label_lam)
        object.__setattr__(self, "inner", inner)

    def apply_to(self, x: Any, *, out: Any = None) -> Any:
        """Mix ``x`` ``(B, ...)`` with ``inner`` (or blend with ``partner``/``lam``)."""
        if self.inner is not None:
            return apply_plan(self.inner, x, out=out)
        return blend(x, self.partner, self.lam, out=out)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["inner"] = None if self.inner is None else self.inner.to_dict()
        return out


register_plan_type(LabelPlan)


def _with_partner(plan: MixPlan, partner: np.ndarray) -> MixPlan:
    """``plan`` with new partners; rows paired with themselves keep all of their data (``lam = 1``)."""
    rows = np.arange(plan.batch_size)
    own = partner == rows
    if isinstance(plan, BoxPlan):
        start = np.where(own[:, None], 0, plan.start)
        stop = np.where(own[:, None], 0, plan.stop)
        lam = np.where(own, 1.0, plan.lam)
        return dataclasses.replace(plan, partner=partner, lam=lam, start=start, stop=stop)
    if isinstance(plan, MaskPlan):
        mask = np.array(plan.mask, copy=True)
        mask[own] = 1.0
        lam = np.array([float(m.mean()) for m in mask]) if mask.size else np.ones(plan.batch_size)
        return dataclasses.replace(plan, partner=partner, lam=lam, mask=mask)
    if hasattr(plan, "start") and hasattr(plan, "stop"):  # a resize plan: same box rule
        start = np.where(own[:, None], 0, plan.start)
        stop = np.where(own[:, None], 0, plan.stop)
        return dataclasses.replace(plan, partner=partner, lam=np.where(own, 1.0, plan.lam), start=start, stop=stop)
    return dataclasses.replace(plan, partner=partner, lam=np.where(own, 1.0, plan.lam))


class LabelPairedMix(Mixer):
    """MixUp (or a ``base`` method) whose partners are drawn from the labels.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` for the blend (unused when ``base`` is given).
        pairing: ``"balanced"`` (partner's class uniform over the classes in the batch), ``"intra"``
            (same class), ``"inter"`` (another class), or a label-blind ``"shuffle"``/``"pairs"``/``"flip"``.
        base: another mixkit method (``CutMix()``, ``FMix()``, ``ResizeMix()``, ...) whose box or mask
            mixes the input; its partners are replaced by the label-aware ones (its own ``p`` applies).
        lam_mode, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`.

    Labels are needed to sample: call ``t(x, y, rng=...)``, or ``t.sample(B, rng=..., shape=..., y=y)``.
    """

    def __init__(self, alpha: float = 1.0, *, pairing: str = "balanced", base: Mixer | None = None,
                 lam_mode: str = "sample", num_classes: int | None = None, p: float = 1.0,
                 label_smoothing: float = 0.0, label_format: str = "dense") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, label_format=label_format)
        self.alpha = check_alpha(alpha)
        self.pairing = check_choice("pairing", pairing, LABEL_PAIRINGS + PAIRINGS)
        self.lam_mode = check_choice("lam_mode", lam_mode, LAM_MODES)
        if base is not None:
            if not isinstance(base, Mixer) or isinstance(base, LabelPairedMix):
                raise TypeError(
                    f"base must be a mixkit method such as CutMix() or FMix(), got {type(base).__name__}"
                )
            if type(base).__name__ == "SaliencyMix":
                raise ValueError("SaliencyMix cannot be a base: its boxes follow its own partners' saliency")
        self.base = base

    def _lam(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        return sample_lam(batch_size, self.alpha, self.lam_mode, rng)

    def _partner(self, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.pairing in LABEL_PAIRINGS:
            return sample_label_partner(classes, self.pairing, rng)
        return sample_partner(classes.shape[0], self.pairing, rng)

    def _label_lam(self, plan: MixPlan, classes: np.ndarray) -> np.ndarray:
        return plan.lam

    def sample(self, batch_size: int, *, rng: Any = None, shape: tuple[int, ...] | None = None,
               y: Any = None) -> LabelPlan:
        """Draw a plan for a batch of ``batch_size`` with labels ``y`` (indices ``(B,)`` or ``(B, C)``)."""
        batch_size = check_batch_size(batch_size, shape)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} draws partners from the labels: pass y= to sample() "
                "(calling the transform with (x, y) does this)"
            )
        y = check_labels(y, batch_size, self.num_classes)
        classes = class_indices(y)
        gen = as_generator(rng)
        partner = self._partner(classes, gen)
        if self.base is not None:
            inner = _with_partner(self.base.sample(batch_size, rng=gen, shape=shape), partner)
            lam = inner.lam
        else:
            inner = None
            applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
            partner, lam = finish_plan(partner, self._lam(batch_size, gen), applied)
        base_plan = MixPlan(partner=partner if inner is None else inner.partner, lam=lam)
        label_lam = self._label_lam(base_plan, classes)
        return LabelPlan(partner=base_plan.partner, lam=lam, label_lam=label_lam, inner=inner)

    def __call__(self, x: Any, y: Any = None, *, rng: Any = None, out: Any = None,
                 inplace: bool = False, **companions: Any) -> Any:
        """Sample a plan from the labels ``y`` and apply it; returns ``(x_mixed, y_mixed)`` (a dict for
        structured samples, as for every method; the dict then needs ``"labels"``)."""
        if isinstance(x, Mapping) or companions:
            return super().__call__(x, y, rng=rng, out=out, inplace=inplace, **companions)
        check_batch(x)
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the labels: call it as t(x, y, rng=...)")
        b = int(x.shape[0])
        plan = self.sample(b, rng=as_generator(rng), shape=tuple(int(s) for s in x.shape), y=y)
        return self.apply(plan, x, y, out=out, inplace=inplace)

    def _sample_structured(self, batch_size: int, rng: np.random.Generator, shape: tuple[int, ...],
                           sample: dict[str, Any]) -> LabelPlan:
        return self.sample(batch_size, rng=rng, shape=shape, y=sample.get("labels"))

    def mix_labels(self, plan: MixPlan, y: Any) -> Any:
        """Labels mixed with the plan's ``label_lam`` (``lam`` for plans without one)."""
        y = check_labels(y, plan.batch_size, self.num_classes)
        lam = getattr(plan, "label_lam", plan.lam)
        if self.label_format == "pair":
            return pair_targets(y, plan.partner, lam, num_classes=self.num_classes,
                                label_smoothing=self.label_smoothing)
        targets = as_targets(y, num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return mix_targets(targets, plan.partner, lam)

    def _repr_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alpha": self.alpha, "pairing": self.pairing, "lam_mode": self.lam_mode}
        if self.base is not None:
            out["base"] = self.base
        return out


class BalancedMixUp(LabelPairedMix):
    """Balanced-MixUp (Galdran et al., 2021): each sample is mixed with a class-balanced partner.

    The sample itself comes from the usual (instance) sampling and keeps the larger share,
    ``lam ~ Beta(1, alpha)``; its partner is drawn from the batch with its class uniform over the
    classes present (``pairing="balanced"``). Small ``alpha`` (the paper uses 0.1 to 0.3) gives light
    mixing. ``base``, ``lam_mode``, ``num_classes``, ``p``, ``label_smoothing``, ``label_format``: as in
    :class:`LabelPairedMix`.
    """

    def __init__(self, alpha: float = 0.2, *, pairing: str = "balanced", base: Mixer | None = None,
                 lam_mode: str = "sample", num_classes: int | None = None, p: float = 1.0,
                 label_smoothing: float = 0.0, label_format: str = "dense") -> None:
        super().__init__(alpha, pairing=pairing, base=base, lam_mode=lam_mode, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format)

    def _lam(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        n = 1 if self.lam_mode == "batch" else batch_size
        return np.resize(rng.beta(1.0, self.alpha, size=n), batch_size)


class Remix(LabelPairedMix):
    """Remix (Chou et al., 2020): mix inputs as usual, give the label to the minority class.

    With ``n_i``, ``n_j`` the class counts of a sample and its partner and ``lam`` the sample's own
    share, the sample's label weight is 0 if ``n_i / n_j >= kappa`` and ``lam < tau``, 1 if
    ``n_i / n_j <= 1 / kappa`` and ``1 - lam < tau``, and ``lam`` otherwise.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (unused when ``base`` is given: its exact ``lam`` is used).
        kappa: the count ratio (>= 1) from which a class counts as the majority (paper: 3).
        tau: the share threshold in [0, 1] (paper: 0.5).
        counts: training counts per class; None tracks them over the batches seen (counts then
            include the current batch).
        pairing: as in :class:`LabelPairedMix` (default ``"shuffle"``, as in the paper).
        base, lam_mode, num_classes, p, label_smoothing, label_format: as in :class:`LabelPairedMix`.
    """

    def __init__(self, alpha: float = 1.0, *, kappa: float = 3.0, tau: float = 0.5, counts: Any = None,
                 pairing: str = "shuffle", base: Mixer | None = None, lam_mode: str = "sample",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense") -> None:
        super().__init__(alpha, pairing=pairing, base=base, lam_mode=lam_mode, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format)
        kappa_f = _finite_float("kappa", kappa)
        if kappa_f < 1.0:
            raise ValueError(f"kappa must be >= 1 (a ratio of class counts), got {kappa_f}")
        tau_f = check_probability(tau, "tau")
        self.kappa, self.tau = kappa_f, tau_f
        self.counts = counts if isinstance(counts, ClassCounts) else ClassCounts(counts, num_classes=num_classes)

    def _label_lam(self, plan: MixPlan, classes: np.ndarray) -> np.ndarray:
        self.counts.update(classes)
        own = self.counts.of(classes)
        return remix_label_lam(plan.lam, own, own[plan.partner], kappa=self.kappa, tau=self.tau)

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        out.update(kappa=self.kappa, tau=self.tau, counts=self.counts)
        return out

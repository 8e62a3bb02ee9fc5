"""Mixing that reads the labels: partners drawn by class (Balanced-MixUp, intra-/inter-class) and
Remix's label rule for imbalanced data.

These transforms need the labels when the plan is sampled, so ``t(x, y, rng=...)`` passes them on,
and ``t.sample(B, rng=..., shape=x.shape, y=y)`` takes them (``needs == {"y"}``). The input is mixed as usual
(``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, or the ``base`` method's box or mask); the
labels are mixed with the plan's ``label_lam``, which equals ``lam`` except where Remix moves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import _finite_float, check_probability
from ..kernels import blend
from ..pairing import PAIRINGS, sample_partner
from ..pairing_labels import (
    LABEL_PAIRINGS,
    ClassCounts,
    class_indices,
    remix_label_lam,
    sample_label_partner,
)
from ..plan import MixPlan, _frozen, plan_from_dict, register_plan_type
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, check_base, finish_plan

__all__ = ["BalancedMixUp", "LabelPairedMix", "LabelPlan", "Remix"]


@dataclass(frozen=True, eq=False, repr=False)
class LabelPlan(MixPlan):
    """A plan whose labels are mixed with ``label_lam`` ``(B,)`` instead of ``lam``.

    ``inner``: the plan that mixes the input (a box, mask or resize plan of a ``base`` method), or
    None for a blend with ``partner`` and ``lam``. Companions (masks, boxes, ...) are not carried:
    their labels would follow ``lam`` where the sample's label follows ``label_lam``.
    """

    companions: ClassVar[frozenset[str]] = frozenset()

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

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        if self.inner is not None:
            self.inner.check_fits(shape)

    def _apply(self, x: Any, out: Any) -> Any:
        """Mix ``x`` ``(B, ...)`` with ``inner`` (or blend with ``partner``/``lam``)."""
        if self.inner is not None:
            return self.inner._apply(x, out)
        return blend(x, self.partner, self.lam, out=out)

    def label_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """``(partner, label_lam)``: labels follow ``label_lam``."""
        return self.partner, self.label_lam

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["inner"] = None if self.inner is None else self.inner.to_dict()
        return out


register_plan_type(LabelPlan)


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

    needs = frozenset({"y"})

    def __init__(self, alpha: float = 1.0, *, pairing: str = "balanced", base: Mixer | None = None,
                 lam_mode: str = "sample", num_classes: int | None = None, p: float = 1.0,
                 label_smoothing: float = 0.0, label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, label_format=label_format,
                         targets=targets)
        self._options(alpha=alpha, pairing=pairing, pairings=LABEL_PAIRINGS + PAIRINGS, lam_mode=lam_mode)
        if self.targets == "continuous" and self.pairing in LABEL_PAIRINGS:
            raise ValueError(
                f"pairing={self.pairing!r} draws partners by class, but targets='continuous' has no classes; "
                "use a label-blind pairing ('shuffle', 'pairs', 'flip') or CMixUp for regression targets"
            )
        if base is not None:
            check_base(base, LabelPairedMix)
        self.base = base

    def _lam(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        return sample_lam(batch_size, self.alpha, self.lam_mode, rng)

    def _partner(self, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.pairing in LABEL_PAIRINGS:
            return sample_label_partner(classes, self.pairing, rng)
        return sample_partner(classes.shape[0], self.pairing, rng)

    def _label_lam(self, plan: MixPlan, classes: np.ndarray) -> np.ndarray:
        return plan.lam

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> LabelPlan:
        """A plan for a batch of ``batch_size`` with labels ``y`` (indices ``(B,)`` or ``(B, C)``)."""
        if y is None:
            raise self._missing("the labels", "y= (the 'labels' of a dict sample); it draws partners from them")
        classes = class_indices(y)
        partner = self._partner(classes, gen)
        if self.base is not None:  # the method's own p on top of the base's: rows not mixed pair with themselves
            applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
            partner = np.where(applied, partner, np.arange(batch_size))
            inner = self.base._sample(batch_size, gen, shape, x=x, y=y, companions=companions).with_partner(partner)
            lam = inner.lam
            partner = inner.partner
        else:
            inner = None
            applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
            partner, lam = finish_plan(partner, self._lam(batch_size, gen), applied)
        label_lam = self._label_lam(MixPlan(partner=partner, lam=lam), classes)
        return LabelPlan(partner=partner, lam=lam, label_lam=label_lam, inner=inner)

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
                 label_smoothing: float = 0.0, label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(alpha, pairing=pairing, base=base, lam_mode=lam_mode, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format, targets=targets)

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
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(alpha, pairing=pairing, base=base, lam_mode=lam_mode, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format, targets=targets)
        if self.targets == "continuous":
            raise ValueError("Remix moves labels towards the minority class, so it needs class labels; "
                             "targets='continuous' has no classes")
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

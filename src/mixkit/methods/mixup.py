"""MixUp (Zhang et al., 2018): blend each sample with a partner, ``lam ~ Beta(alpha, alpha)``; and
n-way MixUp, each sample blended with ``k - 1`` partners, weights ``~ Dirichlet(alpha, ..., alpha)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import MAX_SOURCES
from ..pairing import sample_partner
from ..plan import MixPlan, MultiMixPlan
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, finish_plan

__all__ = ["MixUp", "check_k", "mixup", "sample_nway"]


def check_k(k: Any) -> int:
    """``k``, the sources of each mixed sample: an int in ``[2, MAX_SOURCES]``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int (the number of samples mixed into each output, 2 for MixUp), got {k!r}")
    if not 2 <= int(k) <= MAX_SOURCES:
        raise ValueError(
            f"k must lie in [2, {MAX_SOURCES}] (the sample and k - 1 partners), got {int(k)}; k=2 is MixUp"
        )
    return int(k)


def sample_nway(batch_size: int, k: int, alpha: float, lam_mode: str, p: float, gen: np.random.Generator,
                *, majority: bool = False) -> MultiMixPlan:
    """An n-way plan: partners ``(B, k - 1)`` and weights ``(B, k)``, own weight first.

    Partners: column ``j`` is an independent uniform permutation of the batch (so every sample is
    the ``j``-th partner of exactly one sample). Weights: ``Dirichlet(alpha, ..., alpha)`` (``k``
    parameters), one draw per batch (``lam_mode="batch"``) or per sample. ``majority`` moves the
    largest weight to the sample itself. Samples not applied (probability ``1 - p``, as in MixUp) keep
    weights ``(1, 0, ..., 0)`` and themselves as partners; a partner that is the sample itself gives
    its weight to the sample's own, so ``weights[:, 0]`` is the whole share of the sample's own data.
    Draws, in order: the permutations (one ``Generator.permuted`` call), the weights, the mask of
    applied samples.
    """
    rows = np.arange(batch_size, dtype=np.int64)
    partner = gen.permuted(np.broadcast_to(rows, (k - 1, batch_size)), axis=1).T.astype(np.int64)
    if lam_mode == "batch":
        w = np.broadcast_to(gen.dirichlet(np.full(k, alpha)), (batch_size, k)).copy()
    else:
        w = gen.dirichlet(np.full(k, alpha), size=batch_size)
    w = np.nan_to_num(np.asarray(w, dtype=np.float64).reshape(batch_size, k), nan=0.0)
    total = w.sum(axis=1)
    w = np.where(total[:, None] > 0, w / np.where(total > 0, total, 1.0)[:, None], np.eye(1, k))
    if majority:
        top = np.argmax(w, axis=1)
        own = w[rows, 0].copy()
        w[rows, 0] = w[rows, top]
        w[rows, top] = own
    applied = sample_applied(batch_size, p, lam_mode, gen)
    partner = np.where(applied[:, None], partner, rows[:, None])
    w = np.where(applied[:, None], w, np.eye(1, k))
    self_pair = partner == rows[:, None]
    w[:, 0] += np.where(self_pair, w[:, 1:], 0.0).sum(axis=1)
    w[:, 1:] = np.where(self_pair, 0.0, w[:, 1:])
    w = np.clip(w, 0.0, 1.0)
    return MultiMixPlan(partner=partner, weights=w)


class MixUp(Mixer):
    """MixUp: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, labels mixed alike.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``; small alpha gives gentle mixes, 1.0 uniform ``lam``.
        lam_mode: ``"batch"`` (one ``lam`` per call, as in the paper) or ``"sample"`` (one per sample).
        pairing: ``"shuffle"``, ``"pairs"`` or ``"flip"`` (see :func:`mixkit.pairing.sample_partner`).
        num_classes: needed when labels are class indices ``(B,)``.
        p: probability of mixing (per call in ``"batch"`` mode, per sample in ``"sample"`` mode);
            samples not mixed keep ``lam = 1``.
        lam: a fixed ``lam`` instead of a Beta draw.
        majority: ``lam = max(lam, 1 - lam)`` (MixMatch): each sample keeps the larger share.
        label_smoothing: label smoothing applied before mixing (off by default).
        label_format: ``"dense"`` ``(B, C)`` targets or ``"pair"`` :class:`~mixkit.MixedTargets`.
        k: samples mixed into each output (default 2, MixUp itself). ``k >= 3`` is n-way MixUp:
            ``out[i] = sum_j weights[i, j] * x[sources[i, j]]`` with the sample itself first and
            ``k - 1`` partners (independent permutations), weights ``~ Dirichlet(alpha, ..., alpha)``
            (per batch or per sample as ``lam_mode`` says; ``majority`` gives the sample the largest
            weight), labels mixed with the same weights; the plan is a :class:`~mixkit.MultiMixPlan`.
            It needs ``pairing="shuffle"``, no fixed ``lam`` and dense labels (see :func:`sample_nway`).

    Works on any batch ``(B, ...)``: images, time series, token embeddings, tabular rows.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        lam_mode: str = "batch",
        pairing: str = "shuffle",
        num_classes: int | None = None,
        p: float = 1.0,
        lam: float | None = None,
        majority: bool = False,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
        targets: str = "classes",
        k: int = 2,
    ) -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing,
                         label_format=label_format, targets=targets)
        self.lam = None
        self._options(alpha=alpha, lam_mode=lam_mode, pairing=pairing, lam=lam)
        self.majority = bool(majority)
        self.k = check_k(k)
        if self.k > 2:
            self._check_nway()

    def _check_nway(self) -> None:
        """The options that mean something for n-way mixing; the others are refused."""
        k = self.k
        if self.pairing != "shuffle":
            raise ValueError(
                f"pairing={self.pairing!r} pairs each sample with one partner, but k={k} draws {k - 1}; "
                "use pairing='shuffle' (independent permutations) or k=2"
            )
        if self.lam is not None:
            raise ValueError(
                f"lam={self.lam} fixes the own weight of a two-way mix; with k={k} the weights are drawn "
                "from Dirichlet(alpha, ..., alpha): drop lam (or use k=2)"
            )
        if self.label_format == "pair":
            raise ValueError(
                f"label_format='pair' holds one partner per sample, but k={k} mixes {k - 1}; "
                "use label_format='dense' (or k=2)"
            )

    @property
    def takes_partners(self) -> bool:  # type: ignore[override]
        """Partners drawn elsewhere (label-aware pairing) are one per sample: only for ``k=2``."""
        return self.k == 2

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MixPlan:
        """Partners and ``lam`` (``weights`` for ``k >= 3``) for a batch of ``batch_size``."""
        if getattr(self, "k", 2) > 2:
            return sample_nway(batch_size, self.k, self.alpha, self.lam_mode, self.p, gen, majority=self.majority)
        partner = sample_partner(batch_size, self.pairing, gen)
        lam = sample_lam(batch_size, self.alpha, self.lam_mode, gen, lam=self.lam, majority=self.majority)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        partner, lam = finish_plan(partner, lam, applied)
        return MixPlan(partner=partner, lam=lam)

    def _repr_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alpha": self.alpha, "lam_mode": self.lam_mode, "pairing": self.pairing}
        if self.lam is not None:
            out["lam"] = self.lam
        if self.majority:
            out["majority"] = True
        if getattr(self, "k", 2) != 2:
            out["k"] = self.k
        return out


def mixup(x: Any, y: Any = None, *, alpha: float = 1.0, num_classes: int | None = None,
          rng: Any = None, out: Any = None, inplace: bool = False, **options: Any) -> Any:
    """Functional MixUp: ``MixUp(alpha, num_classes=..., **options)(x, y, rng=rng)``; a :class:`~mixkit.Mixed`."""
    return MixUp(alpha, num_classes=num_classes, **options)(x, y, rng=rng, out=out, inplace=inplace)

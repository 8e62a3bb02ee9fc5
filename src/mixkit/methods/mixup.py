"""MixUp (Zhang et al., 2018): blend each sample with a partner, ``lam ~ Beta(alpha, alpha)``."""

from __future__ import annotations

from typing import Any

from ..pairing import sample_partner
from ..plan import MixPlan
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, finish_plan

__all__ = ["MixUp", "mixup"]


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
    ) -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing,
                         label_format=label_format, targets=targets)
        self.lam = None
        self._options(alpha=alpha, lam_mode=lam_mode, pairing=pairing, lam=lam)
        self.majority = bool(majority)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MixPlan:
        """Partners and ``lam`` for a batch of ``batch_size`` (nothing else is needed)."""
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
        return out


def mixup(x: Any, y: Any = None, *, alpha: float = 1.0, num_classes: int | None = None,
          rng: Any = None, out: Any = None, inplace: bool = False, **options: Any) -> Any:
    """Functional MixUp: ``MixUp(alpha, num_classes=..., **options)(x, y, rng=rng)``; a :class:`~mixkit.Mixed`."""
    return MixUp(alpha, num_classes=num_classes, **options)(x, y, rng=rng, out=out, inplace=inplace)

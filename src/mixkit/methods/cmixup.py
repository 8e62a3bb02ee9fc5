"""C-Mixup (Yao et al., NeurIPS 2022, "C-Mixup: Improving Generalization in Regression"): MixUp for
regression targets whose partners are drawn by label similarity.

Sample ``i`` draws its partner ``j != i`` with probability proportional to
``exp(-d(y_i, y_j)^2 / (2 sigma^2))``, ``d`` the Euclidean distance of the targets, so samples with
close targets are mixed more often; the batch is then mixed as usual,
``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` (or with a ``base`` method's box or mask).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import _finite_float
from ..pairing_labels import sample_kernel_partner
from ..plan import MixPlan
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, check_base, finish_plan

__all__ = ["CMixUp"]


class CMixUp(Mixer):
    """C-Mixup: partners from a Gaussian kernel of the target distance, mixed by MixUp or ``base``.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` for the blend (unused when ``base`` is given).
        sigma: the kernel bandwidth (> 0), in the units of the targets. Small ``sigma`` pairs each
            sample with its nearest targets; a very large one approaches uniform pairing (plain MixUp).
            The paper tunes it per data set; scale it to the spread of your targets.
        base: another mixkit method (``CutMix()``, ``FMix()``, ...) whose box or mask mixes the input;
            its partners are replaced by the kernel's (its own ``p`` applies as well).
        lam_mode: ``"sample"`` (one ``lam`` per sample, default) or ``"batch"``.
        p: probability of mixing (per sample in ``"sample"`` mode, per call in ``"batch"`` mode).
        label_format: ``"dense"`` (targets in ``y``'s shape) or ``"pair"`` :class:`~mixkit.MixedTargets`.
        targets: always ``"continuous"``: float targets ``(B,)`` or ``(B, D)``.

    The targets are needed to sample: ``t(x, y, rng=...)`` or ``t.sample(B, rng=..., shape=..., y=y)``.
    The plan is a :class:`~mixkit.MixPlan` (or the base's plan with these partners), so it composes
    with ``OneOf``, ``Scheduled`` and the collate functions.
    """

    needs = frozenset({"y"})

    def __init__(self, alpha: float = 2.0, *, sigma: float, base: Mixer | None = None, lam_mode: str = "sample",
                 p: float = 1.0, label_format: str = "dense", targets: str = "continuous") -> None:
        if targets != "continuous":
            raise ValueError(f"CMixUp mixes continuous targets only; targets must be 'continuous', got {targets!r}")
        super().__init__(p=p, label_format=label_format, targets=targets)
        self._options(alpha=alpha, lam_mode=lam_mode)
        sigma_f = _finite_float("sigma", sigma)
        if not sigma_f > 0:
            raise ValueError(f"sigma must be > 0 (the kernel bandwidth), got {sigma!r}")
        self.sigma = sigma_f
        if base is not None:
            check_base(base, CMixUp)
        self.base = base

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MixPlan:
        """Kernel partners for the targets ``y`` ``(B,)`` or ``(B, D)``, then ``lam`` (or the base's plan)."""
        if y is None:
            raise self._missing("the targets", "y= (the 'labels' of a dict sample); it draws partners from them")
        partner = sample_kernel_partner(y, self.sigma, gen)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        if self.base is not None:  # rows not applied pair with themselves and keep all of their data
            partner = np.where(applied, partner, np.arange(batch_size))
            return self.base._sample(batch_size, gen, shape, x=x, y=None, companions=companions).with_partner(partner)
        lam = sample_lam(batch_size, self.alpha, self.lam_mode, gen)
        partner, lam = finish_plan(partner, lam, applied)
        return MixPlan(partner=partner, lam=lam)

    def _repr_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alpha": self.alpha, "sigma": self.sigma, "lam_mode": self.lam_mode}
        if self.base is not None:
            out["base"] = self.base
        return out

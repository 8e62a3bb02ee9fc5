"""MixUp for waveforms at a signal-to-noise ratio, loudness kept.

``lam`` is the share of the mixture's power that comes from the sample itself, so mixing is at
``SNR = 10 log10(lam / (1 - lam))`` dB, whatever the two clips' loudness:
``out[i] = sqrt(lam) * R_i / rms(x[i]) * x[i] + sqrt(1 - lam) * R_i / rms(x[p]) * x[p]`` with
``R_i = rms(x[i])`` (the result is as loud as the sample; a silent sample takes its partner's level).
Labels are mixed with ``lam`` as everywhere. For band pasting on spectrograms ``(B, C, F, T)`` use
:class:`~mixkit.CutMix` over one axis: ``axes=(-1,)`` pastes a time band over all frequencies,
``axes=(-2,)`` a frequency band over all frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._xp import backend
from ..companions._common import to_tensor
from ..plan import MixPlan, register_plan_type
from .mixup import MixUp

__all__ = ["AudioMixUp", "LoudnessPlan", "lam_from_snr", "snr_from_lam"]


def lam_from_snr(snr_db: Any) -> np.ndarray:
    """Own power share for an SNR in dB: ``1 / (1 + 10 ** (-snr / 10))``."""
    return 1.0 / (1.0 + 10.0 ** (-np.asarray(snr_db, dtype=np.float64) / 10.0))


def snr_from_lam(lam: Any) -> np.ndarray:
    """SNR in dB of a mixture holding ``lam`` of its power from the sample: ``10 log10(lam / (1 - lam))``."""
    lam = np.asarray(lam, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(lam / (1.0 - lam))


@register_plan_type
@dataclass(frozen=True, eq=False, repr=False)
class LoudnessPlan(MixPlan):
    """A blend at power share ``lam`` with loudness matching (see the module doc)."""

    companions: ClassVar[frozenset[str]] = frozenset()  # gains depend on the clip: nothing else follows

    def gains(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample gains ``(a, b)`` of the sample and its partner for the batch ``x``."""
        per = int(np.prod(x.shape[1:], dtype=np.int64))  # explicit: -1 is ambiguous for an empty batch
        if backend(x) == "torch":
            xf = x.detach().double().reshape(int(x.shape[0]), per)
            rms = xf.pow(2).mean(dim=1).sqrt().cpu().numpy() if per else np.zeros(x.shape[0])
        else:
            xf = np.asarray(x, dtype=np.float64).reshape(int(x.shape[0]), per)
            rms = np.sqrt((xf * xf).mean(axis=1)) if xf.shape[1] else np.zeros(x.shape[0])
        rp = rms[self.partner]
        ref = np.where(rms > 0, rms, rp)
        a = np.where(rms > 0, np.sqrt(self.lam) * ref / np.where(rms > 0, rms, 1.0), 0.0)
        b = np.where(rp > 0, np.sqrt(1.0 - self.lam) * ref / np.where(rp > 0, rp, 1.0), 0.0)
        same = self.partner == np.arange(self.batch_size)
        return np.where(same, 1.0, a), np.where(same, 0.0, b)

    def _apply(self, x: Any, out: Any) -> Any:
        a, b = self.gains(x)
        shape = (-1,) + (1,) * (len(x.shape) - 1)
        if backend(x) == "torch":
            import torch

            cdt = x.dtype if x.is_floating_point() else torch.float32
            p = to_tensor(self.partner, x.device)
            ga = to_tensor(a, x.device, cdt).view(shape)
            gb = to_tensor(b, x.device, cdt).view(shape)
            res = ga * x.to(cdt) + gb * x.index_select(0, p).to(cdt)
            if not x.is_floating_point():
                info = torch.iinfo(x.dtype)
                res = res.round().clamp(info.min, info.max).to(x.dtype)
            return res if out is None else out.copy_(res)
        cdt = np.promote_types(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64
        res = a.reshape(shape).astype(cdt) * x + b.reshape(shape).astype(cdt) * np.take(x, self.partner, axis=0)
        if x.dtype.kind in "ui":
            info = np.iinfo(x.dtype)
            res = np.clip(np.rint(res), info.min, info.max)
        res = res.astype(x.dtype, copy=False)
        if out is None:
            return res
        out[...] = res
        return out


class AudioMixUp(MixUp):
    """Waveform MixUp at a sampled SNR with loudness matching; batch ``(B, T)`` or ``(B, C, T)``.

    Args:
        snr_db: ``(lo, hi)``: the SNR is uniform in ``[lo, hi]`` dB and ``lam = lam_from_snr(snr)``.
            ``None``: ``lam ~ Beta(alpha, alpha)`` as in MixUp, read as the power share.
        alpha, lam_mode, pairing, num_classes, p, lam, majority, label_smoothing, label_format: as in
            :class:`~mixkit.MixUp`.
    """

    def __init__(self, alpha: float = 1.0, *, snr_db: tuple[float, float] | None = None, **options: Any) -> None:
        super().__init__(alpha, **options)
        if snr_db is not None:
            try:
                lo, hi = (float(v) for v in snr_db)
            except (TypeError, ValueError):
                raise TypeError(f"snr_db must be a pair (lo, hi) in dB, got {snr_db!r}") from None
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise ValueError(f"snr_db must be finite with lo <= hi, got {snr_db!r}")
            snr_db = (lo, hi)
        self.snr_db = snr_db

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> LoudnessPlan:
        base = super()._sample(batch_size, gen, shape, x=x, y=y, companions=companions)
        lam = np.asarray(base.lam)
        if self.snr_db is not None:
            lo, hi = self.snr_db
            n = 1 if self.lam_mode == "batch" else batch_size
            snr = np.broadcast_to(gen.uniform(lo, hi, size=n), (batch_size,))
            lam = np.where(base.partner == np.arange(batch_size), 1.0, lam_from_snr(snr))
        return LoudnessPlan(partner=base.partner, lam=lam)

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        if self.snr_db is not None:
            out["snr_db"] = self.snr_db
        return out

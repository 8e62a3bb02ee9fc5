"""Sampling of mixing ratios. Reads only the Generator it is given."""

from __future__ import annotations

import numpy as np

from ._validate import check_choice

__all__ = ["LAM_MODES", "sample_lam", "sample_applied"]

LAM_MODES = ("batch", "sample")


def sample_lam(
    batch_size: int,
    alpha: float,
    lam_mode: str,
    rng: np.random.Generator,
    *,
    lam: float | None = None,
    majority: bool = False,
) -> np.ndarray:
    """Draw ``lam ~ Beta(alpha, alpha)``, one per batch or one per sample; float64 ``(B,)``.

    ``lam``: a fixed value instead of a draw. ``majority``: ``lam = max(lam, 1 - lam)`` so every
    sample keeps the larger share (as in MixMatch).
    """
    check_choice("lam_mode", lam_mode, LAM_MODES)
    if lam is not None:
        out = np.full(batch_size, float(lam))
    elif lam_mode == "batch":
        out = np.full(batch_size, rng.beta(alpha, alpha))
    else:
        out = rng.beta(alpha, alpha, size=batch_size)
    out = np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0)
    if majority:
        out = np.maximum(out, 1.0 - out)
    return out


def sample_applied(batch_size: int, p: float, lam_mode: str, rng: np.random.Generator) -> np.ndarray:
    """Which samples are mixed, bool ``(B,)``: each with probability ``p`` in ``"sample"`` mode,
    the whole batch or none of it in ``"batch"`` mode."""
    if p >= 1.0:
        return np.ones(batch_size, dtype=bool)
    if p <= 0.0:
        return np.zeros(batch_size, dtype=bool)
    if lam_mode == "batch":
        return np.full(batch_size, rng.random() < p)
    return rng.random(batch_size) < p

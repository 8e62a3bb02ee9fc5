"""Sampling of mixing ratios. Reads only the Generator it is given."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import (
    as_generator,
    check_alpha,
    check_batch_size,
    check_choice,
    check_lam,
    check_probability,
)

__all__ = ["LAM_MODES", "sample_applied", "sample_lam"]

LAM_MODES = ("batch", "sample")


def sample_lam(
    batch_size: int,
    alpha: float,
    lam_mode: str,
    rng: Any = None,
    *,
    lam: float | None = None,
    majority: bool = False,
) -> np.ndarray:
    """Draw ``lam ~ Beta(alpha, alpha)``, one per batch or one per sample; float64 ``(B,)``.

    ``rng``: an int seed, a ``numpy.random.Generator``, a ``SeedSequence`` or None (fresh entropy).
    ``lam``: a fixed value instead of a draw. ``majority``: ``lam = max(lam, 1 - lam)`` so every
    sample keeps the larger share (as in MixMatch).
    """
    batch_size = check_batch_size(batch_size, None)
    check_choice("lam_mode", lam_mode, LAM_MODES)
    gen = as_generator(rng)
    if lam is not None:
        out = np.full(batch_size, check_lam(lam))
    else:
        alpha = check_alpha(alpha)
        out = np.full(batch_size, gen.beta(alpha, alpha)) if lam_mode == "batch" else gen.beta(alpha, alpha, size=batch_size)
    out = np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0)
    if majority:
        out = np.maximum(out, 1.0 - out)
    return out


def sample_applied(batch_size: int, p: float, lam_mode: str, rng: Any = None) -> np.ndarray:
    """Which samples are mixed, bool ``(B,)``: each with probability ``p`` in ``"sample"`` mode,
    the whole batch or none of it in ``"batch"`` mode. ``rng`` as in :func:`sample_lam`."""
    batch_size = check_batch_size(batch_size, None)
    p = check_probability(p, "p")
    rng = as_generator(rng)
    if p >= 1.0:
        return np.ones(batch_size, dtype=bool)
    if p <= 0.0:
        return np.zeros(batch_size, dtype=bool)
    if lam_mode == "batch":
        return np.full(batch_size, rng.random() < p)
    return rng.random(batch_size) < p

"""Model-free saliency for SaliencyMix: the spectral residual (Hou and Zhang, 2007), over any axes.

Pure NumPy, no randomness: a batch in, one non-negative map per sample out.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_blur", "spectral_residual_saliency"]


def _grey(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The batch averaged over every axis but the batch axis and ``axes``: ``(B, *sizes)``, in ``axes`` order."""
    rest = tuple(a for a in range(1, x.ndim) if a not in axes)
    moved = np.transpose(np.asarray(x, dtype=np.float64), (0,) + tuple(axes) + rest)
    lead = moved.shape[: 1 + len(axes)]
    width = int(np.prod(moved.shape[1 + len(axes):], dtype=np.int64))
    if width == 0 or moved.size == 0:
        return np.zeros(lead)
    return moved.reshape(lead + (width,)).mean(axis=-1)


def gaussian_blur(a: np.ndarray, sigma: float, axes: tuple[int, ...]) -> np.ndarray:
    """Separable Gaussian blur of ``a`` along ``axes`` (edges reflected); a new array."""
    if sigma <= 0:
        return np.array(a, dtype=np.float64)
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.asarray(a, dtype=np.float64)
    for ax in axes:
        n = out.shape[ax]
        if n < 2:
            continue
        pad = [(0, 0)] * out.ndim
        pad[ax] = (r, r)
        padded = np.pad(out, pad, mode="symmetric" if r >= n else "reflect")
        acc = np.zeros_like(out)
        for j, w in enumerate(k):
            acc += w * np.take(padded, np.arange(j, j + n), axis=ax)
        out = acc
    return out


def spectral_residual_saliency(x: np.ndarray, axes: tuple[int, ...], *, blur: float = 1.0) -> np.ndarray:
    """Spectral-residual saliency of each sample of ``x`` ``(B, ...)`` over ``axes``: ``(B, *sizes)`` >= 0.

    The log amplitude spectrum minus its 3-point local mean (per axis, periodic) is recombined with
    the phase and transformed back; the squared magnitude, blurred by a Gaussian of ``blur`` pixels,
    marks the regions that stand out from their surroundings.
    """
    grey = _grey(x, axes)
    fax = tuple(range(1, grey.ndim))
    if grey.shape[0] == 0 or grey[0].size == 0:
        return grey
    spec = np.fft.fftn(grey, axes=fax)
    log_amp = np.log(np.abs(spec) + 1e-12)
    local = log_amp
    for ax in fax:
        local = (np.roll(local, 1, axis=ax) + local + np.roll(local, -1, axis=ax)) / 3.0
    residual = np.exp(log_amp - local + 1j * np.angle(spec))
    sal = np.abs(np.fft.ifftn(residual, axes=fax)) ** 2
    return gaussian_blur(sal, blur, fax)

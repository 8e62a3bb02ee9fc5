"""Model-free saliency for SaliencyMix: the spectral residual (Hou and Zhang, 2007), over any axes.

No randomness: a batch in, one non-negative float64 map per sample out. NumPy arrays are computed
with NumPy, torch tensors with torch on their own device; the whole batch goes through each step
at once (on the CPU in groups of a few samples, so each step's temporaries stay in cache).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["gaussian_blur", "spectral_residual_saliency"]

# Samples per group on the CPU: about 1-2 MiB of complex spectrum per group for 224 x 224 images.
_CPU_GROUP_VALUES = 256 * 1024


class _Ops:
    """The few array operations the saliency needs, for NumPy or torch (one small adapter)."""

    def __init__(self, like: Any) -> None:
        self.torch = sys.modules.get("torch") if not isinstance(like, np.ndarray) else None
        self.device = like.device if self.torch is not None else None

    def asfloat(self, a: Any) -> Any:
        if self.torch is None:
            return np.asarray(a, dtype=np.float64)
        return self.torch.as_tensor(a, dtype=self.torch.float64, device=self.device)

    def take(self, a: Any, idx: np.ndarray, axis: int) -> Any:
        if self.torch is None:
            return np.take(a, idx, axis=axis)
        return a.index_select(axis, self.torch.as_tensor(idx, device=a.device))

    def cat(self, parts: list[Any], axis: int) -> Any:
        return np.concatenate(parts, axis=axis) if self.torch is None else self.torch.cat(parts, dim=axis)

    def flip(self, a: Any, axes: tuple[int, ...]) -> Any:
        if not axes:
            return a
        return np.flip(a, axis=axes) if self.torch is None else self.torch.flip(a, dims=axes)

    def roll(self, a: Any, shift: int, axis: int) -> Any:
        return np.roll(a, shift, axis=axis) if self.torch is None else self.torch.roll(a, shift, dims=axis)

    def rfftn(self, a: Any, axes: tuple[int, ...]) -> Any:
        if self.torch is None:
            return np.fft.rfftn(a, axes=axes)
        return self.torch.fft.rfftn(a, dim=axes)

    def irfftn(self, a: Any, sizes: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        if self.torch is None:
            return np.fft.irfftn(a, s=sizes, axes=axes)
        return self.torch.fft.irfftn(a, s=sizes, dim=axes)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b) if self.torch is None else self.torch.where(cond, a, b)

    def empty_like(self, a: Any) -> Any:
        return np.empty_like(a) if self.torch is None else self.torch.empty_like(a)

    def empty(self, shape: tuple[int, ...]) -> Any:
        if self.torch is None:
            return np.empty(shape)
        return self.torch.empty(shape, dtype=self.torch.float64, device=self.device)


def _host_or_device(x: Any) -> Any:
    """A torch tensor on an accelerator as it is; anything else as NumPy (CPU tensors without a copy,
    bfloat16 as float32, which NumPy lacks)."""
    torch = sys.modules.get("torch") if not isinstance(x, np.ndarray) else None
    if torch is None or not isinstance(x, torch.Tensor):
        return x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.device.type != "cpu":
        return x
    x = x.detach()
    return (x.float() if x.dtype == torch.bfloat16 else x).numpy()


def _grey(x: Any, axes: tuple[int, ...], ops: _Ops) -> Any:
    """The batch averaged over every axis but the batch axis and ``axes``: ``(B, *sizes)``, in ``axes`` order."""
    ndim = len(x.shape)
    rest = tuple(a for a in range(1, ndim) if a not in axes)
    if any(int(x.shape[a]) == 0 for a in range(ndim)):
        return ops.asfloat(np.zeros((int(x.shape[0]),) + tuple(int(x.shape[a]) for a in axes)))
    if not rest:
        x = ops.asfloat(x)
    elif ops.torch is None:
        x = np.mean(x, axis=rest, dtype=np.float64)  # accumulated in float64, no float64 copy of x
    else:
        x = x.mean(dim=rest, dtype=ops.torch.float64)
    kept = [a for a in range(ndim) if a not in rest]  # the batch axis and ``axes``, in memory order
    perm = (0,) + tuple(kept.index(a) for a in axes)
    return x.transpose(perm) if ops.torch is None else x.permute(perm)


def _mirror(a: Any, ops: _Ops) -> Any:
    """``a`` at the negated frequency of every axis but the batch and last axes: ``k -> -k mod n``."""
    axes = tuple(range(1, len(a.shape) - 1))
    out = ops.flip(a, axes)
    for ax in axes:
        out = ops.roll(out, 1, ax)
    return out


def _column(local: Any, j: int, width: int, ops: _Ops) -> Any:
    """The full spectrum's column ``j`` (mod ``width``) of a half spectrum ``local``, shape ``(..., 1)``."""
    last = len(local.shape) - 1
    j %= width
    if j < local.shape[-1]:
        return ops.take(local, np.array([j]), last)
    return _mirror(ops.take(local, np.array([width - j]), last), ops)


def _local_mean(log_amp: Any, width: int, ops: _Ops) -> Any:
    """The 3-point periodic mean of the full spectrum's log amplitude, axis after axis, computed on the
    half spectrum of a real transform (last axis ``width // 2 + 1`` of ``width`` frequencies): the
    neighbours past either end of the last axis are the mirrored values at ``-k``."""
    local = log_amp
    last = len(local.shape) - 1
    for ax in range(1, last + 1):
        if ax != last:
            local = (ops.roll(local, 1, ax) + local) + ops.roll(local, -1, ax)
        else:
            n = local.shape[-1]
            padded = ops.cat([_column(local, -1, width, ops), local, _column(local, n, width, ops)], last)
            local = (padded[..., 0:n] + local) + padded[..., 2 : n + 2]
        local = local / 3.0
    return local


def _saliency_block(grey: Any, blur: float, ops: _Ops) -> Any:
    fax = tuple(range(1, len(grey.shape)))
    sizes = tuple(int(s) for s in grey.shape[1:])
    spec = ops.rfftn(grey, fax)
    amp = abs(spec)
    log_amp = (amp + 1e-12).log() if ops.torch is not None else np.log(amp + 1e-12)
    excess = log_amp - _local_mean(log_amp, sizes[-1], ops)
    gain = excess.exp() if ops.torch is not None else np.exp(excess)
    # exp(log_amp - local + 1j * angle(spec)) without the angle: spec * gain / amp (phase 0 where amp = 0)
    zero = amp == 0
    residual = spec * (gain / ops.where(zero, 1.0, amp)) + ops.where(zero, gain, 0.0)
    back = ops.irfftn(residual, sizes, fax)
    return back * back


def spectral_residual_saliency(x: Any, axes: tuple[int, ...], *, blur: float = 1.0) -> Any:
    """Spectral-residual saliency of each sample of ``x`` ``(B, ...)`` over ``axes``: ``(B, *sizes)`` >= 0.

    The log amplitude spectrum minus its 3-point local mean (per axis, periodic) is recombined with
    the phase and transformed back; the squared magnitude, blurred by a Gaussian of ``blur`` pixels,
    marks the regions that stand out from their surroundings.

    ``x``: a NumPy array (or anything ``numpy.asarray`` takes) or a torch tensor of any real dtype
    (bfloat16 and float16 included: the maps are computed in float64). A tensor on an accelerator is
    computed there and gives a float64 tensor; a CPU tensor is computed through NumPy (read without a
    copy where NumPy has the dtype) and gives a float64 CPU tensor; NumPy input gives a NumPy array.
    """
    torch = sys.modules.get("torch") if not isinstance(x, np.ndarray) else None
    if torch is not None and isinstance(x, torch.Tensor) and x.device.type == "cpu":
        return torch.from_numpy(spectral_residual_saliency(_host_or_device(x), axes, blur=blur))
    x = _host_or_device(x)
    ops = _Ops(x)
    x = np.asarray(x) if ops.torch is None else x.detach()
    grey = _grey(x, tuple(axes), ops)
    b = int(grey.shape[0])
    per_sample = int(np.prod(grey.shape[1:], dtype=np.int64))
    if b == 0 or per_sample == 0:
        return ops.asfloat(grey)
    on_cpu = ops.torch is None or ops.device.type == "cpu"
    group = max(1, _CPU_GROUP_VALUES // per_sample) if on_cpu else b
    if group >= b:
        return gaussian_blur(_saliency_block(grey, blur, ops), blur, tuple(range(1, len(grey.shape))))
    out = ops.empty(tuple(int(s) for s in grey.shape))
    for lo in range(0, b, group):  # groups of samples, so the temporaries of each step stay in cache
        out[lo : lo + group] = _saliency_block(grey[lo : lo + group], blur, ops)
    return gaussian_blur(out, blur, tuple(range(1, len(grey.shape))))


def gaussian_blur(a: Any, sigma: float, axes: tuple[int, ...]) -> Any:
    """Separable Gaussian blur of ``a`` along ``axes`` (edges reflected); a new float64 array.

    ``a``: a NumPy array or a torch tensor (blurred on its device, returned as a tensor).
    """
    ops = _Ops(a)
    out = ops.asfloat(a)
    if sigma <= 0:
        return out.copy() if ops.torch is None else out.clone()
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for ax in axes:
        n = int(out.shape[ax])
        if n < 2:
            continue
        # reflected edges as an index (np.pad of the positions), then one gather
        idx = np.pad(np.arange(n), (r, r), mode="symmetric" if r >= n else "reflect")
        if ops.torch is None and _blur_kernel() is not None:
            out = np.ascontiguousarray(out)
            outer = int(np.prod(out.shape[:ax], dtype=np.int64))
            inner = int(np.prod(out.shape[ax + 1:], dtype=np.int64))
            res = np.empty_like(out)
            from .kernels._threads import PARALLEL

            with PARALLEL:
                _blur_kernel()(out.reshape(-1), res.reshape(-1), outer, n, inner, idx.astype(np.int64), k, r)
            out = res
            continue
        padded = ops.take(out, idx, ax)
        taps = [padded[(slice(None),) * ax + (slice(j, j + n),)] for j in range(2 * r + 1)]
        # symmetric taps in pairs: k[r] * centre + sum_d k[r - d] * (left_d + right_d)
        acc = taps[r] * float(k[r])
        pair = ops.empty_like(acc)
        for d in range(1, r + 1):
            if ops.torch is None:
                np.add(taps[r - d], taps[r + d], out=pair)
                pair *= float(k[r - d])
            else:
                ops.torch.add(taps[r - d], taps[r + d], out=pair).mul_(float(k[r - d]))
            acc += pair
        out = acc
    return out


_compiled: dict[str, Any] = {}


def _blur_kernel() -> Any:
    """The compiled blur along one axis (:mod:`mixkit._saliency_cpu`, imported on first use), or None
    without numba."""
    if "blur" not in _compiled:
        try:
            from ._saliency_cpu import blur
        except ImportError:
            blur = None
        _compiled["blur"] = blur
    return _compiled["blur"]

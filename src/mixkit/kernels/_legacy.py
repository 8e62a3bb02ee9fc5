"""Pure kernels: apply a sampled plan to a batch. No randomness, no validation, no hidden state.

All kernels take the batch ``x`` of shape ``(B, ...)`` with the batch axis first, and return an array
of the same library, shape, dtype, device and memory layout. ``out`` may be a preallocated buffer of
the same shape and dtype; passing ``out=x`` mixes in place. Inputs other than ``out`` are never
written.

Convention: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``.
Integer batches (e.g. uint8 images) are blended in float32 and rounded half to even; a convex
combination of two values of the dtype always fits it, so nothing overflows.

NumPy arrays and torch tensors go through the row-wise drivers of :mod:`mixkit._rowwise`: one
pass over the batch, rows written in partner-graph order, so ``out=x`` (in place) is correct for
any partner mapping and needs only cache-sized temporaries, never a copy of ``x[partner]``.
``benchmarks/README.md`` has the measurements.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._native import blend_native, mask_native, paste_native
from .._xp import backend

__all__ = ["blend", "box_mask", "mask_mix", "paste"]


def _torch_index(a: np.ndarray, device: Any) -> Any:
    """A plan's int array as an int64 tensor on ``device`` (plans hold read-only NumPy arrays)."""
    import torch

    return torch.tensor(np.asarray(a, dtype=np.int64)).to(device, non_blocking=True)


def _torch_weights(lam: np.ndarray, device: Any, dtype: Any) -> Any:
    import torch

    return torch.tensor(np.asarray(lam, dtype=np.float64)).to(device, dtype, non_blocking=True)


def _weights_shape(x: Any) -> tuple[int, ...]:
    return (x.shape[0],) + (1,) * (len(x.shape) - 1)


# ----------------------------------------------------------------------------------------------------
# blend (MixUp)
# ----------------------------------------------------------------------------------------------------


def blend(x: Any, partner: np.ndarray, lam: np.ndarray, *, out: Any = None) -> Any:
    """Blend each sample with its partner: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``.

    ``x``: batch ``(B, ...)``; ``partner``: int array ``(B,)``; ``lam``: float array ``(B,)``.
    ``out``: optional buffer like ``x``; ``out=x`` blends in place.
    """
    kind = backend(x)
    if kind == "numpy":
        return _blend_numpy(x, partner, lam, out)
    if kind == "torch":
        return _blend_torch(x, partner, lam, out)
    return _blend_array_api(x, partner, lam, out)


def _blend_numpy(x: np.ndarray, partner: np.ndarray, lam: np.ndarray, out: Any) -> np.ndarray:
    return blend_native(x, partner, lam, out, "numpy")


def _blend_torch(x: Any, partner: np.ndarray, lam: np.ndarray, out: Any) -> Any:
    import torch

    if x.requires_grad and torch.is_grad_enabled():
        # differentiable path (hidden-state mixing): plain out-of-place ops
        dev = x.device
        p = _torch_index(partner, dev)
        w = _torch_weights(lam, dev, x.dtype).view(_weights_shape(x))
        mixed = x.index_select(0, p).mul(1.0 - w).addcmul(x, w)
        return mixed if out is None else out.copy_(mixed)
    return blend_native(x, partner, lam, out, "torch")


def _namespace(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.array_namespace(x)


def _blend_array_api(x: Any, partner: np.ndarray, lam: np.ndarray, out: Any) -> Any:
    if out is not None:
        raise TypeError(
            f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}, "
            "whose arrays may be immutable: use the returned array instead"
        )
    import array_api_compat

    xp = _namespace(x)
    dev = array_api_compat.device(x)
    p = xp.asarray(partner, device=dev)
    is_float = xp.isdtype(x.dtype, "real floating")
    cdt = x.dtype if is_float else xp.float32
    w = xp.reshape(xp.asarray(lam, dtype=cdt, device=dev), _weights_shape(x))
    part = xp.take(x, p, axis=0)
    mixed = w * xp.astype(x, cdt) + (1 - w) * xp.astype(part, cdt)
    if is_float:
        return mixed
    info = xp.iinfo(x.dtype)
    return xp.astype(xp.clip(xp.round(mixed), info.min, info.max), x.dtype)


# ----------------------------------------------------------------------------------------------------
# paste (CutMix over any set of axes)
# ----------------------------------------------------------------------------------------------------


def box_mask(shape: tuple[int, ...], axes: tuple[int, ...], start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Boolean NumPy mask, broadcastable to a batch of ``shape``: True inside each sample's box.

    Shape: ``(B, ...)`` with the box axes at full length and every other sample axis of length 1.
    """
    b = shape[0]
    mask_shape = [b] + [1] * (len(shape) - 1)
    mask = np.ones((b,) + (1,) * (len(shape) - 1), dtype=bool)
    for k, a in enumerate(axes):
        pos_shape = [1] * len(shape)
        pos_shape[a] = shape[a]
        pos = np.arange(shape[a]).reshape(pos_shape)
        lo = start[:, k].reshape(mask_shape)
        hi = stop[:, k].reshape(mask_shape)
        mask = mask & (pos >= lo) & (pos < hi)
    return mask


def paste(
    x: Any,
    partner: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    axes: tuple[int, ...],
    *,
    out: Any = None,
) -> Any:
    """Paste the box ``[start[i], stop[i])`` (over ``axes``) of ``x[partner[i]]`` into sample ``i``.

    ``x``: batch ``(B, ...)``; ``partner``: ``(B,)``; ``start``/``stop``: ``(B, len(axes))``;
    ``axes``: non-negative axes of ``x`` (never 0). ``out=x`` pastes in place.
    """
    kind = backend(x)
    if kind == "array_api":
        if out is not None:
            raise TypeError(
                f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}"
            )
        return _paste_array_api(x, partner, start, stop, axes)
    if kind == "torch":
        import torch

        if x.requires_grad and torch.is_grad_enabled():
            # differentiable path: one out-of-place select
            mask = torch.from_numpy(box_mask(tuple(x.shape), axes, start, stop)).to(x.device)
            mixed = torch.where(mask, x.index_select(0, _torch_index(partner, x.device)), x)
            return mixed if out is None else out.copy_(mixed)
    return paste_native(x, partner, start, stop, axes, out, kind)


def _paste_array_api(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray, axes: tuple[int, ...]) -> Any:
    import array_api_compat

    xp = _namespace(x)
    dev = array_api_compat.device(x)
    mask = xp.asarray(box_mask(tuple(x.shape), axes, start, stop), device=dev)
    part = xp.take(x, xp.asarray(partner, device=dev), axis=0)
    return xp.where(mask, part, x)


# ----------------------------------------------------------------------------------------------------
# mask_mix (FMix, SmoothMix, GridMix, ... : a per-element mask over some axes)
# ----------------------------------------------------------------------------------------------------


def _broadcast_mask(mask: np.ndarray, axes: tuple[int, ...], ndim: int) -> np.ndarray:
    """Reshape a ``(B, *sizes)`` mask so it broadcasts against a batch of ``ndim`` dimensions."""
    order = np.argsort(axes)
    m = np.transpose(mask, (0,) + tuple(int(i) + 1 for i in order))
    shape = [mask.shape[0]] + [1] * (ndim - 1)
    for i in order:
        shape[axes[i]] = mask.shape[int(i) + 1]
    return m.reshape(shape)


def mask_mix(x: Any, partner: np.ndarray, mask: np.ndarray, axes: tuple[int, ...], *, out: Any = None) -> Any:
    """Mix with a per-element mask: ``out = mask * x + (1 - mask) * x[partner]``.

    ``x``: batch ``(B, ...)``; ``mask``: ``(B, *sizes)`` in [0, 1] over ``axes`` (non-negative, never
    0), taken whole along the other axes. A 0/1 mask copies elements; any other blends (integer
    batches are rounded). ``out=x`` mixes in place.
    """
    kind = backend(x)
    ndim = len(x.shape)
    m = _broadcast_mask(np.asarray(mask, dtype=np.float64), tuple(axes), ndim)
    binary = bool(np.all((m == 0) | (m == 1)))
    if kind == "array_api":
        if out is not None:
            raise TypeError(f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}")
        import array_api_compat

        xp = _namespace(x)
        dev = array_api_compat.device(x)
        part = xp.take(x, xp.asarray(partner, device=dev), axis=0)
        if binary:
            return xp.where(xp.asarray(m == 1, device=dev), x, part)
        is_float = xp.isdtype(x.dtype, "real floating")
        cdt = x.dtype if is_float else xp.float32
        w = xp.asarray(m, dtype=cdt, device=dev)
        mixed = w * xp.astype(x, cdt) + (1 - w) * xp.astype(part, cdt)
        if is_float:
            return mixed
        info = xp.iinfo(x.dtype)
        return xp.astype(xp.clip(xp.round(mixed), info.min, info.max), x.dtype)
    if kind == "torch":
        import torch

        if x.requires_grad and torch.is_grad_enabled():
            # differentiable path: plain out-of-place ops
            dev = x.device
            part = x.index_select(0, _torch_index(partner, dev))
            if binary:
                res = torch.where(torch.from_numpy(m == 1).to(dev), x, part)
            else:
                w = torch.from_numpy(m).to(dev, x.dtype)
                res = x * w + part * (1.0 - w)
            return res if out is None else out.copy_(res)
    return mask_native(x, partner, m, binary, out, kind)

"""Pure kernels: apply a sampled plan to a batch. No randomness, no validation, no hidden state.

All kernels take the batch ``x`` of shape ``(B, ...)`` with the batch axis first, and return an array
of the same library, shape, dtype, device and memory layout. ``out`` may be a preallocated buffer of
the same shape and dtype; passing ``out=x`` mixes in place. Inputs other than ``out`` are never
written.

Convention: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``.
Integer batches (e.g. uint8 images) are blended in float32 and rounded half to even; a convex
combination of two values of the dtype always fits it, so nothing overflows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._xp import backend, dtype_kind

__all__ = ["blend", "box_mask", "mask_mix", "paste"]

# Rows are processed in chunks of about this many bytes so temporaries stay cache-sized.
_CHUNK_BYTES = 1 << 20


def _chunk_rows(x: Any) -> int:
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * _itemsize(x))
    return max(1, _CHUNK_BYTES // row_bytes)


def _itemsize(x: Any) -> int:
    if backend(x) == "torch":
        return x.element_size()
    return int(np.dtype(x.dtype).itemsize) if backend(x) == "numpy" else 4


def _shares_memory(a: Any, b: Any) -> bool:
    if a is b:
        return True
    kind = backend(a)
    if kind == "numpy":
        return bool(np.shares_memory(a, b))
    if kind == "torch":
        if a.device != b.device or a.numel() == 0 or b.numel() == 0:
            return False
        sa = a.untyped_storage().data_ptr()
        sb = b.untyped_storage().data_ptr()
        return sa == sb
    return False


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
    if out is None:
        out = np.empty_like(x)
    if x.shape[0] == 0:
        return out
    inplace = _shares_memory(out, x)
    w = np.asarray(lam, dtype=np.float64).reshape(_weights_shape(x))
    step = _chunk_rows(x)
    if dtype_kind(x) == "f":
        if inplace:
            src = np.take(x, partner, axis=0)  # partners must be read before any row is written
        else:
            np.take(x, partner, axis=0, out=out)
            src = out
        cdt = np.promote_types(x.dtype, np.float32)
        for s in range(0, x.shape[0], step):
            e = min(s + step, x.shape[0])
            mixed = np.multiply(x[s:e], w[s:e].astype(cdt), dtype=cdt)
            mixed += src[s:e] * (1.0 - w[s:e]).astype(cdt)
            out[s:e] = mixed
        return out
    info = np.iinfo(x.dtype)
    src = np.take(x, partner, axis=0) if inplace else x
    idx = None if inplace else partner
    for s in range(0, x.shape[0], step):
        e = min(s + step, x.shape[0])
        part = src[s:e] if idx is None else src[idx[s:e]]
        mixed = x[s:e].astype(np.float32) * w[s:e].astype(np.float32)
        mixed += part.astype(np.float32) * (1.0 - w[s:e]).astype(np.float32)
        np.rint(mixed, out=mixed)
        np.clip(mixed, info.min, info.max, out=mixed)
        out[s:e] = mixed.astype(x.dtype)
    return out


def _blend_torch(x: Any, partner: np.ndarray, lam: np.ndarray, out: Any) -> Any:
    import torch

    if x.shape[0] == 0:
        return torch.empty_like(x) if out is None else out
    inplace = out is not None and _shares_memory(out, x)
    dev = x.device
    p = _torch_index(partner, dev)
    half = x.dtype in (torch.float16, torch.bfloat16)
    if x.requires_grad and torch.is_grad_enabled():
        # differentiable path (hidden-state mixing): plain out-of-place ops
        w = _torch_weights(lam, dev, x.dtype).view(_weights_shape(x))
        mixed = x.index_select(0, p).mul(1.0 - w).addcmul(x, w)
        return mixed if out is None else out.copy_(mixed)
    if out is None:
        out = torch.empty_like(x)
    if x.is_floating_point() and not half:
        w = _torch_weights(lam, dev, x.dtype)
        w = w.view(_weights_shape(x))
        if inplace:
            src = x.index_select(0, p)  # partners must be read before any row is written
            out.mul_(w).addcmul_(src, 1.0 - w)
        else:
            torch.index_select(x, 0, p, out=out)
            out.mul_(1.0 - w).addcmul_(x, w)
        return out
    # half and integer dtypes: compute chunk by chunk in float32
    w = _torch_weights(lam, dev, torch.float32)
    w = w.view(_weights_shape(x))
    src = x.index_select(0, p) if inplace else None
    step = _chunk_rows(x)
    for s in range(0, x.shape[0], step):
        e = min(s + step, x.shape[0])
        part = src[s:e] if src is not None else x.index_select(0, p[s:e])
        mixed = x[s:e].float().mul_(w[s:e]).addcmul_(part.float(), 1.0 - w[s:e])
        if not x.is_floating_point():
            info = torch.iinfo(x.dtype)
            mixed.round_().clamp_(info.min, info.max)
        out[s:e].copy_(mixed)
    return out


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


def _region(axes: tuple[int, ...], lo: np.ndarray, hi: np.ndarray, ndim: int) -> tuple[slice, ...]:
    """Slices for the sample axes 1..ndim-1 (no batch axis)."""
    idx = [slice(None)] * (ndim - 1)
    for k, a in enumerate(axes):
        idx[a - 1] = slice(int(lo[k]), int(hi[k]))
    return tuple(idx)


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
    ndim = len(x.shape)
    inplace = out is not None and _shares_memory(out, x)
    if out is None:
        out = x.copy() if kind == "numpy" else x.clone()
    elif not inplace:
        out[...] = x
    b = x.shape[0]
    if b == 0:
        return out
    rows = np.arange(b)
    active = (partner != rows) & np.all(stop > start, axis=1)
    if not active.any():
        return out
    act = np.flatnonzero(active)
    first = act[0]
    if np.all(start[act] == start[first]) and np.all(stop[act] == stop[first]):
        region = _region(axes, start[first], stop[first], ndim)
        if kind == "torch":
            import torch

            dev = x.device
            if act.size == b:
                p = _torch_index(partner, dev)
                out[(slice(None),) + region] = x[(slice(None),) + region].index_select(0, p)
            else:
                pa = _torch_index(partner[act], dev)
                ra = _torch_index(act, dev)
                out[(ra,) + region] = x[(slice(None),) + region].index_select(0, pa)
            return out
        if act.size == b:
            out[(slice(None),) + region] = x[(slice(None),) + region][partner]
        else:
            out[(act,) + region] = x[(slice(None),) + region][partner[act]]
        return out
    # boxes differ per sample: one slice copy per sample
    regions = [_region(axes, start[i], stop[i], ndim) for i in act]
    if inplace:
        sources = [x[int(partner[i])][r].clone() if kind == "torch" else x[int(partner[i])][r].copy()
                   for i, r in zip(act, regions)]
    else:
        sources = [x[int(partner[i])][r] for i, r in zip(act, regions)]
    for i, r, src in zip(act, regions, sources):
        out[int(i)][r] = src
    return out


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

        dev = x.device
        part = x.index_select(0, _torch_index(partner, dev))
        if binary:
            keep = torch.tensor(m == 1).to(dev, non_blocking=True)
            res = torch.where(keep, x, part)
        else:
            cdt = x.dtype if (x.is_floating_point() and x.element_size() >= 4) else torch.float32
            w = torch.tensor(m).to(dev, cdt, non_blocking=True)
            res = x.to(cdt) * w + part.to(cdt) * (1.0 - w)
            if not x.is_floating_point():
                info = torch.iinfo(x.dtype)
                res = res.round_().clamp_(info.min, info.max)
            res = res.to(x.dtype)
        if out is None:
            return res.contiguous(memory_format=_torch_format(x)) if res.dim() == 4 else res
        return out.copy_(res)
    part = np.take(x, partner, axis=0)
    if binary:
        res = np.where(m == 1, x, part)
    else:
        cdt = np.promote_types(x.dtype, np.float32)
        res = m.astype(cdt) * x + (1.0 - m).astype(cdt) * part
        if x.dtype.kind in "ui":
            info = np.iinfo(x.dtype)
            res = np.clip(np.rint(res), info.min, info.max)
        res = res.astype(x.dtype, copy=False)
    if out is None:
        return res
    out[...] = res
    return out


def _torch_format(x: Any) -> Any:
    import torch

    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format

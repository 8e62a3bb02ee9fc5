"""The reference kernels: whole-batch Array-API operations, any library and any device.

Each kernel is a fixed handful of operations (a gather of the partners, weights, a select or a
weighted sum), whatever the batch size. They are differentiable with torch, they are the oracle the
fused backends are tested against, and they run wherever no fused backend applies (JAX, MPS, CUDA
without Triton, a layout that is not one dense block).

Element rule, shared by every backend (``a = x[i]``, ``b = x[partner[i]]``, ``w`` the weight of ``a``):
computed in float32 (float16, bfloat16, float32, integers of 1-2 bytes) or float64 (float64,
integers of 4-8 bytes) as ``wa * a + wb * b`` with ``wa = w``, ``wb = 1 - w`` (taken in float64, then
cast). Where ``wa`` is exactly 1 the result is ``a``, where it is 0 it is ``b``. Integers are rounded
half to even and kept inside the dtype's range; 64-bit integers, which float64 cannot hold exactly,
are also clamped to lie between ``a`` and ``b`` (smaller ones always do).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["blend", "blend_many", "compute_dtype", "mask_mix", "paste"]


def _xp(x: Any) -> tuple[Any, Any]:
    import array_api_compat

    return array_api_compat.array_namespace(x), array_api_compat.device(x)


def compute_dtype(xp: Any, dtype: Any) -> tuple[Any, bool]:
    """The dtype a blend is computed in, and whether ``dtype`` is an integer dtype."""
    if xp.isdtype(dtype, "real floating"):
        return (xp.float64 if dtype == xp.float64 else xp.float32), False
    return (xp.float32 if xp.iinfo(dtype).bits <= 16 else xp.float64), True


def float_range(xp: Any, dtype: Any, cdt: Any) -> tuple[float, float]:
    """The integer ``dtype``'s range as values of ``cdt`` that stay inside it."""
    info = xp.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    np_cdt = np.float32 if cdt == xp.float32 else np.float64
    top = np_cdt(hi)
    if int(top) > info.max:  # e.g. float64(2**63 - 1) rounds up to 2**63
        top = np.nextafter(top, np_cdt(0))
    return lo, float(top)


def _combine(xp: Any, a: Any, b: Any, wa: Any, wb: Any, dtype: Any) -> Any:
    """``wa * a + wb * b`` by the element rule; ``wa``/``wb`` already in the compute dtype."""
    cdt, integer = compute_dtype(xp, dtype)
    ac, bc = xp.astype(a, cdt), xp.astype(b, cdt)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 where the weight selects
        r = wa * ac + wb * bc
    if integer:
        lo, hi = float_range(xp, dtype, cdt)
        r = xp.astype(xp.clip(xp.round(r), lo, hi), dtype)
        if xp.iinfo(dtype).bits == 64:  # float64 holds 53 bits: keep the result between a and b
            r = xp.clip(r, xp.minimum(a, b), xp.maximum(a, b))
    else:
        r = xp.astype(r, dtype)
    return xp.where(wa == 1, a, xp.where(wa == 0, b, r))


def _weights(xp: Any, w: np.ndarray, shape: tuple[int, ...], dtype: Any, dev: Any) -> tuple[Any, Any]:
    cdt, _ = compute_dtype(xp, dtype)
    np_cdt = np.float32 if cdt == xp.float32 else np.float64
    w = np.asarray(w, dtype=np.float64)
    wa = xp.reshape(xp.asarray(w.astype(np_cdt), device=dev), shape)
    wb = xp.reshape(xp.asarray((1.0 - w).astype(np_cdt), device=dev), shape)
    return wa, wb


def _partners(xp: Any, x: Any, partner: np.ndarray, dev: Any) -> Any:
    return xp.take(x, xp.asarray(np.asarray(partner, dtype=np.int64), device=dev), axis=0)


def blend(x: Any, partner: np.ndarray, lam: np.ndarray) -> Any:
    """``lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` as a new array like ``x`` ``(B, ...)``."""
    xp, dev = _xp(x)
    shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
    wa, wb = _weights(xp, lam, shape, x.dtype, dev)
    return _combine(xp, x, _partners(xp, x, partner, dev), wa, wb, x.dtype)


def box_mask(xp: Any, shape: tuple[int, ...], axes: tuple[int, ...], start: np.ndarray,
             stop: np.ndarray, dev: Any) -> Any:
    """Boolean ``(B, ...)`` mask, True inside each sample's box; the box axes at full length, the
    other sample axes of length 1. Built on ``dev`` from the ``(B, len(axes))`` bounds."""
    b, ndim = shape[0], len(shape)
    bshape = (b,) + (1,) * (ndim - 1)
    mask = None
    for k, a in enumerate(axes):
        pshape = [1] * ndim
        pshape[a] = shape[a]
        pos = xp.reshape(xp.arange(shape[a], device=dev), tuple(pshape))
        lo = xp.reshape(xp.asarray(np.asarray(start[:, k], dtype=np.int64), device=dev), bshape)
        hi = xp.reshape(xp.asarray(np.asarray(stop[:, k], dtype=np.int64), device=dev), bshape)
        inside = (pos >= lo) & (pos < hi)
        mask = inside if mask is None else mask & inside
    return mask


def paste(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray, axes: tuple[int, ...]) -> Any:
    """``x[partner[i]]`` inside sample ``i``'s box ``[start[i], stop[i])`` over ``axes``, ``x[i]``
    elsewhere; a new array like ``x``."""
    xp, dev = _xp(x)
    mask = box_mask(xp, tuple(int(s) for s in x.shape), axes, start, stop, dev)
    return xp.where(mask, _partners(xp, x, partner, dev), x)


def broadcast_mask(mask: np.ndarray, axes: tuple[int, ...], ndim: int) -> np.ndarray:
    """A ``(B, *sizes)`` mask over ascending ``axes`` reshaped to broadcast against ``ndim`` axes."""
    shape = [mask.shape[0]] + [1] * (ndim - 1)
    for k, a in enumerate(axes):
        shape[a] = mask.shape[k + 1]
    return mask.reshape(shape)


def mask_mix(x: Any, partner: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]) -> Any:
    """``mask * x + (1 - mask) * x[partner]`` per element, a ``(B, *sizes)`` mask over ascending
    ``axes`` taken whole along the other axes; a new array like ``x``."""
    xp, dev = _xp(x)
    partner = np.asarray(partner, dtype=np.int64)
    m = np.asarray(mask)
    if m.dtype != np.float32:
        m = m.astype(np.float64)
    m = broadcast_mask(m, axes, len(x.shape))
    own = partner == np.arange(partner.shape[0])
    if own.any():  # a row paired with itself is itself, not a rounded blend with itself
        m = np.where(own.reshape((-1,) + (1,) * (m.ndim - 1)), m.dtype.type(1), m)
    if m.dtype == np.float32:
        wa, wb = _weights32(xp, m, x.dtype, dev)
    else:
        wa, wb = _weights(xp, m, m.shape, x.dtype, dev)
    return _combine(xp, x, _partners(xp, x, partner, dev), wa, wb, x.dtype)


def _weights32(xp: Any, w: np.ndarray, dtype: Any, dev: Any) -> tuple[Any, Any]:
    """:func:`_weights` of a float32 ``w`` without a float64 copy: in a float32 compute dtype
    ``wa = w`` and ``wb = 1 - w`` in float32 arithmetic, which is ``float32(1 - float64(w))``
    (rounding the exact difference of two float32 values to float64 first changes nothing, as
    float64 has more than twice float32's precision); in float64 both are exact conversions."""
    cdt, _ = compute_dtype(xp, dtype)
    np_cdt = np.float32 if cdt == xp.float32 else np.float64
    wa = w.astype(np_cdt, copy=False)
    wb = np_cdt(1.0) - wa
    return xp.asarray(wa, device=dev), xp.asarray(wb, device=dev)


def blend_many(x: Any, sources: np.ndarray, weights: np.ndarray, copy: np.ndarray) -> Any:
    """``sum_j weights[i, j] * x[sources[i, j]]`` as a new array like ``x`` ``(B, ...)``.

    ``sources`` int64 ``(B, k)``, ``weights`` float64 ``(B, k)`` in [0, 1]; ``copy`` bool ``(B,)``:
    rows that are ``x[sources[i, 0]]`` itself. The sum runs over ``j`` in order, in the compute dtype,
    with each weight cast to it and terms of weight 0 left out (an inf or NaN there never leaks); a
    row of only zero weights is 0. Integers are rounded half to even and clipped to the dtype's range.
    One gather of ``x`` per source column, each used and dropped before the next.
    """
    xp, dev = _xp(x)
    dtype = x.dtype
    cdt, integer = compute_dtype(xp, dtype)
    np_cdt = np.float32 if cdt == xp.float32 else np.float64
    b = int(x.shape[0])
    shape = (b,) + (1,) * (len(x.shape) - 1)
    wc = np.asarray(weights, dtype=np.float64).astype(np_cdt)
    acc = None
    started = None
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 in terms that are left out
        for j in range(wc.shape[1]):
            w = xp.reshape(xp.asarray(wc[:, j], device=dev), shape)
            live = w != 0
            term = w * xp.astype(_partners(xp, x, sources[:, j], dev), cdt)
            if acc is None:
                acc = xp.where(live, term, xp.zeros_like(term))
                started = live
            else:
                acc = xp.where(live, xp.where(started, acc + term, term), acc)
                started = started | live
    if acc is None:  # k = 0 cannot happen through the dispatcher; keep the shape anyway
        return xp.zeros_like(x)
    if integer:
        lo, hi = float_range(xp, dtype, cdt)
        res = xp.astype(xp.clip(xp.round(acc), lo, hi), dtype)
    else:
        res = xp.astype(acc, dtype)
    cp = xp.reshape(xp.asarray(np.asarray(copy, dtype=bool), device=dev), shape)
    return xp.where(cp, _partners(xp, x, sources[:, 0], dev), res)

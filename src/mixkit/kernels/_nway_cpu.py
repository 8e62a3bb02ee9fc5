"""CPU backend of ``blend_many``: one compiled, multi-threaded pass (numba), as ``_cpu.blend``.

``out[i] = sum_j w[i, j] * x[s[i, j]]``, with the element rule of :func:`mixkit.kernels.blend_many`
(terms summed in order of ``j`` in the compute dtype, weight-0 terms left out, copy rows taken whole,
integers rounded half to even and clipped). Bit for bit the reference's result.

The batch is seen as ``(B, N)`` rows in memory order (the views of ``_cpu._prepare``: NumPy arrays and
torch CPU tensors, float16/bfloat16 through their bit patterns). A task is one block of ``BLOCK``
elements of one output row: it reads that block of each source row once, sums into an accumulator of
the compute dtype that stays in cache, and writes the output block once; no ``(B, k, ...)`` gather. In
place (``out is x``) the result goes to one new batch, then is copied back: a sample's sources may be
any rows, so no write order keeps them all unread until written. Imported on first use only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from . import _cpu
from ._cpu import _bf16_to_f32, _f16_to_f32, _f32_to_bf16, _f32_to_f16
from ._threads import PARALLEL

__all__ = ["blend_many"]

BLOCK_BYTES = 32 << 10  # accumulator bytes of one task (stays in L1/L2)


def _widen(a, lo, tag):  # type: ignore[no-untyped-def]
    """A stored element in the compute dtype (compiled)."""
    raise NotImplementedError


@overload(_widen)
def _widen_impl(a, lo, tag):  # type: ignore[no-untyped-def]
    if tag == types.int16:
        return lambda a, lo, tag: _f16_to_f32(a)
    if tag == types.int32:
        return lambda a, lo, tag: _bf16_to_f32(a)
    if tag == types.int8:
        return lambda a, lo, tag: a
    if lo == types.float32:
        return lambda a, lo, tag: np.float32(a)
    return lambda a, lo, tag: np.float64(a)


def _narrow(r, lo, hi, tag, o):  # type: ignore[no-untyped-def]
    """A computed value as stored in ``o`` (compiled)."""
    raise NotImplementedError


@overload(_narrow)
def _narrow_impl(r, lo, hi, tag, o):  # type: ignore[no-untyped-def]
    if tag == types.int16:
        return lambda r, lo, hi, tag, o: _f32_to_f16(r)
    if tag == types.int32:
        return lambda r, lo, hi, tag, o: _f32_to_bf16(r)
    if tag == types.int8:
        return lambda r, lo, hi, tag, o: r
    if isinstance(o.dtype, types.Integer) and not o.dtype.signed:
        return lambda r, lo, hi, tag, o: np.uint64(min(max(np.rint(r), lo), hi))
    return lambda r, lo, hi, tag, o: np.int64(min(max(np.rint(r), lo), hi))


@njit(cache=True, nogil=True)
def _task(t, x, o, src, wc, copy, nblk, blk, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Output row ``t // nblk``, block ``t % nblk``."""
    n = x.shape[1]
    i = t // nblk
    e0 = (t - i * nblk) * blk
    e1 = min(n, e0 + blk)
    m = e1 - e0
    d = o[i, e0:e1]
    if copy[i]:
        s = x[src[i, 0], e0:e1]
        for j in range(m):
            d[j] = s[j]
        return
    acc = np.zeros(m, wc.dtype)
    started = False
    for c in range(src.shape[1]):
        w = wc[i, c]
        if w == 0:
            continue
        s = x[src[i, c], e0:e1]
        if started:
            for j in range(m):
                acc[j] = acc[j] + w * _widen(s[j], lo, tag)
        else:
            for j in range(m):
                acc[j] = w * _widen(s[j], lo, tag)
            started = True
    for j in range(m):
        d[j] = _narrow(acc[j], lo, hi, tag, o)


@njit(parallel=True, cache=True, nogil=True)
def _kernel(x, o, src, wc, copy, nblk, blk, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    ntask = x.shape[0] * nblk
    for t in prange(ntask):
        _task(np.int64(t), x, o, src, wc, copy, nblk, blk, lo, hi, tag)
    return 0


def blend_many(x: Any, out: Any, sources: np.ndarray, weights: np.ndarray, copy: np.ndarray) -> bool:
    """``out[i] = sum_j weights[i, j] * x[sources[i, j]]``; False (nothing written) if not handled."""
    prep = _cpu._prepare(x, out)
    if prep is None:
        return False
    x2, o2, name, inplace, _ = prep
    if name in _cpu._FLOATS:
        tag, cdt = _cpu._FLOATS[name]
        lo = hi = 0.0
    else:
        cdt, lo, hi = _cpu._INTS[name]
        tag = _cpu._INT
    target = np.empty_like(o2) if inplace else o2
    b, n = x2.shape
    item = np.dtype(cdt).itemsize
    blk = max(1, min(n, BLOCK_BYTES // item))
    nblk = -(-n // blk)
    src = _cpu._ro(np.ascontiguousarray(sources, np.int64))
    wc = _cpu._ro(np.ascontiguousarray(np.asarray(weights, np.float64).astype(cdt)))
    cp = _cpu._ro(np.ascontiguousarray(copy, np.bool_))
    args = (_cpu._ro(x2), target, src, wc, cp, np.int64(nblk), np.int64(blk), cdt(lo), cdt(hi), tag)
    if b * nblk == 1 or b * n * x2.itemsize <= _cpu.SMALL_BYTES:
        _serial(*args)
    else:
        with PARALLEL:
            _kernel(*args)
    if inplace:
        np.copyto(o2, target)
    return True


@njit(cache=True, nogil=True)
def _serial(x, o, src, wc, copy, nblk, blk, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Every task on the calling thread (a small batch: thread start-up costs more)."""
    for t in range(x.shape[0] * nblk):
        _task(np.int64(t), x, o, src, wc, copy, nblk, blk, lo, hi, tag)
    return 0

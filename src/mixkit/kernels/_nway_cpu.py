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
from numba import get_num_threads, njit, prange, types
from numba.extending import overload

from . import _cpu
from ._cpu import _bf16_to_f32, _bits, _f16_to_f32, _f32_to_bf16, _f32_to_f16
from ._threads import PARALLEL

__all__ = ["blend_many"]

BLOCK_BYTES = 32 << 10  # accumulator bytes of one task (stays in L1/L2)
TASK_BYTES = 1 << 20  # output bytes a task writes, about (its rows share one accumulator)


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
    # Integers up to 32 bits: clipped in the compute dtype, then rounded half to even by adding
    # 1.5 * 2**23 (2**52 for float64), whose low mantissa bits are then rint(r) in two's complement
    # (|r| < 2**22 here); the store truncates to them. It vectorises, np.rint does not.
    if o.dtype.bitwidth <= 16:
        return lambda r, lo, hi, tag, o: np.int32(_bits(min(max(r, lo), hi) + np.float32(12582912.0)))
    if o.dtype.bitwidth == 32:
        return lambda r, lo, hi, tag, o: np.int64(_bits(min(max(r, lo), hi) + 6755399441055744.0))
    if not o.dtype.signed:
        return lambda r, lo, hi, tag, o: np.uint64(min(max(np.rint(r), lo), hi))
    return lambda r, lo, hi, tag, o: np.int64(min(max(np.rint(r), lo), hi))


@njit(cache=True, nogil=True)
def _task(t, x, o, src, wc, copy, nblk, blk, nseg, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Block ``t % nblk`` of the rows of segment ``t // nblk`` (one accumulator for all of them)."""
    n = x.shape[1]
    b = x.shape[0]
    sg = t // nblk
    e0 = (t - sg * nblk) * blk
    e1 = min(n, e0 + blk)
    m = e1 - e0
    acc = np.empty(m, wc.dtype)
    for i in range(sg * b // nseg, (sg + 1) * b // nseg):
        d = o[i, e0:e1]
        if copy[i]:
            s = x[src[i, 0], e0:e1]
            for j in range(m):
                d[j] = s[j]
            continue
        first = -1
        last = -1
        for c in range(src.shape[1]):
            if wc[i, c] != 0:
                last = c
                if first < 0:
                    first = c
        if first < 0:  # every weight 0: the sum of no terms
            for j in range(m):
                d[j] = _narrow(lo - lo, lo, hi, tag, o)  # +0 in the compute dtype
            continue
        if first == last:  # one term: straight to the output
            w = wc[i, first]
            s = x[src[i, first], e0:e1]
            for j in range(m):
                d[j] = _narrow(w * _widen(s[j], lo, tag), lo, hi, tag, o)
            continue
        w = wc[i, first]
        s = x[src[i, first], e0:e1]
        for j in range(m):
            acc[j] = w * _widen(s[j], lo, tag)
        for c in range(first + 1, last):
            w = wc[i, c]
            if w == 0:
                continue
            s = x[src[i, c], e0:e1]
            for j in range(m):
                acc[j] = acc[j] + w * _widen(s[j], lo, tag)
        w = wc[i, last]  # the last term goes straight to the output
        s = x[src[i, last], e0:e1]
        for j in range(m):
            d[j] = _narrow(acc[j] + w * _widen(s[j], lo, tag), lo, hi, tag, o)


@njit(parallel=True, cache=True, nogil=True)
def _kernel(x, o, src, wc, copy, nblk, blk, nseg, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    for t in prange(nseg * nblk):
        _task(np.int64(t), x, o, src, wc, copy, nblk, blk, nseg, lo, hi, tag)
    return 0


@njit(cache=True, nogil=True)
def _serial(x, o, src, wc, copy, nblk, blk, nseg, lo, hi, tag):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Every task on the calling thread (a small batch: thread start-up costs more)."""
    for t in range(nseg * nblk):
        _task(np.int64(t), x, o, src, wc, copy, nblk, blk, nseg, lo, hi, tag)
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
    small = b * n * x2.itemsize <= _cpu.SMALL_BYTES
    # rows per task: enough that a task writes about TASK_BYTES, few enough for every thread to have work
    want = _cpu.TASKS_PER_THREAD * max(1, get_num_threads())
    tasks = max(want, -(-b * n * x2.itemsize // TASK_BYTES))
    nseg = 1 if small else max(1, min(b, -(-tasks // nblk)))
    args = (_cpu._ro(x2), target, src, wc, cp, np.int64(nblk), np.int64(blk), np.int64(nseg), cdt(lo),
            cdt(hi), tag)
    if small or nseg * nblk == 1:
        _serial(*args)
    else:
        with PARALLEL:
            _kernel(*args)
    if inplace:
        np.copyto(o2, target)
    return True


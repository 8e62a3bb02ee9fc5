"""CPU backend of the kernels: one compiled, multi-threaded pass per call (numba).

Each function takes the arrays the dispatcher has validated (see the backend contract in
``mixkit.kernels``) and returns True once it has written ``out``, or False, before writing anything,
when it cannot handle the call (then the vectorised reference is used):

- ``x``/``out`` not NumPy arrays or torch CPU tensors, or a dtype outside float16, bfloat16, float32,
  float64, int8..int64, uint8..uint64;
- a layout that is not one dense block (``_layout.dense_perm`` is None), or ``x`` and ``out`` dense
  in different axis orders, or unaligned memory, or a read-only ``out``;
- a mask whose axes are not adjacent in memory, a box needing more than ``_layout.BOX_DIMS``
  dimensions.

A batch is seen as ``(B, N)`` rows in memory order (zero-copy views: torch tensors through
``.numpy()``, bfloat16 and float16 through their ``uint16`` bit patterns). The work is split into
tasks of one block of elements over a run of rows, run in parallel (``prange``):

- out of place, a task walks its rows in partner-graph order (``_walk.walk_order``, then the rows
  paired with themselves): the partner block read at one step is the own block of the next step, so
  it comes from cache and ``x`` is read about once;
- in place (``out is x``), a task is one block over the whole walk, with one saved block per task
  (rows nobody reads first, then each cycle from a saved block): no copy of the batch.

Results equal the reference bit for bit: weights are cast to the compute dtype as the contract says,
``wa * a + wb * b`` is two products and a sum (fastmath off, so no fused multiply-add), integers are
rounded half to even, clipped, cast and clamped to ``[min(a, b), max(a, b)]`` (for integers up to
32 bits the clip and clamp provably change nothing and are left out), and float16/bfloat16 are
converted with exact round-to-nearest-even code written here. Weights of exactly 1 or 0 give the
used source, so an inf or NaN in the other one never leaks.

A batch under ``SMALL_BYTES`` runs as one task on the calling thread (no thread start-up). Compiled
once per storage dtype (12 kernels for blend and float32-mask mask_mix together, the mode a runtime
argument, and 12 more for float64 masks, on first use of one; 4 for bool masks, one per item size, which read the mask as stored, one byte per element,
and select the bits of ``x``; 4 paste kernels, one per item size), on first use, cached on disk (``cache=True``): a first call costs
seconds, later processes load the kernels in well under a second. ``benchmarks/README.md`` has the
measurements.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import get_num_threads, njit, prange, types
from numba.extending import intrinsic, overload

from . import _layout
from ._threads import PARALLEL
from ._walk import CLOSE, OPEN
from ._walk import _walk as _walk_rows

__all__ = ["blend", "mask_mix", "paste"]

BLEND = 0
MASK = 1  # float weights per element
SELECT = 2  # a bool mask per element (stored as uint8 0/1): each element taken from x or the partner

# A scalar whose numba type picks the element formula at compile time (one kernel per storage dtype).
_NATIVE = np.int8(0)  # float32 / float64 computed in their own dtype
_F16 = np.int16(0)  # float16 bit patterns, computed in float32
_BF16 = np.int32(0)  # bfloat16 bit patterns, computed in float32
_INT = np.int64(0)  # integers: rint, clip, cast, clamp
_SEL = np.uint8(0)  # bool masks: the stored bits of x (as unsigned integers) selected, no arithmetic

# Task sizes (bytes of one block of one row). Out of place, a task walks a run of rows for one
# block; in place, one block over all rows. See benchmarks/README.md for how they were chosen.
OOP_BLOCK_BYTES = 256 << 10
INPLACE_BLOCK_BYTES = 64 << 10
TASKS_PER_THREAD = 2
LINE_BYTES = 64  # blocks start on cache-line multiples within a row
SMALL_BYTES = 256 << 10  # below this many bytes of x, one task (thread start-up costs more)


# ----------------------------------------------------------------------------------------------------
# element formulas (compiled into the kernels)
# ----------------------------------------------------------------------------------------------------


@intrinsic
def _f32_from_bits(typingctx: Any, u: Any) -> Any:
    """The float32 whose bit pattern is the low 32 bits of the integer ``u``."""
    if not isinstance(u, types.Integer):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        v = args[0]
        if u.bitwidth > 32:
            v = builder.trunc(v, ir.IntType(32))
        elif u.bitwidth < 32:
            v = builder.zext(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(u), codegen


@intrinsic
def _bits(typingctx: Any, f: Any) -> Any:
    """The bit pattern of the float32 / float64 ``f`` as a uint32 / uint64."""
    if f not in (types.float32, types.float64):
        return None
    width = f.bitwidth

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(width))

    return (types.uint32 if width == 32 else types.uint64)(f), codegen


@njit(cache=True)
def _f16_to_f32(h: Any) -> Any:  # pragma: no cover - compiled
    u = np.uint32(h)
    sign = np.uint32(u & np.uint32(0x8000)) << np.uint32(16)
    em = np.uint32(u & np.uint32(0x7FFF))
    if em >= np.uint32(0x7C00):  # inf, NaN (payload kept)
        return _f32_from_bits(sign | np.uint32(0x7F800000) | ((em & np.uint32(0x3FF)) << np.uint32(13)))
    if em >= np.uint32(0x400):  # normal: rebias the exponent (127 - 15) << 23
        return _f32_from_bits(sign | ((em << np.uint32(13)) + np.uint32(0x38000000)))
    v = np.float32(em) * np.float32(5.9604644775390625e-08)  # subnormal: em * 2**-24, exact
    return -v if sign else v


@njit(cache=True)
def _f32_to_f16(f: Any) -> Any:  # pragma: no cover - compiled
    """float32 -> float16 bits, round to nearest even (NaN -> quiet NaN 0x7e00 with the sign)."""
    u = _bits(f)
    sign = np.uint32(u & np.uint32(0x80000000))
    u = np.uint32(u ^ sign)
    if u >= np.uint32(0x47800000):  # >= 65536.0: inf (or NaN)
        o = np.uint32(0x7E00) if u > np.uint32(0x7F800000) else np.uint32(0x7C00)
    elif u < np.uint32(0x38800000):  # below 2**-14: subnormal, rounded by adding 0.5 in float32
        o = np.uint32(_bits(_f32_from_bits(u) + np.float32(0.5)) - np.uint32(0x3F000000))
    else:  # normal: rebias, add half an ulp minus one plus the odd bit, truncate
        odd = np.uint32((u >> np.uint32(13)) & np.uint32(1))
        o = np.uint32((u - np.uint32(0x38000000) + np.uint32(0xFFF) + odd) >> np.uint32(13))
    return np.uint16(o | (sign >> np.uint32(16)))


@njit(cache=True)
def _bf16_to_f32(h: Any) -> Any:  # pragma: no cover - compiled
    return _f32_from_bits(np.uint32(h) << np.uint32(16))


@njit(cache=True)
def _f32_to_bf16(f: Any) -> Any:  # pragma: no cover - compiled
    """float32 -> bfloat16 bits, round to nearest even (NaN -> 0x7fc0, as torch does)."""
    u = _bits(f)
    if np.uint32(u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
        return np.uint16(0x7FC0)
    return np.uint16((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))


def _mix(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
    """``wa * a + wb * b`` in the compute dtype of ``a``'s storage and ``tag``, as stored (compiled)."""
    raise NotImplementedError


@overload(_mix)
def _mix_impl(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
    if tag == types.uint8:  # SELECT never blends: weights are 0 or 1
        return lambda a, b, wa, wb, lo, hi, tag: a if wa == 1 else b
    if tag == types.int8:
        def native(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            return wa * a + wb * b
        return native
    if tag == types.int16:
        def f16(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            return _f32_to_f16(wa * _f16_to_f32(a) + wb * _f16_to_f32(b))
        return f16
    if tag == types.int32:
        def bf16(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            return _f32_to_bf16(wa * _bf16_to_f32(a) + wb * _bf16_to_f32(b))
        return bf16
    if not isinstance(a, types.Integer):
        return None
    # Integers of up to 32 bits are exact in the compute dtype, and the computed sum lies within
    # |r - (w a + (1 - w) b)| < 0.01 of the convex combination, so rint(r) already lies in
    # [min(a, b), max(a, b)]: the contract's clip and clamp change nothing and are left out. rint
    # is an add of 1.5 * 2**23 (2**52 for float64): for |r| < 2**22 the sum's low mantissa bits
    # are rint(r) (half to even) in two's complement, and storing truncates to them.
    if a.bitwidth <= 16:
        def small(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            r = wa * np.float32(a) + wb * np.float32(b)
            return np.int32(_bits(r + np.float32(12582912.0)))  # int32: unifies with a and b
        return small
    if a.bitwidth == 32:
        def mid(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            r = wa * np.float64(a) + wb * np.float64(b)
            return np.int64(_bits(r + 6755399441055744.0))  # int64: unifies with a and b
        return mid
    # 64 bits: float64 rounds a and b themselves, so the result is clipped and clamped
    if a.bitwidth == 64 and not a.signed:
        def u64(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            r = np.rint(wa * np.float64(a) + wb * np.float64(b))
            r = min(max(r, lo), hi)
            v = np.uint64(r)
            return min(max(v, min(a, b)), max(a, b))
        return u64

    def wide(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
        r = np.rint(wa * np.float64(a) + wb * np.float64(b))
        r = min(max(r, lo), hi)
        v = np.int64(r)
        ia = np.int64(a)
        ib = np.int64(b)
        return min(max(v, min(ia, ib)), max(ia, ib))
    return wide


def _mix_select(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
    """``_mix``, but ``a`` where ``wa == 1`` and ``b`` where ``wa == 0`` (compiled)."""
    raise NotImplementedError


@overload(_mix_select)
def _mix_select_impl(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
    # Where a and b are exact in the compute dtype (float32/float64, integers up to 32 bits) the
    # choice is made there, before rounding: one select chain on floats vectorises about twice as
    # fast as selecting among integers of mixed widths. float16/bfloat16 (whose NaN payloads must
    # survive) and 64-bit integers choose among the stored values.
    if tag == types.uint8:
        return lambda a, b, wa, wb, lo, hi, tag: a if wa == 1 else b
    if tag == types.int8:
        def native(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            r = wa * a + wb * b
            r = b if wa == 0 else r
            return a if wa == 1 else r
        return native
    if tag == types.int64 and a.bitwidth <= 16:
        def small(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            fa = np.float32(a)
            fb = np.float32(b)
            r = wa * fa + wb * fb
            r = fb if wa == 0 else r
            r = fa if wa == 1 else r
            return np.int32(_bits(r + np.float32(12582912.0)))
        return small
    if tag == types.int64 and a.bitwidth == 32:
        def mid(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
            fa = np.float64(a)
            fb = np.float64(b)
            r = wa * fa + wb * fb
            r = fb if wa == 0 else r
            r = fa if wa == 1 else r
            return np.int64(_bits(r + 6755399441055744.0))
        return mid

    def stored(a, b, wa, wb, lo, hi, tag):  # type: ignore[no-untyped-def]
        v = _mix(a, b, wa, wb, lo, hi, tag)
        if wa == 0:
            v = b
        if wa == 1:
            v = a
        return v
    return stored


def _pick(a, b, m, tag):  # type: ignore[no-untyped-def]
    """``a`` where the mask byte ``m`` is 1, ``b`` where it is 0 (compiled)."""
    raise NotImplementedError


@overload(_pick)
def _pick_impl(a, b, m, tag):  # type: ignore[no-untyped-def]
    if tag == types.uint8 and isinstance(a, types.Integer):
        # the stored bits as unsigned integers: (a & k) | (b & ~k) with k = 0 - m, all ones or none,
        # vectorises (a conditional expression compiles to a branch per element, 10x slower)
        def bits(a, b, m, tag):  # type: ignore[no-untyped-def]
            k = type(a)(0) - type(a)(m)
            return type(a)((a & k) | (b & ~k))
        return bits
    return lambda a, b, m, tag: a if m != 0 else b  # kernels of other tags never take this path


def _as(w, like):  # type: ignore[no-untyped-def]
    """``w`` cast to the type of ``like`` (compiled)."""
    raise NotImplementedError


@overload(_as)
def _as_impl(w, like):  # type: ignore[no-untyped-def]
    if like == types.float32:
        return lambda w, like: np.float32(w)
    return lambda w, like: np.float64(w)


# ----------------------------------------------------------------------------------------------------
# kernels
#
# Each loop below has one call site, so LLVM compiles it once per kernel (compile time is most of the
# cost of a first call). Offsets and flags are passed as int64 variables, never as literals (a literal
# argument compiles another specialisation of the callee).
# ----------------------------------------------------------------------------------------------------


@njit(cache=True)
def _copy(dst: Any, dr: int, doff: int, src: Any, sr: int, soff: int, c0: int, c1: int) -> None:  # pragma: no cover
    """``dst[dr, j - doff] = src[sr, j - soff]`` for ``j`` in ``[c0, c1)``.

    The loops index 1-D slices from 0, so LLVM sees non-negative indices and drops numba's
    negative-index wraparound (which otherwise turns every vector load into a gather)."""
    d = dst[dr, c0 - doff:c1 - doff]
    s = src[sr, c0 - soff:c1 - soff]
    for j in range(c1 - c0):
        d[j] = s[j]


@njit(cache=True)
def _blend_run(o: Any, i: int, x: Any, src: Any, sr: int, soff: int, c0: int, c1: int, wa: Any, wb: Any,
               lo: Any, hi: Any, tag: Any, inplace: bool) -> None:  # pragma: no cover
    """One weight for the run (neither 0 nor 1).

    In place the loop reads and writes the same slice: were it to read ``x`` (the same memory
    under another name), LLVM's run-time overlap check would send it to the scalar loop."""
    d = o[i, c0:c1]
    b = src[sr, c0 - soff:c1 - soff]
    if inplace:
        for j in range(c1 - c0):
            d[j] = _mix(d[j], b[j], wa, wb, lo, hi, tag)
        return
    a = x[i, c0:c1]
    for j in range(c1 - c0):
        d[j] = _mix(a[j], b[j], wa, wb, lo, hi, tag)


@njit(cache=True)
def _weights(wbuf: Any, mask2: Any, i: int, m0: int, m1: int, lo: Any) -> None:  # pragma: no cover
    """``wbuf[0, k - m0] = cdt(w)``, ``wbuf[1, k - m0] = cdt(1.0 - w)`` for ``w = mask2[i, k]``."""
    ms = mask2[i, m0:m1]
    wa = wbuf[0, :m1 - m0]
    wb = wbuf[1, :m1 - m0]
    for k in range(m1 - m0):
        w = ms[k]
        wa[k] = _as(w, lo)
        wb[k] = _as(1.0 - np.float64(w), lo)


@njit(cache=True)
def _mask_elems(o: Any, i: int, x: Any, src: Any, sr: int, soff: int, c0: int, c1: int, wbuf: Any,
                woff: int, lo: Any, hi: Any, tag: Any, inplace: bool) -> None:  # pragma: no cover
    """One weight per element, ``wbuf[:, j - woff]`` (already in the compute dtype); weights 1 and
    0 give the used source exactly."""
    d = o[i, c0:c1]
    b = src[sr, c0 - soff:c1 - soff]
    wa_ = wbuf[0, c0 - woff:c1 - woff]
    wb_ = wbuf[1, c0 - woff:c1 - woff]
    if inplace:
        for j in range(c1 - c0):
            d[j] = _mix_select(d[j], b[j], wa_[j], wb_[j], lo, hi, tag)
        return
    a = x[i, c0:c1]
    for j in range(c1 - c0):
        d[j] = _mix_select(a[j], b[j], wa_[j], wb_[j], lo, hi, tag)


@njit(cache=True)
def _select_elems(o: Any, i: int, x: Any, src: Any, sr: int, soff: int, c0: int, c1: int, mask2: Any,
                  moff: int, tag: Any, inplace: bool) -> None:  # pragma: no cover
    """``o[i, j] = x[i, j]`` where ``mask2[i, j - moff]`` is 1, else the partner's element (0): a
    select of the stored bits (``x`` viewed as unsigned integers), reading the 0/1 mask bytes
    directly."""
    d = o[i, c0:c1]
    b = src[sr, c0 - soff:c1 - soff]
    ms = mask2[i, c0 - moff:c1 - moff]
    if inplace:
        for j in range(c1 - c0):
            d[j] = _pick(d[j], b[j], ms[j], tag)
        return
    a = x[i, c0:c1]
    for j in range(c1 - c0):
        d[j] = _pick(a[j], b[j], ms[j], tag)


@njit(cache=True)
def _row_mix(o: Any, i: int, x: Any, src: Any, sr: int, soff: int, e0: int, e1: int, inplace: bool,
             mode: int, wa_row: Any, wb_row: Any, mask2: Any, inner: int, lo: Any, hi: Any,
             tag: Any, wbuf: Any) -> None:  # pragma: no cover
    """Row ``i``, elements ``[e0, e1)``: ``o = combine(x[i], src)``, as runs of one kind each."""
    z = np.int64(0)
    m = mask2.shape[1]
    q = e0 // inner
    mi = q % m
    r = e0 - q * inner
    whole = mode == MASK and inner == 1 and e1 - e0 >= 2 * m
    if whole:  # the mask row is used more than once: its weights are converted once
        _weights(wbuf, mask2, i, z, m, lo)
    j = e0
    while j < e1:
        if mode == BLEND:
            je = e1
            wa = wa_row[i]
            wb = wb_row[i]
        elif mode == SELECT and inner == 1:  # up to the end of the mask row, read as it is stored
            je = min(e1, j + m - mi)
            _select_elems(o, i, x, src, sr, soff, j, je, mask2, j - mi, tag, inplace)
            j = je
            mi = 0
            continue
        elif inner == 1:  # a weight per element, up to the end of the mask row
            je = min(e1, j + m - mi)
            if whole:
                _mask_elems(o, i, x, src, sr, soff, j, je, wbuf, j - mi, lo, hi, tag, inplace)
            else:
                _weights(wbuf, mask2, i, mi, mi + je - j, lo)
                _mask_elems(o, i, x, src, sr, soff, j, je, wbuf, j, lo, hi, tag, inplace)
            j = je
            mi = 0
            continue
        else:  # a run of ``inner`` elements with one weight
            je = min(e1, j + inner - r)
            w = mask2[i, mi]
            wa = _as(w, lo)
            wb = _as(1.0 - np.float64(w), lo)
            r = 0
            mi += 1
            if mi == m:
                mi = 0
        if wa != 0 and wa != 1:
            _blend_run(o, i, x, src, sr, soff, j, je, wa, wb, lo, hi, tag, inplace)
        elif wa == 0 or not inplace:
            s, s_r, s_off = x, i, z
            if wa == 0:
                s, s_r, s_off = src, sr, soff
            _copy(o, i, z, s, s_r, s_off, j, je)
        j = je


@njit(cache=True, nogil=True)
def _mix_task(task, x, o, partner, order, flag, nseg, blk, inplace, mode, wa_row, wb_row, mask2, inner,
              lo, hi, tag, bufw, bufr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One block of elements over one segment of the row order."""
    z = np.int64(0)
    # mask weights of one row in the compute dtype (per-element masks only). The second row starts
    # 2 KiB past a 4 KiB multiple: weights k of both rows 4 KiB apart would alias in the CPU's
    # load/store disambiguation (measured 3x slower).
    wlen = 1
    if mode == MASK and inner == 1:
        per_page = 4096 // wa_row.itemsize
        wlen = -(-mask2.shape[1] // per_page) * per_page + per_page // 2
    wbuf = np.empty((2, wlen), wa_row.dtype)
    n = x.shape[1]
    nblk = (n + blk - 1) // blk
    n_order = order.shape[0]
    sg = task // nblk
    e0 = (task - sg * nblk) * blk
    e1 = min(n, e0 + blk)
    for k in range(sg * n_order // nseg, (sg + 1) * n_order // nseg):
        i = order[k]
        p = partner[i]
        f = flag[k]
        if f & OPEN:  # the first row of a cycle: keep its block for the cycle's last row
            _copy(bufw, task, e0, x, i, z, e0, e1)
        if p == i:  # out of place only: a plain copy
            _copy(o, i, z, x, i, z, e0, e1)
            continue
        src, sr, soff = x, p, z
        if f & CLOSE:
            src, sr, soff = bufr, task, e0
        _row_mix(o, i, x, src, sr, soff, e0, e1, inplace, mode, wa_row, wb_row, mask2, inner, lo, hi,
                 tag, wbuf)


@njit(parallel=True, cache=True, nogil=True)
def _mix_kernel(x, o, partner, order, flag, nseg, blk, inplace, mode, wa_row, wb_row, mask2, inner,
                lo, hi, tag, bufw, bufr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """blend (``mode`` BLEND, weights per row) and mask_mix (MASK, float weights per element;
    SELECT, a 0/1 byte per element)."""
    n = x.shape[1]
    ntask = ((n + blk - 1) // blk) * nseg
    for task in prange(ntask):
        _mix_task(np.int64(task), x, o, partner, order, flag, nseg, blk, inplace, mode, wa_row, wb_row,
                  mask2, inner, lo, hi, tag, bufw, bufr)
    return 0


@njit(cache=True)
def _box_runs(o: Any, i: int, doff: int, src: Any, sr: int, soff: int, e0: int, e1: int, dims: Any,
              lo: Any, hi: Any, li: int) -> None:  # pragma: no cover
    """Copy ``src`` into ``o`` over the part of row ``li``'s box within elements ``[e0, e1)``
    (``o`` written at ``j - doff``, ``src`` read at ``j - soff``).

    Only the box's lines are visited: (d0, d1, d2) inside the box whose line meets the block, each
    one run ``[lo3, hi3)`` of the last dimension."""
    n1 = dims[1]
    n2 = dims[2]
    d3 = dims[3]
    lo3 = lo[li, 3]
    hi3 = hi[li, 3]
    if lo3 >= hi3:
        return
    first = e0 // d3  # the lines the block meets
    last = (e1 - 1) // d3
    for c0 in range(lo[li, 0], hi[li, 0]):
        base0 = c0 * n1
        if (base0 + n1) * n2 <= first or base0 * n2 > last:
            continue
        for c1 in range(lo[li, 1], hi[li, 1]):
            base1 = (base0 + c1) * n2
            if base1 + n2 <= first or base1 > last:
                continue
            for c2 in range(max(lo[li, 2], first - base1), min(hi[li, 2], last - base1 + 1)):
                ls = (base1 + c2) * d3
                r0 = max(e0, ls + lo3)
                r1 = min(e1, ls + hi3)
                if r1 > r0:
                    _copy(o, i, doff, src, sr, soff, r0, r1)


@njit(cache=True, nogil=True)
def _paste_task(task, x, o, partner, order, flag, closer, nseg, blk, inplace, dims, lo, hi, bufw,
                bufr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One block of elements over one segment of the row order. Out of place a row's block is
    copied whole, then its box is written over it from the partner (still in cache)."""
    z = np.int64(0)
    n = x.shape[1]
    nblk = (n + blk - 1) // blk
    n_order = order.shape[0]
    sg = task // nblk
    e0 = (task - sg * nblk) * blk
    e1 = min(n, e0 + blk)
    for k in range(sg * n_order // nseg, (sg + 1) * n_order // nseg):
        i = order[k]
        p = partner[i]
        f = flag[k]
        if f & OPEN:  # save what the cycle's last row will read: row i inside that row's box
            _box_runs(bufw, task, e0, x, i, z, e0, e1, dims, lo, hi, closer[k])
        if not inplace:
            _copy(o, i, z, x, i, z, e0, e1)
            if p == i:
                continue
        s, s_r, s_off = x, p, z
        if f & CLOSE:
            s, s_r, s_off = bufr, task, e0
        _box_runs(o, i, z, s, s_r, s_off, e0, e1, dims, lo, hi, i)


@njit(parallel=True, cache=True, nogil=True)
def _paste_kernel(x, o, partner, order, flag, closer, nseg, blk, inplace, dims, lo, hi, bufw,
                  bufr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """paste: ``x[partner[i]]`` inside row ``i``'s box, ``x[i]`` outside; in place only the boxes."""
    n = x.shape[1]
    ntask = ((n + blk - 1) // blk) * nseg
    for task in prange(ntask):
        _paste_task(np.int64(task), x, o, partner, order, flag, closer, nseg, blk, inplace, dims, lo, hi,
                    bufw, bufr)
    return 0


# ----------------------------------------------------------------------------------------------------
# Python side: views, task plans, launch
# ----------------------------------------------------------------------------------------------------


@njit(cache=True)
def _plan(partner: Any, inplace: bool) -> Any:  # pragma: no cover - compiled
    """The rows in write order, their OPEN/CLOSE flags and, for each step, the row that closes its
    cycle. In place: ``_walk.walk_order``. Out of place: the same order (a partner read at one step
    is the own row of the next, so it comes from cache), then the rows paired with themselves, no
    flags."""
    order, flag = _walk_rows(partner)
    n = order.shape[0]
    closer = np.zeros(n, np.int64)
    if inplace:
        row = -1
        for k in range(n - 1, -1, -1):
            if flag[k] & CLOSE:
                row = order[k]
            closer[k] = row
        return order, flag, closer
    b = partner.shape[0]
    full = np.empty(b, np.int64)
    full[:n] = order
    m = n
    for i in range(b):
        if partner[i] == i:
            full[m] = i
            m += 1
    return full, np.zeros(b, np.int8), closer


# numpy storage dtype name -> (tag, compute dtype, clip low, clip high)
_FLOATS = {"float32": (_NATIVE, np.float32), "float64": (_NATIVE, np.float64),
           "float16": (_F16, np.float32), "bfloat16": (_BF16, np.float32)}
_INTS = {
    "int8": (np.float32, -128.0, 127.0),
    "uint8": (np.float32, 0.0, 255.0),
    "int16": (np.float32, -32768.0, 32767.0),
    "uint16": (np.float32, 0.0, 65535.0),
    "int32": (np.float64, -2.0**31, 2.0**31 - 1),
    "uint32": (np.float64, 0.0, 2.0**32 - 1),
    "int64": (np.float64, -2.0**63, 2.0**63 - 1024),
    "uint64": (np.float64, 0.0, 2.0**64 - 2048),
}
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_TORCH: dict[Any, str] = {}  # torch dtype -> name, filled on first use (mixkit never imports torch)


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view (one numba type for inputs whether or not the caller's array is writable)."""
    v = a.view()
    v.flags.writeable = False
    return v


def _host_view(a: Any) -> tuple[np.ndarray, str] | None:
    """``a`` as a NumPy array over the same memory plus the logical dtype name, or None."""
    if isinstance(a, np.ndarray):
        name = a.dtype.name
        if name == "float16":
            return a.view(np.uint16), name
        return (a, name) if name in _FLOATS or name in _INTS else None
    if not type(a).__module__.startswith("torch"):
        return None
    import torch

    if not _TORCH:
        _TORCH.update({getattr(torch, n): n for n in ("float16", "bfloat16", "float32", "float64",
                                                       "uint8", "int8", "int16", "int32", "int64")})
    if not isinstance(a, torch.Tensor) or a.device.type != "cpu" or a.layout != torch.strided:
        return None
    name = _TORCH.get(a.dtype)
    if name is None:
        return None
    if a.requires_grad:
        a = a.detach()
    if name == "bfloat16":
        return a.view(torch.int16).numpy().view(np.uint16), name
    n = a.numpy()
    return (n.view(np.uint16) if name == "float16" else n), name


def _rows2(a: np.ndarray, perm: tuple[int, ...]) -> np.ndarray | None:
    """``_layout.rows`` when the view is the array's own memory (C-contiguous in ``perm`` order)."""
    if not a.transpose(perm).flags.c_contiguous:
        return None
    return _layout.rows(a, perm)


def _perm(a: np.ndarray, item: int) -> tuple[int, ...] | None:
    if a.flags.c_contiguous:  # the common case, without dense_perm's sort
        return tuple(range(a.ndim))
    return _layout.dense_perm(a.shape, tuple(st // item for st in a.strides))


def _prepare(x: Any, out: Any) -> tuple[np.ndarray, np.ndarray, str, bool, tuple[int, ...]] | None:
    """(x rows, out rows, dtype name, in place, axis order), or None when not handled."""
    inplace = out is x
    hx = _host_view(x)
    if hx is None:
        return None
    xn, name = hx
    if inplace:
        on = xn
    else:
        ho = _host_view(out)
        if ho is None or ho[1] != name:
            return None
        on = ho[0]
    if xn.shape != on.shape or xn.ndim == 0 or xn.size == 0:
        return None
    if not (xn.flags.aligned and on.flags.aligned and on.flags.writeable):
        return None
    item = xn.itemsize
    if any(st % item for st in xn.strides + on.strides):
        return None
    shape = xn.shape
    px = _perm(xn, item)
    po = px if inplace else _perm(on, item)
    if px is None or po is None:
        return None
    if po != px and [a for a in po if shape[a] != 1] != [a for a in px if shape[a] != 1]:
        return None  # dense in different axis orders (length-1 axes aside, which move nothing)
    x2 = _rows2(xn, px)
    o2 = x2 if inplace else _rows2(on, po)
    if x2 is None or o2 is None:
        return None
    return x2, o2, name, inplace, px


def _tasks(b: int, n: int, item: int, n_order: int, inplace: bool) -> tuple[int, int]:
    """Block length (elements) and number of row segments; one task is one block of one segment."""
    row_bytes = n * item
    if b * row_bytes <= SMALL_BYTES:
        return n, 1
    threads = max(1, get_num_threads())
    want = TASKS_PER_THREAD * threads
    line = max(1, LINE_BYTES // item)
    if inplace:
        nblk = max(-(-row_bytes // INPLACE_BLOCK_BYTES), want)
        nseg = 1
    else:
        nblk = -(-row_bytes // OOP_BLOCK_BYTES)
        nseg = max(1, min(n_order, -(-want // nblk)))
    blk = -(-n // nblk)
    blk = min(n, max(line, -(-blk // line) * line))
    return blk, nseg


def _buffers(inplace: bool, ntask: int, blk: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    buf = np.empty((ntask, blk) if inplace else (1, 1), dtype)
    return buf, _ro(buf)


# blend's unused mask argument: float32, so that blend and mask_mix with float32 masks (what soft
# mask plans hold) share one kernel per storage dtype; float64 masks compile their own
_DUMMY_F32 = _ro(np.zeros((1, 1), np.float32))


def _mix_call(x: Any, out: Any, partner: np.ndarray, mode: int, lam: np.ndarray | None,
              mask: np.ndarray | None, axes: tuple[int, ...]) -> bool:
    prep = _prepare(x, out)
    if prep is None:
        return False
    x2, o2, name, inplace, perm = prep
    inner = 1
    m2 = _DUMMY_F32
    if mask is not None:
        mask = np.asarray(mask)
        binary = mask.dtype == np.bool_
        if not binary and mask.dtype != np.float32:
            mask = mask.astype(np.float64, copy=False)
        spec = _layout.mask_spec(_shape(x), perm, tuple(axes), mask)
        if spec is None:
            return False
        if binary:  # read one byte per element, as stored (a view, no conversion)
            m2 = _ro(np.ascontiguousarray(spec[0]).view(np.uint8))
            mode = SELECT
        else:  # float32 or float64, read as stored (each weight widened to float64 for 1 - w)
            m2 = _ro(np.ascontiguousarray(spec[0]))
        inner = int(spec[1])
    if mode == SELECT:  # a bit select: one kernel per item size
        udt = _UNSIGNED[x2.itemsize]
        x2 = x2.view(udt)
        o2 = x2 if inplace else o2.view(udt)
        tag, cdt = _SEL, np.float32
        lo = hi = 0.0
    elif name in _FLOATS:
        tag, cdt = _FLOATS[name]
        lo = hi = 0.0
    else:
        cdt, lo, hi = _INTS[name]
        tag = _INT
    b, n = x2.shape
    partner = _ro(np.ascontiguousarray(partner, np.int64))
    order, flag, _ = _plan(partner, inplace)
    if order.shape[0] == 0:
        return True
    if lam is None:
        wa = wb = np.zeros(1, cdt)
    else:
        lam = np.asarray(lam, np.float64)
        wa = lam.astype(cdt)
        wb = (1.0 - lam).astype(cdt)
    blk, nseg = _tasks(b, n, x2.itemsize, order.shape[0], inplace)
    nblk = -(-n // blk)
    bufw, bufr = _buffers(inplace, nblk, blk, x2.dtype)
    args = (_ro(x2), o2, partner, order, flag, nseg, blk, inplace, mode, wa, wb, m2, inner,
            cdt(lo), cdt(hi), tag, bufw, bufr)
    if nblk * nseg == 1:
        _mix_task(0, *args)  # one task: no thread start-up
    else:
        with PARALLEL:
            _mix_kernel(*args)
    return True


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in a.shape)


def blend(x: Any, out: Any, partner: np.ndarray, lam: np.ndarray) -> bool:
    """``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``; False (nothing written) if not handled."""
    return _mix_call(x, out, partner, BLEND, lam, None, ())


def mask_mix(x: Any, out: Any, partner: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]) -> bool:
    """Per-element weights ``mask`` over ``axes``; False (nothing written) if not handled."""
    return _mix_call(x, out, partner, MASK, None, mask, axes)


def paste(x: Any, out: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray,
          axes: tuple[int, ...]) -> bool:
    """``x[partner[i]]`` inside row ``i``'s box, ``x[i]`` outside; False (nothing written) if not handled."""
    prep = _prepare(x, out)
    if prep is None:
        return False
    x2, o2, _, inplace, perm = prep
    spec = _layout.box_spec(_shape(x), perm, tuple(axes), np.asarray(start, np.int64),
                            np.asarray(stop, np.int64))
    if spec is None:
        return False
    dims, lo, hi = spec
    b, n = x2.shape
    partner = _ro(np.ascontiguousarray(partner, np.int64))
    order, flag, closer = _plan(partner, inplace)
    if order.shape[0] == 0:
        return True
    udt = _UNSIGNED[x2.itemsize]  # a bit copy: one kernel per item size
    xu = x2.view(udt)
    ou = xu if inplace else o2.view(udt)
    blk, nseg = _tasks(b, n, xu.itemsize, order.shape[0], inplace)
    nblk = -(-n // blk)
    bufw, bufr = _buffers(inplace, nblk, blk, udt)
    args = (_ro(xu), ou, partner, order, flag, closer, nseg, blk, inplace,
            np.ascontiguousarray(dims, np.int64), np.ascontiguousarray(lo, np.int64),
            np.ascontiguousarray(hi, np.int64), bufw, bufr)
    if nblk * nseg == 1:
        _paste_task(0, *args)
    else:
        with PARALLEL:
            _paste_kernel(*args)
    return True


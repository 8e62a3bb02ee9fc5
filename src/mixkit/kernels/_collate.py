"""Collation kernels: stack a list of samples and mix them in the same pass (numba).

A DataLoader gives the ``collate_fn`` a list of separate sample arrays. These kernels write the batch
``out`` ``(B, N)`` straight from them: row ``i`` is read from sample ``i`` and from its partner's
sample and written once, so mixing writes exactly the bytes that stacking writes, and nothing else.
An n-way blend (:func:`blend_many`) reads row ``i`` from each of its ``k`` sources, summing them into
one accumulator row, and writes it once.

The samples reach the compiled code as an ``int64`` array of their data addresses (NumPy
``ctypes.data``, torch ``data_ptr()``), read there as arrays through ``numba.carray``. The caller
guarantees what makes that safe: every sample is C-contiguous, on the CPU, of ``out``'s dtype and of
``N`` elements, and stays alive during the call; ``out`` does not overlap any sample.

Element rule: the one of :mod:`mixkit.kernels` (its ``_reference`` is the oracle, bit for bit; for
n-way blends that of :func:`mixkit.kernels.blend_many`).
``a`` = sample ``i``, ``b`` = sample ``partner[i]``, weights ``wa = cdt(lam)``, ``wb = cdt(1 - lam)``
(``1 - lam`` in float64), ``cdt`` float32 for float32 and integers of 1-2 bytes, float64 for float64
and 4-byte integers. ``wa == 1`` copies ``a``, ``wa == 0`` copies ``b``; otherwise
``wa * a + wb * b`` (two products and a sum, no fused multiply-add), integers rounded half to even,
clipped to the dtype's range and cast. A paste copies the partner's bytes inside the box and the
sample's outside, whatever the dtype.

The kernels are serial. Collation runs in DataLoader workers, several processes already working in
parallel, each usually held to one thread; and numba's OpenMP threading layer is not safe to use in
a child forked after it started. Each kernel is compiled on first use for a dtype and cached on disk
(``cache=True``); :func:`warm_up` compiles (or loads) them ahead of the first batch.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from . import _layout

__all__ = ["BLEND_DTYPES", "addresses", "blend", "blend_many", "mix_one_hot", "mix_one_hot_many", "paste", "warm_up"]

# storage dtype -> compute dtype
_SPEC: dict[str, Any] = {
    "float32": np.float32, "float64": np.float64,
    "uint8": np.float32, "int8": np.float32, "uint16": np.float32, "int16": np.float32,
    "uint32": np.float64, "int32": np.float64,
}
BLEND_DTYPES = frozenset(_SPEC)  # dtypes :func:`blend` writes; any dtype can be pasted


# ----------------------------------------------------------------------------------------------------
# compiled pieces
# ----------------------------------------------------------------------------------------------------


@intrinsic
def _pointer(typingctx: Any, address: Any, like: Any) -> Any:
    """A pointer to ``like``'s element type at the integer ``address`` (compiled)."""
    sig = types.CPointer(like.dtype)(address, like)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


def _combine(a, b, wa, wb):  # type: ignore[no-untyped-def]
    """``wa * a + wb * b`` in the weights' dtype, as stored in ``a``'s dtype (compiled)."""
    raise NotImplementedError


# Integers: the contract's clip to the dtype's range is left out because it never acts here. With
# wa, wb in [0, 1] rounded from lam and 1 - lam, wa + wb <= 1 + 2**-24 (float32) or 1 + 2**-53
# (float64), and the two products and the sum add at most two more roundings, so |r| exceeds
# max(|a|, |b|) by under 4 ulps of the compute dtype: for 1-2 byte integers in float32 and 4-byte
# ones in float64 that is below 0.02, and rint lands back on a value between the two sources.
@overload(_combine)
def _combine_impl(a, b, wa, wb):  # type: ignore[no-untyped-def]
    if isinstance(a, types.Float):
        return lambda a, b, wa, wb: wa * a + wb * b
    if wa == types.float32:
        return lambda a, b, wa, wb: np.rint(wa * np.float32(a) + wb * np.float32(b))
    return lambda a, b, wa, wb: np.rint(wa * np.float64(a) + wb * np.float64(b))


@njit(cache=True, nogil=True)
def _address(a: Any) -> int:  # pragma: no cover - compiled
    return a.ctypes.data


@intrinsic
def _memcpy(typingctx: Any, dst: Any, src: Any, nbytes: Any) -> Any:
    """Copy ``nbytes`` from address ``src`` to address ``dst`` (not overlapping) with libc's memcpy
    (compiled; a byte loop over short runs is an order of magnitude slower)."""
    sig = types.void(types.intp, types.intp, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        d = builder.inttoptr(args[0], cgutils.voidptr_t)
        s = builder.inttoptr(args[1], cgutils.voidptr_t)
        cgutils.raw_memcpy(builder, d, s, args[2], 1)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def _blend_rows(out: Any, addr: Any, partner: Any, wa: Any, wb: Any) -> None:  # pragma: no cover
    b, n = out.shape
    row = n * out.itemsize
    base = out.ctypes.data
    for i in range(b):
        j = partner[i]
        p = wa[i]
        if j == i or p == 1:
            _memcpy(base + i * row, addr[i], row)
        elif p == 0:
            _memcpy(base + i * row, addr[j], row)
        else:
            o = out[i]
            a = carray(_pointer(addr[i], out), n)
            s = carray(_pointer(addr[j], out), n)
            q = wb[i]
            for k in range(n):
                o[k] = _combine(a[k], s[k], p, q)


# A paste of rows up to this many bytes copies the whole sample first, then the box from the partner
# over it (fewer, cache-resident copies); longer rows copy each byte once, the runs between the box's
# runs from the sample.
SMALL_ROW = 16 << 10


@njit(cache=True, nogil=True)
def _paste_rows(out: Any, addr: Any, partner: Any, dims: Any, lo: Any, hi: Any) -> None:  # pragma: no cover
    # ``out`` is bytes; a row is C order over dims (d0, d1, d2, d3). The box's runs along d3 come in
    # memory order, and the bytes between two runs are one copy from the sample itself.
    b, n = out.shape
    d1, d2, d3 = dims[1], dims[2], dims[3]
    base = out.ctypes.data
    for i in range(b):
        o = base + i * n
        a = addr[i]
        j = partner[i]
        empty = False
        for k in range(4):
            empty = empty or hi[i, k] <= lo[i, k]
        if j == i or empty:
            _memcpy(o, a, n)
            continue
        s = addr[j]
        run = hi[i, 3] - lo[i, 3]
        if n <= SMALL_ROW:  # the whole sample, then the box over it: half the copies, the row in cache
            _memcpy(o, a, n)
            for i0 in range(lo[i, 0], hi[i, 0]):
                for i1 in range(lo[i, 1], hi[i, 1]):
                    for i2 in range(lo[i, 2], hi[i, 2]):
                        start = ((i0 * d1 + i1) * d2 + i2) * d3 + lo[i, 3]
                        _memcpy(o + start, s + start, run)
            continue
        done = 0
        for i0 in range(lo[i, 0], hi[i, 0]):
            for i1 in range(lo[i, 1], hi[i, 1]):
                for i2 in range(lo[i, 2], hi[i, 2]):
                    start = ((i0 * d1 + i1) * d2 + i2) * d3 + lo[i, 3]
                    _memcpy(o + done, a + done, start - done)
                    _memcpy(o + start, s + start, run)
                    done = start + run
        _memcpy(o + done, a + done, n - done)


@njit(cache=True, nogil=True)
def _one_hot_rows(out: Any, y: Any, partner: Any, wa: Any, wb: Any) -> None:  # pragma: no cover - compiled
    # the blend of one-hot rows, element by element: wa * 1 + wb * 0 = wa, 0 * wa + wb * 1 = wb,
    # wa * 1 + wb * 1 = wa + wb (one class), 0 elsewhere
    b, c = out.shape
    for i in range(b):
        o = out[i]
        for k in range(c):
            o[k] = 0
        j = partner[i]
        p = wa[i]
        if j == i or p == 1:
            o[y[i]] = 1
        elif p == 0:
            o[y[j]] = 1
        elif y[i] == y[j]:
            o[y[i]] = p + wb[i]
        else:
            o[y[i]] = p
            o[y[j]] = wb[i]


def _widen(a, w):  # type: ignore[no-untyped-def]
    """A stored element in the weights' (compute) dtype (compiled)."""
    raise NotImplementedError


@overload(_widen)
def _widen_impl(a, w):  # type: ignore[no-untyped-def]
    if w == types.float32:
        return lambda a, w: np.float32(a)
    return lambda a, w: np.float64(a)


@intrinsic
def _bits(typingctx: Any, f: Any) -> Any:
    """The bit pattern of the float32 / float64 ``f`` as an int32 / int64 (compiled)."""
    if f not in (types.float32, types.float64):
        return None
    width = f.bitwidth

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(width))

    return (types.int32 if width == 32 else types.int64)(f), codegen


def _store(r, lo, hi, o):  # type: ignore[no-untyped-def]
    """A computed value as stored in ``o``'s dtype: floats as they are, integers clipped to
    ``[lo, hi]`` and rounded half to even (compiled)."""
    raise NotImplementedError


# Integers: after the clip |r| < 2**32, and adding 1.5 * 2**23 (float32, |r| < 2**22) or 1.5 * 2**52
# (float64) leaves rint(r) in the low mantissa bits in two's complement; storing that bit pattern
# into the integer row truncates to them. The same values as np.rint, in a loop that vectorises.
@overload(_store)
def _store_impl(r, lo, hi, o):  # type: ignore[no-untyped-def]
    if isinstance(o.dtype, types.Float):
        return lambda r, lo, hi, o: r
    if r == types.float32:
        return lambda r, lo, hi, o: _bits(min(max(r, lo), hi) + np.float32(12582912.0))
    return lambda r, lo, hi, o: _bits(min(max(r, lo), hi) + 6755399441055744.0)


@njit(cache=True, nogil=True)
def _blend_many_rows(out: Any, addr: Any, src: Any, wc: Any, copy: Any, lo: Any, hi: Any) -> None:  # pragma: no cover
    # out[i] = sum over c (in order, weight-0 terms left out) of wc[i, c] * sample[src[i, c]], summed
    # in the compute dtype in one accumulator row, the last term added on the way to the output;
    # copy rows are sample[src[i, 0]]
    b, n = out.shape
    k = src.shape[1]
    row = n * out.itemsize
    base = out.ctypes.data
    acc = np.empty(n, wc.dtype)
    for i in range(b):
        if copy[i]:
            _memcpy(base + i * row, addr[src[i, 0]], row)
            continue
        o = out[i]
        first = -1
        last = -1
        for c in range(k):
            if wc[i, c] != 0:
                last = c
                if first < 0:
                    first = c
        if first < 0:  # every weight 0: the sum of no terms
            for e in range(n):
                o[e] = _store(lo - lo, lo, hi, out)
            continue
        w = wc[i, first]
        s = carray(_pointer(addr[src[i, first]], out), n)
        if first == last:
            for e in range(n):
                o[e] = _store(w * _widen(s[e], w), lo, hi, out)
            continue
        if first == 0 and last == 2 and wc[i, 1] != 0:  # three terms (k = 3): one pass, no accumulator
            w1 = wc[i, 1]
            w2 = wc[i, 2]
            s1 = carray(_pointer(addr[src[i, 1]], out), n)
            s2 = carray(_pointer(addr[src[i, 2]], out), n)
            for e in range(n):
                o[e] = _store((w * _widen(s[e], w) + w1 * _widen(s1[e], w)) + w2 * _widen(s2[e], w), lo, hi, out)
            continue
        for e in range(n):
            acc[e] = w * _widen(s[e], w)
        for c in range(first + 1, last):
            w = wc[i, c]
            if w != 0:
                s = carray(_pointer(addr[src[i, c]], out), n)
                for e in range(n):
                    acc[e] = acc[e] + w * _widen(s[e], w)
        w = wc[i, last]
        s = carray(_pointer(addr[src[i, last]], out), n)
        for e in range(n):
            o[e] = _store(acc[e] + w * _widen(s[e], w), lo, hi, out)


@njit(cache=True, nogil=True)
def _one_hot_many_rows(out: Any, y: Any, src: Any, wc: Any, copy: Any) -> None:  # pragma: no cover - compiled
    # the n-way blend of one-hot rows: a class's element is the sum, in order of c, of the weights of
    # the sources of that class (the other terms add w * 0 = +0, which changes no sum)
    b, n = out.shape
    for i in range(b):
        o = out[i]
        for e in range(n):
            o[e] = 0
        if copy[i]:
            o[y[src[i, 0]]] = 1
            continue
        for c in range(src.shape[1]):
            w = wc[i, c]
            if w != 0:
                m = y[src[i, c]]
                o[m] = o[m] + w


# ----------------------------------------------------------------------------------------------------
# Python side
# ----------------------------------------------------------------------------------------------------


_flags = attrgetter("flags")


def addresses(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The data addresses of NumPy samples as ``int64`` ``(B,)``, or None if one is not C-contiguous
    and aligned."""
    if not all(f.c_contiguous and f.aligned for f in map(_flags, arrays)):
        return None
    return np.fromiter(map(_address, arrays), np.int64, len(arrays))


def _check(out: np.ndarray, addr: np.ndarray, partner: np.ndarray) -> None:
    if out.ndim != 2 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writable C-contiguous (B, N) array")
    b = out.shape[0]
    if addr.shape != (b,) or partner.shape != (b,):
        raise ValueError(f"need one address and one partner per row of out {out.shape}")
    if b and (partner.min() < 0 or partner.max() >= b):
        raise ValueError(f"partner indices must lie in [0, {b})")


def blend(out: np.ndarray, addr: np.ndarray, partner: np.ndarray, lam: np.ndarray) -> bool:
    """Write ``out[i] = lam[i] * s[i] + (1 - lam[i]) * s[partner[i]]`` from the samples at ``addr``.

    ``out``: ``(B, N)``; ``partner``: int ``(B,)`` in ``[0, B)``; ``lam``: float ``(B,)`` in [0, 1].
    Returns False, writing nothing, when ``out``'s dtype is not in :data:`BLEND_DTYPES`.
    """
    spec = _SPEC.get(out.dtype.name)
    if spec is None:
        return False
    addr = np.ascontiguousarray(addr, dtype=np.int64)
    partner = np.ascontiguousarray(partner, dtype=np.int64)
    _check(out, addr, partner)
    lam = np.asarray(lam, dtype=np.float64)
    _blend_rows(out, addr, partner, lam.astype(spec), (1.0 - lam).astype(spec))
    return True


def paste(out: np.ndarray, addr: np.ndarray, partner: np.ndarray, start: np.ndarray, stop: np.ndarray,
          axes: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Write sample ``i`` with the box ``[start[i], stop[i])`` over ``axes`` from sample ``partner[i]``.

    ``out``: ``(B, N)`` rows of a C-contiguous batch of ``shape`` (batch axis first); ``axes``: batch
    axes (> 0); ``start``/``stop``: int ``(B, len(axes))``, within the axis sizes. Any dtype: bytes
    are copied. Returns False, writing nothing, when the box needs more than four dimensions.
    """
    addr = np.ascontiguousarray(addr, dtype=np.int64)
    partner = np.ascontiguousarray(partner, dtype=np.int64)
    _check(out, addr, partner)
    order = np.argsort(axes)
    ax = tuple(int(axes[k]) for k in order)
    start = np.asarray(start, dtype=np.int64)[:, order]
    stop = np.asarray(stop, dtype=np.int64)[:, order]
    spec = _layout.box_spec(tuple(shape), tuple(range(len(shape))), ax, start, stop)
    if spec is None:
        return False
    dims, lo, hi = spec
    item = out.dtype.itemsize
    if item != 1:  # the innermost run in bytes
        dims, lo, hi = dims.copy(), lo.copy(), hi.copy()
        dims[3] *= item
        lo[:, 3] *= item
        hi[:, 3] *= item
    _paste_rows(out.view(np.uint8), addr, partner, dims, lo, hi)
    return True


def blend_many(out: np.ndarray, addr: np.ndarray, sources: np.ndarray, weights: np.ndarray) -> bool:
    """Write ``out[i] = sum_j weights[i, j] * s[sources[i, j]]`` from the samples at ``addr``.

    ``out``: ``(B, N)``; ``sources``: int ``(B, k)`` in ``[0, B)``; ``weights``: float ``(B, k)`` in
    [0, 1] (``sources[:, 0]`` the sample itself, ``weights[:, 0]`` its ``lam``). The element rule of
    :func:`mixkit.kernels.blend_many`: terms summed in order of ``j`` in the compute dtype, weight-0
    terms left out, a row with a weight of exactly 1 (in the compute dtype) a copy of that source,
    integers rounded half to even and clipped. Returns False, writing nothing, when ``out``'s dtype is
    not in :data:`BLEND_DTYPES`.
    """
    spec = _SPEC.get(out.dtype.name)
    if spec is None:
        return False
    addr = np.ascontiguousarray(addr, dtype=np.int64)
    src = np.array(sources, dtype=np.int64, order="C")  # a copy: copy rows rewrite column 0
    w = np.asarray(weights, dtype=np.float64)
    if src.ndim != 2 or w.shape != src.shape:
        raise ValueError(f"sources and weights must both be (B, k); got {src.shape} and {w.shape}")
    _check(out, addr, src[:, 0] if src.shape[1] else np.zeros(out.shape[0], np.int64))
    if src.size and (src.min() < 0 or src.max() >= out.shape[0]):
        raise ValueError(f"sources must lie in [0, {out.shape[0]})")
    wc = np.ascontiguousarray(w.astype(spec))
    copy = _copy_rows(src, wc)
    if out.dtype.kind == "f":
        lo = hi = spec(0)
    else:
        info = np.iinfo(out.dtype)
        lo, hi = spec(info.min), spec(info.max)
    _blend_many_rows(out, addr, src, wc, copy, lo, hi)
    return True


def mix_one_hot(out: np.ndarray, y: np.ndarray, partner: np.ndarray, lam: np.ndarray) -> None:
    """Write the mixed one-hot targets of class indices ``y`` ``(B,)`` into ``out`` ``(B, C)`` float32:
    ``lam[i] * onehot(y[i]) + (1 - lam[i]) * onehot(y[partner[i]])``, equal to blending the one-hot
    rows with :func:`mixkit.kernels.blend`, in one pass over ``out``. ``y`` must lie in ``[0, C)``."""
    if out.ndim != 2 or out.dtype != np.float32 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writable C-contiguous (B, C) float32 array")
    y = np.ascontiguousarray(y, dtype=np.int64)
    partner = np.ascontiguousarray(partner, dtype=np.int64)
    if y.shape != (out.shape[0],) or partner.shape != y.shape:
        raise ValueError(f"need one label and one partner per row of out {out.shape}")
    if y.size and (y.min() < 0 or y.max() >= out.shape[1]):
        raise ValueError(f"class indices must lie in [0, {out.shape[1]})")
    lam = np.asarray(lam, dtype=np.float64)
    _one_hot_rows(out, y, partner, lam.astype(np.float32), (1.0 - lam).astype(np.float32))


def _copy_rows(src: np.ndarray, wc: np.ndarray) -> np.ndarray:
    """Rows with a weight of exactly 1 (in the compute dtype): flagged, that source moved to column 0
    of ``src`` (in place)."""
    ones = wc == 1
    copy = ones.any(axis=1)
    if copy.any():  # the first source of weight 1 is the row
        rows = np.flatnonzero(copy)
        src[rows, 0] = src[rows, ones.argmax(axis=1)[rows]]
    return copy


def mix_one_hot_many(out: np.ndarray, y: np.ndarray, sources: np.ndarray, weights: np.ndarray) -> None:
    """Write ``sum_j weights[i, j] * onehot(y[sources[i, j]])`` into ``out`` ``(B, C)`` float32, equal
    to blending the one-hot rows with :func:`mixkit.kernels.blend_many`, in one pass over ``out``.
    ``y``: class indices ``(B,)`` in ``[0, C)``; ``sources``/``weights``: ``(B, k)`` as for :func:`blend_many`."""
    if out.ndim != 2 or out.dtype != np.float32 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writable C-contiguous (B, C) float32 array")
    y = np.ascontiguousarray(y, dtype=np.int64)
    src = np.array(sources, dtype=np.int64, order="C")
    w = np.asarray(weights, dtype=np.float64)
    b = out.shape[0]
    if y.shape != (b,) or src.ndim != 2 or src.shape[0] != b or w.shape != src.shape:
        raise ValueError(f"need one label and one (k,) row of sources and weights per row of out {out.shape}")
    if src.size and (src.min() < 0 or src.max() >= b):
        raise ValueError(f"sources must lie in [0, {b})")
    if y.size and (y.min() < 0 or y.max() >= out.shape[1]):
        raise ValueError(f"class indices must lie in [0, {out.shape[1]})")
    wc = np.ascontiguousarray(w.astype(np.float32))
    _one_hot_many_rows(out, y, src, wc, _copy_rows(src, wc))


def warm_up(dtypes: Any = ("uint8",)) -> None:
    """Compile the kernels (or load them from numba's disk cache): the paste and the label kernel,
    which serve every dtype, and the blends (two-way and n-way) of each of ``dtypes`` (NumPy dtype names; names outside
    :data:`BLEND_DTYPES` are skipped)."""
    partner = np.array([1, 0], np.int64)
    half = np.array([0.5, 0.5])
    src = np.zeros((2, 1, 2), np.uint8)
    paste(np.empty((2, 2), np.uint8), addresses(list(src)), partner, np.zeros((2, 2), np.int64),
          np.ones((2, 2), np.int64), (1, 2), src.shape)
    mix_one_hot(np.empty((2, 2), np.float32), np.array([0, 1]), partner, half)
    mix_one_hot_many(np.empty((3, 2), np.float32), np.array([0, 1, 1]), np.array([[0, 1, 2]] * 3),
                     np.full((3, 3), 1 / 3))
    for name in dtypes:
        if name in _SPEC:
            rows = np.zeros((2, 2), name)
            blend(np.empty((2, 2), name), addresses(list(rows)), partner, half)
            rows = np.zeros((3, 2), name)
            blend_many(np.empty((3, 2), name), addresses(list(rows)), np.array([[0, 1, 2]] * 3),
                       np.full((3, 3), 1 / 3))

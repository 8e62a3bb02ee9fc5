"""CUDA backend: Triton kernels for ``blend``, ``paste`` and ``mask_mix``, and fused label mixing.

One launch per call for the whole batch, one pass over memory, no host synchronisation: the plan
(partner, weights, boxes, write order) is packed on the host into one int64 buffer (pinned on CUDA)
and goes to the device in ONE non-blocking copy; every launch parameter is a host integer. Under
``TRITON_INTERPRET=1`` the same kernels run on CPU tensors (that is how the tests run without a GPU).

A row ``x[i]`` is seen as ``(B, N)`` in memory order (:func:`._layout.rows`), and each row as a grid
of ``L`` lines by ``C`` columns, so that per-element index arithmetic stays free of divisions:

- blend: one line of ``N`` columns;
- paste: lines are ``(d0, d1, d2)`` of :func:`._layout.box_spec`, columns ``d3`` (divisions once
  per line, never per element);
- mask_mix: lines are the ``outer`` part, columns the ``M * inner`` part of :func:`._layout.mask_spec`,
  the mask entry is ``column // INNER`` with ``INNER`` a compile-time constant (a multiply-shift).

A program owns a tile of ``LB x CB`` elements of one row (or of ``U`` rows, walk route). Routes:

- out of place (``out`` is not ``x``): one program per (row, tile); reads ``x[i]`` and
  ``x[partner[i]]`` (each only where its weight is not 0), writes ``out[i]``. Self rows are copied.
- in place, pairs / involutions (``partner[partner[i]] == i`` for every row, self rows allowed):
  one program per (pair, tile) reads both rows once and writes both: fully parallel.
- in place, any other mapping (permutations with longer cycles, repeats, trees): the rows are put
  in :func:`._walk.walk_order` and split by connected component of the partner graph (each component
  holds at most one cycle; components never read each other's rows). One program per
  (component, tile) walks its component's rows ``U`` at a time, keeping one saved tile of the
  cycle's first row in registers. Parallelism: components x tiles per row, ``U`` rows of loads in
  flight; a permutation that is one long cycle (``roll``) runs as many programs as tiles per row.
  No row is read from memory after it was written (walk order), except the saved tile, which is
  why a chunk of ``U`` rows can load all before it stores (with a barrier between).

In place only elements whose value changes are written (paste: the box only).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl

from . import _layout

__all__ = ["blend", "mask_mix", "mix_labels", "paste"]

_BLEND, _PASTE, _MASK = 0, 1, 2
_COPY, _PAIRS, _WALK = 0, 1, 2
# write-order flag bits: OPEN/CLOSE as in _walk; FAR: a CLOSE row whose OPEN row was written in an
# earlier chunk (it reads the saved tile); SAVE: an OPEN row whose tile must be saved for a later chunk
_OPEN, _CLOSE, _FAR, _SAVE = 1, 2, 4, 8

# Tile sizes (elements of one row); module attributes so tests can shrink them on tiny shapes.
_TILE = 2048
_WALK_TILE = 512  # the most elements of one row per walk program...
_WALK_MIN_TILE = 64  # ...and the fewest, when fewer would be needed to fill the device
_WALK_PROGRAMS = 512  # walk programs wanted (an H200 has 132 SMs)
_WALK_ROWS = 16  # rows per walk chunk, at most _WALK_CHUNK elements in all
_WALK_CHUNK = 4096
_NUM_WARPS = 4

# dtype -> (compute dtype, is integer, lowest, highest value kept; integers only)
_DTYPES: dict[Any, tuple[Any, bool, int, int]] = {
    torch.float16: (tl.float32, False, 0, 0),
    torch.bfloat16: (tl.float32, False, 0, 0),
    torch.float32: (tl.float32, False, 0, 0),
    torch.float64: (tl.float64, False, 0, 0),
    torch.uint8: (tl.float32, True, 0, 255),
    torch.int8: (tl.float32, True, -128, 127),
    torch.int16: (tl.float32, True, -(2**15), 2**15 - 1),
    torch.int32: (tl.float64, True, -(2**31), 2**31 - 1),
    torch.int64: (tl.float64, True, -(2**63), 2**63 - 1024),  # the largest float64 below 2**63
}


# ----------------------------------------------------------------------------------------------------
# device code
# ----------------------------------------------------------------------------------------------------


@triton.jit
def _rint(r, CDT: tl.constexpr):
    """Round half to even, exactly: adding and removing 2**52 (2**23) leaves an integer."""
    if CDT == tl.float64:
        big = 4503599627370496.0
    else:
        big = 8388608.0
    t = tl.where(r >= 0, (r + big) - big, (r - big) + big)
    return tl.where(tl.abs(r) < big, t, r)


@triton.jit
def _widen(a, CDT: tl.constexpr):
    """``a`` in the compute dtype; bfloat16 by its bits (exact everywhere, the interpreter included)."""
    if a.dtype == tl.bfloat16:
        return (a.to(tl.uint16, bitcast=True).to(tl.uint32) << 16).to(tl.float32, bitcast=True).to(CDT)
    else:
        return a.to(CDT)


@triton.jit
def _narrow(r, DT: tl.constexpr):
    """float ``r`` cast to the float dtype ``DT``, rounding to nearest even. bfloat16 by its bits:
    the interpreter truncates float32 to bfloat16, the GPU rounds; this rounds on both."""
    if DT == tl.bfloat16:
        bits = r.to(tl.uint32, bitcast=True)
        up = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        up = tl.where(r != r, 0x7FC0, up)  # noqa: PLR0124 - NaN stays a (quiet) NaN
        return up.to(tl.uint16).to(tl.bfloat16, bitcast=True)
    else:
        return r.to(DT)


@triton.jit
def _combine(a, b, wa, wb, MODE: tl.constexpr, CDT: tl.constexpr, IS_INT: tl.constexpr,
             LO_I: tl.constexpr, HI_I: tl.constexpr):
    """The element rule: ``a`` where ``wa == 1``, ``b`` where ``wa == 0``, else ``wa*a + wb*b``."""
    if MODE == 1:
        res = a
    else:
        r = wa * _widen(a, CDT) + wb * _widen(b, CDT)
        if IS_INT:
            r = _rint(r, CDT)
            lo = tl.full(r.shape, LO_I, tl.int64).to(CDT)
            hi = tl.full(r.shape, HI_I, tl.int64).to(CDT)
            ri = tl.minimum(tl.maximum(r, lo), hi).to(a.dtype)
            res = tl.minimum(tl.maximum(ri, tl.minimum(a, b)), tl.maximum(a, b))
        else:
            res = _narrow(r, a.dtype)
    return tl.where(wa == 1, a, tl.where(wa == 0, b, res))


@triton.jit
def _weights(row, ln, cl, w, lo, hi, C, D1, D2, M, MODE: tl.constexpr, CDT: tl.constexpr,
             INNER: tl.constexpr):
    """``(wa, wb)`` of row(s) ``row`` at lines ``ln`` and columns ``cl`` (broadcastable shapes)."""
    if MODE == 1:
        d2 = ln % D2
        t = ln // D2
        d1 = t % D1
        d0 = t // D1
        k = row * 4
        inside = (d0 >= tl.load(lo + k)) & (d0 < tl.load(hi + k))
        inside = inside & (d1 >= tl.load(lo + k + 1)) & (d1 < tl.load(hi + k + 1))
        inside = inside & (d2 >= tl.load(lo + k + 2)) & (d2 < tl.load(hi + k + 2))
        inside = inside & (cl >= tl.load(lo + k + 3)) & (cl < tl.load(hi + k + 3))
        wa = tl.where(inside, 0.0, 1.0).to(CDT)
        wb = 1.0 - wa
    else:
        if MODE == 0:
            lw = tl.load(w + row)
        else:
            lw = tl.load(w + row * M + cl // INNER, mask=cl < C, other=1)  # float64/32, or bool bytes
        wa = lw.to(CDT)
        if lw.dtype == tl.float32:
            # cdt(1 - float64(w)): in float32, 1 - w rounded once equals it rounded via float64
            wb = 1.0 - wa
        else:
            wb = (1.0 - lw).to(CDT)
    return wa, wb


@triton.jit
def _mix_kernel(x, out, partner, w, lo, hi, order, flag, seg, N, L, C, nlb, ncb, D1, D2, M,
                MODE: tl.constexpr, ROUTE: tl.constexpr, U: tl.constexpr, LB: tl.constexpr,
                CB: tl.constexpr, CDT: tl.constexpr, IS_INT: tl.constexpr, LO_I: tl.constexpr,
                HI_I: tl.constexpr, INNER: tl.constexpr):
    pid = tl.program_id(0)
    cb = pid % ncb
    t = pid // ncb
    lb = t % nlb
    g = t // nlb
    ln = (lb * LB + tl.arange(0, LB))[None, :, None]
    cl = (cb * CB + tl.arange(0, CB))[None, None, :]
    inrow = (ln < L) & (cl < C)
    off = ln.to(tl.int64) * C + cl
    # row indices are kept as (1, 1, 1) blocks rather than scalars: the same code on the GPU, and
    # the interpreter mislabels scalar comparisons (its splat of them turns into float64)
    one = tl.zeros((1, 1, 1), tl.int64)
    if ROUTE == 0:  # out of place: row g
        i = g + one
        p = tl.load(partner + i)
        wa, wb = _weights(i, ln, cl, w, lo, hi, C, D1, D2, M, MODE, CDT, INNER)
        wa = tl.where(p == i, 1.0, wa).to(CDT)  # a self row is a copy
        a = tl.load(x + i * N + off, mask=inrow & (wa != 0))
        b = tl.load(x + p * N + off, mask=inrow & (wa != 1))
        res = _combine(a, b, wa, wb, MODE, CDT, IS_INT, LO_I, HI_I)
        tl.store(out + i * N + off, res, mask=inrow)
    elif ROUTE == 1:  # in place, pair g: rows i and j = partner[i] swap sources
        i = tl.load(order + g + one)
        j = tl.load(partner + i)
        wa_i, wb_i = _weights(i, ln, cl, w, lo, hi, C, D1, D2, M, MODE, CDT, INNER)
        wa_j, wb_j = _weights(j, ln, cl, w, lo, hi, C, D1, D2, M, MODE, CDT, INNER)
        # a row's own values are needed only where it is blended (where 0 < wa < 1), its
        # partner's wherever it changes (wa != 1): paste reads the two boxes and nothing else
        a = tl.load(x + i * N + off, mask=inrow & (((wa_i != 0) & (wa_i != 1)) | (wa_j != 1)))
        b = tl.load(x + j * N + off, mask=inrow & (((wa_j != 0) & (wa_j != 1)) | (wa_i != 1)))
        res_i = _combine(a, b, wa_i, wb_i, MODE, CDT, IS_INT, LO_I, HI_I)
        res_j = _combine(b, a, wa_j, wb_j, MODE, CDT, IS_INT, LO_I, HI_I)
        tl.store(x + i * N + off, res_i, mask=inrow & (wa_i != 1))
        tl.store(x + j * N + off, res_j, mask=inrow & (wa_j != 1))
    else:  # in place, walk component g of the partner graph, U rows at a time
        s0 = tl.load(seg + g)
        s1 = tl.load(seg + g + 1)
        saved = tl.zeros((1, LB, CB), dtype=x.dtype.element_ty)
        for k0 in range(s0, s1, U):
            ks = k0 + tl.arange(0, U)[:, None, None]
            valid = ks < s1
            rows = tl.load(order + ks, mask=valid, other=0)
            fl = tl.load(flag + ks, mask=valid, other=0)
            p = tl.load(partner + rows, mask=valid, other=0)
            wa, wb = _weights(rows, ln, cl, w, lo, hi, C, D1, D2, M, MODE, CDT, INNER)
            live = valid & inrow
            far = (fl & 4) != 0
            a = tl.load(x + rows * N + off, mask=live & (wa != 0) & (wa != 1))
            b = tl.load(x + p * N + off, mask=live & (wa != 1) & (far == 0))
            b = tl.where(far, saved, b)
            srow = tl.max(tl.where(valid & ((fl & 8) != 0), rows, -1), axis=0)  # (1, 1)
            keep = tl.load(x + srow[None, :, :] * N + off, mask=inrow & (srow[None, :, :] >= 0))
            saved = tl.where(srow[None, :, :] >= 0, keep, saved)
            res = _combine(a, b, wa, wb, MODE, CDT, IS_INT, LO_I, HI_I)
            tl.debug_barrier()  # every load of this chunk is done before any row of it is stored
            tl.store(x + rows * N + off, res, mask=live & (wa != 1))
            tl.debug_barrier()


@triton.jit
def _labels_kernel(y, partner, lam, consts, ok, out, C, ncb, CB: tl.constexpr, CDT: tl.constexpr):
    pid = tl.program_id(0)
    one = tl.zeros((1,), tl.int64)  # (1,) blocks, not scalars: see _mix_kernel
    cb = pid % ncb + one
    i = pid // ncb + one
    p = tl.load(partner + i)
    ya = tl.load(y + i).to(tl.int64)
    yb = tl.load(y + p).to(tl.int64)
    bad = (ya < 0) | (ya >= C) | (yb < 0) | (yb >= C)
    lw = tl.load(lam + i)
    wa = lw.to(CDT)
    wb = (1.0 - lw).to(CDT)
    on = tl.load(consts).to(CDT)
    off = tl.load(consts + 1).to(CDT)
    c = cb * CB + tl.arange(0, CB)
    ta = tl.where(c == ya, on, off)
    tb = tl.where(c == yb, on, off)
    r = tl.where(wa == 1, ta, tl.where(wa == 0, tb, wa * ta + wb * tb))
    r = tl.where(bad, float("nan"), r)
    tl.store(out + i * C + c, _narrow(r, out.dtype.element_ty), mask=c < C)
    tl.store(ok + one, one, mask=bad & (cb == 0))


# The kernels run on CPU tensors when Triton was imported with TRITON_INTERPRET=1.
INTERPRETED = type(_mix_kernel).__name__ == "InterpretedFunction"
# Launch options of the compiler (the interpreter drops them): no fused multiply-add, so
# ``wa * a + wb * b`` is two rounded products and a rounded sum, as in the reference.
_OPTIONS = {"enable_fp_fusion": False}


def _quiet() -> Any:
    """The interpreter computes with NumPy: inf * 0 in lanes that the select drops is no error."""
    return np.errstate(invalid="ignore", over="ignore") if INTERPRETED else contextlib.nullcontext()


# ----------------------------------------------------------------------------------------------------
# host side: the plan in one buffer, the routes
# ----------------------------------------------------------------------------------------------------


class _Plan:
    """Small host arrays packed into one int64 buffer, sent to the device in one non-blocking copy.

    Floats travel as float64 (float32 arrays, soft masks, as float32), integers as int64, bool
    arrays (binary masks) as one byte each."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.offsets: list[tuple[int, int, str]] = []
        self.size = 0

    def add(self, a: np.ndarray) -> int:
        a = np.ascontiguousarray(a).reshape(-1)
        kind = "f" if a.dtype.kind == "f" else ("b" if a.dtype == np.bool_ else "i")
        if a.dtype == np.float32:
            kind = "s"
        if kind in "bs":  # eight mask bytes (two float32 weights) to an int64 word
            n = a.size
            per = 8 // a.itemsize
            bits = np.zeros(-(-n // per) * per, a.dtype)
            bits[:n] = a
            bits = bits.view(np.int64)
        else:
            n = a.size
            bits = a.astype(np.float64).view(np.int64) if kind == "f" else a.astype(np.int64)
        self.parts.append(bits)
        self.offsets.append((self.size, n, kind))
        self.size += max(2, bits.size + (bits.size & 1))  # 16-byte aligned views
        return len(self.offsets) - 1

    def upload(self, device: torch.device) -> list[torch.Tensor]:
        if device.type == "cuda":
            host = torch.empty(self.size, dtype=torch.int64, pin_memory=True)
        else:
            host = torch.empty(self.size, dtype=torch.int64)
        buf = host.numpy()
        for (o, _, _), bits in zip(self.offsets, self.parts):
            buf[o:o + bits.size] = bits
        dev = host.to(device, non_blocking=True) if device.type == "cuda" else host
        views = []
        for o, n, kind in self.offsets:
            if kind == "b":
                views.append(dev[o:o + max(-(-n // 8), 1)].view(torch.uint8))
                continue
            if kind == "s":
                views.append(dev[o:o + max(-(-n // 2), 1)].view(torch.float32))
                continue
            v = dev[o:o + max(n, 1)]
            views.append(v.view(torch.float64) if kind == "f" else v)
        return views


def _usable(x: Any) -> bool:
    if not isinstance(x, torch.Tensor) or x.dtype not in _DTYPES:
        return False
    return x.is_cuda or (INTERPRETED and x.device.type == "cpu")


def _rows_of(x: Any, out: Any) -> tuple[tuple[int, ...], Any, Any] | None:
    """``(perm, x rows, out rows)`` or None when the call is not for this backend."""
    if not (_usable(x) and isinstance(out, torch.Tensor) and out.dtype == x.dtype
            and out.device == x.device):
        return None
    shape = tuple(int(s) for s in x.shape)
    perm = _layout.dense_perm(shape, tuple(x.stride()))
    if perm is None or (out is not x and _layout.dense_perm(shape, tuple(out.stride())) != perm):
        return None
    n = x.numel() // shape[0]
    if n >= 2**31 - 2 * _TILE or shape[0] >= 2**31:
        return None
    return perm, _layout.rows(x, perm), (_layout.rows(out, perm) if out is not x else None)


def _components(partner: np.ndarray) -> np.ndarray:
    """A label per row, equal for rows of one connected component of ``i -> partner[i]``.

    Pointer doubling: after ``k`` rounds ``jump = partner^(2**k)`` and ``low[i]`` is the least row on
    the path of ``2**k + 1`` rows from ``i``; after ``2**k >= B`` every ``jump[i]`` lies on its
    component's one cycle, whose least row names the component.
    """
    b = partner.shape[0]
    jump = partner.copy()
    low = np.minimum(np.arange(b), partner)
    for _ in range(max(1, math.ceil(math.log2(max(b, 2))))):
        low = np.minimum(low, low[jump])
        jump = jump[jump]
    return low[jump]


def _walk_plan(partner: np.ndarray, u: int, label: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(order, flag, seg)``: the walk order grouped by component (segments ``seg[g]:seg[g+1]``)
    with FAR/SAVE bits for chunks of ``u`` rows from each segment's start."""
    from ._walk import walk_order

    order, flag = walk_order(partner)
    label = (_components(partner) if label is None else label)[order]
    s = np.argsort(label, kind="stable")  # keeps the walk order inside each component
    order, flag, label = order[s], flag[s].astype(np.int64), label[s]
    n = order.size
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]]) if n else np.zeros(0, np.int64)
    seg = np.r_[starts, n].astype(np.int64)
    pos = np.arange(n)
    chunk = (pos - np.repeat(starts, np.diff(seg))) // u
    opened = np.maximum.accumulate(np.where(flag & _OPEN, pos, 0))  # the OPEN row of each cycle
    far = ((flag & _CLOSE) != 0) & (chunk[opened] < chunk)
    flag[far] |= _FAR
    flag[opened[far]] |= _SAVE
    return order, flag, seg


def _walk_tiles(n: int, groups: int) -> tuple[int, int]:
    """(elements of a row per walk program, rows per chunk): tiles small enough that
    ``groups`` components fill the device, chunks of at most ``_WALK_CHUNK`` elements."""
    want = max(1, n * groups // _WALK_PROGRAMS)
    tile = min(_WALK_TILE, max(_WALK_MIN_TILE, 1 << (want.bit_length() - 1)))
    rows = min(_WALK_ROWS, max(1, _WALK_CHUNK // tile))
    return tile, triton.next_power_of_2(rows)


def _tile(lines: int, cols: int, tile: int) -> tuple[int, int]:
    cb = min(triton.next_power_of_2(cols), tile)
    lb = min(triton.next_power_of_2(lines), max(1, tile // cb))
    return lb, cb


def _launch(mode: int, x: Any, xr: Any, outr: Any, partner: np.ndarray, weights: np.ndarray | None,
            box: tuple[np.ndarray, np.ndarray] | None, lines: int, cols: int, d1: int, d2: int,
            m: int, inner: int) -> bool:
    b, n = xr.shape
    cdt, is_int, lo_i, hi_i = _DTYPES[x.dtype]
    plan = _Plan()
    k_partner = plan.add(partner)
    k_w = plan.add(weights) if weights is not None else k_partner
    k_lo, k_hi = (plan.add(box[0]), plan.add(box[1])) if box is not None else (k_partner, k_partner)
    if outr is not None:
        route, u, tile, groups = _COPY, 1, _TILE, b
        k_order = k_flag = k_seg = k_partner
    else:
        rows = np.arange(b)
        if np.all(partner == rows):
            return True  # nothing moves
        if np.array_equal(partner[partner], rows):
            route, u, tile = _PAIRS, 1, _TILE
            first = np.flatnonzero(partner > rows)
            groups = first.size
            k_order = plan.add(first)
            k_flag = k_seg = k_partner
        else:
            label = _components(partner)
            tile, u = _walk_tiles(n, np.unique(label[partner != rows]).size)
            route = _WALK
            order, flag, seg = _walk_plan(partner, u, label)
            groups = seg.size - 1
            k_order, k_flag, k_seg = plan.add(order), plan.add(flag), plan.add(seg)
    v = plan.upload(x.device)
    lb, cb = _tile(lines, cols, tile)
    nlb, ncb = triton.cdiv(lines, lb), triton.cdiv(cols, cb)
    target = outr if outr is not None else xr
    with _quiet():
        _mix_kernel[(groups * nlb * ncb,)](
            xr, target, v[k_partner], v[k_w], v[k_lo], v[k_hi], v[k_order], v[k_flag], v[k_seg],
            n, lines, cols, nlb, ncb, d1, d2, m,
            MODE=mode, ROUTE=route, U=u, LB=lb, CB=cb, CDT=cdt, IS_INT=is_int, LO_I=lo_i,
            HI_I=hi_i, INNER=inner, num_warps=_NUM_WARPS, **_OPTIONS)
    return True


# ----------------------------------------------------------------------------------------------------
# the backend contract
# ----------------------------------------------------------------------------------------------------


def blend(x: Any, out: Any, partner: np.ndarray, lam: np.ndarray) -> bool:
    """``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``; False when not handled."""
    spec = _rows_of(x, out)
    if spec is None:
        return False
    _, xr, outr = spec
    return _launch(_BLEND, x, xr, outr, partner, lam, None, 1, xr.shape[1], 1, 1, 1, 1)


def paste(x: Any, out: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray,
          axes: tuple[int, ...]) -> bool:
    """``x[partner[i]]`` inside row ``i``'s box, ``x[i]`` outside; False when not handled."""
    spec = _rows_of(x, out)
    if spec is None:
        return False
    perm, xr, outr = spec
    box = _layout.box_spec(tuple(int(s) for s in x.shape), perm, axes, start, stop)
    if box is None:
        return False
    dims, lo, hi = box
    d0, d1, d2, d3 = (int(d) for d in dims)
    return _launch(_PASTE, x, xr, outr, partner, None, (lo, hi), d0 * d1 * d2, d3, d1, d2, 1, 1)


def mask_mix(x: Any, out: Any, partner: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]) -> bool:
    """``mask * x[i] + (1 - mask) * x[partner[i]]`` per element; False when not handled."""
    spec = _rows_of(x, out)
    if spec is None:
        return False
    perm, xr, outr = spec
    ms = _layout.mask_spec(tuple(int(s) for s in x.shape), perm, axes, mask)
    if ms is None:
        return False
    mask2, inner = ms
    m = mask2.shape[1]
    cols = m * inner
    return _launch(_MASK, x, xr, outr, partner, mask2, None, xr.shape[1] // cols, cols, 1, 1, m,
                   inner)


# ----------------------------------------------------------------------------------------------------
# labels
# ----------------------------------------------------------------------------------------------------


def mix_labels(y: Any, partner: Any, lam: Any, num_classes: int, smoothing: float = 0.0,
               out_dtype: Any = torch.float32, *, check: bool = True) -> Any:
    """Dense mixed targets ``(B, num_classes)`` from class indices ``y`` ``(B,)`` in one launch.

    Row ``i`` is ``lam[i] * t(y[i]) + (1 - lam[i]) * t(y[partner[i]])`` with the smoothed one-hot
    ``t(c) = onehot(c) * (1 - smoothing) + smoothing / num_classes`` (where ``lam`` is exactly 1 or 0
    the row is that target itself). ``y``: an integer tensor on the device; ``partner`` (int) and
    ``lam`` (in [0, 1]) host arrays of the plan, sent with one non-blocking copy.

    Label range, checked on the device without reading anything back: a row whose label or
    partner's label is outside ``[0, num_classes)`` is written as NaN, and the kernel clears an
    ``ok`` flag; with ``check=True`` ``torch._assert_async`` then fails on that flag (on CUDA: a
    device-side assert, reported at the next synchronising call; on the CPU interpreter: at once).
    """
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"y must be a 1-D tensor of integer class indices; got {type(y).__name__} "
                        f"{getattr(y, 'dtype', '')} {tuple(getattr(y, 'shape', ()))}")
    if not (y.is_cuda or (INTERPRETED and y.device.type == "cpu")):
        raise ValueError(f"y must be on a CUDA device (or on the CPU under TRITON_INTERPRET=1); got {y.device}")
    b = int(y.shape[0])
    c = int(num_classes)
    if c < 1:
        raise ValueError(f"num_classes must be at least 1; got {num_classes}")
    if not 0.0 <= float(smoothing) < 1.0:
        raise ValueError(f"smoothing must lie in [0, 1); got {smoothing}")
    if out_dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise TypeError(f"out_dtype must be a floating dtype; got {out_dtype}")
    p = np.asarray(partner, dtype=np.int64)
    w = np.asarray(lam, dtype=np.float64)
    if p.shape != (b,) or w.shape != (b,):
        raise ValueError(f"partner and lam must have shape ({b},); got {p.shape} and {w.shape}")
    if b and (p.min() < 0 or p.max() >= b):
        raise ValueError(f"partner indices must lie in [0, {b})")
    eps = float(smoothing)
    plan = _Plan()
    k_p, k_w = plan.add(p), plan.add(w)
    k_c = plan.add(np.array([(1.0 - eps) + eps / c, eps / c]))
    k_ok = plan.add(np.ones(1, np.int64))
    v = plan.upload(y.device)
    out = torch.empty((b, c), dtype=out_dtype, device=y.device)
    if b == 0:
        return out
    cb = min(triton.next_power_of_2(c), 1024)
    ncb = triton.cdiv(c, cb)
    cdt = tl.float64 if out_dtype == torch.float64 else tl.float32
    with _quiet():
        _labels_kernel[(b * ncb,)](y, v[k_p], v[k_w], v[k_c], v[k_ok], out, c, ncb, CB=cb, CDT=cdt,
                                   num_warps=_NUM_WARPS, **_OPTIONS)
    if check:
        torch._assert_async(v[k_ok][0], f"class indices must lie in [0, {c})")
    return out


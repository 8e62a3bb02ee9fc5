"""NumPy and PyTorch paths of ``blend`` and ``paste``: per-row combiners for :mod:`mixkit._rowwise`.

Convention: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``. Floats are blended in their
own dtype (float16/bfloat16 through float32), integers in float32 (float64 for 4- and 8-byte
integers) as ``lam * a + (1 - lam) * b``, rounded half to even; a convex combination of two values
of the dtype fits it, so nothing overflows. ``lam = 1`` gives ``x`` exactly (rows with ``lam = 1``
or paired with themselves are copied, not computed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._rowwise import CHUNK_BYTES, NumpyOps, TorchOps, traverse
from ._scratch import scratch

__all__ = ["blend_native", "paste_native", "same_view"]


def same_view(a: Any, b: Any, kind: str) -> bool:
    """True when ``a`` and ``b`` are the same elements (``out=x`` in place)."""
    if a is b:
        return True
    if tuple(a.shape) != tuple(b.shape):
        return False
    if kind == "numpy":
        return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
                and a.strides == b.strides)
    return a.device == b.device and a.data_ptr() == b.data_ptr() and a.stride() == b.stride()


def _shares_memory(a: Any, b: Any, kind: str) -> bool:
    if kind == "numpy":
        return bool(np.shares_memory(a, b))
    if a.device != b.device or a.numel() == 0 or b.numel() == 0:
        return False
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _run(x: Any, out: Any, kind: str, body: Any) -> Any:
    """Resolve ``out`` (None: new array; ``x``: in place; overlapping ``x`` partially: through a
    fresh array) and call ``body(out, inplace)``."""
    if out is None:
        fresh = np.empty_like(x) if kind == "numpy" else _torch_empty_like(x)
        body(fresh, False)
        return fresh
    if same_view(out, x, kind):
        body(out, True)
        return out
    if _shares_memory(out, x, kind):
        fresh = np.empty_like(x) if kind == "numpy" else _torch_empty_like(x)
        body(fresh, False)
        out[...] = fresh
        return out
    body(out, False)
    return out


# Integer torch batches on the CPU are blended by the NumPy path on the same memory (False: by
# torch's own integer path, the one other devices use).
INT_VIA_NUMPY = True

# A new CPU output of at least this size is allocated through NumPy, whose allocator asks the
# kernel for transparent huge pages: first touch then costs one page fault per 2 MiB instead of one
# per 4 KiB. Measured here for a 74 MiB batch: empty + copy 56 ms with NumPy memory, 210 ms with
# torch's (clone), against 59 ms for copying into an existing buffer. Below 32 MiB (glibc's
# largest mmap threshold) torch's allocator reuses freed memory without faults, and wins.
_HUGE_BYTES = 32 << 20


def _torch_empty_like(x: Any) -> Any:
    """``torch.empty_like(x)`` with the same memory format (contiguous or channels_last)."""
    import torch

    nbytes = x.numel() * x.element_size()
    dt = _numpy_dtype(x.dtype)
    if x.device.type == "cpu" and nbytes >= _HUGE_BYTES and dt is not None:
        if x.is_contiguous():
            return torch.from_numpy(np.empty(tuple(x.shape), dtype=dt))
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            n, c, h, w = x.shape
            return torch.from_numpy(np.empty((n, h, w, c), dtype=dt)).permute(0, 3, 1, 2)
    return torch.empty_like(x, memory_format=torch.preserve_format)


def _numpy_dtypes() -> dict[Any, Any]:
    import torch

    return {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16,
            torch.uint8: np.uint8, torch.int8: np.int8, torch.int16: np.int16,
            torch.int32: np.int32, torch.int64: np.int64}


_NUMPY_DTYPES: dict[Any, Any] = {}  # filled on first use: `import mixkit` stays torch-free


def _numpy_dtype(dtype: Any) -> Any:
    if not _NUMPY_DTYPES:
        _NUMPY_DTYPES.update(_numpy_dtypes())
    return _NUMPY_DTYPES.get(dtype)


def _write_blend(o: np.ndarray, mixed: np.ndarray, rounded: bool, wide: bool, info: Any) -> None:
    """Write a blended float block into ``o``: rounded half to even for integer dtypes, clipped to the
    dtype's range when the compute dtype is wide enough to leave it."""
    if rounded:
        np.rint(mixed, out=mixed)
        if wide:
            np.clip(mixed, info.min, info.max, out=mixed)
    np.copyto(o, mixed, casting="unsafe")


def _ops(x: Any, kind: str) -> Any:
    return NumpyOps() if kind == "numpy" else TorchOps(x.device)


def _bshape(n: int, ndim: int) -> tuple[int, ...]:
    return (n,) + (1,) * (ndim - 1)


# ----------------------------------------------------------------------------------------------------
# blend
# ----------------------------------------------------------------------------------------------------


def _compute_dtype(x: Any, kind: str) -> tuple[Any, bool]:
    """The dtype the blend is computed in, and whether results are rounded to integers."""
    if kind == "numpy":
        dt = x.dtype
        if dt.kind == "f":
            return (dt if dt.itemsize >= 4 else np.dtype(np.float32)), False
        return np.dtype(np.float64 if dt.itemsize >= 4 else np.float32), True
    import torch

    if x.is_floating_point():
        return (x.dtype if x.element_size() >= 4 else torch.float32), False
    return (torch.float64 if x.element_size() >= 4 else torch.float32), True


def blend_native(x: Any, partner: np.ndarray, lam: np.ndarray, out: Any, kind: str) -> Any:
    """``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` for NumPy arrays and torch tensors."""
    lam = np.asarray(lam, dtype=np.float64)
    partner = np.asarray(partner, dtype=np.int64)
    work = (partner != np.arange(partner.shape[0])) & (lam != 1.0)
    cdt, rounded = _compute_dtype(x, kind)
    ndim = len(x.shape)
    itemsize = np.dtype(cdt).itemsize if kind == "numpy" else _torch_itemsize(cdt)
    if (rounded and kind == "torch" and INT_VIA_NUMPY and x.device.type == "cpu"
            and _numpy_dtype(x.dtype) is not None):
        # integers on the CPU: NumPy's conversions are several times faster than torch's; the
        # tensors' memory is shared, so this is the same computation on the same buffers
        o = _torch_empty_like(x) if out is None else out
        blend_native(x.numpy(), partner, lam, o.numpy(), "numpy")
        return o
    prepare = _np_blend(x, lam, cdt, rounded, ndim) if kind == "numpy" else \
        _torch_blend(x, lam, cdt, rounded, ndim)

    def body(o: Any, inplace: bool) -> None:
        if x.shape[0]:
            traverse(x, o, partner, work, inplace=inplace, ops=_ops(x, kind), itemsize=itemsize,
                     prepare=prepare, needed=lambda pos: (...,))

    return _run(x, out, kind, body)


def _store(o: Any, t: Any) -> None:
    """``o.copy_(t)`` for a float ``t`` of integral values; on the CPU through NumPy, whose
    float-to-integer conversion is ~10x faster than torch's."""
    if o.device.type == "cpu" and not o.is_floating_point() and _numpy_dtype(o.dtype) is not None:
        np.copyto(o.numpy(), t.numpy(), casting="unsafe")
    else:
        o.copy_(t)


def _torch_itemsize(dtype: Any) -> int:
    return int(dtype.itemsize)


def _np_blend(x: np.ndarray, lam: np.ndarray, cdt: Any, rounded: bool, ndim: int) -> Any:
    info = np.iinfo(x.dtype) if rounded else None
    wide = x.dtype.itemsize >= 4
    csize = np.dtype(cdt).itemsize

    def mix(a: Any, b: Any, o: Any, ws: Any, vs: Any) -> None:
        t = np.multiply(b, vs, out=scratch(x, "t1", b.shape, cdt), dtype=cdt)
        if not rounded and o.dtype == cdt:
            np.multiply(a, ws, out=o, dtype=cdt)
            np.add(o, t, out=o)
            return
        t2 = np.multiply(a, ws, out=scratch(x, "t2", a.shape, cdt), dtype=cdt)
        np.add(t2, t, out=t2)
        _write_blend(o, t2, rounded, wide, info)

    def prepare(rows: np.ndarray) -> Any:
        lp = lam[rows]
        uniform = bool(lp.size) and bool(np.all(lp == lp[0]))
        if uniform:
            wa: Any = cdt.type(lp[0])
            wb: Any = cdt.type(1.0 - lp[0])
        else:
            wa = lp.astype(cdt).reshape(-1, 1)
            wb = (1.0 - lp).astype(cdt).reshape(-1, 1)

        def combine(a: Any, b: Any, o: Any, s: int, e: int) -> None:
            n = e - s
            ws, vs = (wa, wb) if uniform else (wa[s:e], wb[s:e])
            if not (a.flags.c_contiguous and b.flags.c_contiguous and o.flags.c_contiguous):
                if not uniform:
                    ws, vs = ws.reshape(_bshape(n, ndim)), vs.reshape(_bshape(n, ndim))
                mix(a, b, o, ws, vs)
                return
            a2, b2, o2 = a.reshape(n, -1), b.reshape(n, -1), o.reshape(n, -1)
            step = max(1, CHUNK_BYTES // (n * csize))  # temporaries stay cache-sized
            for c in range(0, a2.shape[1], step):
                cols = slice(c, c + step)
                mix(a2[:, cols], b2[:, cols], o2[:, cols], ws, vs)

        return combine

    return prepare


def _torch_blend(x: Any, lam: np.ndarray, cdt: Any, rounded: bool, ndim: int) -> Any:
    import torch

    dev = x.device
    info = torch.iinfo(x.dtype) if rounded else None
    wide = x.element_size() >= 4

    def weights(values: np.ndarray, dtype: Any) -> Any:
        t = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
        return t.to(dev, dtype, non_blocking=True)

    def prepare(rows: np.ndarray) -> Any:
        lp = lam[rows]
        uniform = bool(lp.size) and bool(np.all(lp == lp[0]))
        if not rounded and (uniform or x.dtype == cdt):
            # one fused pass: lerp(b, a, w) = b + w * (a - b), exact at w = 0 and w = 1
            w: Any = float(lp[0]) if uniform else weights(lp, x.dtype).view(_bshape(lp.size, ndim))

            def combine_lerp(a: Any, b: Any, o: Any, s: int, e: int) -> None:
                torch.lerp(b, a, w if uniform else w[s:e], out=o)

            return combine_lerp
        if uniform:
            wa = weights(lp[:1], cdt).view(())
            wb = weights(1.0 - lp[:1], cdt).view(())
        else:
            wa = weights(lp, cdt).view(_bshape(lp.size, ndim))
            wb = weights(1.0 - lp, cdt).view(_bshape(lp.size, ndim))

        def combine(a: Any, b: Any, o: Any, s: int, e: int) -> None:
            ws, vs = (wa, wb) if uniform else (wa[s:e], wb[s:e])
            shape = tuple(a.shape)
            # a plain converting copy, then same-dtype products: several times faster on the CPU
            # than a product that converts (same values: the conversion is exact)
            t = scratch(x, "t1", shape, cdt).copy_(a).mul_(ws)
            t.add_(scratch(x, "t2", shape, cdt).copy_(b).mul_(vs))
            if rounded:
                t.round_()
                if wide:
                    t.clamp_(info.min, info.max)
            _store(o, t)

        return combine

    return prepare


# ----------------------------------------------------------------------------------------------------
# paste
# ----------------------------------------------------------------------------------------------------


def _region(axes: tuple[int, ...], lo: Any, hi: Any, ndim: int) -> tuple[slice, ...]:
    """Slices for the sample axes 1..ndim-1 (no batch axis)."""
    idx = [slice(None)] * (ndim - 1)
    for k, a in enumerate(axes):
        idx[a - 1] = slice(int(lo[k]), int(hi[k]))
    return tuple(idx)


def paste_native(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray,
                 axes: tuple[int, ...], out: Any, kind: str) -> Any:
    """Paste box ``[start[i], stop[i])`` of ``x[partner[i]]`` into row ``i`` (NumPy or torch)."""
    partner = np.asarray(partner, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64).reshape(partner.shape[0], len(axes))
    stop = np.asarray(stop, dtype=np.int64).reshape(partner.shape[0], len(axes))
    b = partner.shape[0]
    ndim = len(x.shape)
    work = (partner != np.arange(b)) & np.all(stop > start, axis=1)
    itemsize = int(x.dtype.itemsize) if kind == "numpy" else x.element_size()
    sl = slice(None)

    def needed(pos_rows: np.ndarray) -> Any:
        def region(pos: int) -> tuple[slice, ...]:
            i = int(pos_rows[pos])
            return _region(axes, start[i], stop[i], ndim)
        return region

    order_holder: dict[str, np.ndarray] = {}

    def prepare(rows: np.ndarray) -> Any:
        order_holder["rows"] = rows
        wk = work[rows]
        st, sp = start[rows], stop[rows]
        if wk.any():
            first = int(np.flatnonzero(wk)[0])
            uniform = bool(np.all(st[wk] == st[first]) and np.all(sp[wk] == sp[first]))
        else:
            first, uniform = 0, True
        shared = _region(axes, st[first], sp[first], ndim)
        masks = None if uniform else _mask_maker(x, kind, axes, st, sp)

        def whole_mask(s: int, e: int) -> Any:
            if not uniform:
                return masks(s, e)
            shared_st = np.repeat(st[first:first + 1], e - s, axis=0)
            shared_sp = np.repeat(sp[first:first + 1], e - s, axis=0)
            # rows without a box have themselves as partner here, so the shared box is harmless
            return _mask_maker(x, kind, axes, shared_st, shared_sp)(0, e - s)

        def combine(a: Any, bb: Any, o: Any, s: int, e: int) -> None:
            if bb is o:  # partners already gathered into the output: select, never copy over them
                import torch

                torch.where(whole_mask(s, e), bb, a, out=o)
                return
            if o is not a:
                if kind == "numpy":
                    np.copyto(o, a)
                else:
                    o.copy_(a)
            if e - s == 1:
                reg = _region(axes, st[s], sp[s], ndim) if wk[s] else None
                if reg is not None:
                    o[(sl,) + reg] = bb[(sl,) + reg]
                return
            if uniform:
                o[(sl,) + shared] = bb[(sl,) + shared]
                return
            m = masks(s, e)
            if kind == "numpy":
                np.copyto(o, bb, where=m)
            else:
                import torch

                torch.where(m, bb, o, out=o)

        return combine

    def body(o: Any, inplace: bool) -> None:
        if b == 0:
            return
        # the rows' order is known only inside traverse; `needed` looks it up lazily
        traverse(x, o, partner, work, inplace=inplace, ops=_ops(x, kind), itemsize=itemsize,
                 prepare=prepare, needed=lambda pos: needed(order_holder["rows"])(pos))

    return _run(x, out, kind, body)


def _mask_maker(x: Any, kind: str, axes: tuple[int, ...], st: np.ndarray, sp: np.ndarray,
                on_device: bool | None = None) -> Any:
    """``masks(s, e)``: bool ``(e - s, ...)``, True inside the boxes of positions ``s:e``; box
    axes at full length, other sample axes of length 1. torch: built on the tensor's device from
    ``start``/``stop`` sent once (``on_device``; default: unless the device is the CPU)."""
    ndim = len(x.shape)
    sizes = [int(x.shape[a]) for a in axes]
    def masks_np(s: int, e: int) -> np.ndarray:
        m = None
        for k, a in enumerate(axes):
            shape = [1] * ndim
            shape[a] = sizes[k]
            pos = np.arange(sizes[k]).reshape(shape)
            lo = st[s:e, k].reshape(_bshape(e - s, ndim))
            hi = sp[s:e, k].reshape(_bshape(e - s, ndim))
            mk = (pos >= lo) & (pos < hi)
            m = mk if m is None else m & mk
        return m

    if kind == "numpy":
        return masks_np
    import torch

    dev = x.device
    if not (dev.type != "cpu" if on_device is None else on_device):
        # host memory: NumPy builds the mask with fewer calls
        return lambda s, e: torch.from_numpy(masks_np(s, e))
    st_t = torch.from_numpy(np.ascontiguousarray(st)).to(dev, non_blocking=True)
    sp_t = torch.from_numpy(np.ascontiguousarray(sp)).to(dev, non_blocking=True)
    aranges = []
    for k, a in enumerate(axes):
        shape = [1] * ndim
        shape[a] = sizes[k]
        aranges.append(torch.arange(sizes[k], device=dev).view(shape))

    def masks_t(s: int, e: int) -> Any:
        m = None
        for k in range(len(axes)):
            lo = st_t[s:e, k].view(_bshape(e - s, ndim))
            hi = sp_t[s:e, k].view(_bshape(e - s, ndim))
            mk = (aranges[k] >= lo) & (aranges[k] < hi)
            m = mk if m is None else m & mk
        return m
    return masks_t


# ----------------------------------------------------------------------------------------------------
# mask_mix
# ----------------------------------------------------------------------------------------------------


def mask_native(x: Any, partner: np.ndarray, m: np.ndarray, binary: bool, out: Any, kind: str) -> Any:
    """``out = m * x + (1 - m) * x[partner]`` with ``m`` float64 broadcastable to ``x`` (a 0/1 mask
    selects, any other blends; integers rounded half to even)."""
    partner = np.asarray(partner, dtype=np.int64)
    b = partner.shape[0]
    rows_all = np.arange(b)
    m = np.broadcast_to(m, (b,) + tuple(m.shape[1:]))
    whole = np.all(m == 1, axis=tuple(range(1, m.ndim))) if m.ndim > 1 else m == 1
    work = (partner != rows_all) & ~whole
    cdt, rounded = _compute_dtype(x, kind)
    itemsize = np.dtype(cdt).itemsize if kind == "numpy" else _torch_itemsize(cdt)
    info = (np.iinfo(x.dtype) if kind == "numpy" else _torch_iinfo(x.dtype)) if rounded else None
    wide = (x.dtype.itemsize if kind == "numpy" else x.element_size()) >= 4

    def prepare(rows: np.ndarray) -> Any:
        mo = m[rows]
        if kind == "numpy":
            keep = mo == 1 if binary else None
            wa = None if binary else mo.astype(cdt)
            wb = None if binary else (1.0 - mo).astype(cdt)
        else:
            import torch

            def dev(a: np.ndarray, dtype: Any) -> Any:
                return torch.from_numpy(np.ascontiguousarray(a)).to(x.device, dtype, non_blocking=True)

            keep = dev(mo == 1, torch.bool) if binary else None
            lerp = not binary and not rounded and x.dtype == cdt
            wa = None if binary else dev(mo, cdt)
            wb = None if (binary or lerp) else dev(1.0 - mo, cdt)

        def combine(a: Any, bb: Any, o: Any, s: int, e: int) -> None:
            if kind == "numpy":
                if binary:
                    if o is not a:
                        np.copyto(o, a)
                    np.copyto(o, bb, where=~keep[s:e])
                    return
                t = np.multiply(bb, wb[s:e], out=scratch(x, "t1", bb.shape, cdt), dtype=cdt)
                t2 = np.multiply(a, wa[s:e], out=scratch(x, "t2", a.shape, cdt), dtype=cdt)
                np.add(t2, t, out=t2)
                _write_blend(o, t2, rounded, wide, info)
                return
            import torch

            if binary:
                torch.where(keep[s:e], a, bb, out=o)
            elif wb is None:
                torch.lerp(bb, a, wa[s:e], out=o)
            else:
                shape = tuple(torch.broadcast_shapes(a.shape, wa[s:e].shape))
                t = torch.mul(a, wa[s:e], out=scratch(x, "t1", shape, cdt))
                t.add_(torch.mul(bb, wb[s:e], out=scratch(x, "t2", shape, cdt)))
                if rounded:
                    t.round_()
                    if wide:
                        t.clamp_(info.min, info.max)
                o.copy_(t)

        return combine

    def body(o: Any, inplace: bool) -> None:
        if b:
            traverse(x, o, partner, work, inplace=inplace, ops=_ops(x, kind), itemsize=itemsize,
                     prepare=prepare, needed=lambda pos: (...,))

    return _run(x, out, kind, body)


def _torch_iinfo(dtype: Any) -> Any:
    import torch

    return torch.iinfo(dtype)

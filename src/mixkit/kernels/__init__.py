"""Pure kernels: apply a sampled plan to a batch. No randomness, no hidden state.

Every kernel takes the batch ``x`` ``(B, ...)`` (batch axis first) and the plan's arrays (host NumPy
arrays: ``partner`` ``(B,)``, ``lam`` ``(B,)``, boxes, masks), and returns an array of the same
library, shape, dtype, device and memory layout. ``out=`` writes into a buffer like ``x``; ``out=x``
mixes in place. No other input is written.

Convention: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` (``lam`` is the sample's own
weight). Integer batches (uint8 images) are blended in float32 (float64 for 4- and 8-byte integers)
and rounded half to even; the result always lies between the two sources, so nothing overflows.
Where a weight is exactly 1 or 0 the result is the chosen source itself.

How a call runs: the arguments are checked here, once, before anything is written; then the fused
backend of the array's device writes the result in one pass over memory (numba on the CPU for NumPy
arrays and torch CPU tensors, Triton on CUDA), or, where none applies (autograd, other libraries and
devices, layouts that are not one dense block), the vectorised reference of :mod:`._reference`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

from .._validate import check_batch, normalize_axes
from .._xp import backend
from . import _layout, _reference

__all__ = ["MAX_SOURCES", "blend", "blend_many", "box_mask", "mask_mix", "mix_index_labels", "paste"]

# The fused backend of each device type; a module is imported on first use, and a backend whose
# compiler is missing (no numba, no Triton) leaves that device to the reference.
_FUSED = {"cpu": "._cpu", "cuda": "._cuda"}
#: kernels whose fused backends live in their own modules (which build on the ones above)
_FUSED_OWN = {"blend_many": {"cpu": "._nway_cpu", "cuda": "._nway_cuda"}}
_loaded: dict[str, Any] = {}


def _fused_backend(x: Any, kernel: str = "") -> Any:
    """The fused backend module of ``kernel`` for ``x``, or None (then the reference runs)."""
    if isinstance(x, np.ndarray):
        device = "cpu"
    elif backend(x) == "torch":
        torch = sys.modules["torch"]
        if x.requires_grad and torch.is_grad_enabled():
            return None  # the reference is differentiable
        device = x.device.type
    else:
        return None
    name = _FUSED_OWN.get(kernel, _FUSED).get(device)
    if name is None:
        return None
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(name, __name__)
        except ImportError:
            _loaded[name] = None
    return _loaded[name]


# ----------------------------------------------------------------------------------------------------
# checks at the boundary
# ----------------------------------------------------------------------------------------------------


def _int_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a.astype(np.int64)


def _partner(partner: Any, b: int) -> np.ndarray:
    p = _int_array("partner", partner, (b,))
    if b and (p.min() < 0 or p.max() >= b):
        bad = p[(p < 0) | (p >= b)][0]
        raise ValueError(f"partner indices must lie in [0, {b}) for a batch of {b}; got {bad}")
    return p


def _weights01(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    w = np.asarray(value)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be real numbers in [0, 1], got dtype {w.dtype}")
    if w.dtype != np.float64:
        w = w.astype(np.float64)
    if w.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {w.shape}")
    if w.size and not (w.min() >= 0.0 and w.max() <= 1.0):  # False for NaN too
        bad = w[~((w >= 0.0) & (w <= 1.0))][0]
        raise ValueError(f"{name} must lie in [0, 1] (the weight of each sample's own data); got {bad}")
    return w


def _check_out(x: Any, out: Any) -> None:
    if out is None:
        return
    kind = backend(x)
    if kind not in ("numpy", "torch"):
        raise TypeError(
            f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}, "
            "whose arrays may be immutable: use the returned array instead"
        )
    same = backend(out) == kind and tuple(out.shape) == tuple(x.shape) and out.dtype == x.dtype
    if same and kind == "torch":
        same = out.device == x.device
    if not same:
        where = f" on {x.device}" if kind == "torch" else ""
        raise ValueError(
            f"out must be an array like x ({type(x).__name__} {tuple(x.shape)} {x.dtype}{where}); "
            f"got {type(out).__name__} {tuple(out.shape)} {out.dtype}"
        )
    if kind == "numpy" and not out.flags.writeable:
        raise ValueError("out is read-only (for out=x: x is read-only); pass a writable buffer")


def _axes_and_boxes(x: Any, start: Any, stop: Any, axes: Any) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """Axes normalised and ascending; ``start``/``stop`` ``(B, len(axes))`` checked, columns in that order."""
    shape = tuple(int(s) for s in x.shape)
    ax = normalize_axes(axes, len(shape))
    b = shape[0]
    lo = _int_array("start", start, (b, len(ax)))
    hi = _int_array("stop", stop, (b, len(ax)))
    sizes = np.array([shape[a] for a in ax], dtype=np.int64)
    if not (np.all(lo >= 0) and np.all(lo <= hi) and np.all(hi <= sizes)):
        raise ValueError(
            f"boxes must satisfy 0 <= start <= stop <= the axis size {tuple(sizes.tolist())} "
            f"on axes {ax}; got start {lo.tolist()[:4]}, stop {hi.tolist()[:4]} (first rows)"
        )
    order = np.argsort(ax)
    return tuple(ax[k] for k in order), lo[:, order], hi[:, order]


def _rows(b: int) -> np.ndarray:
    return np.arange(b, dtype=np.int64)


# ----------------------------------------------------------------------------------------------------
# one way to run a kernel
# ----------------------------------------------------------------------------------------------------


def _same_memory(a: Any, b: Any) -> tuple[bool, bool]:
    """(``a`` and ``b`` are the same elements, they overlap at all)."""
    if a is b:
        return True, True
    if isinstance(a, np.ndarray):
        same = (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
                and a.strides == b.strides)
        return same, same or bool(np.shares_memory(a, b))
    same = a.data_ptr() == b.data_ptr() and a.stride() == b.stride()
    if a.numel() == 0 or b.numel() == 0:
        return same, same
    return same, same or a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# The one case kept from the earlier row-wise engine, because a benchmark in the same run shows it:
# a new torch CPU output of at least this size is allocated by NumPy, which asks the kernel for
# transparent huge pages, so first touch costs one page fault per 2 MiB instead of one per 4 KiB
# (torch's allocator gives such blocks back to the system and faults them in again on every call:
# blend into a new 74 MiB batch took 1.5x as long). Below 32 MiB torch's allocator reuses memory.
_HUGE_BYTES = 32 << 20


def _empty_like(x: Any) -> Any:
    """A new array like ``x``: shape, dtype, device and dense layout (channels_last) kept."""
    if isinstance(x, np.ndarray):
        return np.empty_like(x)
    torch = sys.modules["torch"]
    if x.device.type == "cpu" and x.numel() * x.element_size() >= _HUGE_BYTES:
        perm = _layout.dense_perm(tuple(x.shape), tuple(x.stride()))
        bits = {1: np.uint8, 2: np.int16, 4: np.int32, 8: np.int64}.get(x.element_size())
        if perm is not None and bits is not None and not x.dtype.is_complex:
            shape = tuple(int(x.shape[a]) for a in perm)
            t = torch.from_numpy(np.empty(shape, dtype=bits)).view(x.dtype)
            return t.permute(tuple(int(a) for a in np.argsort(perm)))
    return torch.empty_like(x)  # keeps a dense layout (channels_last) as it is


def _copy_into(dst: Any, src: Any) -> None:
    if isinstance(dst, np.ndarray):
        np.copyto(dst, src)
    else:
        dst.copy_(src)


def _layout_of(x: Any, res: Any) -> Any:
    """``res`` (a reference result) in the memory layout of ``x`` (NumPy and torch)."""
    kind = backend(x)
    if kind == "numpy" and res.strides != x.strides and x.size:
        target = _empty_like(x)
        np.copyto(target, res)
        return target
    if kind == "torch" and res.stride() != x.stride() and x.numel():
        return _empty_like(x).copy_(res)  # differentiable
    return res


def _run(name: str, x: Any, out: Any, args: tuple[Any, ...]) -> Any:
    """Resolve ``out`` (new array, in place, or a buffer that overlaps ``x`` partly: through a new
    array), run the fused backend or else the reference."""
    reference = getattr(_reference, name)
    if out is None and x.shape[0] and all(int(s) for s in x.shape):
        fused = _fused_backend(x, name)
        if fused is not None:
            target = _empty_like(x)
            if getattr(fused, name)(x, target, *args):
                return target
        return _layout_of(x, reference(x, *args))
    if out is None:
        return _layout_of(x, reference(x, *args))
    same, overlap = _same_memory(out, x)
    target = x if same else (_empty_like(x) if overlap else out)
    if x.shape[0] and all(int(s) for s in x.shape):
        fused = _fused_backend(x, name)
        if fused is None or not getattr(fused, name)(x, target, *args):
            _copy_into(target, reference(x, *args))
    if target is not out:
        _copy_into(out, target)
    return out


# ----------------------------------------------------------------------------------------------------
# the kernels
# ----------------------------------------------------------------------------------------------------


def blend(x: Any, partner: Any, lam: Any, /, *, out: Any = None) -> Any:
    """Blend each sample with its partner: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``.

    ``x``: batch ``(B, ...)``; ``partner``: int ``(B,)`` in ``[0, B)``; ``lam``: ``(B,)`` in [0, 1].
    ``out``: optional buffer like ``x``; ``out=x`` blends in place (any partner mapping).
    """
    check_batch(x, "x")
    b = int(x.shape[0])
    p = _partner(partner, b)
    w = _weights01("lam", lam, (b,))
    _check_out(x, out)
    rows = _rows(b)
    idle = (p == rows) | (w == 1.0)
    return _run("blend", x, out, (np.where(idle, rows, p), np.where(idle, 1.0, w)))


#: the most sources one output sample of :func:`blend_many` may mix
MAX_SOURCES = 64


def _compute_numpy_dtype(x: Any) -> Any:
    """The NumPy dtype a blend of ``x`` is computed in (float64 for float64 and 4-8 byte integers)."""
    name = str(x.dtype).rsplit(".", 1)[-1]
    return np.float64 if name in ("float64", "int32", "uint32", "int64", "uint64") else np.float32


def blend_many(x: Any, sources: Any, weights: Any, /, *, out: Any = None) -> Any:
    """Mix each sample with several: ``out[i] = sum_j weights[i, j] * x[sources[i, j]]``.

    ``x``: batch ``(B, ...)``; ``sources``: int ``(B, k)`` in ``[0, B)``, ``1 <= k <= MAX_SOURCES``
    (for a plan, ``sources[:, 0]`` is the sample itself, so ``weights[:, 0]`` is its ``lam``);
    ``weights``: ``(B, k)`` in [0, 1] (a plan's rows sum to 1; the kernel does not ask it).
    ``out``: optional buffer like ``x``; ``out=x`` mixes in place (through one new batch, then a copy).

    Element rule: the terms are summed in order of ``j`` in the compute dtype of :func:`blend` (each
    weight cast to it), terms of weight 0 left out; where a weight is exactly 1 in the compute dtype
    the result is that source itself. Integers are rounded half to even and clipped to their range.
    One pass over memory on the fused backends: each source row read once, each output row written
    once, no ``(B, k, ...)`` gather.
    """
    check_batch(x, "x")
    b = int(x.shape[0])
    src = np.asarray(sources)
    if src.dtype.kind not in "iu":
        raise TypeError(f"sources must hold integer indices, got dtype {src.dtype}")
    if src.ndim != 2 or src.shape[0] != b or not 1 <= src.shape[1] <= MAX_SOURCES:
        raise ValueError(
            f"sources must have shape (B, k) = ({b}, k) with 1 <= k <= {MAX_SOURCES}, got {src.shape}"
        )
    src = src.astype(np.int64)
    if src.size and (src.min() < 0 or src.max() >= b):
        bad = src[(src < 0) | (src >= b)][0]
        raise ValueError(f"sources must lie in [0, {b}) for a batch of {b}; got {bad}")
    w = _weights01("weights", weights, src.shape)
    _check_out(x, out)
    # a weight of exactly 1 in the compute dtype selects its source: it moves to column 0, the row
    # is flagged as a copy (the reference and the fused backends then read nothing else)
    wc = w.astype(_compute_numpy_dtype(x))
    ones = wc == 1
    copy = ones.any(axis=1)
    if copy.any():
        col = ones.argmax(axis=1)
        rows = np.flatnonzero(copy)
        src = src.copy()
        w = w.copy()
        src[rows, 0] = src[rows, col[rows]]
        w[rows, 0] = 1.0
        w[rows, 1:] = 0.0
    return _run("blend_many", x, out, (src, w, copy))


def paste(x: Any, partner: Any, start: Any, stop: Any, axes: Any, /, *, out: Any = None) -> Any:
    """Paste the box ``[start[i], stop[i])`` (over ``axes``) of ``x[partner[i]]`` into sample ``i``.

    ``x``: batch ``(B, ...)``; ``partner``: int ``(B,)``; ``start``/``stop``: int ``(B, len(axes))``
    with ``0 <= start <= stop <=`` the axis sizes; ``axes``: sample axes (negative counts from the
    end; never the batch axis 0). ``out=x`` pastes in place.
    """
    check_batch(x, "x", min_ndim=2)
    b = int(x.shape[0])
    p = _partner(partner, b)
    ax, lo, hi = _axes_and_boxes(x, start, stop, axes)
    _check_out(x, out)
    rows = _rows(b)
    idle = (p == rows) | np.any(hi <= lo, axis=1)
    return _run("paste", x, out, (np.where(idle, rows, p), lo, hi, ax))


def _mask_weights(mask: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """A mask checked at the boundary, and for a float mask the minimum of each row (None for bool).

    bool is kept as it is (its values are 0 and 1 by type), other integers are range-checked and
    turned into bool, float32 is kept as it is and other floats become float64, in [0, 1] (see
    :func:`mask_mix`). A float mask is read twice (a minimum and a maximum per row), whatever the
    number of checks made from them."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        if m.shape != shape:
            raise ValueError(f"mask must have shape {shape}, got {m.shape}")
        return m, None
    if m.dtype.kind in "iu":
        if m.shape != shape:
            raise ValueError(f"mask must have shape {shape}, got {m.shape}")
        if m.size and (m.max() > 1 or (m.dtype.kind == "i" and m.min() < 0)):
            bad = m[(m < 0) | (m > 1)][0]
            raise ValueError(f"mask must lie in [0, 1] (the weight of each sample's own data); got {bad}")
        return (m.view(np.bool_) if m.dtype == np.uint8 else m.astype(np.bool_)), None
    if m.dtype.kind != "f":
        raise TypeError(f"mask must be real numbers in [0, 1], got dtype {m.dtype}")
    if m.dtype != np.float32 and m.dtype != np.float64:  # float32 is read as stored: no float64 copy
        m = m.astype(np.float64)
    if m.shape != shape:
        raise ValueError(f"mask must have shape {shape}, got {m.shape}")
    b = shape[0]
    if not m.size:
        return m, np.ones(b)
    rows = m.reshape(b, m.size // b)
    lo, hi = rows.min(axis=1), rows.max(axis=1)
    if not (lo.min() >= 0.0 and hi.max() <= 1.0):  # False for NaN too
        bad = m[~((m >= 0.0) & (m <= 1.0))][0]
        raise ValueError(f"mask must lie in [0, 1] (the weight of each sample's own data); got {bad}")
    return m, lo


def mask_mix(x: Any, partner: Any, mask: Any, axes: Any, /, *, out: Any = None) -> Any:
    """Mix with a per-element mask: ``out = mask * x + (1 - mask) * x[partner]``.

    ``x``: batch ``(B, ...)``; ``mask``: ``(B, *sizes)`` in [0, 1], ``sizes`` the lengths of ``axes``
    in the order given, taken whole along the other axes. A bool (or integer 0/1) mask selects each
    element from ``x`` (True) or the partner (False), a compact form read one byte per element;
    a float mask blends, each weight ``w`` giving ``cdt(w)`` and ``cdt(1 - w)`` (``1 - w`` taken in
    float64, ``cdt`` the compute dtype of :func:`blend`), and a weight of exactly 0 or 1 selects as
    well. A float32 mask is read as stored (4 bytes per element, no float64 copy on any backend) and
    gives exactly the result of the float64 mask of the same values; other float dtypes are read
    as float64. Integer batches are rounded. ``out=x`` mixes in place.
    """
    check_batch(x, "x", min_ndim=2)
    shape = tuple(int(s) for s in x.shape)
    b = shape[0]
    ax = normalize_axes(axes, len(shape))
    m, row_min = _mask_weights(mask, (b,) + tuple(shape[a] for a in ax))
    p = _partner(partner, b)
    _check_out(x, out)
    rows = _rows(b)
    # rows paired with themselves are copies on every route (the reference selects them); so are
    # rows of a float mask of all ones (a bool mask is not read here: its rows select exactly anyway)
    idle = p == rows
    if row_min is not None:
        idle |= row_min == 1.0
    order = np.argsort(ax)
    m = np.transpose(m, (0,) + tuple(int(k) + 1 for k in order))
    return _run("mask_mix", x, out, (np.where(idle, rows, p), m, tuple(ax[k] for k in order)))


def mix_index_labels(y: Any, partner: np.ndarray, lam: np.ndarray, num_classes: int,
                     smoothing: float) -> Any:
    """Mixed dense targets ``(B, num_classes)`` float32 from validated class indices ``y`` ``(B,)``,
    written in one launch by the fused label kernel of ``y``'s device; None where the device has none
    (the caller then builds one-hot rows and blends them).

    Row ``i`` is ``lam[i] * t(y[i]) + (1 - lam[i]) * t(y[partner[i]])`` with ``t`` the one-hot row
    smoothed by ``smoothing``. Indices out of range fail on the device (an asynchronous assert), so
    nothing is read back to the host.
    """
    fused = _fused_backend(y) if backend(y) == "torch" else None
    mix = getattr(fused, "mix_labels", None)
    return None if mix is None else mix(y, partner, lam, num_classes, smoothing)


def box_mask(shape: tuple[int, ...], axes: Any, start: Any, stop: Any) -> np.ndarray:
    """Boolean NumPy mask, broadcastable to a batch of ``shape``: True inside each sample's box.

    Shape: ``(B, ...)`` with the box axes at full length and every other sample axis of length 1.
    """
    shape = tuple(int(s) for s in shape)
    dummy = np.broadcast_to(np.zeros((), np.uint8), shape)
    ax, lo, hi = _axes_and_boxes(dummy, start, stop, axes)
    import array_api_compat.numpy as xp

    return _reference.box_mask(xp, shape, ax, lo, hi, None)

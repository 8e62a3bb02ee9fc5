"""ResizeMix (Qin et al., 2020): the whole partner, shrunk, pasted into a box of each sample.

Unlike CutMix, the box holds all of the partner at a smaller scale rather than the partner's pixels
at the same place. Convention: outside the box ``out[i] = x[i]``; inside it, ``x[partner[i]]``
resized to the box. ``lam[i] = 1 - box volume / sample volume`` exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import (
    check_choice,
    check_range,
    normalize_axes,
)
from .._xp import backend
from ..kernels import box_mask
from ..pairing import sample_partner
from ..plan import MixPlan, check_axes_fit, freeze_boxes, register_plan_type
from ..sampling import sample_applied
from ._base import Mixer, finish_box_plan

__all__ = ["INTERPOLATIONS", "ResizeMix", "ResizePlan", "interpolation_matrix", "interpolation_taps",
           "match_memory_format", "resize_paste", "resize_paste_reference"]

INTERPOLATIONS = ("linear", "area")


def interpolation_matrix(n_in: int, n_out: int, method: str = "linear") -> np.ndarray:
    """Weights ``(n_out, n_in)`` that resample one axis of length ``n_in`` to ``n_out``; rows sum to 1.

    ``"linear"``: pixel-centre linear interpolation (as ``torch.nn.functional.interpolate`` with
    ``align_corners=False``); ``"area"``: each output pixel is the mean of the input it covers.
    """
    m = np.zeros((n_out, n_in))
    if n_out == 0 or n_in == 0:
        return m
    scale = n_in / n_out
    if method == "linear":
        src = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = src - i0
        np.add.at(m, (np.arange(n_out), i0), 1.0 - w)
        np.add.at(m, (np.arange(n_out), i1), w)
        return m
    lo = np.arange(n_out) * scale
    hi = lo + scale
    edges = np.arange(n_in + 1, dtype=np.float64)
    overlap = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
    m = np.clip(overlap, 0.0, None)
    return m / m.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False, repr=False)
class ResizePlan(MixPlan):
    """The partner resized into a box of each sample.

    ``axes``/``sizes``: the box axes of the batch and their lengths; ``start``/``stop`` (int64
    ``(B, len(axes))``): each sample's half-open box, empty where nothing is pasted; ``interpolation``:
    ``"linear"`` or ``"area"``. ``lam[i] = 1 - box volume / prod(sizes)``.
    """

    axes: tuple[int, ...] = ()
    sizes: tuple[int, ...] = ()
    start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    stop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        freeze_boxes(self, "resize")
        check_choice("interpolation", self.interpolation, INTERPOLATIONS)

    geometry: ClassVar[str | None] = None
    companions: ClassVar[frozenset[str]] = frozenset()  # a shrunk partner: masks and boxes do not follow yet

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        check_axes_fit(self, shape, "resizes over")

    def _apply(self, x: Any, out: Any) -> Any:
        """The partner resized into each box of ``x`` ``(B, ...)``."""
        return resize_paste(x, self.partner, self.start, self.stop, self.axes, self.interpolation, out=out)

    def with_partner(self, partner: np.ndarray) -> ResizePlan:
        own = (np.asarray(partner) == np.arange(self.batch_size))[:, None]
        return dataclasses.replace(self, partner=partner, lam=np.where(own[:, 0], 1.0, self.lam),
                                   start=np.where(own, 0, self.start), stop=np.where(own, 0, self.stop))


register_plan_type(ResizePlan)


def interpolation_taps(n_in: int, lengths: np.ndarray, method: str = "linear") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of :func:`interpolation_matrix` ``(n_in -> lengths[s])`` for many output lengths at once.

    Returns ``(index, weight, count)``: int64 ``(S, Lmax, T)`` source positions, float64 ``(S, Lmax, T)``
    weights and int64 ``(S, Lmax)`` taps in use; output ``j`` of row ``s`` is
    ``sum_t weight[s, j, t] * src[index[s, j, t]]``. Taps past ``count`` (and rows past ``lengths[s]``)
    have weight 0 and a valid index. ``lengths`` must be >= 1.
    """
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    uniq, where = np.unique(lengths, return_inverse=True)
    if 0 < uniq.size < lengths.size:  # e.g. one box size for the batch: each distinct length once
        return tuple(a[where.reshape(-1)] for a in interpolation_taps(n_in, uniq, method))  # type: ignore[return-value]
    lmax = int(lengths.max()) if lengths.size else 0
    j = np.arange(lmax)[None, :]
    valid = j < lengths[:, None]
    scale = (n_in / np.maximum(lengths, 1))[:, None]
    if method == "linear":
        src = np.clip((j + 0.5) * scale - 0.5, 0.0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = src - i0
        index = np.stack([i0, i1], axis=-1)
        weight = np.stack([1.0 - w, w], axis=-1)
        count = np.full(valid.shape, 2, dtype=np.int64)
    else:
        lo = j * scale
        hi = lo + scale
        first = np.floor(lo).astype(np.int64)
        count = np.minimum(np.ceil(hi).astype(np.int64), n_in) - first
        taps = int(count[valid].max()) if valid.any() else 1
        k = first[:, :, None] + np.arange(taps)
        overlap = np.minimum(hi[:, :, None], k + 1.0) - np.maximum(lo[:, :, None], k.astype(np.float64))
        overlap = np.where(k < n_in, np.clip(overlap, 0.0, None), 0.0)
        weight = overlap / np.maximum(overlap.sum(axis=-1, keepdims=True), np.finfo(np.float64).tiny)
        index = np.minimum(k, n_in - 1)
    weight = np.where(valid[:, :, None], weight, 0.0)
    index = np.where(valid[:, :, None], index, 0)
    count = np.where(valid, count, 0)
    return index, weight, count


def resize_paste(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray, axes: tuple[int, ...],
                 interpolation: str = "linear", *, out: Any = None) -> Any:
    """Paste ``x[partner[i]]``, resized to the box ``[start[i], stop[i])`` over ``axes``, into sample ``i``.

    ``x``: batch ``(B, ...)`` (NumPy, torch or Array-API); ``partner``: ``(B,)``; ``start``/``stop``:
    ``(B, len(axes))``. Resampling is separable (axis after axis, in increasing axis order, two taps per
    output for ``"linear"``), computed in float (float32 for integer batches, then rounded half to
    even and clipped). ``out=x`` pastes in place (NumPy and torch).

    NumPy arrays and torch CPU tensors of float32, float64, uint8, int8 or int16 in a dense layout go
    through one compiled pass (numba) that reads each partner once and writes each output once;
    anything else (CUDA, autograd, other libraries) through a vectorised reference of the same
    arithmetic (:func:`resize_paste_reference`).
    """
    kind = backend(x)
    if kind == "array_api" and out is not None:
        raise TypeError(f"out= and inplace=True need a NumPy array or a torch tensor; got {type(x).__name__}")
    partner = np.asarray(partner, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64).reshape(len(partner), len(axes))
    stop = np.asarray(stop, dtype=np.int64).reshape(len(partner), len(axes))
    done = _resize_paste_cpu(x, partner, start, stop, tuple(axes), interpolation, out)
    if done is not None:
        return done
    res = resize_paste_reference(x, partner, start, stop, tuple(axes), interpolation)
    if out is None:
        return match_memory_format(res, x)
    if kind == "torch":
        return out.copy_(res)
    out[...] = res
    return out


def match_memory_format(res: Any, like: Any) -> Any:
    """The torch tensor ``res`` in ``like``'s memory format (``channels_last``, ``channels_last_3d``, or
    contiguous); a copy only where the layouts differ. Other arrays are returned as they are."""
    if backend(res) != "torch":
        return res
    import torch

    for fmt, ndim in ((torch.channels_last, 4), (torch.channels_last_3d, 5)):
        if like.dim() == ndim and not like.is_contiguous() and like.is_contiguous(memory_format=fmt):
            return res.contiguous(memory_format=fmt)
    return res.contiguous()


def _compute_dtype(xp: Any, dtype: Any) -> Any:
    return dtype if xp.isdtype(dtype, "real floating") else xp.float32


def resize_paste_reference(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray,
                           axes: tuple[int, ...], interpolation: str = "linear") -> Any:
    """The vectorised form of :func:`resize_paste` (any Array-API library and device, differentiable
    with torch): the partners gathered, resampled axis after axis with :func:`interpolation_taps`
    (``acc = w_0 * v_0 + w_1 * v_1 + ...`` in the compute dtype), placed on the canvas and selected
    inside the boxes. Returns a new array."""
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    dev = array_api_compat.device(x)
    shape = tuple(int(s) for s in x.shape)
    b = shape[0]
    has = np.all(stop > start, axis=1) if b else np.zeros(0, bool)
    if not has.any():
        return x.clone() if backend(x) == "torch" else xp.asarray(x, copy=True)
    cdt = _compute_dtype(xp, x.dtype)
    part = xp.astype(xp.take(x, xp.asarray(np.array(partner, dtype=np.int64), device=dev), axis=0), cdt)
    order = sorted(range(len(axes)), key=lambda k: axes[k])
    lens = np.where(has[:, None], stop - start, 1)
    for k in order:
        a = axes[k]
        index, weight, _ = interpolation_taps(shape[a], lens[:, k], interpolation)
        part = _along(xp, dev, part, a, index, xp.asarray(weight, dtype=cdt, device=dev))
    for k in order:  # the resized partner onto the sample's canvas (positions outside are dropped below)
        a = axes[k]
        pos = np.clip(np.arange(shape[a])[None, :] - start[:, k][:, None], 0, int(part.shape[a]) - 1)
        part = _along(xp, dev, part, a, pos[:, :, None], None)
    if not xp.isdtype(x.dtype, "real floating"):
        info = xp.iinfo(x.dtype)
        part = xp.astype(xp.clip(xp.round(part), info.min, info.max), x.dtype)
    inside = box_mask(shape, tuple(axes), np.where(has[:, None], start, 0), np.where(has[:, None], stop, 0))
    return xp.where(xp.asarray(inside, device=dev), part, x)


def _along(xp: Any, dev: Any, a: Any, axis: int, index: np.ndarray, weight: Any) -> Any:
    """``sum_t weight[:, :, t] * take_along(a, index[:, :, t])`` along ``axis`` (per-sample positions
    ``(B, L, T)``; ``weight=None``: a plain gather of tap 0)."""
    ndim = len(a.shape)
    bshape = [1] * ndim
    bshape[0], bshape[axis] = int(index.shape[0]), int(index.shape[1])
    full = [int(s) for s in a.shape]
    full[axis] = int(index.shape[1])
    acc = None
    for t in range(index.shape[2] if weight is not None else 1):
        it = xp.broadcast_to(xp.reshape(xp.asarray(np.ascontiguousarray(index[:, :, t]), device=dev), tuple(bshape)),
                             tuple(full))
        term = xp.take_along_axis(a, it, axis=axis)
        if weight is not None:
            term = term * xp.reshape(weight[:, :, t], tuple(bshape))
        acc = term if acc is None else acc + term
    return acc


# ----------------------------------------------------------------------------------------------------
# CPU: one compiled pass (numba, compiled on first use and cached on disk)
# ----------------------------------------------------------------------------------------------------

_CPU_DTYPES = ("float32", "float64", "uint8", "int8", "int16")
_kernels: dict[str, Any] = {}


def _cpu_kernels() -> dict[str, Any]:
    """The compiled kernels (numba, :mod:`mixkit.methods._resize_cpu`, imported on first use). Out of
    place: one pass that copies each sample and writes its resized box. In place: every box resized
    into a compact buffer first, then pasted."""
    if _kernels:
        return _kernels
    from . import _resize_cpu as k

    _kernels.update(oop=k.resize_paste_oop, resize=k.resize_boxes, paste=k.paste_boxes)
    return _kernels


def _memory_perm(a: np.ndarray) -> tuple[int, ...] | None:
    """The axis order (batch axis first) in which ``a`` is C-contiguous, or None."""
    if a.flags.c_contiguous:
        return tuple(range(a.ndim))
    rest = sorted((d for d in range(1, a.ndim) if a.shape[d] != 1), key=lambda d: -a.strides[d])
    perm = (0,) + tuple(d for d in range(1, a.ndim) if a.shape[d] == 1) + tuple(rest)
    return perm if np.transpose(a, perm).flags.c_contiguous else None


def _new_output(x: Any, xa: np.ndarray, kind: str) -> Any:
    if kind == "numpy":
        return np.empty_like(x)
    import torch

    if x.is_contiguous() and xa.nbytes >= 32 << 20:
        # NumPy's allocator asks for huge pages: far fewer page faults on first touch
        return torch.from_numpy(np.empty(xa.shape, dtype=xa.dtype))
    return torch.empty_like(x, memory_format=torch.preserve_format)


def _host_view(a: Any, kind: str) -> np.ndarray | None:
    if kind == "numpy":
        return a
    if a.device.type != "cpu" or str(a.dtype).replace("torch.", "") not in _CPU_DTYPES:
        return None
    return a.detach().numpy()


def _resize_paste_cpu(x: Any, partner: np.ndarray, start: np.ndarray, stop: np.ndarray, axes: tuple[int, ...],
                      interpolation: str, out: Any) -> Any:
    """The compiled CPU path, or None when it does not apply (then the reference runs)."""
    kind = backend(x)
    if kind == "array_api":
        return None
    if kind == "torch":
        import torch

        if x.requires_grad and torch.is_grad_enabled():
            return None
    xa = _host_view(x, kind)
    if xa is None or xa.dtype.name not in _CPU_DTYPES or xa.size == 0 or len(axes) > 3:
        return None
    perm = _memory_perm(xa)
    if perm is None:
        return None
    pos = [perm.index(a) for a in axes]
    order = sorted(range(len(axes)), key=lambda k: axes[k])  # the reference's order: increasing axis
    mem = [pos[k] for k in order]
    if mem != list(range(mem[0], mem[0] + len(mem))):
        return None  # box axes not adjacent in memory, or in another order there
    try:
        kernels = _cpu_kernels()
        from ..kernels._threads import PARALLEL
    except ImportError:
        return None
    fresh = out is None
    target = _new_output(x, xa, kind) if fresh else out
    ta = _host_view(target, kind)
    if ta is None or ta.dtype != xa.dtype or _memory_perm(ta) != perm or not ta.flags.writeable:
        return None
    same = ta.__array_interface__["data"][0] == xa.__array_interface__["data"][0] and ta.strides == xa.strides
    if not same and np.shares_memory(ta, xa):
        return None  # partly overlapping buffers: the reference writes through a fresh array
    xm, om = np.transpose(xa, perm), np.transpose(ta, perm)
    shape = xm.shape
    first, last = mem[0], mem[-1]
    m_count = int(np.prod(shape[1:first], dtype=np.int64))
    inner = int(np.prod(shape[last + 1:], dtype=np.int64))
    box = [1] * (3 - len(axes)) + [shape[p] for p in mem]
    view = (shape[0], m_count, box[0], box[1], box[2] * inner)
    xv, ov = xm.reshape(view), om.reshape(view)

    b = shape[0]
    has = np.all(stop > start, axis=1)
    sel = np.flatnonzero(has).astype(np.int64)
    ext = np.ones((b, 3), dtype=np.int64)
    beg = np.zeros((b, 3), dtype=np.int64)
    for d, k in enumerate(order):
        ext[:, 3 - len(axes) + d] = (stop - start)[:, k]
        beg[:, 3 - len(axes) + d] = start[:, k]
    lens = ext[sel]
    cdt = np.float64 if xa.dtype == np.float64 else np.float32
    taps = []
    for d in range(3):
        if d < 3 - len(axes):  # a padding axis of length 1: one tap of weight 1
            idx, w, c = np.zeros((len(sel), 1, 1), np.int64), np.ones((len(sel), 1, 1)), np.ones((len(sel), 1), np.int64)
        else:
            idx, w, c = interpolation_taps(box[d], lens[:, d], interpolation)
        taps += [np.ascontiguousarray(idx), np.ascontiguousarray(w, dtype=cdt), np.ascontiguousarray(c)]
    dummy = len(axes) < 3
    rounded = xa.dtype.kind in "iu"
    info = np.iinfo(xa.dtype) if rounded else None
    lo, hi = (cdt(info.min), cdt(info.max)) if rounded else (cdt(0), cdt(0))
    dims = np.array(view, dtype=np.int64)
    xf, of = xv.reshape(-1), ov.reshape(-1)
    if not same:
        slot = np.full(b, -1, dtype=np.int64)
        slot[sel] = np.arange(len(sel))
        with PARALLEL:
            kernels["oop"](xf, of, dims, partner, slot, beg, lens, dummy, *taps, inner, lo, hi, rounded, cdt(1))
        return target
    if len(sel):
        block = m_count * lens.prod(axis=1) * inner
        offsets = np.concatenate([[0], np.cumsum(block)[:-1]]).astype(np.int64)
        res = np.empty(int(block.sum()), dtype=cdt)
        with PARALLEL:
            kernels["resize"](xf, dims, partner, sel, lens, dummy, *taps, inner, offsets, res)
            kernels["paste"](of, dims, sel, beg, lens, inner, offsets, res, lo, hi, rounded)
    return target


class ResizeMix(Mixer):
    """ResizeMix: shrink the partner by a side ratio ``tau ~ U(scale)`` and paste it into a random box.

    The box has side ``round(tau * size)`` on every axis (the partner keeps its aspect ratio) and
    lies fully inside the sample; ``lam`` is the exact kept fraction ``1 - box volume / volume``.

    Args:
        scale: ``(low, high)`` range of the side ratio ``tau`` (the paper's default ``(0.1, 0.8)``).
        interpolation: ``"linear"`` or ``"area"`` resampling of the partner.
        axes: the axes to resize over (``(-2, -1)`` for NCHW images); other axes are taken whole.
        lam_mode: ``"batch"`` (one ``tau`` and box for the batch) or ``"sample"``.
        pairing, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`.
    """

    def __init__(self, *, scale: tuple[float, float] = (0.1, 0.8), interpolation: str = "linear",
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, label_format=label_format,
                         targets=targets)
        self.scale = check_range("scale", scale, 0.0, 1.0)
        self.interpolation = check_choice("interpolation", interpolation, INTERPOLATIONS)
        self._options(axes=axes, lam_mode=lam_mode, pairing=pairing)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> ResizePlan:
        """Partners, ratios and boxes for a batch of shape ``shape`` (the full ``x.shape``)."""
        if shape is None:
            raise self._missing("the batch's shape to place boxes", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        sizes = tuple(shape[a] for a in axes)
        size = np.asarray(sizes, dtype=np.int64)
        partner = sample_partner(batch_size, self.pairing, gen)
        n = 1 if self.lam_mode == "batch" else batch_size
        tau = gen.uniform(self.scale[0], self.scale[1], size=n)
        side = np.minimum(np.maximum(np.rint(tau[:, None] * size[None, :]), 1), size).astype(np.int64)
        start = np.floor(gen.random((n, len(sizes))) * (size - side + 1)).astype(np.int64)
        stop = start + side
        if n == 1:
            start, stop = np.repeat(start, batch_size, axis=0), np.repeat(stop, batch_size, axis=0)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        partner, lam, start, stop = finish_box_plan(partner, start, stop, sizes, applied)
        return ResizePlan(partner=partner, lam=lam, axes=axes, sizes=sizes, start=start, stop=stop,
                          interpolation=self.interpolation)

    def _repr_fields(self) -> dict[str, Any]:
        return {"scale": self.scale, "interpolation": self.interpolation, "axes": self.axes,
                "lam_mode": self.lam_mode, "pairing": self.pairing}

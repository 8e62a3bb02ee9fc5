"""Memory layouts for the fused backends: a batch as rows ``(B, N)`` in memory order.

A fused kernel walks raw memory. A batch whose elements fill one dense block (C-contiguous,
channels_last, any permutation of the sample axes) is a C-contiguous array once its axes are put in
memory order, so it can be seen as ``(B, N)`` rows without a copy. Masks and boxes, given over the
logical axes, are rewritten here in that memory order, so the backends only ever see flat rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BOX_DIMS", "box_spec", "dense_perm", "mask_spec", "rows"]

# A box kernel sees each row as at most this many dimensions (leading dimension + up to 3 box axes).
BOX_DIMS = 4


def dense_perm(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axis order (batch axis first) in which an array is C-contiguous, or None.

    ``strides`` are in elements. Axes of length 1 go right after the batch axis (their stride is
    meaningless); the others are sorted by decreasing stride and must tile memory densely.
    """
    ndim = len(shape)
    if ndim == 0:
        return None
    if int(np.prod(shape)) == 0:
        return tuple(range(ndim))
    ones = [a for a in range(1, ndim) if shape[a] == 1]
    rest = sorted((a for a in range(1, ndim) if shape[a] != 1), key=lambda a: -strides[a])
    expected = 1
    for a in reversed(rest):
        if strides[a] != expected:
            return None
        expected *= shape[a]
    if shape[0] > 1 and strides[0] != expected:
        return None
    return (0, *ones, *rest)


def rows(a: Any, perm: tuple[int, ...]) -> Any:
    """``a`` (NumPy array or torch tensor, dense in ``perm`` order) viewed as ``(B, N)`` rows."""
    b = a.shape[0]
    t = a.transpose(perm) if isinstance(a, np.ndarray) else a.permute(perm)
    return t.reshape(b, -1)


def mask_spec(shape: tuple[int, ...], perm: tuple[int, ...], axes: tuple[int, ...],
              mask: np.ndarray) -> tuple[np.ndarray, int] | None:
    """A ``(B, *sizes)`` mask over ``axes`` (ascending) as ``(B, M)`` in memory order, plus ``inner``.

    Element ``e`` of a flat row takes mask entry ``(e // inner) % M``. None when the mask axes are not
    adjacent in memory order (then no flat formula exists).
    """
    keep = [k for k, a in enumerate(axes) if shape[a] != 1]
    m = mask.reshape((mask.shape[0],) + tuple(shape[axes[k]] for k in keep))
    live = [a for a in perm[1:] if shape[a] != 1]
    mine = [axes[k] for k in keep]
    if not mine:
        return np.ascontiguousarray(m.reshape(mask.shape[0], 1)), 1
    pos = [live.index(a) for a in mine]
    lo, hi = min(pos), max(pos)
    if hi - lo + 1 != len(mine):
        return None
    order = [mine.index(a) for a in live[lo:hi + 1]]  # mask axes in memory order
    m = np.transpose(m, (0,) + tuple(k + 1 for k in order))
    inner = int(np.prod([shape[a] for a in live[hi + 1:]], dtype=np.int64))
    return np.ascontiguousarray(m.reshape(mask.shape[0], -1)), inner


def box_spec(shape: tuple[int, ...], perm: tuple[int, ...], axes: tuple[int, ...], start: np.ndarray,
             stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per-sample boxes over ``axes`` rewritten over a row seen as ``BOX_DIMS`` dimensions.

    Returns ``dims`` ``(BOX_DIMS,)`` (their product is the row length, C order) and ``lo``/``hi``
    ``(B, BOX_DIMS)``: element ``(d0, d1, d2, d3)`` of row ``i`` is in its box iff
    ``lo[i, k] <= d_k < hi[i, k]`` for every ``k``. A full-length axis inside a box axis (in memory
    order) is merged into it, so the last dimension is as long a run of memory as the layout allows.
    None when more than ``BOX_DIMS`` dimensions would remain.
    """
    b = start.shape[0]
    sizes: list[int] = []
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    for a in perm[1:]:
        n = int(shape[a])
        if n == 1:
            continue  # a length-1 axis changes no index (an empty box on it is never pasted)
        if a in axes:
            k = axes.index(a)
            lo, hi, full = start[:, k].astype(np.int64), stop[:, k].astype(np.int64), False
        else:
            lo, hi, full = np.zeros(b, np.int64), np.full(b, n, np.int64), True
        if sizes and full:
            # merge into the outer dimension: its range scales by this axis' length
            sizes[-1] *= n
            los[-1] = los[-1] * n
            his[-1] = his[-1] * n
            continue
        sizes.append(n)
        los.append(lo)
        his.append(hi)
    if not sizes:
        sizes, los, his = [1], [np.zeros(b, np.int64)], [np.ones(b, np.int64)]
    if len(sizes) > BOX_DIMS:
        return None
    pad = BOX_DIMS - len(sizes)
    dims = np.array([1] * pad + sizes, dtype=np.int64)
    lo_a = np.zeros((b, BOX_DIMS), np.int64)
    hi_a = np.ones((b, BOX_DIMS), np.int64)
    for k in range(len(sizes)):
        lo_a[:, pad + k] = los[k]
        hi_a[:, pad + k] = his[k]
    return dims, lo_a, hi_a

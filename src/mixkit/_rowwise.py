"""Row-wise drivers behind the NumPy and PyTorch kernels: blend and paste without hidden full copies.

A kernel here is a *combiner*: ``combine(a, b, o, s, e)`` writes ``o`` (rows ``s:e`` of the
traversal) from ``a`` (the rows themselves) and ``b`` (their partners). The driver decides the
order and the chunking:

- big rows (a row over ``CHUNK_BYTES``): one row at a time, as views, in the partner-graph order of
  :func:`mixkit._schedule.row_order` (no gather at all; the partner read at one step is the row
  written at the next, so it comes from cache);
- small rows, new output or a separate ``out``: contiguous chunks of rows, partners gathered into a
  cache-sized buffer (torch, batch up to ``WHOLE_BYTES``: partners gathered straight into ``out``,
  then one combine over the batch);
- small rows in place: chunks in partner-graph order, gathered, combined and scattered back.

In place, at most two saved rows (cycle heads) exist at a time: extra memory is a chunk plus two
rows, never a copy of the batch. Everything here runs on the host's copy of the plan; torch index
and weight tensors go to the device once per call (no host synchronisation).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import numpy as np

from ._schedule import row_order
from ._scratch import scratch

__all__ = ["CHUNK_BYTES", "WHOLE_BYTES", "NumpyOps", "TorchOps", "chunk_rows", "traverse"]

# Temporaries stay about this size (L2-sized), so a chunk's second read comes from cache.
CHUNK_BYTES = 1 << 20
# A torch batch up to this size that fits in the last-level cache is mixed in two whole-batch
# operations into ``out`` (gather, then combine): fewer calls beat cache-sized chunks there.
WHOLE_BYTES = 16 << 20
# In place, rows of at least this size go one at a time as views: a per-row call costs less than
# the gather and scatter (index_copy_ runs at a third of copy speed) that a chunk needs.
ROW_BYTES = 32 << 10


def n_bytes_row(x: Any, itemsize: int) -> int:
    """Bytes of one row of ``x`` at ``itemsize`` bytes an item."""
    row = 1
    for s in x.shape[1:]:
        row *= int(s)
    return max(1, row * itemsize)


def chunk_rows(x: Any, itemsize: int) -> int:
    """Rows per chunk for a batch whose rows hold ``prod(shape[1:])`` items of ``itemsize`` bytes."""
    return max(1, CHUNK_BYTES // n_bytes_row(x, itemsize))


class NumpyOps:
    """The few array operations the driver needs, for NumPy."""

    def index(self, idx: np.ndarray) -> np.ndarray:
        return idx

    def gather(self, x: np.ndarray, idx: np.ndarray, name: str) -> np.ndarray:
        buf = scratch(x, name, (len(idx),) + x.shape[1:], x.dtype)
        return np.take(x, idx, axis=0, out=buf, mode="wrap")  # "raise" would buffer a copy

    def scatter(self, out: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> None:
        out[idx] = rows

    def copy(self, dst: np.ndarray, src: np.ndarray) -> None:
        np.copyto(dst, src)

    def empty(self, x: np.ndarray, n: int) -> np.ndarray:
        return scratch(x, "store", (n,) + x.shape[1:], x.dtype)


class TorchOps:
    """The same operations for PyTorch tensors on any device."""

    def __init__(self, device: Any) -> None:
        import torch

        self.torch = torch
        self.device = device

    def index(self, idx: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
        return t.to(self.device, non_blocking=True)

    def gather(self, x: Any, idx: Any, name: str) -> Any:
        buf = scratch(x, name, (int(idx.shape[0]),) + tuple(x.shape[1:]), x.dtype)
        return self.torch.index_select(x, 0, idx, out=buf)

    def gather_into(self, x: Any, idx: Any, out: Any) -> bool:
        """``out[:] = x[idx]`` without a temporary; False where that is not possible."""
        if not (x.is_contiguous() and out.is_contiguous()):
            return False
        self.torch.index_select(x, 0, idx, out=out)
        return True

    def scatter(self, out: Any, idx: Any, rows: Any) -> None:
        out.index_copy_(0, idx, rows)

    def copy(self, dst: Any, src: Any) -> None:
        dst.copy_(src)

    def empty(self, x: Any, n: int) -> Any:
        return scratch(x, "store", (n,) + tuple(x.shape[1:]), x.dtype)


Combine = Callable[[Any, Any, Any, int, int], None]


def _copy_rows(ops: Any, out: Any, x: Any, rows: np.ndarray) -> None:
    """``out[rows] = x[rows]``, one slice per run of consecutive rows."""
    if rows.size == 0:
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for run in np.split(rows, breaks):
        s, e = int(run[0]), int(run[-1]) + 1
        ops.copy(out[s:e], x[s:e])


def traverse(
    x: Any,
    out: Any,
    partner: np.ndarray,
    work: np.ndarray,
    *,
    inplace: bool,
    ops: Any,
    itemsize: int,
    prepare: Callable[[np.ndarray], Combine],
    needed: Callable[[int], tuple[Any, ...]],
) -> None:
    """Write ``out`` row by row: ``combine`` for the rows in ``work``, a plain copy for the others
    (skipped in place). ``prepare(rows)`` receives the traversal order (row ids) and returns the
    combiner, whose ``s, e`` are positions in that order. ``needed(pos)`` names the part of a row
    (slices, no batch axis) that the row at ``pos`` reads from its partner; in place, only that
    part of a cycle head is saved."""
    b = int(x.shape[0])
    rows_all = np.arange(b)
    n = chunk_rows(x, itemsize)
    if not inplace and n > 1:
        peff = np.where(work, partner, rows_all)
        combine = prepare(rows_all)
        pidx = ops.index(peff)
        gather_into = getattr(ops, "gather_into", None)
        small = b * n_bytes_row(x, itemsize) <= WHOLE_BYTES
        if gather_into is not None and small and gather_into(x, pidx, out):
            combine(x, out, out, 0, b)
            return
        for s in range(0, b, n):
            e = min(s + n, b)
            combine(x[s:e], ops.gather(x, pidx[s:e], "b"), out[s:e], s, e)
        return
    if inplace and n_bytes_row(x, itemsize) >= ROW_BYTES:
        n = 1
    order = row_order(partner, work)
    rows = order.rows
    if not inplace:
        _copy_rows(ops, out, x, np.flatnonzero(~work))
    if rows.size == 0:
        return
    combine = prepare(rows)
    saves = dict(zip(order.save.tolist(), order.save_slot.tolist()))
    from_store = order.from_store
    store = None
    if n == 1:
        if saves:
            store = ops.empty(x, 2)
        tails = np.flatnonzero(from_store >= 0).tolist()
        tail_of = {}
        for pos, tail in zip(sorted(saves), tails):
            tail_of[pos] = tail
        rl = rows.tolist()
        pl = partner[rows].tolist()
        fs = from_store.tolist()
        for k, i in enumerate(rl):
            if k in saves:
                region = needed(tail_of[k])
                ops.copy(store[saves[k]][region], x[i][region])
            slot = fs[k]
            src = store[slot:slot + 1] if slot >= 0 else x[pl[k]:pl[k] + 1]
            a = x[i:i + 1]
            combine(a, src, a if inplace else out[i:i + 1], k, k + 1)
        return
    # small rows in place: chunks in partner-graph order, gathered and scattered back
    idx = ops.index(rows)
    pidx = ops.index(partner[rows])
    save_pos = sorted(saves)
    tails = np.flatnonzero(from_store >= 0)
    span = {}  # head position -> tail position, for cycles that cross a chunk boundary
    for h, t in zip(save_pos, tails.tolist()):
        if h // n != t // n:
            span[h] = t
    if span:
        store = ops.empty(x, 2)
    fix = {t: saves[h] for h, t in span.items()}
    events = sorted(set(span) | set(fix))
    for s in range(0, rows.size, n):
        e = min(s + n, rows.size)
        a = ops.gather(x, idx[s:e], "a")
        bb = ops.gather(x, pidx[s:e], "b")
        for k in events[bisect_left(events, s):bisect_left(events, e)]:
            if k in span:
                ops.copy(store[saves[k]], a[k - s])
            if k in fix:
                ops.copy(bb[k - s], store[fix[k]])
        combine(a, bb, a, s, e)
        ops.scatter(out, idx[s:e], a)

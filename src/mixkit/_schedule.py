"""Row traversal orders for the kernels: host-side, O(B), NumPy only (plans live on the host).

A kernel writes ``out[i]`` from ``x[i]`` and ``x[partner[i]]``. When ``out`` is ``x`` (in place), a
row may only be overwritten once every row that reads it as a partner has been written. The order
below walks the partner graph (any int mapping, not only permutations): first the rows nobody
else reads (tree leaves, in Kahn's order), then each cycle along its partners. A cycle
``c0 -> c1 -> ... -> c(m-1) -> c0`` needs just one saved row: ``x[c0]`` before ``c0`` is written,
for ``c(m-1)``. Walking along partners also keeps the partner row in cache: the row read as a
partner at one step is the row written at the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RowOrder", "row_order"]


@dataclass(frozen=True)
class RowOrder:
    """``rows``: the rows to write, in order. ``save``: positions whose row must be copied aside
    (into store slot ``save_slot``) before it is written. ``from_store``: for each position, the
    store slot that holds its partner's original row, or -1 when ``x[partner]`` is still intact."""

    rows: np.ndarray
    save: np.ndarray
    save_slot: np.ndarray
    from_store: np.ndarray


def row_order(partner: np.ndarray, work: np.ndarray) -> RowOrder:
    """Order the rows where ``work`` is True so that in-place writes never clobber a partner.

    ``partner``: int ``(B,)`` (any mapping); ``work``: bool ``(B,)``, the rows to be written (rows
    paired with themselves must be False). At most two store slots are in use at any time.
    """
    b = int(partner.shape[0])
    p = partner.tolist()
    w = work.tolist()
    indeg = [0] * b
    for i in range(b):
        if w[i]:
            indeg[p[i]] += 1
    stack = [i for i in range(b) if w[i] and indeg[i] == 0]
    rows: list[int] = []
    done = [False] * b
    while stack:
        i = stack.pop()
        rows.append(i)
        done[i] = True
        j = p[i]
        indeg[j] -= 1
        if indeg[j] == 0 and w[j]:
            stack.append(j)
    save: list[int] = []
    slots: list[int] = []
    from_store = [-1] * b  # indexed by position after the loop below
    cycle = 0
    for start in range(b):
        if not w[start] or done[start]:
            continue
        slot = cycle % 2
        cycle += 1
        save.append(len(rows))
        slots.append(slot)
        i = start
        while not done[i]:
            rows.append(i)
            done[i] = True
            i = p[i]
        from_store[len(rows) - 1] = slot  # the cycle's last row reads the saved head
    k = len(rows)
    return RowOrder(
        rows=np.asarray(rows, dtype=np.int64),
        save=np.asarray(save, dtype=np.int64),
        save_slot=np.asarray(slots, dtype=np.int64),
        from_store=np.asarray(from_store[:k], dtype=np.int64),
    )

"""The order in which an in-place kernel writes rows, for any partner mapping.

Row ``i`` reads its partner ``p[i]``, so ``p[i]`` must still hold its original values when ``i`` is
written. Rows that nobody reads go first (Kahn's order over the partner graph); what is left are
cycles, each walked from one row whose original values are saved first (``OPEN``) and read back by the
last row of the cycle (``CLOSE``). A pair ``(i, j)`` is a cycle of two; a permutation is all cycles.
Rows paired with themselves are not written at all.

A kernel then walks, for each block of elements of a row (all rows at once, one block per task)::

    for k in range(n):
        i = order[k]
        if flag[k] & OPEN:  saved = x[i, block]
        src = saved if flag[k] & CLOSE else x[p[i], block]
        x[i, block] = combine(x[i, block], src)

so it reads each row once, writes each row once and keeps one block aside: no copy of the batch.
Imported on first use only (it compiles with numba, cached on disk).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CLOSE", "OPEN", "walk_order"]

OPEN = 1
CLOSE = 2


@njit(cache=True)
def _walk(partner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    b = partner.shape[0]
    readers = np.zeros(b, np.int64)
    for i in range(b):
        if partner[i] != i:
            readers[partner[i]] += 1
    order = np.empty(b, np.int64)
    flag = np.zeros(b, np.int8)
    done = np.zeros(b, np.bool_)
    stack = np.empty(b, np.int64)
    top = 0
    for i in range(b):
        if partner[i] != i and readers[i] == 0:
            stack[top] = i
            top += 1
    n = 0
    while top > 0:
        top -= 1
        i = stack[top]
        order[n] = i
        n += 1
        done[i] = True
        j = partner[i]
        readers[j] -= 1
        if readers[j] == 0 and partner[j] != j:
            stack[top] = j
            top += 1
    for s in range(b):
        if done[s] or partner[s] == s:
            continue
        i = s
        flag[n] = OPEN
        while True:
            order[n] = i
            done[i] = True
            n += 1
            i = partner[i]
            if i == s:
                flag[n - 1] |= CLOSE
                break
    return order[:n].copy(), flag[:n].copy()


def walk_order(partner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``order`` (int64, the rows to write, in order) and ``flag`` (int8, ``OPEN``/``CLOSE`` bits).

    ``partner``: int64 ``(B,)`` in ``[0, B)``; rows with ``partner[i] == i`` are left out.
    """
    return _walk(np.ascontiguousarray(partner, dtype=np.int64))

"""The exact labelling of PuzzleMix's block grid (numba): compiled on first use, cached on disk.

Energy of a labelling ``l`` of an ``n x n`` grid into ``K`` ordered levels::

    E(l) = sum_p D[p, l_p] + sum_(p,q) w_pq * (l_p - l_q)**2 / (K - 1)**2

over the 4-neighbour pairs (``wx`` joins a block to the one below it, ``wy`` to the one on its right;
both >= 0). The pairwise term is convex in ``l_p - l_q``, so one s-t minimum cut gives the global
minimum (Ishikawa, 2003): each block holds ``K - 1`` binary variables ``x_k = [l_p >= k]`` (chained by
infinite edges so that ``x_k >= x_(k+1)``), the unary becomes linear in them, and ``(a - b)**2`` splits
into pair terms ``[x_(p,k) = 1, x_(q,m) = 0]`` with weight ``1`` for ``k = m`` and ``2`` for ``k > m``
(times ``w / (K - 1)**2``), all submodular. The maximum flow is Dinic's algorithm.

Module-level functions calling each other as globals, so numba's on-disk cache finds them again.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _add_edge(u, v, c, c_rev, ne, to, cap):  # pragma: no cover
    to[ne] = v
    cap[ne] = c
    to[ne + 1] = u
    cap[ne + 1] = c_rev
    return ne + 2


@njit(cache=True, nogil=True)
def _augment(s, t, head, nxt, to, cap, level, it, stack):  # pragma: no cover
    # one augmenting path in the level graph (iterative DFS with current-arc pointers)
    u = s
    depth = 0
    while True:
        if u == t:
            f = np.inf
            for i in range(depth):
                f = min(f, cap[stack[i]])
            for i in range(depth):
                e = stack[i]
                cap[e] -= f
                cap[e ^ 1] += f
            return f
        e = it[u]
        while e != -1 and not (cap[e] > 0.0 and level[to[e]] == level[u] + 1):
            e = nxt[e]
        it[u] = e
        if e != -1:
            stack[depth] = e
            depth += 1
            u = to[e]
        else:
            if depth == 0:
                return 0.0
            level[u] = -2  # a dead end for this phase
            depth -= 1
            e = stack[depth]
            u = to[e ^ 1]
            it[u] = nxt[it[u]]


@njit(cache=True, nogil=True)
def _source_side(n_nodes, s, t, head, nxt, to, cap):  # pragma: no cover
    """Maximum flow s -> t (Dinic); returns the nodes reachable from s in the residual graph."""
    level = np.empty(n_nodes, np.int64)
    it = np.empty(n_nodes, np.int64)
    queue = np.empty(n_nodes, np.int64)
    stack = np.empty(n_nodes, np.int64)
    while True:
        level[:] = -1
        level[s] = 0
        queue[0] = s
        qh = 0
        qt = 1
        while qh < qt:
            u = queue[qh]
            qh += 1
            e = head[u]
            while e != -1:
                v = to[e]
                if cap[e] > 0.0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue[qt] = v
                    qt += 1
                e = nxt[e]
        if level[t] < 0:
            return level >= 0
        it[:] = head
        while _augment(s, t, head, nxt, to, cap, level, it, stack) > 0.0:
            pass


@njit(cache=True, nogil=True)
def _solve_one(d, wx, wy):  # pragma: no cover
    # d (K, n, n) unary; wx (n - 1, n), wy (n, n - 1) pair weights >= 0; returns labels (n, n)
    k_lab, n, _ = d.shape
    m = k_lab - 1
    nb = n * n
    n_nodes = nb * m + 2
    s = nb * m
    t = s + 1
    pairs = (n - 1) * n * 2
    n_edges = 2 * (nb * m + nb * (m - 1) + pairs * m * (m + 1))
    to = np.empty(n_edges, np.int64)
    cap = np.empty(n_edges, np.float64)
    scale = 1.0 / (m * m)
    big = 1.0
    for k in range(k_lab):
        for i in range(n):
            for j in range(n):
                big += 2.0 * abs(d[k, i, j])
    for i in range(n - 1):
        for j in range(n):
            big += wx[i, j] * 2.0 * m * m
    for i in range(n):
        for j in range(n - 1):
            big += wy[i, j] * 2.0 * m * m
    ne = 0
    for i in range(n):
        for j in range(n):
            p = i * n + j
            for k in range(1, k_lab):
                node = p * m + (k - 1)
                delta = d[k, i, j] - d[k - 1, i, j]  # the cost of x_k = 1
                if delta > 0.0:
                    ne = _add_edge(node, t, delta, 0.0, ne, to, cap)
                else:
                    ne = _add_edge(s, node, -delta, 0.0, ne, to, cap)
                if k >= 2:  # x_k = 1 needs x_(k-1) = 1
                    ne = _add_edge(node, node - 1, big, 0.0, ne, to, cap)
    for direction in range(2):
        rows = n - 1 if direction == 0 else n
        for i in range(rows):
            for j in range(n - direction):
                p = i * n + j
                if direction == 0:
                    q = (i + 1) * n + j
                    w = wx[i, j] * scale
                else:
                    q = i * n + j + 1
                    w = wy[i, j] * scale
                for a in range(m):
                    for b in range(a + 1):
                        c = w if a == b else 2.0 * w
                        # [x_(p,a) = 1, x_(q,b) = 0] and [x_(q,a) = 1, x_(p,b) = 0]
                        ne = _add_edge(p * m + a, q * m + b, c, 0.0, ne, to, cap)
                        ne = _add_edge(q * m + a, p * m + b, c, 0.0, ne, to, cap)
    head = np.full(n_nodes, -1, np.int64)
    nxt = np.empty(ne, np.int64)
    for e in range(ne):
        u = to[e ^ 1]
        nxt[e] = head[u]
        head[u] = e
    side = _source_side(n_nodes, s, t, head, nxt, to[:ne], cap[:ne])
    labels = np.zeros((n, n), np.int64)
    for i in range(n):
        for j in range(n):
            p = i * n + j
            c = 0
            for k in range(m):
                if side[p * m + k]:
                    c += 1
            labels[i, j] = c
    return labels


@njit(cache=True, nogil=True)
def solve_labels(d, wx, wy):  # pragma: no cover
    """Global minimisers, one per sample: ``d`` (B, K, n, n), ``wx`` (B, n - 1, n), ``wy`` (B, n, n - 1)
    float64 -> labels (B, n, n) int64 in ``[0, K)``."""
    b = d.shape[0]
    n = d.shape[2]
    out = np.empty((b, n, n), np.int64)
    for i in range(b):
        out[i] = _solve_one(d[i], wx[i], wy[i])
    return out

"""The compiled blur of the saliency maps (numba): imported on first use, compiled once and cached on
disk.

``blur`` blurs along one axis of a C-contiguous float64 array seen as ``(outer, n, inner)``, with the
same arithmetic as the array path: ``k[r] * centre``, then ``+ (left_d + right_d) * k[r - d]`` for ``d = 1 .. r``.

Module-level functions calling each other as globals, so numba's on-disk cache finds them again in
the next process (functions closed over other compiled functions miss the cache).
"""

import numpy as np
from numba import njit, prange

u = np.uint64


@njit(cache=True, nogil=True)
def blur_task(o, a, out, n, inner, idx, k, r):  # pragma: no cover
    # flat arrays and unsigned offsets: vectorisable inner loops, no per-line array views
    base = u(o) * u(n) * u(inner)
    ni = u(inner)
    kr = k[r]
    for j in range(n):
        dst = base + u(j) * ni
        c = base + u(idx[j + r]) * ni
        for e in range(ni):
            out[dst + e] = a[c + e] * kr
        for d in range(1, r + 1):
            left = base + u(idx[j + r - d]) * ni
            right = base + u(idx[j + r + d]) * ni
            kd = k[r - d]
            for e in range(ni):
                out[dst + e] = out[dst + e] + (a[left + e] + a[right + e]) * kd


@njit(cache=True, nogil=True)
def blur_line(o, a, out, n, idx, k, r):  # pragma: no cover
    # the last axis (inner == 1): tap after tap over the line, so the interior loop vectorises
    base = u(o) * u(n)
    kr = k[r]
    for j in range(u(n)):
        out[base + j] = a[base + u(idx[j + r])] * kr
    lo, hi = min(r, n), max(min(r, n), n - r)
    for d in range(1, r + 1):
        kd = k[r - d]
        for j in range(lo):
            out[base + u(j)] = out[base + u(j)] + (a[base + u(idx[j + r - d])] + a[base + u(idx[j + r + d])]) * kd
        for j in range(u(lo), u(hi)):
            out[base + j] = out[base + j] + (a[base + j - u(d)] + a[base + j + u(d)]) * kd
        for j in range(hi, n):
            out[base + u(j)] = out[base + u(j)] + (a[base + u(idx[j + r - d])] + a[base + u(idx[j + r + d])]) * kd


@njit(cache=True, parallel=True, nogil=True)
def blur(a, out, outer, n, inner, idx, k, r):  # pragma: no cover
    if inner == 1:
        for o in prange(outer):
            blur_line(np.int64(o), a, out, n, idx, k, r)
    else:
        for o in prange(outer):
            blur_task(np.int64(o), a, out, n, inner, idx, k, r)

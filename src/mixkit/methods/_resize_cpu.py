"""The compiled CPU kernels of ResizeMix (numba): imported on first use, compiled once per dtype and
cached on disk.

Out of place: one pass that copies each sample and writes its resized box. In place: every box
resized into a compact buffer first, then pasted.

Arrays are flat and offsets unsigned, so the inner loops index from a provably non-negative base
(numba's negative-index wraparound would otherwise keep LLVM from vectorising them), and no array
view is made per line (each view is an atomic reference count shared by all threads).

The kernels are module-level functions calling each other as globals, so numba's on-disk cache
finds them again in the next process (functions closed over other compiled functions miss the
cache, which keys them on the pickled closure).
"""

import numpy as np
from numba import njit, prange

u = np.uint64


@njit(cache=True, nogil=True)
def box_plane(x, xo, n2, width, s, l1, l2, l3, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3, inner, part,
              block, dst, d0, d1, d2, lo, hi, rounded):  # pragma: no cover
    linear3 = i3.shape[2] == 2  # every output of the last axis has exactly two taps
    # Sample s's box for one plane, resized from the partner's plane at flat offset xo, written to
    # dst[d0 + q1 * d1 + q2 * d2 + q3 * inner + ei]. Separable, axis after axis as the reference:
    # v1 = sum_t w1 * x, v2 = sum_t w2 * v1, v3 = sum_t w3 * v2 (first term, then +).
    nw = u(width)
    for q1 in range(l1):
        # axes 1 and 2: the lines (q1, q2, :) of v2, each a vectorised loop over the last axis
        for q2 in range(l2):
            row = u(q2) * nw
            n_t2 = c2[s, q2]
            if dummy and n_t2 == 2:  # the common case (2-D boxes, linear): both taps in one loop
                oa = xo + u(i2[s, q2, 0]) * nw
                ob = xo + u(i2[s, q2, 1]) * nw
                ba, bb = w2[s, q2, 0], w2[s, q2, 1]
                for e in range(nw):
                    block[row + e] = ba * x[oa + e] + bb * x[ob + e]
                continue
            for t2 in range(n_t2):
                b2 = w2[s, q2, t2]
                if dummy:  # no first box axis: v1 is x itself (a weight of 1 changes nothing)
                    o = xo + u(i2[s, q2, t2]) * nw
                    if t2 == 0:
                        for e in range(nw):
                            block[row + e] = b2 * x[o + e]
                    else:
                        for e in range(nw):
                            block[row + e] = block[row + e] + b2 * x[o + e]
                    continue
                for t1 in range(c1[s, q1]):
                    b1 = w1[s, q1, t1]
                    o = xo + (u(i1[s, q1, t1]) * u(n2) + u(i2[s, q2, t2])) * nw
                    if t1 == 0:
                        for e in range(nw):
                            part[e] = b1 * x[o + e]
                    else:
                        for e in range(nw):
                            part[e] = part[e] + b1 * x[o + e]
                if t2 == 0:
                    for e in range(nw):
                        block[row + e] = b2 * part[e]
                else:
                    for e in range(nw):
                        block[row + e] = block[row + e] + b2 * part[e]
        # the last axis: gathers from each line of v2
        if inner == 1 and linear3:  # two taps per output
            for q2 in range(l2):
                row = u(q2 * width)
                o = u(d0 + q1 * d1 + q2 * d2)
                for q3 in range(u(l3)):
                    acc = w3[s, q3, 0] * block[row + u(i3[s, q3, 0])] + w3[s, q3, 1] * block[row + u(i3[s, q3, 1])]
                    if rounded:
                        acc = min(max(np.rint(acc), lo), hi)
                    dst[o + q3] = acc
            continue
        for q2 in range(l2):
            row = q2 * width
            o = d0 + q1 * d1 + q2 * d2
            for q3 in range(l3):
                n_t3 = c3[s, q3]
                for ei in range(inner):
                    acc = w3[s, q3, 0] * block[row + i3[s, q3, 0] * inner + ei]
                    for t3 in range(1, n_t3):
                        acc = acc + w3[s, q3, t3] * block[row + i3[s, q3, t3] * inner + ei]
                    if rounded:
                        acc = min(max(np.rint(acc), lo), hi)
                    dst[o + q3 * inner + ei] = acc


@njit(cache=True, nogil=True)
def write_line(out, o, line, lo3, n, lo, hi, rounded):  # pragma: no cover
    if rounded:
        for e in range(u(n)):
            out[o + e] = min(max(np.rint(line[u(lo3) + e]), lo), hi)
    else:
        for e in range(u(n)):
            out[o + e] = line[u(lo3) + e]


@njit(cache=True, nogil=True)
def oop_task(task, x, out, dims, partner, slot, start, lens, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3,
             inner, lo, hi, rounded, cdt_one):  # pragma: no cover
    # one (b, m) plane: copied from x, then b's box, resized from the partner's plane, written into it
    m_count, n1, n2, width = dims[1], dims[2], dims[3], dims[4]
    plane = u(n1 * n2 * width)
    b = task // m_count
    m = task - b * m_count
    o = u(task) * plane
    for e in range(plane):
        out[o + e] = x[o + e]
    s = slot[b]
    if s < 0:
        return
    l1, l2, l3 = lens[s, 0], lens[s, 1], lens[s, 2]
    part = np.empty(width, dtype=type(cdt_one))
    block = np.empty(l2 * width, dtype=type(cdt_one))
    xo = u(partner[b] * m_count + m) * plane
    d0 = task * n1 * n2 * width + ((start[b, 0] * n2 + start[b, 1]) * width + start[b, 2] * inner)
    box_plane(x, xo, n2, width, s, l1, l2, l3, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3, inner, part, block,
              out, d0, n2 * width, width, lo, hi, rounded)


@njit(cache=True, parallel=True, nogil=True)
def resize_paste_oop(x, out, dims, partner, slot, start, lens, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3,
                     inner, lo, hi, rounded, cdt_one):  # pragma: no cover
    # x, out: flat (B, M, n1, n2, n3 * inner) in distinct memory; a task per (sample, leading index)
    for task in prange(dims[0] * dims[1]):
        oop_task(np.int64(task), x, out, dims, partner, slot, start, lens, dummy, i1, w1, c1, i2, w2, c2, i3,
                 w3, c3, inner, lo, hi, rounded, cdt_one)


@njit(cache=True, nogil=True)
def resize_task(task, x, dims, partner, sel, lens, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3, inner,
                offsets, res):  # pragma: no cover
    m_count, n1, n2, width = dims[1], dims[2], dims[3], dims[4]
    s = task // m_count
    m = task - s * m_count
    l1, l2, l3 = lens[s, 0], lens[s, 1], lens[s, 2]
    part = np.empty(width, dtype=res.dtype)
    block = np.empty(l2 * width, dtype=res.dtype)
    xo = u(partner[sel[s]] * m_count + m) * u(n1 * n2 * width)
    base = offsets[s] + m * (l1 * l2 * l3 * inner)
    zero = res[0] * 0
    box_plane(x, xo, n2, width, s, l1, l2, l3, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3, inner, part, block,
              res, base, l2 * l3 * inner, l3 * inner, zero, zero, False)


@njit(cache=True, parallel=True, nogil=True)
def resize_boxes(x, dims, partner, sel, lens, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3, inner, offsets,
                 res):  # pragma: no cover
    # in place, phase 1: sample sel[s]'s box into block s of res, laid out (M, L1, L2, L3 * inner)
    for task in prange(sel.shape[0] * dims[1]):
        resize_task(np.int64(task), x, dims, partner, sel, lens, dummy, i1, w1, c1, i2, w2, c2, i3, w3, c3,
                    inner, offsets, res)


@njit(cache=True, nogil=True)
def paste_task(task, out, dims, sel, start, lens, inner, offsets, res, lo, hi, rounded):  # pragma: no cover
    m_count, n1, n2, width = dims[1], dims[2], dims[3], dims[4]
    s = task // m_count
    m = task - s * m_count
    b = sel[s]
    l1, l2, l3 = lens[s, 0], lens[s, 1], lens[s, 2]
    n = l3 * inner
    base = offsets[s] + m * (l1 * l2 * n)
    o = u(b * m_count + m) * u(n1 * n2 * width)
    for q1 in range(l1):
        for q2 in range(l2):
            d = o + u(((start[b, 0] + q1) * n2 + start[b, 1] + q2) * width + start[b, 2] * inner)
            write_line(out, d, res, base + (q1 * l2 + q2) * n, n, lo, hi, rounded)


@njit(cache=True, parallel=True, nogil=True)
def paste_boxes(out, dims, sel, start, lens, inner, offsets, res, lo, hi, rounded):  # pragma: no cover
    # in place, phase 2: block s of res into sample sel[s]'s box
    for task in prange(sel.shape[0] * dims[1]):
        paste_task(np.int64(task), out, dims, sel, start, lens, inner, offsets, res, lo, hi, rounded)

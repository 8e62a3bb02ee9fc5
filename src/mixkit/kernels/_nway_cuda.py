"""CUDA backend of ``blend_many``: one Triton launch, one pass over memory, as ``_cuda.blend``.

``out[i] = sum_j w[i, j] * x[s[i, j]]`` by the element rule of :func:`mixkit.kernels.blend_many`.
The plan (sources, weights, copy flags) goes to the device in one non-blocking copy (``_cuda._Plan``);
one program per (row, tile of ``_TILE`` elements) loads that tile of each source whose weight is not 0,
sums in registers in the compute dtype and stores the tile once. In place (``out is x``) the result goes
to one new batch and is copied back (the sources of a row may be any rows). Runs on CPU tensors under
``TRITON_INTERPRET=1``, like ``_cuda``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl

from . import _cuda
from ._cuda import _narrow, _rint, _widen

__all__ = ["blend_many"]

_TILE = 1024


@triton.jit
def _nway_kernel(x, out, src, w, copy, N, K, ncb, CB: tl.constexpr, CDT: tl.constexpr,
                 IS_INT: tl.constexpr, LO_I: tl.constexpr, HI_I: tl.constexpr):
    pid = tl.program_id(0)
    one = tl.zeros((1, 1), tl.int64)  # (1, 1) blocks rather than scalars, as in _cuda._mix_kernel
    cb = pid % ncb
    i = pid // ncb + one
    cl = (cb * CB + tl.arange(0, CB))[None, :]
    inrow = cl < N
    cp = tl.load(copy + i)
    s0 = tl.load(src + i * K)
    a0 = tl.load(x + s0 * N + cl, mask=inrow & (cp != 0))
    acc = tl.zeros((1, CB), CDT)
    started = tl.zeros((1, 1), tl.int32)
    for c in range(K):
        s = tl.load(src + i * K + c)
        wc = tl.load(w + i * K + c).to(CDT)
        live = (wc != 0) & (cp == 0)
        a = tl.load(x + s * N + cl, mask=inrow & live, other=0)
        term = wc * _widen(a, CDT)
        acc = tl.where(live, tl.where(started != 0, acc + term, term), acc)
        started = tl.where(live, 1, started)
    if IS_INT:
        r = _rint(acc, CDT)
        lo = tl.full(r.shape, LO_I, tl.int64).to(CDT)
        hi = tl.full(r.shape, HI_I, tl.int64).to(CDT)
        res = tl.minimum(tl.maximum(r, lo), hi).to(x.dtype.element_ty)
    else:
        res = _narrow(acc, x.dtype.element_ty)
    res = tl.where(cp != 0, a0, res)
    tl.store(out + i * N + cl, res, mask=inrow)


def blend_many(x: Any, out: Any, sources: np.ndarray, weights: np.ndarray, copy: np.ndarray) -> bool:
    """``out[i] = sum_j weights[i, j] * x[sources[i, j]]``; False when not handled."""
    spec = _cuda._rows_of(x, out)
    if spec is None:
        return False
    _, xr, outr = spec
    target = torch.empty_like(xr) if outr is None else outr
    b, n = xr.shape
    k = int(sources.shape[1])
    cdt, is_int, lo_i, hi_i = _cuda._DTYPES[x.dtype]
    plan = _cuda._Plan()
    k_s = plan.add(np.asarray(sources, np.int64))
    k_w = plan.add(np.asarray(weights, np.float64))
    k_c = plan.add(np.asarray(copy, np.int64))
    v = plan.upload(x.device)
    cb = min(triton.next_power_of_2(n), _TILE)
    ncb = triton.cdiv(n, cb)
    with _cuda._quiet():
        _nway_kernel[(b * ncb,)](xr, target, v[k_s], v[k_w], v[k_c], n, k, ncb, CB=cb, CDT=cdt,
                                 IS_INT=is_int, LO_I=lo_i, HI_I=hi_i, num_warps=_cuda._NUM_WARPS,
                                 **_cuda._OPTIONS)
    if outr is None:
        xr.copy_(target)
    return True

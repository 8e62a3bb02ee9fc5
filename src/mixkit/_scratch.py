"""Per-thread scratch memory for the kernels' cache-sized temporaries.

Fresh memory costs a page fault per 4 KiB page on first touch; for a 1 MiB temporary that is as
much time as mixing a small batch. So each thread keeps a few reusable buffers per device, each
at most ``SCRATCH_LIMIT`` bytes. Only temporaries live there: nothing in them is returned to the
caller or read before it is written in the same call. On CUDA the reuse is ordered by the
stream: one thread that alternates kernels between streams without synchronising could let two
calls touch one buffer at once (not exercised here: no GPU in the test setup).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["SCRATCH_LIMIT", "scratch"]

SCRATCH_LIMIT = 8 << 20
_local = threading.local()


def scratch(like: Any, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialised array of ``shape`` and ``dtype`` on ``like``'s library and device.

    Two calls with the same ``name`` on one thread share memory; use distinct names for buffers
    alive at the same time.
    """
    is_np = isinstance(like, np.ndarray)
    count = 1
    for s in shape:
        count *= int(s)
    if is_np:
        dt = np.dtype(dtype)
        nbytes = count * dt.itemsize
    else:
        import torch

        dt = dtype
        nbytes = count * dt.itemsize
    if nbytes > SCRATCH_LIMIT:
        if is_np:
            return np.empty(shape, dtype=dt)
        return torch.empty(shape, dtype=dt, device=like.device)
    bufs = _local.__dict__.setdefault("bufs", {})
    key = (name, "numpy") if is_np else (name, str(like.device))
    buf = bufs.get(key)
    if buf is None or buf.shape[0] < nbytes:
        size = max(nbytes, 64 << 10)
        buf = np.empty(size, dtype=np.uint8) if is_np else torch.empty(size, dtype=torch.uint8,
                                                                          device=like.device)
        bufs[key] = buf
    if is_np:
        return buf[:nbytes].view(dt).reshape(shape)
    return buf[:nbytes].view(dt).view(shape)

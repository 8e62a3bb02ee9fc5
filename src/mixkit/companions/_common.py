"""Small helpers shared by the companion modules: library round trips and plan geometry."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._xp import backend, to_numpy

__all__ = ["like", "plan_kind", "take_rows", "to_tensor"]


def like(a: np.ndarray, ref: Any, dtype: Any = None) -> Any:
    """``a`` (NumPy) in the library and device of ``ref``; ``dtype`` defaults to ``ref``'s."""
    kind = backend(ref)
    if kind == "numpy":
        return np.asarray(a, dtype=ref.dtype if dtype is None else dtype)
    if kind == "torch":
        import torch

        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(ref.device, ref.dtype if dtype is None else dtype)
    raise TypeError(
        f"companions (masks, boxes, keypoints, padding) need NumPy arrays or torch tensors; got {type(ref).__name__}"
    )


def host(a: Any) -> np.ndarray:
    """A NumPy copy of any supported array or nested list."""
    if isinstance(a, (list, tuple)):
        return np.asarray(a)
    return np.asarray(to_numpy(a))


def to_tensor(a: Any, device: Any, dtype: Any = None) -> Any:
    """A torch tensor copy of the NumPy array ``a`` (plans hold read-only arrays) on ``device``."""
    import torch

    return torch.from_numpy(np.array(a, copy=True)).to(device, dtype)


def take_rows(a: Any, index: np.ndarray) -> Any:
    """``a[index]`` along axis 0, in ``a``'s library (NumPy or torch)."""
    if backend(a) == "torch":
        return a.index_select(0, to_tensor(np.asarray(index, dtype=np.int64), a.device))
    return np.take(a, index, axis=0)


def plan_kind(plan: Any) -> str:
    """The plan's declared ``geometry`` (``"box"``, ``"mask"``, ``"blend"``), or ``"custom"`` for a plan
    that moves its companions itself or carries none."""
    kind = plan.geometry
    return "custom" if kind is None else kind


def unsupported(plan: Any, what: str) -> ValueError:
    """The error for a plan type that does not say how to move ``what``."""
    return ValueError(
        f"{type(plan).__name__} does not say how to mix {what}; use MixUp, CutMix, a mask method, "
        "ClassMix or Mosaic for samples with companions"
    )

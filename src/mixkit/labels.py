"""Labels: class indices or probabilities in, soft targets mixed with the same plan out.

Index labels ``(B,)`` (integers in ``[0, num_classes)``) and probability or multi-hot labels
``(B, C)`` are accepted. Dense targets are ``(B, C)`` floats; for a mixed sample
``target[i] = lam[i] * y[i] + (1 - lam[i]) * y[partner[i]]``.
For very many classes, :class:`MixedTargets` keeps the pair ``(y_a, y_b, lam)`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import check_probability
from ._xp import backend, dtype_kind, to_numpy
from .kernels import blend

__all__ = ["MixedTargets", "as_targets", "check_labels", "mix_targets", "one_hot", "smooth_labels"]


def _xp(y: Any) -> Any:
    if backend(y) == "numpy":
        return np
    import array_api_compat

    return array_api_compat.array_namespace(y)


def _float_dtype(y: Any) -> Any:
    """Target dtype: a float ``y`` keeps its dtype, anything else becomes float32."""
    xp = _xp(y)
    if dtype_kind(y) == "f":
        return y.dtype
    return xp.float32


def check_labels(y: Any, batch_size: int, num_classes: int | None, name: str = "y") -> Any:
    """Validate labels for a batch of ``batch_size``; return them as an array (lists become NumPy)."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    kind = backend(y)
    shape = tuple(y.shape)
    letter = dtype_kind(y)
    if letter in "cO":
        raise TypeError(f"{name} has dtype {y.dtype}; expected integer class indices or float probabilities")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if len(shape) == 0 or len(shape) > 2:
        raise ValueError(
            f"{name} should be class indices with shape (batch_size,) or probabilities with shape "
            f"(batch_size, num_classes), but got an array of shape {shape}"
        )
    if shape[0] != batch_size:
        raise ValueError(
            f"x has batch size {batch_size} but {name} has {shape[0]} labels; "
            "give one label (or one row of probabilities) per sample"
        )
    if len(shape) == 1:
        if letter in "fb":
            raise TypeError(
                f"{name} of shape {shape} must hold integer class indices, got dtype {y.dtype}; "
                "cast indices to int, or pass probabilities of shape (batch_size, num_classes)"
            )
        if num_classes is None:
            raise ValueError(
                f"{name} holds class indices of shape {shape}, so num_classes is needed to build "
                "targets; pass num_classes=C (or give probabilities of shape (batch_size, C))"
            )
        # The range check reads two numbers back to the host; on an accelerator that would stall the
        # device every call, so it runs for host arrays only (a bad index still fails in the one-hot).
        on_host = kind != "torch" or y.device.type == "cpu"
        if batch_size and on_host:
            host = to_numpy(y) if kind != "torch" else y.detach()
            lo, hi = int(host.min()), int(host.max())
            if lo < 0:
                raise ValueError(f"{name} has a negative class index ({lo}); indices must lie in [0, {num_classes})")
            if hi >= num_classes:
                raise ValueError(
                    f"{name} has class index {hi}, out of range for num_classes={num_classes}; "
                    f"indices must lie in [0, {num_classes})"
                )
        return y
    if num_classes is not None and shape[1] != num_classes:
        raise ValueError(
            f"{name} has {shape[1]} columns but num_classes={num_classes}; they must agree"
        )
    return y


def one_hot(y: Any, num_classes: int, *, dtype: Any = None) -> Any:
    """One-hot rows ``(B, num_classes)`` for class indices ``(B,)``, in ``y``'s library and device."""
    xp = _xp(y)
    dtype = xp.float32 if dtype is None else dtype
    if backend(y) == "torch":
        import torch

        out = torch.zeros((y.shape[0], num_classes), dtype=dtype, device=y.device)
        return out.scatter_(1, y.long().view(-1, 1), 1.0)
    classes = xp.arange(num_classes)
    if backend(y) != "numpy":
        import array_api_compat

        classes = xp.asarray(classes, device=array_api_compat.device(y))
    return xp.astype(xp.reshape(y, (-1, 1)) == classes, dtype)


def smooth_labels(targets: Any, eps: float) -> Any:
    """Label smoothing: ``(1 - eps) * targets + eps / C`` for targets ``(B, C)``; a new array."""
    eps = check_probability(eps, "label_smoothing")
    c = targets.shape[-1]
    return targets * (1.0 - eps) + eps / c


def as_targets(y: Any, *, num_classes: int | None = None, label_smoothing: float = 0.0) -> Any:
    """Dense float targets ``(B, C)`` from class indices ``(B,)`` or probabilities ``(B, C)``."""
    y = check_labels(y, y.shape[0] if hasattr(y, "shape") else len(y), num_classes)
    if len(y.shape) == 1:
        t = one_hot(y, int(num_classes))  # type: ignore[arg-type]
    else:
        t = _xp(y).astype(y, _float_dtype(y)) if dtype_kind(y) != "f" else y
    if label_smoothing:
        t = smooth_labels(t, label_smoothing)
    return t


def mix_targets(targets: Any, partner: np.ndarray, lam: np.ndarray) -> Any:
    """Mix dense targets ``(B, C)`` with a plan's ``partner`` and ``lam``; a new array."""
    return blend(targets, partner, lam)


@dataclass(frozen=True, eq=False)
class MixedTargets:
    """The pair form of mixed labels: sample ``i`` is ``lam[i]`` of ``y_a[i]`` and ``1 - lam[i]`` of ``y_b[i]``.

    ``y_a``/``y_b``: class indices ``(B,)`` or probabilities ``(B, C)``; ``lam``: float ``(B,)``, in the
    labels' library and device. Use :meth:`dense` for ``(B, C)`` targets, or
    ``mixkit.torch.mixed_cross_entropy`` for the loss without building them.
    """

    y_a: Any
    y_b: Any
    lam: Any
    num_classes: int | None = None
    label_smoothing: float = 0.0

    def dense(self, num_classes: int | None = None) -> Any:
        """Dense targets ``(B, C)``, equal to mixing the one-hot (or given) rows with ``lam``."""
        c = num_classes if num_classes is not None else self.num_classes
        ta = as_targets(self.y_a, num_classes=c, label_smoothing=self.label_smoothing)
        tb = as_targets(self.y_b, num_classes=c, label_smoothing=self.label_smoothing)
        xp = _xp(ta)
        lam = xp.reshape(xp.astype(self.lam, ta.dtype), (-1, 1))
        return lam * ta + (1 - lam) * tb

    def __len__(self) -> int:
        return int(self.y_a.shape[0])


def pair_targets(y: Any, partner: np.ndarray, lam: np.ndarray, *, num_classes: int | None,
                 label_smoothing: float) -> MixedTargets:
    """Build :class:`MixedTargets` for validated labels ``y`` and a plan's ``partner``/``lam``."""
    kind = backend(y)
    if kind == "numpy":
        y_b = np.take(y, partner, axis=0)
        lam_arr = np.asarray(lam, dtype=np.float32 if dtype_kind(y) != "f" else y.dtype)
    elif kind == "torch":
        import torch

        idx = torch.tensor(np.asarray(partner, dtype=np.int64)).to(y.device, non_blocking=True)
        y_b = y.index_select(0, idx)
        ldt = y.dtype if y.is_floating_point() else torch.float32
        lam_arr = torch.tensor(np.asarray(lam, dtype=np.float64)).to(y.device, ldt, non_blocking=True)
    else:
        import array_api_compat

        xp = _xp(y)
        dev = array_api_compat.device(y)
        y_b = xp.take(y, xp.asarray(partner, device=dev), axis=0)
        lam_arr = xp.asarray(lam, dtype=_float_dtype(y), device=dev)
    return MixedTargets(y, y_b, lam_arr, num_classes, label_smoothing)

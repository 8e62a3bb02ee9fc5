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

__all__ = ["TARGET_KINDS", "MixedTargets", "as_targets", "check_continuous", "check_labels", "check_probabilities",
           "mix_continuous", "mix_targets", "one_hot", "smooth_labels"]

#: what a method's ``targets=`` option may say: class labels (indices or probability rows) or
#: continuous values (regression targets ``(B,)`` or ``(B, D)``)
TARGET_KINDS = ("classes", "continuous")


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


def _empty_list_labels(y: Any) -> Any:
    """A Python list or tuple as a NumPy array; an empty one (an empty batch) as int64 class indices."""
    if isinstance(y, (list, tuple)):
        return np.asarray(y) if len(y) else np.zeros(0, dtype=np.int64)
    return y


def _on_host(y: Any) -> bool:
    """Whether ``y``'s values can be read without stalling an accelerator (NumPy, CPU tensors)."""
    return backend(y) != "torch" or y.device.type == "cpu"


def _host_values(y: Any) -> np.ndarray:
    """The values of a host array as NumPy (a view where the dtype allows; bfloat16 read as float32)."""
    if backend(y) == "torch":
        import torch

        v = y.detach()
        return (v.float() if v.dtype == torch.bfloat16 else v).numpy()
    return np.asarray(to_numpy(y))


def _sum_tolerance(y: Any, values: np.ndarray) -> float:
    """How far from 1 a row of probabilities of ``y``'s dtype may sum (float32, 16-bit rounding)."""
    if dtype_kind(y) != "f":
        return 0.0
    size = getattr(y.dtype, "itemsize", None) if backend(y) == "torch" else values.dtype.itemsize
    return {8: 1e-6, 4: 1e-4}.get(int(size or 4), 3e-2)


def check_probabilities(y: Any, name: str = "y") -> None:
    """Refuse rows ``(B, C)`` that are neither probabilities nor multi-hot, with a ValueError.

    Every entry must be finite and in ``[0, 1]``; each row must sum to 1 (within the rounding of its
    dtype) unless it is multi-hot (only 0 and 1, any number of ones). Host arrays only: on an
    accelerator the check would stall the device, so device tensors pass unchecked.
    """
    if not _on_host(y) or y.shape[0] == 0 or y.shape[1] == 0:
        return
    v = _host_values(y)
    lo, hi = float(v.min()), float(v.max())
    if not (lo >= 0.0 and hi <= 1.0):  # NaN fails both comparisons
        if np.isnan(lo) or np.isnan(hi):
            raise ValueError(f"{name} holds NaN; probability or multi-hot rows (B, C) must be finite")
        raise ValueError(
            f"{name} has values from {lo:.4g} to {hi:.4g}; probability or multi-hot rows (B, C) must lie "
            "in [0, 1] (for class indices give shape (B,) with num_classes)"
        )
    sums = v.sum(axis=1, dtype=np.float64)
    off = np.flatnonzero(np.abs(sums - 1.0) > _sum_tolerance(y, v))
    if off.size == 0:
        return
    rows = v[off]
    fractional = ~((rows == 0) | (rows == 1)).all(axis=1)
    if fractional.any():
        worst = int(off[np.argmax(fractional)])
        raise ValueError(
            f"row {worst} of {name} sums to {float(sums[worst]):.6g}; probability rows (B, C) must sum to 1 "
            "(multi-hot rows of only 0 and 1 may hold any number of ones)"
        )


def check_labels(y: Any, batch_size: int, num_classes: int | None, name: str = "y") -> Any:
    """Validate labels for a batch of ``batch_size``; return them as an array (lists become NumPy).

    Class indices ``(B,)`` must be integers in ``[0, num_classes)``; rows ``(B, C)`` probabilities
    (finite, in [0, 1], summing to 1) or multi-hot (0 and 1). Values are read on the host only: device
    tensors get the shape and dtype checks, no check that would synchronise with the device.
    """
    y = _empty_list_labels(y)
    shape = tuple(y.shape)
    letter = dtype_kind(y)
    if letter in "cO":
        raise TypeError(f"{name} has dtype {y.dtype}; expected integer class indices or float probabilities")
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
    ):
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
        # device every call, so it runs for host arrays only.
        _check_index_range(y, int(num_classes), name)
        return y
    if num_classes is not None and shape[1] != num_classes:
        raise ValueError(
            f"{name} has {shape[1]} columns but num_classes={num_classes}; they must agree"
        )
    if letter != "b":
        check_probabilities(y, name)
    return y


def check_continuous(y: Any, batch_size: int, name: str = "y") -> Any:
    """Validate continuous targets ``(B,)`` or ``(B, D)`` for a batch of ``batch_size``; return them as a
    floating array in their library (lists become NumPy).

    Integer targets are accepted and cast to a float: float64 for NumPy, torch's default float dtype
    for tensors (float32 unless changed). NaN or infinite values raise a ValueError for host arrays;
    device tensors get the shape and dtype checks only (reading values would stall the device).
    """
    if isinstance(y, (list, tuple)):
        y = np.asarray(y, dtype=np.float64) if len(y) else np.zeros(0, dtype=np.float64)
    shape = tuple(y.shape)
    letter = dtype_kind(y)
    if letter in "cObU":
        raise TypeError(f"{name} has dtype {y.dtype}; continuous targets must be real numbers (float or int)")
    if len(shape) == 0 or len(shape) > 2:
        raise ValueError(
            f"continuous {name} should have shape (batch_size,) or (batch_size, D), but got an array of "
            f"shape {shape}"
        )
    if shape[0] != batch_size:
        raise ValueError(
            f"x has batch size {batch_size} but {name} has {shape[0]} targets; give one target per sample"
        )
    if letter != "f":
        kind = backend(y)
        if kind == "torch":
            import torch

            y = y.to(torch.get_default_dtype())
        elif kind == "numpy":
            y = np.asarray(y, dtype=np.float64)
        else:
            y = _xp(y).astype(y, _xp(y).float64)
    if _on_host(y) and y.shape[0] and (len(shape) == 1 or shape[1]):
        v = _host_values(y)
        if not np.all(np.isfinite(v)):
            bad = "NaN" if np.isnan(v).any() else "an infinite value"
            raise ValueError(f"continuous {name} holds {bad}; every target must be finite")
    return y


def mix_continuous(y: Any, plan: Any) -> Any:
    """Continuous targets ``(B,)`` or ``(B, D)`` mixed by ``plan`` (``lam * y + (1 - lam) * y[partner]``,
    or the plan's own weights), in ``y``'s shape, dtype and library."""
    shape = tuple(y.shape)
    xp = _xp(y)
    width = 1
    for n in shape[1:]:
        width *= int(n)
    flat = xp.reshape(y, (shape[0], width))
    return xp.reshape(plan.mix_targets(flat), shape)


def _check_index_range(y: Any, num_classes: int, name: str) -> None:
    """Class indices in ``[0, num_classes)``, checked for host arrays (a ValueError otherwise)."""
    if y.shape[0] == 0 or not _on_host(y):
        return
    host = _host_values(y)
    lo, hi = int(host.min()), int(host.max())
    if lo < 0:
        raise ValueError(f"{name} has a negative class index ({lo}); indices must lie in [0, {num_classes})")
    if hi >= num_classes:
        raise ValueError(
            f"{name} has class index {hi}, out of range for num_classes={num_classes}; "
            f"indices must lie in [0, {num_classes})"
        )


def one_hot(y: Any, num_classes: int, *, dtype: Any = None) -> Any:
    """One-hot rows ``(B, num_classes)`` for class indices ``(B,)``, in ``y``'s library and device.

    Indices outside ``[0, num_classes)`` raise a ValueError for host arrays; on an accelerator they are
    not read back (that would stall the device), and torch's own device-side check applies.
    """
    y = _empty_list_labels(y)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if len(y.shape) != 1 or dtype_kind(y) not in "iu":
        raise TypeError(
            f"one_hot takes integer class indices of shape (B,), got dtype {y.dtype} and shape {tuple(y.shape)}"
        )
    num_classes = int(num_classes)
    _check_index_range(y, num_classes, "y")
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
    ``mixkit.torch.mixed_cross_entropy`` for the loss without building them. With
    ``targets="continuous"``, ``y_a``/``y_b`` are float regression targets ``(B,)`` or ``(B, D)``
    and :meth:`dense` gives ``lam * y_a + (1 - lam) * y_b`` in their shape (use a regression loss on
    each side, weighted by ``lam``; the cross-entropy helpers refuse them).
    """

    y_a: Any
    y_b: Any
    lam: Any
    num_classes: int | None = None
    label_smoothing: float = 0.0
    targets: str = "classes"

    def dense(self, num_classes: int | None = None) -> Any:
        """Dense targets ``(B, C)``, equal to mixing the one-hot (or given) rows with ``lam``
        (continuous targets: ``lam * y_a + (1 - lam) * y_b``, shaped as ``y_a``)."""
        if self.targets == "continuous":
            xp = _xp(self.y_a)
            lam = xp.astype(self.lam, self.y_a.dtype)
            if len(self.y_a.shape) == 2:
                lam = xp.reshape(lam, (-1, 1))
            return lam * self.y_a + (1 - lam) * self.y_b
        c = num_classes if num_classes is not None else self.num_classes
        ta = as_targets(self.y_a, num_classes=c, label_smoothing=self.label_smoothing)
        tb = as_targets(self.y_b, num_classes=c, label_smoothing=self.label_smoothing)
        xp = _xp(ta)
        lam = xp.reshape(xp.astype(self.lam, ta.dtype), (-1, 1))
        return lam * ta + (1 - lam) * tb

    def to(self, device: Any = None, dtype: Any = None, *, non_blocking: bool = False) -> MixedTargets:
        """A new :class:`MixedTargets` with ``y_a``, ``y_b`` and ``lam`` on ``device`` (torch).

        ``dtype`` applies to the floating tensors (``lam``, probability rows); class indices keep their
        integer dtype. NumPy pair forms live on the host: ``device`` None or ``"cpu"`` keeps them there
        (``dtype`` still converts), any other device raises a ValueError (use torch tensors for that).
        """
        kind = backend(self.lam)
        if kind == "torch":
            def move(t: Any) -> Any:
                if dtype is not None and t.is_floating_point():
                    return t.to(device=device, dtype=dtype, non_blocking=non_blocking)
                return t.to(device=device, non_blocking=non_blocking)
        elif kind == "numpy":
            if device is not None and str(device) != "cpu":
                raise ValueError(
                    f"these MixedTargets hold NumPy arrays, which live on the host; cannot move them to "
                    f"{device!r}. Mix torch tensors to get targets on a device"
                )

            def move(t: Any) -> Any:
                return t.astype(dtype) if dtype is not None and dtype_kind(t) == "f" else t
        else:
            raise TypeError(f"MixedTargets.to needs torch tensors or NumPy arrays, got {type(self.lam).__name__}")
        return MixedTargets(move(self.y_a), move(self.y_b), move(self.lam), self.num_classes, self.label_smoothing,
                            self.targets)

    def __len__(self) -> int:
        return int(self.y_a.shape[0])


def pair_targets(y: Any, partner: np.ndarray, lam: np.ndarray, *, num_classes: int | None,
                 label_smoothing: float, targets: str = "classes") -> MixedTargets:
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
    return MixedTargets(y, y_b, lam_arr, num_classes, label_smoothing, targets)

"""Checks at the public boundary: each error says what was expected, what came, and how to fix it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._xp import backend, dtype_kind

__all__ = [
    "as_generator",
    "check_alpha",
    "check_axes_option",
    "check_batch",
    "check_batch_size",
    "check_choice",
    "check_lam",
    "check_probability",
    "check_range",
    "normalize_axes",
]

RngLike = "int | numpy.random.Generator | numpy.random.SeedSequence | None"


def as_generator(rng: Any) -> np.random.Generator:
    """Normalise ``rng`` (int seed, Generator, SeedSequence or None) to a Generator; never the global RNG."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng < 0:
            raise ValueError(f"rng seed must be a non-negative int, got {rng}")
        if isinstance(rng, bool):
            raise TypeError("rng must be an int seed, a numpy.random.Generator or None, got bool")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "rng must be an int seed, a numpy.random.Generator or None; got the legacy "
            "numpy.random.RandomState: pass numpy.random.default_rng(seed) instead"
        )
    raise TypeError(
        f"rng must be an int seed, a numpy.random.Generator, a SeedSequence or None, got {type(rng).__name__}"
    )


def _finite_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """``alpha`` of Beta(alpha, alpha): a finite number > 0."""
    value = _finite_float(name, alpha)
    if value <= 0:
        raise ValueError(
            f"{name} must be > 0 (the parameter of Beta({name}, {name})), got {value}; "
            "to switch mixing off use p=0.0"
        )
    return value


def check_probability(p: Any, name: str = "p") -> float:
    value = _finite_float(name, p)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


def check_lam(lam: Any, name: str = "lam") -> float:
    value = _finite_float(name, lam)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] (the weight of each sample's own data), got {value}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_batch(x: Any, name: str = "x", *, min_ndim: int = 1) -> str:
    """Check that ``x`` is a real-valued batch ``(B, ...)``; return its backend name."""
    kind = backend(x)
    letter = dtype_kind(x)
    if letter == "b":
        raise TypeError(
            f"{name} has dtype {x.dtype}: a boolean batch cannot be mixed; convert it to a float "
            "or uint8 array first"
        )
    if letter == "c":
        raise TypeError(f"{name} has complex dtype {x.dtype}; mixkit mixes real-valued batches only")
    if letter == "O":
        raise TypeError(f"{name} has dtype {x.dtype}; expected a float or integer array")
    if len(x.shape) < min_ndim:
        raise ValueError(
            f"{name} must be a batch with the batch axis first, of at least {min_ndim} dimension(s); "
            f"got shape {tuple(x.shape)}"
        )
    return kind


def normalize_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    """Axes counted on the full batch shape (axis 0 is the batch): non-negative, unique, never 0."""
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = (int(axes),)
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"axes must be an int or a tuple of ints, got {type(axes).__name__}") from None
    if not axes:
        raise ValueError("axes must name at least one axis to cut along, got ()")
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axes must be ints, got {a!r} in {axes!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axis {a} is out of range for a batch of {ndim} dimensions (valid: {-ndim}..{ndim - 1})"
            )
        a = a % ndim
        if a == 0:
            raise ValueError(
                f"axes {axes!r} include the batch axis 0; name the sample's axes, e.g. (-2, -1) for NCHW"
            )
        out.append(a)
    if len(set(out)) != len(out):
        raise ValueError(f"axes {axes!r} repeat an axis (normalised: {tuple(out)}); name each axis once")
    return tuple(out)


def check_axes_option(axes: Any) -> tuple[int, ...]:
    """Validate an ``axes=`` option (an int or a non-empty tuple of ints), before the batch is known."""
    axes_t = (axes,) if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool) else axes
    try:
        axes_t = tuple(axes_t)
    except TypeError:
        raise TypeError(f"axes must be an int or a tuple of ints, got {type(axes).__name__}") from None
    if not axes_t:
        raise ValueError("axes must name at least one axis to mix or cut along, got ()")
    if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes_t):
        raise TypeError(f"axes must be ints, got {axes_t!r}")
    if len({int(a) for a in axes_t}) != len(axes_t):
        raise ValueError(f"axes {axes_t!r} repeat an axis; name each axis once")
    return tuple(int(a) for a in axes_t)


def check_range(name: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> tuple[Any, Any]:
    """A ``(low, high)`` pair with ``lo <= low <= high <= hi`` (ints when ``integer``)."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}") from None
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if any(isinstance(v, bool) or not isinstance(v, kinds) for v in (a, b)):
        what = "ints" if integer else "numbers"
        raise TypeError(f"{name} must be a pair of {what}, got {value!r}")
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return (int(a), int(b)) if integer else (float(a), float(b))


def check_batch_size(batch_size: Any, shape: tuple[int, ...] | None) -> int:
    """A non-negative batch size that agrees with ``shape[0]`` when a shape is given."""
    if isinstance(batch_size, bool) or not hasattr(batch_size, "__index__") or int(batch_size) < 0:
        raise ValueError(f"batch_size must be a non-negative int, got {batch_size!r}")
    batch_size = int(batch_size)
    if shape is not None and (len(shape) == 0 or int(shape[0]) != batch_size):
        raise ValueError(
            f"shape must be the batch's full shape (B, ...) with B == batch_size={batch_size}; got {tuple(shape)}"
        )
    return batch_size

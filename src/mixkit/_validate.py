"""Checks at the public boundary: each error says what was expected, what came, and how to fix it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._xp import backend, dtype_kind

__all__ = [
    "check_alpha",
    "check_probability",
    "check_lam",
    "check_batch",
    "normalize_axes",
    "as_generator",
    "check_choice",
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

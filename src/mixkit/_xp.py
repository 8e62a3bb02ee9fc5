"""Array-library helpers: recognise NumPy, PyTorch and other Array-API arrays without importing them."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["backend", "is_numpy", "is_torch", "dtype_kind", "to_numpy"]


def is_numpy(x: Any) -> bool:
    return isinstance(x, np.ndarray)


def is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def backend(x: Any) -> str:
    """Return ``"numpy"``, ``"torch"`` or ``"array_api"`` for an array; raise TypeError otherwise."""
    if is_numpy(x):
        return "numpy"
    if is_torch(x):
        return "torch"
    if hasattr(x, "__array_namespace__") and hasattr(x, "shape") and hasattr(x, "dtype"):
        return "array_api"
    raise TypeError(
        f"expected an array (numpy.ndarray, torch.Tensor or an Array-API array), got {type(x).__name__}"
    )


def dtype_kind(x: Any) -> str:
    """One letter for the dtype family: ``f`` float, ``u``/``i`` integer, ``b`` bool, ``c`` complex, ``O`` other."""
    kind = backend(x)
    if kind == "numpy":
        return x.dtype.kind if x.dtype.kind in "fuibc" else "O"
    if kind == "torch":
        torch = sys.modules["torch"]
        dt = x.dtype
        if dt == torch.bool:
            return "b"
        if dt.is_complex:
            return "c"
        if dt.is_floating_point:
            return "f"
        if dt == torch.uint8:
            return "u"
        if dt in (torch.int8, torch.int16, torch.int32, torch.int64):
            return "i"
        return "u" if str(dt).startswith("torch.uint") else "O"
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    for kind_name, letter in (
        ("bool", "b"),
        ("complex floating", "c"),
        ("real floating", "f"),
        ("unsigned integer", "u"),
        ("signed integer", "i"),
    ):
        if xp.isdtype(x.dtype, kind_name):
            return letter
    return "O"


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view or copy of any supported array (host memory)."""
    kind = backend(x)
    if kind == "numpy":
        return x
    if kind == "torch":
        return x.detach().cpu().numpy()
    return np.asarray(x)

"""What the PyTorch glue needs to know about a transform tree: its members, who needs what, and a
float shared with DataLoader workers."""

from __future__ import annotations

import math
import multiprocessing
from multiprocessing import context as _mp_context
from typing import Any

from ..methods._base import Mixer

__all__ = ["SharedFloat", "members", "who_needs"]


def members(transform: Any) -> list[Any]:
    """Every object reachable from ``transform`` through the attributes of its transforms (the
    members of a ``OneOf``, the transform a ``Scheduled`` wraps, a ``base``, their class counts ...),
    each once, ``transform`` first."""
    seen: set[int] = set()
    out: list[Any] = []
    stack = [transform]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, Mixer):
            stack.extend(reversed(list(vars(obj).values())))
        elif isinstance(obj, (list, tuple)):
            stack.extend(reversed(obj))
    return out


def who_needs(transform: Mixer, what: str) -> str:
    """The name of the method in ``transform`` that needs ``what`` to sample (``"Remix"`` for a
    ``Scheduled(Remix(...))``), for error messages."""
    names = sorted({type(m).__name__ for m in members(transform)
                    if isinstance(m, Mixer) and what in _needs(m) and not _wraps_others(m)})
    return " / ".join(names) if names else type(transform).__name__


def _needs(m: Mixer) -> frozenset[str]:
    return frozenset(getattr(m, "needs", frozenset()))


def _wraps_others(m: Mixer) -> bool:
    return any(isinstance(v, Mixer) or (isinstance(v, (list, tuple)) and any(isinstance(i, Mixer) for i in v))
               for k, v in vars(m).items() if k != "base")


class SharedFloat:
    """A float in shared memory, made before DataLoader workers start: a worker started by ``fork``
    inherits it, one started by ``spawn``/``forkserver`` gets it when the worker process is created,
    and both then see every later write of the main process. ``nan`` means "not set".

    Pickled at any other time (``pickle.dumps``, ``copy.deepcopy``) it becomes a plain float of the
    current value, no longer shared.
    """

    def __init__(self, value: float = math.nan) -> None:
        self._raw: Any = multiprocessing.RawValue("d", float(value))
        self._plain = math.nan

    @property
    def value(self) -> float:
        return float(self._raw.value) if self._raw is not None else self._plain

    @value.setter
    def value(self, value: float) -> None:
        if self._raw is not None:
            self._raw.value = float(value)
        else:
            self._plain = float(value)

    def __getstate__(self) -> dict[str, Any]:
        if _mp_context.get_spawning_popen() is not None:  # creating a worker process: stay shared
            return {"_raw": self._raw, "_plain": math.nan}
        return {"_raw": None, "_plain": self.value}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._raw = state["_raw"]
        self._plain = state["_plain"]

    def __repr__(self) -> str:
        return f"SharedFloat({self.value})"

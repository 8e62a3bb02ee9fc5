"""Small reference models that train in seconds on a CPU, and user model factories.

A factory is called as ``factory(input_shape, num_classes)`` with ``input_shape`` the shape of one
sample (no batch axis) and returns a ``torch.nn.Module`` mapping ``(B, *input_shape)`` to logits
``(B, num_classes)``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import SweepError
from .text_models import text_head

__all__ = [
    "DEFAULT_MODELS",
    "build_model",
    "callable_name",
    "check_factory",
    "load_function",
    "resolve_factory",
    "script_of",
]

DEFAULT_MODELS = {"image": "cnn", "series": "cnn1d", "tabular": "mlp", "text": "text"}


def small_cnn(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Images ``(C, H, W)``: two 3x3 conv blocks, a pooled third block, global average, linear."""
    from torch import nn

    c = input_shape[0]
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


def small_cnn1d(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Series ``(C, T)``: three 1-D conv blocks (kernels 7, 5, 3), global average pooling, linear."""
    from torch import nn

    c = input_shape[0]
    return nn.Sequential(
        nn.Conv1d(c, 32, 7, padding=3),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Conv1d(32, 64, 5, padding=2),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Conv1d(64, 64, 3, padding=1),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


def small_mlp(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Tabular rows or embeddings ``(D,)``: two hidden layers of 128 units."""
    from torch import nn

    d = 1
    for s in input_shape:
        d *= int(s)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(d, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


_BUILTIN: dict[str, Callable[..., Any]] = {
    "cnn": small_cnn,
    "cnn1d": small_cnn1d,
    "mlp": small_mlp,
    "text": text_head,  # sentence embeddings (D,); its hidden blocks are what tmix mixes
}


def callable_name(fn: Any) -> str:
    """A stable identity ``"module:qualname"`` of a function (the store keeps results of different
    functions apart by it). ``functools.partial`` adds its bound arguments; a callable object is named
    by its class, plus its ``repr`` when that says more than the address. A function of a script is
    ``"__main__:name"`` (see :func:`script_of`)."""
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in sorted(fn.keywords.items())]
        return f"{callable_name(fn.func)}({', '.join(args)})"
    target = _named(fn)
    module = getattr(target, "__module__", None) or "?"
    name = f"{module}:{getattr(target, '__qualname__', type(target).__name__)}"
    if target is type(fn) and " at 0x" not in repr(fn):
        name += f"[{fn!r}]"
    return name


def _named(fn: Any) -> Any:
    """What carries the name: the function or class itself, else the callable object's class."""
    return fn if inspect.isroutine(fn) or inspect.isclass(fn) else type(fn)


def script_of(fn: Any) -> str | None:
    """The script file that defines ``fn`` when it lives in ``__main__`` (else None)."""
    fn = fn.func if isinstance(fn, functools.partial) else fn
    target = _named(fn)
    if getattr(target, "__module__", None) != "__main__":
        return None
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return str(Path(main_file).resolve()) if main_file else None


def load_function(spec: str, *, option: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (``module`` dotted, ``function`` may be ``Class.method``).

    The module is looked up on ``sys.path`` and then in the current folder (added to ``sys.path``, as
    ``python -m`` does), so ``mymodule.py`` next to where the command runs is found without
    ``PYTHONPATH``. Errors say what was tried. ``option`` names the setting in messages (``--train``).
    """
    module_name, sep, attr = str(spec).partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not sep or not module_name or not attr:
        raise SweepError(f"{option} must be 'module:function', got {spec!r}")
    try:
        module = _import(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if exc.name is not None and top.startswith(exc.name):
            raise SweepError(
                f"{option} {spec}: no module named {module_name!r}; looked on sys.path and in the "
                f"current folder {os.getcwd()} (is {top}.py or the package {top}/ there? run from its "
                "folder or set PYTHONPATH)"
            ) from None
        raise SweepError(
            f"{option} {spec}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        raise SweepError(
            f"{option} {spec}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if not callable(obj):
        found = getattr(module, "__file__", None) or module_name
        raise SweepError(
            f"{option} {spec}: module {module_name!r} ({found}) has no callable {attr!r}"
        )
    return obj


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        top = module_name.split(".")[0]
        if exc.name is None or not top.startswith(exc.name) or cwd in sys.path:
            raise
        sys.path.append(cwd)  # the current folder, as `python -m` has it (last: never shadows)
        importlib.invalidate_caches()
        return importlib.import_module(module_name)


def resolve_factory(
    spec: str | Callable[..., Any] | None, kind: str
) -> tuple[str, Callable[..., Any]]:
    """``None``/``"auto"`` (the reference model for ``kind``), ``cnn``/``cnn1d``/``mlp``,
    ``"module:function"`` or a callable; returns ``(name, factory)``."""
    if callable(spec):
        return callable_name(spec), spec
    if spec is None or spec == "auto":
        spec = DEFAULT_MODELS[kind]
    if not isinstance(spec, str):
        raise SweepError(
            f"--model must be auto, {', '.join(_BUILTIN)}, 'module:function' or a callable, "
            f"got {type(spec).__name__}"
        )
    if spec in _BUILTIN:
        return spec, _BUILTIN[spec]
    if ":" not in spec:
        raise SweepError(
            f"--model must be auto, {', '.join(_BUILTIN)} or 'module:function', got {spec!r}"
        )
    return spec, load_function(spec, option="--model")


def build_model(factory: Callable[..., Any], input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Call the factory and check that it gave a ``torch.nn.Module``."""
    from torch import nn

    model = factory(tuple(input_shape), int(num_classes))
    if not isinstance(model, nn.Module):
        raise SweepError(
            f"the model factory returned {type(model).__name__}, expected a torch.nn.Module"
        )
    return model


def check_factory(
    factory: Callable[..., Any], input_shape: tuple[int, ...], num_classes: int
) -> None:
    """Build once and run a batch of 2 through it, so a broken factory fails before any trial."""
    import torch

    try:
        model = build_model(factory, input_shape, num_classes)
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros((2, *input_shape)))
    except SweepError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SweepError(
            f"the model factory failed on input shape {tuple(input_shape)} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if tuple(out.shape) != (2, num_classes):
        raise SweepError(
            f"the model maps a batch (2, *{tuple(input_shape)}) to shape {tuple(out.shape)}, "
            f"expected logits (2, {num_classes})"
        )

"""Small reference models that train in seconds on a CPU, and user model factories.

A factory is called as ``factory(input_shape, num_classes)`` with ``input_shape`` the shape of one
sample (no batch axis) and returns a ``torch.nn.Module`` mapping ``(B, *input_shape)`` to logits
``(B, num_classes)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .errors import SweepError

__all__ = ["DEFAULT_MODELS", "build_model", "resolve_factory"]

DEFAULT_MODELS = {"image": "cnn", "series": "cnn1d", "tabular": "mlp"}


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


_BUILTIN: dict[str, Callable[..., Any]] = {"cnn": small_cnn, "cnn1d": small_cnn1d, "mlp": small_mlp}


def resolve_factory(spec: str | None, kind: str) -> tuple[str, Callable[..., Any]]:
    """``None``/``"auto"`` (the reference model for ``kind``), ``cnn``/``cnn1d``/``mlp`` or
    ``"module:function"``; returns ``(name, factory)``."""
    if spec is None or spec == "auto":
        spec = DEFAULT_MODELS[kind]
    if spec in _BUILTIN:
        return spec, _BUILTIN[spec]
    if ":" not in spec:
        raise SweepError(
            f"--model must be auto, {', '.join(_BUILTIN)} or 'module:function', got {spec!r}"
        )
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001
        raise SweepError(
            f"cannot import the model factory module {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SweepError(f"module {module_name!r} has no callable {attr!r} to build a model")
    return spec, factory


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

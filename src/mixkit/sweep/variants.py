"""Strategies that run the model themselves (training-step variants), by name for ``--methods``.

Each is a class with ``mixes_hidden = True`` and ``bind(model)``: the reference trainer calls
``logits, targets = transform.bind(model)(xb, yb, rng=gen)`` and trains on soft-target cross
entropy of those. Importing this module imports no torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_strategies"]


def model_strategies() -> dict[str, Any]:
    """Lower-case name -> strategy class, for the strategies that run the model."""
    from .text_models import HiddenMix

    return {"tmix": HiddenMix}

"""The one error type the sweep raises for bad input; the CLI prints it as one line."""

from __future__ import annotations

__all__ = ["SweepError"]


class SweepError(ValueError):
    """Bad input to the sweep (data, methods, alphas, model factory): a one-line, actionable message."""

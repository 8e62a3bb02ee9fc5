"""What a sweep returns, and the key that names one trial in the store.

Both the runner (:mod:`.run`) and the report (:mod:`.report`) import from here, so neither imports
the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .methods import Strategy

__all__ = ["SweepResult", "trial_key"]


def trial_key(strategy: Strategy, seed: int) -> str:
    """The store key of one trial: ``"mixup(alpha=0.4)|seed=3"``; a re-run skips stored keys."""
    return f"{strategy.label}|seed={seed}"


@dataclass
class SweepResult:
    """What a sweep found. ``summary``: one dict per strategy (means, 95% intervals, paired
    differences against no mixing); ``trials``: one dict per stored trial; ``selected``: the strategy
    chosen on validation; ``statement``: the plain verdict on its test gain; ``failed``: one line per
    trial that failed in this run (its traceback is in ``out/logs/``)."""

    study_name: str
    storage: str
    out: Path
    dataset: str
    trials: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    selected: str | None
    statement: str
    files: dict[str, Path] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    missing: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def report(self) -> Path | None:
        return self.files.get("report.md")

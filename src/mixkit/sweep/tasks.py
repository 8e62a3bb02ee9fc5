"""What a sweep predicts (``--task``) and what it measures for each task.

- ``classification`` (the default): one class per sample; accuracy, balanced accuracy, NLL, ECE.
- ``regression``: float targets ``(n,)`` or ``(n, D)``; RMSE and MAE in the targets' units.
- ``multilabel``: multi-hot targets ``(n, C)`` of 0/1; micro-F1 and macro-F1 at threshold 0.5, mAP.

The task is always declared, never guessed from the labels' dtype. This module holds only names and
tables (no torch, no optuna), so every other module of the sweep may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SweepError

__all__ = [
    "CLASSIFICATION",
    "MULTILABEL",
    "REGRESSION",
    "TASKS",
    "Metric",
    "TaskSpec",
    "resolve_task",
    "spec_of",
    "task_of_select_on",
]

CLASSIFICATION, REGRESSION, MULTILABEL = "classification", "regression", "multilabel"
TASKS = (CLASSIFICATION, REGRESSION, MULTILABEL)


@dataclass(frozen=True)
class Metric:
    """One test metric of the table: its stored field, title, direction and how it is shown."""

    field: str  # e.g. "test_rmse"; the validation value is "val_" + the same name
    title: str
    higher: bool  # higher is better
    percent: bool  # shown x 100 (accuracies, F1, mAP); else as measured (targets' units, NLL, ECE)
    bounded: bool  # a fraction in [0, 1] (intervals are clipped there); else only >= 0


@dataclass(frozen=True)
class TaskSpec:
    """The metrics of one task, the ``--select-on`` names it takes and its defaults."""

    name: str
    metrics: tuple[Metric, ...]
    # --select-on name -> (validation field, test field, title, higher is better)
    select_on: dict[str, tuple[str, str, str, bool]]
    default_select_on: str
    default_methods: str
    val_fields: tuple[str, ...]  # validation means kept in each summary row (selection, ties)

    def metric(self, field: str) -> Metric:
        return next(m for m in self.metrics if m.field == field)


_CLS = TaskSpec(
    CLASSIFICATION,
    (
        Metric("test_acc", "accuracy", True, True, True),
        Metric("test_bacc", "balanced accuracy", True, True, True),
        Metric("test_nll", "NLL", False, False, False),
        Metric("test_ece", "ECE", False, False, True),
        Metric("test_ts_ece", "ECE after temperature scaling", False, False, True),
        Metric("test_ts_nll", "NLL after temperature scaling", False, False, False),
    ),
    {
        "accuracy": ("val_acc", "test_acc", "accuracy", True),
        "balanced_accuracy": ("val_bacc", "test_bacc", "balanced accuracy", True),
        "nll": ("val_nll", "test_nll", "NLL", False),
    },
    "accuracy",
    "none,mixup,cutmix:alpha=1.0",
    ("val_acc", "val_bacc", "val_nll"),
)
_REG = TaskSpec(
    REGRESSION,
    (
        Metric("test_rmse", "RMSE", False, False, False),
        Metric("test_mae", "MAE", False, False, False),
    ),
    {
        "rmse": ("val_rmse", "test_rmse", "RMSE", False),
        "mae": ("val_mae", "test_mae", "MAE", False),
    },
    "rmse",
    "none,mixup,cmixup",
    ("val_rmse", "val_mae"),
)
_ML = TaskSpec(
    MULTILABEL,
    (
        Metric("test_map", "mAP", True, True, True),
        Metric("test_micro_f1", "micro-F1", True, True, True),
        Metric("test_macro_f1", "macro-F1", True, True, True),
        Metric("test_macro_f1_tuned", "macro-F1, tuned thresholds", True, True, True),
    ),
    {
        "map": ("val_map", "test_map", "mAP", True),
        "micro_f1": ("val_micro_f1", "test_micro_f1", "micro-F1", True),
        "macro_f1": ("val_macro_f1", "test_macro_f1", "macro-F1", True),
    },
    "map",
    "none,mixup,cutmix:alpha=1.0",
    ("val_map", "val_micro_f1", "val_macro_f1"),
)
_SPECS = {s.name: s for s in (_CLS, _REG, _ML)}


def resolve_task(task: str | None) -> str:
    """``None`` -> ``"classification"``; otherwise one of :data:`TASKS` (case-insensitive)."""
    if task is None:
        return CLASSIFICATION
    key = str(task).strip().lower().replace("-", "").replace("_", "")
    if key not in _SPECS:
        raise SweepError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    return key


def spec_of(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task``."""
    return _SPECS[resolve_task(task)]


def task_of_select_on(name: str) -> str | None:
    """The task whose ``--select-on`` names include ``name`` (they are distinct), or ``None``."""
    return next((s.name for s in _SPECS.values() if name in s.select_on), None)

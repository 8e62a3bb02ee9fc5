"""From stored trials to the table: means, 95% intervals, paired differences, selection, verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .methods import NONE, Strategy
from .metrics import interval, paired

__all__ = ["METRICS", "select", "summarise", "verdict"]

# metric -> (column title, higher is better)
METRICS = {
    "test_acc": ("accuracy", True),
    "test_bacc": ("balanced accuracy", True),
    "test_nll": ("NLL", False),
    "test_ece": ("ECE", False),
    "test_ts_ece": ("ECE after temperature scaling", False),
    "test_ts_nll": ("NLL after temperature scaling", False),
}
ALPHA_SIG = 0.05


def summarise(trials: list[dict[str, Any]], strategies: Sequence[Strategy]) -> list[dict[str, Any]]:
    """One row per strategy with trials: ``n``, ``val_acc``, ``val_nll`` means, each metric's
    ``(mean, low, high)`` and, where no mixing ran on the same seeds, ``diff_<metric>`` (paired)."""
    by: dict[str, dict[int, dict[str, Any]]] = {}
    for t in trials:
        by.setdefault(t["strategy"], {})[int(t["seed"])] = t
    base = by.get(NONE, {})
    rows = []
    for s in strategies:
        runs = by.get(s.label, {})
        if not runs:
            continue
        seeds = sorted(runs)
        row: dict[str, Any] = {
            "strategy": s.label,
            "method": s.method,
            "alpha": s.alpha,
            "options": dict(s.options),
            "n": len(seeds),
            "seeds": seeds,
        }
        row["val_acc"] = interval([runs[k]["val_acc"] for k in seeds])
        row["val_nll"] = interval([runs[k]["val_nll"] for k in seeds])
        for m in METRICS:
            row[m] = _clip(interval([runs[k][m] for k in seeds]), m)
        common = [k for k in seeds if k in base]
        if s.label != NONE and common:
            for m in METRICS:
                row[f"diff_{m}"] = paired(
                    [runs[k][m] for k in common], [base[k][m] for k in common]
                )
        rows.append(row)
    return rows


def _clip(ci: tuple[float, float, float], metric: str) -> tuple[float, float, float]:
    """Bounds of a t-interval kept inside the metric's range (accuracies and ECE in [0, 1], NLL >= 0)."""
    m, lo, hi = ci
    top = float("inf") if "nll" in metric else 1.0
    return m, min(max(lo, 0.0), top), min(max(hi, 0.0), top)


def select(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The strategy with the highest mean validation accuracy (ties: lower validation NLL)."""
    if not rows:
        return None
    return max(rows, key=lambda r: (round(r["val_acc"][0], 12), -r["val_nll"][0]))


def _pct(v: float) -> str:
    return f"{100 * v:+.2f}"


def verdict(rows: list[dict[str, Any]]) -> str:
    """A plain sentence on the selected strategy's test gain over no mixing."""
    chosen = select(rows)
    if chosen is None:
        return "No trial has finished yet, so there is nothing to report."
    names = {r["strategy"] for r in rows}
    if chosen["strategy"] == NONE:
        return (
            "Nothing beat the baseline: no mixing has the best validation accuracy, so no mixing "
            "strategy is recommended for this data and model."
        )
    head = (
        f"Selected on validation accuracy: {chosen['strategy']} "
        f"(validation accuracy {100 * chosen['val_acc'][0]:.2f}%)."
    )
    if NONE not in names or "diff_test_acc" not in chosen:
        return (
            head
            + " No-mixing trials on the same seeds are missing, so no paired test comparison is made."
        )
    d = chosen["diff_test_acc"]
    ci = (
        f"95% interval [{_pct(d['low'])}, {_pct(d['high'])}]"
        if not math.isnan(d["low"])
        else "no interval with one seed"
    )
    body = (
        f" On the test split it changes accuracy by {_pct(d['mean'])} points against no mixing "
        f"({ci}, paired t-test p = {d['p']:.3g}; better on {d['wins']} of {d['n']} seeds, "
        f"worse on {d['losses']})."
    )
    if d["n"] < 2 or math.isnan(d["p"]):
        return head + body + " With fewer than 2 paired seeds no significance can be claimed."
    if d["p"] < ALPHA_SIG and d["low"] > 0:
        tail = " The gain is statistically significant at the 5% level."
    elif d["p"] < ALPHA_SIG and d["high"] < 0:
        tail = " It is significantly WORSE than no mixing at the 5% level."
    else:
        tail = (
            " The difference is not statistically significant at the 5% level: the test split "
            "does not confirm a gain over no mixing."
        )
    return head + body + tail

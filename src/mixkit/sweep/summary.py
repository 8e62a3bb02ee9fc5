"""From stored trials to the table: means, 95% intervals, paired differences, selection, verdict.

Selection reads validation metrics only (``val_acc``, ``val_bacc``, ``val_nll``). Every trial also
stores its test metrics, but nothing here that chooses a strategy looks at them: the test split is
read once, for the final table and the verdict on the strategy already chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import SweepError
from .methods import NONE, Strategy
from .metrics import interval, paired

__all__ = [
    "METRICS",
    "SELECT_ON",
    "default_select_on",
    "resolve_select_on",
    "select",
    "selection_notes",
    "summarise",
    "verdict",
]

# metric -> (column title, higher is better)
METRICS = {
    "test_acc": ("accuracy", True),
    "test_bacc": ("balanced accuracy", True),
    "test_nll": ("NLL", False),
    "test_ece": ("ECE", False),
    "test_ts_ece": ("ECE after temperature scaling", False),
    "test_ts_nll": ("NLL after temperature scaling", False),
}
# --select-on name -> (validation field that selects, its test counterpart, title, higher is better)
SELECT_ON = {
    "accuracy": ("val_acc", "test_acc", "accuracy", True),
    "balanced_accuracy": ("val_bacc", "test_bacc", "balanced accuracy", True),
    "nll": ("val_nll", "test_nll", "NLL", False),
}
ALPHA_SIG = 0.05


def default_select_on(imbalance: float = 1.0) -> str:
    """``"balanced_accuracy"`` for a long-tailed training split (``imbalance != 1``), else
    ``"accuracy"``."""
    return "balanced_accuracy" if float(imbalance) != 1.0 else "accuracy"


def resolve_select_on(value: str | None, imbalance: float = 1.0) -> str:
    """Check ``--select-on`` (``None`` = :func:`default_select_on`); raises :class:`SweepError`."""
    if value is None:
        return default_select_on(imbalance)
    key = str(value).strip().lower().replace("-", "_")
    if key not in SELECT_ON:
        raise SweepError(f"--select-on must be one of {', '.join(SELECT_ON)}, got {value!r}")
    return key


def summarise(
    trials: list[dict[str, Any]],
    strategies: Sequence[Strategy],
    *,
    pruned: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One row per strategy with trials: ``n``, validation means (``val_acc``, ``val_bacc``,
    ``val_nll``), each metric's ``(mean, low, high)`` and, where no mixing ran on the same seeds,
    ``diff_<metric>`` (paired). ``pruned``: strategy label -> seeds it ran before a search stopped it;
    those rows get ``pruned=True`` and are never selected."""
    pruned = pruned or {}
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
            "pruned": s.label in pruned,
        }
        for v in ("val_acc", "val_bacc", "val_nll"):
            values = [runs[k].get(v) for k in seeds]
            if all(x is not None for x in values):
                row[v] = interval(values)
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


def _sort_key(row: dict[str, Any], on: str) -> tuple[float, float]:
    field, _, _, higher = SELECT_ON[on]
    score = row[field][0] if higher else -row[field][0]
    # ties: lower validation NLL; when selecting on NLL, higher validation accuracy
    tie = row["val_acc"][0] if on == "nll" else -row["val_nll"][0]
    return round(score, 12), tie


def select(rows: list[dict[str, Any]], on: str = "accuracy") -> dict[str, Any] | None:
    """The strategy with the best mean validation score ``on`` (``accuracy``, ``balanced_accuracy``
    or ``nll``; ties: lower validation NLL, or higher validation accuracy when ``on="nll"``).
    Rows marked ``pruned`` (stopped early by a search) are never selected."""
    on = resolve_select_on(on)
    field = SELECT_ON[on][0]
    ok = [r for r in rows if not r.get("pruned")]
    missing = [r["strategy"] for r in ok if field not in r]
    if missing:
        raise SweepError(
            f"cannot select on validation {SELECT_ON[on][2]}: no {field!r} for {missing[0]} "
            "(trials stored by an older mixkit?); use --select-on accuracy or nll"
        )
    if not ok:
        return None
    return max(ok, key=lambda r: _sort_key(r, on))


def _fmt(value: float, higher: bool) -> str:
    """Accuracies in percent, NLL as it is."""
    return f"{100 * value:.2f}%" if higher else f"{value:.3f}"


def _fmt_diff(value: float, higher: bool) -> str:
    return f"{100 * value:+.2f}" if higher else f"{value:+.3f}"


def verdict(rows: list[dict[str, Any]], on: str = "accuracy") -> str:
    """A plain sentence on the selected strategy's test gain over no mixing, in the metric it was
    selected on (``on``)."""
    on = resolve_select_on(on)
    field, test_metric, title, higher = SELECT_ON[on]
    chosen = select(rows, on)
    if chosen is None:
        return "No trial has finished yet, so there is nothing to report."
    names = {r["strategy"] for r in rows}
    if chosen["strategy"] == NONE:
        return (
            f"Nothing beat the baseline: no mixing has the best validation {title}, so no mixing "
            "strategy is recommended for this data and model."
        )
    head = (
        f"Selected on validation {title}: {chosen['strategy']} "
        f"(validation {title} {_fmt(chosen[field][0], higher)})."
    )
    key = f"diff_{test_metric}"
    if NONE not in names or key not in chosen:
        return (
            head
            + " No-mixing trials on the same seeds are missing, so no paired test comparison is made."
        )
    d = chosen[key]
    unit = " points" if higher else ""
    ci = (
        f"95% interval [{_fmt_diff(d['low'], higher)}, {_fmt_diff(d['high'], higher)}]"
        if not math.isnan(d["low"])
        else "no interval with one seed"
    )
    better, worse = (d["wins"], d["losses"]) if higher else (d["losses"], d["wins"])
    test_name = d.get("test") or "paired t-test"
    p_text = "" if math.isnan(d["p"]) else f", {test_name} p = {d['p']:.3g}"
    body = (
        f" On the test split it changes {title} by {_fmt_diff(d['mean'], higher)}{unit} against no "
        f"mixing ({ci}{p_text}; better on {better} of {d['n']} seeds, worse on {worse})."
    )
    calib = _calibration(chosen, on)
    if d["n"] < 2 or math.isnan(d["p"]):
        return (
            head + body + " With fewer than 2 paired seeds no significance can be claimed." + calib
        )
    gain = d["low"] > 0 if higher else d["high"] < 0
    loss = d["high"] < 0 if higher else d["low"] > 0
    if d["p"] < ALPHA_SIG and gain:
        tail = " The gain is statistically significant at the 5% level."
    elif d["p"] < ALPHA_SIG and loss:
        tail = " It is significantly WORSE than no mixing at the 5% level."
    else:
        tail = (
            " The difference is not statistically significant at the 5% level: the test split "
            "does not confirm a gain over no mixing."
        )
    return head + body + tail + calib


def _calibration(chosen: dict[str, Any], on: str) -> str:
    """What the selected strategy did to test NLL and ECE against no mixing (lower is better)."""
    parts = []
    for metric, title in (("test_nll", "NLL"), ("test_ece", "ECE")):
        d = chosen.get(f"diff_{metric}")
        if d is None or (on == "nll" and metric == "test_nll"):
            continue
        ci = "" if math.isnan(d["low"]) else f" [{d['low']:+.3f}, {d['high']:+.3f}]"
        if not math.isnan(d["low"]) and d["high"] < 0:
            word = "lower (better)"
        elif not math.isnan(d["low"]) and d["low"] > 0:
            word = "higher (worse)"
        else:
            word = "no clear change"
        parts.append(f"{title} {d['mean']:+.3f}{ci}, {word}")
    if not parts:
        return ""
    return (
        " Calibration on the test split against no mixing (paired, 95% interval): "
        + "; ".join(parts)
        + "."
    )


def selection_notes(
    rows: list[dict[str, Any]], on: str = "accuracy", search: Mapping[str, Any] | None = None
) -> list[str]:
    """Report lines on how the strategy was chosen: the metric, how many strategies were compared
    (for a search: candidates drawn, stopped early, and the rule), and that the best of many
    validation scores is optimistic. ``search``: the ``info`` of a search (see
    :func:`mixkit.sweep.search.SearchRun.info`), or ``None`` for a grid."""
    on = resolve_select_on(on)
    title = SELECT_ON[on][2]
    compared = len(rows)
    lines = []
    if search:
        pruned = search.get("pruned", {})
        stopped = (
            f"{len(pruned)} stopped early ({search['rule']}): "
            + "; ".join(f"{k} after {v} seed(s)" for k, v in pruned.items())
            if pruned
            else f"none stopped early ({search['rule']})"
        )
        lines.append(
            f"Search: {search['sampler']} (seed {search['seed']}) over {search['space']}; "
            f"{search['tried']} candidate strategies tried (budget {search['budget']}) besides no "
            f"mixing, which ran on every seed; {stopped}."
        )
        compared = search["tried"] + 1
    else:
        lines.append(f"Strategies compared: {compared} (including no mixing).")
    if compared > 1:
        lines.append(
            f"Selected on validation {title} among {compared} strategies. The best of "
            f"{compared} validation scores is optimistic: the largest of many noisy scores is "
            "biased upward, and more so the more strategies are tried, so the selected "
            "strategy's validation score overstates what it will do on new data. The test "
            "columns, measured once and never used to choose, are the estimate to trust."
        )
    return lines

"""From stored trials to the table: means, 95% intervals, paired differences, selection, verdict.

Selection reads validation metrics only (``val_acc``, ``val_bacc``, ``val_nll``; for regression
``val_rmse``, ``val_mae``; for multi-label ``val_map``, ``val_micro_f1``, ``val_macro_f1``). Every trial also
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
from .tasks import CLASSIFICATION, resolve_task, spec_of, task_of_select_on

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

# classification: metric -> (column title, higher is better)
METRICS = {m.field: (m.title, m.higher) for m in spec_of(CLASSIFICATION).metrics}
# classification: --select-on name -> (validation field that selects, its test counterpart, title,
# higher is better); the other tasks' names are in :mod:`.tasks`
SELECT_ON = dict(spec_of(CLASSIFICATION).select_on)
ALPHA_SIG = 0.05


def default_select_on(imbalance: float = 1.0, task: str = CLASSIFICATION) -> str:
    """``"balanced_accuracy"`` for a long-tailed training split (``imbalance != 1``), else
    ``"accuracy"``; ``"rmse"`` for regression, ``"map"`` for multi-label."""
    if resolve_task(task) != CLASSIFICATION:
        return spec_of(task).default_select_on
    return "balanced_accuracy" if float(imbalance) != 1.0 else "accuracy"


def resolve_select_on(value: str | None, imbalance: float = 1.0, task: str | None = None) -> str:
    """Check ``--select-on`` (``None`` = :func:`default_select_on`) against ``task`` (``None``: any
    task's names); raises :class:`SweepError`."""
    if value is None:
        return default_select_on(imbalance, task or CLASSIFICATION)
    key = str(value).strip().lower().replace("-", "_")
    names = spec_of(task).select_on if task is not None else {}
    owner = task_of_select_on(key)
    if task is None and owner is not None:
        return key
    if key not in names:
        hint = f" (it applies to --task {owner})" if owner is not None else ""
        raise SweepError(
            f"--select-on must be one of {', '.join(names or SELECT_ON)}"
            + (f" for --task {resolve_task(task)}" if task is not None else "")
            + f", got {value!r}{hint}"
        )
    return key


def _on(on: str) -> tuple[str, str, str, bool]:
    """The ``(validation field, test field, title, higher)`` of a checked ``--select-on`` name."""
    return spec_of(task_of_select_on(on) or CLASSIFICATION).select_on[on]


def summarise(
    trials: list[dict[str, Any]],
    strategies: Sequence[Strategy],
    *,
    pruned: Mapping[str, int] | None = None,
    task: str = CLASSIFICATION,
) -> list[dict[str, Any]]:
    """One row per strategy with trials: ``n``, validation means (``val_acc``, ``val_bacc``,
    ``val_nll``; for the other tasks those of :mod:`.tasks`), each metric's ``(mean, low, high)``
    and, where no mixing ran on the same seeds, ``diff_<metric>`` (paired). ``pruned``: strategy
    label -> seeds it ran before a search stopped it; those rows get ``pruned=True`` and are never
    selected."""
    pruned = pruned or {}
    spec = spec_of(task)
    metrics = {m.field: m for m in spec.metrics}
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
        for v in spec.val_fields:
            values = [runs[k].get(v) for k in seeds]
            if all(x is not None for x in values):
                row[v] = interval(values)
        # a metric that some stored trial lacks (stored by an older version) is left out of the row
        have = [m for m in metrics if all(runs[k].get(m) is not None for k in seeds)]
        for m in have:
            row[m] = _clip(interval([runs[k][m] for k in seeds]), metrics[m].bounded)
        common = [k for k in seeds if k in base]
        if s.label != NONE and common:
            for m in have:
                if all(base[k].get(m) is not None for k in common):
                    row[f"diff_{m}"] = paired(
                        [runs[k][m] for k in common], [base[k][m] for k in common]
                    )
        rows.append(row)
    return rows


def _clip(ci: tuple[float, float, float], bounded: bool) -> tuple[float, float, float]:
    """Bounds of a t-interval kept inside the metric's range (accuracies, ECE, F1 and mAP in [0, 1];
    NLL, RMSE and MAE >= 0)."""
    m, lo, hi = ci
    top = 1.0 if bounded else float("inf")
    return m, min(max(lo, 0.0), top), min(max(hi, 0.0), top)


def _sort_key(row: dict[str, Any], on: str) -> tuple[float, float]:
    field, _, _, higher = _on(on)
    score = row[field][0] if higher else -row[field][0]
    task = task_of_select_on(on) or CLASSIFICATION
    if task == CLASSIFICATION:
        # ties: lower validation NLL; when selecting on NLL, higher validation accuracy
        tie = row["val_acc"][0] if on == "nll" else -row["val_nll"][0]
    else:  # ties: the task's next validation score (MAE for RMSE and back; F1 for mAP)
        spec = spec_of(task)
        other = next(k for k in spec.select_on if k != on)
        f2, _, _, h2 = spec.select_on[other]
        tie = row[f2][0] if h2 else -row[f2][0]
    return round(score, 12), tie


def select(rows: list[dict[str, Any]], on: str = "accuracy") -> dict[str, Any] | None:
    """The strategy with the best mean validation score ``on`` (``accuracy``, ``balanced_accuracy``
    or ``nll``; ties: lower validation NLL, or higher validation accuracy when ``on="nll"``).
    Rows marked ``pruned`` (stopped early by a search) are never selected."""
    on = resolve_select_on(on)
    field = _on(on)[0]
    ok = [r for r in rows if not r.get("pruned")]
    missing = [r["strategy"] for r in ok if field not in r]
    if missing:
        raise SweepError(
            f"cannot select on validation {_on(on)[2]}: no {field!r} for {missing[0]} "
            "(trials stored by an older mixkit?); use --select-on accuracy or nll"
        )
    if not ok:
        return None
    return max(ok, key=lambda r: _sort_key(r, on))


def _fmt(value: float, higher: bool, units: bool = False) -> str:
    """Accuracies, F1 and mAP in percent; NLL as it is; RMSE and MAE (``units``: in the targets'
    units, whatever their scale) to 4 significant digits."""
    if higher:
        return f"{100 * value:.2f}%"
    return f"{value:#.4g}" if units else f"{value:.3f}"


def _fmt_diff(value: float, higher: bool, units: bool = False) -> str:
    if higher:
        return f"{100 * value:+.2f}"
    return f"{value:+#.4g}" if units else f"{value:+.3f}"


def verdict(rows: list[dict[str, Any]], on: str = "accuracy") -> str:
    """A plain sentence on the selected strategy's test gain over no mixing, in the metric it was
    selected on (``on``)."""
    on = resolve_select_on(on)
    field, test_metric, title, higher = _on(on)
    units = task_of_select_on(on) not in (None, CLASSIFICATION)
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
        f"(validation {title} {_fmt(chosen[field][0], higher, units)})."
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
        f"95% interval [{_fmt_diff(d['low'], higher, units)}, {_fmt_diff(d['high'], higher, units)}]"
        if not math.isnan(d["low"])
        else "no interval with one seed"
    )
    better, worse = (d["wins"], d["losses"]) if higher else (d["losses"], d["wins"])
    test_name = d.get("test") or "paired t-test"
    p_text = "" if math.isnan(d["p"]) else f", {test_name} p = {d['p']:.3g}"
    body = (
        f" On the test split it changes {title} by {_fmt_diff(d['mean'], higher, units)}{unit} against no "
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
    title = _on(on)[2]
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

"""The report folder: report.md, a self-contained report.html, trials.json/.csv, PNG plots, and the
same table in the terminal."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .data import Dataset
from .methods import NONE, Strategy
from .metrics import SIGN_TEST, T_TEST
from .result import SweepResult, trial_key
from .store import TrialStore
from .summary import select, selection_notes, summarise, verdict
from .tasks import CLASSIFICATION, MULTILABEL, REGRESSION, spec_of
from .train import effective_batch_size

__all__ = ["batch_note", "collect", "p_legend", "table_rows", "write_report"]

SCALAR = (
    "val_acc",
    "val_bacc",
    "val_nll",
    "val_ece",
    "test_acc",
    "test_bacc",
    "test_nll",
    "test_ece",
    "test_ts_acc",
    "test_ts_nll",
    "test_ts_ece",
    "val_ts_nll",
    "val_ts_ece",
    "temperature",
    "seconds",
    "cpu_seconds",
    "val_rmse",
    "val_mae",
    "test_rmse",
    "test_mae",
    "val_map",
    "val_micro_f1",
    "val_macro_f1",
    "test_map",
    "test_micro_f1",
    "test_macro_f1",
    "test_map_labels",
    "val_micro_f1_tuned",
    "val_macro_f1_tuned",
    "test_micro_f1_tuned",
    "test_macro_f1_tuned",
)


def collect(
    store: TrialStore, strategies: Sequence[Strategy], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """The finished trials of this grid, one per (strategy, seed), in grid order."""
    done = store.completed()
    out = []
    for s in strategies:
        for seed in seeds:
            t = done.get(trial_key(s, seed))
            if t is None:
                continue
            res = t.user_attrs.get("result", {})
            row = {
                "number": t.number,
                "key": t.user_attrs["key"],
                "strategy": s.label,
                "method": s.method,
                "alpha": s.alpha,
                "options": repr(dict(s.options)),
                "seed": seed,
                "state": t.state.name,
                "finished": t.datetime_complete.isoformat(timespec="seconds")
                if t.datetime_complete
                else "",
                "host": t.user_attrs.get("host", ""),
            }
            row.update({k: res.get(k) for k in SCALAR})
            row["test_bins"] = res.get("test_bins")
            row["test_ts_bins"] = res.get("test_ts_bins")
            if "thresholds" in res:  # multi-label: the per-label thresholds tuned on validation
                row["thresholds"] = res["thresholds"]
            out.append(row)
    return out


def _ci(v: tuple[float, float, float], scale: float = 1.0, digits: int = 3) -> str:
    m, lo, hi = (x * scale for x in v)
    if math.isnan(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _diff(row: dict[str, Any], metric: str, scale: float = 1.0, digits: int = 3) -> str:
    d = row.get(f"diff_{metric}")
    if d is None:
        return "—"
    text = f"{d['mean'] * scale:+.{digits}f}"
    if not math.isnan(d["low"]):
        text += f" [{d['low'] * scale:+.{digits}f}, {d['high'] * scale:+.{digits}f}]"
    return text


HEADER = (
    "strategy",
    "seeds",
    "val acc %",
    "test acc % [95% CI]",
    "Δ acc vs none (pts)",
    "p (acc)",
    "balanced acc %",
    "NLL",
    "Δ NLL",
    "ECE",
    "ECE after TS",
)


TERMINAL_DROP = ("balanced acc %", "Δ NLL")  # in report.md and report.html only

# the other tasks: (header, the metric fields whose cells follow "strategy, seeds, val <first>")
HEADERS = {
    CLASSIFICATION: HEADER,
    REGRESSION: (
        "strategy",
        "seeds",
        "val RMSE",
        "test RMSE [95% CI]",
        "Δ RMSE vs none",
        "p (RMSE)",
        "test MAE [95% CI]",
        "Δ MAE vs none",
        "p (MAE)",
    ),
    MULTILABEL: (
        "strategy",
        "seeds",
        "val mAP %",
        "test mAP % [95% CI]",
        "Δ mAP vs none (pts)",
        "p (mAP)",
        "micro-F1 %",
        "Δ micro-F1 (pts)",
        "macro-F1 %",
        "Δ macro-F1 (pts)",
        "macro-F1 %, tuned thresholds",
        "Δ (pts)",
    ),
}
TERMINAL_DROPS = {CLASSIFICATION: TERMINAL_DROP, REGRESSION: (), MULTILABEL: ()}


def _name_cell(r: dict[str, Any], selected: str | None) -> str:
    return (
        r["strategy"]
        + (" ★" if r["strategy"] == selected else "")
        + (" (stopped early)" if r.get("pruned") else "")
    )


def table_rows(
    rows: list[dict[str, Any]], selected: str | None, task: str = CLASSIFICATION
) -> list[tuple[str, ...]]:
    """The table's cells, one tuple per strategy (strings), in the order of ``HEADERS[task]``."""
    if task == REGRESSION:
        return [
            (
                _name_cell(r, selected),
                str(r["n"]),
                f"{r['val_rmse'][0]:#.4g}",
                _ci_g(r["test_rmse"]),
                _diff_g(r, "test_rmse"),
                _p_cell(r.get("diff_test_rmse")),
                _ci_g(r["test_mae"]),
                _diff_g(r, "test_mae"),
                _p_cell(r.get("diff_test_mae")),
            )
            for r in rows
        ]
    if task == MULTILABEL:
        return [
            (
                _name_cell(r, selected),
                str(r["n"]),
                f"{100 * r['val_map'][0]:.2f}",
                _ci(r["test_map"], 100, 2),
                _diff(r, "test_map", 100, 2),
                _p_cell(r.get("diff_test_map")),
                _ci(r["test_micro_f1"], 100, 2),
                _diff(r, "test_micro_f1", 100, 2),
                _ci(r["test_macro_f1"], 100, 2),
                _diff(r, "test_macro_f1", 100, 2),
                _ci(r["test_macro_f1_tuned"], 100, 2) if "test_macro_f1_tuned" in r else "—",
                _diff(r, "test_macro_f1_tuned", 100, 2),
            )
            for r in rows
        ]
    out = []
    for r in rows:
        d = r.get("diff_test_acc")
        out.append(
            (
                r["strategy"]
                + (" ★" if r["strategy"] == selected else "")
                + (" (stopped early)" if r.get("pruned") else ""),
                str(r["n"]),
                f"{100 * r['val_acc'][0]:.2f}",
                _ci(r["test_acc"], 100, 2),
                _diff(r, "test_acc", 100, 2),
                _p_cell(d),
                _ci(r["test_bacc"], 100, 2),
                _ci(r["test_nll"]),
                _diff(r, "test_nll"),
                _ci(r["test_ece"]),
                _ci(r["test_ts_ece"]),
            )
        )
    return out


def _g(v: float, sign: bool = False) -> str:
    """A value in the targets' units: 4 significant digits (trailing zeros kept), whatever their scale."""
    return f"{v:+#.4g}" if sign else f"{v:#.4g}"


def _ci_g(v: tuple[float, float, float]) -> str:
    m, lo, hi = v
    return _g(m) if math.isnan(lo) else f"{_g(m)} [{_g(lo)}, {_g(hi)}]"


def _diff_g(row: dict[str, Any], metric: str) -> str:
    d = row.get(f"diff_{metric}")
    if d is None:
        return "—"
    text = _g(d["mean"], True)
    if not math.isnan(d["low"]):
        text += f" [{_g(d['low'], True)}, {_g(d['high'], True)}]"
    return text


def _p_cell(d: dict[str, Any] | None) -> str:
    """``p`` of a paired difference; ``"0.0625 (sign test)"`` where the t-test could not be run."""
    if d is None or math.isnan(d["p"]):
        return "—"
    return f"{d['p']:.3g}" + (" (sign test)" if d.get("test") == SIGN_TEST else "")


def p_legend(rows: list[dict[str, Any]], task: str = CLASSIFICATION) -> str:
    """Which test gave each ``p`` of the table's main metric, by name."""
    first = spec_of(task).metrics[0]
    short = {"test_acc": "acc", "test_rmse": "RMSE", "test_map": "mAP"}[first.field]
    sign = [
        r["strategy"] for r in rows if (r.get(f"diff_{first.field}") or {}).get("test") == SIGN_TEST
    ]
    text = f"p ({short}): {T_TEST} on the per-seed differences"
    if sign:
        text += (
            f"; for {', '.join(sign)} every seed moved by the same amount, so the t-test is "
            f"undefined and p is from an {SIGN_TEST} (two-sided, 2 x 0.5^seeds; marked 'sign test')"
        )
    return text


def batch_note(batch_size: int | None, n_train: int) -> str:
    """``"batch 8 (--batch-size 32 capped at a fifth of the 40 training samples, ...)"``, or
    ``"batch 32"`` when the batch size was used as asked."""
    if batch_size is None:
        return "batch chosen by the training function"
    used = effective_batch_size(batch_size, n_train)
    if used == batch_size:
        return f"batch {used}"
    return (
        f"batch {used} (--batch-size {batch_size} capped at a fifth of the {n_train} training "
        "samples, so that every epoch has several steps)"
    )


_LOSS = {
    CLASSIFICATION: "",
    REGRESSION: (
        " Loss: MSE on the mixed targets, standardised with the training split's mean and "
        "standard deviation (the batch is mixed in the targets' units, then standardised); "
        "predictions are mapped back, so RMSE and MAE are in the targets' units."
    ),
    MULTILABEL: (
        " Loss: binary cross entropy on the weighted multi-hot targets "
        "(mixkit.torch.mixed_binary_cross_entropy); predictions are per-label sigmoids."
    ),
}
_METRIC_NOTE = {
    CLASSIFICATION: "ECE: 15 equal-width bins; TS: temperature scaling fitted on validation.",
    REGRESSION: (
        "RMSE and MAE over every target value, in the targets' units (lower is better); the split "
        "is random (not stratified)."
    ),
    MULTILABEL: (
        "A label is predicted where its probability is >= 0.5; micro-F1 pools every (sample, label) "
        "decision, macro-F1 averages the labels' F1 (0 for a label never present nor predicted); "
        "mAP: mean over the labels with a positive in the split of average precision. Tuned "
        "thresholds: one per label, the one that maximises that label's F1 on the validation split "
        "(halfway between two of its scores), applied to the test split. The split is random (not "
        "stratified)."
    ),
}


def _draw(
    name: str, failures: list[str], log: Path, fn: Callable[..., Path | None], *args: Any
) -> Path | None:
    """``fn(*args)``; a figure that fails is left out and said, never lost with the report."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - any plotting error: the report is written without it
        failures.append(
            f"{name} was not drawn: {type(exc).__name__}: {exc} (traceback in {log.name})"
        )
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"--- {name}\n{traceback.format_exc()}\n")
        return None


def _markdown_table(cells: list[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(lines)


def _html_table(cells: list[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _write_trials(trials: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    jpath, cpath = out / "trials.json", out / "trials.csv"
    jpath.write_text(json.dumps(trials, indent=1))
    cols = [k for k in trials[0] if not k.endswith("bins")] if trials else ["key"]
    with open(cpath, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(trials)
    return jpath, cpath


def _html_failed(failed: Sequence[str]) -> str:
    if not failed:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in failed)
    return f"<h2>Failed trials</h2><ul>{items}</ul>"


def write_report(
    trials: list[dict[str, Any]],
    strategies: Sequence[Strategy],
    seeds: Sequence[int],
    ds: Dataset,
    config: dict[str, Any],
    out: Path,
    store: TrialStore,
    *,
    console: Any = None,
    show: bool = True,
    failed: Sequence[str] = (),
) -> Any:
    """Write every report file into ``out`` and return the :class:`~mixkit.sweep.SweepResult`.
    ``failed``: one line per trial that failed in this run (listed in the report)."""
    from .plots import plot_metrics_vs_alpha, plot_mixed_samples, plot_reliability

    select_on, search = config.get("select_on", "accuracy"), config.get("search") or {}
    task = ds.task
    header = HEADERS[task]
    rows = summarise(trials, strategies, pruned=search.get("pruned"), task=task)
    chosen = select(rows, select_on)
    selected = chosen["strategy"] if chosen else None
    statement = verdict(rows, select_on)
    cells = table_rows(rows, selected, task)
    files: dict[str, Path] = {}
    files["trials.json"], files["trials.csv"] = _write_trials(trials, out)
    images: list[tuple[str, Path]] = []
    not_drawn: list[str] = []
    log = out / "figures.log"
    log.unlink(missing_ok=True)
    figures: list[tuple[str, str, Callable[..., Path | None], tuple[Any, ...]]] = []
    mixing = [r for r in rows if r["strategy"] != NONE]
    best_mix = select(mixing, select_on)["strategy"] if mixing else NONE
    if rows:
        title = f"{ds.name}, {config['model']}" + (
            f", {config['epochs']} epochs" if config.get("epochs") is not None else ""
        )
        figures.append(
            (
                "metrics_vs_alpha.png",
                "Test metrics against alpha",
                plot_metrics_vs_alpha,
                (rows, out / "metrics_vs_alpha.png", title, task),
            )
        )
    if rows and task == CLASSIFICATION:
        figures.append(
            (
                "reliability.png",
                "Reliability diagrams",
                plot_reliability,
                (
                    trials,
                    best_mix,
                    out / "reliability.png",
                    f"Reliability: {best_mix} (best mixing on validation) vs none",
                ),
            )
        )
    if task == CLASSIFICATION:
        figures.append(
            (
                "mixed_samples.png",
                "Mixed training samples: own class (lam) + partner class (1 - lam)",
                plot_mixed_samples,
                (ds, strategies, out / "mixed_samples.png"),
            )
        )
    for fname, caption, fn, args in figures:
        drawn = _draw(fname, not_drawn, log, fn, *args)
        if drawn is not None:
            files[fname] = drawn
            images.append((caption, drawn))

    lpc = config["labels_per_class"]
    intro = [
        f"Data: {ds.describe()}.",
        (
            f"Split: fixed, stratified (seed {config['split_seed']}); labelled examples per class: "
            f"{'all' if lpc is None else lpc}; imbalance ratio {config['imbalance']:g}."
        )
        if task == CLASSIFICATION
        else f"Split: fixed, random (seed {config['split_seed']}); task: {task}.",
        (
            f"Model: {config['model']}; {config['epochs']} epochs, "
            f"{batch_note(config['batch_size'], len(ds.y_train))}, AdamW lr "
            f"{config['lr']:g}, cosine decay; the same schedule for every strategy. Seeds (paired across "
            f"strategies: same initial weights and batch order): {', '.join(map(str, seeds))}."
            + _LOSS[task]
        )
        if config.get("epochs") is not None
        else (
            f"Training: your function {config['train']}, called once per trial with the strategy's "
            "transform (None for no mixing), the training split and the trial's seed; seeds "
            f"(paired across strategies): {', '.join(map(str, seeds))}."
        ),
        (
            "Selection uses the validation split only; the test split is used once, for this table. "
            "Intervals: 95% t-intervals over seeds (kept inside each metric's range); Δ: paired "
            f"difference against no mixing on the same seeds; {p_legend(rows, task)}. "
            + _METRIC_NOTE[task]
            + " ★ = selected."
        ),
    ]
    intro += selection_notes(rows, select_on, search or None)
    planned = len(strategies) * len(seeds) - sum(
        len(seeds) - n for n in search.get("pruned", {}).values()
    )  # a search stops some candidates early: their remaining seeds are not planned
    missing = planned - len(trials)
    if missing:
        intro.append(
            f"**Incomplete:** {missing} of {planned} trials are not in the "
            "store yet; run the same command again to finish them."
        )
    md = [
        "# mixkit sweep report",
        "",
        *[f"- {line}" for line in intro],
        "",
        "## Verdict",
        "",
        statement,
        "",
        "## Results (test split)",
        "",
        _markdown_table(cells, header),
        "",
    ]
    if failed:
        md += ["## Failed trials", "", *[f"- {line}" for line in failed], ""]
    for caption, p in images:
        md += [f"## {caption}", "", f"![{caption}]({p.name})", ""]
    if not_drawn:
        md += ["## Figures not drawn", "", *[f"- {line}" for line in not_drawn], ""]
    md += [
        "## Files",
        "",
        "- `trials.json`, `trials.csv`: every finished trial (all metrics).",
        f"- Store: `{store.display_url}`, study `{store.study_name}`.",
        "",
    ]
    files["report.md"] = out / "report.md"
    files["report.md"].write_text("\n".join(md))

    figs = "".join(
        f"<h2>{html.escape(c)}</h2><img alt='{html.escape(c)}' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'>"
        for c, p in images
    )
    if not_drawn:
        figs += (
            "<h2>Figures not drawn</h2><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in not_drawn)
            + "</ul>"
        )
    items = "".join(f"<li>{html.escape(line.replace('**', ''))}</li>" for line in intro)
    files["report.html"] = out / "report.html"
    files["report.html"].write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>mixkit sweep report</title><style>"
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px}"
        "th{background:#f3f3f3}img{max-width:100%}</style></head><body><h1>mixkit sweep report</h1>"
        f"<ul>{items}</ul><h2>Verdict</h2><p>{html.escape(statement)}</p>"
        "<h2>Results (test split)</h2>"
        f"{_html_table(cells, header)}{_html_failed(failed)}{figs}<p>Store: {html.escape(store.display_url)}, study "
        f"{html.escape(store.study_name)}</p></body></html>"
    )
    if show and console is not None:
        from rich.table import Table

        table = Table(title=f"mixkit sweep: {ds.name} (test split; mean [95% CI] over seeds)")
        keep = [i for i, h in enumerate(header) if h not in TERMINAL_DROPS[task]]
        for i in keep:
            table.add_column(header[i], overflow="fold")
        for c in cells:
            table.add_row(*(c[i].replace(" [", "\n[") for i in keep))
        console.print(table)
        console.print(statement)
    if console is not None:
        for line in not_drawn:  # said even when quiet: the report lacks a figure
            console.print(f"warning: {line}", style="yellow", markup=False)
    if show and console is not None:
        console.print(f"report: {files['report.md']} and {files['report.html']}")
    return SweepResult(
        study_name=store.study_name,
        storage=store.url,
        out=out,
        dataset=ds.name,
        trials=trials,
        summary=rows,
        selected=selected,
        statement=statement,
        files=files,
    )

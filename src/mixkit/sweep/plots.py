"""The report's PNG plots: metrics against alpha, reliability diagrams, mixed samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset
from .methods import NONE, Strategy
from .metrics import ECE_BINS, ece_from_bins
from .tasks import CLASSIFICATION, MULTILABEL, REGRESSION
from .train import cut_axes

__all__ = ["plot_metrics_vs_alpha", "plot_mixed_samples", "plot_reliability"]

PANELS = (
    ("test_acc", "test accuracy", 100.0),
    ("test_nll", "test NLL", 1.0),
    ("test_ece", "test ECE (15 bins)", 1.0),
    ("test_ts_ece", "test ECE after temperature scaling", 1.0),
)
TASK_PANELS = {
    CLASSIFICATION: PANELS,
    REGRESSION: (("test_rmse", "test RMSE", 1.0), ("test_mae", "test MAE", 1.0)),
    MULTILABEL: (
        ("test_map", "test mAP", 100.0),
        ("test_micro_f1", "test micro-F1", 100.0),
        ("test_macro_f1", "test macro-F1", 100.0),
        ("test_macro_f1_tuned", "test macro-F1, tuned thresholds", 100.0),
    ),
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metrics_vs_alpha(
    rows: list[dict[str, Any]], path: Path, title: str, task: str = CLASSIFICATION
) -> Path:
    """One panel per metric of ``task`` (accuracy, NLL, ECE; RMSE, MAE; mAP, F1): mean and 95%
    interval against alpha (log axis) for each method; strategies without alpha (no mixing first)
    are horizontal lines with a band."""
    plt = _plt()
    # a metric that older stored trials lack gets no panel
    panels = [p for p in TASK_PANELS[task] if all(r.get(p[0]) is not None for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    axes = axes[0]
    alphas = sorted({r["alpha"] for r in rows if r["alpha"] is not None}) or [1.0]
    lo_x, hi_x = min(alphas) / 1.6, max(alphas) * 1.6
    families: dict[str, list[dict[str, Any]]] = {}
    flat: list[dict[str, Any]] = []
    for r in rows:
        if r["alpha"] is None:
            flat.append(r)
        else:
            fam = r["method"] + (
                ""
                if not r["options"]
                else "(" + ", ".join(f"{k}={v!r}" for k, v in r["options"].items()) + ")"
            )
            families.setdefault(fam, []).append(r)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (metric, label, scale) in zip(axes, panels):
        for j, r in enumerate(flat):
            m, lo, hi = (v * scale for v in r[metric])
            style = {"color": "black" if r["strategy"] == NONE else colors[(j + 5) % len(colors)]}
            ax.axhline(
                m,
                ls="--",
                lw=1.2,
                label=r["strategy"] if r["strategy"] != NONE else "none (no mixing)",
                **style,
            )
            if not math.isnan(lo):
                ax.axhspan(lo, hi, alpha=0.12, **style)
        for j, (fam, rs) in enumerate(families.items()):
            rs = sorted(rs, key=lambda r: r["alpha"])
            x = np.array([r["alpha"] for r in rs]) * (
                1.0 + 0.04 * j
            )  # small offset: no hidden bars
            m = np.array([r[metric][0] for r in rs]) * scale
            lo = np.array([r[metric][1] for r in rs]) * scale
            hi = np.array([r[metric][2] for r in rs]) * scale
            err = np.vstack([m - lo, hi - m])
            err = np.where(np.isnan(err), 0.0, err)
            ax.errorbar(
                x,
                m,
                yerr=err,
                marker="o",
                capsize=3,
                lw=1.5,
                color=colors[j % len(colors)],
                label=fam,
            )
        ax.set_xscale("log")
        ax.set_xlim(lo_x, hi_x)
        ax.set_xticks(alphas)
        ax.set_xticklabels([f"{a:g}" for a in alphas])
        ax.minorticks_off()
        ax.set_xlabel("alpha")
        ax.set_title(label + (" (%)" if scale == 100.0 else ""), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(title + "  (mean and 95% interval over seeds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _sum_bins(trials: list[dict[str, Any]], field: str) -> dict[str, list[float]]:
    total = {k: np.zeros(ECE_BINS) for k in ("count", "conf", "correct")}
    for t in trials:
        for k in total:
            total[k] += np.asarray(t[field][k])
    return {k: v.tolist() for k, v in total.items()}


def plot_reliability(trials: list[dict[str, Any]], best: str, path: Path, title: str) -> Path:
    """Reliability diagrams on the test split (all seeds pooled): ``best`` against no mixing, before
    and after temperature scaling."""
    plt = _plt()
    names = [NONE] + ([best] if best != NONE else [])
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    edges = np.linspace(0, 1, ECE_BINS + 1)
    width = 1.0 / ECE_BINS
    colors = {NONE: "tab:gray", best: "tab:blue"}
    for ax, field, sub in zip(
        axes, ("test_bins", "test_ts_bins"), ("before", "after temperature scaling")
    ):
        ax.plot([0, 1], [0, 1], color="black", lw=1, ls=":", label="perfect calibration")
        for j, name in enumerate(names):
            b = _sum_bins([t for t in trials if t["strategy"] == name], field)
            count = np.asarray(b["count"])
            ok = count > 0
            acc = np.divide(b["correct"], count, out=np.zeros(ECE_BINS), where=ok)
            shift = (j - (len(names) - 1) / 2) * width * 0.42
            ax.bar(
                edges[:-1][ok] + width / 2 + shift,
                acc[ok],
                width=width * 0.42,
                color=colors[name],
                alpha=0.85,
                label=f"{name}: pooled ECE {ece_from_bins(b):.3f}",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-class probability)")
        ax.set_ylabel("accuracy in bin")
        ax.set_title(f"test split, {sub}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.16), frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle(title + " (15 bins, all seeds pooled)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _to_unit(x: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(x)), float(np.max(x))
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def plot_mixed_samples(
    ds: Dataset, strategies: Sequence[Strategy], path: Path, *, n: int = 8, seed: int = 0
) -> Path | None:
    """Training samples mixed by each strategy (up to 6), each captioned with its two sources and
    their weights, ``"6 (0.62) + 1 (0.38)"``; tiles are chosen where ``lam`` is informative (see
    :func:`mixkit.preview.mix_for_display`). None for tabular and text data. Strategies that run
    the model (``tmix``, ``regmixup``, ``puzzlemix``) are left out: they mix with the trained model."""
    mixing = [
        s for s in strategies if s.method != NONE and not getattr(s.cls, "mixes_hidden", False)
    ][:6]
    if ds.kind in ("tabular", "text") or not mixing:
        return None
    names = list(ds.classes)
    methods = {s.label: s.build(ds.num_classes, cut_axes(ds.kind)) for s in mixing}
    n = min(n, len(ds.y_train))
    if ds.kind == "image":
        from mixkit.preview import preview_grid

        return preview_grid(
            _to_unit(ds.raw_train),
            ds.y_train,
            methods,
            path,
            n=n,
            rng=seed,
            class_names=names,
            title=f"{ds.name}: mixed training samples",
        )
    from mixkit.preview import INFORMATIVE, POOL, mix_for_display

    plt = _plt()
    gen = np.random.default_rng(seed)
    pick = gen.choice(len(ds.y_train), size=min(POOL, len(ds.y_train)), replace=False)
    x, y = ds.X_train[pick], ds.y_train[pick]
    rows = [
        (label, mix_for_display(t, x, y, n=n, rng=gen, class_names=names))
        for label, t in methods.items()
    ]
    fig, axes = plt.subplots(
        len(rows), n, figsize=(2.1 * n, 1.7 * len(rows)), squeeze=False, sharey=True
    )
    for r, (label, tiles) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            for ch in range(tiles.x.shape[1]):
                ax.plot(tiles.x[c, ch], lw=0.9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(tiles.captions[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    lo, hi = INFORMATIVE
    fig.suptitle(
        f"{ds.name}: mixed training series\neach tile: own class (lam) + partner class (1 - lam); "
        f"shown where lam is in [{lo:g}, {hi:g}] when a draw gives one",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

"""The sweep's report: figures that fail are said and never cost the report, the test behind each p
is named, the batch actually used is said, mixed-sample pictures of any layout the data loader
infers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from mixkit.sweep import plots, report
from mixkit.sweep.data import infer_kind, make_split
from mixkit.sweep.methods import resolve_strategies
from mixkit.sweep.metrics import SIGN_TEST, T_TEST, classification_metrics, paired
from mixkit.sweep.store import TrialStore
from mixkit.sweep.train import cut_axes


# -- the test behind p -----------------------------------------------------------------------------
def test_paired_names_the_t_test_when_differences_vary():
    d = paired([0.9, 0.8, 0.95, 0.85], [0.8, 0.7, 0.9, 0.8])
    assert d["test"] == T_TEST == "paired t-test" and 0 < d["p"] < 0.05


def test_paired_names_the_sign_test_when_every_seed_moves_the_same():
    # accuracies on equal-sized splits often move by the same k/n on every seed; the float
    # differences then agree only up to rounding, where a t-test would report a p near 0
    values, base = [0.9, 0.8, 0.7, 0.6, 0.55], [0.85, 0.75, 0.65, 0.55, 0.5]
    d = np.subtract(values, base)
    assert np.ptp(d) > 0  # not bit-identical: the naive t-test is not even undefined here
    got = paired(values, base)
    assert got["test"] == SIGN_TEST == "exact sign test"
    assert got["p"] == pytest.approx(2 * 0.5**5) and got["wins"] == 5
    same = paired([0.9, 0.8], [0.9, 0.8])
    assert same["test"] == SIGN_TEST and same["p"] == 1.0 and same["wins"] == same["losses"] == 0
    one = paired([0.9], [0.8])
    assert one["test"] == "" and math.isnan(one["p"])


def _trial(strategy, seed, acc, gen, k=3, n=30):
    y = np.arange(n) % k
    logits = gen.normal(size=(n, k))
    m = classification_metrics(logits, y, k)
    t = {
        "strategy": strategy,
        "seed": seed,
        "state": "COMPLETE",
        "val_acc": acc,
        "val_bacc": acc,
        "val_nll": 1.0 - acc,
        "test_acc": acc,
        "test_bacc": acc,
        "test_nll": m["nll"] - acc,
        "test_ece": m["ece"],
        "test_ts_nll": m["nll"] - acc,
        "test_ts_ece": m["ece"],
        "test_bins": m["bins"],
        "test_ts_bins": m["bins"],
    }
    return t


def _setup(tmp_path, accs, shape=(60, 3, 8, 8), url="sqlite:///toy.db"):
    gen = np.random.default_rng(0)
    X = gen.random(shape).astype(np.float32)
    X, kind, layout = infer_kind(X)
    y = np.arange(len(X)) % 3
    ds = make_split(X, y, kind, name="toy", layout=layout)
    strategies = resolve_strategies("none,mixup", (0.2,), num_classes=3, axes=cut_axes(kind))
    trials = [
        _trial(s.label, seed, acc, gen)
        for s, per_seed in zip(strategies, accs)
        for seed, acc in enumerate(per_seed)
    ]
    config = {
        "model": "cnn",
        "epochs": 2,
        "batch_size": 32,
        "lr": 3e-3,
        "labels_per_class": None,
        "imbalance": 1.0,
        "split_seed": 0,
    }
    store = TrialStore(url, "toy-study")
    return trials, strategies, ds, config, store


def _write(tmp_path, accs, **kw):
    trials, strategies, ds, config, store = _setup(tmp_path, accs, **kw)
    return report.write_report(
        trials, strategies, [0, 1, 2], ds, config, tmp_path, store, console=None, show=False
    )


def test_table_and_legend_name_the_sign_test_where_it_was_run(tmp_path):
    # mixup beats none by exactly 0.1 on every seed: no t-test is possible
    _write(tmp_path, [[0.5, 0.6, 0.7], [0.6, 0.7, 0.8]])
    md = (tmp_path / "report.md").read_text()
    assert "| 0.25 (sign test) |" in md
    assert "p (acc): paired t-test on the per-seed differences" in md
    assert "for mixup(alpha=0.2) every seed moved by the same amount" in md
    assert "exact sign test" in md and "p from a paired t-test" not in md


def test_table_and_legend_say_t_test_when_it_was_run(tmp_path):
    _write(tmp_path, [[0.5, 0.6, 0.7], [0.62, 0.65, 0.8]])
    md = (tmp_path / "report.md").read_text()
    assert "(sign test)" not in md and "every seed moved" not in md
    assert "p (acc): paired t-test on the per-seed differences" in md


# -- figures never cost the report -----------------------------------------------------------------
def test_a_failing_figure_is_left_out_and_said(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no room for the legend")

    monkeypatch.setattr(plots, "plot_mixed_samples", broken)
    res = _write(tmp_path, [[0.5, 0.6, 0.7], [0.62, 0.65, 0.8]])
    md = (tmp_path / "report.md").read_text()
    assert "## Figures not drawn" in md
    line = "mixed_samples.png was not drawn: RuntimeError: no room for the legend"
    assert line in md and line in (tmp_path / "report.html").read_text()
    log = (tmp_path / "figures.log").read_text()
    assert "Traceback" in log and "no room for the legend" in log
    assert "mixed_samples.png" not in res.files
    # the other figures are there, and the report embeds them
    assert (tmp_path / "metrics_vs_alpha.png").stat().st_size > 0
    assert "![Reliability diagrams](reliability.png)" in md
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 2


def test_every_figure_failing_still_writes_the_report(tmp_path, monkeypatch):
    for name in ("plot_mixed_samples", "plot_metrics_vs_alpha", "plot_reliability"):
        monkeypatch.setattr(plots, name, lambda *a, **k: 1 / 0)
    printed = []
    trials, strategies, ds, config, store = _setup(tmp_path, [[0.5, 0.6], [0.6, 0.6]])
    console = SimpleNamespace(print=lambda *a, **k: printed.append(str(a[0])))
    report.write_report(
        trials, strategies, [0, 1], ds, config, tmp_path, store, console=console, show=False
    )
    md = (tmp_path / "report.md").read_text()
    assert md.count("was not drawn: ZeroDivisionError") == 3 and "## Verdict" in md
    assert (
        sum("warning:" in p and "was not drawn" in p for p in printed) == 3
    )  # said even when quiet
    assert (tmp_path / "figures.log").read_text().count("--- ") == 3


def test_a_second_report_does_not_keep_old_figure_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "plot_mixed_samples", lambda *a, **k: 1 / 0)
    _write(tmp_path, [[0.5, 0.6, 0.7], [0.62, 0.65, 0.8]])
    monkeypatch.undo()
    _write(tmp_path, [[0.5, 0.6, 0.7], [0.62, 0.65, 0.8]])
    assert "Figures not drawn" not in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "figures.log").exists()


@pytest.mark.parametrize("shape", [(60, 8, 8, 3), (60, 8, 8, 8), (60, 16, 16), (60, 2, 40)])
def test_mixed_samples_are_drawn_for_every_inferred_layout(tmp_path, shape):
    # (N, 8, 8, 3) read as 8 channels used to crash the preview and lose the report
    res = _write(tmp_path, [[0.5, 0.6, 0.7], [0.62, 0.65, 0.8]], shape=shape)
    md = (tmp_path / "report.md").read_text()
    assert (tmp_path / "mixed_samples.png").stat().st_size > 0 and "Figures not drawn" not in md
    assert "inferred:" in md and "mixed_samples.png" in res.files


# -- what was used, said -----------------------------------------------------------------------------
def test_batch_note_says_when_the_batch_was_capped():
    assert report.batch_note(32, 200) == "batch 32"
    note = report.batch_note(32, 40)
    assert note.startswith("batch 8 (--batch-size 32 capped at a fifth of the 40 training samples")
    assert report.batch_note(None, 40) == "batch chosen by the training function"


def test_report_says_the_batch_and_the_samples_used(tmp_path):
    trials, strategies, ds, config, store = _setup(tmp_path, [[0.5, 0.6], [0.6, 0.7]])
    small = make_split(ds.X_train, ds.y_train, ds.kind, name="toy", labels_per_class=4)
    report.write_report(
        trials, strategies, [0, 1], small, config, tmp_path, store, console=None, show=False
    )
    md = (tmp_path / "report.md").read_text()
    n = len(small.y_train)
    assert f"batch 2 (--batch-size 32 capped at a fifth of the {n} training samples" in md
    assert f"train on only {n} of the {small.available_train} training samples" in md


def test_a_channels_last_npz_sweeps_end_to_end_and_the_report_says_how_it_was_read(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("optuna")
    import mixkit

    gen = np.random.default_rng(5)
    y = np.arange(90) % 3
    X = gen.random((90, 8, 8, 3)) * 0.3
    X[np.arange(90), :, :, y] += 0.7  # each class lights up its own colour channel
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    res = mixkit.sweep(
        str(tmp_path / "mine.npz"),
        methods="none,mixup",
        alphas="0.2",
        seeds=2,
        epochs=1,
        out=tmp_path / "out",
        progress=False,
    )
    assert res.missing == 0 and not res.failed
    md = (tmp_path / "out" / "report.md").read_text()
    assert "inferred: images, channels-last (N, H, W, C) -> (N, C, H, W)" in md
    assert "(90, 8, 8, 3) -> (90, 3, 8, 8)" in md
    assert "Figures not drawn" not in md and (tmp_path / "out" / "mixed_samples.png").exists()
    # the user's own data trains on all of its training split (no demo-sized subset)
    assert "train 54 (per class 18-18)" in md and "only" not in md.split("\n")[2]


def test_report_never_shows_the_store_password(tmp_path):
    trials, strategies, ds, config, store = _setup(
        tmp_path, [[0.5, 0.6], [0.6, 0.7]], url="postgresql://sweeper:s3cret@db.example:5432/mixkit"
    )
    report.write_report(trials, strategies, [0, 1], ds, config, tmp_path, store, console=None, show=False)
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "db.example" in text and "s3cret" not in text

"""`mixkit sweep --task multilabel`: multi-hot targets end to end (data, strategies, BCE training,
micro/macro-F1 and mAP with paired intervals, report, CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("optuna")
pytest.importorskip("torch")
from click.testing import CliRunner

import mixkit
from mixkit.cli import cli
from mixkit.sweep import SweepError
from mixkit.sweep.data import make_split, read_data
from mixkit.sweep.methods import resolve_strategies
from mixkit.sweep.metrics import average_precision, multilabel_metrics, tune_thresholds
from mixkit.sweep.train import ReferenceTrainer, TrainConfig, TrialError, check_label_probabilities

QUICK = {"seeds": 2, "epochs": 2, "alphas": "0.4", "progress": False, "jobs": 1}


def _multihot(n=80, d=4, c=3, seed=0):
    """Rows whose label j is on where feature j (plus noise) is positive."""
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d)).astype(np.float32)
    Y = (X[:, :c] + gen.normal(scale=0.5, size=(n, c)) > 0).astype(np.int64)
    return X, Y


def linear_fit(transform, X_train, y_train, *, seed, device, num_classes):
    """A framework-free trainer: least squares on the (mixed) multi-hot rows, squashed to [0, 1]."""
    X, y = X_train, y_train
    if transform is not None:
        X, y = transform(X_train, y_train, rng=seed)
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return lambda Z: 1 / (1 + np.exp(-4 * (np.c_[Z, np.ones(len(Z))] @ coef - 0.5)))


# -- metrics ---------------------------------------------------------------------------------------
def test_f1_and_map_equal_sklearn():
    from sklearn.metrics import average_precision_score, f1_score

    gen = np.random.default_rng(3)
    Y = (gen.random((50, 4)) < 0.35).astype(int)
    Y[:, 3] = 0  # a label never present: F1 0 (zero_division=0), left out of mAP
    P = np.clip(0.6 * Y + gen.random((50, 4)) * 0.6, 0, 1)
    P = np.round(P, 1)  # tied scores
    m = multilabel_metrics(P, Y)
    pred = (P >= 0.5).astype(int)
    assert m["micro_f1"] == pytest.approx(f1_score(Y, pred, average="micro", zero_division=0))
    assert m["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro", zero_division=0))
    aps = [average_precision_score(Y[:, j], P[:, j]) for j in range(3)]
    assert m["map"] == pytest.approx(np.mean(aps)) and m["map_labels"] == 3
    for j in range(3):
        assert average_precision(P[:, j], Y[:, j]) == pytest.approx(aps[j])
    assert np.isnan(average_precision(P[:, 3], Y[:, 3]))
    # by hand: scores 0.9 (pos), 0.8 (neg), 0.7 (pos): AP = 1/2 * 1 + 1/2 * 2/3
    assert average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx(0.5 + 1 / 3)


def _f1(pred, t):
    tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def test_tuned_thresholds_reach_the_best_f1_of_every_label():
    gen = np.random.default_rng(5)
    Y = (gen.random((60, 5)) < [0.5, 0.2, 0.05, 0.9, 0.0]).astype(bool)
    P = np.round(np.clip(0.3 * Y + 0.7 * gen.random((60, 5)), 0, 1), 2)  # ties
    P[:, 1] = 0.1  # one score for every sample: keep them all
    thr = tune_thresholds(P, Y)
    for c in range(4):
        # brute force: every cut at a distinct score, and predicting nothing
        best = max(_f1(P[:, c] >= s, Y[:, c]) for s in [*np.unique(P[:, c]), 2.0])
        assert _f1(P[:, c] >= thr[c], Y[:, c]) == pytest.approx(best)
        # the cut lies between scores (strictly above the next lower one): the same samples kept
        below = P[:, c][P[:, c] < thr[c]]
        assert below.size == 0 or below.max() < thr[c]
    assert thr[1] == pytest.approx(0.1) and thr[4] == 0.5  # all kept; no positive: the default
    # by hand, [0.9 pos, 0.8 neg, 0.7 pos, 0.6 neg]: F1 2/3, 1/2, 4/5, 2/3 keeping 1-4: cut at 0.65;
    # [0.9 pos, 0.8 neg, 0.7 neg, 0.6 pos]: 2/3, 1/2, 2/5, 2/3: a tie, the fewest kept: cut at 0.85
    scores = np.array([[0.9], [0.8], [0.7], [0.6]])
    assert tune_thresholds(scores, np.array([[1], [0], [1], [0]]))[0] == pytest.approx(0.65)
    assert tune_thresholds(scores, np.array([[1], [0], [0], [1]]))[0] == pytest.approx(0.85)
    m = multilabel_metrics(P, Y, thr)
    per = [_f1(P[:, c] >= thr[c], Y[:, c]) for c in range(5)]
    assert m["macro_f1"] == pytest.approx(np.mean(per))


def test_tuned_f1_in_trials_and_report_and_older_trials_without_it(tmp_path):
    from mixkit.sweep.plots import plot_metrics_vs_alpha
    from mixkit.sweep.report import table_rows
    from mixkit.sweep.summary import summarise

    X, Y = _multihot(n=90)
    res = mixkit.sweep((X, Y), task="multilabel", train=linear_fit, methods="none,mixup",
                       out=tmp_path, seeds=2, alphas="0.4", progress=False)  # fmt: skip
    got = read_data((X, Y), task="multilabel")
    ds = make_split(got.X, got.y, got.kind, task="multilabel", columns=got.columns)
    predict = linear_fit(None, ds.X_train, ds.y_train, seed=0, device="cpu", num_classes=3)
    thr = tune_thresholds(predict(ds.X_val), ds.y_val)
    want = multilabel_metrics(predict(ds.X_test), ds.y_test, thr)
    for t in (t for t in res.trials if t["strategy"] == "none"):
        assert t["thresholds"] == pytest.approx(list(thr))
        assert t["test_macro_f1_tuned"] == pytest.approx(want["macro_f1"])
        assert t["test_micro_f1_tuned"] == pytest.approx(want["micro_f1"])
    assert "macro-F1 %, tuned thresholds" in res.report.read_text()
    assert "diff_test_macro_f1_tuned" in res.summary[1]
    # trials stored before the tuned metric existed: the row leaves it out, nothing fails
    old = [{k: (None if "tuned" in k else v) for k, v in t.items()} for t in res.trials]
    strategies = resolve_strategies("none,mixup", (0.4,), num_classes=3, task="multilabel")
    rows = summarise(old, strategies, task="multilabel")
    assert "test_macro_f1_tuned" not in rows[0] and "diff_test_macro_f1_tuned" not in rows[1]
    assert rows[1]["diff_test_map"]["mean"] == pytest.approx(res.summary[1]["diff_test_map"]["mean"])
    assert [r[-2:] for r in table_rows(rows, None, "multilabel")] == [("—", "—")] * 2
    plot_metrics_vs_alpha(rows, tmp_path / "old.png", "older trials", task="multilabel")
    assert (tmp_path / "old.png").stat().st_size > 0


def test_check_label_probabilities():
    ok = check_label_probabilities(np.full((4, 3), 0.5), 4, 3, "predict")
    assert ok.shape == (4, 3)
    with pytest.raises(TrialError, match=r"shape \(4, 2\); expected per-label probabilities"):
        check_label_probabilities(np.zeros((4, 2)), 4, 3, "predict")
    with pytest.raises(TrialError, match=r"outside \[0, 1\].*apply a sigmoid"):
        check_label_probabilities(np.full((4, 3), 2.0), 4, 3, "predict")
    with pytest.raises(TrialError, match="NaN or infinite"):
        check_label_probabilities(np.full((4, 3), np.nan), 4, 3, "predict")


# -- data ------------------------------------------------------------------------------------------
def _csv(path, X, Y, names=("a", "b", "c")):
    head = [f"f{j}" for j in range(X.shape[1])] + list(names)
    rows = [",".join([*(f"{v:.5f}" for v in x), *(str(int(t)) for t in yy)]) for x, yy in zip(X, Y)]
    path.write_text("\n".join([",".join(head), *rows]) + "\n")
    return path


def test_csv_label_columns_become_multi_hot(tmp_path):
    X, Y = _multihot(n=30)
    got = read_data(_csv(tmp_path / "m.csv", X, Y), label_column="a,b,c", task="multilabel")
    assert got.X.shape == (30, 4) and got.columns == ("a", "b", "c")
    np.testing.assert_array_equal(got.y, Y)
    ds = make_split(got.X, got.y, got.kind, task="multilabel", columns=got.columns)
    assert ds.num_classes == 3 and ds.y_train.dtype == np.float32
    assert "multi-label, 3 labels: a, b, c" in ds.describe()


def test_bad_multilabel_inputs(tmp_path):
    X, Y = _multihot(n=40)
    path = _csv(tmp_path / "m.csv", X, Y)
    bad = Y.copy()
    bad[0, 0] = 2
    never = Y.copy()
    never[:, 1] = 0
    cases = [
        ({"data": path}, "needs its label columns"),
        ({"data": path, "label_column": "a"}, "at least 2 label columns"),
        ({"data": path, "label_column": "a,zz"}, "no label column 'zz'"),
        ({"data": (X, bad)}, "must be 0/1 .*got the value 2"),
        ({"data": (X, Y[:, 0])}, r"multi-hot \(N, C\) with C >= 2"),
        ({"data": (X, never)}, "label 'y1' is never on"),
        ({"data": (X, Y), "methods": "none,cmixup"}, "needs --task regression"),
        ({"data": (X, Y), "methods": "tmix"}, "runs the model"),
        (
            {"data": (X, Y), "select_on": "rmse"},
            "for --task multilabel.*applies to --task regression",
        ),
        ({"data": (X, Y), "search": "tpe"}, "explores classification"),
    ]
    for kwargs, match in cases:
        with pytest.raises(SweepError, match=match):
            mixkit.sweep(task="multilabel", out=tmp_path / "o", **kwargs, **QUICK)
    with pytest.raises(SweepError, match=r"shape \(40, 3\).*--task multilabel"):
        mixkit.sweep((X, Y), out=tmp_path / "o", **QUICK)  # multi-hot rows given as classes
    assert not (tmp_path / "o" / "sweep.db").exists()


# -- strategies and the reference trainer ----------------------------------------------------------
def test_strategies_keep_weighted_multi_hot_targets():
    X, Y = _multihot(n=8)
    for s in resolve_strategies(
        "mixup,cutmix", (0.7,), num_classes=3, axes=(-1,), task="multilabel"
    ):
        t = s.build(3, (-1,), "multilabel")
        res = t(X, Y.astype(np.float32), rng=1)
        plan = t.sample(8, rng=1, shape=X.shape)
        lam = np.asarray(plan.lam, dtype=np.float64).reshape(-1, 1) * np.ones((8, 1))
        expect = lam * Y + (1 - lam) * Y[plan.partner]
        np.testing.assert_allclose(res.y, expect, atol=1e-6)
        assert np.all(res.y.sum(1) <= 3 + 1e-6)  # never renormalised to sum to 1


def test_reference_trainer_learns_labels_with_bce():
    X, Y = _multihot(n=120)
    trainer = ReferenceTrainer("mlp", TrainConfig(epochs=25, batch_size=16), "multilabel")
    mix = mixkit.MixUp(0.4, num_classes=3)
    predict = trainer(mix, X, Y.astype(np.float32), seed=0, device="cpu", num_classes=3)
    P = predict(X)
    assert P.shape == (120, 3) and P.min() >= 0 and P.max() <= 1
    assert multilabel_metrics(P, Y)["map"] > 0.8


# -- end to end ------------------------------------------------------------------------------------
def test_user_train_function_metrics_equal_sklearn(tmp_path):
    from sklearn.metrics import average_precision_score, f1_score

    X, Y = _multihot(n=90)
    res = mixkit.sweep(
        (X, Y),
        task="multilabel",
        train=linear_fit,
        methods="none,mixup",
        out=tmp_path,
        seeds=2,
        alphas="0.4",
        progress=False,
    )
    assert not res.failed and res.missing == 0
    got = read_data((X, Y), task="multilabel")
    ds = make_split(got.X, got.y, got.kind, task="multilabel", columns=got.columns)
    predict = linear_fit(None, ds.X_train, ds.y_train, seed=0, device="cpu", num_classes=3)
    P = predict(ds.X_test)
    pred = (P >= 0.5).astype(int)
    for t in (t for t in res.trials if t["strategy"] == "none"):
        assert t["test_micro_f1"] == pytest.approx(f1_score(ds.y_test, pred, average="micro"))
        assert t["test_macro_f1"] == pytest.approx(f1_score(ds.y_test, pred, average="macro"))
        assert t["test_map"] == pytest.approx(
            average_precision_score(ds.y_test, P, average="macro")
        )
    row = res.summary[1]
    mix = [t["test_map"] for t in res.trials if t["strategy"] == "mixup(alpha=0.4)"]
    none = [t["test_map"] for t in res.trials if t["strategy"] == "none"]
    assert row["diff_test_map"]["mean"] == pytest.approx(np.mean(mix) - np.mean(none))
    assert "| strategy | seeds | val mAP % | test mAP % [95% CI]" in res.report.read_text()
    assert "validation mAP" in res.statement


def test_cli_multilabel_csv(tmp_path):
    X, Y = _multihot(n=60)
    path = _csv(tmp_path / "m.csv", X, Y, names=("red", "green", "blue"))
    args = ["sweep", "--data", str(path), "--task", "multilabel", "--label-column", "red,green,blue",
            "--alphas", "0.4", "--seeds", "2", "--epochs", "2", "--jobs", "1", "--quiet",
            "--model", "mlp", "--select-on", "micro_f1", "--out", str(tmp_path / "o")]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    trials = json.loads((tmp_path / "o" / "trials.json").read_text())
    assert {t["strategy"] for t in trials} == {"none", "mixup(alpha=0.4)", "cutmix(alpha=1)"}
    assert all(0 <= t["test_map"] <= 1 and 0 <= t["test_micro_f1"] <= 1 for t in trials)
    text = (tmp_path / "o" / "report.md").read_text()
    assert "multi-label, 3 labels: red, green, blue" in text and "validation micro-F1" in text


def test_bundled_yeast_is_read_from_the_river_wheel_and_sweeps(tmp_path):
    pytest.importorskip("river", reason="the Yeast file ships inside river's wheel")
    got = read_data("yeast", task="multilabel")
    assert got.X.shape == (2417, 103) and got.X.dtype == np.float32 and got.kind == "tabular"
    assert got.y.shape == (2417, 14) and set(np.unique(got.y)) == {0.0, 1.0}
    assert got.columns == tuple(f"Class{j}" for j in range(1, 15)) and got.bundled
    # MULAN's Yeast: 4.24 labels per gene on average, every label both on and off
    assert got.y.sum(1).mean() == pytest.approx(4.237, abs=1e-3)
    assert (0 < got.y.sum(0)).all() and (got.y.sum(0) < len(got.y)).all()
    with pytest.raises(SweepError, match="'yeast' is a multilabel set: use --task multilabel"):
        read_data("yeast")
    res = mixkit.sweep(
        "yeast", task="multilabel", methods="none,mixup", out=tmp_path / "y", model="mlp",
        **{**QUICK, "seeds": 1},
    )  # fmt: skip
    assert not res.failed and res.dataset == "yeast" and len(res.trials) == 2
    assert all(0 < t["test_map"] <= 1 for t in res.trials)


def test_bundled_yeast_without_river_names_the_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "river" else real(name, *a)
    )
    with pytest.raises(SweepError, match=r"ships inside river's wheel \(river is not installed\).*"
                       r"pip install 'mixkit\[sweep\]'"):  # fmt: skip
        read_data("yeast", task="multilabel")

"""`mixkit sweep --task regression`: continuous targets end to end (data, strategies incl. C-Mixup,
the reference trainer, a user's training function, RMSE/MAE with paired intervals, report, CLI)."""

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
from mixkit.sweep.methods import default_sigma, resolve_strategies
from mixkit.sweep.metrics import regression_metrics
from mixkit.sweep.train import ReferenceTrainer, TrainConfig, TrialError, check_predictions

QUICK = {"seeds": 2, "epochs": 2, "alphas": "0.4", "progress": False, "jobs": 1}


def _linear(n=60, d=3, outputs=None, seed=0, scale=50.0, offset=100.0):
    """Rows with targets linear in the features (plus noise), in units far from standardised."""
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d))
    w = gen.normal(size=(d,) if outputs is None else (d, outputs))
    y = (
        offset
        + scale * (X @ w)
        + gen.normal(scale=2.0, size=(n,) if outputs is None else (n, outputs))
    )
    return X.astype(np.float32), y


def lstsq_fit(transform, X_train, y_train, *, seed, device, num_classes):
    """A framework-free trainer: least squares on the training rows, mixed once by the transform."""
    X, y = X_train, y_train
    if transform is not None:
        X, y = transform(X_train, y_train, rng=seed)
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return lambda Z: np.c_[Z, np.ones(len(Z))] @ coef


# -- metrics ---------------------------------------------------------------------------------------
def test_rmse_and_mae_equal_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    gen = np.random.default_rng(1)
    y, p = gen.normal(size=40) * 7, gen.normal(size=40) * 7
    m = regression_metrics(p, y)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p))
    # (n, D): over every value, i.e. the uniform average of the columns' MSE and MAE
    Y, P = gen.normal(size=(30, 3)), gen.normal(size=(30, 3))
    m = regression_metrics(P, Y)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(Y, P)))
    assert m["mae"] == pytest.approx(mean_absolute_error(Y, P))
    assert regression_metrics([1.0, 2.0], [1.0, 4.0]) == {
        "rmse": pytest.approx(np.sqrt(2)),
        "mae": 1.0,
    }


def test_check_predictions_shapes_and_values():
    assert check_predictions(np.zeros((5, 1)), 5, (), "predict").shape == (5,)
    assert check_predictions(np.zeros((5, 2)), 5, (2,), "predict").shape == (5, 2)
    with pytest.raises(
        TrialError, match=r"shape \(5, 2\); expected regression predictions of shape \(5,\)"
    ):
        check_predictions(np.zeros((5, 2)), 5, (), "predict")
    with pytest.raises(TrialError, match=r"expected regression predictions of shape \(5, 3\)"):
        check_predictions(np.zeros(5), 5, (3,), "predict")
    with pytest.raises(TrialError, match="NaN or infinite values in 1 of 5 rows"):
        check_predictions(np.array([0, 1, np.inf, 2, 3.0]), 5, (), "predict")
    with pytest.raises(TrialError, match="not an array of predictions"):
        check_predictions({"a": 1}, 5, (), "predict")


# -- data ------------------------------------------------------------------------------------------
def test_regression_split_keeps_targets_in_their_units():
    X, y = _linear(n=50)
    got = read_data((X, y), task="regression")
    ds = make_split(got.X, got.y, got.kind, task="regression", columns=got.columns)
    assert ds.task == "regression" and ds.classes == ("target",) and ds.num_classes == 1
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (30, 10, 10)
    assert ds.y_train.dtype == np.float64
    together = np.sort(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))
    np.testing.assert_array_equal(together, np.sort(y))  # nothing standardised, nothing lost
    assert "regression, 1 target(s)" in ds.describe()


def test_bad_regression_inputs(tmp_path):
    X, y = _linear(n=40)
    cases = [
        ({"data": (X, y)}, r"labels are numbers \(from .*--task regression"),  # floats as classes
        ({"data": "diabetes"}, "'diabetes' is a regression set: use --task regression"),
        ({"data": "digits", "task": "regression"}, "'digits' is a classification set"),
        ({"data": (X, y), "task": "regresion"}, "--task must be one of classification, regression"),
        ({"data": (X, np.r_[y[:-1], np.nan]), "task": "regression"}, "NaN or infinite"),
        ({"data": (X, y), "task": "regression", "methods": "none,remix"}, "method 'remix': Remix"),
        ({"data": (X, y), "task": "regression", "methods": "tmix"}, "runs the model"),
        ({"data": (X, y), "task": "regression", "search": "tpe"}, "explores classification"),
        ({"data": (X, y), "task": "regression", "labels_per_class": 5}, "act on classes"),
        ({"data": (X, y), "task": "regression", "imbalance": 3.0}, "act on classes"),
        ({"data": (X, y), "task": "regression", "select_on": "accuracy"}, "for --task regression"),
        (
            {"data": (X, y), "task": "regression", "methods": "cmixup:sigma=0"},
            "method 'cmixup:sigma=0'",
        ),
        ({"data": (X, y.astype(int) % 3), "methods": "none,cmixup"}, "needs --task regression"),
        ({"data": (X, np.zeros((40, 0))), "task": "regression"}, r"\(N,\) or \(N, D\)"),
    ]
    for kwargs, match in cases:
        with pytest.raises(SweepError, match=match):
            mixkit.sweep(**kwargs, out=tmp_path / "o", **QUICK)
    assert not (tmp_path / "o" / "sweep.db").exists()  # refused before the store was opened
    (tmp_path / "t.csv").write_text("a,b,t\n1,2,x\n3,4,5\n")
    with pytest.raises(SweepError, match="needs numeric targets, got 'x'"):
        read_data(tmp_path / "t.csv", label_column="t", task="regression")
    with pytest.raises(SweepError, match="classification takes one"):
        read_data(tmp_path / "t.csv", label_column="a,t")


# -- strategies ------------------------------------------------------------------------------------
def test_cmixup_default_sigma_is_half_the_target_std():
    y = np.array([0.0, 10.0, 20.0, 30.0])
    assert default_sigma(y) == pytest.approx(float(f"{0.5 * y.std():.3g}"))
    Y = np.c_[y, 2 * y]
    assert default_sigma(Y) == pytest.approx(float(f"{0.5 * np.sqrt(y.var() + 4 * y.var()):.3g}"))
    assert default_sigma(np.ones(5)) == 1.0
    st = resolve_strategies("none,mixup,cmixup", (0.2, 1.0), task="regression", sigma=3.5)
    labels = [s.label for s in st]
    assert labels == [
        "none",
        "mixup(alpha=0.2)",
        "mixup(alpha=1)",
        "cmixup(alpha=0.2, sigma=3.5)",
        "cmixup(alpha=1, sigma=3.5)",
    ]
    t = st[-1].build(1, (-1,), "regression")
    assert isinstance(t, mixkit.CMixUp) and t.sigma == 3.5
    assert resolve_strategies("cmixup:sigma=9", (1.0,), task="regression", sigma=3.5)[0].label == (
        "cmixup(alpha=1, sigma=9)"
    )
    # every transform is built for continuous targets: the mixed targets follow the plan
    m = st[1].build(1, (-1,), "regression")
    x, yy = np.zeros((6, 2)), np.arange(6.0) * 10
    res = m(x, yy, rng=0)
    plan = m.sample(6, rng=0, shape=x.shape)
    np.testing.assert_allclose(res.y, plan.lam * yy + (1 - plan.lam) * yy[plan.partner])


def test_reference_trainer_mixes_targets_in_their_units_and_predicts_them():
    X, y = _linear(n=80, scale=40.0, offset=300.0)
    seen = []

    class Spy:
        def __call__(self, xb, yb, rng=None):
            seen.append(yb.detach().clone())
            return mixkit.MixUp(0.4, targets="continuous")(xb, yb, rng=rng)

    trainer = ReferenceTrainer("mlp", TrainConfig(epochs=30, batch_size=16), "regression")
    predict = trainer(Spy(), X, y, seed=0, device="cpu", num_classes=1)
    assert float(max(abs(t).max() for t in seen)) > 100  # the transform sees raw targets
    pred = predict(X)
    assert pred.shape == (80,)
    # trained on standardised targets, predictions come back in the targets' units
    assert abs(pred.mean() - y.mean()) < 0.3 * y.std()
    assert regression_metrics(pred, y)["rmse"] < y.std()
    Y = np.c_[y, -y / 10]
    trainer = ReferenceTrainer("mlp", TrainConfig(epochs=2), "regression")
    assert trainer(None, X, Y, seed=0, device="cpu", num_classes=2)(X[:7]).shape == (7, 2)


# -- end to end ------------------------------------------------------------------------------------
def test_user_train_function_metrics_equal_a_hand_computation(tmp_path):
    X, y = _linear(n=60)
    res = mixkit.sweep(
        (X, y),
        task="regression",
        train=lstsq_fit,
        methods="none,mixup,cmixup",
        out=tmp_path,
        **{k: v for k, v in QUICK.items() if k != "epochs"},
    )
    assert not res.failed and res.missing == 0
    got = read_data((X, y), task="regression")
    ds = make_split(got.X, got.y, got.kind, task="regression", columns=got.columns)
    sigma = default_sigma(ds.y_train)
    labels = [r["strategy"] for r in res.summary]
    assert labels == ["none", "mixup(alpha=0.4)", f"cmixup(alpha=0.4, sigma={sigma:g})"]
    none = [t for t in res.trials if t["strategy"] == "none"]
    predict = lstsq_fit(None, ds.X_train, ds.y_train, seed=0, device="cpu", num_classes=1)
    for split, Xs, ys in (("val", ds.X_val, ds.y_val), ("test", ds.X_test, ds.y_test)):
        err = predict(Xs) - ys
        for t in none:  # no mixing: every seed fits the same least squares
            assert t[f"{split}_rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
            assert t[f"{split}_mae"] == pytest.approx(np.mean(np.abs(err)))
    row = res.summary[1]
    mix = [t for t in res.trials if t["strategy"] == "mixup(alpha=0.4)"]
    diffs = [m["test_rmse"] - n["test_rmse"] for m, n in zip(mix, none)]
    assert row["diff_test_rmse"]["mean"] == pytest.approx(np.mean(diffs))
    assert row["test_rmse"][0] == pytest.approx(np.mean([m["test_rmse"] for m in mix]))
    text = res.report.read_text()
    assert "| strategy | seeds | val RMSE | test RMSE [95% CI]" in text
    assert "Selected on validation RMSE" in res.statement
    assert (tmp_path / "metrics_vs_alpha.png").exists() and not (
        tmp_path / "reliability.png"
    ).exists()


def test_wrong_predictions_fail_the_trial_with_the_reason(tmp_path):
    X, y = _linear(n=40)

    def two_columns(transform, X_train, y_train, *, seed, device, num_classes):
        return lambda Z: np.zeros((len(Z), 2))

    res = mixkit.sweep(
        (X, y),
        task="regression",
        train=two_columns,
        methods="none",
        out=tmp_path,
        seeds=1,
        progress=False,
    )
    assert len(res.failed) == 1 and "expected regression predictions of shape" in res.failed[0]


def test_multi_output_targets_with_the_reference_trainer(tmp_path):
    X, Y = _linear(n=60, outputs=2)
    res = mixkit.sweep(
        (X, Y), task="regression", methods="none,cmixup", out=tmp_path, model="mlp", **QUICK
    )
    assert not res.failed and res.missing == 0
    assert all(np.isfinite(t["test_rmse"]) for t in res.trials)
    assert "2 target(s): y0, y1" in res.report.read_text()


def test_bundled_diabetes_and_tecator_run(tmp_path):
    res = mixkit.sweep(
        "diabetes",
        task="regression",
        methods="none,cmixup",
        out=tmp_path / "d",
        model="mlp",
        **{**QUICK, "seeds": 1},
    )
    assert not res.failed and res.dataset == "diabetes"
    assert len(res.trials) == 2 and res.trials[0]["test_rmse"] > 0
    got = read_data("tecator", task="regression")
    assert got.X.shape == (215, 1, 100) and got.kind == "series" and got.columns == ("fat",)


def test_cli_regression_csv_with_two_target_columns(tmp_path):
    X, Y = _linear(n=50, outputs=2)
    lines = ["f0,f1,f2,t1,t2"] + [",".join(f"{v:.5f}" for v in (*x, *t)) for x, t in zip(X, Y)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    args = ["sweep", "--data", str(tmp_path / "r.csv"), "--task", "regression", "--label-column", "t1,t2",
            "--methods", "none,mixup,cmixup:sigma=20", "--alphas", "0.4", "--seeds", "2", "--epochs", "2",
            "--jobs", "1", "--quiet", "--model", "mlp", "--out", str(tmp_path / "o")]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    trials = json.loads((tmp_path / "o" / "trials.json").read_text())
    assert {t["strategy"] for t in trials} == {
        "none",
        "mixup(alpha=0.4)",
        "cmixup(alpha=0.4, sigma=20)",
    }
    assert "t1, t2" in (tmp_path / "o" / "report.md").read_text()
    bad = CliRunner().invoke(cli, ["sweep", "--data", str(tmp_path / "r.csv"), "--label-column", "t1",
                                   "--methods", "none,cmixup", "--quiet", "--out", str(tmp_path / "b")])  # fmt: skip
    assert bad.exit_code == 2 and "say so with --task regression" in bad.output

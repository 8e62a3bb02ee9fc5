"""mixkit sweep on tiny configurations: protocol, metrics, data, methods, report files, Python API."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

pytest.importorskip("optuna")
pytest.importorskip("torch")

import mixkit
from mixkit.sweep import SweepError, SweepResult
from mixkit.sweep.data import load_data, make_split
from mixkit.sweep.methods import available_methods, parse_alphas, resolve_strategies, split_list
from mixkit.sweep.metrics import classification_metrics, fit_temperature, interval, paired
from mixkit.sweep.summary import select, verdict

TINY = {"seeds": 2, "epochs": 2, "labels_per_class": 4, "alphas": "0.4", "progress": False}


# -- metrics ---------------------------------------------------------------------------------------
def test_ece_and_nll_by_hand():
    # two samples: confidence 0.9 correct, confidence 0.6 wrong -> ECE = (|0.9-1| + |0.6-0|) / 2
    probs = np.array([[0.9, 0.1], [0.4, 0.6]])
    m = classification_metrics(np.log(probs), np.array([0, 0]), 2)
    assert m["acc"] == 0.5
    assert m["ece"] == pytest.approx((0.1 + 0.6) / 2)
    assert m["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)
    assert m["bacc"] == 0.5  # only class 0 present: recall 1/2
    assert sum(m["bins"]["count"]) == 2 and len(m["bins"]["count"]) == 15


def test_balanced_accuracy_weights_classes_equally():
    logits = np.array([[5.0, 0], [5.0, 0], [5.0, 0], [0, 5.0]])
    m = classification_metrics(logits, np.array([0, 0, 0, 0]) * 0 + np.array([0, 0, 0, 1]), 2)
    assert m["acc"] == 1.0 and m["bacc"] == 1.0
    m = classification_metrics(logits, np.array([0, 0, 1, 1]), 2)
    assert m["acc"] == 0.75 and m["bacc"] == pytest.approx((1.0 + 0.5) / 2)


def test_temperature_fit_recovers_a_known_temperature():
    gen = np.random.default_rng(0)
    true_logits = gen.normal(size=(4000, 5)) * 3
    probs = np.exp(true_logits - true_logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    y = np.array([gen.choice(5, p=p) for p in probs])
    t = fit_temperature(true_logits * 2.5, y)  # over-confident by a factor 2.5
    assert t == pytest.approx(2.5, rel=0.1)


def test_interval_and_paired_difference():
    m, lo, hi = interval([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi and hi - 2.0 == pytest.approx(2.0 - lo)
    assert math.isnan(interval([1.0])[1])
    d = paired([0.9, 0.8, 0.95, 0.85], [0.8, 0.7, 0.9, 0.8])
    assert d["mean"] == pytest.approx(0.075) and d["wins"] == 4 and d["p"] < 0.05 and d["low"] > 0


def _row(name, val, diff=None):
    r = {"strategy": name, "val_acc": (val, val, val), "val_nll": (0.1, 0.1, 0.1)}
    if diff is not None:
        r["diff_test_acc"] = diff
    return r


def test_verdict_says_plainly_when_nothing_beats_the_baseline():
    rows = [_row("none", 0.9), _row("mixup(alpha=0.4)", 0.8, paired([0.8, 0.8], [0.9, 0.9]))]
    assert select(rows)["strategy"] == "none"
    assert verdict(rows).startswith("Nothing beat the baseline")


def test_verdict_significant_and_not_significant():
    sig = paired([0.96, 0.97, 0.955, 0.965], [0.94, 0.945, 0.94, 0.942])
    text = verdict([_row("none", 0.9), _row("mixup(alpha=0.4)", 0.95, sig)])
    assert "mixup(alpha=0.4)" in text and "statistically significant at the 5% level" in text
    noisy = paired([0.96, 0.92, 0.95], [0.94, 0.95, 0.94])
    text = verdict([_row("none", 0.9), _row("mixup(alpha=0.4)", 0.95, noisy)])
    assert "not statistically significant" in text


# -- methods ---------------------------------------------------------------------------------------
def test_methods_are_found_in_the_public_api():
    found = available_methods()
    assert found["mixup"] is mixkit.MixUp and found["cutmix"] is mixkit.CutMix
    assert "oneof" not in found and "mixer" not in found
    for cls in found.values():
        assert issubclass(cls, mixkit.Mixer)


def test_alpha_sweep_and_options():
    s = resolve_strategies("none,MixUp,cutmix:alpha=1.0:lam_mode=sample", (0.1, 0.4), num_classes=3)
    assert [x.label for x in s] == [
        "none",
        "mixup(alpha=0.1)",
        "mixup(alpha=0.4)",
        "cutmix(alpha=1, lam_mode='sample')",
    ]
    t = s[3].build(3, (-1,))
    assert (
        isinstance(t, mixkit.CutMix)
        and t.lam_mode == "sample"
        and t.axes == (-1,)
        and t.num_classes == 3
    )
    assert split_list("a,b:x=(1,2),c") == ["a", "b:x=(1,2)", "c"]


@pytest.mark.parametrize(
    "spec, match",
    [
        ("nomix", r"unknown method 'nomix'; available: none, .*cutmix.*mixup"),
        ("mixup:beta=2", r"unknown option 'beta'; MixUp takes: alpha"),
        ("mixup:lam_mode=often", r"method 'mixup:lam_mode=often': lam_mode must be one of"),
        ("mixup:alpha", r"options are written key=value"),
        ("none:alpha=1", r"'none' takes no options"),
        ("", r"--methods is empty"),
    ],
)
def test_bad_methods(spec, match):
    with pytest.raises(SweepError, match=match):
        resolve_strategies(spec, (0.4,), num_classes=3)


@pytest.mark.parametrize(
    "text, match",
    [
        ("0.1,abc", r"--alphas must be a comma list of positive numbers, got 'abc'"),
        ("0.1,-1", r"--alphas must be positive finite numbers"),
        ("0,1", r"--alphas must be positive finite numbers"),
        ("", r"--alphas is empty"),
    ],
)
def test_bad_alphas(text, match):
    with pytest.raises(SweepError, match=match):
        parse_alphas(text)


# -- data ------------------------------------------------------------------------------------------
def test_split_is_stratified_fixed_and_disjoint():
    X, y, kind, _ = load_data("digits")
    a = make_split(X, y, kind, labels_per_class=7, seed=3)
    b = make_split(X, y, kind, labels_per_class=7, seed=3)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert np.bincount(a.y_train).tolist() == [7] * 10
    assert min(np.bincount(a.y_val)) >= 30 and min(np.bincount(a.y_test)) >= 30
    raw = X.reshape(len(X), -1)
    rows = {r.tobytes() for r in a.raw_train.reshape(len(a.raw_train), -1)}
    assert len(rows) == 70  # digits has no duplicate images in these picks
    assert a.X_train.dtype == np.float32 and a.input_shape == (1, 8, 8)
    assert abs(float(a.X_train.mean())) < 1e-4  # normalised with training statistics
    assert raw.shape[0] == len(a.y_train) + len(a.y_val) + len(a.y_test) + (
        len(X) - 70 - len(a.y_val) - len(a.y_test)
    )


def test_imbalance_makes_a_long_tail():
    X, y, kind, _ = load_data("digits")
    ds = make_split(X, y, kind, labels_per_class=20, imbalance=10.0)
    counts = np.bincount(ds.y_train)
    assert counts.max() == 20 and counts.min() == 2
    assert np.all(np.diff(np.sort(counts)[::-1]) <= 0)


def test_user_npz_csv_and_image_folder(tmp_path):
    gen = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=gen.random((30, 4)), y=np.repeat(["a", "b", "c"], 10))
    X, y, kind, name = load_data(str(tmp_path / "d.npz"))
    assert X.shape == (30, 4) and kind == "tabular" and name == "d"
    (tmp_path / "t.csv").write_text(
        "f1,f2,target\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(12))
    )
    X, y, kind, _ = load_data(str(tmp_path / "t.csv"), label_column="target")
    assert X.shape == (12, 2) and kind == "tabular" and sorted(set(y)) == ["0", "1"]
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((gen.random((10, 12)) * 255).astype(np.uint8)).save(
                tmp_path / "img" / c / f"{i}.png"
            )
    X, y, kind, _ = load_data(str(tmp_path / "img"), image_size=8)
    assert X.shape == (6, 1, 8, 8) and kind == "image" and list(y) == ["cat"] * 3 + ["dog"] * 3


def test_bundled_time_series():
    pytest.importorskip("sktime")
    X, _y, kind, name = load_data("GunPoint")
    assert X.shape == (200, 1, 150) and kind == "series" and name == "gunpoint"


# -- end to end ------------------------------------------------------------------------------------
def test_tiny_sweep_writes_the_report_and_stores_every_trial(tmp_path):
    res = mixkit.sweep("digits", methods="none,mixup,cutmix:alpha=1.0", out=tmp_path, **TINY)
    assert isinstance(res, SweepResult)
    assert res.ran == 6 and res.skipped == 0 and res.missing == 0 and not res.failed
    assert {r["strategy"] for r in res.summary} == {"none", "mixup(alpha=0.4)", "cutmix(alpha=1)"}
    for name in (
        "report.md",
        "report.html",
        "trials.json",
        "trials.csv",
        "metrics_vs_alpha.png",
        "reliability.png",
        "mixed_samples.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert len(trials) == 6 and {t["seed"] for t in trials} == {0, 1}
    for t in trials:
        assert 0 <= t["test_acc"] <= 1 and t["test_nll"] > 0 and 0 <= t["test_ece"] <= 1
        assert t["temperature"] > 0
    md = (tmp_path / "report.md").read_text()
    assert res.statement in md and "| none" in md and "mixup(alpha=0.4)" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "src='metrics" not in html
    # the selected strategy is the best on validation, whatever the test says
    best = max(res.summary, key=lambda r: (r["val_acc"][0], -r["val_nll"][0]))
    assert res.selected == best["strategy"]
    # a second run finds everything stored and runs nothing
    again = mixkit.sweep("digits", methods="none,mixup,cutmix:alpha=1.0", out=tmp_path, **TINY)
    assert again.ran == 0 and again.skipped == 6
    assert [t["number"] for t in again.trials] == [t["number"] for t in res.trials]


def test_seeds_are_paired_and_reproducible(tmp_path):
    a = mixkit.sweep("digits", methods="none", out=tmp_path / "a", **TINY)
    b = mixkit.sweep("digits", methods="none", out=tmp_path / "b", **TINY)
    assert [t["test_nll"] for t in a.trials] == [t["test_nll"] for t in b.trials]
    assert a.trials[0]["test_nll"] != a.trials[1]["test_nll"]  # different seeds differ


def test_parallel_jobs_time_series_and_user_factory(tmp_path, monkeypatch):
    pytest.importorskip("sktime")
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "def tiny(shape, k):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(shape[0] * shape[1], k))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    res = mixkit.sweep(
        "gunpoint",
        methods="none,mixup,cutmix:alpha=1.0",
        model="my_models:tiny",
        out=tmp_path / "out",
        jobs=2,
        **TINY,
    )
    assert res.ran == 6 and not res.failed
    assert (tmp_path / "out" / "mixed_samples.png").exists()
    assert "my_models:tiny" in (tmp_path / "out" / "report.md").read_text()


def test_tabular_csv_with_mlp(tmp_path):
    gen = np.random.default_rng(1)
    lines = ["a,b,c,cls"] + [
        f"{gen.normal() + i % 2},{gen.normal()},{gen.normal()},{'yes' if i % 2 else 'no'}"
        for i in range(60)
    ]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    res = mixkit.sweep(
        str(tmp_path / "t.csv"),
        label_column="cls",
        methods="none,mixup",
        out=tmp_path / "o",
        **TINY,
    )
    assert res.ran == 4 and "mlp" in (tmp_path / "o" / "report.md").read_text()
    assert not (tmp_path / "o" / "mixed_samples.png").exists()  # no picture for tabular rows


def test_sweep_is_lazy_and_callable():
    import subprocess

    code = "import sys, mixkit; f = mixkit.sweep; print(callable(f), 'torch' in sys.modules, 'optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_digits_read_from_the_shipped_file_match_load_digits():
    from sklearn.datasets import load_digits

    from mixkit.sweep.data import _digits

    X, y = _digits()
    d = load_digits()
    assert np.array_equal(X, (d.images[:, None] / 16.0).astype(np.float32)) and np.array_equal(
        y, d.target
    )


def test_storage_url_puts_the_store_where_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    res = mixkit.sweep(
        "digits", methods="none", out=tmp_path / "report", storage=url, **{**TINY, "seeds": 1}
    )
    assert res.ran == 1 and res.storage == url
    assert (tmp_path / "shared.db").exists() and not (tmp_path / "report" / "sweep.db").exists()
    other = mixkit.sweep(
        "digits", methods="none", out=tmp_path / "report2", storage=url, **{**TINY, "seeds": 1}
    )
    assert other.ran == 0 and other.skipped == 1  # a second report folder, the same stored trial


def test_a_method_that_cannot_mix_the_data_fails_before_training():
    if not hasattr(mixkit, "ClassMix"):
        pytest.skip("ClassMix (needs segmentation masks) is not in this build")
    x = np.zeros((4, 1, 8, 8), np.float32)
    with pytest.raises(SweepError, match=r"method classmix cannot mix this data: ClassMix"):
        resolve_strategies(
            "classmix", (1.0,), num_classes=3, axes=(-2, -1), probe=(x, np.arange(4) % 3)
        )


def test_methods_with_open_options_get_num_classes():
    if not hasattr(mixkit, "AudioMixUp"):
        pytest.skip("AudioMixUp is not in this build")
    x = np.random.default_rng(0).random((4, 1, 16)).astype(np.float32)
    (s,) = resolve_strategies(
        "audiomixup:alpha=0.4", (1.0,), num_classes=3, axes=(-1,), probe=(x, np.arange(4) % 3)
    )
    _, targets = s.build(3, (-1,))(x, np.arange(4) % 3, rng=0)
    assert targets.shape == (4, 3)
    with pytest.raises(SweepError, match=r"method 'audiomixup:bogus=1'"):
        resolve_strategies("audiomixup:bogus=1", (1.0,), num_classes=3)


def test_equal_differences_on_every_seed_use_the_sign_test():
    d = paired([0.9, 0.8], [0.85, 0.75])
    assert d["p"] == pytest.approx(0.5) and d["wins"] == 2
    assert paired([0.9] * 5, [0.8] * 5)["p"] == pytest.approx(0.0625)
    assert paired([0.9, 0.8], [0.9, 0.8])["p"] == 1.0


def test_tiny_training_splits_get_several_steps_per_epoch():
    from mixkit.sweep.train import effective_batch_size

    assert effective_batch_size(32, 200) == 32 and effective_batch_size(32, 40) == 8
    assert effective_batch_size(32, 6) == 2


def test_store_claims_live_and_dead(tmp_path):
    import socket

    from mixkit.sweep.store import TrialStore

    url = f"sqlite:///{tmp_path / 's.db'}"
    mine, other = TrialStore(url, "s"), TrialStore(url, "s")
    t = mine.study.ask()
    assert other.busy() == set()  # a claim whose attributes are not written yet is left alone
    t.set_user_attr("key", "a")
    t.set_user_attr("host", "elsewhere")
    t.set_user_attr("pid", 1)
    assert other.busy() == {"a"}  # another host with a fresh heartbeat: running
    assert other.claim("a", {}) is None
    dead = mine.study.ask()
    for k, v in {"key": "b", "host": socket.gethostname(), "pid": 2**22 + 12345}.items():
        dead.set_user_attr(k, v)
    assert other.busy() == {"a"}  # this host, no such process: reaped
    assert mine.study.get_trials()[1].state.name == "FAIL"
    claimed = other.claim("b", {"seed": 0})
    assert claimed is not None
    other.finish(claimed, {"val_acc": 0.5})
    assert set(other.completed()) == {"b"} and other.claim("b", {}) is None

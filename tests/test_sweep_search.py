"""Search within a budget: the stopping rule, selection on a chosen validation score, the search
space, and the TPE search itself (reproducible, stops hopeless candidates, resumes without redoing).

Most search tests drive :class:`SearchRun` with a stand-in for the trial runner that stores scores
computed from the strategy's options (no training), so they are exact and fast; two tests run the
real thing end to end on a tiny digits split."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("optuna")

from mixkit.sweep import SweepError
from mixkit.sweep.methods import NONE
from mixkit.sweep.metrics import paired
from mixkit.sweep.result import trial_key
from mixkit.sweep.search import (
    ALPHA_RANGE,
    P_RANGE,
    SearchRun,
    parse_search_space,
    prepare_search,
    stop_early,
)
from mixkit.sweep.store import TrialStore
from mixkit.sweep.summary import (
    resolve_select_on,
    select,
    selection_notes,
    verdict,
)


# -- the stopping rule ---------------------------------------------------------------------------
def test_stop_early_stops_a_hopeless_candidate_and_keeps_a_close_one():
    best = {0: 0.90, 1: 0.92, 2: 0.91}
    assert stop_early({0: 0.10, 1: 0.12}, best)  # far below on both paired seeds
    assert not stop_early({0: 0.10}, best)  # one seed: never stopped
    assert not stop_early({0: 0.89, 1: 0.93}, best)  # close, noisy: goes on
    assert not stop_early({0: 0.895, 1: 0.915}, best)  # 0.5 points worse: within the margin
    assert stop_early({0: 0.85, 1: 0.87, 2: 0.86}, best)  # 5 points worse on every seed
    assert not stop_early({0: 0.95, 1: 0.97}, best)  # better
    # lower is better (NLL): a much higher NLL stops, a lower one does not
    nll = {0: 0.30, 1: 0.32}
    assert stop_early({0: 1.5, 1: 1.6}, nll, higher=False)
    assert not stop_early({0: 0.2, 1: 0.25}, nll, higher=False)
    # only the seeds both ran are compared
    assert not stop_early({5: 0.1, 6: 0.1}, best)


def test_stop_early_weighs_noise():
    best = {0: 0.90, 1: 0.90, 2: 0.90}
    # on average 3 points worse but one seed better: the 90% bound is above -1 point
    assert not stop_early({0: 0.80, 1: 0.92, 2: 0.89}, best)
    assert stop_early({0: 0.86, 1: 0.87, 2: 0.88}, best)


# -- selection -----------------------------------------------------------------------------------
def _row(name, acc, bacc, nll, *, pruned=False, test=0.5):
    return {
        "strategy": name,
        "val_acc": (acc, acc, acc),
        "val_bacc": (bacc, bacc, bacc),
        "val_nll": (nll, nll, nll),
        "test_acc": (test, test, test),
        "pruned": pruned,
    }


ROWS = [
    _row("none", 0.80, 0.60, 0.50, test=0.99),
    _row("mixup(alpha=0.4)", 0.90, 0.70, 0.60, test=0.10),  # best accuracy
    _row("cutmix(alpha=1)", 0.85, 0.80, 0.55, test=0.10),  # best balanced accuracy
    _row("mixup(alpha=0.1)", 0.82, 0.65, 0.30, test=0.10),  # best NLL
]


def test_select_on_changes_the_selection():
    assert select(ROWS)["strategy"] == "mixup(alpha=0.4)"
    assert select(ROWS, "accuracy")["strategy"] == "mixup(alpha=0.4)"
    assert select(ROWS, "balanced_accuracy")["strategy"] == "cutmix(alpha=1)"
    assert select(ROWS, "nll")["strategy"] == "mixup(alpha=0.1)"
    # the test split never selects: "none" has by far the best test accuracy
    assert all(select(ROWS, on)["strategy"] != "none" for on in ("accuracy", "nll"))


def test_select_skips_stopped_candidates_and_breaks_ties():
    rows = [*ROWS, _row("mixup(alpha=2)", 0.99, 0.99, 0.01, pruned=True)]
    for on in ("accuracy", "balanced_accuracy", "nll"):
        assert select(rows, on)["strategy"] != "mixup(alpha=2)"
    tie = [_row("a", 0.9, 0.9, 0.4), _row("b", 0.9, 0.9, 0.3)]
    assert select(tie)["strategy"] == "b"  # same accuracy: lower NLL
    tie = [_row("a", 0.8, 0.9, 0.3), _row("b", 0.9, 0.9, 0.3)]
    assert select(tie, "nll")["strategy"] == "b"  # same NLL: higher accuracy
    assert select([_row("a", 0.9, 0.9, 0.3, pruned=True)]) is None


def test_select_on_default_and_errors():
    assert resolve_select_on(None) == "accuracy"
    assert resolve_select_on(None, imbalance=10.0) == "balanced_accuracy"
    assert resolve_select_on("balanced-accuracy") == "balanced_accuracy"
    with pytest.raises(SweepError, match=r"--select-on must be one of accuracy, balanced_accura"):
        resolve_select_on("f1")
    old = [{"strategy": "none", "val_acc": (0.9,) * 3, "val_nll": (0.3,) * 3}]
    with pytest.raises(SweepError, match=r"cannot select on validation balanced accuracy"):
        select(old, "balanced_accuracy")


def test_verdict_speaks_in_the_selection_metric():
    gain = paired([0.30, 0.31, 0.29, 0.30], [0.50, 0.52, 0.49, 0.51])  # NLL down on every seed
    rows = [_row("none", 0.9, 0.9, 0.5), {**_row("mixup(alpha=0.1)", 0.9, 0.9, 0.3)}]
    rows[1]["diff_test_nll"] = gain
    text = verdict(rows, "nll")
    assert text.startswith("Selected on validation NLL: mixup(alpha=0.1) (validation NLL 0.300)")
    assert "changes NLL by -0.205 against no mixing" in text
    assert "better on 4 of 4 seeds" in text and "statistically significant" in text
    assert verdict(rows[:1], "nll").startswith("Nothing beat the baseline: no mixing has the best")


def test_verdict_reports_calibration_and_no_p_for_one_seed():
    rows = [_row("none", 0.8, 0.8, 0.5), _row("mixup(alpha=0.4)", 0.9, 0.9, 0.4)]
    rows[1]["diff_test_acc"] = paired([0.9], [0.8])
    rows[1]["diff_test_ece"] = paired([0.02], [0.05])
    text = verdict(rows)
    assert "p = nan" not in text and "fewer than 2 paired seeds" in text
    assert "Calibration on the test split against no mixing" in text and "ECE -0.030" in text


def test_selection_notes_count_the_strategies_and_warn():
    grid = selection_notes(ROWS, "accuracy")
    assert grid[0] == "Strategies compared: 4 (including no mixing)."
    assert "best of 4 validation scores is optimistic" in grid[1]
    search = {
        "sampler": "Optuna's TPE sampler",
        "seed": 3,
        "budget": 12,
        "tried": 12,
        "space": "mixup(...)",
        "rule": "the rule",
        "pruned": {"mixup(alpha=3)": 2},
    }
    lines = selection_notes(ROWS, "nll", search)
    assert "12 candidate strategies tried (budget 12)" in lines[0]
    assert "1 stopped early (the rule): mixup(alpha=3) after 2 seed(s)" in lines[0]
    assert "Selected on validation NLL among 13 strategies" in lines[1]
    assert "optimistic" in lines[1]


# -- the search space ----------------------------------------------------------------------------
def test_parse_search_space_forms():
    got = parse_search_space("alpha=0.1:2, cutmix.lam_mode=batch|sample, mixup.p=1, p=0.5:1:log")
    (m0, o0, d0), (m1, o1, d1), (m2, o2, v2), (m3, o3, d3) = got
    assert (m0, o0, d0.low, d0.high, d0.log) == (None, "alpha", 0.1, 2.0, True)  # alpha: log
    assert (m1, o1, d1.choices) == ("cutmix", "lam_mode", ("batch", "sample"))
    assert (m2, o2, v2) == ("mixup", "p", 1)
    assert (m3, o3, d3.log) == (None, "p", True)
    assert parse_search_space(None) == [] and parse_search_space("  ") == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("alpha", r"entries are written \[method.\]option=low:high"),
        ("alpha=2:1", r"low must be below high"),
        ("p=0:1:log", r"log-uniform range .* needs low > 0"),
        ("alpha=a:b", r"a range is written low:high with numbers"),
        ("lam_mode=batch|", r"at least two choices"),
        ("p=0.1:0.5:0.9", r"a range is low:high or low:high:log"),
    ],
)
def test_parse_search_space_errors(text, match):
    with pytest.raises(SweepError, match=match):
        parse_search_space(text)


def test_prepare_search_defaults_and_fixed_options():
    plan = prepare_search("tpe", 5, "none,mixup,cutmix:lam_mode=sample", num_classes=3)
    mixup, cutmix = plan.methods
    assert [d.name for d in mixup.dims] == ["alpha", "p", "lam_mode"]
    alpha = mixup.dims[0]
    assert (alpha.low, alpha.high, alpha.log) == (*ALPHA_RANGE, True)
    assert (mixup.dims[1].low, mixup.dims[1].high) == P_RANGE
    assert [d.name for d in cutmix.dims] == ["alpha", "p"]  # lam_mode fixed by the spec
    assert dict(cutmix.fixed) == {"lam_mode": "sample"}
    plan = prepare_search(
        "TPE", None, "mixup", "alpha=0.2:1, mixup.p=1, lam_mode=batch|sample", num_classes=3
    )
    (m,) = plan.methods
    assert plan.budget == 20 and [d.name for d in m.dims] == ["alpha", "lam_mode"]
    assert dict(m.fixed) == {"p": 1} and m.dims[0].high == 1.0
    # default methods: mixup and cutmix
    assert [m.key for m in prepare_search("tpe", 3, None).methods] == ["mixup", "cutmix"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"sampler": "grid"}, r"--search must be one of tpe, got 'grid'"),
        ({"budget": 0}, r"--budget must be an int >= 1"),
        ({"methods": "none"}, r"needs at least one mixing method"),
        ({"methods": "mixup,nope"}, r"unknown method 'nope'"),
        ({"space": "cutmix.alpha=0.1:1"}, r"names method 'cutmix', which is not searched"),
        ({"space": "mixup.kappa=1:2"}, r"MixUp has no option 'kappa'"),
        ({"space": "gamma=1:2"}, r"option 'gamma' is taken by none of: mixup"),
        ({"methods": "mixup:p=0.5", "space": "p=0.3:1"}, r"already fixes it"),
        ({"space": "p=0.5:1.5"}, r"--search over mixup at p=1.5: .*p"),
        ({"seed": -1}, r"--search-seed must be a non-negative int"),
    ],
)
def test_prepare_search_errors(kw, match):
    args = {"sampler": "tpe", "budget": 3, "methods": "mixup", "space": None, "seed": 0}
    args.update(kw)
    with pytest.raises(SweepError, match=match):
        prepare_search(
            args["sampler"], args["budget"], args["methods"], args["space"], seed=args["seed"]
        )


# -- the search, with a stand-in runner -----------------------------------------------------------
def _score(strategy, seed):
    """Validation accuracy of a pretend model: no mixing 0.80, MixUp a little better the closer
    alpha is to 0.5, and hopeless (0.10) when p is 0.3. Seeds shift every strategy alike."""
    if strategy.method == NONE:
        base = 0.80
    elif dict(strategy.options).get("p") == 0.3:
        base = 0.10
    else:
        base = 0.85 - 0.02 * abs(math.log(strategy.alpha / 0.5))
    return base + 0.01 * seed


class FakeRunner:
    """Stores each trial as the sweep's runner does, with a score from :func:`_score`; optionally
    raises KeyboardInterrupt (as Ctrl-C would) before the ``stop_after``-th trial."""

    def __init__(self, store, stop_after=None):
        self.store, self.stop_after, self.ran = store, stop_after, []

    def __call__(self, strategies, todo):
        for i, seed in todo:
            if self.stop_after is not None and len(self.ran) >= self.stop_after:
                raise KeyboardInterrupt
            s = strategies[i]
            key = trial_key(s, seed)
            trial = self.store.claim(key, {"strategy": s.label, "seed": seed})
            v = _score(s, seed)
            # test metrics are the opposite of validation: selection must never follow them
            self.store.finish(
                trial, {"val_acc": v, "val_bacc": v, "val_nll": 1 - v, "test_acc": 1 - v}
            )
            self.ran.append(key)
            yield "done", key, 0.0


def _search(tmp_path, name, *, budget=4, seed=0, seeds=(0, 1, 2), stop_after=None):
    store = TrialStore(f"sqlite:///{tmp_path / name}.db", "study", {"data": "fake"})
    plan = prepare_search(
        "tpe", budget, "mixup", "alpha=0.05:4, p=0.3|1.0, lam_mode=batch", seed=seed
    )
    runner = FakeRunner(store, stop_after)
    run = SearchRun(plan, store, tuple(seeds), runner)
    return run, runner


def _drain(run):
    return list(run.items())


def test_search_is_reproducible_and_spends_the_budget(tmp_path):
    a, ra = _search(tmp_path, "a", budget=3, seeds=(0, 1))
    b, rb = _search(tmp_path, "b", budget=3, seeds=(0, 1))
    _drain(a), _drain(b)
    labels = [s.label for s in a.strategies]
    assert labels == [s.label for s in b.strategies] and ra.ran == rb.ran
    assert labels[0] == NONE and len(labels) == 4  # no mixing + 3 candidates
    assert all(s.method == "mixup" and 0.05 <= s.alpha <= 4 for s in a.strategies[1:])
    info = a.info()
    assert info["tried"] == 3 and info["budget"] == 3 and info["drawn"] == 3
    c, _ = _search(tmp_path, "c", budget=3, seed=1, seeds=(0, 1))
    _drain(c)
    assert [s.label for s in c.strategies] != labels  # another seed, other candidates


def test_search_stops_hopeless_candidates_early(tmp_path):
    run, runner = _search(tmp_path, "p", budget=6)
    _drain(run)
    hopeless = [s.label for s in run.strategies if dict(s.options).get("p") == 0.3]
    assert hopeless, "the seeded search drew no p=0.3 candidate; pick another search seed"
    assert run.pruned == dict.fromkeys(hopeless, 2)  # stopped after 2 of 3 seeds
    for label in hopeless:
        assert f"{label}|seed=2" not in runner.ran and f"{label}|seed=1" in runner.ran
    for s in run.strategies:  # every other candidate ran every seed
        if s.label not in hopeless:
            assert all(trial_key(s, k) in runner.ran for k in (0, 1, 2))
    n_pruned = len(hopeless)
    assert len(run.grid) == 3 * len(run.strategies) - n_pruned
    assert run.info()["pruned"] == run.pruned


def test_killed_search_resumes_without_redoing_and_draws_the_same_candidates(tmp_path):
    whole, whole_runner = _search(tmp_path, "whole")
    _drain(whole)
    first, r1 = _search(tmp_path, "resumed", stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        _drain(first)
    assert len(r1.ran) == 7
    again, r2 = _search(tmp_path, "resumed")
    items = _drain(again)
    assert not set(r1.ran) & set(r2.ran)  # nothing stored is trained again
    assert [s.label for s in again.strategies] == [s.label for s in whole.strategies]
    assert sorted(r1.ran + r2.ran) == sorted(whole_runner.ran)
    assert sum(1 for st, _, _ in items if st == "skipped") == 7
    # a third run finds the search finished: nothing runs
    third, r3 = _search(tmp_path, "resumed")
    _drain(third)
    assert r3.ran == [] and third.pruned == whole.pruned
    # a larger budget continues the same search
    more, r4 = _search(tmp_path, "resumed", budget=5)
    _drain(more)
    assert [s.label for s in more.strategies][:5] == [s.label for s in whole.strategies]
    assert len(more.strategies) == 6 and all(k.startswith(more.strategies[5].label) for k in r4.ran)


def test_a_candidate_drawn_by_a_killed_process_is_drawn_again_the_same(tmp_path):
    import optuna

    whole, _ = _search(tmp_path, "whole", budget=2)
    _drain(whole)
    run, _ = _search(tmp_path, "half", budget=1)
    _drain(run)
    # a process killed while the sampler drew candidate 2: a RUNNING trial with half its params
    study = run._open()
    trial = study.ask()
    trial.suggest_categorical("method", ["mixup"])
    again, _ = _search(tmp_path, "half", budget=2)
    _drain(again)
    assert [s.label for s in again.strategies] == [s.label for s in whole.strategies]
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states.count(optuna.trial.TrialState.FAIL) == 1


def test_search_selects_on_validation_only(tmp_path):
    from mixkit.sweep.summary import summarise

    run, _ = _search(tmp_path, "sel")
    _drain(run)
    trials = [
        {
            "strategy": t.user_attrs["strategy"],
            "seed": t.user_attrs["seed"],
            **t.user_attrs["result"],
        }
        for t in run.store.completed().values()
    ]
    for t in trials:
        t.update({m: t["test_acc"] for m in ("test_bacc", "test_nll", "test_ece", "test_ts_ece")})
        t["test_ts_nll"] = t["test_nll"]
    rows = summarise(trials, run.strategies, pruned=run.pruned)
    chosen = select(rows)
    best_val = max((r for r in rows if not r["pruned"]), key=lambda r: r["val_acc"][0])
    assert chosen["strategy"] == best_val["strategy"] != NONE
    assert chosen["test_acc"][0] == min(r["test_acc"][0] for r in rows if not r["pruned"])


def test_no_numpy_warning_from_the_rule():
    # identical scores: zero spread, zero mean difference: not stopped, no division warning
    assert not stop_early({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5})


# -- end to end: real training on a tiny split --------------------------------------------------
TINY = {"seeds": 2, "epochs": 1, "labels_per_class": 4, "progress": False}


@pytest.mark.slow
def test_sweep_search_end_to_end_resume_and_select_on(tmp_path):
    pytest.importorskip("torch")
    import mixkit

    res = mixkit.sweep("digits", search="tpe", budget=2, out=tmp_path, **TINY)
    labels = [r["strategy"] for r in res.summary]
    assert labels[0] == NONE and len(labels) == 3 and res.ran == 6 and res.missing == 0
    assert not res.failed
    best = max(res.summary, key=lambda r: (r["val_acc"][0], -r["val_nll"][0]))
    assert res.selected == best["strategy"]
    md = (tmp_path / "report.md").read_text()
    assert "2 candidate strategies tried (budget 2)" in md
    assert "validation scores is optimistic" in md and res.statement in md
    # the same search again: nothing is trained; selecting on NLL changes no stored trial
    again = mixkit.sweep("digits", search="tpe", budget=2, out=tmp_path, select_on="nll", **TINY)
    assert again.ran == 0 and again.skipped == 6
    assert [r["strategy"] for r in again.summary] == labels
    assert [t["number"] for t in again.trials] == [t["number"] for t in res.trials]
    best = min(again.summary, key=lambda r: (r["val_nll"][0], -r["val_acc"][0]))
    assert again.selected == best["strategy"]
    assert "validation NLL" in again.statement
    assert "Selected on validation NLL among 3 strategies" in (tmp_path / "report.md").read_text()


def test_cli_search_options_are_checked_before_anything_is_written(tmp_path):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from mixkit.cli import cli

    cases = [
        (["--search", "tpe", "--budget", "0"], "--budget must be an int >= 1"),
        (["--search", "tpe", "--search-space", "mixup.kappa=1:2"], "MixUp has no option 'kappa'"),
        (["--select-on", "f1"], "Invalid value for '--select-on'"),
        (["--search", "tpe", "--methods", "none"], "needs at least one mixing method"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / str(i)
        res = CliRunner().invoke(cli, ["sweep", *args, "--out", str(out), "--quiet"])
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (out / "sweep.db").exists()

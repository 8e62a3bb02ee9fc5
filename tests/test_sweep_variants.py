"""Training-step variants named in ``--methods``: ``regmixup`` and ``puzzlemix`` (the strategies that
run the model), resolved with their options, bound to a model, and run end to end in a sweep."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("optuna")
torch = pytest.importorskip("torch")

import mixkit
import mixkit.torch as mt
from mixkit.sweep import SweepError
from mixkit.sweep.methods import resolve_strategies
from mixkit.sweep.variants import PuzzleMixStrategy, RegMixupStrategy, model_strategies

TINY = {"seeds": 1, "epochs": 1, "labels_per_class": 4, "progress": False, "jobs": 1}
HAS_PUZZLEMIX = hasattr(mt, "PuzzleMix")
needs_puzzlemix = pytest.mark.skipif(
    not HAS_PUZZLEMIX, reason="mixkit.torch.PuzzleMix is not built"
)


def _batch(b=6, c=3, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=gen)
    y = torch.arange(b) % c
    return x, y


def _linear(d=5, c=3):
    torch.manual_seed(0)
    return torch.nn.Linear(d, c).double()


# -- names and options ------------------------------------------------------------------------------
def test_variants_resolve_by_name_with_options():
    assert model_strategies()["regmixup"] is RegMixupStrategy
    assert model_strategies()["puzzlemix"] is PuzzleMixStrategy
    s = resolve_strategies(
        "none,RegMixup,regmixup:alpha=20:lam_mode=sample", (0.4, 1.0), num_classes=3
    )
    assert [x.label for x in s] == [
        "none",
        "regmixup(alpha=0.4)",  # alpha not fixed: swept over --alphas, as for every method
        "regmixup(alpha=1)",
        "regmixup(alpha=20, lam_mode='sample')",
    ]
    t = s[3].build(3, None)
    assert isinstance(t, RegMixupStrategy) and t.mixes_hidden
    assert (t.alpha, t.lam_mode, t.num_classes, t.weight) == (20.0, "sample", 3, 1.0)
    assert t.mixer.alpha == 20.0 and t.mixer.lam_mode == "sample" and t.mixer.num_classes == 3
    # built directly, alpha is the authors' (and mixkit.torch.RegMixup's) default
    assert RegMixupStrategy().alpha == mt.regmixup.DEFAULT_ALPHA == 20.0


@needs_puzzlemix
def test_puzzlemix_resolves_by_name():
    s = resolve_strategies("puzzlemix,puzzlemix:alpha=1.0", (0.4,), num_classes=3)
    assert [x.label for x in s] == ["puzzlemix(alpha=0.4)", "puzzlemix(alpha=1)"]
    t = s[1].build(3, None)
    assert (
        isinstance(t, PuzzleMixStrategy) and t.mixes_hidden and (t.alpha, t.num_classes) == (1.0, 3)
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            "regmixup:weight=0.5",
            r"method 'regmixup:weight=0.5': regmixup: the sweep trains with weight 1 only",
        ),
        ("regmixup:weight='one'", r"regmixup: weight must be the number 1.0, got 'one'"),
        ("regmixup:alpha=big", r"method 'regmixup:alpha=big': alpha must be a positive number"),
        (
            "regmixup:alpha=-1",
            r"method 'regmixup:alpha=-1': regmixup: alpha must be a positive finite",
        ),
        ("regmixup:alpha=0", r"regmixup: alpha must be a positive finite number"),
        ("regmixup:lam_mode=pixel", r"method 'regmixup:lam_mode=pixel': .*lam_mode"),
        (
            "regmixup:beta=2",
            r"unknown option 'beta'; RegMixupStrategy takes: alpha, lam_mode, weight",
        ),
        ("regmixup:mixer=cutmix", r"unknown option 'mixer'"),
        (
            "puzzlemix:alpha=0",
            r"method 'puzzlemix:alpha=0': puzzlemix: alpha must be a positive finite",
        ),
    ],
)
def test_bad_variant_options_are_refused_by_name(spec, match):
    with pytest.raises(SweepError, match=match):
        resolve_strategies(spec, (0.4,), num_classes=3)


def test_bad_options_built_directly():
    with pytest.raises(ValueError, match=r"weight 1 only .* got weight=2"):
        RegMixupStrategy(weight=2)
    with pytest.raises(TypeError, match=r"weight must be the number 1.0, got True"):
        RegMixupStrategy(weight=True)
    with pytest.raises(ValueError, match=r"alpha must be a positive finite number .* got inf"):
        RegMixupStrategy(float("inf"))
    with pytest.raises(
        ValueError, match=r"puzzlemix: alpha must be a positive finite number .* got '1'"
    ):
        PuzzleMixStrategy("1")


@needs_puzzlemix
def test_puzzlemix_unknown_option_is_refused_by_its_constructor():
    with pytest.raises(SweepError, match=r"method 'puzzlemix:no_such_option=1': .*no_such_option"):
        resolve_strategies("puzzlemix:no_such_option=1", (0.4,), num_classes=3)


@needs_puzzlemix
def test_puzzlemix_clean_loss_is_refused():
    with pytest.raises(
        SweepError, match=r"puzzlemix: clean_lam=0.5 adds a clean loss .* leave it at 0"
    ):
        resolve_strategies("puzzlemix:clean_lam=0.5", (0.4,), num_classes=3)


@needs_puzzlemix
def test_bound_puzzlemix_trains_on_the_puzzlemix_batch():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)
    ).double()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(6, 1, 8, 8, generator=gen, dtype=torch.float64), torch.arange(6) % 3
    x0 = x.clone()
    step = PuzzleMixStrategy(1.0, num_classes=3, block_counts=(2, 4)).bind(model)
    logits, targets = step(x, y, rng=np.random.default_rng(3))
    assert torch.equal(x, x0)
    assert all(p.grad is None for p in model.parameters())  # the saliency pass leaves no gradients
    ref = mt.PuzzleMix(1.0, num_classes=3, block_counts=(2, 4))(
        model, x0, y, rng=np.random.default_rng(3)
    )
    assert not torch.equal(ref.x, x0)
    with torch.no_grad():
        assert torch.allclose(logits, model(ref.x), atol=1e-12)
    assert torch.equal(targets, ref.y) and targets.shape == (6, 3)
    assert mt.soft_cross_entropy(logits, targets).requires_grad


def test_variants_called_on_a_batch_say_how_to_use_them():
    x, y = _batch()
    with pytest.raises(
        TypeError, match=r"RegMixupStrategy runs the model .* transform.bind\(model\)"
    ):
        RegMixupStrategy(num_classes=3)(x, y, rng=0)
    if HAS_PUZZLEMIX:
        with pytest.raises(
            TypeError, match=r"PuzzleMixStrategy runs the model and cannot mix a batch alone"
        ):
            PuzzleMixStrategy(num_classes=3)(x, y, rng=0)


def test_variants_module_imports_no_torch():
    code = "import sys, mixkit.sweep.variants; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the bound RegMixup step ------------------------------------------------------------------------
def test_bound_regmixup_is_the_clean_batch_then_the_regmixup_plan():
    x, y = _batch()
    x = x.double()
    x0, y0 = x.clone(), y.clone()
    model = _linear()
    step = RegMixupStrategy(20.0, num_classes=3).bind(model)
    logits, targets = step(x, y, rng=np.random.default_rng(7))
    b = len(y)
    assert logits.shape == targets.shape == (2 * b, 3)
    assert torch.equal(x, x0) and torch.equal(y, y0)  # the caller's batch is untouched
    with torch.no_grad():
        assert torch.allclose(logits[:b], model(x0), atol=1e-12)  # the model on the clean batch
    assert torch.equal(targets[:b], torch.nn.functional.one_hot(y0, 3).to(targets.dtype))
    # the mixed half is RegMixup's plan (same seed, same mixer), written out by hand
    ref = mt.RegMixup(mixkit.MixUp(20.0, num_classes=3))(x0, y0, rng=np.random.default_rng(7))
    lam = torch.tensor(np.array(ref.plan.lam), dtype=x.dtype)
    partner = torch.tensor(np.array(ref.plan.partner))
    assert 0.2 < float(lam[0]) < 0.8 and not torch.equal(partner, torch.arange(b))
    mixed = lam[:, None] * x0 + (1 - lam[:, None]) * x0[partner]
    onehot = torch.nn.functional.one_hot(y0, 3).to(x.dtype)
    mixed_t = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]
    with torch.no_grad():
        assert torch.allclose(logits[b:], model(mixed), atol=1e-12)
    assert torch.allclose(targets[b:].double(), mixed_t, atol=1e-12)
    # the trainer's mean over the 2B rows is half of the paper's loss CE_clean + 1 * CE_mixed
    mean = mt.soft_cross_entropy(logits, targets)
    assert torch.allclose(mean, ref.loss(model) / 2, atol=1e-12)


def test_bound_regmixup_sends_both_halves_through_one_forward_pass():
    calls = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(5, 3)

        def forward(self, x):
            calls.append(tuple(x.shape))
            return self.lin(x)

    x, y = _batch(b=4)
    logits, targets = RegMixupStrategy(10.0, lam_mode="sample", num_classes=3).bind(Recorder())(
        x, y, rng=0
    )
    assert calls == [(8, 5)] and logits.shape == targets.shape == (8, 3)
    assert torch.allclose(targets.sum(1), torch.ones(8))
    assert mt.soft_cross_entropy(logits, targets).requires_grad


# -- end to end ---------------------------------------------------------------------------------------
def test_sweep_runs_none_regmixup_and_puzzlemix_end_to_end(tmp_path):
    methods = "none,regmixup,puzzlemix" if HAS_PUZZLEMIX else "none,regmixup"
    res = mixkit.sweep("digits", methods=methods, alphas="10", out=tmp_path, **TINY)
    assert res.ran == len(methods.split(",")) and not res.failed and res.missing == 0
    rows = {r["strategy"]: r for r in res.summary}
    assert set(rows) == {"none", "regmixup(alpha=10)"} | (
        {"puzzlemix(alpha=10)"} if HAS_PUZZLEMIX else set()
    )
    for r in rows.values():
        assert r["n"] == 1 and 0.0 <= r["test_acc"][0] <= 1.0 and np.isfinite(r["test_nll"][0])
    report = (tmp_path / "report.md").read_text()
    assert "| regmixup(alpha=10)" in report and ("| puzzlemix(alpha=10)" in report) == HAS_PUZZLEMIX
    # the mixed-samples figure leaves out the strategies that run the model, and is not refused
    assert "Figures not drawn" not in report


def test_mixed_samples_figure_shows_input_mixers_beside_model_strategies(tmp_path):
    res = mixkit.sweep("digits", methods="none,mixup,regmixup", alphas="10", out=tmp_path, **TINY)
    assert not res.failed
    report = (tmp_path / "report.md").read_text()
    assert "Figures not drawn" not in report and (tmp_path / "mixed_samples.png").exists()

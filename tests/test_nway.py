"""n-way MixUp: ``MixUp(alpha, k=3..)`` draws a MultiMixPlan, ``out = sum_j weights[:, j] * x[sources[:, j]]``.

Invariants: weight rows are >= 0 and sum to 1; the own weight follows Beta(alpha, (k - 1) alpha); k = 2
is MixUp exactly; every backend (reference, numba, Triton under the interpreter) equals a formula
computed here, and the fused ones equal the reference bit for bit; labels are the weighted one-hot;
inputs are never written unless ``inplace=True``; every bad input has a clear error.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import mixkit
from mixkit.kernels import MAX_SOURCES, _reference, blend_many

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
PROPS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def nway(alpha=1.0, k=3, **kw):
    kw.setdefault("num_classes", 5)
    return mixkit.MixUp(alpha, k=k, **kw)


def formula(x, sources, weights):
    """``sum_j weights[:, j] * x[sources[:, j]]`` in float64, from NumPy values (bfloat16 via float32)."""
    xf = (x.float() if x.dtype == torch.bfloat16 else x).numpy() if isinstance(x, torch.Tensor) else x
    xf = np.asarray(xf, dtype=np.float64)
    shape = (-1,) + (1,) * (xf.ndim - 1)
    return sum(weights[:, j].reshape(shape) * xf[sources[:, j]] for j in range(sources.shape[1]))


def values(a):
    if isinstance(a, torch.Tensor):
        return (a.float() if a.dtype == torch.bfloat16 else a).numpy().astype(np.float64)
    return np.asarray(a, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# the plan
# ----------------------------------------------------------------------------------------------------


@PROPS
@given(b=st.integers(0, 40), k=st.integers(3, 8), alpha=st.sampled_from([0.05, 0.4, 1.0, 5.0]),
       lam_mode=st.sampled_from(["batch", "sample"]), p=st.sampled_from([0.0, 0.5, 1.0]),
       majority=st.booleans(), seed=st.integers(0, 2**31))
def test_weights_are_a_distribution_per_row(b, k, alpha, lam_mode, p, majority, seed):
    plan = nway(alpha, k, lam_mode=lam_mode, p=p, majority=majority).sample(b, rng=seed)
    assert isinstance(plan, mixkit.MultiMixPlan)
    assert plan.weights.shape == (b, k) and plan.partner.shape == (b, k - 1) and plan.lam.shape == (b,)
    assert np.all(plan.weights >= 0) and np.all(plan.weights <= 1)
    np.testing.assert_allclose(plan.weights.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(plan.lam, plan.weights[:, 0])
    np.testing.assert_array_equal(plan.sources[:, 0], np.arange(b))
    assert np.all(plan.partner >= 0) and np.all(plan.partner < max(b, 1))
    # a partner that is the sample itself carries no weight (it went to the own weight)
    assert np.all(plan.weights[:, 1:][plan.partner == np.arange(b)[:, None]] == 0)
    if majority:
        assert np.all(plan.weights[:, 0] >= plan.weights.max(axis=1) - 1e-15)
    if lam_mode == "batch" and b and p in (0.0, 1.0):
        mixed = ~np.any(plan.partner == np.arange(b)[:, None], axis=1)
        assert len({tuple(r) for r in plan.weights[mixed]}) <= 1  # one draw for the batch
    if p == 0.0:
        np.testing.assert_array_equal(plan.weights[:, 0], 1.0)


@pytest.mark.parametrize(("alpha", "k"), [(0.4, 3), (1.0, 4), (2.0, 6)])
def test_own_weight_follows_beta(alpha, k):
    plan = nway(alpha, k, lam_mode="sample").sample(20000, rng=7)
    res = stats.kstest(plan.weights[:, 0], stats.beta(alpha, (k - 1) * alpha).cdf)
    assert res.pvalue > 1e-3, res
    other = stats.kstest(plan.weights[:, 0], stats.beta(alpha, alpha).cdf)  # the test can fail
    assert other.pvalue < 1e-6


def test_partners_are_independent_permutations():
    plan = nway(k=5).sample(50, rng=3)
    raw = nway(k=5, p=1.0)
    gen = np.random.default_rng(3)
    perms = gen.permuted(np.broadcast_to(np.arange(50), (4, 50)), axis=1)
    np.testing.assert_array_equal(plan.partner, perms.T)
    for j in range(4):
        assert sorted(plan.partner[:, j]) == list(range(50))
    assert raw.sample(50, rng=3).partner.tolist() == plan.partner.tolist()  # seeded


def test_same_seed_same_plan_and_to_dict_replays():
    t = nway(0.7, 4, lam_mode="sample", p=0.6)
    a, b = t.sample(9, rng=11), t.sample(9, rng=11)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.partner, b.partner)
    back = mixkit.plan_from_dict(a.to_dict())
    assert isinstance(back, mixkit.MultiMixPlan)
    np.testing.assert_array_equal(back.weights, a.weights)
    np.testing.assert_array_equal(back.partner, a.partner)
    empty = mixkit.plan_from_dict(t.sample(0, rng=1).to_dict())
    assert empty.weights.shape == (0, 4) and empty.partner.shape == (0, 3)
    assert "k=4" in repr(a) and "k=4" in repr(t)


def test_k2_is_mixup_exactly():
    x = np.random.default_rng(0).random((12, 3, 5, 4)).astype(np.float32)
    xt = torch.from_numpy(x.copy())
    y = np.arange(12) % 5
    for opts in ({}, {"lam_mode": "sample", "p": 0.5}, {"pairing": "pairs", "majority": True},
                 {"lam": 0.3, "label_format": "pair"}):
        old, new = mixkit.MixUp(0.4, num_classes=5, **opts), mixkit.MixUp(0.4, num_classes=5, k=2, **opts)
        p_old, p_new = old.sample(12, rng=5), new.sample(12, rng=5)
        assert type(p_new) is mixkit.MixPlan
        np.testing.assert_array_equal(p_old.partner, p_new.partner)
        np.testing.assert_array_equal(p_old.lam, p_new.lam)
        np.testing.assert_array_equal(p_new.weights, np.stack([p_new.lam, 1 - p_new.lam], axis=1))
        for batch, labels in ((x, y), (xt, torch.from_numpy(y))):
            a, b = old(batch, labels, rng=9), new(batch, labels, rng=9)
            if isinstance(batch, torch.Tensor):
                assert torch.equal(a.x, b.x)
            else:
                assert np.array_equal(a.x, b.x)
            if isinstance(a.y, mixkit.MixedTargets):
                assert np.array_equal(np.asarray(a.y.lam), np.asarray(b.y.lam))
            else:
                assert np.array_equal(np.asarray(a.y), np.asarray(b.y))
    assert repr(mixkit.MixUp(0.4, k=2)) == repr(mixkit.MixUp(0.4))


def test_weights_property_of_every_pair_plan():
    x = np.zeros((6, 1, 8, 8), np.float32)
    for t in (mixkit.CutMix(1.0, lam_mode="sample"), mixkit.FMix(1.0), mixkit.MixUp(1.0, lam_mode="sample")):
        plan = t.sample(6, rng=2, shape=x.shape)
        np.testing.assert_allclose(plan.weights.sum(axis=1), 1.0)
        np.testing.assert_array_equal(plan.weights[:, 0], plan.lam)


# ----------------------------------------------------------------------------------------------------
# the mixed batch and labels
# ----------------------------------------------------------------------------------------------------

DTYPES = {"float32": 1e-6, "float64": 1e-12, "float16": 2e-3, "bfloat16": 1.6e-2, "uint8": None}


def make(lib, dtype, shape, seed, layout):
    gen = np.random.default_rng(seed)
    base = (gen.random(shape) * 255) if dtype == "uint8" else gen.standard_normal(shape)
    if layout == "transposed":  # a permuted view of a dense block
        base = np.ascontiguousarray(np.swapaxes(base, -1, -2))
    elif layout == "strided":  # every other element of the last axis
        base = np.repeat(base, 2, axis=-1)
    if lib == "numpy":
        if dtype == "bfloat16":
            return None
        a = base.astype(dtype)
    else:
        a = torch.from_numpy(base).to(getattr(torch, dtype))
    if layout == "transposed":
        a = a.swapaxes(-1, -2) if lib == "numpy" else a.transpose(-1, -2)
    elif layout == "strided":
        a = a[..., ::2]
    return a


@PROPS
@given(lib=st.sampled_from(["numpy", "torch"]), dtype=st.sampled_from(list(DTYPES)),
       b=st.integers(1, 9), k=st.integers(3, 6), shape=st.sampled_from([(3, 4, 5), (7,), (2, 1, 33)]),
       lam_mode=st.sampled_from(["batch", "sample"]), layout=st.sampled_from(["dense", "transposed", "strided"]),
       seed=st.integers(0, 2**31))
def test_output_is_the_weighted_sum(lib, dtype, b, k, shape, lam_mode, layout, seed):
    x = make(lib, dtype, (b,) + shape, seed, layout)
    if x is None:
        return
    before = x.clone() if lib == "torch" else x.copy()
    if lib == "numpy":
        x.setflags(write=False)
    t = nway(0.8, k, lam_mode=lam_mode)
    y = np.arange(b) % 5 if lib == "numpy" else torch.arange(b) % 5
    plan = t.sample(b, rng=seed)
    xm, ym = t.apply(plan, x, y)
    assert type(xm) is type(x) and xm.dtype == x.dtype and tuple(xm.shape) == tuple(x.shape)
    want = formula(x, plan.sources, plan.weights)
    got = values(xm)
    if dtype == "uint8":
        assert np.all(np.abs(got - want) <= 0.5 + 1e-4)
    else:
        tol = DTYPES[dtype]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * (1 + np.abs(want).max()))
    ref = _reference.blend_many(x, plan.sources, plan.weights, np.zeros(b, bool))
    assert np.array_equal(values(xm), values(ref))  # the fused route equals the reference bit for bit
    onehot = np.eye(5)[np.asarray(y)]
    np.testing.assert_allclose(np.asarray(ym, dtype=np.float64), formula(onehot, plan.sources, plan.weights),
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(ym).sum(axis=1), 1.0, atol=1e-6)
    assert (torch.equal(x, before) if lib == "torch" else np.array_equal(x, before))  # not mutated
    again = t(x, y, rng=seed)  # replay: the call draws the same plan
    assert np.array_equal(values(again.x), values(xm))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_out_and_inplace(lib):
    x = make(lib, "float32", (10, 3, 6, 6), 4, "dense")
    t = nway(1.0, 4, lam_mode="sample")
    plan = t.sample(10, rng=2)
    want = plan.apply(x)
    buf = torch.empty_like(x) if lib == "torch" else np.empty_like(x)
    res = t.apply(plan, x, out=buf)
    assert res.x is buf
    assert np.array_equal(values(buf), values(want))
    y = x.clone() if lib == "torch" else x.copy()
    res = t.apply(plan, y, inplace=True)
    assert res.x is y and np.array_equal(values(y), values(want))
    z = x.clone() if lib == "torch" else x.copy()
    assert plan.apply(z, out=z) is z and np.array_equal(values(z), values(want))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_empty_single_and_p0_return_the_input(lib):
    for b, p in ((0, 1.0), (1, 1.0), (7, 0.0)):
        x = make(lib, "float32", (b, 2, 3), 1, "dense")
        y = np.zeros(b, np.int64) if lib == "numpy" else torch.zeros(b, dtype=torch.int64)
        xm, ym = nway(1.0, 3, p=p)(x, y, rng=0)
        assert np.array_equal(values(xm), values(x))
        np.testing.assert_array_equal(np.asarray(ym), np.eye(5)[np.asarray(y)])


def test_zero_weight_sources_never_leak_inf_or_nan():
    x = np.ones((4, 8), np.float32)
    x[3] = np.inf
    x[2] = np.nan
    sources = np.array([[0, 3, 2], [1, 0, 3], [2, 1, 0], [3, 0, 1]])
    weights = np.array([[0.5, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    for a in (x, torch.from_numpy(x)):
        got = values(blend_many(a, sources, weights))
        np.testing.assert_array_equal(got[:2], [[0.5] * 8, [1.0] * 8])
        np.testing.assert_array_equal(got[2], 1.0)
        assert np.all(np.isinf(got[3]))  # weight 1: the source itself


def test_a_row_of_zero_weights_is_zero():
    x = np.full((3, 5), -2.0, np.float32)
    sources = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    weights = np.array([[-0.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0]])
    for a in (x, torch.from_numpy(x)):
        got = values(blend_many(a, sources, weights))
        ref = values(_reference.blend_many(a, sources, weights, np.zeros(3, bool)))
        assert np.array_equal(got, ref) and np.array_equal(np.signbit(got), np.signbit(ref))
        np.testing.assert_array_equal(got[[0, 2]], 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "float64"])
def test_large_batch_takes_the_parallel_route_and_equals_the_reference(dtype):
    # several row segments and several blocks per row (rows longer than one accumulator block)
    x = make("numpy", dtype, (24, 3, 7001), 2, "dense")
    t = nway(1.0, 5, lam_mode="sample", p=0.8)
    plan = t.sample(24, rng=4)
    got = plan.apply(x)
    ref = _reference.blend_many(x, plan.sources, plan.weights, np.zeros(24, bool))
    assert np.array_equal(got, ref)
    tt = torch.from_numpy(x.copy())
    assert np.array_equal(values(plan.apply(tt)), values(ref))
    y = tt.clone()
    plan.apply(y, out=y)
    assert np.array_equal(values(y), values(ref))


def test_continuous_targets():
    y = np.random.default_rng(0).standard_normal((8, 2))
    t = mixkit.MixUp(1.0, k=3, targets="continuous", lam_mode="sample")
    plan = t.sample(8, rng=1)
    _, ym = t.apply(plan, np.zeros((8, 3)), y)
    np.testing.assert_allclose(ym, formula(y, plan.sources, plan.weights), atol=1e-12)


def test_label_smoothing_and_probability_labels():
    t = nway(1.0, 3, label_smoothing=0.1, lam_mode="sample")
    plan = t.sample(6, rng=0)
    y = np.arange(6) % 5
    _, ym = t.apply(plan, np.zeros((6, 2), np.float32), y)
    smooth = np.eye(5)[y] * 0.9 + 0.02
    np.testing.assert_allclose(ym, formula(smooth, plan.sources, plan.weights), atol=1e-6)
    soft = np.random.default_rng(1).dirichlet(np.ones(5), 6)
    _, ym = mixkit.MixUp(1.0, k=3).apply(plan, np.zeros((6, 2)), soft)
    np.testing.assert_allclose(ym, formula(soft, plan.sources, plan.weights), atol=1e-12)


# ----------------------------------------------------------------------------------------------------
# the integrations
# ----------------------------------------------------------------------------------------------------


def test_through_mixcollate():
    from mixkit.torch import MixCollate

    t = nway(1.0, 3, num_classes=4, lam_mode="sample")
    # sample i is the constant c = i % 4 and has class c: a mixed sample's value is then the mean class
    # of its label, sum_c y[c] * c, whatever the plan drew
    samples = [(torch.full((2, 3, 3), float(i % 4)), i % 4) for i in range(8)]
    x, y = MixCollate(t, seed=5)(samples)
    ys = np.array([s[1] for s in samples])
    per = x.reshape(8, -1).double().numpy()
    np.testing.assert_allclose(per, per[:, :1].repeat(per.shape[1], axis=1))
    np.testing.assert_allclose(per[:, 0], y.double().numpy() @ np.arange(4.0), atol=1e-5)
    np.testing.assert_allclose(y.sum(dim=1).numpy(), 1.0, atol=1e-6)
    assert not np.allclose(y.numpy(), np.eye(4)[ys])  # something was mixed


def test_through_the_sweep_strategy_string():
    from mixkit.sweep.methods import resolve_strategies

    x = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    y = np.arange(6) % 3
    (s,) = resolve_strategies("mixup:k=3", (0.4,), num_classes=3, probe=(x, y))
    t = s.build(3, None)
    assert isinstance(t, mixkit.MixUp) and t.k == 3
    xm, ym = t(x, y, rng=0)
    plan = t.sample(6, rng=0)
    assert isinstance(plan, mixkit.MultiMixPlan)
    np.testing.assert_allclose(xm, formula(x, plan.sources, plan.weights), atol=1e-6)
    np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-6)


def test_pickles_with_k():
    import pickle

    t = pickle.loads(pickle.dumps(nway(0.3, 5, lam_mode="sample")))
    assert t.k == 5
    np.testing.assert_array_equal(t.sample(4, rng=1).weights, nway(0.3, 5, lam_mode="sample").sample(4, rng=1).weights)


# ----------------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "err", "match"), [
    (1, ValueError, r"k must lie in \[2, 64\].*got 1"),
    (0, ValueError, r"k must lie in \[2, 64\]"),
    (MAX_SOURCES + 1, ValueError, r"k must lie in \[2, 64\].*got 65"),
    (2.5, TypeError, r"k must be an int.*2\.5"),
    (True, TypeError, r"k must be an int.*True"),
    ("3", TypeError, r"k must be an int"),
])
def test_bad_k(k, err, match):
    with pytest.raises(err, match=match):
        mixkit.MixUp(1.0, k=k)


def test_options_that_mean_nothing_for_k3_are_refused():
    with pytest.raises(ValueError, match=r"pairing='pairs'.*k=3 draws 2.*pairing='shuffle'"):
        mixkit.MixUp(1.0, k=3, pairing="pairs")
    with pytest.raises(ValueError, match=r"pairing='flip'"):
        mixkit.MixUp(1.0, k=3, pairing="flip")
    with pytest.raises(ValueError, match=r"lam=0.5 fixes.*Dirichlet.*drop lam"):
        mixkit.MixUp(1.0, k=3, lam=0.5)
    with pytest.raises(ValueError, match=r"label_format='pair'.*use label_format='dense'"):
        mixkit.MixUp(1.0, k=4, label_format="pair", num_classes=3)


def test_plan_refuses_pair_form_partners_and_companions():
    t = nway(1.0, 3)
    plan = t.sample(4, rng=0)
    with pytest.raises(ValueError, match=r"no pair form.*label_format='dense'"):
        plan.label_pair()
    with pytest.raises(ValueError, match=r"2 partners.*one per sample.*k=2"):
        plan.with_partner(np.arange(4))
    with pytest.raises(ValueError, match=r"cannot carry mask"):
        t(np.zeros((4, 1, 3, 3), np.float32), np.zeros(4, np.int64), mask=np.zeros((4, 3, 3), np.int64))
    with pytest.raises(ValueError, match=r"batch of 4 but x has batch size 5"):
        plan.apply(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"MixUp\(k=3\) cannot be a base: .* one partner .* use MixUp\(k=2\)"):
        mixkit.LabelPairedMix(base=nway(1.0, 3), num_classes=5)
    with pytest.raises(ValueError, match=r"MixUp\(k=4\) cannot be a base: .* use MixUp\(k=2\)"):
        mixkit.CMixUp(sigma=1.0, base=nway(1.0, 4))


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"partner": np.zeros((3, 2), np.int64), "weights": np.full((3, 2), 0.5)}, ValueError,
     r"partner \(B, k - 1\) and weights \(B, k\); got \(3, 2\) and \(3, 2\)"),
    ({"partner": np.zeros((3, 2), np.int64), "weights": np.full((4, 3), 1 / 3)}, ValueError,
     r"partner \(B, k - 1\) and weights \(B, k\)"),
    ({"partner": np.zeros((3, 1), np.int64), "weights": np.full((3, 2), 0.5)}, ValueError,
     r"k = 3\.\.64 sources, got k = 2; two sources are a MixPlan"),
    ({"partner": np.zeros((3, 2), np.int64), "weights": np.full((3, 3), 0.5)}, ValueError,
     r"each row of weights must sum to 1; row 0 sums to 1\.5"),
    ({"partner": np.zeros((3, 2), np.int64), "weights": np.array([[1.5, -0.25, -0.25]] * 3)}, ValueError,
     r"weights must lie in \[0, 1\]"),
    ({"partner": np.full((3, 2), 3), "weights": np.full((3, 3), 1 / 3)}, ValueError,
     r"partner indices must lie in \[0, 3\)"),
    ({"partner": np.full((3, 2), 0.0), "weights": np.full((3, 3), 1 / 3)}, TypeError,
     r"partner must hold integers"),
    ({"partner": np.zeros((3, 2), np.int64)}, ValueError, r"needs weights \(B, k\)"),
    ({"partner": np.zeros((2, 2), np.int64), "weights": np.full((2, 3), 1 / 3), "lam": np.ones(2)},
     ValueError, r"lam of a MultiMixPlan is weights\[:, 0\]"),
])
def test_hand_built_plans_are_checked(kwargs, err, match):
    with pytest.raises(err, match=match):
        mixkit.MultiMixPlan(**kwargs)


def test_plan_from_dict_errors():
    d = nway().sample(3, rng=0).to_dict()
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['extra'\] for MultiMixPlan"):
        mixkit.plan_from_dict({**d, "extra": 1})
    with pytest.raises(TypeError, match=r"k must be an int"):
        mixkit.plan_from_dict({**d, "k": "3"})
    with pytest.raises(ValueError, match=r"needs 'partner' and 'weights'"):
        mixkit.plan_from_dict({"type": "MultiMixPlan", "partner": [[0, 0]]})


def test_blend_many_checks_its_arguments():
    x = np.zeros((3, 4), np.float32)
    w = np.full((3, 3), 1 / 3)
    with pytest.raises(TypeError, match=r"sources must hold integer indices, got dtype float64"):
        blend_many(x, np.zeros((3, 3)), w)
    with pytest.raises(ValueError, match=r"sources must have shape \(B, k\) = \(3, k\).*got \(3,\)"):
        blend_many(x, np.zeros(3, np.int64), w)
    with pytest.raises(ValueError, match=r"1 <= k <= 64"):
        blend_many(x, np.zeros((3, 65), np.int64), np.full((3, 65), 1 / 65))
    with pytest.raises(ValueError, match=r"sources must lie in \[0, 3\).*got 7"):
        blend_many(x, np.full((3, 3), 7), w)
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 3\), got \(3, 2\)"):
        blend_many(x, np.zeros((3, 3), np.int64), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"weights must lie in \[0, 1\]"):
        blend_many(x, np.zeros((3, 3), np.int64), np.full((3, 3), 2.0))
    with pytest.raises(ValueError, match=r"out must be an array like x"):
        blend_many(x, np.zeros((3, 3), np.int64), w, out=np.zeros((3, 4)))


# ----------------------------------------------------------------------------------------------------
# the Triton kernel, under TRITON_INTERPRET=1 on CPU tensors
# ----------------------------------------------------------------------------------------------------


def _cuda_backend():
    pytest.importorskip("triton")
    from mixkit.kernels import _cuda

    return _cuda


def test_triton_in_a_fresh_interpreter():
    """Runs the Triton test below in a process that switched the interpreter on before importing it."""
    _cuda = _cuda_backend()
    if _cuda.INTERPRETED:
        pytest.skip("the interpreter is active in this process: test_triton_kernel runs here")
    env = dict(os.environ, TRITON_INTERPRET="1", MIXKIT_TEST_DEVICE="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k",
                          "test_triton_kernel"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "uint8", "int8", "int32",
                                   "int64"])
def test_triton_kernel(dtype):
    _cuda = _cuda_backend()
    if not _cuda.INTERPRETED:
        pytest.skip("the Triton backend was imported without TRITON_INTERPRET=1 (see the test above)")
    from mixkit.kernels import _nway_cuda

    gen = np.random.default_rng(3)
    b, k = 6, 4
    x = torch.from_numpy(gen.random((b, 3, 37)) * 100).to(getattr(torch, dtype))
    x[1, 0, 0] = x[1, 0, 1]
    sources = np.c_[np.arange(b), gen.integers(0, b, (b, k - 1))]
    weights = gen.dirichlet(np.ones(k), b)
    weights[2] = [0.0, 1.0, 0.0, 0.0]
    weights[3] = [0.5, 0.0, 0.5, 0.0]
    copy = np.zeros(b, bool)
    copy[4] = True
    weights[4] = [1.0, 0.0, 0.0, 0.0]
    ref = _reference.blend_many(x, sources, weights, copy)
    out = torch.empty_like(x)
    assert _nway_cuda.blend_many(x, out, sources, weights, copy)
    assert torch.equal(out, ref)
    y = x.clone()
    assert _nway_cuda.blend_many(y, y, sources, weights, copy)
    assert torch.equal(y, ref)
    tol = 0.5 + 1e-3 if dtype in ("uint8", "int8", "int32", "int64") else 2e-2
    want = formula(x, sources, weights)
    assert np.all(np.abs(values(out) - want) <= tol * np.maximum(1, np.abs(want) if tol < 0.5 else 1))


def test_other_array_api_libraries_take_the_reference():
    xp = pytest.importorskip("array_api_strict")
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    t = nway(1.0, 3, lam_mode="sample", targets="continuous", num_classes=None)
    plan = t.sample(5, rng=1)
    xa = xp.asarray(x)
    ya = xp.asarray(np.arange(5.0))
    xm, ym = t.apply(plan, xa, ya)
    assert type(xm) is type(xa) and xm.dtype == xp.float64
    np.testing.assert_allclose(np.asarray(xm), formula(x, plan.sources, plan.weights), atol=1e-12)
    np.testing.assert_allclose(np.asarray(ym), formula(np.arange(5.0), plan.sources, plan.weights), atol=1e-12)


def test_gradients_flow_through_the_reference():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    plan = nway(1.0, 4, lam_mode="sample").sample(6, rng=2)
    out = plan.apply(x)
    out.sum().backward()
    # d sum(out) / d x[r] = the total weight with which row r enters the batch
    want = np.zeros(6)
    np.add.at(want, plan.sources.ravel(), plan.weights.ravel())
    np.testing.assert_allclose(x.grad.numpy(), np.repeat(want[:, None], 4, axis=1), atol=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64"])
def test_integer_batches_equal_the_reference_and_stay_in_range(dtype):
    info = np.iinfo(dtype)
    gen = np.random.default_rng(5)
    lo, hi = max(info.min, -10**6), min(info.max, 10**6)
    x = gen.integers(lo, hi, (40, 3, 3001), endpoint=True).astype(dtype)
    x[:, 0, :2] = [info.min, info.max]
    sources = np.c_[np.arange(40), gen.integers(0, 40, (40, 3))]
    weights = gen.dirichlet(np.full(4, 0.3), 40)
    weights[0] = [0.9, 0.9, 0.9, 0.0]  # not a distribution: the kernel clips to the dtype's range
    weights[1] = [0.5, 0.5, 0.0, 0.0]  # halves: rounded to even
    got = blend_many(x, sources, weights)
    assert got.dtype == x.dtype
    assert np.array_equal(got, _reference.blend_many(x, sources, weights, np.zeros(40, bool)))
    if dtype in ("uint8", "int8", "int16", "int32", "int64"):  # the dtypes torch has
        assert np.array_equal(blend_many(torch.from_numpy(x), sources, weights).numpy(), got)
    top = 2**63 - 1024 if dtype == "int64" else info.max  # the largest float64 below 2**63
    np.testing.assert_array_equal(got[0, 0, :2], [info.min, top])
    np.testing.assert_allclose(values(got[2:]), np.rint(formula(x, sources, weights)[2:]), atol=1.0)

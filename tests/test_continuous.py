"""Continuous (regression) targets mixed by the plan, and C-Mixup's label-distance pairing."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.pairing_labels import kernel_log_weights, sample_kernel_partner

torch = pytest.importorskip("torch")

B = 6


def _batch(b=B, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((b, 2, 8, 10)), rng.normal(size=b), rng.normal(size=(b, 3))


def _want(plan, y):
    lam = plan.lam.reshape((-1,) + (1,) * (y.ndim - 1))
    return lam * y + (1 - lam) * y[plan.partner]


# ---- targets="continuous" on the methods ----------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: mixkit.MixUp(1.0, lam_mode="sample", targets="continuous"),
    lambda: mixkit.CutMix(1.0, lam_mode="sample", targets="continuous"),
    lambda: mixkit.FMix(targets="continuous"),
    lambda: mixkit.ResizeMix(targets="continuous"),
    lambda: mixkit.LabelPairedMix(pairing="shuffle", targets="continuous"),
])
@pytest.mark.parametrize("which", ["1d", "2d"])
def test_continuous_targets_follow_the_plan_exactly(make, which):
    t = make()
    x, y1, y2 = _batch()
    y = y1 if which == "1d" else y2
    for seed in range(4):
        plan = t.sample(B, rng=seed, shape=x.shape, y=y)
        res = t.apply(plan, x, y)
        assert res.y.shape == y.shape and res.y.dtype == y.dtype
        np.testing.assert_allclose(res.y, _want(plan, y), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(res.x, plan.apply(x))


def test_cutmix_targets_use_the_kept_fraction():
    t = mixkit.CutMix(1.0, lam_mode="sample", targets="continuous")
    x = np.zeros((4, 1, 10, 10))
    y = np.array([0.0, 10.0, 20.0, 30.0])
    plan = t.sample(4, rng=3, shape=x.shape, y=y)
    area = np.prod(plan.stop - plan.start, axis=1) / 100.0
    np.testing.assert_allclose(plan.lam, 1.0 - area)
    assert np.any(area > 0)
    res = t.apply(plan, x, y)
    np.testing.assert_allclose(res.y, (1.0 - area) * y + area * y[plan.partner])


def test_mixup_exact_values_and_the_call():
    t = mixkit.MixUp(targets="continuous")
    x = np.zeros((3, 2))
    y = np.array([1.0, 2.0, 4.0])
    plan = mixkit.MixPlan(partner=np.array([1, 2, 0]), lam=np.array([0.25, 0.5, 1.0]))
    np.testing.assert_allclose(t.apply(plan, x, y).y, [0.25 * 1 + 0.75 * 2, 0.5 * 2 + 0.5 * 4, 4.0])
    y2 = np.array([[1.0, -1.0], [3.0, 5.0], [0.0, 0.0]])
    np.testing.assert_allclose(t.apply(plan, x, y2).y, [[2.5, 3.5], [1.5, 2.5], [0.0, 0.0]])
    # a call draws the same plan from the same seed as sample()
    res = t(x, y, rng=7)
    np.testing.assert_allclose(res.y, _want(t.sample(3, rng=7, shape=x.shape), y))


def test_torch_targets_keep_library_dtype_and_shape():
    t = mixkit.MixUp(lam_mode="sample", targets="continuous")
    plan = mixkit.MixPlan(partner=np.array([1, 0, 2]), lam=np.array([0.25, 0.5, 1.0]))
    x = torch.zeros(3, 4)
    for y in (torch.tensor([1.0, 3.0, 5.0]), torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 5.0]], dtype=torch.float64)):
        out = t.apply(plan, x, y).y
        assert isinstance(out, torch.Tensor) and out.dtype == y.dtype and out.shape == y.shape
        np.testing.assert_allclose(out.numpy(), _want(plan, y.numpy()), rtol=1e-6)


def test_integer_targets_are_cast_to_float():
    plan = mixkit.MixPlan(partner=np.array([1, 0]), lam=np.array([0.5, 0.25]))
    t = mixkit.MixUp(targets="continuous")
    out = t.apply(plan, np.zeros((2, 1)), np.array([1, 4])).y
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [2.5, 1.75])
    out_t = t.apply(plan, torch.zeros(2, 1), torch.tensor([1, 4])).y
    assert out_t.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(out_t.numpy(), [2.5, 1.75])


def test_pair_form_holds_both_targets_and_lam():
    t = mixkit.MixUp(label_format="pair", targets="continuous")
    plan = mixkit.MixPlan(partner=np.array([2, 0, 1]), lam=np.array([0.2, 0.7, 1.0]))
    y = np.array([[1.0, 0.0], [2.0, 2.0], [5.0, -1.0]])
    pair = t.apply(plan, np.zeros((3, 1)), y).y
    assert isinstance(pair, mixkit.MixedTargets) and pair.targets == "continuous"
    np.testing.assert_array_equal(pair.y_a, y)
    np.testing.assert_array_equal(pair.y_b, y[[2, 0, 1]])
    np.testing.assert_allclose(pair.lam, [0.2, 0.7, 1.0])
    np.testing.assert_allclose(pair.dense(), _want(plan, y))
    yt = torch.tensor([1.0, 2.0, 5.0])
    pt = t.apply(plan, torch.zeros(3, 1), yt).y
    np.testing.assert_allclose(pt.dense().numpy(), _want(plan, yt.numpy()), rtol=1e-6)
    assert pt.to(dtype=torch.float64).targets == "continuous"


def test_cross_entropy_helpers_refuse_a_continuous_pair():
    from mixkit.torch import mixed_binary_cross_entropy, mixed_cross_entropy

    t = mixkit.MixUp(label_format="pair", targets="continuous")
    pair = t(torch.zeros(3, 1), torch.tensor([1.0, 2.0, 5.0]), rng=0).y
    with pytest.raises(ValueError, match="mixed_cross_entropy takes class labels.*continuous"):
        mixed_cross_entropy(torch.zeros(3, 2), pair)
    with pytest.raises(ValueError, match="mixed_binary_cross_entropy takes class labels.*continuous"):
        mixed_binary_cross_entropy(torch.zeros(3, 2), pair)


def test_mosaic_mixes_continuous_targets_with_its_own_weights():
    t = mixkit.Mosaic(targets="continuous")
    x, y1, y2 = _batch()
    plan = t.sample(B, rng=0, shape=x.shape)
    for y in (y1, y2):
        out = t.apply(plan, x, y).y
        assert out.shape == y.shape
        np.testing.assert_allclose(out, plan.mix_targets(y.reshape(B, -1)).reshape(y.shape))
    # the weights sum to one: a constant target stays constant
    np.testing.assert_allclose(t.apply(plan, x, np.full(B, 3.0)).y, np.full(B, 3.0))


def test_dict_samples_and_oneof_schedule_take_continuous_targets():
    x, y, _ = _batch()
    t = mixkit.MixUp(targets="continuous")
    out = t({"image": x, "labels": y}, rng=1)
    np.testing.assert_allclose(out["labels"], _want(t.sample(B, rng=1, shape=x.shape), y))
    with pytest.raises(ValueError, match="disagree on .*targets"):
        mixkit.OneOf([mixkit.MixUp(targets="continuous"), mixkit.MixUp()])
    s = mixkit.Scheduled(mixkit.CutMix(targets="continuous"), total_epochs=2)
    assert s.targets == "continuous"
    assert s(x, y, rng=0).y.shape == y.shape


@pytest.mark.parametrize(("y", "match"), [
    (np.array([1.0, np.nan, 2.0]), "continuous y holds NaN"),
    (np.array([[1.0], [np.inf], [2.0]]), "continuous y holds an infinite value"),
    (np.zeros((3, 2, 2)), r"shape \(batch_size,\) or \(batch_size, D\)"),
    (np.zeros(4), "x has batch size 3 but y has 4 targets"),
])
def test_bad_continuous_targets_are_refused(y, match):
    t = mixkit.MixUp(targets="continuous")
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=match):
        t(x, y, rng=0)
    with pytest.raises(ValueError, match=match):
        t.mix_labels(t.sample(3, rng=0), y)


def test_bad_continuous_dtypes_and_class_options_are_refused():
    with pytest.raises(TypeError, match="continuous targets must be real numbers"):
        mixkit.MixUp(targets="continuous")(np.zeros((2, 1)), np.array([True, False]), rng=0)
    with pytest.raises(ValueError, match="num_classes=3 is a class option"):
        mixkit.MixUp(num_classes=3, targets="continuous")
    with pytest.raises(ValueError, match="label_smoothing=0.1 is a class option"):
        mixkit.CutMix(label_smoothing=0.1, targets="continuous")
    with pytest.raises(ValueError, match="targets must be one of"):
        mixkit.MixUp(targets="regression")
    with pytest.raises(ValueError, match="draws partners by class"):
        mixkit.BalancedMixUp(targets="continuous")
    with pytest.raises(ValueError, match="Remix moves labels"):
        mixkit.Remix(targets="continuous")
    # class labels stay the default: float (B,) is still refused without the option
    with pytest.raises(TypeError, match="must hold integer class indices"):
        mixkit.MixUp()(np.zeros((2, 1)), np.array([0.5, 1.5]), rng=0)


def test_every_method_constructor_takes_targets():
    import inspect

    for name in mixkit.__all__:
        obj = getattr(mixkit, name)
        if isinstance(obj, type) and issubclass(obj, mixkit.Mixer) and obj not in (mixkit.Mixer, mixkit.OneOf,
                                                                                   mixkit.Scheduled):
            params = inspect.signature(obj.__init__).parameters
            takes = "targets" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
            assert takes, name


# ---- C-Mixup pairing --------------------------------------------------------------------------------


def test_small_sigma_pairs_each_sample_with_its_nearest_target():
    y = np.array([0.0, 0.1, 5.0, 5.3, 20.0, 20.5, 21.2])
    nearest = np.array([1, 0, 3, 2, 5, 4, 5])
    for seed in range(20):
        np.testing.assert_array_equal(sample_kernel_partner(y, 1e-3, seed), nearest)
    y2 = np.stack([y, -y], axis=1)  # (B, D): Euclidean distance, same neighbours
    np.testing.assert_array_equal(sample_kernel_partner(y2, 1e-3, 0), nearest)


def test_huge_sigma_pairs_near_uniformly_and_never_with_itself():
    y = np.linspace(0.0, 1.0, 8)
    gen = np.random.default_rng(0)
    counts = np.zeros((8, 8), int)
    for _ in range(400):
        p = sample_kernel_partner(y, 1e6, gen)
        assert np.all(p != np.arange(8))
        counts[np.arange(8), p] += 1
    off = ~np.eye(8, dtype=bool)
    assert np.all(counts[off] >= 1) and np.all(counts[~off] == 0)
    # 400 draws over 7 partners: about 57 each; far from that would not be uniform
    assert counts[off].min() > 25 and counts[off].max() < 100


def test_partner_frequencies_follow_the_kernel():
    y = np.array([0.0, 1.0, 2.0, 4.0])
    sigma = 1.0
    w = np.exp(kernel_log_weights(y, sigma))
    probs = w / w.sum(axis=1, keepdims=True)
    gen = np.random.default_rng(1)
    n = 4000
    counts = np.zeros((4, 4))
    for _ in range(n):
        counts[np.arange(4), sample_kernel_partner(y, sigma, gen)] += 1
    # each frequency within 5 standard errors of its kernel probability (deterministic seed)
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(counts / n - probs) <= 5 * se + 1e-12)


def test_partner_frequencies_pass_a_chi_square_test_against_the_kernel():
    """(B, D) targets: each row's partner counts against exp(-|y_i - y_j|^2 / (2 sigma^2)), j != i,
    written out here; the same counts against uniform pairing fail, so the test can fail."""
    stats = pytest.importorskip("scipy.stats")
    y = np.random.default_rng(7).normal(size=(5, 2))
    sigma = 0.8
    k = np.exp(-((y[:, None, :] - y[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))
    np.fill_diagonal(k, 0.0)
    probs = k / k.sum(axis=1, keepdims=True)
    gen = np.random.default_rng(3)
    n = 3000
    counts = np.zeros((5, 5))
    for _ in range(n):
        counts[np.arange(5), sample_kernel_partner(y, sigma, gen)] += 1
    assert np.all(np.diag(counts) == 0)
    off = ~np.eye(5, dtype=bool)
    for i in range(5):
        assert stats.chisquare(counts[i, off[i]], probs[i, off[i]] * n).pvalue > 1e-3
    uniform = np.full(4, n / 4)
    assert min(stats.chisquare(counts[i, off[i]], uniform).pvalue for i in range(5)) < 1e-6


def test_cmixup_empty_and_single_batches():
    t = mixkit.CMixUp(sigma=1.0)
    plan0 = t.sample(0, rng=0, y=np.zeros(0))
    assert plan0.batch_size == 0
    out = t(np.zeros((0, 3)), np.zeros(0), rng=0)
    assert out.x.shape == (0, 3) and out.y.shape == (0,)
    plan1 = t.sample(1, rng=0, y=np.array([2.0]))
    np.testing.assert_array_equal(plan1.partner, [0])
    np.testing.assert_array_equal(plan1.lam, [1.0])
    np.testing.assert_array_equal(t(np.ones((1, 3)), np.array([2.0]), rng=0).y, [2.0])


def test_cmixup_plan_mixes_the_batch_and_targets_consistently():
    t = mixkit.CMixUp(2.0, sigma=0.5)
    x, y1, y2 = _batch()
    for y in (y1, y2):
        plan = t.sample(B, rng=4, shape=x.shape, y=y)
        assert type(plan) is mixkit.MixPlan and np.all(plan.partner != np.arange(B))
        res = t(x, y, rng=4)
        np.testing.assert_array_equal(res.x, plan.apply(x))
        np.testing.assert_allclose(res.y, _want(plan, y))
        again = t.sample(B, rng=4, shape=x.shape, y=y)
        np.testing.assert_array_equal(again.partner, plan.partner)
        np.testing.assert_array_equal(again.lam, plan.lam)
    pair = mixkit.CMixUp(sigma=0.5, label_format="pair")(x, y1, rng=4).y
    np.testing.assert_allclose(pair.dense(), _want(t.sample(B, rng=4, shape=x.shape, y=y1), y1))
    yt = torch.tensor(y1)
    out = t(torch.tensor(x), yt, rng=4)
    np.testing.assert_allclose(out.y.numpy(), _want(t.sample(B, rng=4, shape=x.shape, y=y1), y1))
    restored = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(restored.sample(B, rng=4, y=y1).partner, t.sample(B, rng=4, y=y1).partner)


def test_cmixup_with_a_cutmix_base_pastes_from_the_kernel_partner():
    t = mixkit.CMixUp(sigma=1e-3, base=mixkit.CutMix(1.0, lam_mode="sample"))
    y = np.array([0.0, 0.1, 5.0, 5.3, 20.0, 20.5])
    x = np.random.default_rng(0).random((6, 1, 8, 8))
    plan = t.sample(6, rng=2, shape=x.shape, y=y)
    assert isinstance(plan, mixkit.BoxPlan)
    np.testing.assert_array_equal(plan.partner, [1, 0, 3, 2, 5, 4])
    area = np.prod(plan.stop - plan.start, axis=1) / 64.0
    np.testing.assert_allclose(plan.lam, 1.0 - area)
    res = t(x, y, rng=2)
    np.testing.assert_array_equal(res.x, plan.apply(x))
    np.testing.assert_allclose(res.y, _want(plan, y))


def test_cmixup_inside_oneof_and_scheduled():
    x, y, _ = _batch()
    one = mixkit.OneOf([mixkit.CMixUp(sigma=0.5), mixkit.MixUp(targets="continuous")])
    assert one.needs == {"y"} and one.targets == "continuous"
    for seed in range(4):
        plan = one.sample(B, rng=seed, shape=x.shape, y=y)
        np.testing.assert_allclose(one(x, y, rng=seed).y, _want(plan, y))
    s = mixkit.Scheduled(mixkit.CMixUp(sigma=0.5), total_epochs=3, p=lambda progress: 1.0)
    plan = s.sample(B, rng=0, shape=x.shape, y=y)
    np.testing.assert_allclose(s(x, y, rng=0).y, _want(plan, y))


def test_cmixup_in_mixcollate():
    from mixkit.torch import MixCollate

    rng = np.random.default_rng(0)
    samples = [(torch.tensor(rng.random(3), dtype=torch.float32), float(v)) for v in rng.normal(size=B)]
    xb, yb = MixCollate(mixkit.CMixUp(sigma=1.0), seed=0)(samples)
    assert xb.shape == (B, 3) and yb.shape == (B,) and yb.is_floating_point()


def test_cmixup_errors():
    with pytest.raises(ValueError, match="sigma must be > 0"):
        mixkit.CMixUp(sigma=0.0)
    with pytest.raises(ValueError, match="sigma must be a finite number|sigma must be"):
        mixkit.CMixUp(sigma=float("inf"))
    with pytest.raises(TypeError, match="sigma"):
        mixkit.CMixUp()  # sigma has no default: the bandwidth depends on the targets' scale
    with pytest.raises(ValueError, match="CMixUp needs the targets: pass y="):
        mixkit.CMixUp(sigma=1.0).sample(4, rng=0)
    with pytest.raises(ValueError, match="CMixUp mixes continuous targets only"):
        mixkit.CMixUp(sigma=1.0, targets="classes")
    with pytest.raises(ValueError, match="CMixUp holds NaN|continuous y holds NaN"):
        mixkit.CMixUp(sigma=1.0)(np.zeros((3, 1)), np.array([0.0, np.nan, 1.0]), rng=0)
    with pytest.raises(ValueError, match="SaliencyMix cannot be a base"):
        mixkit.CMixUp(sigma=1.0, base=mixkit.SaliencyMix())
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        sample_kernel_partner(np.zeros(3), -1.0)


def test_manifold_mixup_mixes_continuous_targets_with_its_plan():
    from mixkit.torch import ManifoldMixup

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.randn(B, 3)
    y = torch.randn(B, 2)
    for mixer in (mixkit.MixUp(lam_mode="sample", targets="continuous"), mixkit.CMixUp(sigma=1.0)):
        mm = ManifoldMixup(model, layers=["0"], mixer=mixer)
        out, y_mixed = mm(x, y, rng=3)
        assert out.shape == (B, 2)
        np.testing.assert_allclose(y_mixed.numpy(), _want(mm.last_plan, y.numpy()), rtol=1e-6)


CONTINUOUS_METHODS = {
    "MixUp": lambda p, fmt: mixkit.MixUp(0.4, lam_mode="sample", p=p, label_format=fmt, targets="continuous"),
    "CutMix": lambda p, fmt: mixkit.CutMix(1.0, lam_mode="sample", p=p, label_format=fmt, targets="continuous"),
    "GridMix": lambda p, fmt: mixkit.GridMix(p=p, label_format=fmt, targets="continuous"),
    "CMixUp": lambda p, fmt: mixkit.CMixUp(sigma=0.7, p=p, label_format=fmt),
    "CMixUp(base=FMix)": lambda p, fmt: mixkit.CMixUp(sigma=0.7, base=mixkit.FMix(), p=p, label_format=fmt),
    "OneOf": lambda p, fmt: mixkit.OneOf([mixkit.CMixUp(sigma=2.0, label_format=fmt),
                                          mixkit.CutMix(label_format=fmt, targets="continuous")], p=p),
}


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(CONTINUOUS_METHODS)), b=st.sampled_from([0, 1, 2, 3, 7]),
       width=st.sampled_from([None, 1, 3]), lib=st.sampled_from(["numpy", "torch"]),
       p=st.sampled_from([0.0, 0.5, 1.0]), fmt=st.sampled_from(["dense", "pair"]), seed=st.integers(0, 10**6))
def test_fuzz_continuous_targets_are_the_plan_applied(name, b, width, lib, p, fmt, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((b, 1, 6, 6))
    y = rng.normal(size=(b,) if width is None else (b, width)) * 10
    t = CONTINUOUS_METHODS[name](p, fmt)
    plan = t.sample(b, rng=seed, shape=x.shape, y=y)
    if b > 1 and name.startswith("CMixUp"):
        mixed = plan.lam < 1
        assert np.all(plan.partner[mixed] != np.arange(b)[mixed])
    xs, ys = (x, y) if lib == "numpy" else (torch.tensor(x), torch.tensor(y))
    res = t(xs, ys, rng=seed)
    out = res.y.dense() if fmt == "pair" else res.y
    out = out if lib == "numpy" else out.numpy()
    assert out.shape == y.shape
    np.testing.assert_allclose(out, _want(plan, y), rtol=1e-10, atol=1e-10)
    got_x = res.x if lib == "numpy" else res.x.numpy()
    np.testing.assert_allclose(got_x, plan.apply(x), rtol=1e-12, atol=1e-12)

"""Label-aware pairing (balanced, intra-/inter-class), class counts, Remix's rule and the transforms."""

import pickle

import numpy as np
import pytest
from helpers import readonly
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.pairing_labels import ClassCounts, class_indices, remix_label_lam, sample_label_partner

torch = pytest.importorskip("torch")

labels = st.lists(st.integers(0, 5), min_size=1, max_size=40).map(lambda v: np.array(v, dtype=np.int64))


@given(y=labels, seed=st.integers(0, 2**32 - 1))
def test_intra_and_inter_partners_respect_the_classes(y, seed):
    gen = np.random.default_rng(seed)
    intra = sample_label_partner(y, "intra", gen)
    inter = sample_label_partner(y, "inter", gen)
    for i in range(len(y)):
        alone = np.sum(y == y[i]) == 1
        if alone:
            assert intra[i] == i
        else:
            assert intra[i] != i and y[intra[i]] == y[i]
        if np.all(y == y[i]):
            assert inter[i] == i
        else:
            assert y[inter[i]] != y[i]


@given(y=labels, seed=st.integers(0, 2**32 - 1))
def test_balanced_partners_are_valid_indices(y, seed):
    partner = sample_label_partner(y, "balanced", np.random.default_rng(seed))
    assert partner.dtype == np.int64 and partner.shape == y.shape
    assert partner.min() >= 0 and partner.max() < len(y)


# 99.9% quantiles of the chi-square distribution with 1..5 degrees of freedom
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}


@pytest.mark.parametrize("counts, seed", [
    ([32, 16, 8, 4, 2, 1], 0),  # long-tailed: class k has 2 ** (5 - k) samples
    ([60, 3, 1], 1),
    ([1, 1, 40, 7, 15], 2),
    ([5, 5], 3),
])
def test_balanced_partner_classes_are_uniform_within_sampling_error(counts, seed):
    k = len(counts)
    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(k), counts))
    gen = np.random.default_rng(seed)
    draws = np.concatenate([y[sample_label_partner(y, "balanced", gen)] for _ in range(300)])
    freq = np.bincount(draws, minlength=k)
    expected = draws.size / k
    chi2 = float(np.sum((freq - expected) ** 2 / expected))
    assert chi2 < CHI2_999[k - 1], (freq, chi2)
    # while shuffling gives the batch's own skew
    shuffled = np.concatenate([y[gen.permutation(y.size)] for _ in range(300)])
    np.testing.assert_array_equal(np.bincount(shuffled, minlength=k), 300 * np.array(counts))


@given(lam=st.lists(st.floats(0, 1), min_size=1, max_size=30), data=st.data(),
       kappa=st.floats(1, 10), tau=st.floats(0, 1))
def test_remix_rule(lam, data, kappa, tau):
    lam = np.array(lam)
    b = lam.size
    n_i = np.array(data.draw(st.lists(st.integers(1, 1000), min_size=b, max_size=b)), dtype=np.float64)
    n_j = np.array(data.draw(st.lists(st.integers(1, 1000), min_size=b, max_size=b)), dtype=np.float64)
    out = remix_label_lam(lam, n_i, n_j, kappa=kappa, tau=tau)
    for k in range(b):
        if n_i[k] / n_j[k] >= kappa and lam[k] < tau:
            assert out[k] == 0.0  # the partner is the minority: its label wins
        elif n_i[k] / n_j[k] <= 1 / kappa and 1 - lam[k] < tau:
            assert out[k] == 1.0  # the sample is the minority: it keeps its label
        else:
            assert out[k] == lam[k]


def test_remix_rule_examples_from_the_definition():
    lam = np.array([0.3, 0.3, 0.8, 0.8, 0.45])
    n_i = np.array([300, 300, 10, 10, 100])
    n_j = np.array([10, 100, 300, 300, 100])
    out = remix_label_lam(lam, n_i, n_j, kappa=3.0, tau=0.5)
    # majority with a small share -> 0; ratio 3 >= kappa too; minority with a large share -> 1;
    # equal classes -> lam
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0, 1.0, 0.45])


@given(seed=st.integers(0, 2**32 - 1), base=st.sampled_from([None, "cutmix", "fmix", "resize"]))
def test_remix_transform_labels_follow_the_rule(seed, base):
    counts = np.array([500, 100, 20, 5])
    gen = np.random.default_rng(seed)
    y = gen.integers(0, 4, size=16)
    x = gen.normal(size=(16, 1, 8, 8)).astype(np.float32)
    base_t = {"cutmix": mixkit.CutMix(lam_mode="sample"), "fmix": mixkit.FMix(lam_mode="sample"),
              "resize": mixkit.ResizeMix(lam_mode="sample"), None: None}[base]
    t = mixkit.Remix(counts=counts, num_classes=4, base=base_t)
    plan = t.sample(16, rng=seed, shape=x.shape, y=y)
    expected = remix_label_lam(plan.lam, counts[y], counts[y[plan.partner]], kappa=3.0, tau=0.5)
    np.testing.assert_array_equal(plan.label_lam, expected)
    out, target = t.apply(plan, readonly(x), y)
    onehot = np.eye(4)[y]
    w = plan.label_lam[:, None]
    np.testing.assert_allclose(target, w * onehot + (1 - w) * onehot[plan.partner], rtol=1e-6)
    if base is None:
        lam = plan.lam.reshape(-1, 1, 1, 1)
        np.testing.assert_allclose(out, lam * x + (1 - lam) * x[plan.partner], rtol=1e-5, atol=1e-6)
    else:
        assert isinstance(plan.inner, mixkit.MixPlan)
        np.testing.assert_array_equal(out, mixkit.apply_plan(plan.inner, x))


def test_remix_tracks_counts_over_batches():
    t = mixkit.Remix(num_classes=3)
    assert t.counts.tracked
    y1 = np.array([0, 0, 0, 0, 1, 2])
    t.sample(6, rng=0, y=y1)
    np.testing.assert_array_equal(t.counts.counts, [4, 1, 1])
    t.sample(6, rng=1, y=np.array([0, 0, 1, 1, 2, 2]))
    np.testing.assert_array_equal(t.counts.counts, [6, 3, 3])
    fixed = ClassCounts([10, 20, 30])
    fixed.update(np.array([0, 1]))
    np.testing.assert_array_equal(fixed.counts, [10, 20, 30])
    grow = ClassCounts()
    grow.update(np.array([4]))
    np.testing.assert_array_equal(grow.counts, [0, 0, 0, 0, 1])


def test_balanced_mixup_end_to_end_numpy_torch_and_pair_labels():
    gen = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [20, 6, 3, 1])
    x = gen.normal(size=(30, 2, 5)).astype(np.float32)
    t = mixkit.BalancedMixUp(0.2, num_classes=4)
    out, target = t(readonly(x), y, rng=3)
    plan = t.sample(30, rng=3, shape=x.shape, y=y)
    lam = plan.lam.reshape(-1, 1, 1)
    np.testing.assert_allclose(out, lam * x + (1 - lam) * x[plan.partner], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(target.sum(1), 1.0, rtol=1e-6)
    assert np.mean(plan.lam) > 0.6  # Beta(1, 0.2): the sample keeps the larger share on average
    out_t, target_t = t(torch.tensor(x), torch.tensor(y), rng=3)
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(target_t.numpy(), target, atol=1e-6)
    pair = mixkit.BalancedMixUp(0.2, num_classes=4, label_format="pair")(x, y, rng=3)[1]
    np.testing.assert_allclose(pair.dense(), target, atol=1e-6)
    probs = np.eye(4, dtype=np.float32)[y]
    np.testing.assert_allclose(t(x, probs, rng=3)[1], target, atol=1e-6)


def test_intra_class_mixing_keeps_labels_pure():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    _, target = mixkit.LabelPairedMix(pairing="intra", num_classes=3)(x, y, rng=0)
    np.testing.assert_allclose(target, np.eye(3)[y], atol=1e-6)


def test_plan_replay_and_pickle():
    t = mixkit.Remix(counts=[50, 5], num_classes=2, base=mixkit.CutMix(lam_mode="sample"))
    x = np.random.default_rng(0).normal(size=(6, 1, 6, 6))
    y = np.array([0, 0, 0, 0, 1, 1])
    plan = t.sample(6, rng=0, shape=x.shape, y=y)
    again = mixkit.plan_from_dict(plan.to_dict())
    assert isinstance(again, mixkit.LabelPlan) and isinstance(again.inner, mixkit.BoxPlan)
    np.testing.assert_array_equal(mixkit.apply_plan(again, x), mixkit.apply_plan(plan, x))
    np.testing.assert_array_equal(again.label_lam, plan.label_lam)
    t2 = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(t2.sample(6, rng=0, shape=x.shape, y=y).label_lam, plan.label_lam)


def test_class_indices_of_probabilities():
    np.testing.assert_array_equal(class_indices(np.array([[0.1, 0.9], [0.7, 0.3]])), [1, 0])
    np.testing.assert_array_equal(class_indices(torch.tensor([2, 0])), [2, 0])


def test_errors():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="needs the labels"):
        mixkit.BalancedMixUp(num_classes=2)(x)
    with pytest.raises(ValueError, match="needs the labels: pass y="):
        mixkit.Remix(num_classes=2).sample(4)
    with pytest.raises(ValueError, match="pairing must be one of"):
        mixkit.LabelPairedMix(pairing="nearest")
    with pytest.raises(ValueError, match="pairing must be one of"):
        sample_label_partner(np.zeros(3, np.int64), "shuffle", np.random.default_rng(0))
    with pytest.raises(TypeError, match="base must be a mixkit method"):
        mixkit.Remix(base="cutmix")
    with pytest.raises(ValueError, match="SaliencyMix cannot be a base"):
        mixkit.Remix(base=mixkit.SaliencyMix())
    with pytest.raises(ValueError, match="kappa must be >= 1"):
        mixkit.Remix(kappa=0.5)
    with pytest.raises(TypeError, match="kappa must be a real number"):
        mixkit.Remix(kappa="3")
    with pytest.raises(ValueError, match="tau must be a probability in"):
        mixkit.Remix(tau=1.5)
    with pytest.raises(ValueError, match="counts must be a 1-D sequence of non-negative"):
        mixkit.Remix(counts=[3, -1])
    with pytest.raises(ValueError, match="counts has 3 entries but num_classes=2"):
        mixkit.Remix(counts=[3, 1, 2], num_classes=2)
    with pytest.raises(ValueError, match="class 2 has no count"):
        mixkit.Remix(counts=[3, 1]).sample(3, y=np.eye(3)[[0, 1, 2]])
    with pytest.raises(ValueError, match="class index 5, out of range"):
        mixkit.Remix(num_classes=3)(x, np.array([0, 1, 5, 0]))
    with pytest.raises(ValueError, match="label_lam must have shape"):
        mixkit.LabelPlan(partner=[0, 1], lam=[1, 1], label_lam=[1])
    with pytest.raises(ValueError, match="label_lam must lie in"):
        mixkit.LabelPlan(partner=[0], lam=[1], label_lam=[2])
    with pytest.raises(ValueError, match="inner must be a plan for the same batch size"):
        mixkit.LabelPlan(partner=[0], lam=[1], label_lam=[1], inner=mixkit.MixPlan([0, 1], [1, 1]))


def test_structured_samples_use_the_labels_of_the_dict():
    gen = np.random.default_rng(0)
    x = gen.random((6, 3, 6, 8)).astype(np.float32)
    y = np.array([0, 0, 0, 0, 1, 2])
    for t in (mixkit.Remix(num_classes=3, counts=[40, 4, 1], base=mixkit.CutMix(lam_mode="sample")),
              mixkit.BalancedMixUp(num_classes=3)):
        out = t({"image": x, "labels": y}, rng=7)
        xa, ya = t(x, y, rng=7)
        np.testing.assert_array_equal(out["image"], xa)
        np.testing.assert_array_equal(out["labels"], ya)
    with pytest.raises(ValueError, match="needs the labels: pass y="):
        mixkit.BalancedMixUp(num_classes=3)({"image": x}, rng=0)
    m = gen.integers(0, 3, (6, 6, 8)).astype(np.uint8)
    with pytest.raises(ValueError, match="LabelPlan, which cannot carry mask"):
        mixkit.BalancedMixUp(num_classes=3)({"image": x, "labels": y, "mask": m}, rng=0, mask_classes=3)


@pytest.mark.parametrize("rng", [0, None, np.random.SeedSequence(3), np.random.default_rng(5)])
def test_exported_sampling_helpers_take_any_rng(rng):
    lam = mixkit.sample_lam(5, 0.4, "sample", rng)
    assert lam.shape == (5,) and lam.dtype == np.float64 and np.all((lam >= 0) & (lam <= 1))
    partner = mixkit.sample_partner(6, "pairs", rng)
    np.testing.assert_array_equal(partner[partner], np.arange(6))
    classes = np.array([0, 0, 1, 1, 2])
    inter = mixkit.sample_label_partner(classes, "inter", rng)
    assert np.all(classes[inter] != classes)
    assert mixkit.sample_label_partner(classes, "balanced", rng).shape == (5,)
    # the same int seed gives the same draws
    np.testing.assert_array_equal(mixkit.sample_lam(4, 1.0, "sample", 7), mixkit.sample_lam(4, 1.0, "sample", 7))
    np.testing.assert_array_equal(mixkit.sample_partner(9, "shuffle", 7), mixkit.sample_partner(9, "shuffle", 7))


def test_exported_sampling_helpers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="rng seed must be a non-negative int"):
        mixkit.sample_lam(3, 1.0, "batch", -1)
    with pytest.raises(TypeError, match="legacy numpy.random.RandomState"):
        mixkit.sample_partner(3, "shuffle", np.random.RandomState(0))
    with pytest.raises(ValueError, match="batch_size must be a non-negative int"):
        mixkit.sample_partner(-2, "shuffle", 0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mixkit.sample_lam(3, 0.0, "batch", 0)
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        mixkit.sample_lam(3, 1.0, "batch", 0, lam=1.5)
    with pytest.raises(TypeError, match="integer class ids"):
        mixkit.sample_label_partner(np.array([0.5, 1.0]), "balanced", 0)
    with pytest.raises(ValueError, match=r"class ids of shape \(B,\)"):
        mixkit.sample_label_partner(np.eye(3), "balanced", 0)

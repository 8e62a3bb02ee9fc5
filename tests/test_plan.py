"""Plans and their sampling: shapes, pairing modes, lam options, reproducibility, no global RNG."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.plan import plan_from_dict


@given(b=st.integers(0, 64), seed=st.integers(0, 2**32 - 1))
def test_shuffle_is_a_permutation(b, seed):
    p = mixkit.sample_partner(b, "shuffle", np.random.default_rng(seed))
    assert p.dtype == np.int64 and p.shape == (b,)
    assert sorted(p.tolist()) == list(range(b))


@given(b=st.integers(0, 65), seed=st.integers(0, 2**32 - 1))
def test_pairs_is_a_perfect_matching(b, seed):
    p = mixkit.sample_partner(b, "pairs", np.random.default_rng(seed))
    rows = np.arange(b)
    assert np.array_equal(p[p], rows)  # i and j swap with each other
    assert int(np.sum(p == rows)) == b % 2  # only the odd sample out keeps itself


def test_flip_pairs_ends():
    assert mixkit.sample_partner(5, "flip", np.random.default_rng(0)).tolist() == [4, 3, 2, 1, 0]


def test_pairs_odd_sample_keeps_lam_one():
    plan = mixkit.MixUp(1.0, pairing="pairs", lam_mode="sample").sample(7, rng=3)
    alone = np.flatnonzero(plan.partner == np.arange(7))
    assert alone.size == 1
    assert plan.lam[alone[0]] == 1.0


@given(seed=st.integers(0, 2**32 - 1))
def test_batch_mode_shares_lam_and_sample_mode_does_not(seed):
    pb = mixkit.MixUp(1.0, lam_mode="batch", pairing="flip").sample(8, rng=seed)
    assert np.unique(pb.lam).size == 1
    ps = mixkit.MixUp(1.0, lam_mode="sample", pairing="flip").sample(8, rng=seed)
    assert np.unique(ps.lam).size > 1


def test_majority_and_fixed_lam():
    plan = mixkit.MixUp(0.75, lam_mode="sample", pairing="flip", majority=True).sample(200, rng=0)
    assert np.all(plan.lam >= 0.5)
    fixed = mixkit.MixUp(lam=0.3, pairing="flip").sample(4, rng=0)
    assert np.allclose(fixed.lam, 0.3)


@given(seed=st.integers(0, 2**32 - 1), b=st.integers(1, 32))
def test_same_seed_same_plan(seed, b):
    for t in (mixkit.MixUp(0.4, lam_mode="sample"), mixkit.CutMix(lam_mode="sample")):
        a = t.sample(b, rng=seed, shape=(b, 3, 9, 11))
        c = t.sample(b, rng=np.random.default_rng(seed), shape=(b, 3, 9, 11))
        assert a.to_dict() == c.to_dict()


def test_no_global_rng_is_touched():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    mixkit.MixUp(0.4).sample(16, rng=None)
    mixkit.CutMix().sample(16, rng=None, shape=(16, 3, 8, 8))
    mixkit.MixUp(0.4)(np.ones((4, 2)), rng=None)
    assert np.array_equal(np.random.get_state()[1], before)


def test_torch_global_rng_is_untouched():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    state = torch.get_rng_state().clone()
    mixkit.CutMix(lam_mode="sample")(torch.ones(4, 1, 6, 6), rng=1)
    mixkit.MixUp(lam_mode="sample")(torch.ones(4, 3), rng=1)
    assert torch.equal(torch.get_rng_state(), state)


@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 20), w=st.integers(1, 20),
       mode=st.sampled_from(["batch", "sample"]), alpha=st.floats(0.05, 5.0))
def test_cutmix_lam_is_exact_kept_fraction(seed, h, w, mode, alpha):
    plan = mixkit.CutMix(alpha, lam_mode=mode).sample(6, rng=seed, shape=(6, 2, h, w))
    area = np.prod(plan.stop - plan.start, axis=1)
    assert np.all(plan.start >= 0) and np.all(plan.stop <= np.array([h, w]))
    assert np.allclose(plan.lam, 1 - area / (h * w), atol=0, rtol=0)
    assert np.allclose(plan.box_fraction, 1 - plan.lam)


def test_cutmix_min_max_box_fractions():
    plan = mixkit.CutMix(min_max=(0.25, 0.5), lam_mode="sample", pairing="flip").sample(
        50, rng=0, shape=(50, 3, 40, 20))
    side = plan.stop - plan.start
    active = plan.partner != np.arange(50)
    assert np.all(side[active, 0] >= 10) and np.all(side[active, 0] <= 20)
    assert np.all(side[active, 1] >= 5) and np.all(side[active, 1] <= 10)


def test_p_zero_and_p_per_sample():
    plan = mixkit.MixUp(p=0.0).sample(8, rng=0)
    assert np.array_equal(plan.partner, np.arange(8)) and np.all(plan.lam == 1)
    plan = mixkit.MixUp(lam_mode="sample", pairing="flip", p=0.5).sample(1000, rng=0)
    mixed = plan.lam < 1
    assert 0.4 < mixed.mean() < 0.6


def test_plan_is_frozen_and_round_trips():
    plan = mixkit.CutMix(lam_mode="sample").sample(5, rng=0, shape=(5, 3, 8, 8))
    with pytest.raises(ValueError, match="read-only"):
        plan.lam[0] = 0.5
    with pytest.raises(AttributeError):
        plan.lam = np.ones(5)  # type: ignore[misc]
    again = plan_from_dict(plan.to_dict())
    assert type(again) is type(plan) and again.to_dict() == plan.to_dict()
    assert "BoxPlan(batch_size=5" in repr(plan)


def test_plan_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="same shape"):
        mixkit.MixPlan(partner=[0, 1], lam=[1.0])
    with pytest.raises(ValueError, match=r"partner indices must lie in \[0, 2\)"):
        mixkit.MixPlan(partner=[0, 2], lam=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        mixkit.MixPlan(partner=[0, 1], lam=[1.5, 1.0])
    with pytest.raises(ValueError, match="unknown plan type"):
        plan_from_dict({"type": "Nope"})


def test_empty_and_single_batches():
    for t in (mixkit.MixUp(), mixkit.CutMix()):
        plan = t.sample(0, rng=0, shape=(0, 1, 4, 4))
        assert plan.batch_size == 0
        plan = t.sample(1, rng=0, shape=(1, 1, 4, 4))
        assert plan.partner.tolist() == [0] and plan.lam.tolist() == [1.0]

"""Schedules: mixing off for the last epochs, alpha/p schedules, per-method probabilities."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.schedules import Constant, Cosine, Linear, Scheduled


@given(start=st.floats(-10, 10), end=st.floats(-10, 10), t=st.floats(-1, 2))
def test_linear_and_cosine_run_from_start_to_end(start, end, t):
    for s in (Linear(start, end), Cosine(start, end)):
        assert s(0.0) == pytest.approx(start)
        assert s(1.0) == pytest.approx(end)
        lo, hi = min(start, end), max(start, end)
        assert lo - 1e-9 <= s(t) <= hi + 1e-9
    assert Cosine(start, end)(0.5) == pytest.approx((start + end) / 2)
    assert Constant(start)(t) == start


def test_mixing_is_off_for_the_last_epochs():
    x = np.random.default_rng(0).normal(size=(8, 1, 6, 6)).astype(np.float32)
    y = np.arange(8) % 4
    t = Scheduled(mixkit.CutMix(lam=0.5, pairing="flip", num_classes=4), total_epochs=5, off_last=2)
    for epoch in range(5):
        t.set_epoch(epoch)
        out, target = t(x, y, rng=epoch)
        assert t.mixing == (epoch < 3)
        if epoch >= 3:
            np.testing.assert_array_equal(out, x)
            np.testing.assert_array_equal(target, np.eye(4, dtype=np.float32)[y])
            plan = t.sample(8, rng=0, shape=x.shape)
            assert np.all(plan.lam == 1.0)
        else:
            assert not np.array_equal(out, x)


def test_off_switches_every_inner_transform():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 0, 0, 1, 1, 2])
    inner = mixkit.OneOf([mixkit.MixUp(num_classes=3), mixkit.CutMix(num_classes=3)])
    remix = mixkit.Remix(num_classes=3, base=mixkit.CutMix(lam=0.5, pairing="flip"))
    for t in (Scheduled(inner, total_epochs=2, off_last=1), Scheduled(remix, total_epochs=2, off_last=1)):
        t.set_epoch(1)
        for seed in range(10):
            out, _ = t(x[:, None, :, None], y, rng=seed)
            np.testing.assert_array_equal(out, x[:, None, :, None])
    # the wrapped transforms themselves are left as they were
    assert inner.transforms[0].p == 1.0 and remix.base.p == 1.0
    assert not np.array_equal(remix(x[:, None, :, None], y, rng=0)[0], x[:, None, :, None])


def test_alpha_and_p_follow_their_schedules():
    t = Scheduled(mixkit.MixUp(1.0), total_epochs=11, alpha=Linear(0.2, 1.2), p=Cosine(1.0, 0.0))
    for epoch in range(11):
        t.set_epoch(epoch)
        progress = epoch / 10
        assert t.progress == pytest.approx(progress)
        assert t.current.alpha == pytest.approx(0.2 + progress)
        assert t.current.p == pytest.approx(0.5 * (1 + np.cos(np.pi * progress)))
    assert t.mixer.alpha == 1.0  # the original is not changed
    # a float epoch for per-step updates
    assert t.set_epoch(2.5).current.alpha == pytest.approx(0.45)


def test_p_schedule_controls_how_often_batches_mix():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    t = Scheduled(mixkit.MixUp(1.0), total_epochs=2, p=Linear(0.25, 0.25))
    mixed = sum(not np.array_equal(t(x, rng=s)[0], x) for s in range(400))
    assert 60 <= mixed <= 140  # Binomial(400, 0.25 * P(partner differs)) is about 75..100


def test_p_schedule_of_a_oneof_is_its_probability_of_mixing():
    shape = (4, 1, 6, 6)
    t = Scheduled(mixkit.OneOf([mixkit.MixUp(lam=0.5), mixkit.CutMix(lam=0.5)]), total_epochs=2, p=0.5)
    mixed = [bool(np.any(t.sample(4, rng=s, shape=shape).lam < 1)) for s in range(400)]
    assert 0.4 < np.mean(mixed) < 0.6  # the scheduled p, not p squared through the OneOf and its members
    off = Scheduled(mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()]), total_epochs=2, off_last=1).set_epoch(1)
    assert all(np.all(off.sample(4, rng=s, shape=shape).lam == 1) for s in range(20))


def test_oneof_weights_schedule_picks_methods_as_scheduled():
    m = mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()])
    t = Scheduled(m, total_epochs=3, weights=[Linear(1.0, 0.0), Linear(0.0, 1.0)])
    shape = (4, 1, 5, 5)
    assert all(type(t.set_epoch(0).sample(4, rng=s, shape=shape)) is mixkit.MixPlan for s in range(20))
    assert all(isinstance(t.set_epoch(2).sample(4, rng=s, shape=shape), mixkit.BoxPlan) for s in range(20))
    np.testing.assert_allclose(t.set_epoch(1).current.weights, [0.5, 0.5])
    kinds = [isinstance(t.sample(4, rng=s, shape=shape), mixkit.BoxPlan) for s in range(400)]
    assert 150 <= sum(kinds) <= 250


def test_label_aware_transforms_pass_labels_through_and_pickle():
    y = np.array([0, 0, 0, 1])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    t = Scheduled(mixkit.BalancedMixUp(num_classes=2), total_epochs=4, alpha=Linear(0.1, 0.4))
    _, target = t(x, y, rng=0)
    assert target.shape == (4, 2)
    plan = t.sample(4, rng=0, y=y)
    assert isinstance(plan, mixkit.LabelPlan)
    t2 = pickle.loads(pickle.dumps(t.set_epoch(3)))
    assert t2.current.alpha == pytest.approx(0.4)
    assert "Scheduled(" in repr(t2) and "total_epochs=4" in repr(t2)


def test_errors():
    with pytest.raises(TypeError, match="needs a mixkit transform"):
        Scheduled("mixup", total_epochs=3)
    with pytest.raises(ValueError, match="total_epochs must be a positive int"):
        Scheduled(mixkit.MixUp(), total_epochs=0)
    with pytest.raises(ValueError, match="off_last must be an int in"):
        Scheduled(mixkit.MixUp(), total_epochs=3, off_last=4)
    with pytest.raises(ValueError, match="weights= schedules the choice"):
        Scheduled(mixkit.MixUp(), total_epochs=3, weights=[1.0])
    with pytest.raises(ValueError, match="one entry per transform"):
        Scheduled(mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()]), total_epochs=3, weights=[1.0])
    with pytest.raises(ValueError, match="alpha= needs a transform with an alpha"):
        Scheduled(mixkit.ResizeMix(), total_epochs=3, alpha=0.5)
    with pytest.raises(TypeError, match="alpha must be a finite number"):
        Scheduled(mixkit.MixUp(), total_epochs=3, alpha="high")
    t = Scheduled(mixkit.MixUp(), total_epochs=3, alpha=Linear(1.0, -1.0))
    with pytest.raises(ValueError, match=r"alpha \(scheduled\) must be > 0"):
        t.set_epoch(2)
    t = Scheduled(mixkit.MixUp(), total_epochs=3, p=Linear(0.5, 2.0))
    with pytest.raises(ValueError, match=r"p \(scheduled\) must be a probability"):
        t.set_epoch(2)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        t.set_epoch(-1)
    with pytest.raises(ValueError, match="scheduled weights must be non-negative with a positive sum"):
        Scheduled(mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()]), total_epochs=3, weights=[0.0, Linear(0.0, 0.0)])

"""Tabular MixUp: numeric columns blended, categorical columns taken whole from one source."""

import numpy as np
import pytest
from helpers import readonly
from hypothesis import given
from hypothesis import strategies as st

import mixkit


@given(st.integers(1, 8), st.integers(0, 2**16))
def test_categorical_columns_come_whole_from_one_source(b, seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.random((b, 3)), rng.integers(0, 5, (b, 2)).astype(float)], axis=1)
    t = mixkit.TabularMixUp(categorical=[3, 4], lam_mode="sample", num_classes=2)
    plan = t.sample(b, rng=seed, shape=x.shape)
    out, _ = t.apply(plan, readonly(x), np.arange(b) % 2)
    p, lam = plan.partner, plan.lam[:, None]
    np.testing.assert_allclose(out[:, :3], lam * x[:, :3] + (1 - lam) * x[p, :3])
    np.testing.assert_array_equal(out[:, 3:], np.where(plan.take_own, x[:, 3:], x[p, 3:]))
    assert set(np.unique(out[:, 3:])) <= set(np.unique(x[:, 3:]))


def test_categorical_share_follows_lam():
    t = mixkit.TabularMixUp(categorical=range(200), lam=0.3, pairing="flip")
    plan = t.sample(2, rng=0, shape=(2, 200))
    assert abs(plan.take_own.mean() - 0.3) < 0.08


def test_torch_inplace_and_replay():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    t = mixkit.TabularMixUp(categorical=[2], lam=0.5, pairing="flip")
    plan = t.sample(2, rng=1, shape=tuple(x.shape))
    ref, _ = t.apply(plan, x.clone())
    buf = x.clone()
    res, _ = t.apply(plan, buf, inplace=True)
    assert res is buf
    torch.testing.assert_close(res, ref)
    torch.testing.assert_close(res[:, :2], torch.tensor([[5.0, 6.0], [5.0, 6.0]]))
    assert set(res[:, 2].tolist()) <= {2.0, 12.0}
    again = mixkit.plan_from_dict(plan.to_dict())
    torch.testing.assert_close(t.apply(again, x.clone())[0], ref)


def test_tabular_errors():
    with pytest.raises(ValueError, match="non-negative column indices"):
        mixkit.TabularMixUp(categorical=[-1])
    with pytest.raises(ValueError, match="repeats a column"):
        mixkit.TabularMixUp(categorical=[1, 1])
    with pytest.raises(TypeError, match="sequence of column indices"):
        mixkit.TabularMixUp(categorical=3)
    with pytest.raises(ValueError, match=r"rows of shape \(B, F\)"):
        mixkit.TabularMixUp(categorical=[5])(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"rows of shape \(B, F\)"):
        mixkit.TabularMixUp()(np.zeros((2, 3, 4)))

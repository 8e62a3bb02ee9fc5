"""The generic Array-API path (checked with array-api-strict) against the NumPy oracle."""

import numpy as np
import pytest

import mixkit

xp = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("make", [
    lambda: mixkit.MixUp(0.4, lam_mode="sample", num_classes=3),
    lambda: mixkit.CutMix(1.0, lam_mode="sample", axes=(-1,), num_classes=3),
    lambda: mixkit.CutMix(1.0, lam_mode="batch", axes=(1, 2), num_classes=3),
])
def test_array_api_matches_numpy(seed, make):
    t = make()
    rng = np.random.default_rng(seed)
    x = rng.random((6, 4, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=6)
    plan = t.sample(6, rng=seed, shape=x.shape)
    ref_x, ref_y = t.apply(plan, x, y)
    got_x, got_y = t.apply(plan, xp.asarray(x), xp.asarray(y))
    assert type(got_x) is type(xp.asarray(x)) and got_x.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(got_x), ref_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_y), ref_y, rtol=1e-6, atol=1e-6)


def test_array_api_uint8_and_masks():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(4, 6, 7), dtype=np.uint8)
    partner = np.array([1, 0, 3, 2])
    lam = np.array([0.3, 0.5, 0.9, 0.1])
    got = mixkit.blend(xp.asarray(x), partner, lam)
    assert got.dtype == xp.uint8
    np.testing.assert_array_equal(np.asarray(got), mixkit.blend(x, partner, lam))
    m = rng.random((4, 7))
    np.testing.assert_allclose(np.asarray(mixkit.mask_mix(xp.asarray(x), partner, m, (2,))),
                               mixkit.mask_mix(x, partner, m, (2,)), atol=1)


def test_array_api_refuses_out_and_inplace():
    x = xp.asarray(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="need a NumPy array or a torch tensor"):
        mixkit.MixUp()(x, inplace=True)


def test_array_api_labels_are_checked_like_numpy():
    x = xp.asarray(np.zeros((3, 2), np.float32))
    t = mixkit.MixUp(lam=0.5, pairing="flip", num_classes=3)
    with pytest.raises(ValueError, match="row 0 of y sums to 0.4"):
        t(x, xp.asarray(np.array([[0.2, 0.2, 0.0], [0, 1, 0], [1, 0, 0]], np.float32)))
    with pytest.raises(ValueError, match="holds NaN"):
        t(x, xp.asarray(np.array([[np.nan, 1, 0], [0, 1, 0], [1, 0, 0]], np.float32)))
    with pytest.raises(ValueError, match="class index 3, out of range"):
        mixkit.one_hot(xp.asarray(np.array([0, 3])), 3)
    _, targets = t(x, xp.asarray(np.array([0, 1, 2])))
    np.testing.assert_allclose(np.asarray(targets), 0.5 * np.eye(3) + 0.5 * np.eye(3)[::-1])

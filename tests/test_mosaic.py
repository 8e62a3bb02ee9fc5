"""Mosaic: four sources per sample, labels weighted by quadrant area, plans replayable."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit

STRIDE = 10_000


@given(st.integers(1, 6), st.integers(4, 16), st.integers(4, 16), st.integers(0, 2**16))
def test_labels_are_area_weighted_and_match_pixels(b, h, w, seed):
    x = (np.arange(b)[:, None, None] * STRIDE + np.arange(h * w).reshape(1, h, w))[:, None].astype(float)
    t = mixkit.Mosaic(num_classes=b)
    plan = t.sample(b, rng=seed, shape=x.shape)
    out, y = t.apply(plan, x, np.arange(b))
    src = (out[:, 0] // STRIDE).astype(int)
    np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-6)
    share = np.stack([(src == k).mean(axis=(1, 2)) for k in range(b)], axis=1)
    np.testing.assert_allclose(y, share, atol=1e-6)  # label weight = fraction of pixels from each sample
    np.testing.assert_allclose(plan.lam, plan.weights[:, 0])
    np.testing.assert_array_equal(src[:, 0, 0], np.arange(b))  # the top-left pixel is always the sample's own


def test_replay_and_torch_agree():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((4, 3, 8, 12)).astype(np.float32)
    t = mixkit.Mosaic(num_classes=4)
    plan = t.sample(4, rng=1, shape=x.shape)
    again = mixkit.plan_from_dict(plan.to_dict())
    a, _ = t.apply(plan, x)
    b, _ = t.apply(again, torch.from_numpy(x))
    np.testing.assert_array_equal(a, b.numpy())
    nhwc, _ = mixkit.Mosaic(axes=(1, 2)).apply(
        mixkit.MosaicPlan(partner=plan.partner, lam=plan.lam, axes=(1, 2), sizes=(8, 12),
                          sources=plan.sources, centre=plan.centre), np.moveaxis(x, 1, -1))
    np.testing.assert_array_equal(np.moveaxis(nhwc, -1, 1), a)


def test_p_zero_keeps_every_sample():
    x = np.random.default_rng(0).random((3, 1, 6, 6))
    out, y = mixkit.Mosaic(p=0.0, num_classes=3)(x, np.arange(3), rng=0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_allclose(y, np.eye(3))


def test_mosaic_errors():
    with pytest.raises(ValueError, match="0 < lo <= hi < 1"):
        mixkit.Mosaic(centre_range=(0.0, 0.5))
    with pytest.raises(ValueError, match="two axes"):
        mixkit.Mosaic(axes=(-1,))
    with pytest.raises(ValueError, match="label_format='dense'"):
        t = mixkit.Mosaic(num_classes=2)
        t.label_format = "pair"
        t(np.zeros((2, 1, 4, 4)), np.array([0, 1]), rng=0)
    with pytest.raises(ValueError, match="pass shape=x.shape"):
        mixkit.Mosaic().sample(2)
    plan = mixkit.Mosaic().sample(2, rng=0, shape=(2, 1, 8, 8))
    with pytest.raises(ValueError, match="sample a new plan with shape=x.shape"):
        mixkit.Mosaic().apply(plan, np.zeros((2, 1, 8, 9)))


def test_batch_of_one_empty_batch_and_empty_images_are_left_as_they_are():
    x = np.random.default_rng(0).random((1, 3, 8, 8))
    for seed in range(5):
        out, y = mixkit.Mosaic(num_classes=2)(x, np.array([1]), rng=seed)
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(y, [[0.0, 1.0]])
    out, y = mixkit.Mosaic(num_classes=2)(np.zeros((0, 3, 8, 8)), np.zeros(0, np.int64), rng=0)
    assert out.shape == (0, 3, 8, 8) and y.shape == (0, 2)
    for shape in [(3, 2, 0, 5), (3, 2, 5, 0)]:
        x = np.zeros(shape, np.float32)
        plan = mixkit.Mosaic().sample(3, rng=0, shape=shape)
        np.testing.assert_array_equal(plan.lam, 1.0)
        np.testing.assert_array_equal(plan.partner, np.arange(3))
        out, y = mixkit.Mosaic(num_classes=3).apply(plan, x, np.arange(3))
        assert out.shape == shape and out.dtype == np.float32
        np.testing.assert_array_equal(y, np.eye(3))
    # in a batch of two, a sample whose three draws are all itself keeps its pixels too
    x = np.random.default_rng(1).random((2, 1, 6, 6))
    for seed in range(40):
        plan = mixkit.Mosaic().sample(2, rng=seed, shape=x.shape)
        out, _ = mixkit.Mosaic().apply(plan, x)
        for i in range(2):
            if np.all(plan.sources[i] == i):
                np.testing.assert_array_equal(out[i], x[i])
                assert plan.lam[i] == 1.0


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "uint8"])
@pytest.mark.parametrize("method", ["mosaic", "resizemix"])
def test_channels_last_tensors_keep_their_memory_format(method, dtype):
    torch = pytest.importorskip("torch")
    dt = getattr(torch, dtype)
    x = (torch.rand(5, 3, 8, 10) * 200).to(dt)
    t = mixkit.Mosaic(num_classes=5) if method == "mosaic" else mixkit.ResizeMix(num_classes=5, lam_mode="sample")
    plan = t.sample(5, rng=3, shape=tuple(x.shape))
    ref, _ = t.apply(plan, x)
    out, _ = t.apply(plan, x.to(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last) and out.dtype == dt
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert not torch.equal(out, x)  # something was mixed
    x5 = torch.rand(3, 2, 4, 6, 6).to(memory_format=torch.channels_last_3d)
    if method == "resizemix":
        out5, _ = mixkit.ResizeMix(axes=(-3, -2, -1))(x5, rng=0)
        assert out5.is_contiguous(memory_format=torch.channels_last_3d)


def test_constructor_options_are_checked_like_every_method():
    with pytest.raises(TypeError, match="axes must be ints"):
        mixkit.Mosaic(axes=(1.5, 2))
    with pytest.raises(ValueError, match="repeat an axis"):
        mixkit.Mosaic(axes=(2, 2))
    with pytest.raises(ValueError, match="lam_mode must be one of"):
        mixkit.ResizeMix(lam_mode="per-sample")
    with pytest.raises(ValueError, match="pairing must be one of"):
        mixkit.ResizeMix(pairing="nearest")
    with pytest.raises(ValueError, match="at least one axis"):
        mixkit.ResizeMix(axes=())

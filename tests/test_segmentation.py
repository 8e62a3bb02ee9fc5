"""Segmentation masks (and video) follow their image: every pixel's label is the label of the image
the pixel came from."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.companions.segmentation import MixedMasks

STRIDE = 10_000


def ids(b, h, w, c=2):
    """An image batch whose every value names its sample and pixel: ``i * STRIDE + r * w + col``."""
    base = np.arange(b)[:, None, None] * STRIDE + np.arange(h * w).reshape(1, h, w)
    return np.repeat(base[:, None], c, axis=1).astype(np.float64)


def source_of(out):
    """Sample each pixel of a pasted id image came from, ``(B, H, W)``, and check its position."""
    v = out[:, 0]
    src = (v // STRIDE).astype(np.int64)
    _, h, w = v.shape
    np.testing.assert_array_equal(v % STRIDE, np.broadcast_to(np.arange(h * w).reshape(h, w), v.shape))
    return src


@st.composite
def cases(draw):
    b = draw(st.integers(1, 5))
    h = draw(st.integers(2, 9))
    w = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**16))
    return b, h, w, seed


@given(cases(), st.sampled_from(["cutmix", "fmix", "classmix", "mosaic"]))
def test_mask_labels_agree_with_pixel_sources(case, method):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 4, (b, h, w)).astype(np.uint8)
    t = {"cutmix": mixkit.CutMix(lam_mode="sample"), "fmix": mixkit.FMix(), "classmix": mixkit.ClassMix(),
         "mosaic": mixkit.Mosaic()}[method]
    x = ids(b, h, w)
    out = t({"image": x, "mask": seg}, rng=seed)
    assert out["mask"].dtype == np.uint8 and out["mask"].shape == seg.shape
    v = out["image"][:, 0]
    src = (v // STRIDE).astype(np.int64)
    pos = (v % STRIDE).astype(np.int64)
    expected = seg.reshape(b, -1)[src, pos]
    np.testing.assert_array_equal(out["mask"], expected)


def test_classmix_pastes_exactly_half_of_the_partner_classes():
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 6, (6, 10, 10)).astype(np.int64)
    t = mixkit.ClassMix(num_classes=3)
    plan = t.sample(6, rng=1, shape=(6, 3, 10, 10), mask=seg)
    out = t.apply(plan, {"image": ids(6, 10, 10, 3), "mask": seg, "labels": np.arange(6) % 3})
    src = source_of(out["image"])
    for i in range(6):
        p = plan.partner[i]
        if p == i:
            continue
        pasted = np.unique(seg[p][src[i] == p])
        present = np.unique(seg[p])
        assert len(pasted) == int(np.ceil(len(present) / 2))
        # every pixel of a pasted class came from the partner, and no other
        np.testing.assert_array_equal(src[i] == p, np.isin(seg[p], pasted))
    np.testing.assert_allclose(plan.lam, plan.mask.reshape(6, -1).mean(1))


def test_classmix_ignore_index_is_never_pasted():
    seg = np.full((4, 6, 6), 255, dtype=np.uint8)
    seg[:, :3] = 1
    plan = mixkit.ClassMix(ignore_index=255, pairing="flip").sample(4, rng=0, shape=(4, 1, 6, 6), mask=seg)
    assert np.all(plan.mask[:, 3:] == 1)
    assert np.all(plan.mask[:, :3] == 0)


def test_mixup_soft_masks_are_lam_mixtures():
    rng = np.random.default_rng(2)
    seg = rng.integers(0, 3, (5, 4, 4))
    t = mixkit.MixUp(num_classes=3, lam_mode="sample")
    plan = t.sample(5, rng=3)
    out = t.apply(plan, {"image": rng.random((5, 1, 4, 4)), "mask": seg, "labels": np.arange(5) % 3})
    soft = out["mask"]
    assert soft.shape == (5, 3, 4, 4) and soft.dtype == np.float32
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    own = np.take_along_axis(soft, seg[:, None], 1)[:, 0]
    same = seg == seg[plan.partner]
    lam = plan.lam[:, None, None]
    np.testing.assert_allclose(own, np.where(same, 1.0, lam), rtol=1e-6)


def test_pair_form_matches_dense():
    rng = np.random.default_rng(2)
    seg = rng.integers(0, 3, (5, 4, 4))
    x = rng.random((5, 1, 4, 4))
    dense = mixkit.MixUp(num_classes=3)({"image": x, "mask": seg}, rng=4)["mask"]
    pair = mixkit.MixUp(num_classes=3, label_format="pair")({"image": x, "mask": seg}, rng=4)["mask"]
    assert isinstance(pair, MixedMasks)
    np.testing.assert_allclose(pair.dense(), dense, rtol=1e-6)


def test_soft_mask_plan_gives_per_pixel_targets():
    rng = np.random.default_rng(5)
    seg = rng.integers(0, 3, (4, 8, 8))
    weight = rng.random((4, 8, 8))
    plan = mixkit.MaskPlan(partner=[1, 0, 3, 2], lam=weight.reshape(4, -1).mean(1), axes=(2, 3), mask=weight)
    out = mixkit.MixUp(num_classes=3).apply(plan, {"image": rng.random((4, 1, 8, 8)), "mask": seg},
                                            mask_classes=3)
    soft = out["mask"]
    assert soft.shape == (4, 3, 8, 8)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    own = np.take_along_axis(soft, seg[:, None], 1)[:, 0]
    same = seg == seg[[1, 0, 3, 2]]
    np.testing.assert_allclose(own, np.where(same, 1.0, weight), rtol=1e-5)


def test_ignore_index_gives_empty_rows():
    seg = np.array([[[0, 255], [1, 2]]] * 2)
    out = mixkit.MixUp(num_classes=3, lam=0.7, pairing="flip")(
        {"image": np.zeros((2, 1, 2, 2)), "mask": seg}, rng=0, ignore_index=255)
    np.testing.assert_allclose(out["mask"][:, :, 0, 1], 0.0)


def test_torch_masks_keep_library_and_dtype():
    torch = pytest.importorskip("torch")
    x = torch.rand(4, 3, 6, 6)
    seg = torch.randint(0, 3, (4, 6, 6))
    out = mixkit.CutMix()({"image": x, "mask": seg}, rng=0)
    assert isinstance(out["mask"], torch.Tensor) and out["mask"].dtype == torch.int64
    soft = mixkit.MixUp(num_classes=3)({"image": x, "mask": seg}, rng=0)["mask"]
    assert isinstance(soft, torch.Tensor) and soft.shape == (4, 3, 6, 6)
    torch.testing.assert_close(soft.sum(1), torch.ones(4, 6, 6))


@pytest.mark.parametrize("axes", [(-2, -1), (1, 3, 4)])
def test_video_tube_and_3d_box_move_masks_with_pixels(axes):
    b, t_, h, w = 3, 4, 5, 6
    base = (np.arange(b)[:, None, None, None] * STRIDE
            + np.arange(t_ * h * w).reshape(1, t_, h, w)).astype(np.float64)
    video = np.repeat(base[:, :, None], 2, axis=2)  # (B, T, C, H, W)
    seg = np.random.default_rng(0).integers(0, 9, (b, t_, h, w)).astype(np.int16)
    out = mixkit.CutMix(axes=axes, lam=0.5, pairing="flip")({"x": video, "mask": seg}, rng=0)
    v = out["x"][:, :, 0]
    src, pos = (v // STRIDE).astype(int), (v % STRIDE).astype(int)
    np.testing.assert_array_equal(out["mask"], seg.reshape(b, -1)[src, pos])
    if axes == (-2, -1):  # a tube: every frame has the same box
        assert np.all(src == src[:, :1])
    assert (src != np.arange(b)[:, None, None, None]).any()


def test_mask_errors():
    x = np.zeros((4, 3, 6, 8))
    t = mixkit.CutMix()
    with pytest.raises(ValueError, match=r"mask must have shape \(B, \.\.\., 6, 8\)"):
        t({"image": x, "mask": np.zeros((4, 6, 7), np.uint8)}, rng=0)
    with pytest.raises(ValueError, match="batch 4"):
        t({"image": x, "mask": np.zeros((3, 6, 8), np.uint8)}, rng=0)
    with pytest.raises(TypeError, match="integer class ids"):
        t({"image": x, "mask": np.zeros((4, 6, 8), np.float32)}, rng=0)
    with pytest.raises(ValueError, match="mask_classes"):
        mixkit.MixUp()({"image": x, "mask": np.zeros((4, 6, 8), np.uint8)}, rng=0)
    with pytest.raises(ValueError, match="outside \\[0, 2\\)"):
        mixkit.MixUp()({"image": x, "mask": np.full((4, 6, 8), 3, np.uint8)}, rng=0, mask_classes=2)
    with pytest.raises(ValueError, match="ClassMix needs the segmentation mask"):
        mixkit.ClassMix()({"image": x}, rng=0)
    with pytest.raises(ValueError, match="ClassMix needs the segmentation mask: pass mask="):
        mixkit.ClassMix().sample(4, shape=x.shape)
    with pytest.raises(ValueError, match="ClassMix needs the batch's shape: pass shape=x.shape"):
        mixkit.ClassMix().sample(4, mask=np.zeros((4, 6, 8), np.uint8))
    with pytest.raises(ValueError, match="ResizePlan, which cannot carry mask"):
        mixkit.ResizeMix()({"image": x, "mask": np.zeros((4, 6, 8), np.uint8)}, rng=0)


def test_pair_form_loss_equals_dense_soft_cross_entropy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    seg = rng.integers(0, 4, (5, 6, 6))
    x = rng.random((5, 1, 6, 6))
    pair = mixkit.MixUp(num_classes=4, lam_mode="sample", label_format="pair")({"image": x, "mask": seg}, rng=1)["mask"]
    logits = torch.randn(5, 4, 6, 6, dtype=torch.float64)
    dense = torch.from_numpy(pair.dense().astype(np.float64))
    expected = -(dense * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(pair.cross_entropy(logits), expected)
    with pytest.raises(ValueError, match=r"logits must have shape \(B, C, \*S\)"):
        pair.cross_entropy(torch.randn(5, 4, 6, 5))
    with pytest.raises(ValueError, match="reduction must be"):
        pair.cross_entropy(logits, reduction="avg")

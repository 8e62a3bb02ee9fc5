"""Boxes and keypoints follow their image: inside the image, clipped to what is visible, weighted by
their source."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.companions.boxes import convert_boxes

STRIDE = 10_000


def ids(b, h, w):
    base = np.arange(b)[:, None, None] * STRIDE + np.arange(h * w).reshape(1, h, w)
    return base[:, None].astype(np.float64)


def random_boxes(rng, b, h, w, max_n=4):
    out, labels = [], []
    for _ in range(b):
        n = int(rng.integers(0, max_n + 1))
        x0 = rng.integers(0, w, n)
        y0 = rng.integers(0, h, n)
        x1 = np.minimum(w, x0 + rng.integers(1, w + 1, n))
        y1 = np.minimum(h, y0 + rng.integers(1, h + 1, n))
        out.append(np.stack([x0, y0, x1, y1], axis=1).astype(np.float64).reshape(-1, 4))
        labels.append(rng.integers(0, 9, n))
    return out, labels


@st.composite
def cases(draw):
    return (draw(st.integers(1, 5)), draw(st.integers(4, 12)), draw(st.integers(4, 12)),
            draw(st.integers(0, 2**16)))


@given(cases(), st.sampled_from(["mixup", "cutmix", "fmix", "mosaic", "gridmix"]))
def test_no_box_outside_the_image(case, method):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    boxes, labels = random_boxes(rng, b, h, w)
    t = {"mixup": mixkit.MixUp(), "cutmix": mixkit.CutMix(lam_mode="sample"), "fmix": mixkit.FMix(),
         "mosaic": mixkit.Mosaic(), "gridmix": mixkit.GridMix()}[method]
    out = t({"image": ids(b, h, w), "boxes": boxes, "box_labels": labels}, rng=seed)
    for bx, lab, wt in zip(out["boxes"], out["box_labels"], out["box_weights"]):
        assert len(bx) == len(lab) == len(wt)
        assert np.all(bx[:, 0] >= 0) and np.all(bx[:, 1] >= 0)
        assert np.all(bx[:, 2] <= w) and np.all(bx[:, 3] <= h)
        assert np.all(bx[:, 2] >= bx[:, 0]) and np.all(bx[:, 3] >= bx[:, 1])
        assert np.all((wt > 0) & (wt <= 1))


@given(cases())
def test_mixup_box_weights_sum_to_source_weights(case):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    boxes, labels = random_boxes(rng, b, h, w)
    t = mixkit.MixUp(lam_mode="sample", num_classes=9)
    plan = t.sample(b, rng=seed)
    out = t.apply(plan, {"image": ids(b, h, w), "boxes": boxes, "box_labels": labels})
    for i in range(b):
        p, lam = plan.partner[i], plan.lam[i]
        n_own = len(boxes[i]) if lam > 0 else 0
        n_p = len(boxes[p]) if (p != i and lam < 1) else 0
        wt = out["box_weights"][i]
        assert len(wt) == n_own + n_p
        np.testing.assert_allclose(wt[:n_own].sum(), lam * n_own, rtol=1e-6)
        np.testing.assert_allclose(wt[n_own:].sum(), (1 - lam) * n_p, rtol=1e-6)
        np.testing.assert_array_equal(out["box_labels"][i], np.concatenate(
            [labels[i][: n_own], labels[p][: n_p]]))


def _visible(box, src, i):
    x0, y0, x1, y1 = box.astype(int)
    return (src[i, y0:y1, x0:x1] == i).mean() if x1 > x0 and y1 > y0 else 0.0


@given(cases(), st.floats(0.0, 1.0))
def test_cutmix_boxes_are_what_the_pixels_show(case, min_visible):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    boxes, labels = random_boxes(rng, b, h, w)
    t = mixkit.CutMix(lam_mode="sample")
    plan = t.sample(b, rng=seed, shape=(b, 1, h, w))
    out = t.apply(plan, {"image": ids(b, h, w), "boxes": boxes, "box_labels": labels}, min_visible=min_visible)
    src = (out["image"][:, 0] // STRIDE).astype(int)
    for i in range(b):
        p = int(plan.partner[i])
        kept = out["boxes"][i]
        # own boxes: kept exactly when enough of them stays visible
        vis = np.array([_visible(bx, src, i) for bx in boxes[i]])
        n_own = int(((vis >= min_visible) & (vis > 0)).sum())
        np.testing.assert_array_equal(out["box_labels"][i][:n_own], labels[i][(vis >= min_visible) & (vis > 0)])
        for bx in kept[:n_own]:  # a clipped own box still covers only own pixels where it was clipped
            assert _visible(bx, src, i) > 0
        # partner boxes: inside the pasted region, every pixel from the partner
        for bx in kept[n_own:]:
            x0, y0, x1, y1 = bx.astype(int)
            assert np.all(src[i, y0:y1, x0:x1] == p)
        assert len(kept) >= n_own


def test_cutmix_clips_a_box_cut_through_by_the_paste():
    plan = mixkit.BoxPlan(partner=[1, 0], lam=[0.5, 0.5], axes=(2, 3), sizes=(10, 10),
                          start=[[0, 0], [0, 0]], stop=[[10, 5], [10, 5]])
    boxes = [np.array([[2.0, 2.0, 8.0, 6.0]]), np.array([[1.0, 1.0, 9.0, 3.0]])]
    out = mixkit.CutMix().apply(plan, {"image": np.zeros((2, 1, 10, 10)), "boxes": boxes})
    np.testing.assert_allclose(out["boxes"][0], [[5, 2, 8, 6], [1, 1, 5, 3]])
    np.testing.assert_allclose(out["box_weights"][0], [1, 1])


def test_formats_round_trip_and_mixing_agrees_across_formats():
    rng = np.random.default_rng(0)
    b = rng.random((5, 4)) * 10
    b[:, 2:] += b[:, :2]
    for fmt in ("xywh", "cxcywh"):
        np.testing.assert_allclose(convert_boxes(convert_boxes(b, "xyxy", fmt), fmt, "xyxy"), b)
    boxes, _ = random_boxes(rng, 4, 8, 10)
    x = ids(4, 8, 10)
    t = mixkit.CutMix(lam_mode="sample")
    ref = t({"image": x, "boxes": boxes}, rng=3)
    scale = np.array([10, 8, 10, 8])
    norm = [convert_boxes(bx, "xyxy", "cxcywh") / scale for bx in boxes]
    alt = t({"image": x, "boxes": norm}, rng=3, box_format="cxcywh", normalized=True)
    for r, a in zip(ref["boxes"], alt["boxes"]):
        np.testing.assert_allclose(convert_boxes(a * scale, "cxcywh", "xyxy"), r, atol=1e-5)


def test_padded_form_matches_list_form():
    rng = np.random.default_rng(1)
    boxes, labels = random_boxes(rng, 4, 8, 8)
    n = max(len(bx) for bx in boxes)
    padded = np.zeros((4, n, 4))
    lab = np.full((4, n), -1)
    valid = np.zeros((4, n), bool)
    for i, (bx, lb) in enumerate(zip(boxes, labels)):
        padded[i, : len(bx)], lab[i, : len(lb)], valid[i, : len(bx)] = bx, lb, True
    t = mixkit.MixUp(lam_mode="sample")
    a = t({"image": ids(4, 8, 8), "boxes": boxes, "box_labels": labels}, rng=2)
    p = t({"image": ids(4, 8, 8), "boxes": padded, "box_labels": lab, "box_valid": valid}, rng=2)
    for i in range(4):
        v = p["box_valid"][i]
        np.testing.assert_allclose(p["boxes"][i][v], a["boxes"][i])
        np.testing.assert_array_equal(p["box_labels"][i][v], a["box_labels"][i])
        np.testing.assert_allclose(p["box_weights"][i][v], a["box_weights"][i])
        assert np.all(p["box_labels"][i][~v] == -1) and np.all(p["box_weights"][i][~v] == 0)


def test_torch_boxes_keep_library():
    torch = pytest.importorskip("torch")
    boxes = [torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.zeros(0, 4)]
    out = mixkit.MixUp(lam=0.6, pairing="flip")({"image": torch.zeros(2, 3, 8, 8), "boxes": boxes}, rng=0)
    assert all(isinstance(bx, torch.Tensor) and bx.dtype == torch.float32 for bx in out["boxes"])
    torch.testing.assert_close(out["box_weights"][1], torch.tensor([0.4]))


def test_mosaic_moves_boxes_and_keypoints_with_their_image():
    rng = np.random.default_rng(4)
    b, h, w = 4, 16, 20
    boxes, labels = random_boxes(rng, b, h, w, max_n=3)
    kps = rng.random((b, 3, 3)) * [w, h, 1] + [0, 0, 0.5]
    t = mixkit.Mosaic(num_classes=9)
    plan = t.sample(b, rng=5, shape=(b, 1, h, w))
    out = t.apply(plan, {"image": ids(b, h, w), "boxes": boxes, "box_labels": labels, "keypoints": kps})
    src = (out["image"][:, 0] // STRIDE).astype(int)
    for i in range(b):
        sources = [int(s) for s in plan.sources[i]]
        expected = np.concatenate([labels[s] for s in sources])
        np.testing.assert_array_equal(out["box_labels"][i], expected)
        origin = np.concatenate([[s] * len(boxes[s]) for s in sources]).astype(int)
        for bx, s in zip(out["boxes"][i], origin):
            cx, cy = int((bx[0] + bx[2]) / 2), int((bx[1] + bx[3]) / 2)
            if bx[2] - bx[0] >= 1 and bx[3] - bx[1] >= 1:
                assert src[i, min(cy, h - 1), min(cx, w - 1)] == s
        pts = out["keypoints"][i]
        assert pts.shape == (12, 3)
        for k, s in enumerate(np.repeat(sources, 3)):
            x, y = int(pts[k, 0]), int(pts[k, 1])
            assert src[i, min(y, h - 1), min(x, w - 1)] == s
    np.testing.assert_allclose(out["box_weights"][0], 1.0)


@given(cases())
def test_keypoints_visible_only_where_their_image_shows(case):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    kps = np.concatenate([rng.random((b, 5, 2)) * [w, h], rng.integers(0, 3, (b, 5, 1))], axis=2)
    t = mixkit.CutMix(lam_mode="sample")
    plan = t.sample(b, rng=seed, shape=(b, 1, h, w))
    out = t.apply(plan, {"image": ids(b, h, w), "keypoints": kps})
    src = (out["image"][:, 0] // STRIDE).astype(int)
    pts, wts = out["keypoints"], out["keypoint_weights"]
    assert pts.shape == (b, 10, 3) and wts.shape == (b, 10)
    for i in range(b):
        p = int(plan.partner[i])
        for k in range(10):
            owner = i if k < 5 else p
            orig = kps[owner, k % 5]
            shown = src[i, min(int(orig[1]), h - 1), min(int(orig[0]), w - 1)] == owner
            expect_vis = orig[2] > 0 and shown and not (k >= 5 and p == i)
            assert (pts[i, k, 2] > 0) == expect_vis
            assert (wts[i, k] > 0) == expect_vis


def test_box_and_keypoint_errors():
    x = np.zeros((2, 3, 8, 10))
    t = mixkit.CutMix()
    good = [np.array([[0.0, 0.0, 5.0, 5.0]]), np.zeros((0, 4))]
    with pytest.raises(ValueError, match="lies outside the image"):
        t({"image": x, "boxes": [np.array([[0.0, 0.0, 11.0, 5.0]]), np.zeros((0, 4))]}, rng=0)
    with pytest.raises(ValueError, match="lies outside the image"):
        t({"image": x, "boxes": good}, rng=0, normalized=True)
    with pytest.raises(ValueError, match="unknown box_format 'yxyx'"):
        t({"image": x, "boxes": good}, rng=0, box_format="yxyx")
    with pytest.raises(ValueError, match="negative width or height"):
        t({"image": x, "boxes": [np.array([[5.0, 0.0, 2.0, 5.0]]), np.zeros((0, 4))]}, rng=0)
    with pytest.raises(ValueError, match=r"boxes\[0\] must have shape \(n, 4\)"):
        t({"image": x, "boxes": [np.zeros((1, 5)), np.zeros((0, 4))]}, rng=0)
    with pytest.raises(ValueError, match="one array of boxes per image"):
        t({"image": x, "boxes": good[:1]}, rng=0)
    with pytest.raises(ValueError, match="1 boxes but 2 box labels"):
        t({"image": x, "boxes": good, "box_labels": [np.array([1, 2]), np.zeros(0)]}, rng=0)
    with pytest.raises(ValueError, match="box_valid must be a bool array"):
        t({"image": x, "boxes": np.zeros((2, 3, 4)), "box_valid": np.ones((2, 2), bool)}, rng=0)
    with pytest.raises(TypeError, match="list of \\(n, 4\\) arrays or a padded"):
        t({"image": x, "boxes": "boxes"}, rng=0)
    with pytest.raises(ValueError, match="visible keypoint .* lies outside the image"):
        t({"image": x, "keypoints": np.array([[[11.0, 1.0, 1.0]], [[1.0, 1.0, 0.0]]])}, rng=0)
    with pytest.raises(ValueError, match="keypoints must have shape"):
        t({"image": x, "keypoints": np.zeros((2, 3))}, rng=0)
    video = np.zeros((2, 4, 1, 8, 10))
    with pytest.raises(ValueError, match="also cuts axes"):
        mixkit.CutMix(axes=(1, 3, 4), pairing="flip", lam=0.5)({"x": video, "boxes": good}, rng=0)
    with pytest.raises(ValueError, match="ResizePlan, which cannot carry boxes"):
        mixkit.ResizeMix()({"image": x, "boxes": good}, rng=0)


def _objects(rng, b, h, w):
    """Canvases of filled rectangles, one class per object (1..), mask and boxes agreeing."""
    seg = np.zeros((b, h, w), np.int64)
    boxes, labels = [], []
    for i in range(b):
        bx, lb = [], []
        for c in range(1, 4):
            x0, y0 = rng.integers(0, w - 2), rng.integers(0, h - 2)
            x1, y1 = rng.integers(x0 + 1, w + 1), rng.integers(y0 + 1, h + 1)
            seg[i, y0:y1, x0:x1] = c
            bx.append([x0, y0, x1, y1])
            lb.append(c)
        keep = [k for k, c in enumerate(lb) if (seg[i] == c).any()]
        boxes.append(np.array(bx, float)[keep].reshape(-1, 4))
        labels.append(np.array(lb)[keep])
    return seg, boxes, labels


@given(cases(), st.sampled_from(["classmix", "cutmix", "fmix"]))
def test_boxes_follow_mask_keeps_only_boxes_whose_object_shows(case, method):
    b, h, w, seed = case
    rng = np.random.default_rng(seed)
    seg, boxes, labels = _objects(rng, b, h, w)
    t = {"classmix": mixkit.ClassMix(), "cutmix": mixkit.CutMix(lam_mode="sample"), "fmix": mixkit.FMix()}[method]
    out = t({"image": ids(b, h, w), "mask": seg, "boxes": boxes, "box_labels": labels}, rng=seed,
            boxes_follow_mask=True, min_visible=0.01)
    for bx, lb, mm in zip(out["boxes"], out["box_labels"], out["mask"]):
        for (x0, y0, x1, y1), c in zip(np.round(bx).astype(int), lb):
            assert (mm[y0:y1, x0:x1] == c).any(), "a kept box does not show its object"


def test_boxes_follow_mask_errors():
    x = np.zeros((2, 1, 6, 6))
    boxes = [np.array([[0.0, 0.0, 3.0, 3.0]]), np.zeros((0, 4))]
    with pytest.raises(ValueError, match="needs the segmentation mask"):
        mixkit.CutMix()({"image": x, "boxes": boxes}, rng=0, boxes_follow_mask=True)
    with pytest.raises(ValueError, match="needs box_labels"):
        mixkit.CutMix(pairing="flip", lam=0.5)({"image": x, "boxes": boxes, "mask": np.zeros((2, 6, 6), int)},
                                               rng=0, boxes_follow_mask=True)

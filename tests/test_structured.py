"""Structured samples: a dict in gives a dict out, keyword companions, one plan for everything."""

import numpy as np
import pytest
from helpers import readonly

import mixkit


def _batch(b=4, c=3, h=6, w=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((b, c, h, w)).astype(np.float32), rng.integers(0, 5, (b, h, w)).astype(np.uint8)


@pytest.mark.parametrize("t", [mixkit.MixUp(num_classes=4), mixkit.CutMix(num_classes=4)])
def test_dict_matches_array_call(t):
    x, m = _batch()
    y = np.arange(4)
    xa, ya = t(x, y, rng=7)
    out = t({"image": x, "labels": y, "mask": m}, rng=7, mask_classes=5)
    assert set(out) == {"image", "labels", "mask"}
    np.testing.assert_array_equal(out["image"], xa)
    np.testing.assert_array_equal(out["labels"], ya)
    out2 = t(x, y, rng=7, mask=m, mask_classes=5)
    assert isinstance(out2, mixkit.Mixed) and set(out2.companions) == {"mask"}
    np.testing.assert_array_equal(out2.x, xa)
    np.testing.assert_array_equal(out2.y, ya)
    np.testing.assert_array_equal(out2.mask, out["mask"])


def test_arrays_give_a_mixed_pair_with_or_without_companions():
    x, m = _batch()
    t = mixkit.CutMix(num_classes=4)
    plain = t(x, np.arange(4), rng=0)
    with_mask = t(x, np.arange(4), rng=0, mask=m)
    for res in (plain, with_mask):
        assert type(res) is mixkit.Mixed and isinstance(res, tuple) and len(res) == 2
    assert plain.companions == {}
    xm, ym = with_mask
    np.testing.assert_array_equal(xm, plain.x)
    np.testing.assert_array_equal(ym, plain.y)


def test_apply_replays_a_plan_on_a_dict():
    x, m = _batch()
    t = mixkit.CutMix(num_classes=4)
    plan = t.sample(4, rng=3, shape=x.shape)
    a = t.apply(plan, {"x": x, "mask": m, "labels": np.arange(4)})
    b = t({"x": x, "mask": m, "labels": np.arange(4)}, rng=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_inputs_untouched_and_inplace():
    x, m = _batch()
    x_ro, m_ro = readonly(x), readonly(m)
    mixkit.CutMix(num_classes=4)({"image": x_ro, "mask": m_ro, "labels": np.arange(4)}, rng=1)
    np.testing.assert_array_equal(x_ro, x)
    buf = x.copy()
    out = mixkit.CutMix(num_classes=4)({"image": buf, "mask": m}, rng=1, inplace=True)
    assert out["image"] is buf


def test_labels_none_is_allowed():
    x, m = _batch()
    out = mixkit.CutMix()({"image": x, "mask": m}, rng=0)
    assert "labels" not in out and out["mask"].dtype == np.uint8


def test_errors():
    x, m = _batch()
    t = mixkit.CutMix(num_classes=4)
    with pytest.raises(ValueError, match="unknown key"):
        t({"image": x, "masks": m}, rng=0)
    with pytest.raises(ValueError, match="exactly one of 'image' or 'x'"):
        t({"image": x, "x": x}, rng=0)
    with pytest.raises(ValueError, match="exactly one of 'image' or 'x'"):
        t({"mask": m}, rng=0)
    with pytest.raises(ValueError, match="put them in the dict"):
        t({"image": x}, np.arange(4), rng=0)
    with pytest.raises(TypeError, match="unexpected keyword 'masks'"):
        t(x, masks=m)
    with pytest.raises(ValueError, match="box_labels were given without boxes"):
        t({"image": x, "box_labels": [np.zeros(0)] * 4}, rng=0)
    with pytest.raises(ValueError, match="min_visible must be a fraction"):
        t({"image": x, "mask": m}, rng=0, min_visible=2.0)
    with pytest.raises(ValueError, match="x has batch size 4 but labels has 3"):
        t({"image": x, "labels": np.arange(3)}, rng=0)


def test_sequence_path_writes_into_out_and_inplace():
    rng = np.random.default_rng(0)
    x = rng.random((3, 5, 2))
    valid = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], bool)
    t = mixkit.MixUp(lam=0.5, pairing="flip")
    ref = t({"x": x, "padding_mask": valid}, rng=0, time_axis=1)["x"]
    buf = np.empty_like(x)
    out = t({"x": x, "padding_mask": valid}, rng=0, time_axis=1, out=buf)
    assert out["x"] is buf
    np.testing.assert_array_equal(buf, ref)
    own = x.copy()
    t({"x": own, "padding_mask": valid}, rng=0, time_axis=1, inplace=True)
    np.testing.assert_array_equal(own, ref)
    with pytest.raises(ValueError, match="read-only"):
        t({"x": readonly(x), "padding_mask": valid}, rng=0, time_axis=1, inplace=True)


def test_oneof_routes_companions_through_the_chosen_plan():
    x, m = _batch(b=6)
    t = mixkit.OneOf([mixkit.CutMix(num_classes=6), mixkit.Mosaic(num_classes=6)])
    for seed in range(6):
        out = t({"image": x, "mask": m, "labels": np.arange(6)}, rng=seed)
        assert out["mask"].dtype == np.uint8
        np.testing.assert_allclose(out["labels"].sum(1), 1.0, rtol=1e-6)


def test_torch_dict_round_trip():
    torch = pytest.importorskip("torch")
    x = torch.rand(4, 3, 6, 8)
    m = torch.randint(0, 5, (4, 6, 8), dtype=torch.uint8)
    out = mixkit.CutMix(num_classes=4)({"image": x, "mask": m, "labels": torch.arange(4)}, rng=2)
    assert all(isinstance(v, torch.Tensor) for v in out.values())
    assert out["mask"].dtype == torch.uint8 and out["labels"].shape == (4, 4)

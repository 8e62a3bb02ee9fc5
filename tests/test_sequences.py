"""Sequences with padding: padding never leaks into valid steps, spans stay inside valid lengths,
per-step labels follow their step."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit

STRIDE = 1000


@st.composite
def batches(draw):
    b = draw(st.integers(1, 6))
    steps = draw(st.integers(1, 12))
    lengths = np.array(draw(st.lists(st.integers(0, steps), min_size=b, max_size=b)))
    left = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return b, steps, lengths, left, seed


def make(b, steps, lengths, left, d=3):
    valid = np.arange(steps)[None, :] < lengths[:, None]
    if left:
        valid = valid[:, ::-1].copy()
    ids = np.arange(b)[:, None] * STRIDE + np.arange(steps)[None, :] + 1.0
    x = np.repeat(np.where(valid, ids, np.nan)[:, :, None], d, axis=2)  # padding holds NaN
    return x, valid


@given(batches(), st.sampled_from(["mixup", "cutmix"]))
def test_padding_never_leaks_and_is_zero_outside(case, method):
    b, steps, lengths, left, seed = case
    x, valid = make(b, steps, lengths, left)
    t = mixkit.MixUp(lam_mode="sample") if method == "mixup" else mixkit.CutMix(axes=(1,), lam_mode="sample")
    out = t({"x": x, "padding_mask": valid, "labels": np.eye(b)}, rng=seed, time_axis=1)
    res, v = out["x"], out["padding_mask"]
    assert v.dtype == bool and v.shape == valid.shape
    assert np.all(np.isfinite(res)), "a padded (NaN) step reached the output"
    assert np.all(res[~v] == 0)
    np.testing.assert_allclose(out["labels"].sum(1), 1.0)
    if method == "cutmix":
        np.testing.assert_array_equal(v, valid)  # a span stays within the valid steps


@given(batches())
def test_span_cutmix_takes_valid_partner_steps_and_labels_follow(case):
    b, steps, lengths, left, seed = case
    x, valid = make(b, steps, lengths, left, d=1)
    tags = (np.arange(b)[:, None] * STRIDE + np.arange(steps)[None, :]).astype(np.int64)
    t = mixkit.CutMix(axes=(1,), lam_mode="sample", num_classes=b)
    plan = t.sample(b, rng=seed, shape=x.shape)
    out = t.apply(plan, {"x": x, "padding_mask": valid, "token_labels": tags, "labels": np.arange(b)})
    res = out["x"][:, :, 0]
    for i in range(b):
        got = res[i][valid[i]]
        src = ((got - 1) // STRIDE).astype(int)
        pos = ((got - 1) % STRIDE).astype(int)
        assert np.all(valid[src, pos]), "a pasted step came from the partner's padding"
        assert set(src) <= {i, int(plan.partner[i])}
        np.testing.assert_array_equal(out["token_labels"][i][valid[i]], src * STRIDE + pos)
        assert np.all(out["token_labels"][i][~valid[i]] == -100)
        own_share = (src == i).mean() if len(src) else 1.0
        np.testing.assert_allclose(out["labels"][i, i], own_share if plan.partner[i] != i else 1.0)


@given(batches())
def test_mixup_steps_renormalise_where_one_side_is_padding(case):
    b, steps, lengths, left, seed = case
    x, valid = make(b, steps, lengths, left, d=1)
    t = mixkit.MixUp(lam_mode="sample", num_classes=b)
    plan = t.sample(b, rng=seed)
    out = t.apply(plan, {"x": x, "lengths" if not left else "padding_mask": lengths if not left else valid},
                  time_axis=1)
    p, lam = plan.partner, plan.lam[:, None]
    vo, vp = valid, valid[p]
    a, c = np.nan_to_num(x[:, :, 0]), np.nan_to_num(x[p, :, 0])
    both = vo & vp & (p[:, None] != np.arange(b)[:, None])
    expected = np.where(both, lam * a + (1 - lam) * c, np.where(vo, a, np.where(vp & (lam < 1), c, 0.0)))
    np.testing.assert_allclose(out["x"][:, :, 0], expected, rtol=1e-12)
    if not left:
        np.testing.assert_array_equal(out["lengths"], np.where(plan.lam < 1, np.maximum(lengths, lengths[p]), lengths))


def test_soft_token_labels_and_torch_autograd():
    torch = pytest.importorskip("torch")
    emb = torch.randn(3, 5, 4, requires_grad=True)
    valid = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    tags = torch.randint(0, 4, (3, 5))
    t = mixkit.MixUp(lam=0.7, pairing="flip", num_classes=2)
    out = t({"x": emb, "padding_mask": valid, "token_labels": tags, "labels": torch.tensor([0, 1, 0])},
            rng=0, token_classes=4)
    assert isinstance(out["padding_mask"], torch.Tensor) and out["padding_mask"].dtype == torch.bool
    assert out["token_labels"].shape == (3, 5, 4)
    sums = out["token_labels"].sum(-1)
    torch.testing.assert_close(sums[out["padding_mask"]], torch.ones(int(out["padding_mask"].sum())))
    assert torch.all(sums[~out["padding_mask"]] == 0)
    out["x"].sum().backward()
    assert emb.grad is not None and torch.all(emb.grad[~valid] == 0)


def test_time_series_channels_first():
    x = np.random.default_rng(0).random((4, 2, 9))
    lengths = np.array([9, 5, 7, 3])
    out = mixkit.CutMix(axes=(-1,), num_classes=2)(x, np.array([0, 1, 0, 1]), lengths=lengths, rng=1)
    assert out.x.shape == x.shape
    np.testing.assert_array_equal(out.lengths, lengths)
    assert np.all(out.x[~np.broadcast_to(out.padding_mask[:, None], x.shape)] == 0)


def test_sequence_errors():
    x = np.zeros((3, 5, 4))
    t = mixkit.MixUp()
    with pytest.raises(ValueError, match=r"padding_mask must have shape \(B, L\) = \(3, 5\)"):
        t(x, padding_mask=np.ones((3, 4), bool), time_axis=1)
    with pytest.raises(TypeError, match="padding_mask must be boolean"):
        t(x, padding_mask=np.ones((3, 5)))
    with pytest.raises(ValueError, match="match no axis"):
        t(x, padding_mask=np.ones((3, 7), bool))
    with pytest.raises(ValueError, match="several axes of size 4"):
        t(np.zeros((3, 4, 4)), padding_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 5\]"):
        t(x, lengths=np.array([1, 2, 6]), time_axis=1)
    with pytest.raises(ValueError, match="either padding_mask or lengths"):
        t(x, lengths=np.array([1, 2, 3]), padding_mask=np.ones((3, 5), bool))
    with pytest.raises(ValueError, match="must cut only the sequence axis"):
        mixkit.CutMix(axes=(1, 2))(x, padding_mask=np.ones((3, 5), bool), time_axis=1)
    with pytest.raises(ValueError, match="token_classes"):
        t(x, token_labels=np.zeros((3, 5), int), rng=0)
    with pytest.raises(ValueError, match="token_classes"):  # soft targets even when nothing is mixed
        mixkit.MixUp(p=0.0)(x, token_labels=np.zeros((3, 5), int), rng=0)
    with pytest.raises(TypeError, match="integer class ids"):
        t(x, token_labels=np.zeros((3, 5)), time_axis=1)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_integer_attention_masks_are_padding_masks(lib):
    torch = pytest.importorskip("torch")
    conv = (lambda a: a) if lib == "numpy" else torch.from_numpy
    x = np.random.default_rng(0).random((3, 5, 4))
    valid = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=np.int64)
    t = mixkit.MixUp(lam=0.6, pairing="flip", num_classes=3)
    ref = t({"x": conv(x), "padding_mask": conv(valid.astype(bool)), "labels": conv(np.arange(3))}, rng=0)
    for key in ("padding_mask", "attention_mask"):
        out = t({"x": conv(x), key: conv(valid), "labels": conv(np.arange(3))}, rng=0)
        assert set(out) == {"x", key, "labels"}
        mask = out[key]
        assert type(mask) is type(conv(valid)) and mask.dtype == conv(valid).dtype  # 0/1 integers back
        np.testing.assert_array_equal(np.asarray(mask), np.asarray(ref["padding_mask"]).astype(np.int64))
        np.testing.assert_array_equal(np.asarray(out["x"]), np.asarray(ref["x"]))
        np.testing.assert_array_equal(np.asarray(out["labels"]), np.asarray(ref["labels"]))
    with pytest.raises(ValueError, match="must hold only 0 .padding. and 1"):
        t({"x": conv(x), "attention_mask": conv(valid * 2)}, rng=0)
    with pytest.raises(ValueError, match="both 'attention_mask' and 'padding_mask'"):
        t({"x": conv(x), "attention_mask": conv(valid), "padding_mask": conv(valid)}, rng=0)


def test_torch_lengths_give_a_torch_padding_mask_and_the_sequence_axis_defaults_to_one():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.random.default_rng(1).random((4, 6, 3)))
    lengths = torch.tensor([6, 2, 4, 0])
    t = mixkit.MixUp(lam_mode="sample", num_classes=2)
    plan = t.sample(4, rng=3)
    out = t.apply(plan, {"x": x, "lengths": lengths})  # no time_axis: (B, L, ...) has it on axis 1
    again = t.apply(plan, {"x": x, "lengths": lengths}, time_axis=1)
    torch.testing.assert_close(out["x"], again["x"])
    pm = out["padding_mask"]
    assert isinstance(pm, torch.Tensor) and pm.dtype == torch.bool and pm.device == x.device
    assert isinstance(out["lengths"], torch.Tensor) and out["lengths"].dtype == lengths.dtype
    torch.testing.assert_close(pm.sum(1), out["lengths"])
    valid = (torch.arange(6)[None, :] < lengths[:, None]).numpy()
    p = plan.partner
    expected = valid | (valid[p] & (plan.lam < 1)[:, None])
    np.testing.assert_array_equal(pm.numpy(), expected)
    assert torch.all(out["x"][~pm] == 0)

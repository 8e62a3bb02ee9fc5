"""Transforms: call protocol, reproducibility, no mutation, repr/pickle, OneOf and every input error."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit

from helpers import readonly

torch = pytest.importorskip("torch")

TRANSFORMS = [
    mixkit.MixUp(0.4, num_classes=5),
    mixkit.MixUp(0.4, lam_mode="sample", pairing="pairs", num_classes=5),
    mixkit.CutMix(1.0, num_classes=5),
    mixkit.CutMix(1.0, lam_mode="sample", pairing="flip", num_classes=5),
    mixkit.OneOf([mixkit.MixUp(0.2, num_classes=5), mixkit.CutMix(num_classes=5)], weights=[0.3, 0.7]),
]


@pytest.mark.parametrize("t", TRANSFORMS, ids=repr)
def test_same_seed_same_output_and_inputs_untouched(t):
    rng = np.random.default_rng(0)
    x = readonly(rng.random((9, 3, 8, 8), dtype=np.float32))
    y = readonly(rng.integers(0, 5, size=9))
    a = t(x, y, rng=42)
    b = t(x, y, rng=42)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    xt, yt = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    ct = t(xt, yt, rng=42)
    np.testing.assert_allclose(ct[0].numpy(), a[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ct[1].numpy(), a[1], rtol=1e-5, atol=1e-6)
    assert np.array_equal(xt.numpy(), x) and np.array_equal(yt.numpy(), y)


@pytest.mark.parametrize("t", TRANSFORMS, ids=repr)
def test_repr_and_pickle(t):
    text = repr(t)
    assert text.startswith(type(t).__name__ + "(") and "num_classes=5" in text
    clone = pickle.loads(pickle.dumps(t))
    x = np.random.default_rng(1).random((6, 1, 5, 5))
    y = np.arange(6) % 5
    np.testing.assert_array_equal(clone(x, y, rng=3)[0], t(x, y, rng=3)[0])


@given(seed=st.integers(0, 2**32 - 1))
def test_mixup_sample_equals_formula_per_sample(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 4)).astype(np.float64)
    t = mixkit.MixUp(0.5, lam_mode="sample")
    plan = t.sample(7, rng=seed)
    out, _ = t.apply(plan, x)
    np.testing.assert_allclose(out, plan.lam[:, None] * x + (1 - plan.lam[:, None]) * x[plan.partner])


def test_out_buffer_and_inplace():
    x = np.random.default_rng(0).random((4, 2, 3)).astype(np.float32)
    t = mixkit.MixUp(lam=0.3, pairing="flip")
    expected, _ = t(x, rng=0)
    buf = np.empty_like(x)
    got, _ = t(x, rng=0, out=buf)
    assert got is buf
    np.testing.assert_allclose(buf, expected)
    x2 = x.copy()
    got, _ = t(x2, rng=0, inplace=True)
    assert got is x2
    np.testing.assert_allclose(x2, expected)
    xt = torch.from_numpy(x.copy())
    got, _ = t(xt, rng=0, inplace=True)
    assert got is xt
    np.testing.assert_allclose(xt.numpy(), expected, rtol=1e-6)


def test_uint8_images_mix():
    x = np.random.default_rng(0).integers(0, 256, size=(6, 3, 8, 8), dtype=np.uint8)
    out, targets = mixkit.MixUp(num_classes=2)(readonly(x), np.array([0, 1] * 3), rng=0)
    assert out.dtype == np.uint8
    out_t, _ = mixkit.MixUp(num_classes=2)(torch.from_numpy(x), torch.tensor([0, 1] * 3), rng=0)
    assert out_t.dtype == torch.uint8 and torch.equal(out_t, torch.from_numpy(out))
    np.testing.assert_allclose(targets.sum(1), 1.0)


def test_odd_batch_and_batch_of_one_and_empty():
    for t in TRANSFORMS:
        for b in (0, 1, 5):
            x = np.ones((b, 3, 4, 4), np.float32)
            out, targets = t(x, np.zeros(b, dtype=np.int64), rng=0)
            assert out.shape == x.shape and targets.shape == (b, 5)
            if b == 1:
                np.testing.assert_array_equal(out, x)
                np.testing.assert_array_equal(targets, [[1, 0, 0, 0, 0]])


def test_functional_forms():
    x = np.random.default_rng(0).random((4, 3, 6, 6))
    y = np.array([0, 1, 2, 1])
    a = mixkit.mixup(x, y, alpha=0.4, num_classes=3, rng=5, lam_mode="sample")
    b = mixkit.MixUp(0.4, num_classes=3, lam_mode="sample")(x, y, rng=5)
    np.testing.assert_array_equal(a[0], b[0])
    c = mixkit.cutmix(x, y, axes=(1, 2), num_classes=3, rng=5)
    d = mixkit.CutMix(axes=(1, 2), num_classes=3)(x, y, rng=5)
    np.testing.assert_array_equal(c[0], d[0])
    assert mixkit.mixup(x, rng=0)[1] is None


def test_cutmix_axes_layouts():
    rng = np.random.default_rng(0)
    nhwc = rng.random((4, 8, 8, 3))
    out, _ = mixkit.CutMix(axes=(1, 2), lam=0.5, pairing="flip")(nhwc, rng=0)
    changed = np.any(out != nhwc, axis=-1)  # whole channel vectors are moved
    assert np.array_equal(np.any(out != nhwc, axis=-1), np.all(out != nhwc, axis=-1)) and changed.any()
    series = rng.random((4, 12, 100))
    out, _ = mixkit.CutMix(axes=(-1,), lam=0.7, pairing="flip")(series, rng=0)
    diff = np.any(out != series, axis=1)  # a span of time steps, all channels
    for row in diff:
        idx = np.flatnonzero(row)
        assert idx.size == 30 and np.all(np.diff(idx) == 1)
    video = rng.random((2, 5, 3, 8, 8))  # (B, T, C, H, W): tube over (H, W)
    out, _ = mixkit.CutMix(axes=(-2, -1), lam=0.75, pairing="flip")(video, rng=0)
    diff = np.any(out != video, axis=(1, 2))
    assert diff.reshape(2, -1).sum(1).tolist() == [16, 16]


def test_oneof_chooses_with_weights():
    t = mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()], weights=[1, 3])
    kinds = [type(t.sample(4, rng=s, shape=(4, 1, 4, 4))).__name__ for s in range(400)]
    share = kinds.count("BoxPlan") / 400
    assert 0.65 < share < 0.85


def test_parameter_errors():
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="alpha must be > 0"):
            mixkit.MixUp(bad)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="alpha must be finite"):
            mixkit.CutMix(bad)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        mixkit.MixUp("0.2")
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
            mixkit.MixUp(p=bad)
    with pytest.raises(ValueError, match="lam_mode must be one of"):
        mixkit.MixUp(lam_mode="batches")
    with pytest.raises(ValueError, match="pairing must be one of"):
        mixkit.CutMix(pairing="random")
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        mixkit.MixUp(lam=1.2)
    with pytest.raises(ValueError, match="min_max must satisfy"):
        mixkit.CutMix(min_max=(0.6, 0.2))
    with pytest.raises(ValueError, match="label_format must be one of"):
        mixkit.MixUp(label_format="sparse")
    with pytest.raises(ValueError, match="OneOf needs at least one transform"):
        mixkit.OneOf([])
    with pytest.raises(ValueError, match="disagree on num_classes"):
        mixkit.OneOf([mixkit.MixUp(num_classes=3), mixkit.CutMix(num_classes=4)])
    with pytest.raises(ValueError, match=r"weights must have one number per transform \(1\)"):
        mixkit.OneOf([mixkit.MixUp()], weights=[0.5, 0.5])
    with pytest.raises(TypeError, match="pass the per-transform choice weights as weights="):
        mixkit.OneOf([mixkit.MixUp(), mixkit.CutMix()], p=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        mixkit.OneOf([mixkit.MixUp()], p=2.0)
    with pytest.raises(TypeError, match="OneOf takes mixkit transforms"):
        mixkit.OneOf([lambda x: x])


def test_axes_errors():
    x = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match="axis 4 is out of range for a batch of 4 dimensions"):
        mixkit.CutMix(axes=(2, 4))(x)
    with pytest.raises(ValueError, match="repeat an axis"):
        mixkit.CutMix(axes=(-1, 3))(x)
    with pytest.raises(ValueError, match="include the batch axis 0"):
        mixkit.CutMix(axes=(0, 1))(x)
    with pytest.raises(ValueError, match="at least one axis"):
        mixkit.CutMix(axes=())
    with pytest.raises(TypeError, match="axes must be ints"):
        mixkit.CutMix(axes=(1.0, 2))
    with pytest.raises(ValueError, match="CutMix needs the batch's shape to place boxes: pass shape=x.shape"):
        mixkit.CutMix().sample(2, rng=0)


def test_batch_errors():
    t = mixkit.MixUp()
    with pytest.raises(TypeError, match="boolean batch cannot be mixed"):
        t(np.zeros((2, 3), dtype=bool))
    with pytest.raises(TypeError, match="complex dtype"):
        t(np.zeros((2, 3), dtype=complex))
    with pytest.raises(TypeError, match="expected a float or integer array"):
        t(np.array([[object()], [object()]]))
    with pytest.raises(TypeError, match="expected an array"):
        t([[1.0, 2.0]])
    with pytest.raises(TypeError, match="boolean batch"):
        t(torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch axis first"):
        t(np.float32(1.0).reshape(()))


def test_plan_from_another_batch_is_refused():
    t = mixkit.CutMix()
    plan = t.sample(4, rng=0, shape=(4, 3, 8, 8))
    with pytest.raises(ValueError, match="sampled for a batch of 4 but x has batch size 5"):
        t.apply(plan, np.zeros((5, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"sizes \(8, 8\), but x has sizes \(8, 9\)"):
        t.apply(plan, np.zeros((4, 3, 8, 9)))
    with pytest.raises(ValueError, match="shape must be the batch's full shape"):
        t.sample(4, rng=0, shape=(5, 3, 8, 8))
    with pytest.raises(ValueError, match="batch_size must be a non-negative int"):
        mixkit.MixUp().sample(-1, rng=0)
    with pytest.raises(TypeError, match="expected a plan"):
        mixkit.apply_plan({"partner": [0]}, np.zeros((1, 2)))


def test_rng_errors():
    with pytest.raises(TypeError, match="legacy numpy.random.RandomState"):
        mixkit.MixUp().sample(2, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng must be an int seed"):
        mixkit.MixUp().sample(2, rng="0")
    with pytest.raises(ValueError, match="non-negative int"):
        mixkit.MixUp().sample(2, rng=-3)


def test_out_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="same library, shape and dtype"):
        mixkit.MixUp()(x, out=np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError, match="either inplace=True or out="):
        mixkit.MixUp()(x, out=np.zeros_like(x), inplace=True)
    with pytest.raises(ValueError, match="read-only"):
        mixkit.MixUp()(readonly(x), inplace=True)

"""Labels: dense targets keep their mass and follow the plan; the pair form equals the dense form."""

import numpy as np
import pytest
from helpers import readonly
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.labels import MixedTargets

torch = pytest.importorskip("torch")


@given(seed=st.integers(0, 2**32 - 1), b=st.integers(1, 40), c=st.integers(1, 12),
       method=st.sampled_from(["mixup", "cutmix"]), smoothing=st.sampled_from([0.0, 0.1]))
def test_targets_are_distributions_mixed_with_the_plan(seed, b, c, method, smoothing):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=b)
    x = rng.random((b, 1, 6, 6)).astype(np.float32)
    cls = mixkit.MixUp if method == "mixup" else mixkit.CutMix
    t = cls(1.0, lam_mode="sample", num_classes=c, label_smoothing=smoothing)
    plan = t.sample(b, rng=rng, shape=x.shape)
    _, targets = t.apply(plan, x, readonly(y))
    assert targets.shape == (b, c) and targets.dtype == np.float32
    assert np.all(targets >= 0)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)
    onehot = np.eye(c)[y] * (1 - smoothing) + smoothing / c
    ref = plan.lam[:, None] * onehot + (1 - plan.lam[:, None]) * onehot[plan.partner]
    np.testing.assert_allclose(targets, ref, atol=1e-6)


def test_probability_and_multi_hot_labels_mix_alike():
    y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=bool)
    t = mixkit.MixUp(lam=0.25, pairing="flip")
    _, targets = t(np.zeros((4, 2)), y, rng=0)
    yf = y.astype(np.float32)
    np.testing.assert_allclose(targets, 0.25 * yf + 0.75 * yf[::-1])
    probs = np.full((4, 3), 1 / 3, dtype=np.float64)
    _, targets = t(np.zeros((4, 2)), probs, rng=0)
    assert targets.dtype == np.float64
    np.testing.assert_allclose(targets.sum(1), 1.0)


@given(seed=st.integers(0, 2**32 - 1), smoothing=st.sampled_from([0.0, 0.2]))
def test_pair_form_equals_dense_and_loss_matches(seed, smoothing):
    rng = np.random.default_rng(seed)
    y = torch.from_numpy(rng.integers(0, 7, size=10))
    x = torch.from_numpy(rng.random((10, 5)).astype(np.float32))
    dense_t = mixkit.MixUp(0.4, lam_mode="sample", num_classes=7, label_smoothing=smoothing)
    pair_t = mixkit.MixUp(0.4, lam_mode="sample", num_classes=7, label_smoothing=smoothing,
                          label_format="pair")
    plan = dense_t.sample(10, rng=rng)
    _, dense = dense_t.apply(plan, x, y)
    _, pair = pair_t.apply(plan, x, y)
    assert isinstance(pair, MixedTargets) and len(pair) == 10
    torch.testing.assert_close(pair.dense(), dense)
    logits = torch.from_numpy(rng.normal(size=(10, 7)).astype(np.float32))
    from mixkit.torch import mixed_cross_entropy, soft_cross_entropy

    a = mixed_cross_entropy(logits, pair)
    b = mixed_cross_entropy(logits, dense)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(b, soft_cross_entropy(logits, dense))
    per = mixed_cross_entropy(logits, pair, reduction="none")
    assert per.shape == (10,)


def test_pair_form_numpy_dense():
    pair = mixkit.MixUp(lam=0.6, pairing="flip", num_classes=3, label_format="pair")(
        np.zeros((3, 1)), np.array([0, 1, 2]), rng=0)[1]
    np.testing.assert_allclose(pair.dense(), [[0.6, 0, 0.4], [0, 1, 0], [0.4, 0, 0.6]], atol=1e-7)


def test_label_errors():
    x = np.zeros((4, 3))
    t = mixkit.MixUp(num_classes=3)
    with pytest.raises(ValueError, match="x has batch size 4 but y has 3 labels"):
        t(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="class index 3, out of range for num_classes=3"):
        t(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="negative class index"):
        t(x, np.array([0, 1, -1, 2]))
    with pytest.raises(TypeError, match="must hold integer class indices, got dtype float64"):
        t(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="num_classes is needed"):
        mixkit.MixUp()(x, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r"should be class indices with shape \(batch_size,\)"):
        t(x, np.zeros((4, 3, 1)))
    with pytest.raises(ValueError, match="has 2 columns but num_classes=3"):
        t(x, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="complex"):
        t(x, np.zeros((4, 3), dtype=complex))
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        mixkit.MixUp(num_classes=0)


def test_bad_labels_leave_in_place_batch_untouched():
    x = np.ones((4, 3))
    before = x.copy()
    with pytest.raises(ValueError):
        mixkit.MixUp(num_classes=2, pairing="flip", lam=0.5)(x, np.array([0, 1, 2, 0]), inplace=True)
    np.testing.assert_array_equal(x, before)


def test_loss_errors():
    from mixkit.torch import mixed_cross_entropy, soft_cross_entropy

    with pytest.raises(ValueError, match="same shape"):
        soft_cross_entropy(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="MixedTargets"):
        mixed_cross_entropy(torch.zeros(3, 4), [0, 1, 2])
    with pytest.raises(ValueError, match="reduction"):
        soft_cross_entropy(torch.zeros(3, 4), torch.zeros(3, 4), reduction="avg")


def test_empty_batch_with_an_empty_list_of_labels():
    for t in (mixkit.MixUp(num_classes=3), mixkit.CutMix(num_classes=3)):
        out, targets = t(np.zeros((0, 1, 4, 4), np.float32), [], rng=0)
        assert out.shape == (0, 1, 4, 4) and targets.shape == (0, 3) and targets.dtype == np.float32
    assert mixkit.as_targets([], num_classes=2).shape == (0, 2)
    assert mixkit.one_hot([], 4).shape == (0, 4)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_probability_rows_are_checked_once_with_a_clear_error(lib):
    conv = (lambda a: a) if lib == "numpy" else torch.from_numpy
    x = conv(np.zeros((3, 2), np.float32))
    t = mixkit.MixUp(lam=0.5, pairing="flip")
    bad = {
        "negative": (np.array([[-0.5, 1.5], [0.5, 0.5], [1, 0]]), r"values from -0.5 to 1.5.*must lie in \[0, 1\]"),
        "nan": (np.array([[np.nan, 1.0], [0.5, 0.5], [1, 0]]), "holds NaN"),
        "sum": (np.array([[0.2, 0.2], [0.5, 0.5], [1, 0]]), "row 0 of y sums to 0.4"),
        "above one": (np.array([[0, 2], [0.5, 0.5], [1, 0]]), "must lie in"),
        "integer counts": (np.array([[0, 2], [1, 0], [1, 0]]), "must lie in"),
    }
    for y, match in bad.values():
        with pytest.raises(ValueError, match=match):
            t(x, conv(y))
        with pytest.raises(ValueError, match=match):
            mixkit.as_targets(conv(y))
    # float32 rounding of a softmax is fine; multi-hot rows (0 and 1) need not sum to 1
    logits = np.random.default_rng(0).normal(size=(3, 1000)).astype(np.float32)
    soft = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    _, targets = mixkit.MixUp(lam=0.5, pairing="flip")(conv(np.zeros((3, 2), np.float32)), conv(soft))
    np.testing.assert_allclose(np.asarray(targets).sum(1), 1.0, atol=1e-4)
    multi = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]], np.float32)
    _, targets = t(x, conv(multi))
    np.testing.assert_allclose(np.asarray(targets), 0.5 * multi + 0.5 * multi[::-1])
    bf = torch.tensor([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]], dtype=torch.bfloat16)
    assert t(torch.zeros(3, 2, dtype=torch.bfloat16), bf)[1].dtype == torch.bfloat16


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_one_hot_refuses_indices_out_of_range(lib):
    conv = np.asarray if lib == "numpy" else torch.tensor
    np.testing.assert_array_equal(np.asarray(mixkit.one_hot(conv([2, 0]), 3)), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="class index 5, out of range for num_classes=3"):
        mixkit.one_hot(conv([0, 5]), 3)
    with pytest.raises(ValueError, match="negative class index"):
        mixkit.one_hot(conv([0, -1]), 3)
    with pytest.raises(TypeError, match="integer class indices of shape"):
        mixkit.one_hot(conv([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        mixkit.one_hot(conv([0]), 0)


def test_mixed_targets_move_to_a_device_and_dtype():
    pair = mixkit.MixUp(lam=0.25, pairing="flip", num_classes=3, label_format="pair")(
        torch.zeros(3, 2), torch.tensor([0, 1, 2]), rng=0)[1]
    moved = pair.to("cpu", torch.float64)
    assert isinstance(moved, MixedTargets) and moved is not pair
    assert moved.lam.dtype == torch.float64 and moved.y_a.dtype == torch.int64
    assert moved.num_classes == 3
    torch.testing.assert_close(moved.dense(), pair.dense())
    meta = pair.to(torch.device("meta"))
    assert meta.lam.device.type == "meta" and meta.y_b.device.type == "meta"
    host = mixkit.MixUp(lam=0.25, pairing="flip", num_classes=3, label_format="pair")(
        np.zeros((3, 2)), np.array([0, 1, 2]), rng=0)[1]
    assert host.to("cpu").lam.dtype == np.float32
    assert host.to(dtype=np.float64).lam.dtype == np.float64
    with pytest.raises(ValueError, match="NumPy arrays, which live on the host"):
        host.to("cuda")


def test_label_values_of_device_tensors_are_not_read():
    # a value check would copy the values to the host (a synchronisation on an accelerator); meta
    # tensors have no values, so any read raises
    from mixkit.labels import check_labels

    probs = torch.empty((4, 3), device="meta")
    assert check_labels(probs, 4, 3) is probs
    idx = torch.empty(4, dtype=torch.int64, device="meta")
    assert check_labels(idx, 4, 3) is idx
    assert mixkit.one_hot(idx, 3).device.type == "meta"
    with pytest.raises(ValueError, match="x has batch size 5 but y has 4 labels"):
        check_labels(probs, 5, 3)

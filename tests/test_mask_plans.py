"""Compact mask plans: binary masks held as bool, read by mask_mix one byte per element, and soft
masks held as float32, read as stored, with the same results as the float64 masks of the same values."""

import json

import numpy as np
import pytest

import mixkit
from mixkit import MaskPlan, mask_mix, plan_from_dict
from mixkit.kernels import _reference
from mixkit.methods.masks import mask_lam

BINARY = {
    "fmix": lambda: mixkit.FMix(0.7, lam_mode="sample", p=0.8),
    "grid": lambda: mixkit.GridMix(0.7, grid=(1, 5), lam_mode="sample", p=0.8),
    "fmix_batch": lambda: mixkit.FMix(0.7, lam_mode="batch"),
}
SOFT = {
    "fmix_soft": lambda: mixkit.FMix(0.7, max_soft=0.2, lam_mode="sample"),
    "smooth": lambda: mixkit.SmoothMix(lam_mode="sample"),
}
SOFT_BATCH = {
    "fmix_soft": lambda: mixkit.FMix(0.7, max_soft=0.2, lam_mode="batch", p=0.6),
    "smooth": lambda: mixkit.SmoothMix(lam_mode="batch", p=0.6),
}



def _check_forms(x, p, m, axes, want, *also):
    """The reference (with ``m`` and each mask of ``also``), ``out=`` and in place all give ``want``."""
    ax = tuple(a % x.ndim for a in axes)
    if list(ax) == sorted(ax):  # the reference takes ascending axes
        for mask in (m, *also):
            np.testing.assert_array_equal(_reference.mask_mix(x, p, mask, ax), want)
    buf = np.full_like(x, 7)
    assert mask_mix(x, p, m, axes, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    inplace = x.copy()
    mask_mix(inplace, p, m, axes, out=inplace)
    np.testing.assert_array_equal(inplace, want)

@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_methods_hold_bool_masks_whose_mean_is_lam(name):
    plan = BINARY[name]().sample(7, rng=3, shape=(7, 3, 12, 10))
    assert plan.mask.dtype == np.bool_ and plan.binary
    assert not plan.mask.flags.writeable
    for i in range(7):
        assert plan.lam[i] == plan.mask[i].astype(np.float64).mean()
        assert plan.lam.dtype == np.float64


@pytest.mark.parametrize("name", sorted(SOFT))
def test_soft_methods_hold_float32_masks_whose_mean_is_lam(name):
    plan = SOFT[name]().sample(5, rng=1, shape=(5, 2, 9, 8))
    assert plan.mask.dtype == np.float32 and not plan.binary
    assert not plan.mask.flags.writeable
    assert plan.mask.min() >= 0 and plan.mask.max() <= 1
    assert plan.lam.dtype == np.float64
    np.testing.assert_array_equal(plan.lam, mask_lam(plan.mask))
    np.testing.assert_array_equal(plan.lam, plan.mask.astype(np.float64).reshape(5, -1).mean(axis=1))
    plan = SOFT_BATCH[name]().sample(6, rng=2, shape=(6, 2, 9, 8))  # one mask, some rows left out
    assert plan.mask.dtype == np.float32
    np.testing.assert_array_equal(plan.lam, plan.mask.astype(np.float64).reshape(6, -1).mean(axis=1))


def test_mask_lam_of_float32_masks_is_the_mean_of_their_float64_values_in_blocks_of_rows():
    rng = np.random.default_rng(0)
    m = rng.random((300, 40, 50)).astype(np.float32)  # more rows than one block of the reduction
    np.testing.assert_array_equal(mask_lam(m), m.astype(np.float64).reshape(300, -1).mean(axis=1))
    t = m[:7].transpose(0, 2, 1)  # not contiguous
    np.testing.assert_array_equal(mask_lam(t), np.ascontiguousarray(t, np.float64).reshape(7, -1).mean(axis=1))
    assert mask_lam(np.zeros((0, 3, 4), np.float32)).shape == (0,)


def test_classmix_holds_a_bool_mask():
    seg = np.random.default_rng(0).integers(0, 4, size=(6, 8, 9)).astype(np.uint8)
    plan = mixkit.ClassMix().sample(6, rng=2, shape=(6, 3, 8, 9), mask=seg)
    assert plan.mask.dtype == np.bool_
    np.testing.assert_array_equal(plan.lam, plan.mask.reshape(6, -1).mean(axis=1))


def test_the_public_constructor_checks_and_turns_integer_masks_into_bool():
    ones = np.ones((2, 3, 4), np.uint8)
    plan = MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=ones)
    assert plan.mask.dtype == np.bool_ and plan.mask.all()
    ones[0, 0, 0] = 0
    assert plan.mask[0, 0, 0]  # the plan holds its own copy
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.full((2, 3, 4), 2, np.int64))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.full((2, 3, 4), -1, np.int8))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.full((2, 3, 4), np.nan))
    soft = MaskPlan(partner=[1, 0], lam=[0.5, 0.5], axes=(2, 3), mask=np.full((2, 3, 4), 0.5, np.float32))
    assert soft.mask.dtype == np.float32  # held as given: it mixes as its float64 values do
    soft = MaskPlan(partner=[1, 0], lam=[0.5, 0.5], axes=(2, 3), mask=np.full((2, 3, 4), 0.5, np.float16))
    assert soft.mask.dtype == np.float64
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.full((2, 3, 4), 1.5, np.float32))
    with pytest.raises(ValueError, match=r"mask values must lie in \[0, 1\]"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.full((2, 3, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="a mask plan needs a mask of shape"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 3), mask=np.ones((3, 3, 4), bool))


def test_sampled_plans_take_their_masks_without_a_copy():
    mask = np.random.default_rng(0).random((3, 4, 5)) < 0.5
    lam = mask.reshape(3, -1).mean(axis=1)
    plan = MaskPlan._trusted(partner=np.array([1, 2, 0]), lam=lam, axes=(2, 3), mask=mask)
    assert np.shares_memory(plan.mask, mask) and not plan.mask.flags.writeable
    with pytest.raises(ValueError, match="partner indices must lie"):
        MaskPlan._trusted(partner=np.array([1, 2, 3]), lam=lam, axes=(2, 3), mask=mask.copy())
    with pytest.raises(TypeError, match="bool, float32 or float64"):
        MaskPlan._trusted(partner=np.array([1, 2, 0]), lam=lam, axes=(2, 3), mask=mask.astype(np.uint8))


def test_dict_round_trip_and_with_partner_keep_bool_masks():
    plan = BINARY["fmix"]().sample(6, rng=4, shape=(6, 3, 7, 9))
    back = plan_from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back.mask.dtype == np.bool_
    np.testing.assert_array_equal(back.mask, plan.mask)
    np.testing.assert_array_equal(back.lam, plan.lam)
    empty = MaskPlan(partner=np.zeros(0, np.int64), lam=np.zeros(0), axes=(2,), mask=np.zeros((0, 5), bool))
    assert plan_from_dict(empty.to_dict()).mask.shape == (0, 5)
    rows = np.arange(6)
    moved = plan.with_partner(rows)
    assert moved.mask.dtype == np.bool_ and moved.mask.all() and np.all(moved.lam == 1.0)
    x = np.random.default_rng(0).normal(size=(6, 3, 7, 9)).astype(np.float32)
    np.testing.assert_array_equal(mixkit.apply_plan(moved, x), x)


def _cases():
    # (shape, mask axes): images, a mask over a leading axis (runs of one weight), one axis of a series
    return [((5, 3, 9, 11), (2, 3)), ((4, 6, 40), (1,)), ((6, 2, 50), (-1,)), ((3, 4, 5, 6), (3, 1))]


@pytest.mark.parametrize("dtype", ["float32", "uint8", "float64", "int64", "float16", "int16"])
@pytest.mark.parametrize("case", range(4))
def test_bool_masks_select_as_float64_masks_do(dtype, case):
    shape, axes = _cases()[case]
    rng = np.random.default_rng(case)
    x = (rng.normal(size=shape) * 60).astype(dtype)
    x.setflags(write=False)
    sizes = tuple(shape[a] for a in axes)
    m = rng.random((shape[0],) + sizes) < 0.5
    p = np.roll(np.arange(shape[0]), 1)
    p[0] = 0  # a row paired with itself beside a cycle
    want = mask_mix(x, p, m.astype(np.float64), axes)
    np.testing.assert_array_equal(mask_mix(x, p, m, axes), want)
    np.testing.assert_array_equal(mask_mix(x, p, m.astype(np.uint8), axes), want)
    _check_forms(x, p, m, axes, want)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_bool_masks_on_a_batch_split_into_parallel_tasks(dtype):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(24, 3, 64, 80)) * 60).astype(dtype)  # above the one-task size
    m = rng.random((24, 64, 80)) < 0.4
    p = rng.permutation(24)
    want = np.where(m[:, None], x, x[p])
    np.testing.assert_array_equal(mask_mix(x, p, m, (2, 3)), want)
    inplace = x.copy()
    mask_mix(inplace, p, m, (2, 3), out=inplace)
    np.testing.assert_array_equal(inplace, want)


def test_bool_masks_on_torch_channels_last():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(4, 3, 6, 7)).astype(np.float32)).contiguous(
        memory_format=torch.channels_last)
    m = rng.random((4, 6, 7)) < 0.5
    p = np.array([1, 2, 3, 0])
    got = mask_mix(x, p, m, (2, 3))
    want = torch.where(torch.from_numpy(m)[:, None], x, x[torch.from_numpy(p)])
    assert torch.equal(got, want) and got.stride() == x.stride()


def test_bool_masks_keep_inf_and_nan_where_they_are_selected_only():
    x = np.array([[1.0, -2.0, 3.0], [np.inf, np.nan, -np.inf]])
    got = mask_mix(x, np.array([1, 0]), np.array([[True, True, False], [False, True, False]]), (1,))
    np.testing.assert_array_equal(got, [[1.0, -2.0, -np.inf], [1.0, np.nan, 3.0]])


def test_mask_mix_refuses_bad_integer_masks():
    x = np.zeros((2, 3, 4), np.float32)
    p = np.array([1, 0])
    with pytest.raises(ValueError, match=r"mask must lie in \[0, 1\].*got 2"):
        mask_mix(x, p, np.full((2, 4), 2, np.uint8), (2,))
    with pytest.raises(ValueError, match=r"mask must lie in \[0, 1\].*got -1"):
        mask_mix(x, p, np.full((2, 4), -1, np.int32), (2,))
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 4\), got \(2, 3\)"):
        mask_mix(x, p, np.ones((2, 3), bool), (2,))
    with pytest.raises(TypeError, match="mask must be real numbers"):
        mask_mix(x, p, np.ones((2, 4), complex), (2,))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_bool_plans_mix_as_their_float64_form(name):
    x = np.random.default_rng(5).normal(size=(7, 3, 12, 10)).astype(np.float32)
    plan = BINARY[name]().sample(7, rng=9, shape=x.shape)
    as_float = MaskPlan(partner=plan.partner, lam=plan.lam, axes=plan.axes, mask=plan.mask.astype(np.float64))
    np.testing.assert_array_equal(mixkit.apply_plan(plan, x), mixkit.apply_plan(as_float, x))
    seg = np.random.default_rng(1).integers(0, 5, size=(7, 12, 10)).astype(np.int64)
    np.testing.assert_array_equal(plan.mix_mask(seg), as_float.mix_mask(seg))


DTYPES = ["float32", "uint8", "float64", "int64", "float16", "int16"]


def _soft_weights(rng, shape):
    """float32 weights in [0, 1] with the values where ``1 - w`` is hardest to get right: exact 0
    and 1, the largest float32 below 1, tiny and subnormal weights, and plain random ones."""
    w = rng.random(shape).astype(np.float32)
    flat = w.reshape(-1)
    special = np.array([0.0, 1.0, np.nextafter(np.float32(1), np.float32(0)), 2.0**-25, 1e-30, 1e-40,
                        0.5, 1.0 / 3.0], np.float32)
    pick = rng.random(flat.size) < 0.3
    flat[pick] = special[rng.integers(0, special.size, int(pick.sum()))]
    return w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(4))
def test_float32_masks_mix_as_float64_masks_of_the_same_values(dtype, case):
    shape, axes = _cases()[case]
    rng = np.random.default_rng(10 + case)
    x = (rng.normal(size=shape) * 60).astype(dtype)
    x.setflags(write=False)
    sizes = tuple(shape[a] for a in axes)
    m = _soft_weights(rng, (shape[0],) + sizes)
    m[1] = 1.0  # a row of all ones (a copy)
    m.setflags(write=False)
    p = np.roll(np.arange(shape[0]), 1)
    p[0] = 0  # a row paired with itself beside a cycle
    want = mask_mix(x, p, m.astype(np.float64), axes)
    got = mask_mix(x, p, m, axes)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)
    _check_forms(x, p, m, axes, want, m.astype(np.float64))


@pytest.mark.parametrize("dtype", ["float32", "uint8", "float64"])
def test_float32_masks_on_a_batch_split_into_parallel_tasks(dtype):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(24, 3, 64, 80)) * 60).astype(dtype)  # above the one-task size
    m = _soft_weights(rng, (24, 64, 80))
    p = rng.permutation(24)
    want = mask_mix(x, p, m.astype(np.float64), (2, 3))
    np.testing.assert_array_equal(mask_mix(x, p, m, (2, 3)), want)
    inplace = x.copy()
    mask_mix(inplace, p, m, (2, 3), out=inplace)
    np.testing.assert_array_equal(inplace, want)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "uint8"])
def test_float32_masks_on_torch_channels_last(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = (torch.from_numpy(rng.random((4, 3, 6, 7)) * 255).to(getattr(torch, dtype))
         .contiguous(memory_format=torch.channels_last))
    m = _soft_weights(rng, (4, 6, 7))
    p = np.array([1, 2, 3, 0])
    got = mask_mix(x, p, m, (2, 3))
    assert torch.equal(got, mask_mix(x, p, m.astype(np.float64), (2, 3))) and got.stride() == x.stride()
    assert torch.equal(got, _reference.mask_mix(x, p, m, (2, 3)))


@pytest.mark.parametrize("dtype", ["float32", "uint8", "float64"])
def test_float32_masks_differ_from_the_unrounded_float64_ones_by_their_rounding_only(dtype):
    rng = np.random.default_rng(8)
    x = (rng.random((6, 3, 20, 30)) * 255).astype(dtype)
    w64 = rng.random((6, 20, 30))
    p = np.roll(np.arange(6), 2)
    got = mask_mix(x, p, w64.astype(np.float32), (2, 3)).astype(np.float64)
    want = mask_mix(x, p, w64, (2, 3)).astype(np.float64)
    if dtype == "uint8":
        assert np.abs(got - want).max() <= 1
    else:  # the weights move by at most 2**-24 (float32 batches: 1 - w only), then one rounding
        tol = 2.0**-24 * 255 * 2 + (np.spacing(np.float32(255)) if dtype == "float32" else 0.0)
        assert np.abs(got - want).max() <= tol


@pytest.mark.parametrize("name", sorted(SOFT))
def test_soft_plans_mix_as_their_float64_form_and_replay_from_dicts(name):
    x = np.random.default_rng(5).normal(size=(7, 3, 12, 10)).astype(np.float32)
    plan = SOFT[name]().sample(7, rng=9, shape=x.shape)
    as_float = MaskPlan(partner=plan.partner, lam=plan.lam, axes=plan.axes, mask=plan.mask.astype(np.float64))
    want = mixkit.apply_plan(as_float, x)
    np.testing.assert_array_equal(mixkit.apply_plan(plan, x), want)
    back = plan_from_dict(json.loads(json.dumps(plan.to_dict())))  # float32 again, the same values
    assert back.mask.dtype == np.float32 and plan.to_dict()["mask_dtype"] == "float32"
    np.testing.assert_array_equal(back.mask, plan.mask)
    np.testing.assert_array_equal(back.lam, plan.lam)
    np.testing.assert_array_equal(mixkit.apply_plan(back, x), want)
    seg = np.random.default_rng(1).integers(0, 5, size=(7, 12, 10)).astype(np.int64)
    np.testing.assert_array_equal(plan.mix_mask(seg, num_classes=5), as_float.mix_mask(seg, num_classes=5))
    moved = plan.with_partner(np.arange(7))
    assert moved.mask.dtype == np.float32 and np.all(moved.mask == 1) and np.all(moved.lam == 1.0)


def test_stored_float64_soft_plans_replay_as_before():
    rng = np.random.default_rng(3)
    x = (rng.random((5, 3, 8, 9)) * 255).astype(np.uint8)
    mask = rng.random((5, 8, 9))  # float64 values float32 cannot hold
    plan = MaskPlan(partner=[1, 2, 3, 4, 0], lam=mask.reshape(5, -1).mean(axis=1), axes=(2, 3), mask=mask)
    assert plan.mask.dtype == np.float64
    assert "mask_dtype" not in plan.to_dict()  # dicts stored before float32 masks: float64
    back = plan_from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back.mask.dtype == np.float64
    with pytest.raises(ValueError, match="mask_dtype must be 'float32' or 'float64', got 'float16'"):
        plan_from_dict({**plan.to_dict(), "mask_dtype": "float16"})
    want = _reference.mask_mix(x, plan.partner, mask, (2, 3))
    np.testing.assert_array_equal(mixkit.apply_plan(plan, x), want)
    np.testing.assert_array_equal(mixkit.apply_plan(back, x), want)

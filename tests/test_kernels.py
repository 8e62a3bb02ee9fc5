"""Kernels against the NumPy formula: blend, paste and mask_mix, for NumPy and torch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixkit
from mixkit.kernels import blend, box_mask, mask_mix, paste

from helpers import readonly

torch = pytest.importorskip("torch")


def reference_blend(x, partner, lam):
    w = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    return w * x.astype(np.float64) + (1 - w) * x[partner].astype(np.float64)


batches = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 9), st.integers(1, 4), st.integers(1, 6)),
    elements=st.floats(-1e3, 1e3, width=32),
)


@st.composite
def plan_for(draw, b):
    partner = np.array(draw(st.lists(st.integers(0, b - 1), min_size=b, max_size=b)), dtype=np.int64)
    lam = np.array(draw(st.lists(st.floats(0, 1), min_size=b, max_size=b)))
    return partner, lam


@given(data=st.data(), x=batches)
def test_blend_matches_formula_and_stays_between_sources(data, x):
    partner, lam = data.draw(plan_for(x.shape[0]))
    xr = readonly(x)
    out = blend(xr, partner, lam)
    ref = reference_blend(x, partner, lam)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)
    lo = np.minimum(x, x[partner])
    hi = np.maximum(x, x[partner])
    tol = 1e-5 * np.maximum(np.abs(lo), np.abs(hi)) + 1e-6
    assert np.all(out >= lo - tol) and np.all(out <= hi + tol)


@given(data=st.data(), x=batches)
def test_blend_torch_equals_numpy_and_in_place_is_correct(data, x):
    partner, lam = data.draw(plan_for(x.shape[0]))  # any mapping: repeats and cycles
    ref = blend(x, partner, lam)
    t = torch.from_numpy(x.copy())
    np.testing.assert_allclose(blend(t, partner, lam).numpy(), ref, rtol=1e-5, atol=1e-3)
    blend(t, partner, lam, out=t)
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-5, atol=1e-3)
    xn = x.copy()
    blend(xn, partner, lam, out=xn)
    np.testing.assert_allclose(xn, ref, rtol=1e-5, atol=1e-3)


def test_lam_one_returns_x_exactly():
    x = np.random.default_rng(0).normal(size=(6, 3, 5)).astype(np.float32)
    partner = np.array([5, 4, 3, 2, 1, 0])
    assert np.array_equal(blend(x, partner, np.ones(6)), x)
    assert torch.equal(blend(torch.from_numpy(x), partner, np.ones(6)), torch.from_numpy(x))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_integer_blend_rounds_without_overflow(dtype):
    info = np.iinfo(dtype)
    x = np.array([[info.max, info.min, 3], [info.max, info.max, 4]], dtype=dtype)
    partner = np.array([1, 0])
    lam = np.array([0.5, 0.25])
    out = blend(readonly(x), partner, lam)
    ref = np.clip(np.rint(reference_blend(x, partner, lam)), info.min, info.max).astype(dtype)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref)
    tout = blend(torch.from_numpy(x.astype(np.int16) if dtype == np.int16 else x), partner, lam)
    np.testing.assert_array_equal(tout.numpy(), ref)


@given(x=hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 8)), elements=st.integers(0, 255)),
       data=st.data())
def test_uint8_blend_is_rounded_formula(x, data):
    partner, lam = data.draw(plan_for(x.shape[0]))
    ref = np.rint(reference_blend(x, partner, lam).astype(np.float32))
    out = blend(x, partner, lam)
    assert np.max(np.abs(out.astype(np.int32) - ref.astype(np.int32))) <= 1  # float32 rounding ties
    tout = blend(torch.from_numpy(x), partner, lam)
    assert torch.equal(tout, torch.from_numpy(out))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8])
def test_torch_dtype_and_memory_format_preserved(dtype):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 3, 6, 5, generator=g) * 200).to(dtype).to(memory_format=torch.channels_last)
    partner = np.array([1, 2, 3, 0])
    lam = np.array([0.2, 0.5, 0.7, 1.0])
    out = blend(x, partner, lam)
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    ref = reference_blend(x.double().numpy(), partner, lam)
    tol = {torch.float16: 0.5, torch.bfloat16: 2.0, torch.uint8: 0.5}.get(dtype, 1e-4)
    np.testing.assert_allclose(out.double().numpy(), ref, atol=tol, rtol=1e-2)
    cut = paste(x, partner, np.array([[1, 1]] * 4), np.array([[4, 3]] * 4), (2, 3))
    assert cut.dtype == dtype and cut.is_contiguous(memory_format=torch.channels_last)


def test_blend_is_differentiable_for_hidden_states():
    h = torch.randn(4, 5, requires_grad=True)
    out = blend(h, np.array([1, 0, 3, 2]), np.full(4, 0.25))
    out.sum().backward()
    assert h.grad is not None and torch.allclose(h.grad, torch.ones(4, 5))


def reference_paste(x, partner, start, stop, axes):
    out = x.copy()
    for i in range(x.shape[0]):
        idx = [slice(None)] * (x.ndim - 1)
        for k, a in enumerate(axes):
            idx[a - 1] = slice(start[i, k], stop[i, k])
        out[i][tuple(idx)] = x[partner[i]][tuple(idx)]
    return out


@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["batch", "sample"]),
       axes=st.sampled_from([(-2, -1), (1, 2), (-1,), (1,), (1, 2, 3), (3, 1)]),
       pairing=st.sampled_from(["shuffle", "pairs", "flip"]))
def test_paste_every_element_from_self_or_partner(seed, mode, axes, pairing):
    rng = np.random.default_rng(seed)
    x = rng.permutation(5 * 4 * 6 * 7).reshape(5, 4, 6, 7).astype(np.float32)  # all values distinct
    t = mixkit.CutMix(1.0, axes=axes, lam_mode=mode, pairing=pairing)
    plan = t.sample(5, rng=rng, shape=x.shape)
    out, _ = t.apply(plan, readonly(x))
    ref = reference_paste(x, plan.partner, plan.start, plan.stop, plan.axes)
    np.testing.assert_array_equal(out, ref)
    # pasted fraction equals 1 - lam exactly (values are distinct almost surely)
    from_partner = (out != x).reshape(5, -1).mean(axis=1)
    moved = plan.partner != np.arange(5)
    np.testing.assert_allclose(from_partner[moved], 1 - plan.lam[moved], atol=1e-12)
    mask = box_mask(x.shape, plan.axes, plan.start, plan.stop)
    np.testing.assert_array_equal(np.where(mask, x[plan.partner], x), ref)
    tout, _ = t.apply(plan, torch.from_numpy(x))
    np.testing.assert_array_equal(tout.numpy(), ref)
    xi = x.copy()
    t.apply(plan, xi, inplace=True)
    np.testing.assert_array_equal(xi, ref)
    ti = torch.from_numpy(x.copy())
    t.apply(plan, ti, inplace=True)
    np.testing.assert_array_equal(ti.numpy(), ref)


def test_paste_volume_three_axes():
    x = np.arange(2 * 1 * 4 * 4 * 4, dtype=np.float64).reshape(2, 1, 4, 4, 4)
    plan = mixkit.BoxPlan(partner=[1, 0], lam=[1 - 8 / 64, 1 - 8 / 64], axes=(2, 3, 4), sizes=(4, 4, 4),
                          start=[[0, 0, 0], [2, 2, 2]], stop=[[2, 2, 2], [4, 4, 4]])
    out = mixkit.apply_plan(plan, x)
    assert np.array_equal(out[0, 0, :2, :2, :2], x[1, 0, :2, :2, :2])
    assert np.array_equal(out[1, 0, 2:, 2:, 2:], x[0, 0, 2:, 2:, 2:])
    assert (out != x).sum() == 16


@given(seed=st.integers(0, 2**32 - 1), binary=st.booleans())
def test_mask_mix_matches_formula(seed, binary):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 3, 5, 6)).astype(np.float32)
    m = rng.random((4, 5, 6))
    if binary:
        m = (m > 0.5).astype(np.float64)
    partner = rng.permutation(4)
    out = mask_mix(readonly(x), partner, m, (2, 3))
    ref = m[:, None] * x + (1 - m[:, None]) * x[partner]
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mask_mix(torch.from_numpy(x), partner, m, (2, 3)).numpy(), ref, rtol=1e-6,
                               atol=1e-6)
    xi = x.copy()
    mask_mix(xi, partner, m, (2, 3), out=xi)
    np.testing.assert_allclose(xi, ref, rtol=1e-6, atol=1e-6)


def test_empty_batch_kernels():
    x = np.zeros((0, 3, 4), np.float32)
    e = np.zeros(0, np.int64)
    assert blend(x, e, np.zeros(0)).shape == (0, 3, 4)
    assert paste(x, e, np.zeros((0, 1), np.int64), np.zeros((0, 1), np.int64), (2,)).shape == (0, 3, 4)
    assert blend(torch.zeros(0, 3), e, np.zeros(0)).shape == (0, 3)

"""Every route of blend, paste and mask_mix against plain NumPy formulas.

Each test runs twice: through the fused backend of the array's device (the compiled CPU kernels for
NumPy and torch CPU) and through the vectorised reference. Partners are arbitrary int mappings:
repeats, cycles, self-pairs, so the in-place write order is exercised too.
"""

import numpy as np
import pytest
from helpers import readonly
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixkit.kernels
from mixkit.kernels import _layout, _reference, blend, mask_mix, paste
from mixkit.kernels._walk import CLOSE, OPEN, walk_order

torch = pytest.importorskip("torch")

ROUTES = ["fused", "reference"]


def use_route(mp, route):
    if route == "reference":
        mp.setattr(mixkit.kernels, "_fused_backend", lambda x, kernel="": None)


@pytest.fixture(params=ROUTES)
def chunk(request, monkeypatch):
    """fused: the backend of the array's device; reference: the vectorised fallback."""
    use_route(monkeypatch, request.param)
    return request.param


def ref_blend(x, partner, lam):
    """The formula in float64 (floats) or float32 with rounding half to even (integers)."""
    w = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    if x.dtype.kind == "f":
        return w * x.astype(np.float64) + (1 - w) * x[partner].astype(np.float64)
    wa = w.astype(np.float32)
    wb = (1.0 - w).astype(np.float32)
    mixed = x.astype(np.float32) * wa + x[partner].astype(np.float32) * wb
    return np.rint(mixed).astype(x.dtype)


def ref_paste(x, partner, start, stop, axes):
    out = x.copy()
    for i in range(x.shape[0]):
        idx = [slice(None)] * (x.ndim - 1)
        for k, a in enumerate(axes):
            idx[a - 1] = slice(int(start[i, k]), int(stop[i, k]))
        out[i][tuple(idx)] = x[partner[i]][tuple(idx)]
    return out


mappings = st.integers(1, 12).flatmap(
    lambda b: st.lists(st.integers(0, b - 1), min_size=b, max_size=b).map(np.array)
)


@given(partner=mappings)
def test_walk_order_never_overwrites_a_partner_before_it_is_read(partner):
    b = partner.size
    order, flag = walk_order(partner)
    rows = order.tolist()
    assert sorted(rows) == np.flatnonzero(partner != np.arange(b)).tolist()
    pos = {r: k for k, r in enumerate(rows)}
    opened = None
    for k, i in enumerate(rows):
        if flag[k] & OPEN:
            opened = i
        j = int(partner[i])
        if flag[k] & CLOSE:  # the partner was written: it is the row saved when the cycle opened
            assert j == opened and pos[j] < k
        else:
            assert j not in pos or pos[j] > k


@pytest.mark.parametrize("partner", [
    [1, 2, 3, 4, 5, 6, 7, 0],          # one long cycle
    [1, 0, 3, 2, 5, 4, 7, 6],          # pairs (many 2-cycles)
    [0, 0, 0, 1, 1, 2, 7, 6],          # repeats and trees into a self-pair
    [3, 3, 3, 3, 0, 0, 0, 0],          # repeated partners with a cycle 0 -> 3 -> 0
    [7, 6, 5, 4, 3, 2, 1, 0],          # flip
])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_blend_in_place_out_and_new_match_formula(chunk, partner, lam_mode, dtype):
    rng = np.random.default_rng(0)
    partner = np.array(partner)
    x = (rng.uniform(0, 255, size=(8, 3, 5, 4))).astype(dtype)
    lam = np.full(8, 0.3) if lam_mode == "batch" else rng.uniform(size=8)
    ref = ref_blend(x, partner, lam)
    tol = {} if dtype == np.uint8 else {"rtol": 1e-5, "atol": 1e-4}
    check = np.testing.assert_array_equal if dtype == np.uint8 else np.testing.assert_allclose
    check(blend(readonly(x), partner, lam), ref, **tol)
    buf = np.empty_like(x)
    assert blend(x, partner, lam, out=buf) is buf
    check(buf, ref, **tol)
    xi = x.copy()
    assert blend(xi, partner, lam, out=xi) is xi
    check(xi, ref, **tol)
    t = torch.from_numpy(x.copy())
    check(blend(t, partner, lam).numpy(), ref, **tol)
    assert blend(t, partner, lam, out=t) is t
    check(t.numpy(), ref, **tol)


@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 10), st.integers(1, 3), st.integers(1, 5)),
                    elements=st.floats(-1e3, 1e3, width=32)), data=st.data(),
       route=st.sampled_from(ROUTES))
def test_blend_any_mapping_in_place_equals_formula(x, data, route):
    b = x.shape[0]
    partner = np.array(data.draw(st.lists(st.integers(0, b - 1), min_size=b, max_size=b)))
    lam = np.array(data.draw(st.lists(st.floats(0, 1), min_size=b, max_size=b)))
    ref = ref_blend(x, partner, lam)
    with pytest.MonkeyPatch.context() as mp:
        use_route(mp, route)
        t = torch.from_numpy(x.copy())
        np.testing.assert_allclose(blend(t, partner, lam).numpy(), ref, rtol=1e-5, atol=1e-3)
        xi = x.copy()
        blend(xi, partner, lam, out=xi)
        t = torch.from_numpy(x.copy())
        blend(t, partner, lam, out=t)
    np.testing.assert_allclose(xi, ref, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-5, atol=1e-3)


def test_uint8_numpy_and_torch_agree_exactly_and_round_half_to_even(chunk):
    x = np.array([[1, 2, 255, 0], [2, 3, 254, 255], [0, 0, 0, 0]], dtype=np.uint8)
    partner = np.array([1, 0, 0])
    lam = np.array([0.5, 0.5, 0.5])
    out = blend(x, partner, lam)
    np.testing.assert_array_equal(out, [[2, 2, 254, 128], [2, 2, 254, 128], [0, 1, 128, 0]])
    x = np.random.default_rng(1).integers(0, 256, size=(16, 3, 7, 7), dtype=np.uint8)
    partner = np.random.default_rng(2).integers(0, 16, size=16)
    lam = np.random.default_rng(3).uniform(size=16)
    ref = ref_blend(x, partner, lam)
    np.testing.assert_array_equal(blend(x, partner, lam), ref)
    np.testing.assert_array_equal(blend(torch.from_numpy(x), partner, lam).numpy(), ref)
    t = torch.from_numpy(x.copy())
    blend(t, partner, lam, out=t)
    np.testing.assert_array_equal(t.numpy(), ref)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_torch_matches_float32_formula(chunk, dtype):
    tdt = getattr(torch, dtype)
    x32 = torch.randn(9, 2, 4, 6, generator=torch.Generator().manual_seed(0))
    x = x32.to(tdt)
    partner = np.array([3, 3, 0, 1, 8, 4, 4, 2, 5])
    lam = np.random.default_rng(4).uniform(size=9)
    ref = ref_blend(x.float().numpy(), partner, lam)
    tol = 1e-2 if dtype == "float16" else 2e-2
    out = blend(x, partner, lam)
    assert out.dtype == tdt
    np.testing.assert_allclose(out.float().numpy(), ref, rtol=tol, atol=tol)
    blend(x, partner, lam, out=x)
    np.testing.assert_allclose(x.float().numpy(), ref, rtol=tol, atol=tol)
    xn = x32.numpy().astype(np.float16)
    ref16 = ref_blend(xn, partner, lam)
    np.testing.assert_allclose(blend(xn, partner, lam).astype(np.float32), ref16, rtol=1e-2, atol=1e-2)


def test_channels_last_and_non_contiguous_torch(chunk):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 5, 7, generator=g).contiguous(memory_format=torch.channels_last)
    partner = np.array([2, 0, 1, 5, 3, 3])
    lam = np.random.default_rng(5).uniform(size=6)
    ref = ref_blend(x.numpy(), partner, lam)
    out = blend(x, partner, lam)
    assert out.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    xi = x.clone(memory_format=torch.channels_last)
    blend(xi, partner, lam, out=xi)
    assert xi.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(xi.numpy(), ref, rtol=1e-5, atol=1e-5)
    base = torch.randn(6, 4, 10, generator=g)
    view = base[:, 1:, ::2]  # non-contiguous rows
    ref = ref_blend(view.numpy(), partner, lam)
    np.testing.assert_allclose(blend(view, partner, lam).numpy(), ref, rtol=1e-5, atol=1e-5)
    blend(view, partner, lam, out=view)
    np.testing.assert_allclose(view.numpy(), ref, rtol=1e-5, atol=1e-5)
    nview = base.numpy()[:, 1:, ::2].copy()[:, :, ::-1]
    ref = ref_blend(nview, partner, lam)
    blend(nview, partner, lam, out=nview)
    np.testing.assert_allclose(nview, ref, rtol=1e-5, atol=1e-5)


def test_partially_overlapping_out_is_computed_through_a_fresh_array():
    base = np.arange(40, dtype=np.float64).reshape(5, 8)
    x = base[:4]
    out = base[1:]
    partner = np.array([1, 2, 3, 0])
    lam = np.array([0.2, 0.4, 0.6, 0.8])
    ref = ref_blend(x.copy(), partner, lam)
    blend(x, partner, lam, out=out)
    np.testing.assert_allclose(out, ref)


def test_lam_one_returns_x_exactly_with_huge_partner_values(chunk):
    x = np.array([[1.0, -2.5], [3e38, -3e38], [7.0, 0.1]], dtype=np.float32)
    partner = np.array([1, 0, 1])
    lam = np.array([1.0, 1.0, 1.0])
    assert np.array_equal(blend(x, partner, lam), x)
    t = torch.from_numpy(x.copy())
    assert torch.equal(blend(t, partner, lam), t)
    lam = np.array([1.0, 0.0, 1.0])  # lam = 0 gives the partner exactly
    np.testing.assert_array_equal(blend(x, partner, lam)[1], x[0])


boxes_axes = [((2, 3), (8, 2, 5, 6)), ((1, 2), (8, 5, 6, 2)), ((2,), (8, 3, 9)), ((1,), (8, 7, 4)),
              ((1, 2, 3), (8, 4, 3, 5))]


@pytest.mark.parametrize("axes,shape", boxes_axes)
@pytest.mark.parametrize("partner", [[1, 2, 3, 4, 5, 6, 7, 0], [1, 0, 3, 2, 5, 4, 7, 6],
                                     [3, 3, 3, 3, 0, 0, 0, 7]])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_paste_matches_formula_everywhere(chunk, axes, shape, partner, shared, dtype):
    rng = np.random.default_rng(6)
    partner = np.array(partner)
    x = rng.integers(0, 255, size=shape).astype(dtype)
    sizes = np.array([shape[a] for a in axes])
    n = 1 if shared else 8
    start = rng.integers(0, sizes, size=(n, len(axes)))
    stop = np.minimum(start + rng.integers(0, sizes + 1, size=(n, len(axes))), sizes)
    start, stop = np.repeat(start, 8 // n, axis=0), np.repeat(stop, 8 // n, axis=0)
    ref = ref_paste(x, partner, start, stop, axes)
    np.testing.assert_array_equal(paste(readonly(x), partner, start, stop, axes), ref)
    buf = np.zeros_like(x)
    paste(x, partner, start, stop, axes, out=buf)
    np.testing.assert_array_equal(buf, ref)
    xi = x.copy()
    paste(xi, partner, start, stop, axes, out=xi)
    np.testing.assert_array_equal(xi, ref)
    t = torch.from_numpy(x.copy())
    np.testing.assert_array_equal(paste(t, partner, start, stop, axes).numpy(), ref)
    paste(t, partner, start, stop, axes, out=t)
    np.testing.assert_array_equal(t.numpy(), ref)


def test_paste_channels_last_keeps_layout(chunk):
    x = torch.arange(6 * 3 * 4 * 5, dtype=torch.float32).reshape(6, 3, 4, 5)
    x = x.contiguous(memory_format=torch.channels_last)
    partner = np.array([5, 0, 1, 2, 3, 4])
    start = np.array([[0, 1], [1, 0], [2, 2], [0, 0], [3, 4], [1, 1]])
    stop = np.array([[2, 4], [4, 3], [4, 5], [4, 5], [4, 5], [1, 1]])
    ref = ref_paste(x.numpy(), partner, start, stop, (2, 3))
    out = paste(x, partner, start, stop, (2, 3))
    assert out.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(out.numpy(), ref)
    paste(x, partner, start, stop, (2, 3), out=x)
    assert x.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(x.numpy(), ref)


def test_empty_and_single_batches(chunk):
    for x in (np.zeros((0, 3, 4), np.float32), np.ones((1, 3, 4), np.float32)):
        b = x.shape[0]
        p, lam = np.zeros(b, np.int64), np.full(b, 0.5)
        np.testing.assert_array_equal(blend(x, p, lam), x)
        box = np.zeros((b, 1), np.int64)
        np.testing.assert_array_equal(paste(x, p, box, box + 2, (2,)), x)
        t = torch.from_numpy(x.copy())
        assert torch.equal(blend(t, p, lam, out=t), torch.from_numpy(x))


def ref_mask_mix(x, partner, mask, axes):
    m = mask.reshape((mask.shape[0],) + tuple(x.shape[a] if a in axes else 1 for a in range(1, x.ndim)))
    if x.dtype.kind == "f":
        return m * x.astype(np.float64) + (1 - m) * x[partner].astype(np.float64)
    mixed = m.astype(np.float32) * x.astype(np.float32) + (1 - m).astype(np.float32) * x[partner]
    return np.rint(mixed).astype(x.dtype)


@pytest.mark.parametrize("partner", [[1, 2, 3, 4, 5, 0], [1, 0, 3, 2, 5, 4], [3, 3, 3, 0, 0, 5]])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_mask_mix_in_place_out_and_new_match_formula(chunk, partner, binary, dtype):
    rng = np.random.default_rng(7)
    partner = np.array(partner)
    x = rng.integers(0, 255, size=(6, 3, 4, 5)).astype(dtype)
    mask = rng.random((6, 4, 5))
    if binary:
        mask = (mask > 0.5).astype(np.float64)
    mask[5] = 1.0  # a row that keeps all of its own data
    ref = ref_mask_mix(x, partner, mask, (2, 3))
    check = np.testing.assert_array_equal if dtype == np.uint8 else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4))
    check(mask_mix(readonly(x), partner, mask, (2, 3)), ref)
    buf = np.empty_like(x)
    mask_mix(x, partner, mask, (2, 3), out=buf)
    check(buf, ref)
    xi = x.copy()
    mask_mix(xi, partner, mask, (2, 3), out=xi)
    check(xi, ref)
    t = torch.from_numpy(x.copy())
    check(mask_mix(t, partner, mask, (2, 3)).numpy(), ref)
    mask_mix(t, partner, mask, (2, 3), out=t)
    check(t.numpy(), ref)
    tc = torch.from_numpy(x.copy()).contiguous(memory_format=torch.channels_last)
    res = mask_mix(tc, partner, mask, (2, 3))
    assert res.is_contiguous(memory_format=torch.channels_last)
    check(res.numpy(), ref)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", ["float32", "uint8", "bfloat16"])
def test_large_new_output_keeps_layout_dtype_and_values(layout, dtype):
    # 48 MiB: a new output keeps the batch's layout and is an ordinary tensor
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 3, 512, 512, generator=g) * 255).to(getattr(torch, dtype))
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    partner = np.roll(np.arange(16), 1)
    lam = np.linspace(0, 1, 16)
    out = blend(x, partner, lam)
    assert out.dtype == x.dtype and out.shape == x.shape and out.stride() == x.stride()
    ref = ref_blend(x.float().numpy(), partner, lam)
    tol = 1.0 if dtype != "float32" else 1e-4
    np.testing.assert_allclose(out.float().numpy(), ref, rtol=1e-2 if dtype == "bfloat16" else 0,
                               atol=tol)
    start = np.tile([[10, 20]], (16, 1))
    stop = np.tile([[60, 200]], (16, 1))
    pasted = paste(x, partner, start, stop, (2, 3))
    assert pasted.stride() == x.stride()
    np.testing.assert_array_equal(pasted.float().numpy(),
                                  ref_paste(x.float().numpy(), partner, start, stop, (2, 3)))
    before = out.clone()
    out.mul_(1)  # an ordinary, writable tensor
    assert torch.equal(out, before)


@pytest.mark.parametrize("layout", ["contiguous", "permuted"])
def test_box_masks_of_the_flat_rows_equal_the_reference_ones(layout):
    import array_api_compat.numpy as xp
    import array_api_compat.torch as xpt

    rng = np.random.default_rng(8)
    x = np.zeros((7, 2, 5, 6, 4), np.float32)
    if layout == "permuted":
        x = np.zeros((7, 4, 6, 5, 2), np.float32).transpose(0, 4, 3, 2, 1)
    axes = (2, 4)
    sizes = np.array([5, 4])
    start = rng.integers(0, sizes, size=(7, 2))
    stop = np.minimum(start + rng.integers(0, sizes + 1, size=(7, 2)), sizes)
    ref = _reference.box_mask(xp, x.shape, axes, start, stop, None)
    assert ref.shape == (7, 1, 5, 1, 4)
    got = _reference.box_mask(xpt, x.shape, axes, torch.from_numpy(start).numpy(), stop, "cpu")
    np.testing.assert_array_equal(got.numpy(), ref)
    # the same boxes over the flat rows the fused kernels walk
    perm = _layout.dense_perm(x.shape, tuple(s // x.itemsize for s in x.strides))
    dims, lo, hi = _layout.box_spec(x.shape, perm, axes, start, stop)
    idx = np.indices(tuple(dims)).reshape(len(dims), -1)
    flat = np.all((idx[None] >= lo[:, :, None]) & (idx[None] < hi[:, :, None]), axis=1)
    in_memory_order = np.ascontiguousarray(np.broadcast_to(ref, x.shape).transpose(perm))
    np.testing.assert_array_equal(flat, in_memory_order.reshape(7, -1))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_torch_integer_path_equals_numpy_exactly(chunk, monkeypatch, dtype):
    rng = np.random.default_rng(9)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -30000), min(info.max, 30000)
    x = rng.integers(lo, hi, size=(10, 3, 6, 5), endpoint=True).astype(dtype)
    x[0, 0, 0, :2] = [lo, hi]
    partner = np.array([1, 1, 0, 4, 5, 3, 9, 9, 9, 8])
    for lam in (np.full(10, 0.5), rng.uniform(size=10)):
        ref = blend(x, partner, lam)  # NumPy
        np.testing.assert_array_equal(blend(torch.from_numpy(x), partner, lam).numpy(), ref)
        t = torch.from_numpy(x.copy())
        blend(t, partner, lam, out=t)
        np.testing.assert_array_equal(t.numpy(), ref)

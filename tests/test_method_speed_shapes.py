"""The vectorised mask, resize and saliency code against plain per-sample references.

The references are the straightforward implementations (one loop iteration per sample); the library
computes the same plans for whole batches at once. Same seed, same plan, bit for bit where the
computation is the same, and to rounding where only the order of floating-point operations differs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.methods.masks import FMix, GridMix, SmoothMix, _rank_mask, mask_lam
from mixkit.methods.resizemix import (
    ResizeMix,
    interpolation_matrix,
    interpolation_taps,
    resize_paste,
    resize_paste_reference,
)
from mixkit.pairing import sample_partner
from mixkit.saliency import gaussian_blur, spectral_residual_saliency
from mixkit.sampling import sample_applied, sample_lam

# ---------------------------------------------------------------------------------------------- references


def readonly_copy(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def ref_rank_mask(grey, lam0, max_soft):
    n, shape = grey.shape[0], grey.shape[1:]
    total = int(np.prod(shape))
    flat = grey.reshape(n, total)
    order = np.argsort(-flat, axis=1, kind="stable")
    out = np.zeros((n, total))
    for i in range(n):
        keep = int(np.rint(lam0[i] * total))
        soft = int(np.floor(total * min(max_soft, lam0[i], 1.0 - lam0[i])))
        lo, hi = keep - soft, keep + soft
        values = np.zeros(total)
        values[:lo] = 1.0
        if hi > lo:
            values[lo:hi] = np.linspace(1.0, 0.0, hi - lo + 2)[1:-1]
        out[i, order[i]] = values
    return out.reshape((n,) + shape)


def ref_fmix_masks(t, sizes, lam0, rng):
    n = lam0.shape[0]
    freqs = [np.fft.fftfreq(s) for s in sizes[:-1]] + [np.fft.rfftfreq(sizes[-1])]
    mesh = np.meshgrid(*freqs, indexing="ij")
    f = np.sqrt(sum(m ** 2 for m in mesh))
    scale = 1.0 / np.maximum(f, 1.0 / max(sizes)) ** t.decay_power
    spec = rng.standard_normal((n,) + f.shape) + 1j * rng.standard_normal((n,) + f.shape)
    grey = np.fft.irfftn(spec * scale, s=sizes, axes=tuple(range(1, len(sizes) + 1)))
    return ref_rank_mask(grey, lam0, t.max_soft)


def ref_grid_masks(t, sizes, lam0, rng):
    n, k = lam0.shape[0], len(sizes)
    out = np.empty((n,) + sizes)
    cells = rng.integers(t.grid[0], t.grid[1] + 1, size=n)
    for i in range(n):
        c = int(cells[i])
        own = rng.random((c,) * k) < lam0[i]
        index = np.ix_(*[np.minimum(np.arange(s) * c // max(s, 1), c - 1) for s in sizes])
        out[i] = own[index]
    return out


def ref_mask_plan(t, batch_size, seed, shape, masks_fn):
    """The mask methods' plan, sample by sample (the method's own _masks replaced by ``masks_fn``)."""
    axes = mixkit._validate.normalize_axes(t.axes, len(shape))
    sizes = tuple(shape[a] for a in axes)
    gen = np.random.default_rng(seed)
    partner = sample_partner(batch_size, t.pairing, gen)
    lam0 = sample_lam(batch_size, t.alpha, t.lam_mode, gen)
    shared = t.lam_mode == "batch"
    n = 1 if shared else batch_size
    if batch_size and int(np.prod(sizes)) > 0:
        mask = np.clip(masks_fn(t, sizes, lam0[:n], gen), 0.0, 1.0).astype(np.float32)  # as plans hold it
        if shared:
            mask = np.repeat(mask, batch_size, axis=0)
    else:
        mask = np.ones((batch_size,) + sizes)
    applied = sample_applied(batch_size, t.p, t.lam_mode, gen)
    rows = np.arange(batch_size)
    keep = (~applied) | (partner == rows)
    mask[keep] = 1.0
    partner = np.where(applied, partner, rows)
    lam = np.array([float(m.astype(np.float64).mean()) for m in mask]) if mask.size else np.ones(batch_size)
    return partner, lam, mask


# ---------------------------------------------------------------------------------------------- masks


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9),
       max_soft=st.sampled_from([0.0, 0.1, 0.5]), levels=st.sampled_from([0, 2, 5]))
def test_rank_mask_equals_the_per_sample_stable_sort(seed, n, h, w, max_soft, levels):
    gen = np.random.default_rng(seed)
    grey = gen.normal(size=(n, h, w))
    if levels:  # few distinct values: ties everywhere, ranked in index order
        grey = np.floor(grey * levels) / levels
    lam0 = gen.choice([0.0, 1.0, 0.5, gen.random()], size=n)
    np.testing.assert_array_equal(_rank_mask(grey, lam0, max_soft), ref_rank_mask(grey, lam0, max_soft))


def test_rank_mask_ties_across_the_cut_keep_the_first_by_index():
    grey = np.array([[3.0, 1.0, 1.0, 1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(_rank_mask(grey, np.array([0.5]), 0.0), [[1, 1, 1, 0, 0, 0]])


@pytest.mark.parametrize("seed", [0, 1, 7, 2024])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("kind", ["fmix", "fmix_soft", "grid", "fmix_1d", "grid_3d"])
def test_mask_plans_equal_the_per_sample_reference(seed, lam_mode, kind):
    shape = {"fmix_1d": (5, 2, 40), "grid_3d": (4, 1, 6, 7, 5)}.get(kind, (9, 3, 20, 17))
    axes = {"fmix_1d": -1, "grid_3d": (2, 3, 4)}.get(kind, (-2, -1))
    if kind.startswith("fmix"):
        t = FMix(alpha=0.7, max_soft=0.2 if kind == "fmix_soft" else 0.0, axes=axes, lam_mode=lam_mode, p=0.8)
        ref = ref_fmix_masks
    else:
        t = GridMix(alpha=0.7, grid=(1, 5), axes=axes, lam_mode=lam_mode, p=0.8)
        ref = ref_grid_masks
    plan = t.sample(shape[0], rng=seed, shape=shape)
    partner, lam, mask = ref_mask_plan(t, shape[0], seed, shape, ref)
    np.testing.assert_array_equal(plan.partner, partner)
    np.testing.assert_array_equal(plan.mask, mask)
    np.testing.assert_array_equal(plan.lam, lam)


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_smoothmix_plan_equals_the_per_sample_reference(lam_mode):
    t = SmoothMix(lam_mode=lam_mode, p=0.7)
    plan = t.sample(8, rng=3, shape=(8, 2, 15, 11))
    partner, lam, mask = ref_mask_plan(t, 8, 3, (8, 2, 15, 11), lambda t, s, l0, g: t._masks(s, l0, g))
    np.testing.assert_array_equal(plan.partner, partner)
    np.testing.assert_array_equal(plan.mask, mask)
    np.testing.assert_array_equal(plan.lam, lam)


def test_mask_lam_is_each_rows_numpy_mean():
    gen = np.random.default_rng(0)
    for shape in [(3, 7), (4, 12, 13), (2, 5, 6, 7), (3, 224, 224)]:
        m = np.round(gen.random(shape) * 9) / 9
        np.testing.assert_array_equal(mask_lam(m), [float(r.mean()) for r in m])


# ---------------------------------------------------------------------------------------------- saliency


def ref_gaussian_blur(a, sigma, axes):
    if sigma <= 0:
        return np.array(a, dtype=np.float64)
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.asarray(a, dtype=np.float64)
    for ax in axes:
        n = out.shape[ax]
        if n < 2:
            continue
        pad = [(0, 0)] * out.ndim
        pad[ax] = (r, r)
        padded = np.pad(out, pad, mode="symmetric" if r >= n else "reflect")
        acc = np.zeros_like(out)
        for j, w in enumerate(k):
            acc += w * np.take(padded, np.arange(j, j + n), axis=ax)
        out = acc
    return out


def ref_spectral_residual(x, axes, blur=1.0):
    """The spectral residual on the full complex spectrum, straight from its definition."""
    rest = tuple(a for a in range(1, x.ndim) if a not in axes)
    moved = np.transpose(np.asarray(x, dtype=np.float64), (0,) + tuple(axes) + rest)
    grey = moved.reshape(moved.shape[: 1 + len(axes)] + (-1,)).mean(axis=-1)
    fax = tuple(range(1, grey.ndim))
    spec = np.fft.fftn(grey, axes=fax)
    log_amp = np.log(np.abs(spec) + 1e-12)
    local = log_amp
    for ax in fax:
        local = (np.roll(local, 1, axis=ax) + local + np.roll(local, -1, axis=ax)) / 3.0
    residual = np.exp(log_amp - local + 1j * np.angle(spec))
    sal = np.abs(np.fft.ifftn(residual, axes=fax)) ** 2
    return ref_gaussian_blur(sal, blur, fax)


@pytest.mark.parametrize("shape,axes", [((5, 3, 20, 17), (2, 3)), ((4, 3, 16, 16), (3, 2)), ((3, 2, 9, 8), (2, 3)),
                                        ((3, 4, 1), (1,)), ((2, 2, 7, 6, 5), (2, 3, 4)), ((3, 30, 2), (1,)),
                                        ((2, 1, 2, 1), (2, 3)), ((2, 3, 33), (2,))])
@pytest.mark.parametrize("seed", [0, 3])
def test_spectral_saliency_equals_the_full_spectrum_definition(shape, axes, seed):
    x = np.random.default_rng(seed).random(shape).astype(np.float32)
    ref = ref_spectral_residual(x, axes)
    got = spectral_residual_saliency(x, axes)
    assert got.shape == ref.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * ref.max())


def test_spectral_saliency_in_groups_equals_one_pass_and_torch(monkeypatch):
    import mixkit.saliency as sal

    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).integers(0, 256, (11, 3, 24, 20), dtype=np.uint8)
    whole = spectral_residual_saliency(x, (2, 3))
    monkeypatch.setattr(sal, "_CPU_GROUP_VALUES", 2 * 24 * 20)  # groups of two samples
    grouped = spectral_residual_saliency(x, (2, 3))
    np.testing.assert_array_equal(grouped, whole)
    t = spectral_residual_saliency(torch.from_numpy(x), (2, 3))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), whole, rtol=1e-9, atol=1e-12 * whole.max())
    np.testing.assert_array_equal(t.flatten(1).argmax(1).numpy(), whole.reshape(11, -1).argmax(1))


@pytest.mark.parametrize("shape,axes,sigma", [((3, 10, 12), (1, 2), 1.0), ((2, 3, 5), (1, 2), 1.5),
                                              ((4, 2), (1,), 1.0), ((2, 9, 4), (2,), 0.5), ((2, 6), (1,), 0.0)])
def test_gaussian_blur_equals_the_reference(shape, axes, sigma):
    a = np.random.default_rng(0).random(shape)
    np.testing.assert_allclose(gaussian_blur(a, sigma, axes), ref_gaussian_blur(a, sigma, axes), rtol=1e-13)


# ---------------------------------------------------------------------------------------------- ResizeMix


def ref_resize_paste(x, partner, start, stop, axes, method):
    """Sample by sample: the partner resized with one dense interpolation matrix per axis, pasted."""
    out = np.array(x, dtype=np.float64)
    for i in range(x.shape[0]):
        if np.any(stop[i] <= start[i]):
            continue
        part = np.asarray(x[partner[i]], dtype=np.float64)
        for k, a in sorted(enumerate(axes), key=lambda ka: ka[1]):
            m = interpolation_matrix(x.shape[a], int(stop[i, k] - start[i, k]), method)
            part = np.moveaxis(np.tensordot(m, np.moveaxis(part, a - 1, 0), axes=1), 0, a - 1)
        box = [slice(None)] * (x.ndim - 1)
        for k, a in enumerate(axes):
            box[a - 1] = slice(int(start[i, k]), int(stop[i, k]))
        out[i][tuple(box)] = part
    return out


RESIZE_CASES = {
    "nchw": ((7, 3, 19, 23), (2, 3)),
    "nhwc": ((5, 17, 13, 3), (1, 2)),
    "series": ((6, 2, 41), (2,)),
    "series_tc": ((6, 30, 4), (1,)),
    "volume": ((4, 2, 9, 8, 7), (2, 3, 4)),
    "reversed_axes": ((5, 3, 12, 14), (3, 2)),
    "apart": ((5, 9, 3, 11), (1, 3)),  # axes not adjacent: the vectorised reference
}


@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
@pytest.mark.parametrize("method", ["linear", "area"])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_resize_paste_equals_the_per_sample_reference_and_the_vectorised_one(case, method, lam_mode):
    shape, axes = RESIZE_CASES[case]
    x = np.random.default_rng(5).normal(size=shape)
    plan = ResizeMix(axes=axes, lam_mode=lam_mode, interpolation=method, scale=(0.2, 1.0), p=0.8).sample(
        shape[0], rng=11, shape=shape)
    args = (plan.partner, plan.start, plan.stop, plan.axes, method)
    got = resize_paste(x, *args)
    np.testing.assert_allclose(got, ref_resize_paste(x, *args), rtol=1e-12, atol=1e-12)
    for dt in (np.float32, np.uint8, np.int16):  # the compiled pass and the reference: bit for bit
        xd = (x * 40 + 100).astype(dt)
        np.testing.assert_array_equal(resize_paste(xd, *args), resize_paste_reference(xd, *args))


@pytest.mark.parametrize("n_in", [1, 2, 7, 224])
@pytest.mark.parametrize("method", ["linear", "area"])
def test_interpolation_taps_are_the_matrix_rows(n_in, method):
    lengths = np.array([1, n_in, max(1, n_in // 3), max(1, n_in - 1), 1])
    index, weight, count = interpolation_taps(n_in, lengths, method)
    for s, length in enumerate(lengths):
        m = np.zeros((length, n_in))
        for t in range(index.shape[2]):
            np.add.at(m, (np.arange(length), index[s, :length, t]), weight[s, :length, t])
        np.testing.assert_allclose(m, interpolation_matrix(n_in, int(length), method), rtol=1e-14, atol=1e-15)
        assert np.all(weight[s, length:] == 0) and np.all(count[s, length:] == 0)
        assert np.all(weight[s, :length][np.arange(index.shape[2]) >= count[s, :length, None]] == 0)


@pytest.mark.parametrize("inplace", [False, True])
def test_resize_paste_out_inplace_torch_and_channels_last_agree(inplace):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).integers(0, 256, (6, 3, 20, 18), dtype=np.uint8)
    t = ResizeMix(lam_mode="sample", pairing="shuffle")
    plan = t.sample(6, rng=4, shape=x.shape)
    want = resize_paste_reference(x, plan.partner, plan.start, plan.stop, plan.axes)
    buf = x.copy()
    got = mixkit.apply_plan(plan, buf, inplace=True) if inplace else mixkit.apply_plan(plan, readonly_copy(x))
    np.testing.assert_array_equal(got, want)
    xt = torch.from_numpy(x.copy())
    np.testing.assert_array_equal(mixkit.apply_plan(plan, xt, inplace=inplace).numpy(), want)
    cl = torch.from_numpy(x.copy()).contiguous(memory_format=torch.channels_last)
    res = mixkit.apply_plan(plan, cl, inplace=inplace)
    assert res.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(res.numpy(), want)
    out = torch.empty_like(xt)
    assert mixkit.apply_plan(plan, torch.from_numpy(x), out=out) is out
    np.testing.assert_array_equal(out.numpy(), want)


def test_resize_paste_reference_runs_on_other_array_libraries_and_with_autograd():
    torch = pytest.importorskip("torch")
    xp = pytest.importorskip("array_api_strict")
    x = np.random.default_rng(0).random((4, 2, 9, 10)).astype(np.float32)
    for pairing in ("flip", "shuffle"):  # boxes everywhere, and (seed 1) none at all
        plan = ResizeMix(lam_mode="sample", pairing=pairing).sample(4, rng=1, shape=x.shape)
        check_reference_backends(plan, x, torch, xp)


def check_reference_backends(plan, x, torch, xp):
    want = mixkit.apply_plan(plan, x)
    np.testing.assert_array_equal(np.asarray(mixkit.apply_plan(plan, xp.asarray(x))), want)
    xg = torch.tensor(x, requires_grad=True)
    res = mixkit.apply_plan(plan, xg)
    res.sum().backward()
    np.testing.assert_array_equal(res.detach().numpy(), want)
    assert xg.grad is not None and xg.grad.shape == xg.shape


def test_resizemix_call_needs_about_one_batch_of_memory():
    import tracemalloc

    x = np.random.default_rng(0).random((32, 3, 64, 64)).astype(np.float32)
    t = ResizeMix(lam_mode="sample", num_classes=10)
    t(x, np.arange(32) % 10, rng=0)  # compile and warm up
    tracemalloc.start()
    t(x, np.arange(32) % 10, rng=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * x.nbytes

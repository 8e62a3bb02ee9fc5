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
from mixkit.pairing import sample_partner
from mixkit.sampling import sample_applied, sample_lam

# ---------------------------------------------------------------------------------------------- references


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
        mask = np.clip(masks_fn(t, sizes, lam0[:n], gen), 0.0, 1.0)
        if shared:
            mask = np.repeat(mask, batch_size, axis=0)
    else:
        mask = np.ones((batch_size,) + sizes)
    applied = sample_applied(batch_size, t.p, t.lam_mode, gen)
    rows = np.arange(batch_size)
    keep = (~applied) | (partner == rows)
    mask[keep] = 1.0
    partner = np.where(applied, partner, rows)
    lam = np.array([float(m.mean()) for m in mask]) if mask.size else np.ones(batch_size)
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

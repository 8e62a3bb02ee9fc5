"""Mask methods: FMix, SmoothMix, GridMix, ResizeMix and SaliencyMix."""

import numpy as np
import pytest
from helpers import readonly
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.methods.masks import FMix, GridMix, SaliencyMix, SmoothMix
from mixkit.methods.resizemix import ResizeMix, ResizePlan, interpolation_matrix
from mixkit.saliency import gaussian_blur, spectral_residual_saliency

torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")

MASK_METHODS = {
    "fmix": lambda **kw: FMix(**kw),
    "fmix_soft": lambda **kw: FMix(max_soft=0.2, **kw),
    "smooth": lambda **kw: SmoothMix(**kw),
    "smooth_square": lambda **kw: SmoothMix(shape="square", **kw),
    "grid": lambda **kw: GridMix(**kw),
}

shapes = st.tuples(st.integers(1, 7), st.integers(1, 3), st.integers(1, 12), st.integers(1, 12))


@given(name=st.sampled_from(sorted(MASK_METHODS)), shape=shapes, seed=st.integers(0, 2**32 - 1),
       lam_mode=st.sampled_from(["batch", "sample"]), p=st.sampled_from([0.0, 0.5, 1.0]))
def test_lam_is_exactly_the_mask_mean(name, shape, seed, lam_mode, p):
    t = MASK_METHODS[name](lam_mode=lam_mode, p=p)
    plan = t.sample(shape[0], rng=seed, shape=shape)
    assert isinstance(plan, mixkit.MaskPlan)
    assert plan.mask.shape == (shape[0],) + shape[2:]
    assert plan.mask.min() >= 0 and plan.mask.max() <= 1
    for i in range(shape[0]):
        assert plan.lam[i] == plan.mask[i].astype(np.float64).mean()  # soft masks are float32
        if plan.partner[i] == i:
            assert plan.lam[i] == 1.0
    if p == 0.0:
        assert np.all(plan.lam == 1.0) and np.all(plan.partner == np.arange(shape[0]))


@given(name=st.sampled_from(["fmix", "grid"]), shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_binary_masks_paste_elements_of_x_or_partner(name, shape, seed):
    x = readonly(np.random.default_rng(seed).normal(size=shape).astype(np.float32))
    t = MASK_METHODS[name](lam_mode="sample")
    plan = t.sample(shape[0], rng=seed, shape=shape)
    assert plan.binary
    out = mixkit.apply_plan(plan, x)
    m = plan.mask[:, None]
    np.testing.assert_array_equal(out, np.where(m == 1, x, x[plan.partner]))
    pasted = np.mean(out != x, axis=(1, 2, 3))
    differs = np.all(x != x[plan.partner], axis=(1, 2, 3))
    np.testing.assert_allclose(pasted[differs], 1.0 - plan.lam[differs])


@pytest.mark.parametrize("name", sorted(MASK_METHODS))
def test_soft_masks_blend_and_torch_matches_numpy(name):
    x = np.random.default_rng(0).normal(size=(6, 3, 10, 9)).astype(np.float32)
    t = MASK_METHODS[name](lam_mode="sample", num_classes=3)
    y = np.array([0, 1, 2, 0, 1, 2])
    out, target = t(readonly(x), y, rng=5)
    plan = t.sample(6, rng=5, shape=x.shape)
    ref = plan.mask[:, None] * x + (1 - plan.mask[:, None]) * x[plan.partner]
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(target.sum(1), 1.0, rtol=1e-6)
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(target, plan.lam[:, None] * onehot + (1 - plan.lam[:, None]) * onehot[plan.partner],
                               rtol=1e-6)
    out_t, target_t = t(torch.tensor(x), torch.tensor(y), rng=5)
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(target_t.numpy(), target, rtol=1e-6)


def test_same_seed_same_plan_and_batch_mode_shares_one_mask():
    t = FMix(lam_mode="batch")
    a = t.sample(5, rng=9, shape=(5, 1, 16, 16))
    b = t.sample(5, rng=9, shape=(5, 1, 16, 16))
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.partner, b.partner)
    moving = a.partner != np.arange(5)
    assert np.all(a.mask[moving] == a.mask[moving][0])


def test_fmix_keeps_round_lam_times_n_and_is_smooth():
    plan = FMix(alpha=1.0, lam_mode="sample").sample(64, rng=1, shape=(64, 1, 32, 32))
    moving = plan.partner != np.arange(64)
    kept = plan.mask[moving].reshape(moving.sum(), -1).sum(1)
    np.testing.assert_array_equal(kept, np.rint(plan.lam[moving] * 1024))
    # low-frequency masks: far fewer 0/1 changes between neighbours than random pixels would give
    changes = np.mean(plan.mask[moving][:, 1:, :] != plan.mask[moving][:, :-1, :])
    shuffled = np.random.default_rng(0).permuted(plan.mask[moving].reshape(moving.sum(), -1), axis=1)
    shuffled = shuffled.reshape(-1, 32, 32)
    assert changes < 0.25 * np.mean(shuffled[:, 1:, :] != shuffled[:, :-1, :])


def test_fmix_soft_edge_blends():
    plan = FMix(max_soft=0.1, lam_mode="sample").sample(8, rng=2, shape=(8, 1, 16, 16))
    moving = plan.partner != np.arange(8)
    soft = (plan.mask > 0) & (plan.mask < 1)
    assert soft[moving].any() and not plan.binary


def test_smoothmix_weight_of_partner_peaks_inside():
    plan = SmoothMix(sigma=(0.2, 0.2), lam_mode="sample").sample(4, rng=3, shape=(4, 1, 20, 20))
    for i in range(4):
        if plan.partner[i] != i:
            assert plan.mask[i].min() < 0.01 and plan.mask[i].max() > 0.9
            assert 0 < plan.lam[i] < 1


def test_gridmix_mask_is_constant_on_cells():
    t = GridMix(grid=(4, 4), lam_mode="sample")
    plan = t.sample(6, rng=0, shape=(6, 1, 12, 12))
    cells = plan.mask.reshape(6, 4, 3, 4, 3)
    assert np.all(cells == cells[:, :, :1, :, :1])


def test_masks_over_one_and_three_axes():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(4, 2, 50))
    plan = FMix(axes=-1, lam_mode="sample").sample(4, rng=0, shape=series.shape)
    assert plan.mask.shape == (4, 50) and plan.axes == (2,)
    out = mixkit.apply_plan(plan, series)
    m = plan.mask[:, None, :]  # the mask spans the time axis, every channel alike
    np.testing.assert_allclose(out, m * series + (1 - m) * series[plan.partner], rtol=0, atol=1e-12)
    assert np.any(plan.partner != np.arange(4)) and not np.array_equal(out, series)
    vol = rng.normal(size=(3, 2, 6, 7, 8))
    for t in (FMix(axes=(-3, -2, -1)), GridMix(axes=(2, 3, 4)), SmoothMix(axes=(2, 3, 4))):
        plan = t.sample(3, rng=0, shape=vol.shape)
        assert plan.mask.shape == (3, 6, 7, 8)
        m = plan.mask[:, None].astype(np.float64)  # the mask's values; 1 - m in float64, as the kernels
        np.testing.assert_allclose(plan.apply(vol), m * vol + (1 - m) * vol[plan.partner], rtol=0, atol=1e-12)
        np.testing.assert_allclose(plan.lam, m.reshape(3, -1).mean(axis=1), rtol=0, atol=0)


def test_empty_batch():
    for t in (FMix(), GridMix(), SmoothMix(), ResizeMix(), SaliencyMix()):
        x = np.zeros((0, 1, 8, 8))
        out, _ = t(x, rng=0)
        assert out.shape == (0, 1, 8, 8)


# ---------------------------------------------------------------------------------------------- ResizeMix


@pytest.mark.parametrize("n_in,n_out", [(12, 5), (16, 24), (7, 7), (9, 1)])
def test_linear_interpolation_matches_torch(n_in, n_out):
    a = torch.randn(2, 3, n_in, n_in, dtype=torch.float64)
    ref = F.interpolate(a, size=(n_out, n_out), mode="bilinear", align_corners=False)
    m = torch.tensor(interpolation_matrix(n_in, n_out, "linear"))
    torch.testing.assert_close(m @ a @ m.T, ref)


def test_area_interpolation_matches_torch():
    a = torch.randn(2, 3, 12, 16, dtype=torch.float64)
    ref = F.interpolate(a, size=(4, 8), mode="area")
    mh, mw = (torch.tensor(interpolation_matrix(n, k, "area")) for n, k in ((12, 4), (16, 8)))
    torch.testing.assert_close(mh @ a @ mw.T, ref)


@given(seed=st.integers(0, 2**32 - 1), lam_mode=st.sampled_from(["batch", "sample"]),
       interpolation=st.sampled_from(["linear", "area"]))
def test_resizemix_pastes_the_resized_partner(seed, lam_mode, interpolation):
    x = np.random.default_rng(seed).normal(size=(4, 2, 11, 13)).astype(np.float32)
    t = ResizeMix(lam_mode=lam_mode, interpolation=interpolation)
    plan = t.sample(4, rng=seed, shape=x.shape)
    assert isinstance(plan, ResizePlan)
    out = mixkit.apply_plan(plan, readonly(x))
    extent = plan.stop - plan.start
    np.testing.assert_array_equal(plan.lam, 1.0 - extent.prod(1) / (11 * 13))
    for i in range(4):
        (h0, w0), (h1, w1) = plan.start[i], plan.stop[i]
        inside = np.zeros((11, 13), bool)
        inside[h0:h1, w0:w1] = True
        np.testing.assert_array_equal(out[i][:, ~inside], x[i][:, ~inside])
        if h1 > h0:
            mode = "bilinear" if interpolation == "linear" else "area"
            part = torch.tensor(x[plan.partner[i]][None], dtype=torch.float64)
            kw = {"align_corners": False} if mode == "bilinear" else {}
            ref = F.interpolate(part, size=(h1 - h0, w1 - w0), mode=mode, **kw)[0].numpy()
            if mode == "bilinear" or ((11 % (h1 - h0)) == 0 and (13 % (w1 - w0)) == 0):
                np.testing.assert_allclose(out[i][:, h0:h1, w0:w1], ref, rtol=1e-5, atol=1e-5)


def test_resizemix_torch_uint8_inplace_and_replay():
    x = np.random.default_rng(0).integers(0, 256, size=(5, 3, 16, 16), dtype=np.uint8)
    t = ResizeMix(lam_mode="sample", num_classes=5)
    plan = t.sample(5, rng=1, shape=x.shape)
    out = mixkit.apply_plan(plan, x)
    assert out.dtype == np.uint8
    out_t = mixkit.apply_plan(plan, torch.tensor(x))
    np.testing.assert_array_equal(out_t.numpy(), out)
    buf = x.copy()
    assert mixkit.apply_plan(plan, buf, inplace=True) is buf
    np.testing.assert_array_equal(buf, out)
    again = mixkit.plan_from_dict(plan.to_dict())
    assert isinstance(again, ResizePlan)
    np.testing.assert_array_equal(mixkit.apply_plan(again, x), out)


def test_resize_plan_checks_the_batch():
    plan = ResizeMix().sample(2, rng=0, shape=(2, 1, 8, 8))
    with pytest.raises(ValueError, match="sizes"):
        mixkit.apply_plan(plan, np.zeros((2, 1, 8, 9)))
    with pytest.raises(ValueError, match="box bounds"):
        ResizePlan(partner=[1, 0], lam=[1, 1], axes=(2,), sizes=(4,), start=[[0], [3]], stop=[[0], [9]])
    with pytest.raises(ValueError, match="interpolation"):
        ResizePlan(partner=[0], lam=[1], axes=(2,), sizes=(4,), start=[[0]], stop=[[0]], interpolation="cubic")


# ---------------------------------------------------------------------------------------------- SaliencyMix


def test_spectral_saliency_finds_a_blob():
    x = np.full((2, 3, 32, 32), 0.5)
    x[0, :, 5:9, 20:24] = 1.0
    x[1, :, 24:27, 3:6] = 0.0
    x += np.random.default_rng(0).normal(0.0, 0.05, size=x.shape)  # real images are never exactly flat
    sal = spectral_residual_saliency(x, (2, 3))
    assert sal.shape == (2, 32, 32) and sal.min() >= 0
    r0, c0 = np.unravel_index(np.argmax(sal[0]), (32, 32))
    r1, c1 = np.unravel_index(np.argmax(sal[1]), (32, 32))
    assert 3 <= r0 <= 10 and 18 <= c0 <= 25
    assert 22 <= r1 <= 28 and 1 <= c1 <= 7


def test_gaussian_blur_keeps_the_mean_of_a_constant():
    a = np.full((2, 5, 6), 3.0)
    np.testing.assert_allclose(gaussian_blur(a, 1.0, (1, 2)), 3.0)


@given(seed=st.integers(0, 2**32 - 1))
def test_saliencymix_box_centres_on_partner_peak(seed):
    gen = np.random.default_rng(seed)
    maps = gen.random((6, 20, 20))
    t = SaliencyMix(lam_mode="sample")
    plan = t.sample(6, rng=seed, shape=(6, 1, 20, 20), saliency=maps)
    assert isinstance(plan, mixkit.BoxPlan)
    extent = plan.stop - plan.start
    np.testing.assert_array_equal(plan.lam, 1.0 - extent.prod(1) / 400.0)
    for i in range(6):
        if plan.partner[i] == i or extent[i].prod() == 0:
            continue
        peak = np.array(np.unravel_index(np.argmax(maps[plan.partner[i]]), (20, 20)))
        assert np.all(plan.start[i] <= peak) and np.all(peak < plan.stop[i])


def test_saliencymix_call_uses_the_data_and_a_callable():
    x = np.zeros((4, 1, 16, 16), np.float32)
    for i in range(4):
        x[i, 0, 2 + 3 * i, 12 - 2 * i] = 1.0
    calls = []

    def peak_map(batch):
        calls.append(batch.shape)
        return batch[:, 0]

    t = SaliencyMix(alpha=1.0, saliency=peak_map, lam_mode="sample", pairing="flip")
    out, _ = t(x, rng=0)
    assert calls == [(4, 1, 16, 16)]
    plan = t.sample(4, rng=0, shape=x.shape, x=x)
    for i in range(4):
        if plan.lam[i] < 1:
            j = plan.partner[i]
            assert out[i, 0, 2 + 3 * j, 12 - 2 * j] == 1.0  # the partner's salient pixel was pasted
    out2, _ = SaliencyMix(lam_mode="sample", pairing="flip")(torch.tensor(x), rng=0)
    assert out2.shape == x.shape


def test_mask_method_errors():
    with pytest.raises(ValueError, match="shape=x.shape"):
        FMix().sample(2)
    with pytest.raises(ValueError, match="shape=x.shape"):
        ResizeMix().sample(2)
    with pytest.raises(ValueError, match="SaliencyMix needs the batch: pass x="):
        SaliencyMix().sample(2, shape=(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"saliency maps must have shape"):
        SaliencyMix().sample(2, shape=(2, 1, 4, 4), saliency=np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="saliency must be one of"):
        SaliencyMix(saliency="gradient")
    with pytest.raises(ValueError, match="max_soft must be a number in"):
        FMix(max_soft=0.7)
    with pytest.raises(ValueError, match="decay_power must be a number > 0"):
        FMix(decay_power=0)
    with pytest.raises(ValueError, match="sigma must satisfy"):
        SmoothMix(sigma=(0.5, 0.1))
    with pytest.raises(TypeError, match="sigma must be a pair"):
        SmoothMix(sigma=0.3)
    with pytest.raises(ValueError, match="shape must be one of"):
        SmoothMix(shape="star")
    with pytest.raises(TypeError, match="grid must be a pair of ints"):
        GridMix(grid=(2.5, 4))
    with pytest.raises(ValueError, match="grid must satisfy"):
        GridMix(grid=(0, 4))
    with pytest.raises(ValueError, match="scale must satisfy"):
        ResizeMix(scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        ResizeMix(interpolation="cubic")
    with pytest.raises(ValueError, match="axes must name at least one axis"):
        GridMix(axes=())
    with pytest.raises(TypeError, match="axes must be ints"):
        FMix(axes=(1.0, 2))
    with pytest.raises(ValueError, match="repeat an axis"):
        FMix(axes=(-1, -1))
    with pytest.raises(ValueError, match="batch axis 0"):
        FMix(axes=(0, 1)).sample(2, shape=(2, 3, 4))
    with pytest.raises(ValueError, match="alpha must be > 0"):
        GridMix(alpha=-1.0)


def test_repr_and_keyword_construction():
    for cls in (FMix, SmoothMix, GridMix, ResizeMix, SaliencyMix):
        t = cls(num_classes=10, lam_mode="sample")
        assert repr(t).startswith(cls.__name__ + "(")
        out, y = t(np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32), np.arange(4), rng=0)
        assert out.shape == (4, 3, 8, 8) and y.shape == (4, 10)


def test_gradient_saliency_drives_saliencymix():
    from mixkit.torch import gradient_saliency

    torch.manual_seed(0)
    # a linear model that only looks at pixel (2, 5): the gradient is zero everywhere else
    weight = torch.zeros(3, 1, 8, 8)
    weight[:, 0, 2, 5] = torch.tensor([1.0, -2.0, 0.5])

    def model(x):
        return torch.einsum("bchw,kchw->bk", x, weight)

    fn = gradient_saliency(model)
    x = torch.rand(4, 1, 8, 8)
    maps = fn(x)
    assert maps.shape == (4, 8, 8) and not maps.requires_grad
    assert torch.all(maps[:, 2, 5] > 0) and float(maps.sum()) == pytest.approx(float(maps[:, 2, 5].sum()))
    plan = SaliencyMix(saliency=fn, lam_mode="sample").sample(4, rng=0, shape=x.shape, x=x)
    for i in range(4):
        if plan.lam[i] < 1:
            assert np.all(plan.start[i] <= [2, 5]) and np.all(np.array([2, 5]) < plan.stop[i])
    with pytest.raises(TypeError, match="needs a torch.Tensor batch"):
        fn(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"logits \(B, C\)"):
        gradient_saliency(lambda x: x.sum())(x)


def test_saliencymix_structured_sample_reads_the_image():
    gen = np.random.default_rng(0)
    x = gen.random((4, 3, 6, 8)).astype(np.float32)
    m = gen.integers(0, 5, (4, 6, 8)).astype(np.uint8)
    t = SaliencyMix(num_classes=4, lam_mode="sample")
    out = t({"image": x, "labels": np.arange(4), "mask": m}, rng=7, mask_classes=5)
    xa, ya = t(x, np.arange(4), rng=7)
    np.testing.assert_array_equal(out["image"], xa)
    np.testing.assert_array_equal(out["labels"], ya)
    assert out["mask"].shape[0] == 4


@pytest.mark.parametrize("partition_row", [1, 4096, 10**9])
def test_kth_values_and_top_masks_equal_the_sort_on_every_path(monkeypatch, partition_row):
    """One partition a row (long rows), one sort of the batch (short rows), one partition of the
    batch (equal positions): the sorted rows' values, and the same FMix masks."""
    from mixkit.methods import masks

    monkeypatch.setattr(masks, "PARTITION_ROW", partition_row)
    rng = np.random.default_rng(partition_row)
    for _ in range(60):
        n, total = int(rng.integers(1, 7)), int(rng.integers(1, 60))
        flat = np.floor(rng.normal(size=(n, total)) * rng.choice([1, 4, 100]))  # ties
        if rng.random() < 0.2:
            flat[rng.random(flat.shape) < 0.2] = rng.choice([np.inf, -np.inf])
        k = rng.integers(0, total, size=n)
        if rng.random() < 0.3:
            k[:] = k[0]
        np.testing.assert_array_equal(masks._kth_values(flat, k), np.sort(flat, axis=1)[np.arange(n), k])
        keep = rng.integers(-1, total + 1, size=n)
        order = np.argsort(-flat, axis=1, kind="stable")
        want = np.zeros((n, total), bool)
        for i in range(n):
            want[i, order[i, :max(int(keep[i]), 0)]] = True
        np.testing.assert_array_equal(masks._top_mask(flat, keep), want)
    x = np.random.default_rng(1).normal(size=(5, 2, 70, 70)).astype(np.float32)
    plan = FMix(lam_mode="sample").sample(5, rng=3, shape=x.shape)  # rows of 4900: above 4096
    kept = plan.mask.reshape(5, -1).sum(axis=1)
    moving = plan.partner != np.arange(5)
    assert np.all(plan.lam[moving] == kept[moving] / 4900)
    monkeypatch.setattr(masks, "PARTITION_ROW", 10**9)  # the batch's sort
    np.testing.assert_array_equal(FMix(lam_mode="sample").sample(5, rng=3, shape=x.shape).mask, plan.mask)

"""MixCollate: the DataLoader collate_fn that mixes batches in the workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset

import mixkit
from mixkit.kernels import _collate
from mixkit.torch import MixCollate

NUM_CLASSES = 5


class Images(Dataset):
    """Deterministic uint8 images (CHW tensors, or HWC NumPy arrays) with class-index labels."""

    def __init__(self, n: int = 24, shape: tuple[int, ...] = (3, 8, 8), hwc: bool = False) -> None:
        rng = np.random.default_rng(123)
        self.x = rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)
        self.y = np.arange(n) % NUM_CLASSES
        self.hwc = hwc

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        img = self.x[i]
        return (img if self.hwc else torch.from_numpy(img.copy())), int(self.y[i])


def batches(loader: DataLoader, epochs: int = 1, collate: MixCollate | None = None) -> list:
    out = []
    for epoch in range(epochs):
        if collate is not None:
            collate.set_epoch(epoch)
        out.extend((x.clone(), y.clone()) for x, y in loader)
    return out


def samples(n: int = 6, shape=(3, 8, 8), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.random((n,) + shape).astype(dtype)
    else:
        data = rng.integers(0, 256, size=(n,) + shape).astype(dtype)
    return data, [(torch.from_numpy(data[i].copy()), i % NUM_CLASSES) for i in range(n)]


TRANSFORMS = [
    mixkit.MixUp(1.0, num_classes=NUM_CLASSES),
    mixkit.MixUp(0.4, lam_mode="sample", num_classes=NUM_CLASSES, p=0.7),
    mixkit.CutMix(1.0, num_classes=NUM_CLASSES),
    mixkit.CutMix(1.0, lam_mode="sample", num_classes=NUM_CLASSES),
    mixkit.OneOf([mixkit.MixUp(num_classes=NUM_CLASSES), mixkit.CutMix(num_classes=NUM_CLASSES)]),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float16, np.float32, np.float64])
def test_matches_the_transform_applied_to_the_stacked_batch(transform, dtype):
    data, batch = samples(dtype=dtype)
    collate = MixCollate(transform, seed=3)
    x, y = collate(batch)
    # replay: the same stream gives the same plan, applied by the kernels to the stacked batch
    replay = MixCollate(transform, seed=3)
    plan = transform.sample(len(batch), rng=replay._generator(), shape=data.shape)
    want_x, want_y = transform.apply(plan, torch.from_numpy(data), torch.arange(6) % NUM_CLASSES)
    assert x.dtype == want_x.dtype and x.shape == want_x.shape
    if np.dtype(dtype).kind == "u":
        assert (x.int() - want_x.int()).abs().max() <= 1
    else:
        torch.testing.assert_close(x, want_x)
    torch.testing.assert_close(y, want_y)
    torch.testing.assert_close(y.sum(1), torch.ones(6))


OTHER_METHODS = ["FMix", "GridMix", "SmoothMix", "ResizeMix", "SaliencyMix", "Mosaic", "Remix", "BalancedMixUp",
                 "LabelPairedMix"]


@pytest.mark.parametrize("name", OTHER_METHODS)
def test_every_image_method_through_the_collate_matches_its_own_apply(name):
    """Mask and other plans go through the kernels; label-aware and saliency methods get y / x."""
    if not hasattr(mixkit, name):
        pytest.skip(f"mixkit.{name} is not there")
    t = getattr(mixkit, name)(num_classes=NUM_CLASSES)
    data, batch = samples(n=8, shape=(3, 16, 16))
    y_idx = torch.arange(8) % NUM_CLASSES
    x, y = MixCollate(t, seed=0)(batch)
    # the collate passes what it has: the labels, and the stacked batch to methods that need it
    plan = t.sample(8, rng=MixCollate(t, seed=0)._generator(), shape=data.shape, x=torch.from_numpy(data), y=y_idx)
    want_x, want_y = t.apply(plan, torch.from_numpy(data), y_idx)
    assert torch.equal(x, want_x)
    torch.testing.assert_close(y, want_y)


def own_label_batch(n, shape, seed=0):
    """Samples labelled with their own index (num_classes = n), so the mixed labels name the partner."""
    data = np.random.default_rng(seed).integers(0, 256, size=(n,) + shape, dtype=np.uint8)
    return data, [(torch.from_numpy(data[i].copy()), i) for i in range(n)]


def partner_of(y_row, i):
    others = [int(k) for k in torch.nonzero(y_row > 0).flatten() if int(k) != i]
    return others[0] if others else i


def test_uint8_mixup_is_the_rounded_blend_and_stays_uint8():
    data, batch = own_label_batch(6, (3, 8, 8))
    x, y = MixCollate(mixkit.MixUp(lam=0.25, num_classes=6), seed=0)(batch)
    assert x.dtype == torch.uint8
    mixed = 0
    for i in range(6):
        j = partner_of(y[i], i)
        want = data[i] if j == i else np.rint(0.25 * data[i].astype(np.float64) + 0.75 * data[j])
        assert np.abs(x[i].numpy().astype(np.int64) - want).max() <= 1
        mixed += j != i
    assert mixed >= 4


def test_cutmix_every_pixel_comes_from_the_sample_or_its_partner_and_lam_is_exact():
    data, batch = own_label_batch(8, (3, 16, 16), seed=1)
    x, y = MixCollate(mixkit.CutMix(1.0, lam_mode="sample", num_classes=8), seed=1)(batch)
    x = x.numpy()
    for i in range(8):
        j = partner_of(y[i], i)
        from_own = (x[i] == data[i]).all(0)
        from_partner = (x[i] == data[j]).all(0)
        assert np.all(from_own | from_partner)
        pasted = ~from_own  # pixels that differ from the sample itself were pasted
        assert pasted.mean() <= 1 - float(y[i, i]) + 1e-6
        assert from_own.mean() >= float(y[i, i]) - 1e-6


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_rows_longer_than_a_blend_chunk(dtype):
    """Rows of 3 x 160 x 170 elements span two blend chunks; the result matches the kernel's."""
    data, batch = samples(n=3, shape=(3, 160, 170), dtype=dtype)
    t = mixkit.MixUp(lam=0.3, num_classes=NUM_CLASSES, pairing="flip")
    x, _ = MixCollate(t, seed=0)(batch)
    want, _ = t(torch.from_numpy(data), torch.arange(3) % NUM_CLASSES, rng=0)
    if np.dtype(dtype).kind == "u":
        assert (x.int() - want.int()).abs().max() <= 1
        assert not torch.equal(x[0], torch.from_numpy(data[0]))
    else:
        torch.testing.assert_close(x, want)


def test_inputs_are_not_modified():
    _, batch = samples()
    before = [t.clone() for t, _ in batch]
    MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=0)(batch)
    MixCollate(mixkit.CutMix(num_classes=NUM_CLASSES), seed=0)(batch)
    for (t, _), b in zip(batch, before):
        assert torch.equal(t, b)


def hwc_images(n=4, h=8, w=10):
    """HWC uint8 images whose every value names its image: ``(50 k + 7 c + h + w) % 256``."""
    k, hh, ww, c = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((50 * k + 7 * c + hh + ww) % 256).astype(np.uint8)


def pixel_sources(out, n):
    """The image each channel of each pixel of ``out`` (B, H, W, 3) came from: (B, H, W, 3) ints."""
    _, hh, ww, c = np.meshgrid(np.arange(out.shape[0]), np.arange(out.shape[1]), np.arange(out.shape[2]),
                               np.arange(3), indexing="ij")
    k = (out.astype(np.int64) - 7 * c - hh - ww) % 256
    assert np.all(k % 50 == 0) and np.all(k // 50 < n)  # every value is copied from some image
    return k // 50


HWC_TRANSFORMS = [
    mixkit.CutMix(1.0, lam_mode="sample", num_classes=4),  # the fused paste
    mixkit.FMix(1.0, num_classes=4),  # a mask plan, stacked then mixed
    mixkit.GridMix(num_classes=4),
    mixkit.SaliencyMix(lam_mode="sample", num_classes=4),  # needs the batch
]


@pytest.mark.parametrize("transform", HWC_TRANSFORMS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("kind", ["arrays", "pil"])
def test_hwc_samples_are_cut_over_height_and_width_never_channels(transform, kind):
    pil = pytest.importorskip("PIL.Image")
    data = hwc_images()
    samples_ = [pil.fromarray(a) for a in data] if kind == "pil" else [a.copy() for a in data]
    x, y = MixCollate(transform, seed=2)([(s, i) for i, s in enumerate(samples_)])
    assert x.shape == (4, 8, 10, 3) and x.dtype == torch.uint8  # the samples' layout is kept
    src = pixel_sources(x.numpy(), 4)
    assert np.all(src == src[..., :1])  # all three channels of a pixel come from one image
    for i in range(4):
        own = float(np.mean(src[i, :, :, 0] == i))
        assert own == pytest.approx(float(y[i, i]), abs=1e-6)  # the label follows the pixels
    assert np.any(src != np.arange(4)[:, None, None, None])  # something was cut
    # the plan was drawn for the batch seen as (B, C, H, W): it replays on that view
    plan = transform.sample(4, rng=MixCollate(transform, seed=2)._generator(), shape=(4, 3, 8, 10),
                            x=torch.from_numpy(data).permute(0, 3, 1, 2), y=torch.arange(4))
    want = plan.apply(torch.from_numpy(data).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert torch.equal(x, want)


def test_hwc_layout_is_detected_or_given():
    data = hwc_images()
    cut = mixkit.CutMix(1.0, lam_mode="sample", num_classes=4)
    tensors = [(torch.from_numpy(a.copy()), i) for i, a in enumerate(data)]
    x_auto, _ = MixCollate(cut, seed=0)(tensors)  # (8, 10, 3) reads as HWC
    x_hwc, _ = MixCollate(cut, seed=0, layout="HWC")(tensors)
    assert torch.equal(x_auto, x_hwc)
    src = pixel_sources(x_auto.numpy(), 4)
    assert np.all(src == src[..., :1])
    chw = [(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))), i) for i, a in enumerate(data)]
    x_chw, _ = MixCollate(cut, seed=0)(chw)  # (3, 8, 10): CHW, the same plan
    assert torch.equal(x_chw.permute(0, 2, 3, 1), x_auto)
    with pytest.raises(ValueError, match="layout must be one of 'auto', 'CHW', 'HWC'; got 'NHWC'"):
        MixCollate(cut, layout="NHWC")


def test_hwc_samples_with_axes_that_cut_the_channels_are_refused():
    data = hwc_images()
    cut = mixkit.CutMix(1.0, axes=(1, 2), num_classes=4)  # (C, H) of the (B, C, H, W) view
    with pytest.raises(ValueError, match=r"CutMix cuts axes \(1, 2\) of the batch, which MixCollate shows to the "
                                         r"transform as \(B, C, H, W\) for these HWC samples .* axis 1 is the "
                                         r"colour channels"):
        MixCollate(cut, seed=0)([(a, i) for i, a in enumerate(data)])


def test_bare_inputs_return_the_batch_alone():
    _, batch = samples()
    x = MixCollate(mixkit.MixUp(), seed=0)([t for t, _ in batch])
    assert isinstance(x, torch.Tensor) and x.shape == (6, 3, 8, 8)


def test_dict_samples_mix_input_and_label_and_collate_the_rest():
    data, batch = samples()
    dicts = [{"pixel_values": t, "label": y, "id": i} for i, (t, y) in enumerate(batch)]
    out = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=3)(dicts)
    x, y = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=3)(batch)
    assert list(out) == ["pixel_values", "label", "id"]
    assert torch.equal(out["pixel_values"], x) and torch.equal(out["label"], y)
    assert torch.equal(out["id"], torch.arange(6))
    assert not torch.equal(x, torch.from_numpy(data))  # mixed, not merely stacked
    cut = mixkit.CutMix(num_classes=NUM_CLASSES, lam_mode="sample")
    got = MixCollate(cut, seed=0, input_key="img", label_key="cls")([{"img": t, "cls": y} for t, y in batch])
    assert list(got) == ["img", "cls"]
    plan = cut.sample(6, rng=MixCollate(cut, seed=0)._generator(), shape=data.shape)
    want_x, want_y = cut.apply(plan, torch.from_numpy(data), torch.arange(6) % NUM_CLASSES)
    assert torch.equal(got["img"], want_x) and torch.equal(got["cls"], want_y)
    assert not torch.equal(got["img"], torch.from_numpy(data))
    lam = mixkit.MixUp(lam=0.25)
    only = MixCollate(lam, seed=0)([{"image": t} for t, _ in batch])
    plan = lam.sample(6, rng=MixCollate(lam, seed=0)._generator(), shape=data.shape)
    assert list(only) == ["image"]
    assert torch.equal(only["image"], torch.from_numpy(mixkit.blend(data, plan.partner, plan.lam)))
    assert np.any(plan.partner != np.arange(6)) and not torch.equal(only["image"], torch.from_numpy(data))


def test_dict_sample_errors():
    _, batch = samples(n=2)
    with pytest.raises(ValueError, match=r"must all have the keys \['image', 'label'\]; sample 1 has \['image'\]"):
        MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES))([{"image": batch[0][0], "label": 0}, {"image": batch[1][0]}])
    with pytest.raises(ValueError, match="no input entry among \\['pixels', 'label'\\]; name it with input_key="):
        MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES))([{"pixels": t, "label": y} for t, y in batch])
    with pytest.raises(ValueError, match="no entry 'cls' \\(label_key\\)"):
        MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), label_key="cls")([{"image": t, "label": y} for t, y in batch])


def test_probability_labels():
    _, batch = samples()
    probs = [(t, np.eye(NUM_CLASSES, dtype=np.float32)[i % NUM_CLASSES]) for i, (t, _) in enumerate(batch)]
    _, y = MixCollate(mixkit.MixUp(), seed=0)(probs)
    assert y.shape == (6, NUM_CLASSES) and y.dtype == torch.float32
    torch.testing.assert_close(y.sum(1), torch.ones(6))


@pytest.mark.parametrize("transform", [mixkit.MixUp(lam=0.3, num_classes=NUM_CLASSES),
                                       mixkit.CutMix(1.0, lam_mode="sample", num_classes=NUM_CLASSES)], ids=repr)
def test_bfloat16_tensors_are_mixed_by_the_torch_kernels(transform):
    data = torch.rand(4, 3, 4, 4).to(torch.bfloat16)
    batch = [(data[i].clone(), i % NUM_CLASSES) for i in range(4)]
    x, y = MixCollate(transform, seed=0)(batch)
    plan = transform.sample(4, rng=MixCollate(transform, seed=0)._generator(), shape=tuple(data.shape))
    want_x, want_y = transform.apply(plan, data, torch.arange(4) % NUM_CLASSES)
    assert x.dtype == torch.bfloat16 and x.shape == (4, 3, 4, 4)
    assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert not torch.equal(x, data)  # something was mixed


def test_mask_plans_fall_back_to_the_kernel():
    class Half(mixkit.MixUp):
        def _sample(self, batch_size, rng, shape, *, x, y, companions):
            base = super()._sample(batch_size, rng, shape, x=x, y=y, companions=companions)
            mask = np.zeros((batch_size,) + tuple(shape[-2:]))
            mask[:, :, : shape[-1] // 2] = 1.0
            lam = np.where(base.partner == np.arange(batch_size), 1.0, 0.5)
            mask[lam == 1.0] = 1.0
            return mixkit.MaskPlan(partner=base.partner, lam=lam, axes=(2, 3), mask=mask)

    data, batch = samples()
    x, _ = MixCollate(Half(num_classes=NUM_CLASSES), seed=0)(batch)
    assert torch.equal(x[:, :, :, :4], torch.from_numpy(data)[:, :, :, :4])


# ---- streams: workers, epochs, ranks ----------------------------------------------------------


def test_same_seed_and_workers_give_identical_batches_across_runs():
    ds = Images()
    runs = []
    for _ in range(2):
        collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=7)
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
        runs.append(batches(loader, epochs=2, collate=collate))
    assert len(runs[0]) == 12
    for (xa, ya), (xb, yb) in zip(*runs):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_different_epochs_and_seeds_give_different_plans():
    ds = Images()
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=7)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    got = batches(loader, epochs=2, collate=collate)
    first, second = got[:6], got[6:]
    assert sum(not torch.equal(a[1], b[1]) for a, b in zip(first, second)) >= 5
    other = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=8)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=other)
    got8 = batches(loader, epochs=1, collate=other)
    assert sum(not torch.equal(a[1], b[1]) for a, b in zip(first, got8)) >= 5


def test_workers_draw_from_independent_streams():
    ds = Images(n=8)
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=0)
    collate.set_epoch(0)
    # two workers each see the same first-batch shape; their plans must differ
    loader = DataLoader(Images(n=8), batch_size=4, num_workers=2, collate_fn=collate)
    (_, y0), (_, y1) = list(loader)
    lam0 = y0.max(1).values
    lam1 = y1.max(1).values
    assert not torch.equal(lam0, lam1)
    assert len(ds) == 8


def test_set_epoch_replays_an_epoch_in_the_main_process():
    ds = Images()
    collate = MixCollate(mixkit.CutMix(num_classes=NUM_CLASSES), seed=1)
    loader = DataLoader(ds, batch_size=4, num_workers=0, collate_fn=collate)
    collate.set_epoch(3)
    a = [y for _, y in loader]
    collate.set_epoch(4)
    b = [y for _, y in loader]
    collate.set_epoch(3)
    c = [y for _, y in loader]
    assert all(torch.equal(u, v) for u, v in zip(a, c))
    assert any(not torch.equal(u, v) for u, v in zip(a, b))


def test_without_set_epoch_plans_do_not_repeat_and_a_seeded_loader_reproduces():
    ds = Images()

    def run():
        collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=2)
        gen = torch.Generator().manual_seed(0)
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, generator=gen)
        return [y for _ in range(2) for _, y in loader]

    one, two = run(), run()
    assert all(torch.equal(u, v) for u, v in zip(one, two))
    assert sum(not torch.equal(u, v) for u, v in zip(one[:6], one[6:])) >= 5
    # the main process continues its stream from epoch to epoch
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=2)
    loader = DataLoader(ds, batch_size=4, num_workers=0, collate_fn=collate)
    e0 = [y for _, y in loader]
    e1 = [y for _, y in loader]
    assert sum(not torch.equal(u, v) for u, v in zip(e0, e1)) >= 5


def test_ranks_get_independent_streams():
    _, batch = samples(n=16)
    ys = [MixCollate(mixkit.MixUp(lam_mode="sample", num_classes=NUM_CLASSES), seed=0, rank=r)(batch)[1]
          for r in (0, 1)]
    assert not torch.equal(ys[0], ys[1])


def test_workers_allocate_the_batch_in_shared_memory():
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=0)
    loader = DataLoader(Images(n=8), batch_size=4, num_workers=1, collate_fn=collate)
    x, _ = next(iter(loader))
    assert x.is_shared()


def test_picklable_and_repr():
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES), seed=4)
    collate.set_epoch(2)
    clone = pickle.loads(pickle.dumps(collate))
    _, batch = samples()
    assert torch.equal(collate(batch)[1], clone(batch)[1])
    assert "seed=4" in repr(collate) and "epoch=2" in repr(collate)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 9), alpha=st.floats(0.1, 4.0))
def test_property_rows_lie_between_sample_and_partner(seed, n, alpha):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 2, 3, 3), dtype=np.uint8)
    batch = [(torch.from_numpy(data[i].copy()), i % NUM_CLASSES) for i in range(n)]
    t = mixkit.MixUp(alpha, lam_mode="sample", num_classes=NUM_CLASSES)
    x, y = MixCollate(t, seed=seed)(batch)
    plan = t.sample(n, rng=MixCollate(t, seed=seed)._generator(), shape=data.shape)
    lo = np.minimum(data, data[plan.partner]).astype(np.int64)
    hi = np.maximum(data, data[plan.partner]).astype(np.int64)
    got = x.numpy().astype(np.int64)
    assert np.all(got >= lo) and np.all(got <= hi)
    assert torch.all(y >= 0) and torch.allclose(y.sum(1), torch.ones(n))


# ---- errors -----------------------------------------------------------------------------------


def test_mixed_image_sizes_are_refused():
    batch = [(torch.zeros(3, 8, 8, dtype=torch.uint8), 0), (torch.zeros(3, 8, 6, dtype=torch.uint8), 1)]
    with pytest.raises(ValueError, match=r"mixed sizes: sample 0 has shape \(3, 8, 8\) and sample 1 has \(3, 8, 6\)"):
        MixCollate(mixkit.MixUp(num_classes=2), seed=0)(batch)


def test_mixed_dtypes_are_refused():
    batch = [(torch.zeros(3, 4, 4, dtype=torch.uint8), 0), (torch.zeros(3, 4, 4), 1)]
    with pytest.raises(ValueError, match="mixed dtypes: sample 0 is uint8 and sample 1 is float32"):
        MixCollate(mixkit.MixUp(num_classes=2), seed=0)(batch)


@pytest.mark.parametrize(
    "batch, exc, match",
    [
        ("not a list", TypeError, "a collate_fn gets a list of samples, got str"),
        ([], ValueError, "cannot collate an empty list"),
        ([(np.zeros(2), 0), np.zeros(2)], ValueError, "all be \\(input, label\\) pairs .* sample 1 is ndarray"),
        ([(np.zeros(2), 0, 1)], ValueError, "sample 0 is tuple of length 3"),
        ([("text", 0)], TypeError, "sample 0 is a str; expected a tensor, a NumPy array or a PIL image"),
        ([(np.zeros(2, dtype=bool), 0)], TypeError, "inputs have dtype bool"),
        ([(np.zeros(2), "cat")], TypeError, "labels must be class indices .* got str"),
    ],
)
def test_bad_batches(batch, exc, match):
    with pytest.raises(exc, match=match):
        MixCollate(mixkit.MixUp(num_classes=2), seed=0)(batch)


def test_bad_construction():
    with pytest.raises(TypeError, match="needs a mixkit transform .* got function"):
        MixCollate(lambda x: x)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        MixCollate(mixkit.MixUp(), seed=-1)
    with pytest.raises(TypeError, match="seed must be a non-negative int, got float"):
        MixCollate(mixkit.MixUp(), seed=1.5)
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -2"):
        MixCollate(mixkit.MixUp()).set_epoch(-2)


def test_labels_are_checked_by_the_transform():
    _, batch = samples()
    with pytest.raises(ValueError, match="num_classes is needed"):
        MixCollate(mixkit.MixUp(), seed=0)(batch)


# ---- the fused collation kernels (mixkit.kernels._collate) -----------------------------------


KERNEL_DTYPES = ["uint8", "float32", "int8", "uint16", "int16", "int32", "uint32", "float64"]


def kernel_batch(dtype, n=7, shape=(3, 5, 6), seed=0):
    """A batch with the dtype's extremes in it, and its samples as separate C-contiguous arrays."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x = (rng.standard_normal((n,) + shape) * 100).astype(dt)
        x[0, 0, 0, :2] = [np.finfo(dt).max, -np.finfo(dt).max]
    else:
        info = np.iinfo(dt)
        x = rng.integers(info.min, info.max, size=(n,) + shape, endpoint=True).astype(dt)
        x[:, 0, 0, 0] = info.max
        x[:, 0, 0, 1] = info.min
        x[::2, 0, 0, 2] = info.max
        x[1::2, 0, 0, 2] = info.min
    return x, [x[i].copy() for i in range(n)]


def partners(kind, n, rng):
    if kind == "pairs":  # swaps (i, j), the odd one out with itself
        p = np.arange(n)
        perm = rng.permutation(n)
        for a, b in zip(perm[0::2], perm[1::2]):
            p[a], p[b] = b, a
        return p
    if kind == "shuffle":
        return rng.permutation(n)
    if kind == "repeated":
        return rng.integers(0, n, n)  # some rows the partner of several, some of none, some of themselves
    raise AssertionError(kind)


def lams(mode, n, rng):
    if mode == "batch":
        return np.full(n, rng.random())
    lam = rng.random(n)
    lam[:5] = [1.0, 0.0, 1 - 1e-12, 1e-50, 0.5]  # exact selects, weights that round to 1 / 0, a tie
    return lam


@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("kind", ["pairs", "shuffle", "repeated"])
def test_kernel_blend_equals_stacking_then_the_blend_kernel(dtype, mode, kind):
    rng = np.random.default_rng(hash((dtype, mode, kind)) % 2**32)
    x, arrays = kernel_batch(dtype)
    p, lam = partners(kind, 7, rng), lams(mode, 7, rng)
    out = np.full((7, x[0].size), 77, dtype)
    assert _collate.blend(out, _collate.addresses(arrays), p, lam)
    want = mixkit.kernels.blend(x, p, lam)
    assert out.reshape(x.shape).tobytes() == want.tobytes()  # bit for bit


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64", "int16"])
@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("kind", ["pairs", "shuffle", "repeated"])
@pytest.mark.parametrize("axes", [(2, 3), (1, 2), (3,), (1, 2, 3), (3, 2)])
def test_kernel_paste_equals_stacking_then_the_paste_kernel(dtype, mode, kind, axes):
    rng = np.random.default_rng(hash((dtype, mode, kind, axes)) % 2**32)
    x, arrays = kernel_batch(dtype)
    sizes = np.array([x.shape[a] for a in axes])
    p = partners(kind, 7, rng)
    if mode == "batch":  # one box for the whole batch
        start = np.tile(rng.integers(0, sizes), (7, 1))
        stop = np.minimum(start + np.tile(rng.integers(0, sizes + 1), (7, 1)), sizes)
    else:
        start = rng.integers(0, sizes, size=(7, len(axes)))
        stop = np.minimum(start + rng.integers(0, sizes + 1, size=(7, len(axes))), sizes)
        start[0], stop[0] = 0, sizes  # a full box
        stop[1, 0] = start[1, 0]  # an empty one
    out = np.full((7, x[0].size), 77, dtype)
    assert _collate.paste(out, _collate.addresses(arrays), p, start, stop, axes, x.shape)
    want = mixkit.kernels.paste(x, p, start, stop, axes)
    assert out.reshape(x.shape).tobytes() == want.tobytes()


@pytest.mark.parametrize("mode", ["batch", "sample"])
@pytest.mark.parametrize("kind", ["pairs", "shuffle", "repeated"])
def test_kernel_one_hot_labels_equal_blending_the_one_hot_rows(mode, kind):
    rng = np.random.default_rng(hash((mode, kind)) % 2**32)
    y = rng.integers(0, 4, 9)  # few classes: many partners share the class
    p, lam = partners(kind, 9, rng), lams(mode, 9, rng)
    out = np.full((9, 4), np.nan, np.float32)
    _collate.mix_one_hot(out, y, p, lam)
    want = mixkit.kernels.blend(np.eye(4, dtype=np.float32)[y], p, lam)
    assert out.tobytes() == want.tobytes()


def test_kernel_refusals_write_nothing():
    x, arrays = kernel_batch("uint8", n=3)
    addr = _collate.addresses(arrays)
    out = np.full((3, x[0].size), 9, np.float16)
    assert not _collate.blend(out, addr, np.array([1, 0, 2]), np.full(3, 0.5))  # no float16 blend
    assert (out == 9).all()
    # a whole axis, then a box on four axes: five dimensions
    big = [np.zeros((2, 3, 2, 3, 2), np.uint8) for _ in range(2)]
    out = np.full((2, big[0].size), 9, np.uint8)
    start, stop = np.zeros((2, 4), np.int64), np.ones((2, 4), np.int64)
    assert not _collate.paste(out, _collate.addresses(big), np.array([1, 0]), start, stop, (2, 3, 4, 5),
                              (2,) + big[0].shape)
    assert (out == 9).all()
    assert _collate.addresses([arrays[0], x[1, :, ::2]]) is None  # not C-contiguous
    with pytest.raises(ValueError, match=r"partner indices must lie in \[0, 3\)"):
        _collate.blend(np.empty((3, x[0].size), np.uint8), addr, np.array([1, 0, 3]), np.full(3, 0.5))
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 4\)"):
        _collate.mix_one_hot(np.empty((2, 4), np.float32), np.array([0, 4]), np.array([1, 0]), np.full(2, 0.5))


BIT_TRANSFORMS = [
    mixkit.MixUp(1.0, num_classes=NUM_CLASSES),
    mixkit.MixUp(1.0, lam_mode="sample", num_classes=NUM_CLASSES),
    mixkit.MixUp(1.0, lam_mode="sample", num_classes=NUM_CLASSES, pairing="flip"),
    mixkit.CutMix(1.0, num_classes=NUM_CLASSES),
    mixkit.CutMix(1.0, lam_mode="sample", num_classes=NUM_CLASSES),
]


def as_kind(data, kind):
    """The samples of ``data`` as the collate_fn may get them."""
    if kind == "tensors":
        return [torch.from_numpy(d.copy()) for d in data]
    if kind == "arrays":
        return [d.copy() for d in data]
    if kind == "readonly arrays":
        out = [d.copy() for d in data]
        for a in out:
            a.flags.writeable = False
        return out
    if kind == "strided tensors":  # views with a gap: stacked, then mixed in place
        return [torch.from_numpy(np.repeat(d, 2, axis=-1))[..., ::2] for d in data]
    if kind == "tensors needing grad":
        return [torch.from_numpy(d.copy()).requires_grad_() for d in data]
    raise AssertionError(kind)


@pytest.mark.parametrize("transform", BIT_TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("kind", ["tensors", "arrays", "readonly arrays", "strided tensors", "tensors needing grad"])
def test_collate_is_bit_for_bit_the_transform_on_the_stacked_batch(transform, dtype, kind):
    if kind == "tensors needing grad" and np.dtype(dtype).kind != "f":
        pytest.skip("only float tensors require grad")
    data, _ = samples(n=9, shape=(3, 6, 7), dtype=dtype, seed=5)
    batch = [(v, i % NUM_CLASSES) for i, v in enumerate(as_kind(data, kind))]
    x, y = MixCollate(transform, seed=11)(batch)
    plan = transform.sample(9, rng=MixCollate(transform, seed=11)._generator(), shape=data.shape)
    want_x, want_y = transform.apply(plan, torch.from_numpy(data), torch.arange(9) % NUM_CLASSES)
    assert x.dtype == want_x.dtype and not x.requires_grad
    assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert not torch.equal(x, torch.from_numpy(data))


def test_collate_of_wider_and_narrower_dtypes_matches_the_kernels():
    for dtype in (np.int16, np.uint16, np.uint32, np.float16, np.float64, np.int64):
        data, batch = samples(n=6, dtype=dtype, seed=2)
        t = mixkit.MixUp(lam=0.35, num_classes=NUM_CLASSES)
        x, _ = MixCollate(t, seed=0)(batch)
        plan = t.sample(6, rng=MixCollate(t, seed=0)._generator(), shape=data.shape)
        assert torch.equal(x, torch.from_numpy(mixkit.kernels.blend(data, plan.partner, plan.lam))), dtype


def test_label_smoothing_and_pair_labels_keep_the_transform_path():
    data, batch = samples(n=6)
    for t in (mixkit.MixUp(num_classes=NUM_CLASSES, label_smoothing=0.1),
              mixkit.MixUp(num_classes=NUM_CLASSES, label_format="pair")):
        _, y = MixCollate(t, seed=1)(batch)
        plan = t.sample(6, rng=MixCollate(t, seed=1)._generator(), shape=data.shape)
        want = t.mix_labels(plan, torch.arange(6) % NUM_CLASSES)
        if isinstance(want, torch.Tensor):
            assert torch.equal(y, want)
        else:
            assert torch.equal(y.y_b, want.y_b) and torch.equal(y.lam, want.lam)


class WithPlan:
    """In a worker: the collated batch, and the plan the collate drew (its stream copied just
    before the call) and the stacked samples, to replay in the main process."""

    def __init__(self, collate: MixCollate) -> None:
        self.collate = collate

    def __call__(self, batch):
        import copy

        replay = copy.deepcopy(self.collate._generator())
        x, y = self.collate(batch)
        stacked = torch.stack([s for s, _ in batch])
        if stacked.shape[-1] == 3:  # HWC samples: the transform sees them as (B, C, H, W)
            stacked = stacked.permute(0, 3, 1, 2)
            x = x.permute(0, 3, 1, 2)
        plan = self.collate.transform.sample(len(batch), rng=replay, shape=tuple(stacked.shape))
        labels = torch.tensor([c for _, c in batch])
        return x, y, plan, stacked, labels, x.is_shared() and y.is_shared()


@pytest.mark.parametrize("transform", BIT_TRANSFORMS[:2] + BIT_TRANSFORMS[3:], ids=repr)
@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8, 3)])
def test_two_workers_write_the_stacked_transform_bit_for_bit(transform, shape):
    collate = MixCollate(transform, seed=4)
    collate.set_epoch(1)
    loader = DataLoader(Images(n=16, shape=shape), batch_size=4, num_workers=2, collate_fn=WithPlan(collate))
    got = list(loader)
    assert len(got) == 4
    for x, y, plan, stacked, labels, shared in got:
        assert shared
        want_x, want_y = transform.apply(plan, stacked, labels)
        assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert any(not torch.equal(x, stacked) for x, _, _, stacked, _, _ in got)


def test_warm_up_compiles_the_kernels():
    collate = MixCollate(mixkit.MixUp(num_classes=NUM_CLASSES))
    collate.warm_up(torch.float32)
    collate.warm_up(torch.bfloat16)  # a paste-only dtype
    assert _collate._blend_rows.signatures and _collate._paste_rows.signatures
    assert _collate._one_hot_rows.signatures


# ---- epochs and class counts across DataLoader workers -------------------------------------------


class Counted(Images):
    """Images with imbalanced classes exposed as ``targets`` (as torchvision datasets do)."""

    def __init__(self, n: int = 24) -> None:
        super().__init__(n=n)
        self.y = np.where(np.arange(n) % 4 == 0, 1, 0)  # class 0: 18 samples, class 1: 6
        self.targets = self.y.tolist()


def mixed_share(batches_, ds):
    """The share of rows that differ from their sample, per epoch (the loader does not shuffle)."""
    out = []
    for epoch in batches_:
        x = torch.cat([b[0] for b in epoch])
        out.append(float((x.flatten(1) != torch.from_numpy(ds.x).flatten(1)).any(1).float().mean()))
    return out


@pytest.mark.parametrize("persistent", [False, True], ids=["fresh workers", "persistent workers"])
@pytest.mark.parametrize("how", ["collate.set_epoch", "t.set_epoch"])
def test_scheduled_off_epochs_do_not_mix_in_workers(persistent, how):
    ds = Images(n=24)
    t = mixkit.Scheduled(mixkit.MixUp(1.0, lam_mode="sample", num_classes=NUM_CLASSES), total_epochs=4, off_last=2)
    collate = MixCollate(t, seed=0)
    # seeded: with only t.set_epoch the streams follow the loader's base seed
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, persistent_workers=persistent,
                        generator=torch.Generator().manual_seed(0))
    got = []
    for epoch in range(4):
        (collate if how == "collate.set_epoch" else t).set_epoch(epoch)
        got.append([(x, y) for x, y in loader])
    share = mixed_share(got, ds)
    assert share[0] > 0.5 and share[1] > 0.5, share
    assert share[2] == 0.0 and share[3] == 0.0, share
    for x, y in got[3]:  # plain one-hot labels when off
        assert torch.equal(y.max(1).values, torch.ones(len(y)))


def test_set_epoch_gives_the_same_batches_with_fresh_and_persistent_workers():
    ds = Images(n=16)
    runs = []
    for persistent in (False, True):
        collate = MixCollate(mixkit.CutMix(1.0, lam_mode="sample", num_classes=NUM_CLASSES), seed=3)
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, persistent_workers=persistent)
        runs.append(batches(loader, epochs=3, collate=collate))
    for (xa, ya), (xb, yb) in zip(*runs):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sum(not torch.equal(a[1], b[1]) for a, b in zip(runs[0][:4], runs[0][4:8])) >= 3  # epochs differ


def test_epochs_reach_spawned_persistent_workers():
    ds = Images(n=16)
    t = mixkit.Scheduled(mixkit.MixUp(1.0, lam_mode="sample", num_classes=NUM_CLASSES), total_epochs=2, off_last=1)
    collate = MixCollate(t, seed=0)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, persistent_workers=True,
                        multiprocessing_context="spawn")
    got = []
    for epoch in range(2):
        collate.set_epoch(epoch)
        got.append([(x, y) for x, y in loader])
    share = mixed_share(got, ds)
    assert share[0] > 0.5 and share[1] == 0.0, share


class RemixProbe:
    """In a worker: the batch from the collate and the counts its Remix used."""

    def __init__(self, collate: MixCollate) -> None:
        self.collate = collate

    def __call__(self, batch):
        x, y = self.collate(batch)
        return x, y, torch.from_numpy(self.collate.transform.counts.counts)


@pytest.mark.parametrize("wrap", ["Remix", "Scheduled(Remix)", "OneOf(Remix)"])
def test_remix_in_workers_uses_the_dataset_class_counts(wrap):
    ds = Counted(n=24)
    remix = mixkit.Remix(1.0, kappa=2.0, tau=0.5, lam_mode="sample", num_classes=2)
    t = {"Remix": remix, "Scheduled(Remix)": mixkit.Scheduled(remix, total_epochs=2),
         "OneOf(Remix)": mixkit.OneOf([remix])}[wrap]
    collate = MixCollate(t, seed=1)
    collate.set_epoch(0)
    loader = DataLoader(ds, batch_size=6, num_workers=2, collate_fn=RemixProbe(collate) if wrap == "Remix" else collate)
    got = list(loader)
    if wrap == "Remix":
        for _, _, counts in got:
            assert counts.tolist() == [18.0, 6.0]  # the training counts, in every worker, from the first batch
    # the labels follow Remix's rule with those counts: a minority partner (class 1, 6 < 18 / 2)
    # takes the whole label when the sample keeps less than tau of its pixels
    xs = torch.cat([b[0] for b in got]).double()
    ys = torch.cat([b[1] for b in got])
    orig = torch.from_numpy(ds.x).double()
    moved = 0
    for i in range(24):
        own = int(ds.y[i])
        if ys[i].max() == 1.0 and int(ys[i].argmax()) != own:
            moved += 1  # the label went wholly to the minority class
            assert own == 0
            assert not torch.equal(xs[i], orig[i])
    assert moved >= 1
    assert remix.counts.tracked  # the main process's transform was not changed


def test_remix_in_workers_without_dataset_counts_is_a_clear_error():
    collate = MixCollate(mixkit.Remix(num_classes=NUM_CLASSES), seed=0)
    loader = DataLoader(Images(n=8), batch_size=4, num_workers=1, collate_fn=collate)
    with pytest.raises(ValueError, match=r"Remix tracks its class counts over the batches it draws, but each "
                                         r"DataLoader worker draws only some .* Remix\(counts=np.bincount"):
        next(iter(loader))
    given = MixCollate(mixkit.Remix(num_classes=NUM_CLASSES, counts=[5, 1, 1, 1, 1]), seed=0)
    x, y = next(iter(DataLoader(Images(n=8), batch_size=4, num_workers=1, collate_fn=given)))
    assert x.shape == (4, 3, 8, 8) and torch.allclose(y.sum(1), torch.ones(4))


@pytest.mark.parametrize("t, batch_kind, match", [
    (mixkit.Remix(num_classes=NUM_CLASSES), "bare", r"Remix needs the labels to sample: give MixCollate \(input, label\)"),
    (mixkit.Scheduled(mixkit.BalancedMixUp(num_classes=NUM_CLASSES), total_epochs=2), "bare",
     "BalancedMixUp needs the labels to sample"),
    (mixkit.ClassMix(num_classes=NUM_CLASSES), "pairs", "ClassMix needs the 'mask' of each sample: give MixCollate"),
])
def test_what_a_method_needs_and_a_collate_lacks_is_said_in_collate_terms(t, batch_kind, match):
    _, batch = samples()
    if batch_kind == "bare":
        batch = [s for s, _ in batch]
    with pytest.raises(ValueError, match=match):
        MixCollate(t, seed=0)(batch)


def test_classmix_takes_the_mask_entry_of_dict_samples_and_mixes_it():
    rng = np.random.default_rng(0)
    data = rng.random((6, 3, 8, 8)).astype(np.float32)
    masks = rng.integers(0, 3, size=(6, 8, 8))
    t = mixkit.ClassMix(num_classes=NUM_CLASSES)
    dicts = [{"image": torch.from_numpy(data[i]), "label": i % NUM_CLASSES, "mask": masks[i], "id": i}
             for i in range(6)]
    out = MixCollate(t, seed=0)(dicts)
    assert list(out)[:4] == ["image", "label", "mask", "id"]
    plan = t.sample(6, rng=MixCollate(t, seed=0)._generator(), shape=data.shape, mask=torch.from_numpy(masks))
    want = t.apply(plan, torch.from_numpy(data), torch.arange(6) % NUM_CLASSES, mask=torch.from_numpy(masks))
    assert torch.equal(out["image"], want.x) and torch.equal(out["label"], want.y)
    assert torch.equal(torch.as_tensor(out["mask"]), torch.as_tensor(want.companions["mask"]))
    assert not torch.equal(out["image"], torch.from_numpy(data))


def test_boxes_of_dict_samples_are_mixed_with_the_same_plan():
    rng = np.random.default_rng(3)
    data = rng.random((4, 3, 16, 16)).astype(np.float32)
    boxes = [np.array([[1.0, 1.0, 8.0, 8.0], [4.0, 2.0, 15.0, 12.0]])[: i % 2 + 1] for i in range(4)]
    labels = [np.arange(i % 2 + 1) for i in range(4)]
    dicts = [{"image": torch.from_numpy(data[i]), "label": i % 3, "boxes": boxes[i], "box_labels": labels[i]}
             for i in range(4)]
    for t in (mixkit.CutMix(num_classes=3, lam_mode="sample"), mixkit.Mosaic(num_classes=3)):
        out = MixCollate(t, seed=0)(dicts)
        assert list(out) == ["image", "label", "boxes", "box_labels", "box_weights"]  # same keys, then derived
        plan = t.sample(4, rng=MixCollate(t, seed=0)._generator(), shape=data.shape, boxes=boxes, box_labels=labels)
        want = t.apply(plan, torch.from_numpy(data), torch.arange(4) % 3, boxes=boxes, box_labels=labels)
        assert torch.equal(out["image"], want.x) and torch.equal(out["label"], want.y)
        for key in ("boxes", "box_labels", "box_weights"):
            for got, exp in zip(out[key], want.companions[key]):
                np.testing.assert_array_equal(np.asarray(got), np.asarray(exp))
        assert not torch.equal(out["image"], torch.from_numpy(data))


# ---- n-way MixUp (MultiMixPlan) through the collate -------------------------------------------


def nway_formula(stacked: np.ndarray, sources: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_j weights[i, j] * x[sources[i, j]]`` written out: terms in order of ``j`` in float32
    (float64 for float64 and 4-byte integers), weight-0 terms left out, a row with a weight of exactly
    1 that source itself; integers rounded half to even and clipped to their range."""
    dt = stacked.dtype
    cdt = np.float64 if dt == np.float64 or (dt.kind in "iu" and dt.itemsize == 4) else np.float32
    wc = weights.astype(cdt)
    out = np.empty_like(stacked)
    for i in range(len(stacked)):
        if (wc[i] == 1).any():
            out[i] = stacked[sources[i, int(np.argmax(wc[i] == 1))]]
            continue
        acc = None
        for j in range(sources.shape[1]):
            if wc[i, j] != 0:
                term = wc[i, j] * stacked[sources[i, j]].astype(cdt)
                acc = term if acc is None else acc + term
        acc = np.zeros(stacked.shape[1:], cdt) if acc is None else acc
        if dt.kind in "iu":
            info = np.iinfo(dt)
            acc = np.clip(np.rint(acc), info.min, info.max)
        out[i] = acc.astype(dt)
    return out


def nway_labels(labels: np.ndarray, sources: np.ndarray, weights: np.ndarray, classes: int) -> np.ndarray:
    return nway_formula(np.eye(classes, dtype=np.float32)[labels], sources, weights)


NWAY = [mixkit.MixUp(1.0, k=3, num_classes=NUM_CLASSES),
        mixkit.MixUp(0.3, k=4, lam_mode="sample", num_classes=NUM_CLASSES, p=0.8)]


@pytest.mark.parametrize("transform", NWAY, ids=repr)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("kind", ["tensors", "arrays", "strided tensors"])
@pytest.mark.parametrize("hwc", [False, True], ids=["CHW", "HWC"])
def test_nway_mixup_is_the_plan_formula(transform, dtype, kind, hwc):
    data, _ = samples(n=9, shape=(6, 7, 3) if hwc else (3, 6, 7), dtype=dtype, seed=8)
    before = data.copy()
    inputs = as_kind(data, kind)
    labels = np.arange(9) % NUM_CLASSES
    x, y = MixCollate(transform, seed=2)([(v, int(c)) for v, c in zip(inputs, labels)])
    seen = (9, 3, 6, 7)
    plan = transform.sample(9, rng=MixCollate(transform, seed=2)._generator(), shape=seen)
    assert isinstance(plan, mixkit.MultiMixPlan) and plan.k == transform.k
    assert x.dtype == torch.from_numpy(data).dtype and tuple(x.shape) == data.shape  # the samples' layout
    assert x.is_contiguous()
    want = nway_formula(data, plan.sources, plan.weights)
    assert x.numpy().tobytes() == want.tobytes()  # bit for bit
    assert y.dtype == torch.float32
    assert np.array_equal(y.numpy(), nway_labels(labels, plan.sources, plan.weights, NUM_CLASSES))
    assert np.array_equal(data, before) and all(np.array_equal(np.asarray(v), d) for v, d in zip(inputs, data))
    assert not np.array_equal(x.numpy(), data)
    # the same as the transform applied to the stacked batch, seen as CHW
    view = torch.from_numpy(data.copy())
    view = view.permute(0, 3, 1, 2) if hwc else view
    want_x, want_y = transform.apply(plan, view, torch.from_numpy(labels))
    assert torch.equal(x.permute(0, 3, 1, 2) if hwc else x, want_x) and torch.equal(y, want_y)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_nway_dtypes_the_kernels_do_not_blend_are_stacked_then_blended(dtype):
    data, batch = samples(n=6, dtype=dtype, seed=3)
    t = mixkit.MixUp(1.0, k=3, num_classes=NUM_CLASSES)
    x, _ = MixCollate(t, seed=0)(batch)
    plan = t.sample(6, rng=MixCollate(t, seed=0)._generator(), shape=data.shape)
    assert torch.equal(x, torch.from_numpy(mixkit.kernels.blend_many(data, plan.sources, plan.weights)))
    assert all(torch.equal(v, torch.from_numpy(d)) for (v, _), d in zip(batch, data))  # inputs untouched


@pytest.mark.parametrize("dtype", KERNEL_DTYPES)
@pytest.mark.parametrize("k", [3, 5])
def test_kernel_blend_many_equals_the_blend_many_kernel(dtype, k):
    rng = np.random.default_rng(k * 31 + len(dtype))
    x, arrays = kernel_batch(dtype)
    src = np.concatenate([np.arange(7)[:, None], rng.integers(0, 7, (7, k - 1))], axis=1)
    w = rng.dirichlet(np.full(k, 0.5), 7)
    w[0] = 0
    w[0, 1] = 1.0  # a copy of another row
    w[1, 1:] = 0
    w[1, 0] = 1 - 1e-12  # rounds to 1: a copy of itself
    w[2, 1] = 0  # a term left out
    w[2] /= w[2].sum()
    w[3] = 0  # no term at all
    w[4] = 1 / k  # equal weights (ties for integers)
    out = np.full((7, x[0].size), 77, dtype)
    assert _collate.blend_many(out, _collate.addresses(arrays), src, w)
    want = mixkit.kernels.blend_many(x, src, w)
    assert out.reshape(x.shape).tobytes() == want.tobytes()  # bit for bit
    assert out.reshape(x.shape).tobytes() == nway_formula(x, src, w).tobytes()


def test_kernel_blend_many_refusals():
    x, arrays = kernel_batch("uint8", n=3)
    addr = _collate.addresses(arrays)
    src = np.array([[0, 1, 2]] * 3)
    w = np.full((3, 3), 1 / 3)
    out = np.full((3, x[0].size), 7, np.uint8)
    assert not _collate.blend_many(out.view(np.int8).astype(np.int64), addr, src, w)  # int64: not blended
    with pytest.raises(ValueError, match="sources must lie"):
        _collate.blend_many(out, addr, src + 1, w)
    with pytest.raises(ValueError, match=r"\(B, k\)"):
        _collate.blend_many(out, addr, src, w[:, :2])
    assert (out == 7).all()


@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8, 3)], ids=["CHW", "HWC"])
def test_nway_two_workers_write_the_plan_formula(shape):
    transform = mixkit.MixUp(1.0, k=3, lam_mode="sample", num_classes=NUM_CLASSES)
    collate = MixCollate(transform, seed=6)
    collate.set_epoch(2)
    loader = DataLoader(Images(n=16, shape=shape), batch_size=4, num_workers=2, collate_fn=WithPlan(collate))
    got = list(loader)
    assert len(got) == 4
    for x, y, plan, stacked, labels, shared in got:
        assert shared and isinstance(plan, mixkit.MultiMixPlan)
        want = nway_formula(stacked.numpy(), plan.sources, plan.weights)
        assert np.array_equal(x.numpy(), want)
        assert np.array_equal(y.numpy(), nway_labels(labels.numpy(), plan.sources, plan.weights, NUM_CLASSES))
    assert any(not torch.equal(x, stacked) for x, _, _, stacked, _, _ in got)


@pytest.mark.parametrize("k", [3, 6])
def test_kernel_one_hot_many_equals_blending_the_one_hot_rows(k):
    rng = np.random.default_rng(k)
    y = rng.integers(0, 4, 7)
    src = np.concatenate([np.arange(7)[:, None], rng.integers(0, 7, (7, k - 1))], axis=1)
    w = rng.dirichlet(np.full(k, 0.4), 7)
    w[0] = 0
    w[0, 2] = 1.0  # a copy of another row
    w[1] = 1 / k
    w[2, 1] = 0
    w[2] /= w[2].sum()
    w[3] = 0  # no term at all
    out = np.full((7, 4), 9, np.float32)
    _collate.mix_one_hot_many(out, y, src, w)
    want = mixkit.kernels.blend_many(np.eye(4, dtype=np.float32)[y], src, w)
    assert out.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="class indices"):
        _collate.mix_one_hot_many(out, y + 4, src, w)

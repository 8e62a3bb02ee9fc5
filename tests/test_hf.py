"""Hugging Face datasets: a mixed copy of a dataset made with a batched map.

Skipped where ``datasets`` is not installed (the default test environment); ``make test-integrations``
runs it.
"""

from __future__ import annotations

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
Image = pytest.importorskip("PIL.Image")

import mixkit
from mixkit.hf import mix_dataset, mix_map_fn

N, C = 16, 3  # 16 rows: with num_proc=2 each shard is two whole batches of 4


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(N, 6, 8, 3), dtype=np.uint8)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=C),
                                  "id": datasets.Value("int64")})
    ds = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(p) for p in pixels], "label": list(np.arange(N) % C), "id": list(range(N))},
        features=features,
    )
    return pixels, ds


def test_mixed_copy_with_image_and_label_features(images):
    pixels, ds = images
    mixed = mix_dataset(ds, mixkit.MixUp(1.0, lam_mode="sample"), seed=3, batch_size=4)
    assert mixed.features["image"] == datasets.Image()
    assert mixed.features["mixed_label"] == datasets.Sequence(datasets.Value("float32"), length=C)
    assert mixed.column_names == ["image", "label", "id", "mixed_label"]
    arr = mixed.with_format("numpy")[:]
    x, t = arr["image"], arr["mixed_label"]
    assert x.shape == pixels.shape and x.dtype == np.uint8
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)
    # every row lies between its own pixels and some partner's in the same map batch
    changed = 0
    for i in range(N):
        group = range(4 * (i // 4), 4 * (i // 4) + 4)
        fits = [j for j in group
                if np.all(x[i] >= np.minimum(pixels[i], pixels[j])) and np.all(x[i] <= np.maximum(pixels[i], pixels[j]))]
        assert fits
        changed += not np.array_equal(x[i], pixels[i])
    assert changed >= 8


def test_same_seed_same_result_whatever_num_proc(images):
    _, ds = images
    t = mixkit.CutMix(1.0, lam_mode="sample")  # PIL images are HWC: cut over H and W
    one = mix_dataset(ds, t, seed=1, batch_size=4).with_format("numpy")[:]
    two = mix_dataset(ds, t, seed=1, batch_size=4, num_proc=2).with_format("numpy")[:]
    np.testing.assert_array_equal(one["image"], two["image"])
    np.testing.assert_array_equal(one["mixed_label"], two["mixed_label"])
    other = mix_dataset(ds, t, seed=2, batch_size=4).with_format("numpy")[:]
    assert not np.array_equal(one["mixed_label"], other["mixed_label"])


@pytest.mark.parametrize("method", ["CutMix", "SaliencyMix"])
def test_cutmix_lam_is_the_kept_fraction(images, method):
    pixels, _ = images
    own_class = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(p) for p in pixels], "label": list(range(N))},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=N)}),
    )
    t = getattr(mixkit, method)(1.0, lam_mode="sample")  # SaliencyMix reads the batch the map gives it
    out = mix_dataset(own_class, t, seed=0, batch_size=8).with_format("numpy")[:]
    x, t = out["image"], out["mixed_label"]
    for i in range(N):
        group = range(8 * (i // 8), 8 * (i // 8) + 8)
        partner = max((j for j in group if j != i), key=lambda j: t[i, j])
        own = np.all(x[i] == pixels[i], axis=-1)
        pasted = np.all(x[i] == pixels[partner], axis=-1)
        # the default axes cut height and width: every pixel keeps all three channels of one image
        assert np.all(own | pasted)
        assert np.mean(own & ~pasted) <= t[i, i] + 1e-6 and np.mean(~own) <= 1 - t[i, i] + 1e-6
    assert np.any(t.max(1) < 1)


def test_axes_that_cut_the_channels_of_pil_images_are_refused(images):
    _, ds = images
    with pytest.raises(ValueError, match=r"CutMix cuts axes \(1, 2\) of the batch, which the map shows to the "
                                         r"transform as \(B, C, H, W\) .* colour channels"):
        mix_dataset(ds, mixkit.CutMix(axes=(1, 2)), seed=0, batch_size=4)


def test_classmix_gets_the_mask_column_and_mixes_it(images):
    pixels, _ = images
    rng = np.random.default_rng(5)
    masks = rng.integers(0, 3, size=(N, 6, 8), dtype=np.uint8)
    ds = datasets.Dataset.from_dict({"image": [Image.fromarray(p) for p in pixels], "label": list(np.arange(N) % C),
                                     "mask": [Image.fromarray(m) for m in masks]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.ClassLabel(num_classes=C),
                                                                "mask": datasets.Image()}))
    out = mix_dataset(ds, mixkit.ClassMix(), seed=0, batch_size=8).with_format("numpy")[:]
    x, m = out["image"], out["mask"]
    changed = 0
    for i in range(N):
        group = range(8 * (i // 8), 8 * (i // 8) + 8)
        # each pixel and its mask value come from the same image: its own or one partner
        src = [j for j in group if np.all((x[i] == pixels[j]).all(-1) | (x[i] == pixels[i]).all(-1))]
        assert src
        j = src[-1] if len(src) > 1 else src[0]
        from_j = (x[i] == pixels[j]).all(-1) & ~(x[i] == pixels[i]).all(-1)
        np.testing.assert_array_equal(m[i][from_j], masks[j][from_j])
        changed += bool(from_j.any())
    assert changed >= 4
    with pytest.raises(ValueError, match="ClassMix needs the 'mask' of each row: give the dataset a 'mask' column"):
        mix_dataset(images[1], mixkit.ClassMix(), seed=0, batch_size=4)


def test_the_map_function_on_array_columns_and_probability_labels():
    rng = np.random.default_rng(1)
    x = rng.random((8, 5)).astype(np.float32)
    probs = rng.dirichlet(np.ones(4), size=8).astype(np.float32)
    ds = datasets.Dataset.from_dict({"x": x.tolist(), "p": probs.tolist()})
    fn = mix_map_fn(mixkit.MixUp(0.4), seed=0, input_column="x", label_column="p", target_column="q")
    out = ds.map(fn, batched=True, batch_size=8, with_indices=True).with_format("numpy")[:]
    assert out["x"].shape == (8, 5) and out["q"].shape == (8, 4)
    np.testing.assert_allclose(out["q"].sum(1), 1.0, rtol=1e-5)
    # the same map function called by hand gives the same rows
    direct = fn({"x": x.tolist(), "p": probs.tolist()}, list(range(8)))
    np.testing.assert_allclose(out["x"], direct["x"], rtol=1e-6)


def test_label_aware_methods_get_their_labels(images):
    _, ds = images
    for t in (mixkit.Remix(num_classes=C, counts=[4, 4, 8]), mixkit.LabelPairedMix(num_classes=C, pairing="inter")):
        out = mix_dataset(ds, t, seed=0, batch_size=8).with_format("numpy")[:]
        y = np.arange(N) % C
        for start in (0, 8):  # each map batch: the plan drawn with that batch's labels
            rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(4, start)))
            x = np.stack([np.asarray(im) for im in ds[start:start + 8]["image"]]).transpose(0, 3, 1, 2)
            plan = t.sample(8, rng=rng, shape=x.shape, x=x, y=y[start:start + 8])
            np.testing.assert_allclose(out["mixed_label"][start:start + 8],
                                       t.mix_labels(plan, y[start:start + 8]), rtol=1e-6)
        np.testing.assert_allclose(out["mixed_label"].sum(1), 1.0, rtol=1e-6)


def test_training_straight_from_the_dataset_with_mixcollate(images):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from mixkit.torch import MixCollate

    _, ds = images
    # the torch format hands images over as CHW tensors: CutMix's default axes (-2, -1)
    collate = MixCollate(mixkit.CutMix(1.0, num_classes=C), seed=0)
    loader = DataLoader(ds.with_format("torch"), batch_size=8, collate_fn=collate, num_workers=2)
    collate.set_epoch(0)
    batches = list(loader)
    assert len(batches) == N // 8
    for k, b in enumerate(batches):
        assert list(b) == ["image", "label", "id"]
        assert b["image"].shape == (8, 3, 6, 8) and b["image"].dtype == torch.uint8
        assert b["label"].shape == (8, C) and torch.allclose(b["label"].sum(1), torch.ones(8))
        assert torch.equal(b["id"], torch.arange(8 * k, 8 * k + 8))


def test_errors(images):
    _, ds = images
    with pytest.raises(TypeError, match="needs a mixkit transform .* got str"):
        mix_map_fn("mixup")
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        mix_map_fn(mixkit.MixUp(), seed=-1)
    with pytest.raises(ValueError, match="needs dense labels"):
        mix_map_fn(mixkit.MixUp(label_format="pair", num_classes=3))
    with pytest.raises(ValueError, match="the dataset has no column 'target'"):
        mix_dataset(ds, mixkit.MixUp(), label_column="target")
    with pytest.raises(TypeError, match="takes a datasets.Dataset, got dict"):
        mix_dataset({"image": []}, mixkit.MixUp())
    fn = mix_map_fn(mixkit.MixUp(num_classes=2))
    with pytest.raises(ValueError, match=r"mixed shapes \[\(2,\), \(3,\)\]"):
        fn({"image": [np.zeros(2), np.zeros(3)], "label": [0, 1]}, [0, 1])
    with pytest.raises(ValueError, match="the batch has no column 'label'"):
        fn({"image": [np.zeros(2)]}, [0])
    with pytest.raises(TypeError, match="with_indices=True"):
        fn({"image": [np.zeros(2)], "label": [0]}, None)

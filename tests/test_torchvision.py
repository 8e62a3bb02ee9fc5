"""torchvision glue: tv_tensors in, tv_tensors out, inside a transforms.v2 pipeline.

torchvision is not a dependency of mixkit nor of its test extra (it needs another torch build): these
tests skip where it is absent. ``make test-torchvision`` builds ``.venv-tv`` and runs them.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from torchvision import tv_tensors
from torchvision.transforms import v2

import mixkit
from mixkit.torchvision import MixTransform

B, C, H, W = 6, 4, 12, 16


def images(dtype=torch.uint8):
    g = torch.Generator().manual_seed(0)
    return tv_tensors.Image(torch.randint(0, 256, (B, 3, H, W), generator=g, dtype=torch.uint8).to(dtype))


def test_classification_in_a_compose_pipeline_keeps_the_types():
    x = images()
    y = torch.arange(B) % C
    pipeline = v2.Compose([v2.ToDtype(torch.float32, scale=True), MixTransform(mixkit.MixUp(num_classes=C), seed=0)])
    xm, ym = pipeline(x, y)
    assert isinstance(xm, tv_tensors.Image) and xm.dtype == torch.float32 and xm.shape == x.shape
    assert ym.shape == (B, C)
    torch.testing.assert_close(ym.sum(1), torch.ones(B))
    # the same plan, replayed with the core API, gives the same batch
    t = mixkit.MixUp(num_classes=C)
    plan = t.sample(B, rng=np.random.default_rng(0), shape=tuple(x.shape))
    want, want_y = t.apply(plan, v2.ToDtype(torch.float32, scale=True)(x).as_subclass(torch.Tensor), y)
    torch.testing.assert_close(xm.as_subclass(torch.Tensor), want)
    torch.testing.assert_close(ym, want_y)


def test_video_batches():
    v = tv_tensors.Video(torch.rand(B, 2, 3, H, W))
    vm, ym = MixTransform(mixkit.CutMix(num_classes=C), seed=1)(v, torch.arange(B) % C)
    assert isinstance(vm, tv_tensors.Video) and vm.shape == v.shape
    assert ym.shape == (B, C)


def test_masks_and_boxes_in_a_dict_follow_the_image():
    x = images()
    g = torch.Generator().manual_seed(1)
    mask = tv_tensors.Mask(torch.randint(0, 3, (B, H, W), generator=g))
    boxes = [tv_tensors.BoundingBoxes(torch.tensor([[1.0, 1.0, 7.0, 9.0]]), format="XYXY", canvas_size=(H, W))
             for _ in range(B)]
    box_labels = [torch.tensor([i % C]) for i in range(B)]
    out = MixTransform(mixkit.CutMix(num_classes=C, lam_mode="sample"), seed=2)(
        {"image": x, "labels": torch.arange(B) % C, "mask": mask, "boxes": boxes, "box_labels": box_labels})
    assert isinstance(out["image"], tv_tensors.Image)
    assert isinstance(out["mask"], tv_tensors.Mask) and out["mask"].shape == mask.shape
    assert all(isinstance(b, tv_tensors.BoundingBoxes) and b.canvas_size == (H, W) for b in out["boxes"])
    assert [len(b) for b in out["boxes"]] == [len(w) for w in out["box_weights"]] == [len(lb) for lb in out["box_labels"]]
    # wherever the image pixel came from the partner, so did the mask pixel
    xi, mi = x.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)
    xo, mo = out["image"].as_subclass(torch.Tensor), out["mask"].as_subclass(torch.Tensor)
    for i in range(B):
        kept = (xo[i] == xi[i]).all(0)
        assert torch.equal(mo[i][kept], mi[i][kept]) or not kept.any()


def test_detection_targets_per_image():
    x = images(torch.float32)
    targets = [{"boxes": tv_tensors.BoundingBoxes(torch.tensor([[2.0, 2.0, 6.0, 8.0], [8.0, 1.0, 15.0, 11.0]]),
                                                  format="XYXY", canvas_size=(H, W)),
                "labels": torch.tensor([1, 2]), "image_id": i} for i in range(B)]
    xm, out = MixTransform(mixkit.MixUp(), seed=3)(x, targets)
    assert isinstance(xm, tv_tensors.Image)
    for i, t in enumerate(out):
        assert t["image_id"] == i
        assert isinstance(t["boxes"], tv_tensors.BoundingBoxes)
        # a blend keeps the own boxes and adds the partner's (none when paired with itself)
        assert len(t["boxes"]) in (2, 4) and len(t["labels"]) == len(t["weights"]) == len(t["boxes"])
        assert torch.all((t["weights"] > 0) & (t["weights"] <= 1))


def test_cxcywh_boxes_keep_their_format():
    x = images(torch.float32)
    targets = [{"boxes": tv_tensors.BoundingBoxes(torch.tensor([[8.0, 6.0, 4.0, 4.0]]), format="CXCYWH",
                                                  canvas_size=(H, W)), "labels": torch.tensor([0])} for _ in range(B)]
    _, out = MixTransform(mixkit.CutMix(), seed=0)(x, targets)
    assert all(t["boxes"].format == tv_tensors.BoundingBoxFormat.CXCYWH for t in out)


def test_same_seed_same_batches():
    x, y = images(torch.float32), torch.arange(B) % C
    a = MixTransform(mixkit.MixUp(num_classes=C, lam_mode="sample"), seed=5)
    b = MixTransform(mixkit.MixUp(num_classes=C, lam_mode="sample"), seed=5)
    first = a(x, y)[1]
    torch.testing.assert_close(first, b(x, y)[1])
    assert not torch.equal(first, a(x, y)[1])  # the stream advances


def test_errors():
    x = images()
    boxes = tv_tensors.BoundingBoxes(torch.zeros(B, 4), format="XYXY", canvas_size=(H, W))
    with pytest.raises(TypeError, match="one BoundingBoxes for the whole batch; give a list"):
        MixTransform(mixkit.CutMix())({"image": x, "boxes": boxes})
    wrong = [tv_tensors.BoundingBoxes(torch.zeros(1, 4), format="XYXY", canvas_size=(5, 5))] * B
    with pytest.raises(ValueError, match=r"has canvas_size \(5, 5\) but the images are \(12, 16\)"):
        MixTransform(mixkit.CutMix())({"image": x, "boxes": wrong})
    with pytest.raises(TypeError, match="takes \\(images, labels\\)"):
        MixTransform(mixkit.MixUp())(x)
    with pytest.raises(ValueError, match="needs an 'image'"):
        MixTransform(mixkit.MixUp())({"pixels": x})
    with pytest.raises(ValueError, match=r"Image batch \(B, C, H, W\), got shape \(3, 12, 16\)"):
        MixTransform(mixkit.MixUp(num_classes=C))(x[0], torch.tensor([0]))
    with pytest.raises(TypeError, match="needs a mixkit transform"):
        MixTransform(v2.MixUp(num_classes=C))
    with pytest.raises(ValueError, match="seed must be a non-negative int or None"):
        MixTransform(mixkit.MixUp(), seed=-1)
    with pytest.raises(ValueError, match=r"targets must hold one dict per image \(6\), got 1"):
        MixTransform(mixkit.MixUp())(x, [{"boxes": boxes}])

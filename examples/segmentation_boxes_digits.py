"""Segmentation masks and boxes from one plan, on scikit-learn's digits placed on a canvas.

Each 24x24 canvas holds two handwritten digits (8x8 images from ``sklearn.datasets.load_digits``)
at random places (the later one on top where they overlap); the segmentation mask gives every inked pixel its digit's class
(1..10, 0 = background) and each digit has a bounding box. The example

mixes canvases with CutMix, ClassMix and Mosaic and checks, on real data, that every mixed mask
pixel carries the label of the image it came from, that every box stays inside the image, and how
many kept boxes still show their digit in the mixed mask (box visibility is measured over the box
area unless ``boxes_follow_mask=True``, which measures it over the object's mask pixels). MixUp gives
per-pixel soft targets. It then trains a small segmenter without mixing and with CutMix, ClassMix
and MixUp (each mixing its masks with the image's plan) and prints the test mean IoU.

Run: ``python examples/segmentation_boxes_digits.py [--seeds N] [--epochs E]`` (a few minutes per seed;
``--seeds 0`` runs only the checks, in seconds).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import mixkit

torch.set_num_threads(1)

SIZE, DIGIT, CLASSES = 24, 8, 11


def canvases(images: np.ndarray, digits: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` canvases (n, 1, 24, 24) float32, masks (n, 32, 32) uint8, boxes and box labels per canvas."""
    x = np.zeros((n, 1, SIZE, SIZE), np.float32)
    m = np.zeros((n, SIZE, SIZE), np.uint8)
    boxes, labels = [], []
    for i in range(n):
        bx, lb = [], []
        for _ in range(2):
            k = int(rng.integers(len(images)))
            img = images[k] / 16.0
            r, c = (int(v) for v in rng.integers(0, SIZE - DIGIT + 1, 2))
            ink = img > 0.25
            region = x[i, 0, r:r + DIGIT, c:c + DIGIT]
            region[ink] = img[ink]
            m[i, r:r + DIGIT, c:c + DIGIT][ink] = digits[k] + 1
            rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
            bx.append([c + cols[0], r + rows[0], c + cols[-1] + 1, r + rows[-1] + 1])
            lb.append(digits[k] + 1)
        boxes.append(np.array(bx, np.float32))
        labels.append(np.array(lb))
    return x, m, boxes, labels


def check_companions(x, m, boxes, labels) -> None:
    """Mix real canvases and verify masks and boxes against the mixed pixels."""
    b = 256
    stride = 10_000.0
    ids = (np.arange(b)[:, None, None] * stride + np.arange(SIZE * SIZE).reshape(1, SIZE, SIZE))[:, None]
    for name, t, follow in [("CutMix", mixkit.CutMix(lam_mode="sample"), False),
                            ("ClassMix", mixkit.ClassMix(), False),
                            ("ClassMix, boxes_follow_mask", mixkit.ClassMix(), True),
                            ("Mosaic", mixkit.Mosaic(), False)]:
        sample = {"image": x[:b], "mask": m[:b], "boxes": boxes[:b], "box_labels": labels[:b]}
        extra = {"mask": m[:b]} if isinstance(t, mixkit.ClassMix) else {}  # ClassMix samples from the mask
        plan = t.sample(b, rng=0, shape=x[:b].shape, **extra)
        out = t.apply(plan, sample, boxes_follow_mask=follow)
        src_img = t.apply(plan, {"image": ids})["image"][:, 0]
        src, pos = (src_img // stride).astype(int), (src_img % stride).astype(int)
        mask_ok = np.mean(out["mask"] == m[:b].reshape(b, -1)[src, pos])
        n_in = sum(len(v) for v in boxes[:b])
        n_out = sum(len(v) for v in out["boxes"])
        shows = []
        for bx, lb, mm in zip(out["boxes"], out["box_labels"], out["mask"]):
            for (x0, y0, x1, y1), c in zip(bx.astype(int), lb):
                shows.append(bool((mm[y0:y1, x0:x1] == c).any()))
        inside = all(np.all((bb[:, :2] >= 0) & (bb[:, 2:] <= SIZE)) for bb in out["boxes"])
        print(f"  {name:28s} mask pixels matching their source: {mask_ok:.4f}; boxes in {n_in} -> out {n_out}; "
              f"kept boxes showing their digit: {np.mean(shows):.4f}; all inside the image: {inside}")


class Segmenter(nn.Module):
    """A small encoder-decoder: two poolings let each pixel see its whole digit."""

    def __init__(self) -> None:
        super().__init__()
        self.f1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU())
        self.f2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.f3 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                                nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Conv2d(64 + 16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, CLASSES, 1))

    def forward(self, x):
        f1 = self.f1(x)
        f3 = self.f3(self.f2(f1))
        up = F.interpolate(f3, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([up, f1], 1))


def miou(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean IoU over the 10 digit classes."""
    ious = [((pred == c) & (target == c)).sum() / max(((pred == c) | (target == c)).sum(), 1)
            for c in range(1, CLASSES)]
    return float(np.mean(ious))


def train(x, m, xt, mt, method: str, seed: int, epochs: int) -> float:
    """Train the segmenter with one mixing method (masks mixed by the same plan); test mean IoU."""
    torch.manual_seed(seed)
    net = Segmenter()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = np.random.default_rng(seed)
    weight = torch.tensor([0.1] + [1.0] * (CLASSES - 1))  # the background covers most pixels
    t = {"none": None, "cutmix": mixkit.CutMix(), "classmix": mixkit.ClassMix(),
         "mixup": mixkit.MixUp(alpha=0.4)}[method]
    xs, ms = torch.from_numpy(x), torch.from_numpy(m.astype(np.int64))
    for _ in range(epochs):
        order = gen.permutation(len(x))
        for s in range(0, len(x), 32):
            idx = torch.from_numpy(order[s:s + 32])
            xb, mb = xs[idx], ms[idx]
            if t is not None:
                out = t({"image": xb, "mask": mb}, rng=gen, mask_classes=CLASSES)
                xb, mb = out["image"], out["mask"]
            logits = net(xb)
            if mb.dtype.is_floating_point:  # MixUp: per-pixel soft targets
                loss = -(mb * F.log_softmax(logits, 1) * weight.view(1, -1, 1, 1)).sum(1).mean()
            else:
                loss = F.cross_entropy(logits, mb, weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(xt)).argmax(1).numpy()
    return miou(pred, mt)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="masks and boxes from one plan on digit canvases")
    parser.add_argument("--seeds", type=int, default=1, help="training runs per method (0: checks only)")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    start = time.time()
    data = load_digits()
    rng = np.random.default_rng(0)
    x, m, boxes, labels = canvases(data.images, data.target, 256, rng)
    print(f"1. {len(x)} canvases of {SIZE}x{SIZE}, {sum(len(b) for b in boxes)} digits; one plan for image, "
          "mask and boxes, checked against where every mixed pixel came from:")
    check_companions(x, m, boxes, labels)
    soft = mixkit.MixUp(num_classes=10)({"image": x, "mask": m}, rng=0, mask_classes=CLASSES)["mask"]
    print(f"  MixUp: per-pixel soft targets {soft.shape}, rows sum to 1: "
          f"{bool(np.allclose(soft.sum(1), 1.0, atol=1e-6))}")
    if args.seeds:
        order = rng.permutation(len(data.images))
        cut = int(0.7 * len(order))
        tr, te = order[:cut], order[cut:]  # digits split before placing: test digits are unseen
        xs, ms, _, _ = canvases(data.images[tr], data.target[tr], 500, rng)
        xt, mt, _, _ = canvases(data.images[te], data.target[te], 300, rng)
        print(f"2. segmentation, {len(xs)} training / {len(xt)} test canvases, {args.epochs} epochs, "
              f"test mean IoU of the 10 digit classes ({args.seeds} seed(s)):")
        for method in ("none", "cutmix", "classmix", "mixup"):
            t0 = time.time()
            scores = [train(xs, ms, xt, mt, method, seed, args.epochs) for seed in range(args.seeds)]
            print(f"  {method:9s} mIoU {np.mean(scores):.3f} +- {np.std(scores):.3f} "
                  f"({', '.join(f'{v:.3f}' for v in scores)}; {time.time() - t0:.0f} s)", flush=True)
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

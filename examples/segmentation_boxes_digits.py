"""Segmentation masks and boxes from one plan, on scikit-learn's digits placed on a canvas.

Each 24x24 canvas holds two handwritten digits (8x8 images from ``sklearn.datasets.load_digits``)
at random places (the later one on top where they overlap); the segmentation mask gives every inked pixel its digit's class
(1..10, 0 = background) and each digit has a bounding box. The example

mixes canvases with CutMix, ClassMix and Mosaic and checks, on real data, that every mixed mask
pixel carries the label of the image it came from, that every box stays inside the image, and how
many kept boxes still show their digit in the mixed mask (box visibility is measured over the box
area unless ``boxes_follow_mask=True``, which measures it over the object's mask pixels). MixUp gives
per-pixel soft targets.

Run: ``python examples/segmentation_boxes_digits.py`` (seconds).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits

import mixkit

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


def main() -> None:
    start = time.time()
    data = load_digits()
    rng = np.random.default_rng(0)
    x, m, boxes, labels = canvases(data.images, data.target, 256, rng)
    print(f"{len(x)} canvases of {SIZE}x{SIZE}, {sum(len(b) for b in boxes)} digits")
    print("one plan for image, mask and boxes; checked against where every mixed pixel came from:")
    check_companions(x, m, boxes, labels)
    soft = mixkit.MixUp(num_classes=10)({"image": x, "mask": m}, rng=0, mask_classes=CLASSES)["mask"]
    print(f"  MixUp: per-pixel soft targets {soft.shape}, rows sum to 1: "
          f"{bool(np.allclose(soft.sum(1), 1.0, atol=1e-6))}")
    print(f"done in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()

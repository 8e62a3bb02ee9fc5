"""docs/img/puzzlemix.png: PuzzleMix on scikit-learn's digits (upscaled to 32x32), saliency from a small
CNN trained for a few epochs on them.

    python examples/puzzlemix_picture.py --out docs/img/puzzlemix.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from mixkit.torch import PuzzleMix


def data() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=32, mode="bilinear", align_corners=False).clamp(0, 1)
    return x, torch.tensor(d.target)


def train(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/img/puzzlemix.png")
    args = ap.parse_args()
    x, y = data()
    model = train(x, y)
    pick = torch.tensor([0, 11, 23, 36, 44, 57])
    xb, yb = x[pick], y[pick]
    pm = PuzzleMix(1.0, num_classes=10, block_counts=(8,))
    res = pm(model, xb, yb, rng=7)
    p = res.plan
    sal = pm.saliency(model, xb, yb)
    b = len(pick)
    rows = ["image", "partner", "saliency", "mask (own share)", "own, transported", "PuzzleMix"]
    fig, axes = plt.subplots(len(rows), b, figsize=(1.25 * b, 1.35 * len(rows)))
    from mixkit.torch.puzzlemix import _move_blocks

    moved = _move_blocks(xb, p.transport_own, p.transport_count)
    for i in range(b):
        j = int(p.partner[i])
        panels = [xb[i, 0], xb[j, 0], sal[i], p.mask[i], moved[i, 0], res.x[i, 0]]
        for r, img in enumerate(panels):
            ax = axes[r, i]
            ax.imshow(img.numpy(), cmap="magma" if r == 2 else "gray", vmin=0 if r != 2 else None,
                      vmax=1 if r != 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(rows[r], fontsize=7)
        axes[0, i].set_title(f"y={int(yb[i])}", fontsize=8)
        axes[1, i].set_title(f"y={int(yb[j])}", fontsize=8)
        top = np.argsort(-res.y[i].numpy())[:2]
        axes[5, i].set_title(f"lam={float(p.lam[i]):.2f}", fontsize=7)
        axes[5, i].set_xlabel(", ".join(f"{k}:{res.y[i, k]:.2f}" for k in top if res.y[i, k] > 0), fontsize=7)
    fig.suptitle(f"PuzzleMix, {p.block_count}x{p.block_count} blocks, 3 levels, transport (lam prior "
                 f"{p.lam_prior:.2f})", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out, p.block_count, p.lam.numpy().round(3), p.partner)


if __name__ == "__main__":
    main()

"""Video (B, T, C, H, W): CutMix as a tube, CutMix as a 3-D box, and MixUp, on moving digits.

Each clip is one of scikit-learn's bundled 8x8 digit images drifting in a straight line across a
16x16 canvas over 8 frames; its label is the digit. The example

1. mixes one batch with a tube CutMix (``CutMix(axes=(-2, -1))``: the same box in every frame), a
   3-D CutMix box over time and space (``CutMix(axes=(1, -2, -1))``) and MixUp, and checks that each
   mixed clip's label weights equal the fraction of its voxels that came from each source clip (the
   source fractions are measured by mixing indicator clips with the same plan);
2. trains a small 3-D CNN on a low-data split (20 clips per class) without mixing, with MixUp, with
   tube CutMix and with 3-D CutMix, over paired seeds (the same split, initial weights and batch order
   for every method of a seed), and prints the test accuracy, mean +- std.

Needs torch and scikit-learn. Run: ``python examples/video_digits.py [--seeds 3] [--epochs 150]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import mixkit
from mixkit.torch import soft_cross_entropy

torch.set_num_threads(1)

FRAMES, CANVAS, CLASSES = 8, 16, 10


def make_clips(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, T, 1, H, W)`` float32 clips: each 8x8 image moves on a straight path across the canvas."""
    n, room = len(images), CANVAS - 8
    clips = np.zeros((n, FRAMES, 1, CANVAS, CANVAS), np.float32)
    start = rng.uniform(0, room, size=(n, 2))
    end = rng.uniform(0, room, size=(n, 2))
    for t in range(FRAMES):
        pos = np.rint(start + (end - start) * t / (FRAMES - 1)).astype(int)
        for i in range(n):
            r, c = pos[i]
            clips[i, t, 0, r : r + 8, c : c + 8] = images[i]
    return clips


def load(seed: int, per_class: int = 20):
    """A low-data split of clips: ``per_class`` training clips per digit, the rest for testing."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    clips = make_clips(images, rng)
    order = rng.permutation(len(labels))
    train = np.concatenate([order[labels[order] == k][:per_class] for k in range(CLASSES)])
    test = np.setdiff1d(np.arange(len(labels)), train)
    return clips[train], labels[train], clips[test], labels[test]


def source_fractions(plan, shape: tuple[int, ...]) -> np.ndarray:
    """``W[i, j]``: the share of mixed clip i's voxels (value weight, for blends) taken from clip j.

    Mixes indicator clips (clip j all ones, the others zero) with the same plan."""
    b = shape[0]
    w = np.zeros((b, b))
    for j in range(b):
        ind = np.zeros(shape, np.float64)
        ind[j] = 1.0
        w[:, j] = np.asarray(mixkit.apply_plan(plan, ind)).reshape(b, -1).mean(axis=1)
    return w


def check(x: np.ndarray, y: np.ndarray) -> None:
    """Label weights of a mixed batch against the voxel fractions of each source, per method."""
    methods = {
        "tube CutMix, axes=(-2, -1)": mixkit.CutMix(
            axes=(-2, -1), num_classes=CLASSES, lam_mode="sample"
        ),
        "3-D CutMix, axes=(1, -2, -1)": mixkit.CutMix(
            axes=(1, -2, -1), num_classes=CLASSES, lam_mode="sample"
        ),
        "MixUp": mixkit.MixUp(num_classes=CLASSES, lam_mode="sample"),
    }
    print(f"label weights vs voxel sources, batch of {len(x)} clips {tuple(x.shape[1:])}:")
    onehot = np.eye(CLASSES)[y]
    for name, t in methods.items():
        plan = t.sample(len(x), rng=0, shape=x.shape)
        xm, ym = t.apply(plan, x, y)
        w = source_fractions(plan, x.shape)
        want = w @ onehot  # label weights implied by where the voxels came from
        copied = ""
        if isinstance(plan, mixkit.BoxPlan):  # a paste copies: each voxel is one of its two sources
            ok = bool(np.all((xm == x) | (xm == x[plan.partner])) and np.all(w.sum(axis=1) == 1.0))
            copied = f"; every voxel copied from a source: {ok}"
            assert ok, name
        lam = np.asarray(plan.lam)
        lam_vs_own = np.abs(lam - np.diag(w)).max()  # lam is the own share of the voxels
        diff = np.abs(np.asarray(ym, np.float64) - want).max()
        print(
            f"  {name:29s} lam in [{lam.min():.3f}, {lam.max():.3f}]; |lam - own voxel share| max "
            f"{lam_vs_own:.1e}; |label weights - voxel shares| max {diff:.1e} (float32 labels){copied}"
        )
        tol = 0.0 if isinstance(plan, mixkit.BoxPlan) else 1e-12  # box shares are counts: exact
        assert lam_vs_own <= tol and diff < 1e-6, name


class Net(nn.Module):
    """A small 3-D CNN: three conv blocks over (T, H, W), global average pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(1, 16, 3, padding=1),
            nn.GroupNorm(4, 16),
            nn.ReLU(),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(16, 32, 3, padding=1),
            nn.GroupNorm(4, 32),
            nn.ReLU(),
            nn.MaxPool3d(2),
            nn.Conv3d(32, 32, 3, padding=1),
            nn.GroupNorm(4, 32),
            nn.ReLU(),
        )
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, C, H, W)
        h = self.body(x.transpose(1, 2))  # Conv3d wants (B, C, T, H, W)
        return self.head(h.mean(dim=(2, 3, 4)))


def train(method: str, data, seed: int, epochs: int) -> float:
    xtr, ytr, xte, yte = data
    mixers = {
        "none": None,
        "MixUp": mixkit.MixUp(alpha=1.0, num_classes=CLASSES),
        "tube CutMix": mixkit.CutMix(alpha=1.0, axes=(-2, -1), num_classes=CLASSES),
        "3-D CutMix": mixkit.CutMix(alpha=1.0, axes=(1, -2, -1), num_classes=CLASSES),
    }
    mixer = mixers[method]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the same initial weights for every method of this seed
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    mix_rng = np.random.default_rng(seed + 1000)
    steps = epochs * ((len(xtr) + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        order = torch.randperm(len(xtr), generator=g)
        for k in range(0, len(xtr), 32):
            idx = order[k : k + 32]
            xb, yb = xtr_t[idx], ytr_t[idx]
            if mixer is None:
                loss = F.cross_entropy(model(xb), yb)
            else:
                xm, ym = mixer(xb, yb.numpy(), rng=mix_rng)
                loss = soft_cross_entropy(model(xm), torch.as_tensor(ym))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat(
            [model(torch.from_numpy(xte[k : k + 256])).argmax(1) for k in range(0, len(xte), 256)]
        )
    return float((pred.numpy() == yte).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--per-class", type=int, default=20)
    args = ap.parse_args()
    t0 = time.time()
    xtr, ytr, _, _ = load(0, args.per_class)
    pick = np.random.default_rng(0).choice(len(ytr), 32, replace=False)  # all digits, shuffled
    check(xtr[pick], ytr[pick])
    methods = ["none", "MixUp", "tube CutMix", "3-D CutMix"]
    acc = {m: [] for m in methods}
    for seed in range(args.seeds):
        data = load(seed, args.per_class)
        for m in methods:
            acc[m].append(train(m, data, seed, args.epochs))
            print(
                f"seed {seed} {m:12s} test accuracy {acc[m][-1]:.3f}  ({time.time() - t0:.0f} s)",
                flush=True,
            )
    print(
        f"\n{args.per_class} training clips per class ({len(data[0])}), {len(data[2])} test clips, "
        f"{args.epochs} epochs, seeds 0..{args.seeds - 1}:"
    )
    for m in methods:
        a = np.array(acc[m])
        print(
            f"  {m:12s} {a.mean():.3f} +- {a.std():.3f}   per seed: {', '.join(f'{v:.3f}' for v in a)}"
        )
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""Time series with padding: MixUp and span CutMix on UCR/UEA sets bundled with aeon.

GunPoint and ItalyPowerDemand (univariate), BasicMotions (6 channels) and JapaneseVowels (12
channels, 7 to 29 steps, padded with a padding mask). A small 1-D CNN with masked average pooling is
trained without mixing, with MixUp and with span CutMix (``CutMix(axes=(-1,))``); for the padded set
both are fitted to each series' valid length and return the padding mask of the mix, so padding never
reaches a valid step. Prints the test accuracy (mean over seeds) and, for JapaneseVowels, checks that
no padded value leaked.

Needs ``aeon`` or ``sktime`` (both bundle these sets; ``pip install -e ".[examples]"``). Run: ``python examples/timeseries_ucr.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import mixkit
from mixkit.torch import soft_cross_entropy

torch.set_num_threads(1)


def _read(name: str, split: str):
    """``(x, y)``: x a (n, C, T) array, or a list of (C, T_i) arrays for unequal lengths.

    Uses aeon's bundled copies when aeon is installed, else sktime's (both ship these sets)."""
    fn = {"GunPoint": "load_gunpoint", "ItalyPowerDemand": "load_italy_power_demand",
          "BasicMotions": "load_basic_motions", "JapaneseVowels": "load_japanese_vowels"}[name]
    try:
        from aeon import datasets

        return getattr(datasets, fn)(split=split)
    except ImportError:
        from sktime import datasets
    if name != "JapaneseVowels":
        return getattr(datasets, fn)(split=split, return_X_y=True, return_type="numpy3D")
    x, y = getattr(datasets, fn)(split=split, return_X_y=True)
    return [np.stack([x.iloc[i, c].to_numpy() for c in range(x.shape[1])]) for i in range(len(x))], np.asarray(y)


def load(name: str):
    out = []
    classes = None
    for split in ("train", "test"):
        x, y = _read(name, split)
        classes = sorted(set(y)) if classes is None else classes
        y = np.array([classes.index(v) for v in y])
        if isinstance(x, list):  # variable length: pad to the longest, keep a padding mask
            steps = max(a.shape[1] for a in x)
            arr = np.zeros((len(x), x[0].shape[0], steps), np.float32)
            valid = np.zeros((len(x), steps), bool)
            for i, a in enumerate(x):
                arr[i, :, : a.shape[1]] = a
                valid[i, : a.shape[1]] = True
        else:
            arr = np.asarray(x, np.float32)
            valid = np.ones((arr.shape[0], arr.shape[2]), bool)
        out.append((arr, valid, y))
    (xtr, vtr, ytr), (xte, vte, yte) = out
    mean = xtr.mean(axis=(0, 2), keepdims=True, where=vtr[:, None])
    std = xtr.std(axis=(0, 2), keepdims=True, where=vtr[:, None]) + 1e-6
    xtr = np.where(vtr[:, None], (xtr - mean) / std, 0).astype(np.float32)
    xte = np.where(vte[:, None], (xte - mean) / std, 0).astype(np.float32)
    return xtr, vtr, ytr, xte, vte, yte, len(classes)


class CNN(nn.Module):
    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(channels, 32, 7, padding=3), nn.GroupNorm(4, 32), nn.ReLU(),
                                  nn.Conv1d(32, 32, 5, padding=2), nn.GroupNorm(4, 32), nn.ReLU(),
                                  nn.Conv1d(32, 32, 3, padding=1), nn.GroupNorm(4, 32), nn.ReLU())
        self.head = nn.Linear(32, classes)

    def forward(self, x, valid):
        h = self.body(x) * valid[:, None]
        return self.head(h.sum(-1) / valid.sum(-1, keepdim=True).clamp(min=1))


def train(data, method: str, seed: int, epochs: int = 150) -> float:
    xtr, vtr, ytr, xte, vte, yte, classes = data
    torch.manual_seed(seed)
    net = CNN(xtr.shape[1], classes)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = np.random.default_rng(seed)
    t = {"none": None, "mixup": mixkit.MixUp(alpha=0.4, num_classes=classes),
         "cutmix": mixkit.CutMix(alpha=1.0, axes=(-1,), num_classes=classes)}[method]
    x, v, y = torch.from_numpy(xtr), torch.from_numpy(vtr), torch.from_numpy(ytr)
    batch = 32
    for _ in range(epochs):
        order = gen.permutation(len(x))
        for s in range(0, len(x), batch):
            idx = torch.from_numpy(order[s:s + batch])
            xb, vb, yb = x[idx], v[idx], y[idx]
            if len(idx) < 2:
                continue
            if t is None:
                target = F.one_hot(yb, classes).float()
            else:
                out = t({"x": xb, "padding_mask": vb, "labels": yb}, rng=gen, time_axis=-1)
                xb, vb, target = out["x"], out["padding_mask"], out["labels"]
            loss = soft_cross_entropy(net(xb, vb.float()), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(xte), torch.from_numpy(vte).float()).argmax(1).numpy()
    return float((pred == yte).mean())


def leak_check(data) -> None:
    xtr, vtr, ytr, classes = data[0], data[1], data[2], data[6]
    poisoned = np.where(vtr[:, None], xtr, np.nan).astype(np.float32)
    for name, t in (("MixUp", mixkit.MixUp(num_classes=classes)),
                    ("CutMix", mixkit.CutMix(axes=(-1,), num_classes=classes, lam_mode="sample"))):
        out = t({"x": poisoned, "padding_mask": vtr, "labels": ytr}, rng=0, time_axis=-1)
        finite = bool(np.isfinite(out["x"]).all())
        zero_outside = bool((out["x"][~np.broadcast_to(out["padding_mask"][:, None], out["x"].shape)] == 0).all())
        print(f"  {name}: padding filled with NaN -> output all finite: {finite}; zero outside the returned "
              f"padding mask: {zero_outside}; valid steps {int(vtr.sum())} -> {int(out['padding_mask'].sum())}")


def main() -> None:
    start = time.time()
    seeds = (0, 1, 2)
    for name in ("GunPoint", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels"):
        data = load(name)
        print(f"{name}: train {data[0].shape}, test {data[3].shape}, {data[6]} classes, "
              f"lengths {data[1].sum(1).min()}..{data[1].sum(1).max()}")
        if name == "JapaneseVowels":
            leak_check(data)
        for method in ("none", "mixup", "cutmix"):
            accs = [train(data, method, s) for s in seeds]
            print(f"  {method:7s} test accuracy {np.mean(accs):.3f} +- {np.std(accs):.3f} "
                  f"({', '.join(f'{a:.3f}' for a in accs)})", flush=True)
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

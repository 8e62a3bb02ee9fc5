"""MixMatch on digits with 10 labelled images per class: does the unlabelled data help?

Per seed, the 8x8 digits of scikit-learn are split into a balanced test set (50 per class), 10
labelled images per class, and the rest as unlabelled data (about 1200 images). A small CNN with
batch norm is trained for the same number of steps with:

- ``supervised``: the 100 labelled images only;
- ``supervised_mixup``: the same with MixUp (alpha 0.75);
- ``mixmatch``: :class:`mixkit.torch.MixMatch` with the paper's defaults (K=2, T=0.5, alpha=0.75,
  lambda_u=75, linear ramp-up);
- ``mixmatch_nomix``: MixMatch without its MixUp step (the paper's ablation).

Augmentation: a random shift of up to one pixel. Adam (lr 2e-3); the final weights are evaluated
(the paper evaluates an exponential moving average of the weights over a far longer run; with a
thousand steps such an average still holds much of the early network). Same data split and initial
weights for every method of a seed.

    python examples/mixmatch_digits.py --seeds 5 --out examples/results/mixmatch_digits.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import mixkit
from mixkit.torch import MixMatch, soft_cross_entropy

METHODS = ("supervised", "supervised_mixup", "mixmatch", "mixmatch_nomix")


def split(seed: int, n_labelled: int = 10, n_test: int = 50):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    gen = np.random.default_rng(seed)
    lab, unl, test = [], [], []
    for c in range(10):
        idx = gen.permutation(np.flatnonzero(y == c))
        test.append(idx[:n_test])
        lab.append(idx[n_test : n_test + n_labelled])
        unl.append(idx[n_test + n_labelled :])
    lab, unl, test = (np.concatenate(a) for a in (lab, unl, test))
    return x[lab], y[lab], x[unl], x[test], y[test]


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


def shift(x: torch.Tensor, gen: np.random.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel in each direction (zero padding)."""
    b = x.shape[0]
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    dy = torch.from_numpy(gen.integers(0, 3, size=b))
    dx = torch.from_numpy(gen.integers(0, 3, size=b))
    rows = (dy[:, None] + torch.arange(8))[:, :, None]
    cols = (dx[:, None] + torch.arange(8))[:, None, :]
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)


def train_one(method: str, seed: int, steps: int, batch: int = 64) -> float:
    xl, yl, xu, xte, yte = split(seed)
    model = make_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = np.random.default_rng([seed, 2])
    xl_t, yl_t, xu_t = torch.from_numpy(xl), torch.from_numpy(yl), torch.from_numpy(xu)
    mixup = mixkit.MixUp(0.75, lam_mode="sample", num_classes=10)
    mm = MixMatch(10, K=2, T=0.5, alpha=0.75, lambda_u=75.0, rampup_steps=steps // 3,
                  augment=lambda u: shift(u, gen), mixup=(method == "mixmatch"))
    model.train()
    for step in range(steps):
        idx = torch.from_numpy(gen.integers(0, len(yl), size=batch))
        xb, yb = shift(xl_t[idx], gen), yl_t[idx]
        if method == "supervised":
            loss = nn.functional.cross_entropy(model(xb), yb)
        elif method == "supervised_mixup":
            xm, target = mixup(xb, yb, rng=gen)
            loss = soft_cross_entropy(model(xm), target)
        else:
            ub = xu_t[torch.from_numpy(gen.integers(0, len(xu), size=batch))]
            loss = mm(model, xb, yb, ub, step=step, rng=gen).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(xte)).argmax(1).numpy()
    return float(np.mean(pred == yte))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--summary", type=Path, nargs="+", default=None,
                    help="only merge these result files (runs split over processes) and print the table")
    args = ap.parse_args()
    if args.summary:
        summarize(args.summary)
        return
    torch.set_num_threads(1)
    results: dict = {"steps": args.steps, "runs": {}}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for method in args.methods:
        t0 = time.perf_counter()
        scores = [train_one(method, s, args.steps) for s in seeds]
        results["runs"][method] = {"seeds": list(seeds), "accuracy": scores}
        print(f"{method:18s} test acc {100 * np.mean(scores):.2f} +- {100 * np.std(scores, ddof=1) if len(scores) > 1 else 0.0:.2f} "
              f"{[round(100 * s, 1) for s in scores]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


def summarize(paths: list[Path]) -> None:
    """Markdown table over the seeds of several result files: mean +- std, paired difference to supervised."""
    acc: dict[str, dict[int, float]] = {}
    for path in paths:
        for method, run in json.loads(path.read_text())["runs"].items():
            acc.setdefault(method, {}).update(zip(run["seeds"], run["accuracy"]))
    base = acc.get("supervised", {})
    print("| method | seeds | test acc. (%) | vs supervised (paired, pp, mean ± s.e.) | wins |")
    print("|---|---|---|---|---|")
    for method in METHODS:
        if method not in acc:
            continue
        seeds = sorted(acc[method])
        s = 100 * np.array([acc[method][k] for k in seeds])
        row = f"| {method} | {len(seeds)} | {s.mean():.2f} ± {s.std(ddof=1):.2f} |"
        common = [k for k in seeds if k in base]
        if method != "supervised" and len(common) > 1:
            d = 100 * np.array([acc[method][k] - base[k] for k in common])
            row += f" {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(d.size):.2f} | {int((d > 0).sum())}/{d.size} |"
        else:
            row += " | |"
        print(row)
    mm, nomix = acc.get("mixmatch", {}), acc.get("mixmatch_nomix", {})
    common = sorted(set(mm) & set(nomix))
    if len(common) > 1:
        d = 100 * np.array([mm[k] - nomix[k] for k in common])
        print(f"\nMixUp step (mixmatch - mixmatch_nomix, paired over {len(common)} seeds): "
              f"{d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(d.size):.2f} pp, better on {int((d > 0).sum())}, "
              f"worse on {int((d < 0).sum())}")


if __name__ == "__main__":
    main()

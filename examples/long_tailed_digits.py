"""Long-tailed digits: does label-aware mixing help the rare classes?

The 8x8 digits of scikit-learn are split per seed into a balanced test set (50 images per class) and
a long-tailed training set: class ``k`` of a seed-shuffled class order keeps
``round(n_max * ratio ** (-k / 9))`` images (imbalance ratio 10 and 50). A small MLP is trained with
no mixing, class-balanced resampling, MixUp, Balanced-MixUp and Remix, on the same data and
initial weights for a given seed (paired seeds). The score is balanced accuracy on the test set.

    python examples/long_tailed_digits.py --ratios 10 50 --seeds 10 --out examples/results/long_tailed_digits.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score
from torch import nn

import mixkit
from mixkit.torch import soft_cross_entropy

METHODS = ("none", "resample", "mixup", "balanced_mixup", "balanced_mixup_loader", "remix")


def split(seed: int, ratio: float, n_max: int = 120, n_test: int = 50):
    """Balanced test set and long-tailed training set for one seed."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    gen = np.random.default_rng(seed)
    order = gen.permutation(10)  # which digit is the head, which the tail
    train_idx, test_idx = [], []
    counts = np.zeros(10, dtype=np.int64)
    for rank, c in enumerate(order):
        idx = gen.permutation(np.flatnonzero(y == c))
        test_idx.append(idx[:n_test])
        n = max(1, round(n_max * ratio ** (-rank / 9)))
        train_idx.append(idx[n_test : n_test + n])
        counts[c] = n
    tr, te = np.concatenate(train_idx), np.concatenate(test_idx)
    return x[tr], y[tr], x[te], y[te], counts


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))


def mix_with_balanced_draw(xb, yb, xt, yt, weights, gen, alpha: float = 0.2):
    """Balanced-MixUp as in its paper: each sample of the (instance-sampled) batch is mixed with a sample
    drawn by a class-balanced sampler from the whole training set, not from the batch. Written with the
    public plan API: the two batches are concatenated and the plan pairs row i with row B + i."""
    b = len(yb)
    drawn = torch.from_numpy(gen.choice(len(yt), size=b, p=weights))
    x_cat, y_cat = torch.cat([xb, xt[drawn]]), torch.cat([yb, yt[drawn]])
    own = gen.beta(1.0, alpha, size=b)  # the instance sample keeps the larger share, lam ~ Beta(1, alpha)
    plan = mixkit.MixPlan(partner=np.concatenate([np.arange(b, 2 * b), np.arange(b, 2 * b)]),
                          lam=np.concatenate([own, np.ones(b)]))
    x_mixed = mixkit.apply_plan(plan, x_cat)[:b]
    targets = mixkit.mix_targets(mixkit.as_targets(y_cat, num_classes=10), plan.partner, plan.lam)[:b]
    return x_mixed, targets


def train_one(method: str, seed: int, ratio: float, epochs: int, batch: int = 64) -> float:
    xtr, ytr, xte, yte, counts = split(seed, ratio)
    model = make_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-4)
    gen = np.random.default_rng([seed, 1])
    transform = {
        "mixup": mixkit.MixUp(1.0, num_classes=10),
        "balanced_mixup": mixkit.BalancedMixUp(0.2, num_classes=10),
        "remix": mixkit.Remix(1.0, kappa=3.0, tau=0.5, counts=counts, num_classes=10),
    }.get(method)
    n = len(ytr)
    weights = 1.0 / counts[ytr]
    weights /= weights.sum()
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(epochs):
        if method == "resample":
            order = gen.choice(n, size=n, p=weights)
        else:
            order = gen.permutation(n)
        for s in range(0, n, batch):
            idx = torch.from_numpy(order[s : s + batch])
            xb, yb = xt[idx], yt[idx]
            if method == "balanced_mixup_loader":
                xm, target = mix_with_balanced_draw(xb, yb, xt, yt, weights, gen)
                loss = soft_cross_entropy(model(xm), target)
            elif transform is None:
                loss = nn.functional.cross_entropy(model(xb), yb)
            else:
                xm, target = transform(xb, yb, rng=gen)
                loss = soft_cross_entropy(model(xm), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = model(torch.from_numpy(xte)).argmax(1).numpy()
    return float(balanced_accuracy_score(yte, pred))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratios", type=float, nargs="+", default=[10.0, 50.0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    results: dict = {"epochs": args.epochs, "seeds": args.seeds, "runs": {}}
    for ratio in args.ratios:
        for method in args.methods:
            t0 = time.perf_counter()
            scores = [train_one(method, seed, ratio, args.epochs) for seed in range(args.seeds)]
            results["runs"][f"{ratio:g}/{method}"] = scores
            print(f"ratio {ratio:g} {method:15s} balanced acc {100 * np.mean(scores):.2f} "
                  f"+- {100 * np.std(scores, ddof=1) if len(scores) > 1 else 0.0:.2f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    summarize(results)


def summarize(results: dict) -> None:
    """Markdown table: mean +- std, and the paired difference to no mixing with its wins."""
    runs = results["runs"]
    ratios = sorted({k.split("/")[0] for k in runs}, key=float)
    print("\n| ratio | method | balanced acc. (%) | vs none (paired, pp) | wins |")
    print("|---|---|---|---|---|")
    for r in ratios:
        base = np.array(runs.get(f"{r}/none", []))
        for m in METHODS:
            key = f"{r}/{m}"
            if key not in runs:
                continue
            s = np.array(runs[key])
            row = f"| {r} | {m} | {100 * s.mean():.2f} ± {100 * s.std(ddof=1):.2f} |"
            if m != "none" and base.size == s.size:
                d = 100 * (s - base)
                row += f" {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(d.size):.2f} | {int((d > 0).sum())}/{d.size} |"
            else:
                row += " | |"
            print(row)


if __name__ == "__main__":
    main()

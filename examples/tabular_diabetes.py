"""Tabular rows: numeric columns blended, a categorical column taken whole, on scikit-learn's
bundled diabetes table (442 patients, 10 columns; ``sex`` is a two-valued categorical column).

The target is whether disease progression after a year is above the median. A small MLP is trained
without mixing, with plain MixUp (which blends ``sex`` into values between its two codes) and with
``TabularMixUp(categorical=[sex])`` (which takes ``sex`` whole from one of the two rows). Prints how
many distinct ``sex`` values the mixed batches hold, and test accuracy and NLL over random splits.

Run: ``python examples/tabular_diabetes.py`` (under a minute).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_diabetes
from torch import nn

import mixkit
from mixkit.torch import soft_cross_entropy

torch.set_num_threads(1)


def run(x, y, train, test, method: str, seed: int, sex: int, steps: int = 300) -> tuple[float, float, int]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    gen = np.random.default_rng(seed)
    t = {"none": None, "mixup": mixkit.MixUp(alpha=0.4, num_classes=2),
         "tabular": mixkit.TabularMixUp(alpha=0.4, categorical=[sex], num_classes=2)}[method]
    xs, ys = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    sex_values: set[float] = set()
    for _ in range(steps):
        idx = torch.from_numpy(gen.choice(len(xs), 64, replace=False))
        xb, yb = xs[idx], ys[idx]
        if t is None:
            target = F.one_hot(yb, 2).float()
        else:
            xb, target = t(xb, yb, rng=gen)
        sex_values.update(np.round(xb[:, sex].numpy(), 6).tolist())
        loss = soft_cross_entropy(net(xb), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = net(torch.from_numpy(x[test]))
    yt = torch.from_numpy(y[test])
    acc = float((logits.argmax(1) == yt).float().mean())
    return acc, float(F.cross_entropy(logits, yt)), len(sex_values)


def main() -> None:
    start = time.time()
    data = load_diabetes()
    names = list(data.feature_names)
    sex = names.index("sex")
    x = data.data.astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    y = (data.target > np.median(data.target)).astype(np.int64)
    print(f"{len(x)} rows, columns {names}; 'sex' takes {len(np.unique(x[:, sex]))} values")
    splits = 10
    res: dict[str, list[tuple[float, float, int]]] = {"none": [], "mixup": [], "tabular": []}
    for s in range(splits):
        order = np.random.default_rng(s).permutation(len(x))
        train, test = order[:300], order[300:]
        for method, scores in res.items():
            scores.append(run(x, y, train, test, method, s, sex))
    for method, scores in res.items():
        a = np.array(scores)
        print(f"  {method:8s} accuracy {a[:, 0].mean():.3f} +- {a[:, 0].std():.3f}   NLL {a[:, 1].mean():.3f} "
              f"+- {a[:, 1].std():.3f}   distinct 'sex' values seen in training batches: {int(a[:, 2].max())}")
    print(f"done in {time.time() - start:.0f} s ({splits} random 300/142 splits)")


if __name__ == "__main__":
    main()

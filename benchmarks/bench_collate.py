"""What mixing in the collate_fn adds to collation, on uint8 images (default 128 x 3 x 224 x 224).

Times the collate functions on a list of ``(image, label)`` samples, one thread, in one of three ways:
``--where worker`` (default): the collate call alone, timed inside a DataLoader worker (where
default_collate and MixCollate allocate the batch in shared memory); ``--where loader``: the time
between batches reaching the main process from one worker, which adds the transfer (a batch not
already in shared memory, as timm's, is copied there on the way); ``--where main``: the call in the
main process. The cases:

- ``copy``: one ``memcpy`` of a batch-sized buffer (the floor the target is stated in);
- ``default_collate``: torch's collation without mixing (the baseline);
- ``MixCollate(MixUp)``, ``MixCollate(CutMix)`` (one lam per batch) and ``MixUp`` with one lam per sample;
- ``stack + apply_plan``: default collation, then the kernels mixing the stacked batch in place;
- timm's ``FastCollateMixup`` (mixup only, cutmix only), when timm is importable.

Reported: the median and the fastest of ``--repeats`` calls, and ``added / copy``: (method - default_collate) divided
by the copy time (both from the medians). The target is ``added / copy <= 1``.

    python benchmarks/bench_collate.py [--batch 128] [--size 224] [--repeats 15] [--where worker]
                                       [--json out.json]
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

WHERE = {"worker": "timed inside a DataLoader worker", "loader": "timed between batches from a 1-worker DataLoader",
         "main": "timed in the main process"}


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


class Samples(Dataset):
    """``repeats + 1`` batches' worth of indices over ``batch`` fixed samples."""

    def __init__(self, samples: list, repeats: int) -> None:
        self.samples, self.n = samples, len(samples) * (repeats + 1)

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


def timed_through_loader(fn: Callable[[list], Any], samples: list, repeats: int) -> list[float]:
    """Seconds between batches arriving in the main process from one worker: collation plus the
    transfer to the main process (a tensor not already in shared memory is copied there)."""
    loader = DataLoader(Samples(samples, repeats + 2), batch_size=len(samples), num_workers=1,
                        collate_fn=fn, prefetch_factor=1)
    times, last = [], None
    for k, _ in enumerate(loader):
        now = time.perf_counter()
        if k >= 2 and last is not None:  # the first batches warm up
            times.append(now - last)
        last = now
    return times


def timed_in_worker(fn: Callable[[list], Any], samples: list, repeats: int) -> list[float]:
    loader = DataLoader(Samples(samples, repeats), batch_size=len(samples), num_workers=1,
                        collate_fn=Timed(fn))
    return [float(t) for t in loader][1:]  # the first batch warms up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--where", choices=("worker", "loader", "main"), default="worker")
    ap.add_argument("--json", type=pathlib.Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    b, s = args.batch, args.size
    images = rng.integers(0, 256, size=(b, 3, s, s), dtype=np.uint8)
    tensors = [(torch.from_numpy(images[i].copy()), i % 1000) for i in range(b)]
    arrays = [(images[i].copy(), i % 1000) for i in range(b)]
    src = np.ascontiguousarray(images)
    dst = np.empty_like(src)

    mixup = MixCollate(mixkit.MixUp(1.0, num_classes=1000), seed=0)
    mixup_sample = MixCollate(mixkit.MixUp(1.0, lam_mode="sample", num_classes=1000), seed=0)
    cutmix = MixCollate(mixkit.CutMix(1.0, num_classes=1000), seed=0)
    t_mixup = mixkit.MixUp(1.0, num_classes=1000)
    gen = np.random.default_rng(0)

    def stack_then_apply(batch: list) -> Any:
        x, y = default_collate(batch)
        return t_mixup(x, y, rng=gen, inplace=True)

    def copy(batch: list) -> Any:
        return np.copyto(dst, src)

    cases: dict[str, tuple[Callable[[list], Any], list]] = {
        "copy (floor)": (copy, tensors),
        "default_collate": (default_collate, tensors),
        "MixCollate(MixUp)": (mixup, tensors),
        "MixCollate(MixUp, lam per sample)": (mixup_sample, tensors),
        "MixCollate(CutMix)": (cutmix, tensors),
        "stack + apply_plan(MixUp)": (stack_then_apply, tensors),
    }
    try:
        from timm.data.mixup import FastCollateMixup
    except ImportError:
        print("timm not importable: FastCollateMixup left out", file=sys.stderr)
    else:
        timm_mixup = FastCollateMixup(mixup_alpha=1.0, cutmix_alpha=0.0, label_smoothing=0.0,
                                      num_classes=1000)
        timm_cutmix = FastCollateMixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0,
                                       num_classes=1000)
        cases["timm FastCollateMixup(mixup)"] = (timm_mixup, arrays)
        cases["timm FastCollateMixup(cutmix)"] = (timm_cutmix, arrays)

    results = {}
    for name, (fn, samples) in cases.items():
        if args.where == "worker":
            results[name] = timed_in_worker(fn, samples, args.repeats)
        elif args.where == "loader":
            if name.startswith("copy"):
                results[name] = timed(lambda fn=fn, samples=samples: fn(samples), args.repeats)
            else:
                results[name] = timed_through_loader(fn, samples, args.repeats)
        else:
            results[name] = timed(lambda fn=fn, samples=samples: fn(samples), args.repeats)
    med = {name: statistics.median(t) for name, t in results.items()}
    copy_t, base_t = med["copy (floor)"], med["default_collate"]
    mb = src.nbytes / 2**20
    print(f"batch {b} x 3 x {s} x {s} uint8 ({mb:.1f} MiB), torch {torch.__version__}, 1 thread, "
          f"{WHERE[args.where]}, {args.repeats} calls")
    print(f"{'case':36s} {'median ms':>10s} {'best ms':>8s} {'added/copy':>11s}")
    rows = []
    for name, t in results.items():
        added = None if name.startswith("copy") else (med[name] - base_t) / copy_t
        shown = "" if added is None else f"{added:11.2f}"
        print(f"{name:36s} {1e3 * med[name]:10.2f} {1e3 * min(t):8.2f} {shown:>11s}")
        rows.append({"case": name, "median_ms": 1e3 * med[name], "best_ms": 1e3 * min(t),
                     "added_over_copy": added})
    if args.json:
        args.json.write_text(json.dumps({"batch": b, "size": s, "torch": torch.__version__,
                                         "where": args.where, "rows": rows},
                                        indent=1))


if __name__ == "__main__":
    main()

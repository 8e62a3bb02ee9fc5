"""Benchmark every image method's whole call against MixUp's on the same batch.

Run: ``.venv/bin/python benchmarks/bench_methods.py`` (options: ``--help``). A plain script, not part
of the test run.

For NumPy and torch on the CPU, float32 and uint8 batches (default (128, 3, 224, 224)) and
per-batch and per-sample ``lam``, it times the whole public call ``t(x, y, rng=gen)`` with class
indices and ``num_classes=1000`` (plan sampling with its mask generation, resizing or saliency, the
kernel, dense label mixing) of MixUp, CutMix, FMix, SmoothMix, GridMix, ResizeMix and SaliencyMix.
Each time is the median of ``--repeats`` samples after a warm-up, a sample being the mean over the
plans of seeds ``0 .. --seeds - 1`` (the same plans for every method), and MixUp's call with the same
backend, dtype and lam mode is timed again right before each method (a shared machine's speed
drifts), so every row is printed as ``time / MixUp time``; bare times are in the JSON only. The
target is every ratio <= 3.

Peak extra memory of one call (tracemalloc for NumPy, the growth of the resident-set high-water
mark for torch: pages touched, a lower bound) is printed for ResizeMix and MixUp, as a multiple of
the batch size.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

# passive OpenMP waiting: spinning threads steal the time slice of the working thread on a shared
# machine (see benchmarks/README.md); must be set before torch is imported
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

import mixkit

NUM_CLASSES = 1000
METHODS: dict[str, Callable[[str], Any]] = {
    "mixup": lambda lm: mixkit.MixUp(1.0, lam_mode=lm, num_classes=NUM_CLASSES),
    "cutmix": lambda lm: mixkit.CutMix(1.0, lam_mode=lm, num_classes=NUM_CLASSES),
    "fmix": lambda lm: mixkit.FMix(1.0, lam_mode=lm, num_classes=NUM_CLASSES),
    "smoothmix": lambda lm: mixkit.SmoothMix(lam_mode=lm, num_classes=NUM_CLASSES),
    "gridmix": lambda lm: mixkit.GridMix(1.0, lam_mode=lm, num_classes=NUM_CLASSES),
    "resizemix": lambda lm: mixkit.ResizeMix(lam_mode=lm, num_classes=NUM_CLASSES),
    "saliencymix": lambda lm: mixkit.SaliencyMix(1.0, lam_mode=lm, num_classes=NUM_CLASSES),
}
MEMORY_METHODS = ("mixup", "resizemix")


def median_time(fn: Callable[[int], Any], repeats: int, seeds: int) -> tuple[float, list[float]]:
    """Median over ``repeats`` samples; a sample is the mean time of ``fn(seed)`` over seeds
    ``0 .. seeds - 1``, so every method is timed on the same plans and one lucky draw (a small box,
    lam = 1) cannot decide the median."""
    fn(0)  # warm-up (first-call imports, compilation, caches)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for seed in range(seeds):
            fn(seed)
        ts.append((time.perf_counter() - t0) / seeds)
    return statistics.median(ts), ts


def call(t: Any, x: Any, y: Any, seed: int) -> Any:
    return t(x, y, rng=seed)


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_extra_bytes(fn: Callable[[], Any], backend: str) -> int | None:
    """Peak memory one call adds: tracemalloc for NumPy, VmHWM growth after a reset for torch."""
    gc.collect()
    if backend == "numpy":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        res = fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del res
        return peak - base
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    base = _status_kb("VmRSS")
    res = fn()
    hwm = _status_kb("VmHWM")
    del res
    if base is None or hwm is None:
        return None
    return max(0, hwm - base) * 1024


def make_batch(shape: tuple[int, ...], dtype: str, backend: str, torch: Any) -> Any:
    g = torch.Generator().manual_seed(0)
    if dtype == "uint8":
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    else:
        x = torch.rand(shape, generator=g)
    return x.numpy() if backend == "numpy" else x


def run(args: argparse.Namespace, torch: Any) -> dict[str, Any]:
    shape = (args.batch, 3, args.size, args.size)
    rows: dict[str, Any] = {}
    for backend in args.backends:
        for dtype in args.dtypes:
            x = make_batch(shape, dtype, backend, torch)
            y = np.random.default_rng(1).integers(0, NUM_CLASSES, shape[0])
            y = y if backend == "numpy" else torch.from_numpy(y)
            batch_bytes = int(np.prod(shape)) * (4 if dtype == "float32" else 1)
            for lam_mode in args.lam_modes:
                for method in args.methods:
                    key = f"{backend}|{dtype}|{lam_mode}|{method}"
                    t, mix = METHODS[method](lam_mode), METHODS["mixup"](lam_mode)
                    try:
                        base, _ = median_time(partial(call, mix, x, y), args.repeats, args.seeds)
                        sec, ts = median_time(partial(call, t, x, y), args.repeats, args.seeds)
                        row: dict[str, Any] = {"sec": sec, "all": ts, "mixup_sec": base, "ratio": sec / base}
                        if method in MEMORY_METHODS and not args.no_memory:
                            mem = peak_extra_bytes(partial(call, t, x, y, 0), backend)
                            row["mem_batches"] = None if mem is None else mem / batch_bytes
                    except Exception as exc:  # noqa: BLE001 - report and go on
                        row = {"error": f"{type(exc).__name__}: {str(exc)[:100]}"}
                    rows[key] = row
                    mem = row.get("mem_batches")
                    text = (f"  ({row['error']})" if "error" in row else
                            f"{row['ratio']:8.2f}" + ("" if mem is None else f"   peak extra {mem:.2f}B"))
                    print(f"{key:42s}{text}", flush=True)
                    gc.collect()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--backends", nargs="*", default=["numpy", "torch"], choices=["numpy", "torch"])
    ap.add_argument("--dtypes", nargs="*", default=["float32", "uint8"], choices=["float32", "uint8"])
    ap.add_argument("--lam-modes", nargs="*", default=["batch", "sample"], choices=["batch", "sample"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=4, help="plans (seeds) per timing sample")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    ap.add_argument("--json", default=None, help="also write the raw results (seconds) here")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is needed for the benchmark batches: pip install mixkit[torch]", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    header = (f"mixkit {getattr(mixkit, '__version__', '?')}, torch {torch.__version__}, numpy {np.__version__}, "
              f"torch threads {torch.get_num_threads()}, batch ({args.batch}, 3, {args.size}, {args.size}), "
              f"median of {args.repeats} x {args.seeds} seeds, load avg {os.getloadavg()[0]:.2f}")
    print(header)
    print(f"{'backend|dtype|lam_mode|method':42s}{'/MixUp':>8s}")
    rows = run(args, torch)
    print(f"load avg at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

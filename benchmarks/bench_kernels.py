"""Benchmark mixkit's MixUp (blend) and CutMix (paste) against the memory-copy floor and the peers.

Run: ``make bench`` (mixkit alone, in ``.venv``) or ``.venv-bench/bin/python benchmarks/bench_kernels.py``
(with timm, torchvision and kornia installed: the ``bench`` extra). See ``benchmarks/README.md``.

For each workload it times, on the same batch, in one process, with the same thread count:
- the floor: copying the batch into a preallocated buffer (``out.copy_(x)`` / ``np.copyto``) and a
  fresh copy (``x.clone()`` / ``x.copy()``);
- mixkit ``MixUp`` and ``CutMix`` (public API, plan sampling and label mixing included), per-batch
  and per-sample ``lam``, three ways: a new output, into an ``out=`` buffer, in place;
- the peers when importable: ``timm.data.Mixup`` (modes ``batch`` and ``elem``),
  ``torchvision.transforms.v2.MixUp``/``CutMix`` and kornia's ``RandomMixUpV2``/``RandomCutMixV2``.
Each time is the median of ``--repeats`` samples after a warm-up, divided by the floor timed right
before it (the machine's speed drifts when it is shared). It prints ratios (to the floor, to
the fresh copy, to each peer) and the peak extra memory of one call, as a multiple of the batch
size: tracemalloc for NumPy (exact), the resident-set high-water mark for torch (Linux; after
``malloc_trim``; counts pages touched, so it is a lower bound for reused heap memory).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import itertools
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

# On a shared machine, OpenMP threads that spin while waiting steal the time slice of the thread
# doing the work: with the CPUs oversubscribed, a torch op with 2 threads then takes up to 50x its
# time (measured here: index_select 4.2 s instead of 0.05 s). Passive waiting avoids it; set the
# variable yourself to measure another policy. It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

import mixkit

WORKLOADS = {
    "img224": ((128, 3, 224, 224), "float32"),
    "img32": ((512, 3, 32, 32), "float32"),
    "series": ((256, 12, 1000), "float32"),
    "tokens": ((64, 256, 768), "float32"),
    "img224-u8": ((128, 3, 224, 224), "uint8"),
}
CUT_AXES = {"img224": (-2, -1), "img32": (-2, -1), "series": (-1,), "tokens": (1,), "img224-u8": (-2, -1)}
NUM_CLASSES = 1000


SAMPLE_SECONDS = 0.05


def times(fn: Callable[[], Any], repeats: int) -> list[float]:
    """``repeats`` samples of the time of one call of ``fn``, after one warm-up call.

    A sample is the mean over enough back-to-back calls to last about ``SAMPLE_SECONDS``, so a
    call of 0.1 ms is not judged on one measurement that a time slice of another process can
    swallow.
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    inner = max(1, min(1000, int(SAMPLE_SECONDS / max(first, 1e-6))))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner)
    return ts


def scratch_bytes() -> int:
    """Bytes of the kernels' per-thread scratch buffers (kept between calls) on this thread."""
    from mixkit import _scratch

    bufs = getattr(_scratch._local, "bufs", {})
    return sum(int(b.nbytes) for b in bufs.values())


_LIBC = None


def _trim() -> None:
    global _LIBC
    try:
        _LIBC = _LIBC or ctypes.CDLL("libc.so.6")
        _LIBC.malloc_trim(0)
    except OSError:
        pass


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
    """Peak memory one call adds (NumPy: tracemalloc; torch: VmHWM growth after a reset)."""
    gc.collect()
    if backend == "numpy":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        res = fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del res
        return peak - base
    _trim()
    try:
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


def fmt_mem(b: int | None, batch_bytes: int) -> str:
    if b is None:
        return "n/a"
    return f"{b / batch_bytes:.2f}B" if b >= batch_bytes // 50 else f"{b / 1024:.0f}KB"


def make_batch(shape: tuple[int, ...], dtype: str, torch: Any) -> Any:
    g = torch.Generator().manual_seed(0)
    if dtype == "uint8":
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    return torch.rand(shape, generator=g)


def mixkit_cases(x: Any, y: Any, axes: tuple[int, ...]) -> dict[str, Callable[[], Any]]:
    """mixkit on ``x`` (torch tensor or NumPy array).

    ``{method}/{lam_mode}/{new|out=|inplace}``: the kernel alone (``apply_plan`` with a plan sampled
    beforehand: what the targets are about). ``{method}/{lam_mode}/call+labels``: the whole public
    call ``t(x, y, rng=...)`` (sampling, kernel, dense label mixing), as the peers are called.
    """
    is_np = isinstance(x, np.ndarray)
    buf = np.empty_like(x) if is_np else x.new_empty(x.shape)
    work = x.copy() if is_np else x.clone()
    cases = {}
    for method in ("mixup", "cutmix"):
        for lam_mode in ("batch", "sample"):
            if method == "mixup":
                t = mixkit.MixUp(1.0, lam_mode=lam_mode, num_classes=NUM_CLASSES)
            else:
                t = mixkit.CutMix(1.0, axes=axes, lam_mode=lam_mode, num_classes=NUM_CLASSES)
            # a fresh draw for each call (cycling through 16), so one lucky lam or box cannot
            # decide a median
            plans = itertools.cycle([t.sample(int(x.shape[0]), rng=seed, shape=tuple(x.shape))
                                     for seed in range(16)])
            gen = np.random.default_rng(0)
            key = f"{method}/{lam_mode}"
            cases[f"{key}/new"] = lambda p=plans: mixkit.apply_plan(next(p), x)
            cases[f"{key}/out="] = lambda p=plans: mixkit.apply_plan(next(p), x, out=buf)
            cases[f"{key}/inplace"] = lambda p=plans: mixkit.apply_plan(next(p), work, inplace=True)
            cases[f"{key}/call+labels"] = partial(t, x, y, rng=gen)
    return cases


def peer_cases(x: Any, y: Any, torch: Any) -> dict[str, Callable[[], Any]]:
    """Peers on the same batch; each is skipped (with the reason) if it cannot run it."""
    cases: dict[str, Callable[[], Any]] = {}
    try:
        from timm.data import Mixup

        work = x.clone()
        for mode in ("batch", "elem"):
            for method, kw in (("mixup", {"mixup_alpha": 1.0, "cutmix_alpha": 0.0}),
                               ("cutmix", {"mixup_alpha": 0.0, "cutmix_alpha": 1.0})):
                m = Mixup(**kw, mode=mode, num_classes=NUM_CLASSES, label_smoothing=0.0)
                cases[f"timm:{method}/{mode}"] = lambda m=m: m(work, y)
    except ImportError:
        pass
    try:
        from torchvision.transforms import v2

        mu = v2.MixUp(alpha=1.0, num_classes=NUM_CLASSES)
        cm = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
        cases["torchvision:mixup/batch"] = lambda: mu(x, y)
        cases["torchvision:cutmix/batch"] = lambda: cm(x, y)
    except ImportError:
        pass
    try:
        import kornia.augmentation as K

        km = K.RandomMixUpV2(p=1.0, data_keys=["input", "class"])
        kc = K.RandomCutMixV2(p=1.0, data_keys=["input", "class"])
        cases["kornia:mixup/sample"] = lambda: km(x, y)
        cases["kornia:cutmix/sample"] = lambda: kc(x, y)
    except ImportError:
        pass
    return cases


def run_workload(name: str, repeats: int, backends: list[str], torch: Any, peers: bool) -> dict[str, Any]:
    shape, dtype = WORKLOADS[name]
    axes = CUT_AXES[name]
    xt = make_batch(shape, dtype, torch)
    y = torch.randint(0, NUM_CLASSES, (shape[0],), generator=torch.Generator().manual_seed(1))
    batch_bytes = xt.numel() * xt.element_size()
    res: dict[str, Any] = {"shape": list(shape), "dtype": dtype, "batch_bytes": batch_bytes,
                           "load_before": os.getloadavg(), "rows": {}}
    for backend in backends:
        x = xt.numpy() if backend == "numpy" else xt
        ylab = y.numpy() if backend == "numpy" else y
        if backend == "numpy":
            base = {"floor": partial(np.copyto, np.empty_like(x), x), "clone": x.copy}
        else:
            base = {"floor": partial(torch.Tensor.copy_, torch.empty_like(x), x), "clone": x.clone}
        cases = dict(base)
        cases.update({f"mixkit:{k}": v for k, v in mixkit_cases(x, ylab, axes).items()})
        if backend == "torch" and peers:
            cases.update(peer_cases(x, y, torch))
        for case, fn in cases.items():
            key = f"{backend}|{case}"
            try:
                # the floor is timed again right before each case, and each case is expressed in
                # these floor units ("rel"): on a shared machine the speed drifts within minutes
                floor = statistics.median(times(base["floor"], repeats))
                ts = times(fn, repeats)
                mem = peak_extra_bytes(fn, backend)
                res["rows"][key] = {"sec": statistics.median(ts), "min": min(ts), "mem": mem,
                                    "floor": floor, "rel": statistics.median(ts) / floor}
            except Exception as exc:  # noqa: BLE001 - a peer that cannot handle this batch
                res["rows"][key] = {"error": f"{type(exc).__name__}: {str(exc)[:80]}"}
            gc.collect()
    res["load_after"] = os.getloadavg()
    res["scratch_bytes"] = scratch_bytes()
    return res


def report(name: str, res: dict[str, Any]) -> list[str]:
    rows = res["rows"]
    bb = res["batch_bytes"]
    title = (f"\n## {name}: {tuple(res['shape'])} {res['dtype']} ({bb / 2**20:.1f} MiB)  "
             f"load avg before {res['load_before'][0]:.2f}, after {res['load_after'][0]:.2f}")
    scratch = (f"kernel scratch kept between calls: {res.get('scratch_bytes', 0) / 2**20:.2f} MiB "
               "(not in 'peak extra', which is measured after warm-up)")
    lines = [title, scratch]
    lines.append(f"{'backend|case':42s} {'/floor':>8s} {'/clone':>8s} {'peak extra':>11s}")
    for key, r in rows.items():
        backend = key.split("|")[0]
        if "error" in r:
            lines.append(f"{key:42s} {'n/a':>8s} {'':>8s} {'':>11s}  ({r['error']})")
            continue
        clone = rows[f"{backend}|clone"]["rel"]
        lines.append(f"{key:42s} {r['rel']:8.2f} {r['rel'] / clone:8.2f} "
                     f"{fmt_mem(r['mem'], bb):>11s}")
    peers = [k for k in rows if ":" in k.split("|")[1] and not k.split("|")[1].startswith("mixkit")
             and "sec" in rows[k]]
    if peers:
        lines.append("mixkit / peer, same method and lam mode (< 1: mixkit faster); the peers are "
                     "called with labels, like mixkit's call+labels")
        for pk in peers:
            lib, what = pk.split("|")[1].split(":")
            method, mode = what.split("/")
            lam_mode = "batch" if mode == "batch" else "sample"
            parts = []
            for how in ("call+labels", "new", "inplace"):
                mk = rows.get(f"torch|mixkit:{method}/{lam_mode}/{how}")
                if mk and "sec" in mk:
                    parts.append(f"{how} {mk['rel'] / rows[pk]['rel']:.2f}")
            lines.append(f"  vs {lib}:{what:14s} " + ", ".join(parts))
    return lines


def _ratio(rows: dict[str, Any], key: str, base: str) -> str:
    r, b = rows.get(key), rows.get(base)
    if not r or "rel" not in r or not b or "rel" not in b:
        return "n/a"
    return f"{r['rel'] / b['rel']:.2f}"


def markdown(results: dict[str, Any]) -> str:
    """Compact tables of ratios for benchmarks/README.md."""
    out = [f"`{results['header']}`", ""]
    combos = [(m, lm) for m in ("mixup", "cutmix") for lm in ("batch", "sample")]
    for backend in ("torch", "numpy"):
        have = [n for n, r in results["workloads"].items() if f"{backend}|floor" in r["rows"]]
        if not have:
            continue
        out.append(f"**{backend}**: kernel time / floor (`out=` and in place), new output / clone, "
                   "peak extra memory of the in-place call")
        out.append("")
        head = ["workload", "load"]
        for m, lm in combos:
            head += [f"{m} {lm} out=", f"{m} {lm} inplace", f"{m} {lm} new/clone"]
        head += ["in-place mem"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for name in have:
            res = results["workloads"][name]
            rows = res["rows"]
            cells = [name, f"{res['load_before'][0]:.1f}-{res['load_after'][0]:.1f}"]
            mems = []
            for m, lm in combos:
                k = f"{backend}|mixkit:{m}/{lm}"
                cells += [_ratio(rows, f"{k}/out=", f"{backend}|floor"),
                          _ratio(rows, f"{k}/inplace", f"{backend}|floor"),
                          _ratio(rows, f"{k}/new", f"{backend}|clone")]
                mems.append((rows.get(f"{k}/inplace") or {}).get("mem"))
            known = [v for v in mems if v is not None]
            cells.append(fmt_mem(max(known), res["batch_bytes"]) if known else "n/a")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    peers = ["timm:mixup/batch", "timm:mixup/elem", "timm:cutmix/batch", "timm:cutmix/elem",
             "torchvision:mixup/batch", "torchvision:cutmix/batch", "kornia:mixup/sample",
             "kornia:cutmix/sample"]
    out.append("**torch, whole calls with labels**: time / floor (mixkit's `call+labels` and the "
               "peers), n/a where the peer cannot take the batch")
    out.append("")
    head = ["workload", "clone"] + [f"mixkit {m} {lm}" for m, lm in combos] + peers
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for name, res in results["workloads"].items():
        rows = res["rows"]
        if "torch|floor" not in rows:
            continue
        cells = [name, _ratio(rows, "torch|clone", "torch|floor")]
        cells += [_ratio(rows, f"torch|mixkit:{m}/{lm}/call+labels", "torch|floor") for m, lm in combos]
        cells += [_ratio(rows, f"torch|{p}", "torch|floor") for p in peers]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--backends", nargs="*", default=["torch", "numpy"], choices=["torch", "numpy"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-peers", action="store_true", help="skip timm, torchvision and kornia")
    ap.add_argument("--json", default=None, help="also write raw results (times in seconds) here")
    ap.add_argument("--markdown", default=None,
                    help="print the README tables for a results file written with --json, and exit")
    args = ap.parse_args(argv)
    if args.markdown:
        with open(args.markdown) as f:
            print(markdown(json.load(f)))
        return 0
    try:
        import torch
    except ImportError:
        print("torch is needed for the benchmark batches: pip install mixkit[torch]", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    header = (f"mixkit {getattr(mixkit, '__version__', '?')}, torch {torch.__version__}, "
              f"numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
              f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
              f"repeats {args.repeats} (median), cpus {os.cpu_count()}")
    print(header)
    results = {"header": header, "workloads": {}}
    for name in args.workloads:
        res = run_workload(name, args.repeats, args.backends, torch, not args.no_peers)
        results["workloads"][name] = res
        print("\n".join(report(name, res)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

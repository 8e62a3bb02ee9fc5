"""Benchmark the kernels (blend, paste, mask_mix) against the memory-copy floor, in one run.

Run: ``.venv/bin/python benchmarks/bench_kernels.py`` (``--json results.json`` keeps the raw numbers,
``--markdown results.json`` prints the README tables from them). See ``benchmarks/README.md``.

For each workload (torch CPU tensors by default, ``--backends numpy`` for NumPy arrays over the same
memory) it times, with the same number of threads for everything (``--threads``, default 2):

- the floor: copying the batch into a preallocated buffer (``out.copy_(x)``, torch, multi-threaded;
  NumPy batches are copied through ``torch.from_numpy`` views so the floor has the same threads),
  and ``clone`` (``x.clone()`` / ``x.copy()``: the floor plus fresh memory);
- each kernel, per-batch and per-sample parameters (one ``lam``/box/mask for every sample, or one
  each), three ways: in place (``out=x``), into a preallocated ``out=`` buffer, and a new output;
- the k-way blend ``blend_many`` (n-way MixUp, ``--nway 3 4``: the sample and ``k - 1`` partners
  from independent permutations, per-sample Dirichlet(1, ..., 1) weights) the same three ways, as a
  ratio to the floor and to the two-way ``blend`` of the same batch and way. It reads ``k`` rows per
  output row, so its memory floor is ``(k + 1) / 2`` copies for batches that do not fit in cache.

The kernels are called through ``mixkit.kernels`` when its dispatcher sends CPU batches to the numba
backend, else the backend functions of ``mixkit.kernels._cpu`` are called directly. Each case is
the best of ``--repeats`` samples after warm-up (compilation excluded; a sample averages enough calls
to last 50 ms), divided by the best of the floor's samples timed right before it (medians are in the
JSON too): the machine is shared, so only ratios from one run are compared, never bare times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# Threads that spin while waiting steal the time slice of the working thread on a shared machine
# (OpenMP: torch's pool and numba's 'omp' layer); passive waiting unless set otherwise. Set before
# torch and numba start their pools.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

WORKLOADS = {
    # name: (shape, dtype, axes cut by paste / covered by the mask, row size class)
    "img224": ((128, 3, 224, 224), "float32", (2, 3), "big"),
    "tokens": ((64, 256, 768), "float32", (1,), "big"),
    "img32": ((512, 3, 32, 32), "float32", (2, 3), "small"),
    "series": ((256, 12, 1000), "float32", (2,), "small"),
    "img224-u8": ((128, 3, 224, 224), "uint8", (2, 3), "big"),
    "img32-u8": ((512, 3, 32, 32), "uint8", (2, 3), "small"),
}
KERNELS = ("blend", "paste", "mask_mix")
SELECTED = list(KERNELS)  # the kernels timed (``--kernels``)
MODES = ("batch", "sample")
HOWS = ("inplace", "out=", "new")
# targets: (workload class, dtype kind) -> (in place and out= / floor, new / clone)
TARGETS = {("big", "float"): 1.2, ("small", "float"): 1.5, ("big", "uint8"): 1.5, ("small", "uint8"): 2.0}
NEW_TARGET = 1.1
SAMPLE_SECONDS = 0.05
PLANS = 8  # each call takes the next of this many plans drawn beforehand
MASK_DTYPE = ["bool"]  # the dtype of mask_mix's masks (``--mask-dtype``; bool is what mask plans hold)
MASK_KIND = ["binary"]  # ``--mask-kind``: binary masks, or soft ones (a ramp around the cut, FMix-like)


def times(fn: Callable[[], Any], repeats: int) -> list[float]:
    """``repeats`` samples of one call's time, after a warm-up; a sample averages enough calls to
    last about ``SAMPLE_SECONDS``."""
    fn()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    inner = max(1, min(1000, int(SAMPLE_SECONDS / max(first, 1e-6))))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t0) / inner)
    return out


def make_batch(torch: Any, shape: tuple[int, ...], dtype: str) -> Any:
    g = torch.Generator().manual_seed(0)
    if dtype == "uint8":
        return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    return torch.rand(shape, generator=g)


def plans(kernel: str, mode: str, shape: tuple[int, ...], axes: tuple[int, ...], seed: int) -> list[tuple]:
    """Arguments after ``x`` of ``PLANS`` calls: a random permutation as partner, and
    - blend: ``lam`` (Beta(1, 1) per sample, or one value for the batch);
    - paste: CutMix boxes over ``axes`` with side fraction sqrt(1 - lam) (one box, or one per sample);
    - mask_mix: binary masks over ``axes`` (half the elements, random blobs: FMix-like), of dtype
      ``MASK_DTYPE``; with ``MASK_KIND`` soft, the same blobs with a linear ramp between the 30% and
      70% quantiles (30% of the elements 0, 30% 1, 40% in between: FMix with ``max_soft=0.2``)."""
    rng = np.random.default_rng(seed)
    b = shape[0]
    sizes = np.array([shape[a] for a in axes])
    res = []
    for _ in range(PLANS):
        partner = rng.permutation(b)
        lam = rng.beta(1.0, 1.0, size=b) if mode == "sample" else np.full(b, rng.beta(1.0, 1.0))
        if kernel == "blend":
            res.append((partner, lam))
        elif kernel == "paste":
            side = np.sqrt(1.0 - lam)[:, None] * sizes[None, :]
            centre = rng.random((b, len(axes))) * sizes[None, :]
            if mode == "batch":
                centre[:] = centre[0]
            start = np.clip(np.round(centre - side / 2), 0, sizes).astype(np.int64)
            stop = np.clip(np.round(centre + side / 2), 0, sizes).astype(np.int64)
            res.append((partner, start, stop, axes))
        else:
            n = 1 if mode == "batch" else b
            low = rng.standard_normal((n, *[max(1, s // 8) for s in sizes]))
            for k, s in enumerate(sizes):  # blow the blobs up to the axis sizes
                low = np.repeat(low, -(-s // low.shape[k + 1]), axis=k + 1)
                low = np.take(low, np.arange(s), axis=k + 1)
            if MASK_KIND[0] == "soft":
                q30, q70 = np.quantile(low, [0.3, 0.7])
                mask = np.clip((low - q30) / (q70 - q30), 0.0, 1.0).astype(MASK_DTYPE[0])
            else:
                mask = (low > np.median(low)).astype(MASK_DTYPE[0])
            res.append((partner, np.broadcast_to(mask, (b, *sizes)).copy(), axes))
    return res


class Caller:
    """Calls a kernel through the public API if it dispatches CPU batches to ``_cpu``, else the
    backend directly (resolving ``out`` the way the dispatcher does)."""

    def __init__(self, probe: Any, direct: bool = False) -> None:
        import mixkit.kernels as K
        from mixkit.kernels import _cpu

        self.K, self.cpu = K, _cpu
        fused = getattr(K, "_fused_backend", None)
        self.public = not direct and fused is not None and fused(probe) is _cpu
        self.how = "mixkit.kernels (dispatcher -> _cpu)" if self.public else "mixkit.kernels._cpu directly"

    def __call__(self, name: str, x: Any, out: Any, args: tuple) -> Any:
        if self.public:
            return getattr(self.K, name)(x, *args, out=out)
        if name == "paste":  # the dispatcher's normalisation: rows with an empty box are idle
            partner, start, stop, axes = args
            idle = np.any(stop <= start, axis=1) | (partner == np.arange(partner.size))
            args = (np.where(idle, np.arange(partner.size), partner), start, stop, axes)
        elif name == "blend":
            partner, lam = args
            idle = (partner == np.arange(partner.size)) | (lam == 1.0)
            args = (np.where(idle, np.arange(partner.size), partner), np.where(idle, 1.0, lam))
        target = out
        if out is None:
            target = np.empty_like(x) if isinstance(x, np.ndarray) else sys.modules["torch"].empty_like(x)
        if not getattr(self.cpu, name)(x, target, *args):
            raise RuntimeError(f"the CPU backend declined {name} on {tuple(x.shape)}")
        return target


def run_workload(name: str, backend: str, repeats: int, torch: Any, caller: Caller | None) -> dict:
    shape, dtype, axes, size = WORKLOADS[name]
    xt = make_batch(torch, shape, dtype)
    x = xt.numpy() if backend == "numpy" else xt
    buf_t = torch.empty_like(xt)
    buf = buf_t.numpy() if backend == "numpy" else buf_t
    work_t = xt.clone()
    work = work_t.numpy() if backend == "numpy" else work_t
    floor_dst = torch.empty_like(xt)

    def floor() -> None:
        floor_dst.copy_(xt)  # the same memory as x for NumPy batches, with torch's threads

    clone = x.copy if backend == "numpy" else x.clone
    caller = caller or Caller(x)
    res: dict[str, Any] = {"shape": list(shape), "dtype": dtype, "size": size, "backend": backend,
                           "load_before": os.getloadavg()[0], "rows": {}}
    cases: dict[str, Callable[[], Any]] = {"floor": floor, "clone": clone}
    for kk, kernel in enumerate(KERNELS):
        if kernel not in SELECTED:
            continue
        for mm, mode in enumerate(MODES):
            ps = plans(kernel, mode, shape, axes, seed=10 * kk + mm)
            state = {"k": 0}

            def nxt(ps: list = ps, state: dict = state) -> tuple:
                state["k"] = (state["k"] + 1) % len(ps)
                return ps[state["k"]]

            cases[f"{kernel}/{mode}/inplace"] = lambda k=kernel, n=nxt: caller(k, work, work, n())
            cases[f"{kernel}/{mode}/out="] = lambda k=kernel, n=nxt: caller(k, x, buf, n())
            cases[f"{kernel}/{mode}/new"] = lambda k=kernel, n=nxt: caller(k, x, None, n())
    for case, fn in cases.items():
        fts = times(floor, repeats)
        ts = times(fn, repeats)
        # best of the samples against the best floor: what other processes on a shared machine add
        # only ever slows a sample down; the medians are kept too
        res["rows"][case] = {"sec": statistics.median(ts), "min": min(ts), "floor": min(fts),
                             "floor_median": statistics.median(fts), "rel": min(ts) / min(fts),
                             "rel_median": statistics.median(ts) / statistics.median(fts)}
    res["load_after"] = os.getloadavg()[0]
    return res


def nway_plans(k: int, b: int, seed: int) -> list[tuple]:
    """``PLANS`` argument tuples ``(sources (B, k), weights (B, k))`` of n-way MixUp."""
    rng = np.random.default_rng(seed)
    rows = np.arange(b)
    res = []
    for _ in range(PLANS):
        parts = [rng.permutation(b) for _ in range(k - 1)]
        res.append((np.stack([rows, *parts], axis=1), rng.dirichlet(np.ones(k), size=b)))
    return res


def call_nway(x: Any, out: Any, args: tuple) -> Any:
    """``mixkit.kernels.blend_many`` (its dispatcher sends NumPy and torch CPU batches to numba)."""
    from mixkit.kernels import blend_many

    return blend_many(x, *args, out=out)


def run_nway(name: str, backend: str, ks: list[int], repeats: int, torch: Any, caller: Caller) -> dict:
    """Floor, two-way blend and k-way blend (per-sample weights), in place / out= / new."""
    shape, dtype, _, size = WORKLOADS[name]
    xt = make_batch(torch, shape, dtype)
    x = xt.numpy() if backend == "numpy" else xt
    buf = torch.empty_like(xt)
    buf = buf.numpy() if backend == "numpy" else buf
    work = xt.clone()
    work = work.numpy() if backend == "numpy" else work
    floor_dst = torch.empty_like(xt)

    def floor() -> None:
        floor_dst.copy_(xt)

    clone = x.copy if backend == "numpy" else x.clone
    res: dict[str, Any] = {"shape": list(shape), "dtype": dtype, "size": size, "backend": backend,
                           "load_before": os.getloadavg()[0], "rows": {}}
    cases: dict[str, Callable[[], Any]] = {"floor": floor, "clone": clone}
    families: list[tuple[int, list[tuple]]] = [(2, plans("blend", "sample", shape, (), seed=1))]
    families += [(k, nway_plans(k, shape[0], seed=k)) for k in ks]
    for k, ps in families:
        state = {"k": 0}

        def nxt(ps: list = ps, state: dict = state) -> tuple:
            state["k"] = (state["k"] + 1) % len(ps)
            return ps[state["k"]]

        if k == 2:
            cases["k=2/inplace"] = lambda n=nxt: caller("blend", work, work, n())
            cases["k=2/out="] = lambda n=nxt: caller("blend", x, buf, n())
            cases["k=2/new"] = lambda n=nxt: caller("blend", x, None, n())
        else:
            cases[f"k={k}/inplace"] = lambda n=nxt: call_nway(work, work, n())
            cases[f"k={k}/out="] = lambda n=nxt: call_nway(x, buf, n())
            cases[f"k={k}/new"] = lambda n=nxt: call_nway(x, None, n())
    for case, fn in cases.items():
        fts = times(floor, repeats)
        ts = times(fn, repeats)
        res["rows"][case] = {"sec": statistics.median(ts), "min": min(ts), "floor": min(fts),
                             "floor_median": statistics.median(fts), "rel": min(ts) / min(fts),
                             "rel_median": statistics.median(ts) / statistics.median(fts)}
    res["load_after"] = os.getloadavg()[0]
    return res


def report_nway(name: str, res: dict) -> list[str]:
    rows = res["rows"]
    lines = [(f"\n## n-way blend, {name} {tuple(res['shape'])} {res['dtype']} [{res['backend']}]  load "
              f"{res['load_before']:.1f} -> {res['load_after']:.1f}  floor {rows['floor']['min'] * 1e3:.3f} ms")]
    lines.append(f"{'case':16s} {'/ floor':>8s} {'/ k=2':>7s} {'memory floor':>13s}  (new: / clone)")
    for case in rows:
        if case in ("floor", "clone"):
            continue
        k = int(case.split("/")[0][2:])
        how = case.split("/")[1]
        r = ratio(rows, case)
        two = r / ratio(rows, f"k=2/{how}")
        bound = "-" if k == 2 else f"{(k + 1) / 2:.1f}"  # two-way: x is read about once (walk order)
        lines.append(f"{case:16s} {r:8.2f} {two:7.2f} {bound:>13s}")
    return lines


def ratio(rows: dict, case: str) -> float:
    """``case`` / floor, or / clone for a new output."""
    r = rows[case]["rel"]
    return r / rows["clone"]["rel"] if case.endswith("/new") else r


def target_of(res: dict, case: str) -> float:
    if case.endswith("/new"):
        return NEW_TARGET
    kind = "uint8" if res["dtype"] == "uint8" else "float"
    return TARGETS[(res["size"], kind)]


def report(name: str, res: dict) -> list[str]:
    rows = res["rows"]
    lines = [(f"\n## {name} {tuple(res['shape'])} {res['dtype']} [{res['backend']}]  load "
              f"{res['load_before']:.1f} -> {res['load_after']:.1f}  floor "
              f"{rows['floor']['min'] * 1e3:.3f} ms, clone/floor {rows['clone']['rel']:.2f}")]
    lines.append(f"{'case':28s} {'ratio':>6s} {'target':>7s}  (in place, out=: / floor; new: / clone)")
    for case in rows:
        if case in ("floor", "clone"):
            continue
        r, t = ratio(rows, case), target_of(res, case)
        lines.append(f"{case:28s} {r:6.2f} {t:7.1f}  {'ok' if r <= t else 'MISSED'}")
    return lines


def markdown(results: dict) -> str:
    out = [f"`{results['header']}`", ""]
    for backend in ("torch", "numpy"):
        have = {n: r for n, r in results["workloads"].items() if r["backend"] == backend}
        if not have:
            continue
        out.append(f"**{backend}**: in place and `out=` / floor, new / clone; **bold**: target missed")
        out.append("")
        head = ["workload", "load", "clone/floor"] + [
            f"{k} {m} {h}" for k in KERNELS for m in MODES for h in HOWS]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for name, res in have.items():
            rows = res["rows"]
            cells = [name.split("|")[0], f"{res['load_before']:.1f}-{res['load_after']:.1f}",
                     f"{rows['clone']['rel']:.2f}"]
            for k in KERNELS:
                for m in MODES:
                    for h in HOWS:
                        case = f"{k}/{m}/{h}"
                        if case not in rows:
                            cells.append("-")
                            continue
                        r = ratio(rows, case)
                        cells.append(f"{r:.2f}" if r <= target_of(res, case) else f"**{r:.2f}**")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def summary(results: dict) -> list[str]:
    """Per target: the range of the ratios and how many cells meet it."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for res in results["workloads"].values():
        kind = "uint8" if res["dtype"] == "uint8" else "float32"
        for case in res["rows"]:
            if case in ("floor", "clone"):
                continue
            how = "new / clone" if case.endswith("/new") else "in place, out= / floor"
            key = f"{kind} {res['size']} rows, {how}"
            groups.setdefault(key, []).append((ratio(res["rows"], case), target_of(res, case)))
    lines = []
    for key, vals in groups.items():
        rs = [r for r, _ in vals]
        met = sum(r <= t for r, t in vals)
        lines.append(f"{key}: {min(rs):.2f}-{max(rs):.2f} (target {vals[0][1]}), {met}/{len(vals)} met")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--backends", nargs="*", default=["torch"], choices=["torch", "numpy"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--direct", action="store_true",
                    help="call the backend functions of mixkit.kernels._cpu, not the public kernels")
    ap.add_argument("--nway", nargs="*", type=int, default=[3, 4],
                    help="k of the n-way blend cases (none: skip them)")
    ap.add_argument("--nway-only", action="store_true", help="time only the n-way blend cases")
    ap.add_argument("--kernels", nargs="*", default=list(KERNELS), choices=list(KERNELS),
                    help="the kernels to time (all by default)")
    ap.add_argument("--mask-dtype", default="bool", choices=["bool", "uint8", "float32", "float64"],
                    help="dtype of the masks given to mask_mix (bool: what binary mask plans hold)")
    ap.add_argument("--mask-kind", default="binary", choices=["binary", "soft"],
                    help="binary masks, or soft ones (float32: what soft mask plans hold)")
    ap.add_argument("--json", default=None, help="also write the raw results (seconds) here")
    ap.add_argument("--markdown", default=None, help="print the README tables of a --json file, exit")
    args = ap.parse_args(argv)
    SELECTED[:] = args.kernels
    MASK_DTYPE[0] = args.mask_dtype
    MASK_KIND[0] = args.mask_kind
    if args.mask_kind == "soft" and args.mask_dtype not in ("float32", "float64"):
        ap.error("--mask-kind soft needs --mask-dtype float32 or float64")
    if args.markdown:
        with open(args.markdown) as f:
            results = json.load(f)
        print(markdown(results))
        print("\n".join(summary(results)))
        return 0
    try:
        import numba
        import torch
    except ImportError:
        print("the benchmark needs torch and numba: pip install mixkit[torch] numba", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    caller = Caller(torch.zeros(2, 2), direct=args.direct)  # imports _cpu: it picks the threading layer
    numba.set_num_threads(args.threads)  # this starts numba's threads, so after the import above
    t0 = time.perf_counter()
    for name in args.workloads:  # compile (or load from the disk cache) before any timing
        shape, dtype, axes, _ = WORKLOADS[name]
        x = make_batch(torch, (2,) + shape[1:], dtype)
        for kernel in KERNELS:
            for p in plans(kernel, "sample", x.shape, axes, 0)[:1]:
                caller(kernel, x, None, p)
                caller(kernel, x, x, p)
        for k in args.nway:
            for p in nway_plans(k, 2, 0)[:1]:
                call_nway(x, None, p)
                call_nway(x, x, p)
    warm = time.perf_counter() - t0
    header = (f"torch {torch.__version__}, numba {numba.__version__} ({numba.threading_layer()}), "
              f"numpy {np.__version__}, threads {args.threads}, OMP_WAIT_POLICY="
              f"{os.environ.get('OMP_WAIT_POLICY')}, repeats {args.repeats} (best), cpus {os.cpu_count()}, "
              f"kernels via {caller.how}, masks {MASK_KIND[0]} {MASK_DTYPE[0]}, warm-up (compile or cache load) {warm:.1f} s")
    print(header)
    results: dict[str, Any] = {"header": header, "workloads": {}}
    results["nway"] = {}
    for backend in args.backends:
        for name in args.workloads:
            if not args.nway_only:
                res = run_workload(name, backend, args.repeats, torch, caller)
                results["workloads"][f"{name}|{backend}"] = res
                print("\n".join(report(name, res)), flush=True)
            if args.nway:
                res = run_nway(name, backend, args.nway, args.repeats, torch, caller)
                results["nway"][f"{name}|{backend}"] = res
                print("\n".join(report_nway(name, res)), flush=True)
    if results["workloads"]:
        print("\nTargets")
        print("\n".join(summary(results)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

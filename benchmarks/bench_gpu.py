"""GPU benchmark of the Triton backend: achieved bandwidth as a fraction of the device's own copy_.

Run (``benchmarks/gpu.sh`` does): ``PYTHONPATH=src python3 benchmarks/bench_gpu.py``.
``--dry-run``: on the CPU under ``TRITON_INTERPRET=1`` with tiny shapes, so every code path runs
without a GPU (the test suite does this); its times mean nothing.

One table. Each row: a kernel (blend, paste, mask_mix) called through the public API
(``mixkit.kernels``) three ways (a new output, into an ``out=`` buffer, in place), with one ``lam``
/ box / mask for the whole batch or one per sample, in float32, bfloat16 and uint8, on
(128, 3, 224, 224) and (512, 3, 32, 32); partners are random pairs (an involution), and the
``in place, roll`` rows take ``roll(1)`` (one long cycle: the walk route). ``mask_mix (bool)`` rows
take binary masks as bool (what FMix, GridMix and ClassMix plans hold); ``blend_many k=3`` rows are
n-way MixUp's kernel (the sample and two partners, Dirichlet weights), new output and ``out=``.

- time: CUDA events around ``--reps`` back-to-back calls after a warm-up (host work included when
  it is the bottleneck);
- bytes, as in the backend contract: out of place 2 reads + 1 write per row (x[i], x[partner[i]],
  out[i]; ``blend_many``: k reads + 1 write); in place 2 reads + 2 writes per pair, i.e. one read and one write per row. paste counts
  whole rows too: in place it moves only the boxes, so its fraction can pass 1;
- frac: (bytes / time) / the bandwidth of ``dst.copy_(src)`` on the same batch (2 x its bytes);
- launches: kernel launches per call (``cudaLaunchKernel``/``cuLaunchKernel*`` in torch.profiler);
- syncs: host synchronisations per call (``cuda*Synchronize``, blocking ``cudaMemcpy``, device to
  host copies), less those of an empty profiled region.
The peers (timm ``Mixup``, torchvision v2 ``MixUp``/``CutMix``), when importable, are timed on the
same float32 batches with the bytes of the mixkit row they correspond to; they mix labels too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

DRY = "--dry-run" in sys.argv
if DRY:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

import numpy as np
import torch

import mixkit.kernels as K
from mixkit.kernels import _cuda, _nway_cuda

KERNELS = ("blend", "paste", "mask_mix")
MODES = ("new", "out", "in place")
KINDS = ("per-batch", "per-sample")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "uint8": torch.uint8}
SHAPES = [(128, 3, 224, 224), (512, 3, 32, 32)]
DRY_SHAPES = [(4, 3, 8, 8)]
NUM_CLASSES = 1000
LAUNCH = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
SYNC = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy",
        "cudaMemcpy2D", "cuStreamSynchronize", "cuCtxSynchronize", "cuEventSynchronize", "cuMemcpyDtoH")


# ----------------------------------------------------------------------------------------------------
# timing and counting
# ----------------------------------------------------------------------------------------------------


def seconds(f: Callable[[], Any], reps: int, device: torch.device) -> float:
    """Seconds per call of ``f``, ``reps`` calls back to back after a warm-up."""
    f()
    if device.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            f()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / reps
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps


class Counted:
    """Interpreter only: counts the launches of a Triton kernel (``kernel[grid](...)``)."""

    def __init__(self, kernel: Any) -> None:
        self.kernel, self.n = kernel, 0

    def __getitem__(self, grid: Any) -> Any:
        self.n += 1
        return self.kernel[grid]


def _profiled(f: Callable[[], Any], calls: int, device: torch.device) -> tuple[int, int]:
    """(launches, syncs) seen by torch.profiler over ``calls`` calls and a final synchronize."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(calls):
            f()
        if device.type == "cuda":
            torch.cuda.synchronize()
    launches = syncs = 0
    for e in prof.events():
        if e.device_type == DeviceType.CUDA:
            syncs += e.name.startswith("Memcpy DtoH")
        else:
            launches += e.name in LAUNCH
            syncs += e.name in SYNC
    return launches, syncs


def counts(f: Callable[[], Any], device: torch.device, calls: int = 1 if DRY else 3) -> tuple[float, float]:
    """Kernel launches and host synchronisations per call of ``f`` (already warmed up)."""
    _, base = _profiled(lambda: None, 1, device)
    if device.type == "cuda":
        launches, syncs = _profiled(f, calls, device)
        return launches / calls, max(0, syncs - base) / calls
    # the interpreter launches nothing on a device: count the Triton kernels' launches instead
    kernels = [Counted(_cuda._mix_kernel), Counted(_cuda._labels_kernel), Counted(_nway_cuda._nway_kernel)]
    _cuda._mix_kernel, _cuda._labels_kernel, _nway_cuda._nway_kernel = kernels
    try:
        _, syncs = _profiled(f, calls, device)
    finally:
        _cuda._mix_kernel, _cuda._labels_kernel, _nway_cuda._nway_kernel = (k.kernel for k in kernels)
    return sum(k.n for k in kernels) / calls, max(0, syncs - base) / calls


# ----------------------------------------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------------------------------------


def batch(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(0)
    if dtype == torch.uint8:
        x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    else:
        x = torch.randn(shape, generator=g).to(dtype)
    return x.to(device)


def plan(kernel: str, kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, ...]:
    """The kernel's plan arrays after the partner: (lam,), (start, stop, axes) or (mask, axes)."""
    b, h, w = shape[0], shape[2], shape[3]
    same = kind == "per-batch"
    if kernel == "blend":
        return (np.full(b, 0.3) if same else rng.uniform(0.05, 0.95, b),)
    if kernel == "paste":
        if same:
            size = np.tile([h // 2, w // 2], (b, 1))
        else:
            size = rng.integers(1, np.array([h, w]) + 1, size=(b, 2))
        start = rng.integers(0, np.array([h, w]) - size + 1, size=(b, 2)) if not same else \
            np.tile([h // 4, w // 4], (b, 1))
        return start, start + size, (2, 3)
    m = rng.random((1 if same else b, h, w))
    return np.broadcast_to(m, (b, h, w)).copy(), (2, 3)


def pairs(b: int, rng: np.random.Generator) -> np.ndarray:
    p = np.arange(b)
    s = rng.permutation(b)
    p[s[0::2]], p[s[1::2]] = s[1::2], s[0::2]
    return p


def call(kernel: str, mode: str, x: torch.Tensor, out: torch.Tensor, partner: np.ndarray,
         args: tuple[Any, ...]) -> Callable[[], Any]:
    fn = getattr(K, kernel)
    if mode == "new":
        return lambda: fn(x, partner, *args)
    target = out if mode == "out" else x
    return lambda: fn(x, partner, *args, out=target)


def row_bytes(mode: str, nbytes: int) -> int:
    return 3 * nbytes if mode in ("new", "out") else 2 * nbytes


def peers(shape: tuple[int, ...], device: torch.device) -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, mixkit mode it corresponds to, call) for each importable peer."""
    found: list[tuple[str, str, Callable[[], Any]]] = []
    y = torch.randint(0, NUM_CLASSES, (shape[0],), device=device)
    try:
        from timm.data import Mixup

        for name, kw in (("timm Mixup (mixup)", {"mixup_alpha": 1.0, "cutmix_alpha": 0.0}),
                         ("timm Mixup (cutmix)", {"mixup_alpha": 0.0, "cutmix_alpha": 1.0})):
            m = Mixup(**kw, label_smoothing=0.0, num_classes=NUM_CLASSES)
            x = batch(shape, torch.float32, device)
            found.append((name, "in place", lambda m=m, x=x: m(x, y)))
    except Exception as e:  # noqa: BLE001 - an absent or broken peer is reported, not fatal
        print(f"timm: not benchmarked ({type(e).__name__}: {e})")
    try:
        from torchvision.transforms import v2

        for name, t in (("torchvision v2 MixUp", v2.MixUp(num_classes=NUM_CLASSES)),
                        ("torchvision v2 CutMix", v2.CutMix(num_classes=NUM_CLASSES))):
            x = batch(shape, torch.float32, device)
            found.append((name, "new", lambda t=t, x=x: t(x, y)))
    except Exception as e:  # noqa: BLE001
        print(f"torchvision: not benchmarked ({type(e).__name__}: {e})")
    return found


# ----------------------------------------------------------------------------------------------------
# the table
# ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, Triton interpreter, tiny shapes")
    ap.add_argument("--reps", type=int, default=20, help="back-to-back calls per timing")
    args = ap.parse_args(argv)
    if args.dry_run:
        device, shapes, reps = torch.device("cpu"), DRY_SHAPES, 1
        # CPU tensors through the Triton backends (interpreted)
        K._fused_backend = lambda x, kernel="": _nway_cuda if kernel == "blend_many" else _cuda
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --dry-run", file=sys.stderr)
            return 2
        device, shapes, reps = torch.device("cuda"), SHAPES, args.reps
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (Triton interpreter, dry run)"
    print(f"# mixkit Triton kernels on {name}, torch {torch.__version__}\n")
    print("| kernel | mode | lam | dtype | shape | us/call | GB/s | frac of copy_ | launches | syncs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)

    def line(kernel: str, mode: str, kind: str, dt: str, shape: tuple[int, ...], t: float,
             nbytes: int, copy_bw: float, launches: float, syncs: float) -> None:
        bw = nbytes / t
        print(f"| {kernel} | {mode} | {kind} | {dt} | {'x'.join(map(str, shape))} | {t * 1e6:.1f} | "
              f"{bw / 1e9:.1f} | {bw / copy_bw:.2f} | {launches:g} | {syncs:g} |", flush=True)

    for shape in shapes:
        for dt, dtype in DTYPES.items():
            x = batch(shape, dtype, device)
            out = torch.empty_like(x)
            nbytes = x.numel() * x.element_size()
            copy_bw = 2 * nbytes / seconds(lambda x=x, out=out: out.copy_(x), reps, device)
            cases = [(k, m, kind, pairs(shape[0], rng)) for k in KERNELS for m in MODES for kind in KINDS]
            if dt == "fp32":
                roll = np.roll(np.arange(shape[0]), 1)
                cases += [(k, "in place, roll", "per-sample", roll) for k in ("blend", "paste")]
            for kernel, mode, kind, partner in cases:
                f = call(kernel, mode.split(",")[0], x, out, partner, plan(kernel, kind, shape, rng))
                t = seconds(f, reps, device)
                launches, syncs = counts(f, device)
                line(kernel, mode, kind, dt, shape, t, row_bytes(mode.split(",")[0], nbytes), copy_bw,
                     launches, syncs)
            for mode in MODES:
                for kind in KINDS:
                    mask, axes = plan("mask_mix", kind, shape, rng)
                    f = call("mask_mix", mode, x, out, pairs(shape[0], rng), (mask > 0.5, axes))
                    t = seconds(f, reps, device)
                    line("mask_mix (bool)", mode, kind, dt, shape, t, row_bytes(mode, nbytes), copy_bw,
                         *counts(f, device))
            k = 3
            for mode in ("new", "out"):
                for kind in KINDS:
                    sources = np.stack([np.arange(shape[0])] + [rng.permutation(shape[0]) for _ in range(k - 1)], 1)
                    w = rng.dirichlet(np.ones(k), size=1 if kind == "per-batch" else shape[0])
                    w = np.broadcast_to(w, (shape[0], k)).copy()
                    if mode == "new":
                        def f(x=x, sources=sources, w=w):
                            return K.blend_many(x, sources, w)
                    else:
                        def f(x=x, sources=sources, w=w, out=out):
                            return K.blend_many(x, sources, w, out=out)
                    t = seconds(f, reps, device)
                    line(f"blend_many k={k}", mode, kind, dt, shape, t, (k + 1) * nbytes, copy_bw,
                         *counts(f, device))
            if dt == "fp32":
                y = torch.randint(0, NUM_CLASSES, (shape[0],), device=device)
                lam = rng.uniform(size=shape[0])
                p = pairs(shape[0], rng)
                def f(y=y, p=p, lam=lam):
                    return _cuda.mix_labels(y, p, lam, NUM_CLASSES, 0.1)

                t = seconds(f, reps, device)
                line("mix_labels", "new", "per-sample", dt, (shape[0], NUM_CLASSES), t,
                     shape[0] * NUM_CLASSES * 4, copy_bw, *counts(f, device))
                for pname, mode, f in peers(shape, device):
                    t = seconds(f, reps, device)
                    line(pname, mode, "peer", dt, shape, t, row_bytes(mode, nbytes), copy_bw, *counts(f, device))
    return 0


if __name__ == "__main__":
    sys.exit(main())

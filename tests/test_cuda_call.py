"""A whole ``t(x, y)`` call through the CUDA backend, run on CPU tensors under TRITON_INTERPRET=1:
the same batch and targets as the CPU route, in two kernel launches (batch, labels) and one upload
of the plan per launch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton", reason="Triton is not installed: the CUDA backend cannot be tested")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import numpy as np, torch, mixkit, mixkit.kernels as K
from mixkit.kernels import _cuda
assert _cuda.INTERPRETED
counts = {"launch": 0, "upload": 0}

class Counted:
    def __init__(self, k): self.k = k
    def __getitem__(self, grid):
        counts["launch"] += 1
        return self.k[grid]

for name in ("_mix_kernel", "_labels_kernel"):
    setattr(_cuda, name, Counted(getattr(_cuda, name)))
upload = _cuda._Plan.upload
def counted_upload(self, device):
    counts["upload"] += 1
    return upload(self, device)
_cuda._Plan.upload = counted_upload

g = torch.Generator().manual_seed(0)
x = (torch.rand(6, 3, 8, 8, generator=g) * 255).to(torch.uint8)
y = torch.tensor([0, 1, 2, 3, 4, 0])
for t in (mixkit.MixUp(1.0, num_classes=5), mixkit.MixUp(1.0, num_classes=5, lam_mode="sample", label_smoothing=0.1),
          mixkit.CutMix(1.0, num_classes=5, lam_mode="sample")):
    ref_x, ref_y = t(x, y, rng=3)  # the CPU backend
    K._FUSED["cpu"] = "._cuda"
    for v in list(K._loaded):
        del K._loaded[v]
    counts.update(launch=0, upload=0)
    got_x, got_y = t(x, y, rng=3)
    assert counts == {"launch": 2, "upload": 2}, counts
    K._FUSED["cpu"] = "._cpu"
    K._loaded.clear()
    assert torch.equal(got_x, ref_x), t
    assert torch.allclose(got_y, ref_y, atol=1e-6), t
print("ok")
"""


def test_whole_call_through_the_triton_kernels_matches_the_cpu_route():
    env = dict(os.environ, TRITON_INTERPRET="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout[-3000:] + run.stderr[-3000:]

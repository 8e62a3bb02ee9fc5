"""One picture per mask method: a batch it mixed, the masks it drew, and each sample's ``lam``.

Four 96x96 crops of scikit-learn's two sample photographs are mixed with ``pairing="flip"``
(sample ``i`` with ``3 - i``), per-sample draws and a fixed seed. Rows: the batch, the mask (white =
the sample's own data, black = the partner's), the mixed batch with ``lam`` and the mixed label.

    python examples/mask_gallery.py --out docs/img
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images

import mixkit
from mixkit.kernels import box_mask

NAMES = ["china A", "china B", "flower A", "flower B"]


def batch() -> np.ndarray:
    """Four crops, float32 NCHW in [0, 1], 96x96 (a 2x2 average of 192x192 crops)."""
    china, flower = load_sample_images().images
    crops = [china[40:232, 150:342], china[200:392, 380:572], flower[100:292, 150:342], flower[180:372, 300:492]]
    x = np.stack(crops).astype(np.float32) / 255.0
    x = x.reshape(4, 96, 2, 96, 2, 3).mean(axis=(2, 4))
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def plan_mask(plan: mixkit.MixPlan, shape: tuple[int, ...]) -> np.ndarray:
    """The weight of each sample's own data per pixel, ``(B, H, W)``."""
    if isinstance(plan, mixkit.MaskPlan):
        return plan.mask
    if hasattr(plan, "start"):
        inside = box_mask(shape, plan.axes, plan.start, plan.stop)[:, 0]
        return 1.0 - inside.astype(np.float64)
    return np.broadcast_to(plan.lam[:, None, None], (shape[0],) + shape[2:])


def draw(name: str, method: mixkit.Mixer, x: np.ndarray, out: Path, seed: int) -> Path:
    y = np.arange(4)
    kwargs = {"x": x} if isinstance(method, mixkit.SaliencyMix) else {}
    plan = method.sample(4, rng=seed, shape=x.shape, **kwargs)
    mixed, target = method.apply(plan, x, y)
    mask = plan_mask(plan, x.shape)
    fig, axes = plt.subplots(3, 4, figsize=(6.4, 5.0))
    for i in range(4):
        axes[0, i].imshow(x[i].transpose(1, 2, 0))
        axes[0, i].set_title(NAMES[i], fontsize=8)
        axes[1, i].imshow(mask[i], cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title(f"mask, partner {NAMES[plan.partner[i]]}", fontsize=7)
        axes[2, i].imshow(np.clip(mixed[i].transpose(1, 2, 0), 0, 1))
        top = np.argsort(-target[i])[:2]
        label = " + ".join(f"{target[i, c]:.2f} {NAMES[c]}" for c in top if target[i, c] > 0)
        axes[2, i].set_title(f"lam={plan.lam[i]:.3f}\n{label}", fontsize=6.5)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"{name}: {method!r}"[:110], fontsize=7)
    fig.tight_layout()
    path = out / f"{name.lower()}.png"
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    x = batch()
    common = {"lam_mode": "sample", "pairing": "flip", "num_classes": 4}
    methods = {
        "FMix": mixkit.FMix(1.0, **common),
        "FMix_soft": mixkit.FMix(1.0, max_soft=0.1, **common),
        "SmoothMix": mixkit.SmoothMix(**common),
        "GridMix": mixkit.GridMix(1.0, **common),
        "ResizeMix": mixkit.ResizeMix(**common),
        "SaliencyMix": mixkit.SaliencyMix(1.0, **common),
    }
    for name, method in methods.items():
        path = draw(name, method, x, args.out, args.seed)
        print(f"{path}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

"""A picture a person can check at a glance: a grid of mixed samples, each with its soft label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .methods import CutMix, Mixer, MixUp

__all__ = ["label_caption", "preview_grid", "default_methods"]


def default_methods(num_classes: int) -> dict[str, Mixer]:
    """The methods shown by ``mixkit preview``: every image method, each with per-sample draws."""
    from .methods import FMix, GridMix, ResizeMix, SaliencyMix, SmoothMix

    opts = {"lam_mode": "sample", "num_classes": num_classes}
    return {
        "MixUp": MixUp(1.0, pairing="pairs", **opts),
        "CutMix": CutMix(1.0, pairing="pairs", **opts),
        "FMix": FMix(1.0, pairing="pairs", **opts),
        "SmoothMix": SmoothMix(pairing="pairs", **opts),
        "GridMix": GridMix(pairing="pairs", **opts),
        "ResizeMix": ResizeMix(pairing="pairs", **opts),
        "SaliencyMix": SaliencyMix(**opts),
    }


def label_caption(target: np.ndarray, *, min_weight: float = 0.005, names: Sequence[str] | None = None) -> str:
    """``"7: 0.62 | 1: 0.38"``: the classes of one soft label row, largest share first."""
    target = np.asarray(target, dtype=np.float64)
    order = np.argsort(-target, kind="stable")
    parts = []
    for c in order:
        if target[c] < min_weight:
            break
        name = names[c] if names is not None else str(c)
        parts.append(f"{name}: {target[c]:.2f}")
    return " | ".join(parts)


def preview_grid(
    images: np.ndarray,
    labels: np.ndarray,
    methods: dict[str, Mixer],
    path: str | Path,
    *,
    n: int = 8,
    rng: Any = 0,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Mix ``n`` images ``(N, C, H, W)`` (float in [0, 1]) with each method and save a PNG grid.

    Row 0 shows the source images; each further row one method, every tile captioned with its soft
    label. Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = np.random.default_rng(rng)
    pick = gen.choice(len(images), size=n, replace=False)
    x, y = images[pick], labels[pick]
    rows: list[tuple[str, np.ndarray, list[str]]] = [
        ("source", x, [class_names[c] if class_names else str(c) for c in y])
    ]
    for name, method in methods.items():
        xm, ym = method(x, y, rng=gen)
        rows.append((name, xm, [label_caption(t, names=class_names) for t in ym]))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.9 * n, 2.25 * len(rows)), squeeze=False)
    for r, (name, batch, captions) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            img = np.moveaxis(batch[c], 0, -1)
            ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray_r" if img.shape[-1] == 1 else None,
                      vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(captions[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(title or "mixkit preview: mixed samples and their soft labels", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""A picture a person can check at a glance: a grid of mixed samples, each with its two sources and
their weights.

Small ``alpha`` draws ``lam`` near 0 or 1 most of the time, so a random tile shows one image, barely
touched. The grid therefore shows draws whose ``lam`` is informative (in :data:`INFORMATIVE`, with a
partner of another class where there is one), drawing a few plans if need be, and captions each tile
``"6 (0.62) + 1 (0.38)"``: the sample's class and weight ``lam``, then its partner's and ``1 - lam``.
Convention: ``out = lam * x + (1 - lam) * x[partner]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .methods import CutMix, Mixer, MixUp

__all__ = [
    "INFORMATIVE",
    "MixedTiles",
    "default_methods",
    "label_caption",
    "mix_for_display",
    "pair_caption",
    "preview_grid",
]

INFORMATIVE = (0.2, 0.8)  # lam in this range: both sources visibly present
POOL = 64  # samples mixed per draw, among which the tiles are chosen
MAX_DRAWS = 48  # plans drawn at most per method (one lam per batch needs several at small alpha)


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


def label_caption(
    target: np.ndarray, *, min_weight: float = 0.005, names: Sequence[str] | None = None
) -> str:
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


def pair_caption(own: str, partner: str, lam: float, *, mixed: bool = True) -> str:
    """``"6 (0.62) + 1 (0.38)"``: the sample's class with its weight ``lam``, then its partner's
    class with ``1 - lam``; ``"6 (1.00)"`` when nothing was mixed in."""
    if not mixed or lam >= 1.0 - 5e-3:
        return f"{own} (1.00)"
    return f"{own} ({lam:.2f}) + {partner} ({1.0 - lam:.2f})"


class MixedTiles(NamedTuple):
    """Mixed samples chosen for display: ``x`` ``(n, ...)``, a caption each, each tile's ``lam`` (its
    own weight; for plans mixing more than two samples, the largest share of its label), and the
    indices of each tile's sample and partner in the batch (partner -1 for plans mixing more than
    two samples)."""

    x: np.ndarray
    captions: list[str]
    lam: np.ndarray
    index: np.ndarray
    partner: np.ndarray


def _sample(method: Mixer, x: np.ndarray, y: np.ndarray, gen: np.random.Generator) -> Any:
    """A plan for the batch, given the batch and its labels (the methods that read them need them)."""
    return method.sample(len(x), rng=gen, shape=tuple(int(s) for s in x.shape), x=x, y=y)


def _pairwise(plan: Any) -> bool:
    return bool(getattr(plan, "pairwise", not hasattr(plan, "mix_label_targets")))


def _rank(lam: np.ndarray, different: np.ndarray) -> np.ndarray:
    """0: informative lam and a partner of another class; 1: informative lam; 2: the rest."""
    lo, hi = INFORMATIVE
    good = (lam >= lo) & (lam <= hi)
    return np.where(good & different, 0, np.where(good, 1, 2))


def mix_for_display(
    method: Mixer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    n: int = 8,
    rng: Any = 0,
    class_names: Sequence[str] | None = None,
    max_draws: int = MAX_DRAWS,
) -> MixedTiles:
    """Mix ``x`` ``(B, ...)`` with labels ``y`` (class indices) and choose ``n`` tiles to show.

    Plans are drawn on the whole batch until ``n`` samples have an informative ``lam`` (in
    :data:`INFORMATIVE`) and a partner of another class, or ``max_draws`` plans were drawn. Tiles are
    chosen in that order of preference (informative with another class, informative, then the most
    mixed, ``lam`` nearest 0.5). Captions come from :func:`pair_caption` (:func:`label_caption` for
    plans mixing more than two samples)."""
    gen = np.random.default_rng(rng)
    y = np.asarray(y)
    n = min(int(n), len(x))
    names = [str(c) for c in class_names] if class_names is not None else None

    def name(c: Any) -> str:
        return names[int(c)] if names is not None else str(c)

    draws: list[Any] = []
    cand: list[tuple[int, float, int, int, float]] = []  # (rank, |lam - 0.5|, draw, index, lam)
    found = 0
    for d in range(max(1, int(max_draws))):
        plan = _sample(method, x, y, gen)
        draws.append(plan)
        if _pairwise(plan):
            partner = np.asarray(plan.partner)
            alone = partner == np.arange(len(partner))  # paired with itself: nothing mixed in
            lam = np.where(alone, 1.0, np.asarray(plan.lam, dtype=np.float64))
            different = y[partner] != y
        else:  # several sources per sample: the label's largest share stands for lam
            _, targets = method.apply(plan, x, y)
            lam = np.asarray(targets, dtype=np.float64).max(axis=1)
            different = np.ones(len(lam), dtype=bool)
        rank = _rank(lam, different)
        cand += [
            (int(rank[i]), abs(float(lam[i]) - 0.5), d, i, float(lam[i])) for i in range(len(lam))
        ]
        found += int(np.sum(rank == 0))
        if found >= n:
            break
    chosen = sorted(cand, key=lambda c: (c[0], c[1] if c[0] == 2 else 0.0, c[2], c[3]))[:n]
    mixed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    tiles, captions, lams, partners = [], [], [], []
    for _, _, d, i, lam_i in chosen:
        if d not in mixed:
            xm, ym = method.apply(draws[d], x, y)
            mixed[d] = (np.asarray(xm), np.asarray(ym))
        xm, ym = mixed[d]
        tiles.append(xm[i])
        plan = draws[d]
        if _pairwise(plan):
            j = int(np.asarray(plan.partner)[i])
            captions.append(pair_caption(name(y[i]), name(y[j]), lam_i, mixed=j != i))
        else:
            j = -1
            captions.append(label_caption(ym[i], names=names))
        lams.append(lam_i)
        partners.append(j)
    return MixedTiles(
        np.stack(tiles),
        captions,
        np.asarray(lams),
        np.asarray([c[3] for c in chosen], dtype=np.int64),
        np.asarray(partners, dtype=np.int64),
    )


def image_for_display(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """One ``(C, H, W)`` image as something ``imshow`` shows, and its colour map: grey for one
    channel, RGB for 3 (the first three of 4), the mean of the channels otherwise."""
    c = img.shape[0]
    if c == 1:
        return img[0], "gray_r"
    if c in (3, 4):
        return np.clip(np.moveaxis(img[:3], 0, -1), 0.0, 1.0), None
    return img.mean(axis=0), "gray_r"


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
    """Mix images ``(N, C, H, W)`` (float in [0, 1]) with each method and save a PNG grid.

    One row per method, ``n`` tiles each, chosen by :func:`mix_for_display` among a pool of up to
    64 images; every tile is captioned with its two sources and their weights. Returns the path
    written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"preview_grid needs images of shape (N, C, H, W), got shape {images.shape}"
        )
    gen = np.random.default_rng(rng)
    pick = gen.choice(len(images), size=min(POOL, len(images)), replace=False)
    x, y = images[pick], np.asarray(labels)[pick]
    n = min(int(n), len(x))
    rows = [
        (name, mix_for_display(method, x, y, n=n, rng=gen, class_names=class_names))
        for name, method in methods.items()
    ]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.9 * n, 2.25 * len(rows)), squeeze=False)
    for r, (name, tiles) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            img, cmap = image_for_display(tiles.x[c])
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(tiles.captions[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    head = title or "mixkit preview: mixed samples and their soft labels"
    lo, hi = INFORMATIVE
    pairs = all(np.all(tiles.partner >= 0) for _, tiles in rows)
    how = ("own class (lam) + partner class (1 - lam)" if pairs else
           "own class (lam) + partner class (1 - lam), or (several sources) each class and its weight")
    fig.suptitle(
        f"{head}\neach tile: {how}; shown where lam is in [{lo:g}, {hi:g}] when a draw gives one",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

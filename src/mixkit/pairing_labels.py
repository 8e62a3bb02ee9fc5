"""Pairing that sees the labels, class counts, and Remix's label rule. Host-side NumPy, no arrays mixed.

- ``"balanced"``: each sample draws its partner with weight ``1 / (count of the partner's class in
  the batch)``, so the partner's class is uniform over the classes present in the batch
  (Balanced-MixUp's class-based partner, drawn from the batch itself).
- ``"intra"``: a partner of the same class (uniform among the others; the sample itself if it is
  alone in its class).
- ``"inter"``: a partner of another class (uniform among them; itself if the batch has one class).

Remix (Chou et al., 2020) keeps the mixed input but moves the label towards the minority class:
with ``n_i``, ``n_j`` the training counts of the classes of a sample and its partner and ``lam`` the
sample's own share, the label weight of the sample is ``0`` if ``n_i / n_j >= kappa`` and
``lam < tau``; ``1`` if ``n_i / n_j <= 1 / kappa`` and ``1 - lam < tau``; ``lam`` otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_generator, check_choice
from ._xp import to_numpy

__all__ = ["LABEL_PAIRINGS", "ClassCounts", "class_indices", "kernel_log_weights", "remix_label_lam",
           "sample_kernel_partner", "sample_label_partner"]

LABEL_PAIRINGS = ("balanced", "intra", "inter")


def class_indices(y: Any) -> np.ndarray:
    """Host int64 class per sample ``(B,)``: index labels as they are, probability rows ``(B, C)`` by argmax."""
    arr = np.asarray(to_numpy(y))
    if arr.ndim == 2:
        return np.argmax(arr, axis=1).astype(np.int64) if arr.shape[1] else np.zeros(arr.shape[0], np.int64)
    return arr.astype(np.int64)


def sample_label_partner(classes: Any, pairing: str = "balanced", rng: Any = None) -> np.ndarray:
    """Partners ``(B,)`` (int64) for samples of the given integer ``classes`` ``(B,)``; see the module
    notes. ``rng``: an int seed, a ``numpy.random.Generator``, a ``SeedSequence`` or None."""
    check_choice("pairing", pairing, LABEL_PAIRINGS)
    rng = as_generator(rng)
    arr = np.asarray(to_numpy(classes) if not isinstance(classes, (list, tuple)) else classes)
    if arr.ndim != 1:
        raise ValueError(
            f"classes must be class ids of shape (B,), got shape {arr.shape}; for probability rows (B, C) "
            "pass mixkit.pairing_labels.class_indices(y)"
        )
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"classes must be integer class ids, got dtype {arr.dtype}")
    classes = arr.astype(np.int64)
    b = classes.shape[0]
    if b == 0:
        return np.zeros(0, np.int64)
    _, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    if pairing == "balanced":
        weights = 1.0 / counts[inverse]
        return rng.choice(b, size=b, p=weights / weights.sum()).astype(np.int64)
    partner = np.arange(b, dtype=np.int64)
    same = classes[:, None] == classes[None, :]
    allowed = same & ~np.eye(b, dtype=bool) if pairing == "intra" else ~same
    n_allowed = allowed.sum(axis=1)
    has = n_allowed > 0
    if has.any():
        # the k-th allowed index of each row, k uniform in [0, n_allowed)
        k = np.floor(rng.random(b) * np.maximum(n_allowed, 1)).astype(np.int64)
        rank = np.cumsum(allowed, axis=1) - 1
        pick = np.argmax(allowed & (rank == k[:, None]), axis=1)
        partner = np.where(has, pick, partner)
    return partner


def kernel_log_weights(y: Any, sigma: float) -> np.ndarray:
    """Log partner weights ``(B, B)`` of C-Mixup: ``-d(y_i, y_j)^2 / (2 sigma^2)`` for ``j != i``, ``-inf``
    on the diagonal. ``y``: continuous targets ``(B,)`` or ``(B, D)`` (Euclidean distance); host NumPy."""
    v = np.asarray(to_numpy(y), dtype=np.float64)
    v = v.reshape(v.shape[0], -1)
    sq = np.einsum("ij,ij->i", v, v)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (v @ v.T), 0.0)
    logw = d2 * (-0.5 / (float(sigma) ** 2))
    np.fill_diagonal(logw, -np.inf)
    return logw


def sample_kernel_partner(y: Any, sigma: float, rng: Any = None) -> np.ndarray:
    """C-Mixup partners ``(B,)`` (int64): sample ``i`` draws ``j != i`` with probability proportional to
    ``exp(-d(y_i, y_j)^2 / (2 sigma^2))`` (Euclidean distance of the targets ``(B,)`` or ``(B, D)``).

    One vectorised draw for the whole batch (the Gumbel-max trick over the ``(B, B)`` log weights, so
    a tiny ``sigma`` never underflows: the nearest target wins). A batch of one pairs the sample with
    itself. ``rng``: an int seed, a ``numpy.random.Generator``, a ``SeedSequence`` or None.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)) or not (
        np.isfinite(sigma) and sigma > 0
    ):
        raise ValueError(f"sigma must be a positive finite number (the kernel bandwidth), got {sigma!r}")
    rng = as_generator(rng)
    b = int(np.shape(to_numpy(y))[0]) if not isinstance(y, (list, tuple)) else len(y)
    if b <= 1:
        return np.zeros(b, np.int64)
    logw = kernel_log_weights(y, float(sigma))
    return np.argmax(logw + rng.gumbel(size=(b, b)), axis=1).astype(np.int64)


class ClassCounts:
    """Training-set class counts for Remix: given once (``counts=``), or tracked over the batches seen.

    ``counts``: non-negative numbers per class, or None to start from zero and add each batch's
    classes in :meth:`update`. ``num_classes``: the number of classes when tracking (grown on demand
    if a larger class index is seen).
    """

    def __init__(self, counts: Any = None, *, num_classes: int | None = None) -> None:
        if counts is None:
            self.tracked = True
            self._counts = np.zeros(0 if num_classes is None else int(num_classes), dtype=np.float64)
        else:
            arr = np.asarray(counts, dtype=np.float64)
            if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(
                    f"counts must be a 1-D sequence of non-negative class counts, got {np.asarray(counts)!r}"
                )
            if num_classes is not None and arr.size != num_classes:
                raise ValueError(f"counts has {arr.size} entries but num_classes={num_classes}; give one per class")
            self.tracked = False
            self._counts = arr.copy()

    @property
    def counts(self) -> np.ndarray:
        """A copy of the current counts, float64 ``(C,)``."""
        return self._counts.copy()

    def update(self, classes: np.ndarray) -> None:
        """Add a batch's classes (tracking only; given counts stay fixed)."""
        if not self.tracked:
            return
        classes = np.asarray(classes, dtype=np.int64)
        if classes.size == 0:
            return
        need = int(classes.max()) + 1
        if need > self._counts.size:
            self._counts = np.concatenate([self._counts, np.zeros(need - self._counts.size)])
        self._counts += np.bincount(classes, minlength=self._counts.size)

    def of(self, classes: np.ndarray) -> np.ndarray:
        """Counts of the given classes ``(B,)``; raise ValueError for a class the counts do not cover."""
        classes = np.asarray(classes, dtype=np.int64)
        if classes.size and int(classes.max()) >= self._counts.size:
            raise ValueError(
                f"class {int(classes.max())} has no count: the counts cover {self._counts.size} classes"
            )
        return self._counts[classes]

    def __repr__(self) -> str:
        kind = "tracked" if self.tracked else "given"
        return f"ClassCounts({kind}, counts={self._counts.tolist()})"


def remix_label_lam(lam: np.ndarray, own_count: np.ndarray, partner_count: np.ndarray, *,
                    kappa: float, tau: float) -> np.ndarray:
    """Remix's label weight of each sample's own class, float64 ``(B,)`` (see the module notes).

    ``lam``: the sample's own share of the mixed input; ``own_count``/``partner_count``: the training
    counts of the two classes. A zero count makes its class the minority of any non-empty class.
    """
    lam = np.asarray(lam, dtype=np.float64)
    n_i = np.asarray(own_count, dtype=np.float64)
    n_j = np.asarray(partner_count, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = n_i / n_j
    out = lam.copy()
    to_partner = (ratio >= kappa) & (lam < tau)
    to_own = (ratio <= 1.0 / kappa) & (1.0 - lam < tau)
    out[to_own] = 1.0
    out[to_partner] = 0.0  # the first case of the rule wins where both hold (possible with kappa = 1)
    return out

"""Metrics of a trained model and statistics across paired seeds.

Per trial, classification: accuracy, balanced accuracy, NLL, ECE (15 equal-width confidence bins),
and the same after temperature scaling fitted on the validation split. Regression: RMSE and MAE over
every target value, in the targets' units. Multi-label: micro-F1 and macro-F1 at threshold 0.5 and
mAP (mean over labels of average precision). Across seeds: mean with a 95% t-interval, and
paired differences against no mixing: a paired t-test on the per-seed differences, or, where every
seed moved by the same amount (the t-test is then undefined), an exact sign test; :func:`paired`
names the test it ran.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "ECE_BINS",
    "SIGN_TEST",
    "T_TEST",
    "classification_metrics",
    "fit_temperature",
    "interval",
    "log_softmax",
    "multilabel_metrics",
    "paired",
    "regression_metrics",
    "reliability_bins",
    "tune_thresholds",
]

ECE_BINS = 15
T_TEST = "paired t-test"
SIGN_TEST = "exact sign test"


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``(N, C)`` logits, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def reliability_bins(
    probs: np.ndarray, y: np.ndarray, n_bins: int = ECE_BINS
) -> dict[str, list[float]]:
    """Per equal-width bin of the top-class confidence: count, summed confidence and summed correctness.

    Sums (not means) so bins of several seeds can be added before dividing.
    """
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    which = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    return {
        "count": np.bincount(which, minlength=n_bins).astype(float).tolist(),
        "conf": np.bincount(which, weights=conf, minlength=n_bins).tolist(),
        "correct": np.bincount(which, weights=correct, minlength=n_bins).tolist(),
    }


def ece_from_bins(bins: dict[str, list[float]]) -> float:
    """Expected calibration error: sum over bins of ``count/N * |mean confidence - accuracy|``."""
    count = np.asarray(bins["count"])
    total = count.sum()
    if total == 0:
        return float("nan")
    return float(np.abs(np.asarray(bins["conf"]) - np.asarray(bins["correct"])).sum() / total)


def classification_metrics(
    logits: np.ndarray, y: np.ndarray, num_classes: int, temperature: float = 1.0
) -> dict[str, Any]:
    """``acc``, ``bacc`` (mean recall over the classes present), ``nll``, ``ece`` and the bins."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    probs = np.exp(logp)
    pred = probs.argmax(axis=1)
    recalls = [np.mean(pred[y == c] == c) for c in range(num_classes) if np.any(y == c)]
    bins = reliability_bins(probs, y)
    return {
        "acc": float(np.mean(pred == y)),
        "bacc": float(np.mean(recalls)),
        "nll": float(-np.mean(logp[np.arange(len(y)), y])),
        "ece": ece_from_bins(bins),
        "bins": bins,
    }


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``rmse`` = sqrt(mean of squared errors) and ``mae`` = mean absolute error, over every value of
    ``(n,)`` or ``(n, D)`` targets (for ``D > 1``: over all ``n * D`` values, so a column counts in
    proportion to its scale), in the targets' units."""
    err = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def average_precision(scores: np.ndarray, y: np.ndarray) -> float:
    """Average precision of one label: ``sum_k (R_k - R_{k-1}) * P_k`` over the distinct score
    thresholds, highest first (tied scores enter together; the definition of scikit-learn's
    ``average_precision_score``). NaN when ``y`` has no positive."""
    t = np.asarray(y, dtype=np.float64)
    pos = t.sum()
    if pos <= 0:
        return float("nan")
    _, last, tp = _cuts(scores, t)
    precision = tp / (last + 1)
    recall = tp / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _cuts(scores: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cuts at each distinct score, highest first (tied scores enter together): the scores
    sorted descending, the last sorted index of each distinct score and the positives of ``y``
    (0/1 weights) at or above it."""
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s = s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    return s, last, np.cumsum(np.asarray(y, dtype=np.float64)[order])[last]


def tune_thresholds(probs: np.ndarray, y: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per-label thresholds ``(C,)`` that maximise each label's F1 on ``(probs, y)`` (validation).

    For label ``c`` the candidates are its distinct scores: predicting the ``k`` highest-scored
    samples gives ``F1 = 2 TP_k / (k + P)``; the best ``k`` (the fewest predictions among ties) is
    turned into the threshold halfway between the last score kept and the next lower one (the lowest
    score itself when every sample is kept). A label without a positive keeps ``default``."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64) > 0.5
    out = np.full(p.shape[1], float(default))
    for c in range(p.shape[1]):
        pos = t[:, c].sum()
        if pos == 0:
            continue
        s, last, tp = _cuts(p[:, c], t[:, c])
        j = last[int(np.argmax(2 * tp / (last + 1 + pos)))]  # F1 of each cut; the first best
        out[c] = s[j] if j == len(s) - 1 else 0.5 * (s[j] + s[j + 1])
    return out


def multilabel_metrics(
    probs: np.ndarray, y: np.ndarray, threshold: float | np.ndarray = 0.5
) -> dict[str, Any]:
    """Multi-label scores of per-label probabilities ``(n, C)`` against multi-hot ``y`` ``(n, C)``.

    ``micro_f1``: F1 of all (sample, label) decisions pooled, a label predicted where its
    probability is ``>= threshold`` (a number, or one per label ``(C,)``); ``macro_f1``: the mean over labels of each label's F1
    (``2 TP / (2 TP + FP + FN)``, 0 for a label never present nor predicted, as scikit-learn's
    ``zero_division=0``); ``map``: the mean over the labels that have a positive in ``y`` of their
    average precision (:func:`average_precision`); ``map_labels`` says how many labels that was."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64) > 0.5
    pred = p >= threshold
    tp = (pred & t).sum(axis=0).astype(np.float64)
    fp = (pred & ~t).sum(axis=0).astype(np.float64)
    fn = (~pred & t).sum(axis=0).astype(np.float64)
    denom = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    aps = [average_precision(p[:, c], t[:, c]) for c in range(p.shape[1]) if t[:, c].any()]
    return {
        "micro_f1": float(2 * tp.sum() / total) if total > 0 else 0.0,
        "macro_f1": float(per_label.mean()) if per_label.size else 0.0,
        "map": float(np.mean(aps)) if aps else float("nan"),
        "map_labels": len(aps),
    }


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature ``T`` in [0.05, 20] minimising the NLL of ``softmax(logits / T)`` on ``(logits, y)``."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(z / math.exp(log_t))[rows, y]))

    res = minimize_scalar(
        nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded", options={"xatol": 1e-4}
    )
    return float(math.exp(res.x))


def interval(values: Any) -> tuple[float, float, float]:
    """Mean and 95% t-interval ``(mean, low, high)``; the bounds are NaN for fewer than 2 values."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 3
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half


def paired(values: Any, baseline: Any) -> dict[str, Any]:
    """Paired difference ``values - baseline`` over seeds: mean, 95% interval, p, the test run, wins.

    ``test`` names what gave ``p``: :data:`T_TEST` (a one-sample t-test on the differences), or
    :data:`SIGN_TEST` when every seed gives the same difference (up to rounding, as accuracies of
    equal-sized splits often do): the t-test is then undefined (zero spread) and ``p`` is the exact
    two-sided sign-test value ``2 * 0.5 ** n``, or 1 when nothing changed; ``""`` with one seed
    (``p`` NaN)."""
    from scipy import stats

    d = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    mean, low, high = interval(d)
    if d.size < 2:
        p, test = float("nan"), ""
    elif np.allclose(d, d[0], rtol=1e-9, atol=1e-12):  # one shared difference: no t-test
        same = abs(float(d[0])) <= 1e-12
        p, test = (1.0 if same else min(1.0, 2.0 * 0.5**d.size)), SIGN_TEST
        if same:
            d = np.zeros_like(d)
    else:
        p, test = float(stats.ttest_1samp(d, 0.0).pvalue), T_TEST
    return {
        "mean": mean,
        "low": low,
        "high": high,
        "p": p,
        "test": test,
        "n": int(d.size),
        "wins": int(np.sum(d > 0)),
        "losses": int(np.sum(d < 0)),
    }

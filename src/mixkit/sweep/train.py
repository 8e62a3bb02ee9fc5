"""One trial: call a training function with one strategy and one seed, then measure its predictions.

A training function is any callable with this contract (the built-in :class:`ReferenceTrainer` is
one; ``mixkit.sweep(data, train=fn)`` and ``mixkit sweep --train module:function`` take yours)::

    fn(transform, X_train, y_train, *, seed, device, num_classes) -> predict

``transform`` is the strategy's mixkit transform (``None`` for no mixing), called on a batch as
``x_mixed, targets = transform(xb, yb, rng=...)`` with ``targets`` soft labels ``(B, num_classes)``
mixed as ``out = lam * x + (1 - lam) * x[partner]`` (``lam`` = the sample's own weight);
``X_train``/``y_train`` are NumPy arrays of the training split (labels int64 in ``[0, num_classes)``);
``seed`` is the trial's seed (paired across strategies); ``device`` is ``"cpu"`` or ``"cuda[:N]"``.
``predict(X)`` returns class probabilities ``(len(X), num_classes)``; the sweep calls it on the
validation and the test inputs and measures the rest itself.

The same contract serves the other tasks (``--task``):

- ``regression``: ``y_train`` float64 targets ``(n,)`` or ``(n, D)`` in their own units (not
  standardised), ``num_classes`` the number of target columns ``D`` (1 for ``(n,)``), the transform
  built with ``targets="continuous"`` (``targets`` = the mixed float targets, same shape as ``yb``);
  ``predict(X)`` returns predictions in the targets' units, shape ``(len(X),)`` or ``(len(X), D)``
  like ``y_train`` (``(len(X), 1)`` is taken for ``(len(X),)``), all finite.
- ``multilabel``: ``y_train`` float32 multi-hot ``(n, C)`` of 0/1, ``num_classes`` = C, ``targets``
  weighted multi-hot rows (``mixkit.torch.mixed_binary_cross_entropy`` is their loss);
  ``predict(X)`` returns per-label probabilities ``(len(X), C)`` in [0, 1] (apply a sigmoid).

Seeds are paired across strategies: in the reference trainer, for a given seed every strategy starts
from the same weights and sees the same batches in the same order; only the mixing draws differ. The
four streams (weights, batch order, mixing, the model's own training draws such as dropout) come from
``SeedSequence([seed]).spawn(4)``; torch's global RNG is restored after.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import Dataset
from .errors import SweepError
from .methods import Strategy
from .metrics import (
    classification_metrics,
    fit_temperature,
    multilabel_metrics,
    regression_metrics,
    tune_thresholds,
)
from .models import build_model, callable_name, resolve_factory
from .tasks import CLASSIFICATION, MULTILABEL, REGRESSION

__all__ = [
    "ReferenceTrainer",
    "TrainConfig",
    "TrialError",
    "check_label_probabilities",
    "check_predictions",
    "check_probabilities",
    "cut_axes",
    "effective_batch_size",
    "on_step",
    "resolve_device",
    "run_trial",
    "step",
]

SUM_TOL = 1e-3  # |row sum - 1| allowed in predicted probabilities (float32 softmax is ~1e-6 off)
NEG_TOL = 1e-6  # values this far below 0 are rounding, anything lower is not a probability
LOG_FLOOR = 1e-15  # probabilities are floored here before the log (NLL of a certain, wrong 0)

_STEP: ContextVar[Callable[[], None] | None] = ContextVar("mixkit_sweep_step", default=None)


class TrialError(RuntimeError):
    """A training function broke the contract (what it returned is not usable)."""


@dataclass(frozen=True)
class TrainConfig:
    """The schedule every strategy shares: AdamW, cosine decay, soft-target cross entropy."""

    epochs: int = 60
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4


def cut_axes(kind: str) -> tuple[int, ...]:
    """Axes that box-cutting methods cut along: ``(-2, -1)`` for images, ``(-1,)`` otherwise."""
    return (-2, -1) if kind == "image" else (-1,)


def effective_batch_size(batch_size: int, n_train: int) -> int:
    """At most ``batch_size`` and at most a fifth of the training split (at least 2), so that tiny
    training splits still get several steps per epoch."""
    return max(2, min(batch_size, n_train // 5))


def resolve_device(device: str | None) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; ``"cpu"``, ``"cuda"`` and
    ``"cuda:N"`` are checked against what is there. Raises :class:`SweepError` for a CUDA device
    that is not available."""
    text = "auto" if device is None else str(device).strip().lower()
    if text not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", text):
        raise SweepError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if text == "cpu":
        return text
    try:
        import torch
    except ImportError:
        if text == "auto":
            return "cpu"
        raise SweepError(f"--device {text} needs PyTorch with CUDA; use --device cpu") from None
    available = torch.cuda.is_available()
    if text == "auto":
        return "cuda" if available else "cpu"
    if not available:
        why = "built without CUDA" if torch.version.cuda is None else "it sees no CUDA device"
        raise SweepError(
            f"--device {text}: CUDA is not available (torch {torch.__version__}: {why}); "
            "use --device cpu, or auto to take a GPU only when there is one"
        )
    count = torch.cuda.device_count()
    if ":" in text and int(text.split(":")[1]) >= count:
        raise SweepError(
            f"--device {text}: there are {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return text


def step() -> None:
    """Called by the reference trainer after every optimizer step: runs the hook of the trial in
    progress (the sweep's stop check, which raises KeyboardInterrupt when the sweep is stopping)."""
    hook = _STEP.get()
    if hook is not None:
        hook()


@contextmanager
def on_step(hook: Callable[[], None] | None) -> Iterator[None]:
    """Make :func:`step` call ``hook`` inside this block."""
    token = _STEP.set(hook)
    try:
        yield
    finally:
        _STEP.reset(token)


@dataclass(frozen=True)
class ReferenceTrainer:
    """The built-in training function: a small torch model (``model``: ``cnn``, ``cnn1d``, ``mlp``,
    ``"module:function"`` or a factory ``f(input_shape, num_classes) -> nn.Module``) trained with
    AdamW, cosine decay and soft-target cross entropy on mixed batches; ``predict`` is its softmax.

    ``task="regression"``: the model has one output per target column and is trained with MSE on
    targets standardised with the training split's mean and standard deviation (per column); the
    batch is mixed in the targets' own units first (so C-Mixup's ``sigma`` is in those units;
    mixing commutes with the affine standardisation), and ``predict`` maps back to the targets'
    units. ``task="multilabel"``: binary cross entropy on the (weighted) multi-hot targets
    (:func:`mixkit.torch.mixed_binary_cross_entropy`); ``predict`` is the per-label sigmoid.

    Follows the training-function contract of this module; the batch is moved to ``device`` before
    the transform is called, so the mixing runs there too."""

    model: Any = "mlp"
    cfg: TrainConfig = TrainConfig()
    task: str = CLASSIFICATION

    def __call__(
        self,
        transform: Any,
        X_train: np.ndarray,
        y_train: np.ndarray,
        *,
        seed: int,
        device: str = "cpu",
        num_classes: int,
    ) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        import mixkit.torch as mt

        _, factory = resolve_factory(self.model, "tabular")
        cfg = self.cfg
        dev = torch.device(device)
        init_ss, order_ss, mix_ss, train_ss = np.random.SeedSequence([int(seed)]).spawn(4)
        order_gen = np.random.default_rng(order_ss)
        mix_gen = np.random.default_rng(mix_ss)
        X = torch.from_numpy(np.ascontiguousarray(X_train, dtype=np.float32)).to(dev)
        task = self.task
        if task == CLASSIFICATION:
            y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(dev)
            eye = torch.eye(num_classes, device=dev)
        else:
            y = torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.float32)).to(dev)
        flat = task == REGRESSION and y.ndim == 1  # (n,) targets: one output, squeezed
        if task == REGRESSION:  # standardise with the training split (per target column)
            y_mean = y.mean(dim=0)
            y_std = y.std(dim=0, unbiased=False)
            y_std = torch.where(y_std > 1e-12, y_std, torch.ones_like(y_std))
        n = len(y)
        bs = effective_batch_size(cfg.batch_size, n)
        steps_per_epoch = max(1, n // bs)  # full batches only: a batch of 1 breaks batch norm
        with torch.random.fork_rng(devices=[]):  # built on the CPU: the same weights on any device
            torch.manual_seed(int(init_ss.generate_state(1, dtype=np.uint32)[0]))
            model = build_model(factory, tuple(X_train.shape[1:]), num_classes)
        model.to(dev)
        hidden = getattr(transform, "mixes_hidden", False)  # tmix: mixes inside the model, runs it
        if hidden:
            transform = transform.bind(model)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
        # training draws (dropout, any randomness of a user's --model) from the trial's own stream,
        # so trials repeat and stay paired; torch's global RNG is as it was afterwards
        forked = []
        if dev.type == "cuda":
            forked = [dev.index if dev.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(int(train_ss.generate_state(1, dtype=np.uint32)[0]))
            for _ in range(cfg.epochs):
                model.train()
                perm = torch.from_numpy(order_gen.permutation(n)).to(dev)
                for s in range(steps_per_epoch):
                    idx = perm[s * bs : (s + 1) * bs]
                    xb, yb = X[idx], y[idx]
                    if transform is None:
                        logits = model(xb)
                        targets = eye[yb] if task == CLASSIFICATION else yb
                    elif hidden:
                        logits, targets = transform(xb, yb, rng=mix_gen)
                    else:
                        xb, targets = transform(xb, yb, rng=mix_gen)
                        logits = model(xb)
                    if task == REGRESSION:
                        z = (targets - y_mean) / y_std
                        loss = torch.nn.functional.mse_loss(logits, z.reshape(logits.shape))
                    elif task == MULTILABEL:
                        loss = mt.mixed_binary_cross_entropy(logits, targets)
                    else:
                        loss = mt.soft_cross_entropy(logits, targets)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    step()
        model.eval()

        def head(logits: Any) -> Any:
            if task == REGRESSION:
                pred = logits.double() * y_std.double() + y_mean.double()
                return pred.reshape(-1) if flat else pred
            if task == MULTILABEL:
                return torch.sigmoid(logits.double())
            return torch.softmax(logits.double(), dim=1)

        def predict(X_eval: np.ndarray) -> np.ndarray:
            out = []
            with torch.no_grad():
                for i in range(0, len(X_eval), 512):
                    xb = torch.from_numpy(
                        np.ascontiguousarray(X_eval[i : i + 512], dtype=np.float32)
                    )
                    out.append(head(model(xb.to(dev))).cpu().numpy())
            empty = (0,) if flat else (0, num_classes)
            return np.concatenate(out) if out else np.zeros(empty)

        return predict


def check_probabilities(p: Any, n: int, num_classes: int, what: str) -> np.ndarray:
    """``p`` as float64 class probabilities ``(n, num_classes)`` (rows >= 0 summing to 1, within
    :data:`SUM_TOL`; renormalised), or :class:`TrialError` saying what is wrong with it.
    Torch tensors (any device), TensorFlow and JAX arrays are read as NumPy."""
    arr = _as_array(p, what, "class probabilities")
    if arr.shape != (n, num_classes):
        raise TrialError(
            f"{what} returned shape {arr.shape}; expected class probabilities of shape "
            f"({n}, {num_classes}), i.e. (len(X), num_classes)"
        )
    _check_finite(arr, n, what)
    if (arr < -NEG_TOL).any():
        r = int(np.argmin(arr.min(axis=1)))
        raise TrialError(
            f"{what} returned negative values (row {r}: min {arr[r].min():.4g}); expected class "
            "probabilities (apply a softmax to logits)"
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOL
    if off.any():
        r = int(np.argmax(np.abs(sums - 1.0)))
        raise TrialError(
            f"{what} returned rows that do not sum to 1 ({int(off.sum())} of {n} off by more than "
            f"{SUM_TOL:g}; row {r} sums to {sums[r]:.6g}); expected class probabilities (apply a "
            "softmax to logits)"
        )
    arr = np.clip(arr, 0.0, None)
    return arr / arr.sum(axis=1, keepdims=True)


def _as_array(p: Any, what: str, expected: str) -> np.ndarray:
    """``p`` as a float64 array; torch tensors (any device), TensorFlow and JAX arrays read as NumPy."""
    if hasattr(p, "detach") and hasattr(p, "cpu"):  # a torch tensor, perhaps on a GPU
        p = p.detach().cpu()
    try:
        return np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrialError(
            f"{what} returned a {type(p).__name__}, not an array of {expected} "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _check_finite(arr: np.ndarray, n: int, what: str) -> None:
    finite = np.isfinite(arr).all(axis=tuple(range(1, arr.ndim)))  # per row; empty batches too
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise TrialError(
            f"{what} returned NaN or infinite values in {len(rows)} of {n} rows (first: row "
            f"{rows[0]}: {np.atleast_1d(arr[rows[0]])[:6].tolist()})"
        )


def check_predictions(p: Any, n: int, target_shape: tuple[int, ...], what: str) -> np.ndarray:
    """``p`` as float64 regression predictions of shape ``(n, *target_shape)`` (``target_shape``
    ``()`` for ``(n,)`` targets, where ``(n, 1)`` is taken too), all finite, or :class:`TrialError`."""
    arr = _as_array(p, what, "predictions")
    want = (n, *target_shape)
    if target_shape == () and arr.shape == (n, 1):
        arr = arr.reshape(n)
    if arr.shape != want:
        like = "(len(X),)" if target_shape == () else f"(len(X), {target_shape[0]})"
        raise TrialError(
            f"{what} returned shape {arr.shape}; expected regression predictions of shape {want}, "
            f"i.e. {like} like the training targets"
        )
    _check_finite(arr, n, what)
    return arr


def check_label_probabilities(p: Any, n: int, num_labels: int, what: str) -> np.ndarray:
    """``p`` as float64 per-label probabilities ``(n, num_labels)`` in [0, 1] (multi-label; rows
    need not sum to 1), or :class:`TrialError` saying what is wrong with it."""
    arr = _as_array(p, what, "per-label probabilities")
    if arr.shape != (n, num_labels):
        raise TrialError(
            f"{what} returned shape {arr.shape}; expected per-label probabilities of shape "
            f"({n}, {num_labels}), i.e. (len(X), number of labels)"
        )
    _check_finite(arr, n, what)
    if (arr < -NEG_TOL).any() or (arr > 1 + NEG_TOL).any():
        r = int(np.argmax(np.maximum(-arr, arr - 1).max(axis=1)))
        raise TrialError(
            f"{what} returned values outside [0, 1] (row {r}: min {arr[r].min():.4g}, max "
            f"{arr[r].max():.4g}); expected per-label probabilities (apply a sigmoid to logits)"
        )
    return np.clip(arr, 0.0, 1.0)


def run_trial(
    ds: Dataset,
    strategy: Strategy,
    seed: int,
    train: Callable[..., Any],
    *,
    device: str = "cpu",
) -> dict[str, Any]:
    """Call ``train`` once (see the contract above), then measure its predictions on the validation
    and test splits; returns plain JSON-able metrics. The function gets copies of the training
    arrays, so nothing it does to them reaches the next trial. Exceptions raised by ``train`` or
    ``predict`` propagate; a result that breaks the contract raises :class:`TrialError`."""
    start, cpu_start = time.perf_counter(), time.process_time()
    transform = strategy.build(ds.num_classes, cut_axes(ds.kind), ds.task)
    k = ds.num_classes
    predict = train(
        transform,
        ds.X_train.copy(),
        ds.y_train.copy(),
        seed=int(seed),
        device=device,
        num_classes=k,
    )
    if not callable(predict):
        returns = {
            CLASSIFICATION: "class probabilities of shape (len(X), num_classes)",
            REGRESSION: "predictions shaped like the targets, (len(X),) or (len(X), D)",
            MULTILABEL: "per-label probabilities of shape (len(X), num_labels)",
        }[ds.task]
        raise TrialError(
            f"the train function {callable_name(train)} returned a {type(predict).__name__}; it must "
            f"return predict(X) -> {returns}"
        )
    if ds.task != CLASSIFICATION:
        return _score_targets(ds, predict, device, start, cpu_start)
    probs = {}
    for split, X in (("val", ds.X_val), ("test", ds.X_test)):
        probs[split] = check_probabilities(predict(X.copy()), len(X), k, f"predict(X_{split})")
    val_logits, test_logits = (np.log(np.maximum(probs[s], LOG_FLOOR)) for s in ("val", "test"))
    val = classification_metrics(val_logits, ds.y_val, k)
    test = classification_metrics(test_logits, ds.y_test, k)
    t = fit_temperature(val_logits, ds.y_val)
    val_ts = classification_metrics(val_logits, ds.y_val, k, temperature=t)
    test_ts = classification_metrics(test_logits, ds.y_test, k, temperature=t)
    result: dict[str, Any] = {
        "temperature": t,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "device": device,
    }
    for prefix, m in (("val", val), ("test", test), ("val_ts", val_ts), ("test_ts", test_ts)):
        for key in ("acc", "bacc", "nll", "ece"):
            result[f"{prefix}_{key}"] = m[key]
    result["test_bins"] = test["bins"]
    result["test_ts_bins"] = test_ts["bins"]
    return result


def _score_targets(
    ds: Dataset, predict: Callable[..., Any], device: str, start: float, cpu_start: float
) -> dict[str, Any]:
    """Validation and test metrics of a regression or multi-label ``predict``."""
    result: dict[str, Any] = {}
    thresholds = None
    for split, X, y in (("val", ds.X_val, ds.y_val), ("test", ds.X_test, ds.y_test)):
        what = f"predict(X_{split})"
        if ds.task == REGRESSION:
            pred = check_predictions(predict(X.copy()), len(X), tuple(y.shape[1:]), what)
            m: dict[str, Any] = regression_metrics(pred, y)
        else:
            probs = check_label_probabilities(predict(X.copy()), len(X), ds.num_classes, what)
            m = multilabel_metrics(probs, y)
            if thresholds is None:  # validation comes first: one threshold per label, tuned there
                thresholds = tune_thresholds(probs, y)
                result["thresholds"] = [float(v) for v in thresholds]
            tuned = multilabel_metrics(probs, y, thresholds)
            m.update(micro_f1_tuned=tuned["micro_f1"], macro_f1_tuned=tuned["macro_f1"])
        result.update({f"{split}_{k}": v for k, v in m.items()})
    result.update(
        {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
            "device": device,
        }
    )
    return result

"""Keras 3 layers: ``mixkit.keras.MixUp`` and ``mixkit.keras.CutMix``, written with ``keras.ops``.

They run on every Keras backend (TensorFlow, JAX, PyTorch), inside a model or, on the TensorFlow
backend, in a ``tf.data`` pipeline. Randomness comes from a ``keras.random.SeedGenerator`` owned by the
layer, so ``seed=`` makes runs reproducible and nothing global is touched. Importing this module
imports keras.

Call: ``x_mixed, y_mixed = layer(x, y, training=True, step=None)``; ``x`` is a batch ``(B, ...)``
(float or integer images; integer batches are blended in float32 and rounded), ``y`` one-hot or
probability rows ``(B, C)`` (or class indices ``(B,)`` when ``num_classes`` is given; or, with
``targets="continuous"``, regression targets ``(B,)`` or ``(B, D)`` mixed in the same proportions). Convention:
``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``, the same for the labels; ``lam`` is the
weight of the sample's own data. ``MixUp(alpha, k=K)`` with ``K >= 3`` mixes each sample with ``K - 1``
partners: ``out[i] = weights[i, 0] * x[i] + sum_j weights[i, j] * x[partner[i, j - 1]]``, weights
``~ Dirichlet(alpha, ..., alpha)``, own weight first. ``training=False`` returns the inputs unchanged.

Reproducible parallel pipelines: the seed generator is a state that every call advances, so calls
that run at the same time (a ``tf.data`` map with ``num_parallel_calls`` > 1 or ``AUTOTUNE``) take
their draws in whichever order they happen to run, and the batches differ from run to run even with
``seed=0`` (``deterministic=True`` keeps the order of the outputs, not of the draws). Pass ``step=``,
an integer that numbers the batch (a tensor is fine), and the call's draws depend only on ``seed`` and
``step``, not on the generator, so any parallelism gives the same batches::

    ds = ds.enumerate().map(lambda i, b: layer(*b, step=epoch * steps_per_epoch + i),
                            num_parallel_calls=tf.data.AUTOTUNE)

(a step that grows across epochs draws new mixes each epoch; the same step repeats the same mix).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import keras
    from keras import ops
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mixkit.keras needs Keras 3 and one of its backends: pip install 'mixkit[keras]' tensorflow (or jax)"
    ) from err

from ._validate import check_alpha, check_choice
from .labels import TARGET_KINDS
from .methods.mixup import check_k

__all__ = ["CutMix", "MixUp"]

LAM_MODES = ("batch", "sample")


class _Mix(keras.layers.Layer):
    """Shared by the layers: the seed generator, label handling and the ``call`` protocol."""

    def __init__(self, alpha: float = 1.0, *, lam_mode: str = "batch", num_classes: int | None = None,
                 seed: int | None = None, targets: str = "classes", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = check_alpha(alpha)
        self.lam_mode = check_choice("lam_mode", lam_mode, LAM_MODES)
        self.targets = check_choice("targets", targets, TARGET_KINDS)
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        if num_classes is not None and self.targets == "continuous":
            raise ValueError(
                f"num_classes={num_classes} is a class option, but targets='continuous' declares regression "
                "targets; drop num_classes (or use targets='classes')"
            )
        self.num_classes = None if num_classes is None else int(num_classes)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # the base of the step seeds (call(..., step=)): the seed, or one draw of fresh entropy
        self._step_base = self.seed if self.seed is not None else int(np.random.SeedSequence().generate_state(1)[0])

    # -- randomness ---------------------------------------------------------------------------
    def _lam(self, b: Any, seeds: Any) -> Any:
        """``lam ~ Beta(alpha, alpha)``, float32 ``(B,)``: one draw per batch or one per sample."""
        n = 1 if self.lam_mode == "batch" else b
        lam = keras.random.beta((n,), self.alpha, self.alpha, dtype="float32", seed=seeds)
        return ops.broadcast_to(lam, (b,)) if self.lam_mode == "batch" else lam

    def _partner(self, b: Any, seeds: Any) -> Any:
        return keras.random.shuffle(ops.arange(b, dtype="int32"), seed=seeds)

    def _seeds(self, step: Any) -> Any:
        """Where the call's draws come from: the layer's generator, or the stateless seeds of ``step``."""
        if step is None:
            return self.seed_generator
        dtype = keras.backend.standardize_dtype(self.seed_generator.state.dtype)
        return _StepSeeds(self._step_base, step, dtype)

    # -- the call protocol ----------------------------------------------------------------------
    def call(self, x: Any, y: Any = None, training: bool | None = True, step: Any = None) -> Any:
        """``(x_mixed, y_mixed)`` (``x_mixed`` alone when ``y`` is None); see the module notes."""
        if len(x.shape) < 2:
            raise ValueError(f"x must be a batch (B, ...) of at least 2 dimensions; got shape {tuple(x.shape)}")
        if y is not None:
            y = self._targets(x, y)
        if training is False:
            return x if y is None else (x, y)
        b = ops.shape(x)[0]
        seeds = self._seeds(step)
        partner = self._partner(b, seeds)
        x_out, lam = self._mix_inputs(x, partner, b, seeds)
        if y is None:
            return x_out
        if len(lam.shape) == 2:  # n-way: weights (B, k), partners (B, k - 1)
            return x_out, _blend_many(y, partner, lam)
        lam_y = ops.cast(ops.reshape(lam, (-1,) + (1,) * (len(y.shape) - 1)), y.dtype)
        y_out = lam_y * y + (1.0 - lam_y) * ops.take(y, partner, axis=0)
        return x_out, y_out

    def compute_output_shape(self, x_shape: Any, y_shape: Any = None) -> Any:
        if y_shape is None:
            return x_shape
        if len(y_shape) == 1 and self.num_classes is not None:
            y_shape = (y_shape[0], self.num_classes)
        return x_shape, y_shape

    def _targets(self, x: Any, y: Any) -> Any:
        """Dense float targets ``(B, C)``; a clear error for anything that is not one-hot/probabilities.
        With ``targets="continuous"``: float targets ``(B,)`` or ``(B, D)``, finite."""
        y = ops.convert_to_tensor(y)
        dtype = keras.backend.standardize_dtype(y.dtype)
        if self.targets == "continuous":
            return self._continuous(x, y, dtype)
        if len(y.shape) == 1:
            if self.num_classes is None:
                raise ValueError(
                    f"labels of shape {tuple(y.shape)} look like class indices; the layer mixes one-hot or "
                    "probability rows (B, num_classes): pass num_classes=C, or keras.ops.one_hot(y, C)"
                )
            if "int" not in dtype:
                raise ValueError(f"class-index labels must be integers, got dtype {dtype}")
            _check_indices(y, self.num_classes)
            return ops.one_hot(y, self.num_classes, dtype="float32")
        if len(y.shape) != 2:
            raise ValueError(
                "labels must be one-hot or probability rows of shape (batch_size, num_classes), "
                f"but got a tensor of shape {tuple(y.shape)}"
            )
        if x.shape[0] is not None and y.shape[0] is not None and x.shape[0] != y.shape[0]:
            raise ValueError(f"x has batch size {x.shape[0]} but the labels have {y.shape[0]} rows")
        if self.num_classes is not None and y.shape[1] is not None and y.shape[1] != self.num_classes:
            raise ValueError(f"labels have {y.shape[1]} columns but num_classes={self.num_classes}")
        if "float" not in dtype:
            y = ops.cast(y, "float32")
        _check_probabilities(y)
        return y

    def _continuous(self, x: Any, y: Any, dtype: str) -> Any:
        if len(y.shape) not in (1, 2):
            raise ValueError(
                "continuous targets must have shape (batch_size,) or (batch_size, D), but got a tensor of "
                f"shape {tuple(y.shape)}"
            )
        if x.shape[0] is not None and y.shape[0] is not None and x.shape[0] != y.shape[0]:
            raise ValueError(f"x has batch size {x.shape[0]} but the targets have {y.shape[0]} rows")
        if "float" not in dtype:
            if "int" not in dtype and dtype != "bool":
                raise TypeError(f"continuous targets must be real numbers, got dtype {dtype}")
            y = ops.cast(y, "float32")
        v = _concrete(y)
        if v is not None and v.size and not np.all(np.isfinite(v)):
            bad = "NaN" if np.isnan(v).any() else "an infinite value"
            raise ValueError(f"continuous targets hold {bad}; every target must be finite")
        return y

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(alpha=self.alpha, lam_mode=self.lam_mode, num_classes=self.num_classes, seed=self.seed,
                      targets=self.targets)
        return config

    def _mix_inputs(self, x: Any, partner: Any, b: Any, seeds: Any) -> tuple[Any, Any]:
        raise NotImplementedError


class _StepSeeds(keras.random.SeedGenerator):
    """Stateless seeds for one call at ``step``: its ``k``-th draw gets ``(base, 64 * (step mod 2**25) + k)``.

    A call makes at most 64 draws (n-way MixUp with ``k=64``: 63 permutations and one of the
    weights), so the draws of two steps never share a seed. Nothing is stored between calls (no
    variable, unlike the parent class), so calls running in parallel cannot race for it;
    ``keras.random`` takes it wherever it takes a seed generator.
    """

    def __init__(self, base: int, step: Any, dtype: str) -> None:  # no state variable: see above
        self._base = (base & 0xFFFFFFFF ^ 0x80000000) - 0x80000000 if dtype == "int32" else base & 0xFFFFFFFF
        self._step = step
        self._dtype = dtype
        self._draws = 0

    def next(self, ordered: bool = True) -> Any:
        k = self._draws
        self._draws += 1
        step = ops.cast(ops.convert_to_tensor(self._step), "int32")  # int32 on every backend (JAX has no int64)
        second = ops.cast(ops.mod(step, 2**25) * 64 + k, self._dtype)
        return ops.stack([ops.convert_to_tensor(self._base, dtype=self._dtype), second])


def _concrete(t: Any) -> np.ndarray | None:
    """The values of ``t`` when they are known now (eager), else None (traced: jit, tf.function)."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly() or not hasattr(t, "numpy"):
            return None
    elif name == "jax":
        import jax

        if isinstance(t, jax.core.Tracer):
            return None
    elif name == "torch":
        import torch

        if isinstance(t, torch.Tensor):
            return None if t.device.type == "meta" else t.detach().cpu().numpy()
    return np.asarray(ops.convert_to_numpy(t))


def _check_indices(y: Any, num_classes: int) -> None:
    v = _concrete(y)
    if v is not None and v.size and (v.min() < 0 or v.max() >= num_classes):
        raise ValueError(
            f"class indices must lie in [0, {num_classes}); got values from {v.min()} to {v.max()}"
        )


def _check_probabilities(y: Any) -> None:
    v = _concrete(y)
    if v is None or v.size == 0:
        return
    if not np.all(np.isfinite(v)) or v.min() < 0 or v.max() > 1 or not np.allclose(v.sum(1), 1.0, atol=1e-3):
        worst = int(np.argmax(np.abs(v.sum(1) - 1.0)))
        raise ValueError(
            "labels must be one-hot or probability rows (each row >= 0, summing to 1); row "
            f"{worst} is {np.round(v[worst][:8], 4).tolist()}{' ...' if v.shape[1] > 8 else ''} "
            f"(sum {float(v[worst].sum()):.4g}). For class indices pass num_classes=C"
        )


def _blend_many(x: Any, partner: Any, weights: Any) -> Any:
    """``weights[:, 0] * x + sum_j weights[:, j] * x[partner[:, j - 1]]`` for ``x`` ``(B, ...)``, int
    ``partner`` ``(B, k - 1)`` and ``weights`` ``(B, k)``; integer batches blended in float32 and rounded."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    work = dtype if "float" in dtype else "float32"
    xs = x if work == dtype else ops.cast(x, work)
    w = ops.cast(weights, work)
    shape = (-1,) + (1,) * (len(x.shape) - 1)
    out = ops.reshape(w[:, 0], shape) * xs
    for j in range(1, int(weights.shape[1])):
        out = out + ops.reshape(w[:, j], shape) * ops.take(xs, partner[:, j - 1], axis=0)
    return out if work == dtype else ops.cast(ops.round(out), dtype)


def _blend(x: Any, other: Any, weight: Any) -> Any:
    """``weight * x + (1 - weight) * other``; integer batches blended in float32 and rounded."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" in dtype:
        w = ops.cast(weight, dtype)
        return w * x + (1.0 - w) * other
    w = ops.cast(weight, "float32")
    mixed = w * ops.cast(x, "float32") + (1.0 - w) * ops.cast(other, "float32")
    return ops.cast(ops.round(mixed), dtype)


class MixUp(_Mix):
    """MixUp as a Keras layer: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``; with ``k >= 3``, weights ``~ Dirichlet(alpha, ..., alpha)``.
        k: samples mixed into each output, an int in ``[2, 64]`` (default 2: MixUp itself). ``k >= 3`` is
            n-way MixUp, as ``mixkit.MixUp(alpha, k=k)``: ``k - 1`` partners per sample (column ``j`` of
            ``partner`` ``(B, k - 1)`` an independent permutation of the batch) and weights ``(B, k)``,
            own weight first, ``Dirichlet(alpha, ..., alpha)`` (normalised gamma draws); the labels are
            mixed with the same weights.
        lam_mode: ``"batch"`` (one ``lam``, or one weight vector, per call) or ``"sample"`` (one per sample).
        num_classes: lets ``y`` be class indices ``(B,)`` (made one-hot); else ``y`` is ``(B, C)``.
        targets: ``"classes"`` (default) or ``"continuous"``: regression targets ``(B,)`` or ``(B, D)``,
            mixed as ``lam * y + (1 - lam) * y[partner]`` (CutMix: ``lam`` the kept fraction).
        seed: seeds the layer's ``keras.random.SeedGenerator`` (None: unseeded), and the step seeds of
            ``call(..., step=)`` (see the module notes: reproducible under a parallel ``tf.data`` map).
    """

    def __init__(self, alpha: float = 1.0, *, k: int = 2, **kwargs: Any) -> None:
        self.k = check_k(k)
        super().__init__(alpha, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["k"] = self.k
        return config

    def _partner(self, b: Any, seeds: Any) -> Any:
        """``(B,)`` for ``k=2``; ``(B, k - 1)`` for ``k >= 3``: ``k - 1`` draws, one permutation each."""
        if self.k == 2:
            return super()._partner(b, seeds)
        return ops.stack([_Mix._partner(self, b, seeds) for _ in range(self.k - 1)], axis=1)

    def _weights(self, b: Any, seeds: Any) -> Any:
        """``Dirichlet(alpha, ..., alpha)`` weights, float32 ``(B, k)``, own weight first: one draw of
        ``k`` gammas per batch or per sample, normalised (all gammas 0, as a tiny alpha can give in
        float32: ``(1, 0, ..., 0)``, the sample itself)."""
        n = 1 if self.lam_mode == "batch" else b
        g = keras.random.gamma((n, self.k), self.alpha, dtype="float32", seed=seeds)
        total = ops.sum(g, axis=1, keepdims=True)
        own = ops.cast(ops.equal(ops.arange(self.k, dtype="int32"), 0), "float32")[None, :]
        w = ops.where(total > 0, g / ops.where(total > 0, total, 1.0), own)
        return ops.broadcast_to(w, (b, self.k)) if self.lam_mode == "batch" else w

    def _mix_inputs(self, x: Any, partner: Any, b: Any, seeds: Any) -> tuple[Any, Any]:
        if self.k > 2:
            weights = self._weights(b, seeds)
            return _blend_many(x, partner, weights), weights
        lam = self._lam(b, seeds)
        w = ops.reshape(lam, (-1,) + (1,) * (len(x.shape) - 1))
        return _blend(x, ops.take(x, partner, axis=0), w), lam


class CutMix(_Mix):
    """CutMix as a Keras layer: paste a box of ``x[partner[i]]`` into ``x[i]``.

    ``lam[i]`` (the labels' weight of the sample itself) is the exact kept fraction of the image
    after the box is clipped at the border. ``data_format``: ``"channels_last"`` (``(B, H, W, C)``,
    Keras' default) or ``"channels_first"`` (``(B, C, H, W)``); by default Keras' image data format.
    ``lam_mode="batch"``: one box for the batch; ``"sample"``: a box per sample.
    """

    def __init__(self, alpha: float = 1.0, *, data_format: str | None = None, **kwargs: Any) -> None:
        if "k" in kwargs:
            raise TypeError(
                f"CutMix pastes one partner's box into each sample and takes no k (got k={kwargs['k']!r}); "
                "for n-way mixing use mixkit.keras.MixUp(alpha, k=...)"
            )
        super().__init__(alpha, **kwargs)
        fmt = keras.config.image_data_format() if data_format is None else data_format
        self.data_format = check_choice("data_format", fmt, ("channels_last", "channels_first"))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config

    def _mix_inputs(self, x: Any, partner: Any, b: Any, seeds: Any) -> tuple[Any, Any]:
        if len(x.shape) != 4:
            raise ValueError(
                f"CutMix takes image batches of 4 dimensions ({'B, H, W, C' if self.data_format == 'channels_last' else 'B, C, H, W'}); "
                f"got shape {tuple(x.shape)}"
            )
        hw = (1, 2) if self.data_format == "channels_last" else (2, 3)
        h, w = ops.shape(x)[hw[0]], ops.shape(x)[hw[1]]
        n = 1 if self.lam_mode == "batch" else b
        lam0 = keras.random.beta((n,), self.alpha, self.alpha, dtype="float32", seed=seeds)
        side = ops.sqrt(1.0 - lam0)
        cut_h = ops.cast(ops.round(side * ops.cast(h, "float32")), "int32")
        cut_w = ops.cast(ops.round(side * ops.cast(w, "float32")), "int32")
        cy = keras.random.randint((n,), 0, h, dtype="int32", seed=seeds)
        cx = keras.random.randint((n,), 0, w, dtype="int32", seed=seeds)
        y0 = ops.clip(cy - cut_h // 2, 0, h)
        y1 = ops.clip(cy - cut_h // 2 + cut_h, 0, h)
        x0 = ops.clip(cx - cut_w // 2, 0, w)
        x1 = ops.clip(cx - cut_w // 2 + cut_w, 0, w)
        rows = ops.arange(h, dtype="int32")[None, :]
        cols = ops.arange(w, dtype="int32")[None, :]
        in_h = ops.logical_and(rows >= y0[:, None], rows < y1[:, None])  # (n, H)
        in_w = ops.logical_and(cols >= x0[:, None], cols < x1[:, None])  # (n, W)
        box = ops.logical_and(in_h[:, :, None], in_w[:, None, :])  # (n, H, W)
        box = box[:, :, :, None] if self.data_format == "channels_last" else box[:, None, :, :]
        area = ops.cast((y1 - y0) * (x1 - x0), "float32")
        lam = 1.0 - area / ops.cast(h * w, "float32")
        if self.lam_mode == "batch":
            lam = ops.broadcast_to(lam, (b,))
        return ops.where(box, ops.take(x, partner, axis=0), x), lam

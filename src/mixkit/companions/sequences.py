"""Sequences with padding: time series ``(B, C, T)``, token sequences ``(B, L, D)``, tags ``(B, L)``.

A padding mask ``(B, L)`` is True on valid steps: booleans, or 0/1 integers such as a Hugging Face
``attention_mask`` (a dict sample may use that name for the key; the result keeps the name and the
dtype). Or give ``lengths`` ``(B,)`` for prefix padding; with lengths alone the sequence axis is axis 1,
the layout ``(B, L, ...)`` (for channels-first series ``(B, C, T)`` pass ``time_axis=-1``, or cut
with ``CutMix(axes=(-1,))``, whose one axis says it). The plan of the batch is fitted to the valid steps:

- a blend (MixUp) or a soft mask over time mixes step by step; where only one of the two samples
  is valid its step is taken whole, so padding values never reach a valid step; the returned
  padding mask is the union of both;
- a span paste (CutMix over the time axis) is placed within the sample's valid steps (the plan's
  span scaled to the valid length) and filled with as many valid steps of the partner, taken from
  the same relative position; the padding mask is the sample's own.

Outside the returned padding mask every value is zero. ``lam`` becomes the own weight averaged over
the valid steps of the result, so sequence labels match what was mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._xp import backend, dtype_kind
from ._common import host, like, plan_kind, to_tensor

__all__ = ["HF_NAMES", "SequenceMix", "apply_sequence_mix", "check_padding", "fit_sequence_plan", "from_hf_names",
           "mix_token_labels", "padding_like", "to_hf_names"]

#: Hugging Face names of the keys of a dict sample, and the mixkit key each stands for.
HF_NAMES = {"attention_mask": "padding_mask"}


@dataclass(frozen=True, eq=False)
class SequenceMix:
    """Where every output step comes from: step ``t`` of sample ``i`` is
    ``weight[i, t] * x[i, t] + (1 - weight[i, t]) * x[partner[i], source[i, t]]`` where ``valid[i, t]``,
    zero elsewhere. ``lam[i]``: the mean of ``weight[i]`` over the valid steps."""

    partner: np.ndarray
    weight: np.ndarray
    source: np.ndarray
    valid: np.ndarray
    lam: np.ndarray
    paste: bool = False  # the plan copies steps (CutMix, a binary mask): class ids stay class ids


def check_padding(padding_mask: Any, lengths: Any, batch_size: int, steps: int) -> np.ndarray:
    """The validity ``(B, L)`` as a NumPy bool array from a padding mask or ``lengths``."""
    if padding_mask is not None and lengths is not None:
        raise ValueError("pass either padding_mask or lengths, not both")
    if lengths is not None:
        n = host(lengths)
        if n.shape != (batch_size,) or n.dtype.kind not in "ui":
            raise ValueError(f"lengths must be integers of shape ({batch_size},), got {n.dtype} {n.shape}")
        if batch_size and (n.min() < 0 or n.max() > steps):
            raise ValueError(f"lengths must lie in [0, {steps}] (the sequence axis' size), got {n.min()}..{n.max()}")
        return np.arange(steps)[None, :] < n[:, None]
    try:
        backend(padding_mask)
    except TypeError:
        raise TypeError(f"padding_mask must be a bool array (B, L), got {type(padding_mask).__name__}") from None
    v = host(padding_mask)
    if v.dtype != bool and v.dtype.kind not in "iu":
        raise TypeError(
            f"padding_mask must be boolean (True on valid steps) or 0/1 integers (an attention_mask), "
            f"got dtype {v.dtype}"
        )
    if v.shape != (batch_size, steps):
        raise ValueError(
            f"padding_mask must have shape (B, L) = ({batch_size}, {steps}) to match the batch and its "
            f"sequence axis, got {v.shape}"
        )
    if v.dtype != bool:
        if v.size and (v.min() < 0 or v.max() > 1):
            raise ValueError(
                f"an integer padding_mask / attention_mask must hold only 0 (padding) and 1 (valid step); "
                f"got values from {v.min()} to {v.max()}"
            )
        v = v.astype(bool)
    return v


def padding_like(valid: np.ndarray, ref: Any, *, keep_dtype: bool = True) -> Any:
    """The validity ``valid`` ``(B, L)`` in the library and on the device of ``ref`` (the padding mask or
    the lengths that came in): bool, or ``ref``'s integer dtype (0/1) for an integer mask when
    ``keep_dtype``. A list ``ref`` gives NumPy."""
    if isinstance(ref, (list, tuple)) or backend(ref) not in ("numpy", "torch"):
        return valid
    integer = keep_dtype and dtype_kind(ref) in "iu"
    if backend(ref) == "torch":
        import torch

        return like(valid, ref, ref.dtype if integer else torch.bool)
    return valid.astype(ref.dtype) if integer else valid


def from_hf_names(sample: Any) -> tuple[Any, dict[str, str]]:
    """A dict sample with its Hugging Face keys (``attention_mask``) under mixkit's names, and the renames
    made (to give the result the caller's names back with :func:`to_hf_names`)."""
    renames = {hf: ours for hf, ours in HF_NAMES.items() if hf in sample}
    if not renames:
        return sample, {}
    for hf, ours in renames.items():
        if ours in sample:
            raise ValueError(f"the sample has both {hf!r} and {ours!r}; they are the same thing, give one")
    return {renames.get(k, k): v for k, v in sample.items()}, renames


def to_hf_names(result: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """The result of a renamed dict sample under the caller's keys again."""
    back = {ours: hf for hf, ours in renames.items()}
    return {back.get(k, k): v for k, v in result.items()}


def _lam_from(weight: np.ndarray, valid: np.ndarray) -> np.ndarray:
    n = valid.sum(axis=1)
    tot = np.where(valid, weight, 0.0).sum(axis=1)
    return np.clip(np.where(n > 0, tot / np.maximum(n, 1), 1.0), 0.0, 1.0)


def fit_sequence_plan(plan: Any, valid: np.ndarray, time_axis: int) -> SequenceMix:
    """Fit the batch's plan to the valid steps ``valid`` ``(B, L)`` (see the module doc)."""
    kind = plan_kind(plan)
    b, steps = valid.shape
    partner = np.asarray(plan.partner)
    rows = np.arange(b)
    positions = np.broadcast_to(np.arange(steps), (b, steps))
    vp = valid[partner]
    if kind in ("blend", "mask"):
        if kind == "mask":
            if tuple(plan.axes) != (time_axis,):
                raise ValueError(
                    f"with a padding mask, a mask plan must span only the sequence axis {time_axis}; "
                    f"it spans {tuple(plan.axes)}"
                )
            m = np.asarray(plan.mask, dtype=np.float64)
        else:
            m = np.broadcast_to(np.asarray(plan.lam, dtype=np.float64)[:, None], (b, steps))
        own, other = m * valid, (1.0 - m) * vp
        tot = own + other
        fallback = np.where(valid, 1.0, np.where(vp, 0.0, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(tot > 0, own / np.where(tot > 0, tot, 1.0), fallback)
        weight = np.where(partner[:, None] == rows[:, None], 1.0, weight)
        out_valid = valid | (vp & (weight < 1))
        paste = kind == "mask" and bool(plan.binary)
        return SequenceMix(partner, weight, np.array(positions), out_valid, _lam_from(weight, out_valid), paste)
    if kind == "box":
        if tuple(plan.axes) != (time_axis,):
            raise ValueError(
                f"with a padding mask, CutMix must cut only the sequence axis {time_axis} (e.g. axes=({time_axis},)); "
                f"the plan cuts {tuple(plan.axes)}"
            )
        weight = np.ones((b, steps))
        source = np.array(positions)
        start, stop = plan.start[:, 0].astype(np.int64), plan.stop[:, 0].astype(np.int64)
        for i in range(b):
            p = int(partner[i])
            if p == i or stop[i] <= start[i]:
                continue
            own_idx, src_idx = np.flatnonzero(valid[i]), np.flatnonzero(valid[p])
            n_i, n_p = len(own_idx), len(src_idx)
            n = min(round((stop[i] - start[i]) * n_i / steps), n_p, n_i)
            if n <= 0:
                continue
            s = min(int(start[i] * n_i // steps), n_i - n)
            s_src = min(int(start[i] * n_p // steps), n_p - n)
            weight[i, own_idx[s : s + n]] = 0.0
            source[i, own_idx[s : s + n]] = src_idx[s_src : s_src + n]
        return SequenceMix(partner, weight, source, valid.copy(), _lam_from(weight, valid), True)
    raise ValueError(
        f"{type(plan).__name__} cannot be fitted to a padding mask; use MixUp, CutMix over the sequence "
        "axis, or a mask over the sequence axis"
    )


def _gather(xm: Any, partner: np.ndarray, source: np.ndarray) -> Any:
    """``xm[partner[i], source[i, t]]`` for ``xm`` ``(B, L, ...)``."""
    if backend(xm) == "torch":

        p = to_tensor(partner, xm.device).view(-1, 1)
        s = to_tensor(source, xm.device)
        return xm[p, s]
    return xm[partner[:, None], source]


def apply_sequence_mix(sm: SequenceMix, x: Any, time_axis: int) -> Any:
    """Mix a batch ``x`` whose axis ``time_axis`` is the sequence axis; a new array (autograd-friendly
    for torch), zero outside ``sm.valid``."""
    kind = backend(x)
    vp_src = sm.valid[sm.partner[:, None], sm.source] if sm.valid.size else sm.valid
    if kind == "torch":
        import torch

        xm = torch.movedim(x, time_axis, 1)
        tail = (1,) * (xm.dim() - 2)
        cdt = x.dtype if x.is_floating_point() else torch.float32
        w = to_tensor(sm.weight, x.device, cdt).view(sm.weight.shape + tail)
        keep_own = to_tensor(sm.valid & (sm.weight > 0), x.device).view(sm.weight.shape + tail)
        keep_part = to_tensor(vp_src & (sm.weight < 1), x.device).view(sm.weight.shape + tail)
        own = torch.where(keep_own, xm.to(cdt), torch.zeros((), dtype=cdt, device=x.device))
        part = torch.where(keep_part, _gather(xm, sm.partner, sm.source).to(cdt),
                           torch.zeros((), dtype=cdt, device=x.device))
        res = w * own + (1 - w) * part
        if not x.is_floating_point():
            info = torch.iinfo(x.dtype)
            res = res.round().clamp(info.min, info.max).to(x.dtype)
        return torch.movedim(res, 1, time_axis).contiguous()
    if kind != "numpy":
        raise TypeError(f"sequences with padding need a NumPy array or a torch tensor, got {type(x).__name__}")
    xm = np.moveaxis(x, time_axis, 1)
    tail = (1,) * (xm.ndim - 2)
    cdt = np.promote_types(x.dtype, np.float32) if x.dtype.kind == "f" else np.float64
    w = sm.weight.astype(cdt).reshape(sm.weight.shape + tail)
    own = np.where((sm.valid & (sm.weight > 0)).reshape(sm.weight.shape + tail), xm, 0).astype(cdt)
    part = np.where((vp_src & (sm.weight < 1)).reshape(sm.weight.shape + tail),
                    _gather(xm, sm.partner, sm.source), 0).astype(cdt)
    res = w * own + (1 - w) * part
    if x.dtype.kind in "ui":
        info = np.iinfo(x.dtype)
        res = np.clip(np.rint(res), info.min, info.max)
    return np.ascontiguousarray(np.moveaxis(res.astype(x.dtype, copy=False), 1, time_axis))


def mix_token_labels(sm: SequenceMix, labels: Any, *, num_classes: int | None = None,
                     pad_label: int = -100) -> Any:
    """Per-step labels mixed step by step with the same fit.

    Class ids ``(B, L)``: a paste (CutMix, a binary mask) keeps the dtype (``pad_label`` outside the valid
    steps); a blend (MixUp, a soft mask) always gives soft targets ``(B, L, C)`` float32, whatever the
    drawn ``lam`` (``num_classes`` needed; ids outside ``[0, C)`` add nothing).
    Probabilities ``(B, L, C)`` are blended; rows outside the valid steps are zero.
    """
    b, steps = sm.weight.shape
    shape = tuple(int(s) for s in labels.shape)
    if len(shape) not in (2, 3) or shape[:2] != (b, steps):
        raise ValueError(
            f"token_labels must have shape (B, L) of class ids or (B, L, C) of probabilities with "
            f"(B, L) = ({b}, {steps}), got {shape}"
        )
    letter = dtype_kind(labels)
    if len(shape) == 2 and letter not in "ui":
        raise TypeError(f"token_labels of shape (B, L) must hold integer class ids, got dtype {labels.dtype}")
    if len(shape) == 2 and sm.paste:
        tok = host(labels)
        if tok.dtype.kind == "u" and pad_label < 0:
            raise ValueError(f"token_labels are unsigned ({tok.dtype}); pass a pad_label >= 0")
        other = tok[sm.partner[:, None], sm.source]
        res = np.where(sm.weight == 1, tok, other)
        res = np.where(sm.valid, res, pad_label).astype(tok.dtype)
        return like(res, labels) if backend(labels) == "torch" else res
    if len(shape) == 2:
        if num_classes is None:
            raise ValueError(
                "blending per-step class ids gives per-step soft targets, which need their number of "
                "classes: pass token_classes=C"
            )
        tok = host(labels).astype(np.int64)
        classes = np.arange(num_classes)
        own = (tok[..., None] == classes).astype(np.float32)
        other = (tok[sm.partner[:, None], sm.source][..., None] == classes).astype(np.float32)
    else:
        own = host(labels).astype(np.float32)
        other = own[sm.partner[:, None], sm.source]
    vp_src = sm.valid[sm.partner[:, None], sm.source]
    w = sm.weight[..., None].astype(np.float32)
    res = w * own * (sm.valid & (sm.weight > 0))[..., None] + (1 - w) * other * (vp_src & (sm.weight < 1))[..., None]
    res = np.where(sm.valid[..., None], res, 0.0).astype(np.float32)
    if backend(labels) == "torch":
        import torch

        return like(res, labels, torch.float32)
    return res

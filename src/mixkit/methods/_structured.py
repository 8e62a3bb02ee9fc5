"""Structured samples: one plan mixes the batch and every companion of it.

A sample is a dict with fixed keys: ``"image"`` or ``"x"`` (the batch ``(B, ...)``), and any of
``"labels"``, ``"mask"``, ``"boxes"``, ``"box_labels"``, ``"box_valid"``, ``"keypoints"``,
``"padding_mask"``, ``"lengths"``, ``"token_labels"``. The result is a dict of the same keys, plus the
weights the mixing gives (``"box_weights"``, ``"keypoint_weights"``), ``"box_valid"`` for padded boxes
and ``"padding_mask"`` when lengths were given. Options (keywords of the call): ``box_format``,
``normalized``, ``min_visible``, ``spatial_axes``, ``time_axis``, ``mask_classes``, ``token_classes``,
``ignore_index``, ``pad_label``, ``boxes_follow_mask`` (box visibility over the object's mask pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validate import as_generator, check_batch, normalize_axes
from .._xp import backend
from ..companions import boxes as _boxes
from ..companions._common import host, like
from ..companions.segmentation import check_mask, mix_masks, spatial_sizes
from ..companions.sequences import (
    apply_sequence_mix,
    check_padding,
    fit_sequence_plan,
    mix_token_labels,
)
from ..labels import check_labels
from ..plan import BoxPlan, MaskPlan, MixPlan
from ._base import apply_plan, check_plan_fits

__all__ = ["COMPANION_KEYS", "OPTIONS", "apply_structured", "call_structured"]

BATCH_KEYS = ("image", "x")
COMPANION_KEYS = ("labels", "mask", "boxes", "box_labels", "box_valid", "keypoints", "padding_mask", "lengths",
                  "token_labels")
OPTIONS: dict[str, Any] = {
    "box_format": "xyxy",
    "normalized": False,
    "min_visible": 0.25,
    "spatial_axes": None,
    "time_axis": None,
    "mask_classes": None,
    "token_classes": None,
    "ignore_index": None,
    "pad_label": -100,
    "boxes_follow_mask": False,
}


def _split(x: Any, y: Any, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    options = dict(OPTIONS)
    sample: dict[str, Any] = {}
    for key, value in extra.items():
        if key in OPTIONS:
            options[key] = value
        elif key in COMPANION_KEYS and key != "labels":
            sample[key] = value
        else:
            raise TypeError(
                f"unexpected keyword {key!r}; companions are {', '.join(k for k in COMPANION_KEYS if k != 'labels')} "
                f"and options are {', '.join(OPTIONS)}"
            )
    if isinstance(x, Mapping):
        if sample or y is not None:
            raise ValueError(
                "a dict sample carries its own labels and companions: put them in the dict "
                "(keys 'labels', 'mask', 'boxes', ...) instead of passing them separately"
            )
        unknown = [k for k in x if k not in BATCH_KEYS + COMPANION_KEYS]
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in the sample; the keys are {', '.join(map(repr, BATCH_KEYS + COMPANION_KEYS))}"
            )
        present = [k for k in BATCH_KEYS if k in x]
        if len(present) != 1:
            raise ValueError(
                f"a sample dict needs the batch under exactly one of 'image' or 'x'; got keys {sorted(x)}"
            )
        return dict(x), options, present[0]
    sample["x"] = x
    if y is not None:
        sample["labels"] = y
    return sample, options, "x"


def _spatial_axes(mixer: Any, plan: Any, options: dict[str, Any], ndim: int) -> tuple[int, ...]:
    if options["spatial_axes"] is not None:
        return tuple(sorted(normalize_axes(options["spatial_axes"], ndim)))
    if isinstance(plan, (BoxPlan, MaskPlan)) and plan.axes:
        return tuple(sorted(plan.axes))
    axes = getattr(mixer, "axes", None)
    if axes is not None:
        return tuple(sorted(normalize_axes(axes, ndim)))
    return tuple(sorted(normalize_axes((-2, -1), ndim))) if ndim >= 3 else (ndim - 1,)


def _time_axis(mixer: Any, sample: dict[str, Any], options: dict[str, Any], x_shape: tuple[int, ...]) -> int:
    ndim = len(x_shape)
    if options["time_axis"] is not None:
        return normalize_axes(options["time_axis"], ndim)[0]
    axes = getattr(mixer, "axes", None)
    if axes is not None and len(normalize_axes(axes, ndim)) == 1:
        return normalize_axes(axes, ndim)[0]
    ref = sample.get("padding_mask", sample.get("token_labels"))
    if ref is None:
        if ndim == 2:
            return 1
        raise ValueError("lengths alone do not say which axis is the sequence axis; pass time_axis=")
    steps = int(ref.shape[1]) if len(ref.shape) >= 2 else -1
    cands = [a for a in range(1, ndim) if x_shape[a] == steps]
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise ValueError(
            f"padding_mask / token_labels of shape {tuple(ref.shape)} match no axis of the batch "
            f"{tuple(x_shape)}; they must be (B, L) with L the size of the sequence axis"
        )
    raise ValueError(
        f"the batch {tuple(x_shape)} has several axes of size {steps} ({cands}); say which is the "
        "sequence axis with time_axis="
    )


def validate(mixer: Any, sample: dict[str, Any], options: dict[str, Any], xkey: str, plan: Any = None) -> None:
    """Check every companion against the batch before anything is sampled or mixed."""
    x = sample[xkey]
    check_batch(x, xkey)
    shape = tuple(int(s) for s in x.shape)
    b = shape[0]
    if "labels" in sample and sample["labels"] is not None:
        check_labels(sample["labels"], b, mixer.num_classes, "labels")
    if "mask" in sample:
        if len(shape) < 2:
            raise ValueError(f"a segmentation mask needs an image batch with spatial axes, got {xkey} of shape {shape}")
        axes = _spatial_axes(mixer, plan, options, len(shape))
        spatial = spatial_sizes(plan) if isinstance(plan, (BoxPlan, MaskPlan)) else tuple(shape[a] for a in axes)
        check_mask(sample["mask"], shape, spatial)
    if "box_labels" in sample and "boxes" not in sample:
        raise ValueError("box_labels were given without boxes")
    if "box_valid" in sample and "boxes" not in sample:
        raise ValueError("box_valid was given without boxes")
    fmt = options["box_format"]
    if fmt not in _boxes.BOX_FORMATS:
        raise ValueError(f"unknown box_format {fmt!r}; expected one of {', '.join(map(repr, _boxes.BOX_FORMATS))}")
    mv = options["min_visible"]
    if isinstance(mv, bool) or not isinstance(mv, (int, float, np.floating)) or not 0.0 <= float(mv) <= 1.0:
        raise ValueError(f"min_visible must be a fraction in [0, 1], got {mv!r}")
    if "padding_mask" in sample or "lengths" in sample or "token_labels" in sample:
        t = _time_axis(mixer, sample, options, shape)
        if "padding_mask" in sample or "lengths" in sample:
            check_padding(sample.get("padding_mask"), sample.get("lengths"), b, shape[t])


def _hw(mixer: Any, plan: Any, options: dict[str, Any], shape: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    axes = _spatial_axes(mixer, plan, options, len(shape))
    if len(axes) < 2:
        axes = tuple(sorted(normalize_axes((-2, -1), len(shape))))
    hw = (axes[-2], axes[-1])
    return hw, (shape[hw[0]], shape[hw[1]])


def _write_back(x: Any, res: Any, out: Any, inplace: bool) -> Any:
    target = x if inplace else out
    if target is None:
        return res
    if backend(target) == "torch":
        return target.copy_(res)
    if not target.flags.writeable:
        raise ValueError("the buffer to write into is read-only; drop inplace=True / out=")
    target[...] = res
    return target


def apply_structured(mixer: Any, plan: MixPlan, sample: dict[str, Any], options: dict[str, Any], xkey: str,
                     *, out: Any = None, inplace: bool = False) -> dict[str, Any]:
    """Mix the batch and every companion of ``sample`` with ``plan``; returns a new dict."""
    validate(mixer, sample, options, xkey, plan)
    x = sample[xkey]
    shape = tuple(int(s) for s in x.shape)
    check_plan_fits(plan, x)
    result: dict[str, Any] = {}
    label_plan = plan
    sequence = "padding_mask" in sample or "lengths" in sample or "token_labels" in sample
    if sequence:
        t = _time_axis(mixer, sample, options, shape)
        if "padding_mask" in sample or "lengths" in sample:
            valid = check_padding(sample.get("padding_mask"), sample.get("lengths"), shape[0], shape[t])
        else:
            valid = np.ones((shape[0], shape[t]), dtype=bool)
        fit = fit_sequence_plan(plan, valid, t)
        result[xkey] = _write_back(x, apply_sequence_mix(fit, x, t), out, inplace)
        label_plan = MixPlan(partner=fit.partner, lam=fit.lam)
        if "padding_mask" in sample:
            pm = sample["padding_mask"]
            result["padding_mask"] = like(fit.valid, pm) if backend(pm) == "torch" else fit.valid
        if "lengths" in sample:
            ln = sample["lengths"]
            n = fit.valid.sum(axis=1)
            result["lengths"] = like(n, ln) if not isinstance(ln, (list, tuple)) and backend(ln) == "torch" else n.astype(host(ln).dtype)
            result["padding_mask"] = fit.valid
        if "token_labels" in sample:
            result["token_labels"] = mix_token_labels(fit, sample["token_labels"], num_classes=options["token_classes"],
                                                      pad_label=options["pad_label"])
    else:
        result[xkey] = apply_plan(plan, x, out=out, inplace=inplace)
    if sample.get("labels") is not None:
        result["labels"] = mixer.mix_labels(label_plan, sample["labels"])
    elif "labels" in sample:
        result["labels"] = None
    if "mask" in sample:
        if sequence:
            raise ValueError("a sample cannot hold both a segmentation mask and a padding mask / token labels")
        classes = options["mask_classes"] if options["mask_classes"] is not None else mixer.num_classes
        result["mask"] = mix_masks(plan, sample["mask"], num_classes=classes, label_format=mixer.label_format,
                                   ignore_index=options["ignore_index"])
    if "boxes" in sample or "keypoints" in sample:
        if sequence:
            raise ValueError("boxes and keypoints belong to images; they cannot come with a padding mask")
        hw_axes, size = _hw(mixer, plan, options, shape)
        if "boxes" in sample:
            batch, form = _boxes.read_boxes(sample["boxes"], sample.get("box_labels"), shape[0], size,
                                            box_format=options["box_format"], normalized=bool(options["normalized"]),
                                            valid=sample.get("box_valid"))
            seg = None
            if options["boxes_follow_mask"]:
                if "mask" not in sample or tuple(sample["mask"].shape) != (shape[0],) + size:
                    raise ValueError(
                        f"boxes_follow_mask needs the segmentation mask of shape (B, H, W) = {(shape[0],) + size}"
                    )
                seg = host(sample["mask"])
            mixed = _boxes.mix_boxes(plan, batch, hw_axes=hw_axes, size=size, min_visible=float(options["min_visible"]),
                                     seg=seg)
            result.update(_boxes.write_boxes(mixed, form))
        if "keypoints" in sample:
            points, form = _boxes.read_keypoints(sample["keypoints"], shape[0], size,
                                                 normalized=bool(options["normalized"]))
            pts, wts = _boxes.mix_keypoints(plan, points, hw_axes=hw_axes, size=size)
            result["keypoints"], result["keypoint_weights"] = _boxes.write_keypoints(pts, wts, form)
    return result


def call_structured(mixer: Any, x: Any, y: Any, *, rng: Any, out: Any, inplace: bool,
                    extra: dict[str, Any]) -> dict[str, Any]:
    """``mixer(sample_dict)`` or ``mixer(x, y, mask=..., ...)``: sample one plan, mix everything with it."""
    sample, options, xkey = _split(x, y, extra)
    validate(mixer, sample, options, xkey)
    batch = sample[xkey]
    shape = tuple(int(s) for s in batch.shape)
    plan = mixer._sample_structured(shape[0], as_generator(rng), shape, sample)
    return apply_structured(mixer, plan, sample, options, xkey, out=out, inplace=inplace)


def apply_to_sample(mixer: Any, plan: MixPlan, x: Any, y: Any, *, out: Any, inplace: bool,
                    extra: dict[str, Any]) -> dict[str, Any]:
    """``mixer.apply(plan, sample_dict)``: replay a plan on a structured sample."""
    sample, options, xkey = _split(x, y, extra)
    return apply_structured(mixer, plan, sample, options, xkey, out=out, inplace=inplace)

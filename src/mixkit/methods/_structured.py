"""The one entry point of every transform call: validate once, sample, then mix the batch, its labels
and every companion with the same plan.

A call is ``t(x, y, **companions)`` or ``t(sample_dict)``. A sample dict has fixed keys: ``"image"`` or
``"x"`` (the batch ``(B, ...)``), and any of ``"labels"``, ``"mask"``, ``"boxes"``, ``"box_labels"``,
``"box_valid"``, ``"keypoints"``, ``"padding_mask"``, ``"lengths"``, ``"token_labels"``; the result is a
dict of the same keys, plus the weights the mixing gives (``"box_weights"``, ``"keypoint_weights"``),
``"box_valid"`` for padded boxes and ``"padding_mask"`` when lengths were given. An array batch gives a
:class:`~mixkit.Mixed` ``(x_mixed, y_mixed)`` with those entries in ``.companions``. Options (keywords of
the call): ``box_format``, ``normalized``, ``min_visible``, ``spatial_axes``, ``time_axis``,
``mask_classes``, ``token_classes``, ``ignore_index``, ``pad_label``, ``boxes_follow_mask`` (box
visibility over the object's mask pixels).

Order of work: every input is checked first (the batch once, the labels once, the companions, the
output buffer); then the plan is sampled and checked against the batch and the companions; then the
labels and companions are mixed (new arrays); the batch is written last, so an error never leaves a
half-mixed input behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import as_generator, check_batch, normalize_axes
from .._xp import backend
from ..companions import boxes as _boxes
from ..companions._common import host, like
from ..companions.segmentation import check_mask
from ..companions.sequences import (
    apply_sequence_mix,
    check_padding,
    from_hf_names,
    mix_token_labels,
    padding_like,
    to_hf_names,
)
from ..labels import check_labels
from ..plan import ALL_COMPANIONS, MixPlan
from ._result import Mixed

__all__ = ["COMPANION_KEYS", "OPTIONS", "apply_plan", "check_out", "run"]

BATCH_KEYS = ("image", "x")
COMPANION_KEYS = ("labels", "mask", "boxes", "box_labels", "box_valid", "keypoints", "padding_mask", "lengths",
                  "token_labels")
SEQUENCE_KEYS = ("padding_mask", "lengths", "token_labels")
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


def check_out(x: Any, out: Any, inplace: bool) -> Any:
    """The buffer the mixed batch goes into (``x`` for ``inplace=True``, ``out``, or None for a new
    array), checked before anything is mixed."""
    if inplace:
        if out is not None and out is not x:
            raise ValueError("pass either inplace=True or out=, not both")
        if backend(x) == "numpy" and not x.flags.writeable:
            raise ValueError("x is read-only, so it cannot be mixed in place; drop inplace=True")
        return x
    if out is None:
        return None
    if backend(out) != backend(x) or tuple(out.shape) != tuple(x.shape) or out.dtype != x.dtype:
        raise ValueError(
            f"out must be an array of the same library, shape and dtype as x "
            f"({type(x).__name__} {tuple(x.shape)} {x.dtype}); got {type(out).__name__} "
            f"{tuple(out.shape)} {out.dtype}"
        )
    if backend(out) == "numpy" and not out.flags.writeable:
        raise ValueError("out is read-only; pass a writable buffer")
    return out


def check_plan_type(plan: Any) -> None:
    if not isinstance(plan, MixPlan):
        raise TypeError(f"expected a plan from .sample(), got {type(plan).__name__}")


def apply_plan(plan: MixPlan, x: Any, *, out: Any = None, inplace: bool = False) -> Any:
    """Mix the batch ``x`` ``(B, ...)`` with ``plan``; returns the mixed batch.

    ``out``: a buffer like ``x`` to write into; ``inplace=True`` writes into ``x`` itself (the only
    way an input is changed). Without either, a new array is returned. Same as ``plan.apply``, with
    the batch and the buffer checked first.
    """
    check_batch(x)
    check_plan_type(plan)
    target = check_out(x, out, inplace)
    plan.check_fits(tuple(int(s) for s in x.shape))
    return plan._apply(x, target)


@dataclass
class Call:
    """The checked inputs of one call."""

    sample: dict[str, Any]
    options: dict[str, Any]
    xkey: str
    as_dict: bool
    shape: tuple[int, ...]
    target: Any
    labels: Any = None
    companions: dict[str, Any] = field(default_factory=dict)
    time_axis: int | None = None
    valid: np.ndarray | None = None

    @property
    def x(self) -> Any:
        return self.sample[self.xkey]


def _split(x: Any, y: Any, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    options = dict(OPTIONS)
    sample: dict[str, Any] = {}
    for key, value in extra.items():
        if key in OPTIONS:
            options[key] = value
        elif key in ALL_COMPANIONS:
            sample[key] = value
        else:
            raise TypeError(
                f"unexpected keyword {key!r}; companions are {', '.join(COMPANION_KEYS[1:])} "
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
    if plan is not None and plan.axes:
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
    if ref is None:  # lengths alone: the sequence axis of the layout (B, L, ...)
        return 1
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


def _check_mask_for(mixer: Any, plan: Any, call: Call) -> None:
    shape = call.shape
    if len(shape) < 2:
        raise ValueError(f"a segmentation mask needs an image batch with spatial axes, got {call.xkey} of shape {shape}")
    axes = _spatial_axes(mixer, plan, call.options, len(shape))
    check_mask(call.sample["mask"], shape, tuple(shape[a] for a in axes))


def prepare(mixer: Any, x: Any, y: Any, extra: dict[str, Any], *, out: Any, inplace: bool) -> Call:
    """Split and check every input of a call (the batch, the labels, each companion, the options and
    the output buffer) before anything is sampled or mixed."""
    as_dict = isinstance(x, Mapping)
    sample, options, xkey = _split(x, y, extra)
    batch = sample[xkey]
    check_batch(batch, xkey)
    shape = tuple(int(s) for s in batch.shape)
    b = shape[0]
    call = Call(sample, options, xkey, as_dict, shape, check_out(batch, out, inplace))
    if sample.get("labels") is not None:
        name = "labels" if as_dict else "y"
        check_y = getattr(mixer, "_check_y", None)
        labels = sample["labels"]
        call.labels = sample["labels"] = (check_y(labels, b, name) if check_y is not None
                                          else check_labels(labels, b, mixer.num_classes, name))
    call.companions = {k: v for k, v in sample.items() if k in ALL_COMPANIONS}
    names = set(call.companions)
    sequence = names & set(SEQUENCE_KEYS)
    if sequence and names & {"mask", "boxes", "keypoints"}:
        raise ValueError(
            "a sample cannot hold both image companions (mask, boxes, keypoints) and a padding mask / "
            "lengths / token labels"
        )
    if "mask" in names:
        _check_mask_for(mixer, None, call)
    if "box_labels" in names and "boxes" not in names:
        raise ValueError("box_labels were given without boxes")
    if "box_valid" in names and "boxes" not in names:
        raise ValueError("box_valid was given without boxes")
    fmt = options["box_format"]
    if fmt not in _boxes.BOX_FORMATS:
        raise ValueError(f"unknown box_format {fmt!r}; expected one of {', '.join(map(repr, _boxes.BOX_FORMATS))}")
    mv = options["min_visible"]
    if isinstance(mv, bool) or not isinstance(mv, (int, float, np.floating)) or not 0.0 <= float(mv) <= 1.0:
        raise ValueError(f"min_visible must be a fraction in [0, 1], got {mv!r}")
    if options["boxes_follow_mask"] and "boxes" in names:
        size = _hw(mixer, None, options, shape)[1]
        if "mask" not in names or tuple(sample["mask"].shape) != (b,) + size:
            raise ValueError(f"boxes_follow_mask needs the segmentation mask of shape (B, H, W) = {(b,) + size}")
    if sequence:
        call.time_axis = t = _time_axis(mixer, sample, options, shape)
        if "padding_mask" in names or "lengths" in names:
            call.valid = check_padding(sample.get("padding_mask"), sample.get("lengths"), b, shape[t])
        else:
            call.valid = np.ones((b, shape[t]), dtype=bool)
    return call


def check_plan(mixer: Any, plan: Any, call: Call) -> None:
    """The plan fits the batch, can carry every companion given, and gives the labels the form asked."""
    check_plan_type(plan)
    plan.check_fits(call.shape)
    missing = sorted(set(call.companions) - plan.companions)
    if missing:
        carried = ", ".join(sorted(plan.companions)) or "none"
        raise ValueError(
            f"{type(mixer).__name__} draws a {type(plan).__name__}, which cannot carry {', '.join(missing)} "
            f"(it carries: {carried}); mix samples with these companions with MixUp, CutMix, a mask method, "
            "ClassMix or Mosaic"
        )
    if call.labels is not None and mixer.label_format == "pair" and not plan.pairwise:
        raise ValueError(
            f"{type(plan).__name__} mixes more than two samples, so its labels have no pair form; "
            "use label_format='dense'"
        )
    if "mask" in call.companions and plan.axes:
        _check_mask_for(mixer, plan, call)


def _hw(mixer: Any, plan: Any, options: dict[str, Any], shape: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    axes = _spatial_axes(mixer, plan, options, len(shape))
    if len(axes) < 2:
        axes = tuple(sorted(normalize_axes((-2, -1), len(shape))))
    hw = (axes[-2], axes[-1])
    return hw, (shape[hw[0]], shape[hw[1]])


def _write(res: Any, target: Any) -> Any:
    if target is None:
        return res
    if backend(target) == "torch":
        return target.copy_(res)
    target[...] = res
    return target


def mix(mixer: Any, plan: MixPlan, call: Call) -> Any:
    """Mix the labels and companions (new arrays), then the batch; returns a dict or a :class:`Mixed`."""
    sample, options, shape = call.sample, call.options, call.shape
    result: dict[str, Any] = {call.xkey: None} if call.as_dict else {}
    label_plan = plan
    fit = None
    if call.valid is not None:
        fit = plan.fit_sequence(call.valid, call.time_axis)
        label_plan = MixPlan(partner=fit.partner, lam=fit.lam)
        if "padding_mask" in sample:
            pm = sample["padding_mask"]
            result["padding_mask"] = padding_like(fit.valid, pm)
        if "lengths" in sample:
            ln = sample["lengths"]
            n = fit.valid.sum(axis=1)
            torch_lengths = not isinstance(ln, (list, tuple)) and backend(ln) == "torch"
            result["lengths"] = like(n, ln) if torch_lengths else n.astype(host(ln).dtype)
            result["padding_mask"] = padding_like(fit.valid, ln, keep_dtype=False)
        if "token_labels" in sample:
            result["token_labels"] = mix_token_labels(fit, sample["token_labels"], num_classes=options["token_classes"],
                                                      pad_label=options["pad_label"])
    if call.labels is not None:
        result["labels"] = mixer._mix_labels(label_plan, call.labels)
    elif "labels" in sample:
        result["labels"] = None
    if "mask" in sample:
        classes = options["mask_classes"] if options["mask_classes"] is not None else mixer.num_classes
        result["mask"] = plan.mix_mask(sample["mask"], num_classes=classes, label_format=mixer.label_format,
                                       ignore_index=options["ignore_index"])
    if "boxes" in sample or "keypoints" in sample:
        hw_axes, size = _hw(mixer, plan, options, shape)
        if "boxes" in sample:
            batch, form = _boxes.read_boxes(sample["boxes"], sample.get("box_labels"), shape[0], size,
                                            box_format=options["box_format"], normalized=bool(options["normalized"]),
                                            valid=sample.get("box_valid"))
            seg = host(sample["mask"]) if options["boxes_follow_mask"] else None
            mixed = plan.mix_boxes(batch, hw_axes=hw_axes, size=size, min_visible=float(options["min_visible"]),
                                   seg=seg)
            result.update(_boxes.write_boxes(mixed, form))
        if "keypoints" in sample:
            points, form = _boxes.read_keypoints(sample["keypoints"], shape[0], size,
                                                 normalized=bool(options["normalized"]))
            pts, wts = plan.mix_keypoints(points, hw_axes=hw_axes, size=size)
            result["keypoints"], result["keypoint_weights"] = _boxes.write_keypoints(pts, wts, form)
    # the batch last: nothing above writes into an input
    if fit is not None:
        x_out = _write(apply_sequence_mix(fit, call.x, call.time_axis), call.target)
    else:
        x_out = plan._apply(call.x, call.target)
    if call.as_dict:
        result[call.xkey] = x_out
        return result
    y_out = result.pop("labels", None)
    return Mixed(x_out, y_out, result)


def run(mixer: Any, x: Any, y: Any, *, rng: Any = None, plan: MixPlan | None = None, out: Any = None,
        inplace: bool = False, extra: dict[str, Any]) -> Any:
    """One call of ``mixer``: check, sample (unless ``plan`` is given), check the plan, mix."""
    x, renames = from_hf_names(x) if isinstance(x, Mapping) else (x, {})
    call = prepare(mixer, x, y, extra, out=out, inplace=inplace)
    if plan is None:
        plan = mixer._sample(call.shape[0], as_generator(rng), call.shape, x=call.x, y=call.labels,
                             companions=call.companions)
    check_plan(mixer, plan, call)
    result = mix(mixer, plan, call)
    return to_hf_names(result, renames) if renames else result

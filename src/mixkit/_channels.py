"""Channels-last image batches shown to a transform as ``(B, C, H, W)``, so that a method's default
axes ``(-2, -1)`` cut height and width whatever the samples' layout (used by the collate and the
Hugging Face map, which know the layout of the samples they stack)."""

from __future__ import annotations

from typing import Any

__all__ = ["HWC_AS_CHW", "LAYOUTS", "check_layout", "check_no_channel_cut", "is_pil", "seen_as_chw"]

LAYOUTS = ("auto", "CHW", "HWC")
HWC_AS_CHW = (0, 3, 1, 2)  # a (B, H, W, C) batch seen as (B, C, H, W)
_CHANNELS = (1, 3, 4)


def check_layout(layout: Any) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
    return str(layout)


def is_pil(v: Any) -> bool:
    """True for a PIL image (HWC, or HW for one channel)."""
    return hasattr(v, "__array_interface__") and hasattr(v, "mode") and not hasattr(v, "flags")


def seen_as_chw(shape: tuple[int, ...], layout: str, pil: bool) -> tuple[int, ...] | None:
    """For a batch of ``shape`` ``(B, ...)``: ``HWC_AS_CHW`` if its samples are HWC images, else None.

    ``layout="auto"``: PIL images are HWC; other 3-D samples are HWC when their last axis has 1, 3
    or 4 entries and their first has not.
    """
    if len(shape) != 4 or layout == "CHW":
        return None
    if layout == "HWC" or pil:
        return HWC_AS_CHW
    return HWC_AS_CHW if shape[3] in _CHANNELS and shape[1] not in _CHANNELS else None


def check_no_channel_cut(transform: Any, plan: Any, where: str) -> None:
    """Refuse a plan that cuts the channel axis of a batch shown as ``(B, C, H, W)`` for HWC samples."""
    axes = sorted({int(a) % 4 for a in plan.axes})
    if 1 in axes:
        raise ValueError(
            f"{type(transform).__name__} cuts axes {tuple(axes)} of the batch, which {where} shows to the "
            "transform as (B, C, H, W) for these HWC samples (the output keeps their layout): axis 1 is the "
            "colour channels, so pixels would take channels from different images. Cut height and width "
            "with the default axes=(-2, -1)"
        )

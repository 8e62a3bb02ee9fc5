"""Which kind of data an array holds, and which of its axes are channels.

:func:`infer_kind` turns a user's ``X`` into the layout the sweep's models take: images
``(N, C, H, W)``, series ``(N, C, T)``, tabular rows ``(N, D)``. The rules, in order:

- ``(N, D)``: tabular rows (``kind="series"`` reads them as univariate series ``(N, 1, T)``).
- ``(N, A, B)``: grey images ``(N, H, W)`` when both sides are at least 8 and the longer is at most
  1.5 times the shorter (28 x 28 digits, 32 x 24 frames); otherwise series. Series are ``(N, C, T)``
  unless the last axis is short (at most 16) and shorter than the middle one: then they are
  channels-last ``(N, T, C)`` (100 steps of 6 sensors saved as ``(N, 100, 6)``).
- ``(N, A, B, C)``: images. The channel axis is axis 1 or axis 3: the one of size 1, 3 or 4 when only
  one of them is; else the one beside two equal sides (``(N, 4, 4, 3)`` is channels-last); else the
  smaller (ties: channels-first).

``kind`` other than ``"auto"`` fixes the kind (``"tabular"`` flattens anything to ``(N, D)``); the
rules above still place the channel axis. The text returned says what was read, so that a wrong guess
is visible in the console and in the report.
"""

from __future__ import annotations

import numpy as np

from .errors import SweepError

__all__ = ["KINDS", "infer_kind"]

KINDS = ("image", "series", "tabular")
IMAGE_CHANNELS = (1, 3, 4)
MIN_IMAGE_SIDE = 8
MAX_IMAGE_ASPECT = 1.5
MAX_CHANNELS_LAST_SERIES = 16


def _shape(a: np.ndarray) -> str:
    return "(" + ", ".join(str(int(s)) for s in a.shape) + ")"


def _looks_like_grey_images(h: int, w: int) -> bool:
    return min(h, w) >= MIN_IMAGE_SIDE and max(h, w) <= MAX_IMAGE_ASPECT * min(h, w)


def _image_channel_axis(a: int, b: int, c: int) -> tuple[int, str]:
    """Axis (1 or 3) holding the channels of an ``(N, a, b, c)`` array, and why, when it was not plain."""
    first, last = a in IMAGE_CHANNELS, c in IMAGE_CHANNELS
    if first != last:
        return (1, "") if first else (3, "")
    sizes = "/".join(map(str, IMAGE_CHANNELS))
    both = (
        f"axes 1 and 3 both have {sizes} entries"
        if first
        else f"neither axis 1 nor 3 has {sizes} entries"
    )
    if a == b and b != c:
        return 3, f"{both}; axes 1 and 2 are equal sides, so axis 3 holds the channels"
    if b == c and a != b:
        return 1, f"{both}; axes 2 and 3 are equal sides, so axis 1 holds the channels"
    if c < a:
        return 3, f"{both}; axis 3, the smaller, holds the channels"
    return 1, f"{both}; read as channels-first"


def infer_kind(X: np.ndarray, kind: str = "auto") -> tuple[np.ndarray, str, str]:
    """Read ``X`` ``(N, ...)`` as images, series or tabular rows.

    Returns ``(X_model, kind, text)``: ``X_model`` float32 in the models' layout (``(N, C, H, W)``,
    ``(N, C, T)`` or ``(N, D)``), the kind, and one line saying what was read, e.g.
    ``"inferred: images, channels-last (N, H, W, C) -> (N, C, H, W): (300, 8, 8, 3) -> (300, 3, 8, 8)"``.
    ``kind`` (``"auto"``, ``"image"``, ``"series"``, ``"tabular"``) overrides the inferred kind.
    Raises :class:`~mixkit.sweep.SweepError` for shapes that cannot be read as the kind.
    """
    if kind not in ("auto", *KINDS):
        raise SweepError(f"--kind must be one of auto, {', '.join(KINDS)}; got {kind!r}")
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise SweepError(f"X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2 or X.ndim > 4:
        raise SweepError(
            "X must have 2 (tabular (N, D)), 3 (series (N, C, T) or grey images (N, H, W)) or 4 "
            f"(images (N, C, H, W) or (N, H, W, C)) dimensions, got shape {X.shape}"
        )
    prefix = "inferred" if kind == "auto" else f"--kind {kind}"
    src = _shape(X)
    if kind == "tabular" or (kind == "auto" and X.ndim == 2):
        out = X.reshape(len(X), -1)
        if X.ndim == 2:
            return (
                _f32(out),
                "tabular",
                f"{prefix}: tabular rows (N, D) {src}"
                + ("; use --kind series for univariate series (N, T)" if kind == "auto" else ""),
            )
        return _f32(out), "tabular", f"{prefix}: flattened to rows (N, D): {src} -> {_shape(out)}"
    if X.ndim == 2:
        if kind == "image":
            raise SweepError(
                f"cannot read X of shape {X.shape} as images: images need (N, H, W), (N, C, H, W) "
                "or (N, H, W, C); reshape X first (e.g. X.reshape(len(X), H, W))"
            )
        out = X[:, None, :]
        return (
            _f32(out),
            "series",
            f"{prefix}: univariate series (N, T) -> (N, 1, T): {src} -> {_shape(out)}",
        )
    if X.ndim == 3:
        a, b = int(X.shape[1]), int(X.shape[2])
        if kind == "image" or (kind == "auto" and _looks_like_grey_images(a, b)):
            out = X[:, None]
            why = (
                f" (both sides >= {MIN_IMAGE_SIDE}, the longer at most {MAX_IMAGE_ASPECT:g}x the "
                "shorter; use --kind series if these are series)"
                if kind == "auto"
                else ""
            )
            return (
                _f32(out),
                "image",
                (f"{prefix}: grey images (N, H, W) -> (N, 1, H, W): {src} -> {_shape(out)}{why}"),
            )
        hint = "; use --kind image for grey images (N, H, W)" if kind == "auto" else ""
        if b <= MAX_CHANNELS_LAST_SERIES and a > b:
            out = np.swapaxes(X, 1, 2)
            return (
                _f32(out),
                "series",
                (
                    f"{prefix}: series, channels-last (N, T, C) -> (N, C, T): {src} -> {_shape(out)} "
                    f"(the last axis, {b}, is at most {MAX_CHANNELS_LAST_SERIES} and shorter than the "
                    f"middle one){hint}"
                ),
            )
        return (
            _f32(X),
            "series",
            f"{prefix}: series (N, C, T) {src}, {a} channel(s) of {b} steps{hint}",
        )
    if kind == "series":
        raise SweepError(
            f"cannot read X of shape {X.shape} as series: series need (N, T), (N, C, T) or (N, T, C)"
        )
    axis, why = _image_channel_axis(int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
    why = f" ({why}; transpose X to (N, C, H, W) to choose otherwise)" if why else ""
    if axis == 1:
        return _f32(X), "image", f"{prefix}: images, channels-first (N, C, H, W) {src}{why}"
    out = np.moveaxis(X, 3, 1)
    return (
        _f32(out),
        "image",
        (
            f"{prefix}: images, channels-last (N, H, W, C) -> (N, C, H, W): {src} -> {_shape(out)}{why}"
        ),
    )


def _f32(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float32)

"""Bounding boxes and keypoints mixed with the plan of their image.

Boxes come per image as a list of ``(n_i, 4)`` arrays, or padded as one ``(B, N, 4)`` array with a
boolean ``valid`` mask ``(B, N)``; formats ``"xyxy"``, ``"xywh"``, ``"cxcywh"``, in pixels or
normalised to [0, 1] (``normalized=True``). Pixel coordinates are continuous: pixel ``(r, c)`` covers
``[c, c + 1) x [r, r + 1)``, so a box lies inside an ``H x W`` image when ``0 <= x <= W``, ``0 <= y <= H``.

A mixed image holds the sample's own boxes followed by its partner's, each with a weight: the
opacity of that object in the mixed image. A blend (MixUp, as in YOLOX) keeps every box, weighted
``lam`` (own) and ``1 - lam`` (partner). A paste (CutMix, or a binary mask such as FMix) keeps the
partner's boxes clipped to the pasted region and the own boxes clipped to what stays visible, each
dropped when less than ``min_visible`` of it is visible; kept boxes weigh 1. A soft mask weighs each
box by the mean opacity of its source over the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._xp import backend, dtype_kind
from ._common import host, like, plan_kind, unsupported

__all__ = ["BOX_FORMATS", "BoxBatch", "convert_boxes", "mix_boxes", "mix_boxes_by_geometry", "mix_keypoints",
           "mix_keypoints_by_geometry", "read_boxes"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def convert_boxes(boxes: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert ``(..., 4)`` boxes between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``; a new float64 array."""
    for name, fmt in (("source", src), ("target", dst)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"unknown {name} box format {fmt!r}; expected one of {', '.join(map(repr, BOX_FORMATS))}")
    b = np.asarray(boxes, dtype=np.float64)
    a0, a1, a2, a3 = (b[..., k] for k in range(4))
    if src == "xywh":
        x0, y0, x1, y1 = a0, a1, a0 + a2, a1 + a3
    elif src == "cxcywh":
        x0, y0, x1, y1 = a0 - a2 / 2, a1 - a3 / 2, a0 + a2 / 2, a1 + a3 / 2
    else:
        x0, y0, x1, y1 = a0, a1, a2, a3
    if dst == "xywh":
        return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)
    if dst == "cxcywh":
        return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)
    return np.stack([x0, y0, x1, y1], axis=-1)


@dataclass
class BoxBatch:
    """Boxes of a batch in the internal form: per image, float64 pixel ``xyxy`` ``(n_i, 4)``, labels, weights."""

    boxes: list[np.ndarray]
    labels: list[np.ndarray] | None
    weights: list[np.ndarray]


def _as_box_list(boxes: Any, batch_size: int, valid: Any, name: str) -> tuple[list[np.ndarray], bool, Any]:
    """Split boxes into per-image float64 arrays; returns ``(list, padded, reference array)``."""
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != batch_size:
            raise ValueError(f"{name} must give one array of boxes per image ({batch_size}), got {len(boxes)}")
        if valid is not None:
            raise ValueError(f"{name} given as a list needs no box_valid mask; pass padded (B, N, 4) boxes with it")
        out = []
        for i, b in enumerate(boxes):
            a = host(b).astype(np.float64)
            if a.size == 0:
                a = a.reshape(0, 4)
            if a.ndim != 2 or a.shape[1] != 4:
                raise ValueError(f"{name}[{i}] must have shape (n, 4), got {a.shape}")
            out.append(a)
        ref = next((b for b in boxes if not isinstance(b, (list, tuple))), None)
        return out, False, ref
    try:
        backend(boxes)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of (n, 4) arrays or a padded (B, N, 4) array, got {type(boxes).__name__}"
        ) from None
    a = host(boxes).astype(np.float64)
    if a.ndim != 3 or a.shape[0] != batch_size or a.shape[2] != 4:
        raise ValueError(
            f"{name} must be a list of (n, 4) arrays or a padded array of shape ({batch_size}, N, 4), got {a.shape}"
        )
    if valid is None:
        v = np.ones(a.shape[:2], dtype=bool)
    else:
        v = host(valid)
        if v.dtype != bool or v.shape != a.shape[:2]:
            raise ValueError(f"box_valid must be a bool array of shape {a.shape[:2]}, got {v.dtype} {v.shape}")
    return [a[i][v[i]] for i in range(batch_size)], True, boxes


def read_boxes(boxes: Any, labels: Any, batch_size: int, image_size: tuple[int, int], *,
               box_format: str = "xyxy", normalized: bool = False, valid: Any = None) -> tuple[BoxBatch, dict]:
    """Validate and convert boxes to :class:`BoxBatch`; the second result remembers the input form."""
    if box_format not in BOX_FORMATS:
        raise ValueError(f"unknown box_format {box_format!r}; expected one of {', '.join(map(repr, BOX_FORMATS))}")
    h, w = image_size
    per_image, padded, ref = _as_box_list(boxes, batch_size, valid, "boxes")
    scale = np.array([w, h, w, h], dtype=np.float64) if normalized else np.ones(4)
    xyxy = [convert_boxes(b, box_format, "xyxy") * scale for b in per_image]
    tol = 1e-6 * max(h, w, 1)
    for i, b in enumerate(xyxy):
        if not np.all(np.isfinite(b)):
            raise ValueError(f"boxes of image {i} hold NaN or inf coordinates")
        if np.any(b[:, 2] < b[:, 0] - tol) or np.any(b[:, 3] < b[:, 1] - tol):
            raise ValueError(f"boxes of image {i} have a negative width or height in format {box_format!r}: {b[:2].tolist()}")
        out = (b[:, 0] < -tol) | (b[:, 1] < -tol) | (b[:, 2] > w + tol) | (b[:, 3] > h + tol)
        if out.any():
            unit = "normalised coordinates in [0, 1]" if normalized else f"pixels, width {w} and height {h}"
            raise ValueError(
                f"box {b[out][0].tolist()} of image {i} lies outside the image ({unit}); clip boxes to the "
                "image first, or set normalized= / box_format= to the boxes' real convention"
            )
        xyxy[i] = np.clip(b, 0, [w, h, w, h])
    label_list = None
    if labels is not None:
        if padded:
            lab = host(labels)
            if lab.shape[:2] != (batch_size, len(host(valid)[0]) if valid is not None else host(boxes).shape[1]):
                raise ValueError(f"box_labels must have shape (B, N) like the padded boxes, got {lab.shape}")
            v = np.ones(lab.shape[:2], bool) if valid is None else host(valid)
            label_list = [lab[i][v[i]] for i in range(batch_size)]
        else:
            if not isinstance(labels, (list, tuple)) or len(labels) != batch_size:
                raise ValueError(f"box_labels must be a list with one array per image ({batch_size}) like the boxes")
            label_list = [host(lab).reshape(-1) if host(lab).ndim <= 1 else host(lab) for lab in labels]
        for i, (b, lab) in enumerate(zip(xyxy, label_list)):
            if len(lab) != len(b):
                raise ValueError(f"image {i} has {len(b)} boxes but {len(lab)} box labels")
    weights = [np.ones(len(b), dtype=np.float32) for b in xyxy]
    form = {"padded": padded, "ref": ref, "format": box_format, "normalized": normalized, "size": (h, w),
            "label_ref": labels}
    return BoxBatch(xyxy, label_list, weights), form


def write_boxes(batch: BoxBatch, form: dict) -> dict[str, Any]:
    """Back to the input's form: ``boxes``, ``box_labels``, ``box_weights`` and, if padded, ``box_valid``."""
    h, w = form["size"]
    scale = np.array([w, h, w, h], dtype=np.float64) if form["normalized"] else np.ones(4)
    boxes = [convert_boxes(b, "xyxy", form["format"]) / scale for b in batch.boxes]
    ref = form["ref"]
    out: dict[str, Any] = {}
    if not form["padded"]:
        torch_ref = ref is not None and backend(ref) == "torch"
        fdt = ref.dtype if ref is not None and dtype_kind(ref) == "f" else None
        if torch_ref:
            import torch

            out["boxes"] = [like(bx, ref, fdt or torch.float32) for bx in boxes]
            out["box_weights"] = [_torch_f32(wt, ref) for wt in batch.weights]
        else:
            out["boxes"] = [bx.astype(fdt or np.float32) for bx in boxes]
            out["box_weights"] = list(batch.weights)
        if batch.labels is not None:
            lref = next((lab for lab in form["label_ref"] if not isinstance(lab, (list, tuple))), None)
            torch_lab = lref is not None and backend(lref) == "torch"
            out["box_labels"] = [like(lab, lref) if torch_lab else lab for lab in batch.labels]
        return out
    b = len(boxes)
    n = max([len(x) for x in boxes] + [0])
    padded = np.zeros((b, n, 4), dtype=np.float64)
    weights = np.zeros((b, n), dtype=np.float32)
    valid = np.zeros((b, n), dtype=bool)
    for i, (bx, wt) in enumerate(zip(boxes, batch.weights)):
        padded[i, : len(bx)] = bx
        weights[i, : len(bx)] = wt
        valid[i, : len(bx)] = True
    torch_ref = backend(ref) == "torch"
    fdt = ref.dtype if dtype_kind(ref) == "f" else None
    out["boxes"] = like(padded, ref, fdt) if torch_ref or fdt is not None else padded.astype(np.float32)
    out["box_weights"] = _torch_f32(weights, ref) if torch_ref else weights
    out["box_valid"] = like(valid, ref, _torch_bool()) if torch_ref else valid
    if batch.labels is not None:
        lab_ref = form["label_ref"]
        lab_host = host(lab_ref)
        fill = -1 if lab_host.dtype.kind == "i" else 0
        labels = np.full((b, n) + lab_host.shape[2:], fill, dtype=lab_host.dtype)
        for i, lab in enumerate(batch.labels):
            labels[i, : len(lab)] = lab
        out["box_labels"] = like(labels, lab_ref) if backend(lab_ref) == "torch" else labels
    return out


def _torch_f32(a: np.ndarray, ref: Any) -> Any:
    import torch

    return like(np.asarray(a, np.float32), ref, torch.float32)


def _torch_bool() -> Any:
    import torch

    return torch.bool


# ----------------------------------------------------------------------------------------------------
# geometry of a plan over the image plane
# ----------------------------------------------------------------------------------------------------


def _plane(plan: Any, hw_axes: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For a box plan: the pasted region ``(x0, y0, x1, y1)`` per sample and whether it is active."""
    h, w = size
    b = plan.batch_size
    extra = [a for a in plan.axes if a not in hw_axes]
    if extra:
        raise ValueError(
            f"boxes and keypoints follow the image plane (axes {hw_axes}), but the plan also cuts axes "
            f"{tuple(extra)}; cut only the height/width axes, or drop the boxes"
        )
    region = np.tile(np.array([0.0, 0.0, w, h]), (b, 1))
    for k, a in enumerate(plan.axes):
        lo, hi = plan.start[:, k].astype(np.float64), plan.stop[:, k].astype(np.float64)
        if a == hw_axes[0]:
            region[:, 1], region[:, 3] = lo, hi
        else:
            region[:, 0], region[:, 2] = lo, hi
    active = (plan.partner != np.arange(b)) & (region[:, 2] > region[:, 0]) & (region[:, 3] > region[:, 1])
    return region, active


def _pixel_map(plan: Any, hw_axes: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """For a mask plan: the own-data weight of every pixel, ``(B, H, W)``."""
    h, w = size
    extra = [a for a in plan.axes if a not in hw_axes]
    if extra:
        raise ValueError(
            f"boxes and keypoints follow the image plane (axes {hw_axes}), but the mask also spans axes "
            f"{tuple(extra)}; mix boxes only with masks over the height/width axes"
        )
    m = np.asarray(plan.mask, dtype=np.float64)
    order = np.argsort(plan.axes)
    m = np.transpose(m, (0,) + tuple(int(i) + 1 for i in order))
    present = sorted(plan.axes)
    shape = [m.shape[0], h if hw_axes[0] in present else 1, w if hw_axes[1] in present else 1]
    return np.broadcast_to(m.reshape(shape), (m.shape[0], h, w))


def _area(b: np.ndarray) -> np.ndarray:
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def _intersect(b: np.ndarray, r: np.ndarray) -> np.ndarray:
    out = np.stack([np.maximum(b[:, 0], r[0]), np.maximum(b[:, 1], r[1]),
                    np.minimum(b[:, 2], r[2]), np.minimum(b[:, 3], r[3])], axis=1)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0])
    out[:, 3] = np.maximum(out[:, 3], out[:, 1])
    return out


def _own_after_paste(b: np.ndarray, r: np.ndarray, min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Own boxes under a pasted rectangle ``r``: (clipped boxes, keep mask)."""
    area = _area(b)
    covered = _area(_intersect(b, r))
    with np.errstate(invalid="ignore", divide="ignore"):
        vis = np.where(area > 0, 1.0 - covered / np.where(area > 0, area, 1), 1.0)
    centre_in = ((b[:, 0] + b[:, 2]) / 2 > r[0]) & ((b[:, 0] + b[:, 2]) / 2 < r[2]) & (
        (b[:, 1] + b[:, 3]) / 2 > r[1]) & ((b[:, 1] + b[:, 3]) / 2 < r[3])
    vis = np.where(area > 0, vis, np.where(centre_in, 0.0, 1.0))
    out = b.copy()
    spans_y = (r[1] <= b[:, 1]) & (r[3] >= b[:, 3]) & (covered > 0)
    spans_x = (r[0] <= b[:, 0]) & (r[2] >= b[:, 2]) & (covered > 0)
    left = spans_y & (r[0] <= b[:, 0])
    right = spans_y & (r[2] >= b[:, 2]) & ~left
    out[left, 0] = np.minimum(r[2], b[left, 2])
    out[right, 2] = np.maximum(r[0], b[right, 0])
    top = spans_x & (r[1] <= b[:, 1]) & ~spans_y
    bottom = spans_x & (r[3] >= b[:, 3]) & ~spans_y & ~top
    out[top, 1] = np.minimum(r[3], b[top, 3])
    out[bottom, 3] = np.maximum(r[1], b[bottom, 1])
    keep = (vis >= min_visible) & (vis > 0)
    return out, keep


def _partner_after_paste(b: np.ndarray, r: np.ndarray, min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Partner boxes seen through the pasted rectangle ``r``: (clipped boxes, keep mask)."""
    area = _area(b)
    inter = _intersect(b, r)
    ia = _area(inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        vis = np.where(area > 0, ia / np.where(area > 0, area, 1), 0.0)
    keep = (vis >= min_visible) & (ia > 0)
    return inter, keep


def _pixel_coverage(b: np.ndarray, m: np.ndarray, seg: np.ndarray | None = None,
                    labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``m`` (H, W) over the pixels whose centres lie in each box, and the bounding box of the
    pixels where ``m == 1`` inside it (empty boxes get coverage by their nearest pixel). With ``seg``
    (H, W) class ids and the boxes' ``labels``, only the box's object pixels (``seg == label``) count,
    where it has any."""
    h, w = m.shape
    cov = np.zeros(len(b))
    clip = b.copy()
    for k, (x0, y0, x1, y1) in enumerate(b):
        c0, c1 = int(np.ceil(x0 - 0.5)), int(np.ceil(x1 - 0.5))
        r0, r1 = int(np.ceil(y0 - 0.5)), int(np.ceil(y1 - 0.5))
        c0, r0 = min(max(c0, 0), w), min(max(r0, 0), h)
        c1, r1 = min(max(c1, c0), w), min(max(r1, r0), h)
        if c1 <= c0 or r1 <= r0:
            c0 = min(max(int(np.floor((x0 + x1) / 2)), 0), w - 1)
            r0 = min(max(int(np.floor((y0 + y1) / 2)), 0), h - 1)
            c1, r1 = c0 + 1, r0 + 1
        patch = m[r0:r1, c0:c1]
        shown = patch == 1
        if seg is not None and labels is not None:
            obj = seg[r0:r1, c0:c1] == labels[k]
            if obj.any():
                patch = patch[obj]
                shown = shown & obj
        cov[k] = float(patch.mean())
        rows = np.flatnonzero(shown.any(axis=1))
        cols = np.flatnonzero(shown.any(axis=0))
        if rows.size:
            clip[k] = [max(x0, c0 + cols[0]), max(y0, r0 + rows[0]),
                       min(x1, c0 + cols[-1] + 1), min(y1, r0 + rows[-1] + 1)]
    return cov, clip


def _box_pixels(region: np.ndarray, active: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Own-data map ``(B, H, W)`` of a box plan: 0 inside each active pasted region, 1 elsewhere."""
    h, w = size
    r = np.arange(h)[None, :, None] + 0.5
    c = np.arange(w)[None, None, :] + 0.5
    x0, y0, x1, y1 = (region[:, k, None, None] for k in range(4))
    inside = (c > x0) & (c < x1) & (r > y0) & (r < y1) & active[:, None, None]
    return np.where(inside, 0.0, 1.0)


def mix_boxes(plan: Any, batch: BoxBatch, *, hw_axes: tuple[int, int], size: tuple[int, int],
              min_visible: float = 0.25, seg: np.ndarray | None = None) -> BoxBatch:
    """Boxes of each mixed image: its own, then its partner's, with weights (see the module doc).

    ``seg``: the batch's segmentation ``(B, H, W)`` whose class ids the box labels use; with it, a
    paste measures each box's visibility over its object's pixels instead of the box area (boxes
    whose object was covered are dropped even if their box is not). The same as ``plan.mix_boxes``."""
    return plan.mix_boxes(batch, hw_axes=hw_axes, size=size, min_visible=min_visible, seg=seg)


def mix_boxes_by_geometry(plan: Any, batch: BoxBatch, *, hw_axes: tuple[int, int], size: tuple[int, int],
                          min_visible: float = 0.25, seg: np.ndarray | None = None) -> BoxBatch:
    """:func:`mix_boxes` for a plan of the ``"box"``, ``"mask"`` or ``"blend"`` geometry."""
    kind = plan_kind(plan)
    if kind == "custom":
        raise unsupported(plan, "boxes")
    b = plan.batch_size
    rows = np.arange(b)
    new_boxes, new_labels, new_weights = [], [], []
    if seg is not None and batch.labels is None:
        raise ValueError("boxes_follow_mask needs box_labels with the mask's class ids")
    if kind == "box":
        region, active = _plane(plan, hw_axes, size)
        if seg is not None:  # measure over object pixels: the pixel path of a binary mask
            pix, kind, binary = _box_pixels(region, active, size), "mask", True
    elif kind == "mask":
        pix = _pixel_map(plan, hw_axes, size)
        binary = plan.binary
    for i in range(b):
        p = int(plan.partner[i])
        own, other = batch.boxes[i], batch.boxes[p]
        ow, pw = batch.weights[i], batch.weights[p]
        if kind == "box":
            if active[i]:
                own_b, own_k = _own_after_paste(own, region[i], min_visible)
                oth_b, oth_k = _partner_after_paste(other, region[i], min_visible)
            else:
                own_b, own_k = own, np.ones(len(own), bool)
                oth_b, oth_k = other, np.zeros(len(other), bool)
            own_w, oth_w = ow * 1.0, pw * 1.0
        elif kind == "mask" and binary:
            so, sp = (None, None) if seg is None else (seg[i], seg[p])
            lo, lp = (None, None) if seg is None else (batch.labels[i], batch.labels[p])
            cov_o, clip_o = _pixel_coverage(own, pix[i], so, lo)
            cov_p, clip_p = _pixel_coverage(other, 1.0 - pix[i], sp, lp)
            own_b, own_k = clip_o, (cov_o >= min_visible) & (cov_o > 0)
            oth_b, oth_k = clip_p, (cov_p >= min_visible) & (cov_p > 0) & (p != i)
            own_w, oth_w = ow * 1.0, pw * 1.0
        elif kind == "mask":
            cov_o, _ = _pixel_coverage(own, pix[i])
            cov_p, _ = _pixel_coverage(other, 1.0 - pix[i])
            own_b, oth_b = own, other
            own_w, oth_w = ow * cov_o, pw * cov_p
            own_k, oth_k = own_w > 0, (oth_w > 0) & (p != i)
        else:
            lam = float(plan.lam[i])
            own_b, oth_b = own, other
            own_w, oth_w = ow * lam, pw * (1.0 - lam)
            own_k, oth_k = own_w > 0, (oth_w > 0) & (p != i)
        new_boxes.append(np.concatenate([own_b[own_k], oth_b[oth_k]]).reshape(-1, 4))
        new_weights.append(np.concatenate([np.broadcast_to(own_w, own_k.shape)[own_k],
                                           np.broadcast_to(oth_w, oth_k.shape)[oth_k]]).astype(np.float32))
        if batch.labels is not None:
            new_labels.append(np.concatenate([batch.labels[i][own_k], batch.labels[p][oth_k]]))
    del rows
    return BoxBatch(new_boxes, new_labels if batch.labels is not None else None, new_weights)


# ----------------------------------------------------------------------------------------------------
# keypoints
# ----------------------------------------------------------------------------------------------------


def read_keypoints(kps: Any, batch_size: int, size: tuple[int, int], *, normalized: bool = False
                   ) -> tuple[list[np.ndarray], dict]:
    """Keypoints ``(B, K, 2|3)`` or a list of ``(k_i, 2|3)`` (x, y[, visibility]) to per-image
    float64 ``(k_i, 3)`` pixel arrays; visible points must lie inside the image."""
    h, w = size
    if isinstance(kps, (list, tuple)):
        if len(kps) != batch_size:
            raise ValueError(f"keypoints must give one array per image ({batch_size}), got {len(kps)}")
        items, listed = [host(k).astype(np.float64) for k in kps], True
        ref = next((k for k in kps if not isinstance(k, (list, tuple))), None)
    else:
        try:
            backend(kps)
        except TypeError:
            raise TypeError(f"keypoints must be an array (B, K, 2|3) or a list of arrays, got {type(kps).__name__}") from None
        a = host(kps).astype(np.float64)
        if a.ndim != 3 or a.shape[0] != batch_size:
            raise ValueError(f"keypoints must have shape ({batch_size}, K, 2) or ({batch_size}, K, 3), got {a.shape}")
        items, listed, ref = list(a), False, kps
    out = []
    for i, k in enumerate(items):
        if k.size == 0:
            k = k.reshape(0, 3)
        if k.ndim != 2 or k.shape[1] not in (2, 3):
            raise ValueError(f"keypoints of image {i} must have shape (k, 2) or (k, 3), got {k.shape}")
        if k.shape[1] == 2:
            k = np.concatenate([k, np.ones((len(k), 1))], axis=1)
        if normalized:
            k = k * np.array([w, h, 1.0])
        vis = k[:, 2] > 0
        inside = (k[:, 0] >= 0) & (k[:, 0] <= w) & (k[:, 1] >= 0) & (k[:, 1] <= h)
        if np.any(vis & ~inside):
            raise ValueError(
                f"visible keypoint {k[vis & ~inside][0, :2].tolist()} of image {i} lies outside the image "
                f"(width {w}, height {h}{', normalised' if normalized else ''}); mark it invisible (v=0)"
            )
        out.append(k)
    return out, {"listed": listed, "ref": ref, "normalized": normalized, "size": size}


def _point_weight(points: np.ndarray, pix: np.ndarray) -> np.ndarray:
    h, w = pix.shape
    c = np.clip(np.floor(points[:, 0]).astype(np.int64), 0, w - 1)
    r = np.clip(np.floor(points[:, 1]).astype(np.int64), 0, h - 1)
    return pix[r, c] if len(points) else np.zeros(0)


def mix_keypoints(plan: Any, kps: list[np.ndarray], *, hw_axes: tuple[int, int], size: tuple[int, int]
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Keypoints of each mixed image: its own then its partner's ``(k_i + k_p, 3)``, visibility set to 0
    where the point is covered (paste) or its source has no weight, and a weight per point. The same as
    ``plan.mix_keypoints``."""
    return plan.mix_keypoints(kps, hw_axes=hw_axes, size=size)


def mix_keypoints_by_geometry(plan: Any, kps: list[np.ndarray], *, hw_axes: tuple[int, int],
                              size: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`mix_keypoints` for a plan of the ``"box"``, ``"mask"`` or ``"blend"`` geometry."""
    kind = plan_kind(plan)
    if kind == "custom":
        raise unsupported(plan, "keypoints")
    if kind == "box":
        region, active = _plane(plan, hw_axes, size)
    elif kind == "mask":
        pix = _pixel_map(plan, hw_axes, size)
    out, weights = [], []
    for i in range(plan.batch_size):
        p = int(plan.partner[i])
        own, other = kps[i].copy(), kps[p].copy()
        if kind == "box":
            r = region[i]

            def inside(k: np.ndarray, r: np.ndarray = r) -> np.ndarray:
                return (k[:, 0] >= r[0]) & (k[:, 0] < r[2]) & (k[:, 1] >= r[1]) & (k[:, 1] < r[3])

            wo = np.where(inside(own) & active[i], 0.0, 1.0)
            wp = np.where(inside(other) & active[i], 1.0, 0.0)
        elif kind == "mask":
            wo, wp = _point_weight(own, pix[i]), 1.0 - _point_weight(other, pix[i])
            if p == i:
                wp = np.zeros(len(other))
        else:
            lam = float(plan.lam[i])
            wo = np.full(len(own), lam)
            wp = np.full(len(other), 0.0 if p == i else 1.0 - lam)
        own[:, 2] = np.where(wo > 0, own[:, 2], 0.0)
        other[:, 2] = np.where(wp > 0, other[:, 2], 0.0)
        wo = np.where(own[:, 2] > 0, wo, 0.0)
        wp = np.where(other[:, 2] > 0, wp, 0.0)
        out.append(np.concatenate([own, other]))
        weights.append(np.concatenate([wo, wp]).astype(np.float32))
    return out, weights


def write_keypoints(points: list[np.ndarray], weights: list[np.ndarray], form: dict) -> tuple[Any, Any]:
    """Back to the input's form: an array ``(B, K', 3)`` or a list, in the input's library."""
    h, w = form["size"]
    if form["normalized"]:
        points = [k / np.array([w, h, 1.0]) for k in points]
    ref = form["ref"]
    torch_ref = ref is not None and backend(ref) == "torch"
    fdt = ref.dtype if ref is not None and dtype_kind(ref) == "f" else None
    if form["listed"]:
        if torch_ref:
            return [like(k, ref, fdt) for k in points], [_torch_f32(wt, ref) for wt in weights]
        return [k.astype(fdt or np.float32) for k in points], weights
    arr = np.stack(points) if points else np.zeros((0, 0, 3))
    wts = np.stack(weights) if weights else np.zeros((0, 0), np.float32)
    if torch_ref:
        return like(arr, ref, fdt), _torch_f32(wts, ref)
    return arr.astype(fdt or np.float32), wts

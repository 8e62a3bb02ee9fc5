"""torchvision glue: mix batches of ``tv_tensors`` inside a ``transforms.v2`` pipeline.

``MixTransform(mixkit.CutMix(num_classes=10), seed=0)`` is a ``torch.nn.Module`` that takes what a
batch-level ``v2.Compose`` passes along and returns the same structure with the same types:

- ``(images, labels)``: ``images`` a ``tv_tensors.Image`` ``(B, C, H, W)`` or ``Video`` ``(B, T, C, H, W)``
  (or a plain tensor), ``labels`` class indices ``(B,)`` or probabilities ``(B, C)``; returns
  ``(images, targets)`` with dense ``(B, C)`` targets (or the transform's pair form).
- ``(images, targets)`` for detection: ``targets`` a list with one dict per image holding
  ``"boxes"`` (``tv_tensors.BoundingBoxes``) and ``"labels"``; returns one dict per image with the
  mixed ``"boxes"``, their ``"labels"`` and ``"weights"`` (the opacity of each object in the mixed
  image: ``lam``/``1 - lam`` for a blend, 1 for kept boxes of a paste).
- a dict ``{"image": ..., "labels": ..., "mask": tv_tensors.Mask (B, H, W), "boxes": [BoundingBoxes, ...],
  "box_labels": [...]}``: every entry is mixed with the same plan and returned under its key
  (``"box_weights"`` added).

Convention: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``; ``lam`` weighs the sample's own
data. torchvision stays optional: importing this module imports it, ``import mixkit`` does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

try:
    from torchvision import tv_tensors
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mixkit.torchvision needs torchvision (0.16 or later, matching your torch): pip install torchvision"
    ) from err

from .companions.boxes import BOX_FORMATS
from .methods._base import Mixer

__all__ = ["MixTransform"]

_BATCH_TYPES = (tv_tensors.Image, tv_tensors.Video)


def _plain(t: Any) -> Any:
    return t.as_subclass(torch.Tensor) if isinstance(t, torch.Tensor) else t


def _box_format(boxes: tv_tensors.BoundingBoxes) -> str:
    fmt = boxes.format.name.lower()
    if fmt not in BOX_FORMATS:
        raise ValueError(f"BoundingBoxes in format {boxes.format.name} cannot be mixed; supported: "
                         f"{', '.join(f.upper() for f in BOX_FORMATS)}")
    return fmt


def _check_boxes(boxes: Any, batch_size: int, size: tuple[int, int], where: str) -> list[tv_tensors.BoundingBoxes]:
    if isinstance(boxes, tv_tensors.BoundingBoxes):
        raise TypeError(
            f"{where} is one BoundingBoxes for the whole batch; give a list with one BoundingBoxes per image"
        )
    if not isinstance(boxes, (list, tuple)) or len(boxes) != batch_size:
        raise ValueError(f"{where} must be a list of {batch_size} BoundingBoxes (one per image), got "
                         f"{type(boxes).__name__}" + (f" of length {len(boxes)}" if isinstance(boxes, (list, tuple)) else ""))
    formats = set()
    for i, b in enumerate(boxes):
        if not isinstance(b, tv_tensors.BoundingBoxes):
            raise TypeError(f"{where}[{i}] must be a tv_tensors.BoundingBoxes, got {type(b).__name__}")
        if tuple(b.canvas_size) != tuple(size):
            raise ValueError(f"{where}[{i}] has canvas_size {tuple(b.canvas_size)} but the images are {tuple(size)}")
        formats.add(_box_format(b))
    if len(formats) > 1:
        raise ValueError(f"{where} mixes box formats {sorted(formats)}; convert them to one format")
    return list(boxes)


class MixTransform(torch.nn.Module):
    """A mixkit transform as a batch-level torchvision ``v2`` transform (see the module docstring).

    Args:
        transform: a mixkit transform (``MixUp``, ``CutMix``, ``OneOf``, ...).
        seed: seeds the module's own ``numpy.random.Generator`` (None: fresh entropy); every call
            draws the next plan from it.
        options: options of mixkit's structured samples, e.g. ``mask_classes=C`` (needed to blend
            masks), ``min_visible=0.25`` (the least visible fraction for a box to be kept).
    """

    def __init__(self, transform: Mixer, *, seed: int | None = None, **options: Any) -> None:
        super().__init__()
        if not isinstance(transform, Mixer):
            raise TypeError(
                f"MixTransform needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.transform = transform
        self.seed = seed
        self.options = options
        self.generator = np.random.default_rng(seed)

    def forward(self, *inputs: Any) -> Any:
        sample = inputs[0] if len(inputs) == 1 else inputs
        if isinstance(sample, Mapping):
            return self._dict(sample)
        if isinstance(sample, (tuple, list)) and len(sample) == 2:
            images, target = sample
            if isinstance(target, (list, tuple)) and (not target or isinstance(target[0], Mapping)):
                return self._detection(images, list(target))
            if isinstance(target, torch.Tensor):
                return self._classification(images, target)
        raise TypeError(
            "MixTransform takes (images, labels), (images, [per-image target dicts]) or a dict with an "
            f"'image' entry; got {type(sample).__name__}"
            + (f" of {len(sample)} items" if isinstance(sample, (tuple, list)) else "")
        )

    # -- the three structures ----------------------------------------------------------------------
    def _batch(self, images: Any, where: str) -> torch.Tensor:
        if isinstance(images, (tv_tensors.Mask, tv_tensors.BoundingBoxes)) or not isinstance(images, torch.Tensor):
            raise TypeError(f"{where} must be a tv_tensors.Image, a Video or a tensor batch, got {type(images).__name__}")
        want = 5 if isinstance(images, tv_tensors.Video) else 4
        if images.ndim != want:
            kind = "Video (B, T, C, H, W)" if want == 5 else "Image batch (B, C, H, W)"
            raise ValueError(f"{where} must be a {kind}, got shape {tuple(images.shape)}")
        return images

    def _classification(self, images: Any, labels: torch.Tensor) -> tuple[Any, Any]:
        images = self._batch(images, "images")
        x, y = self.transform(_plain(images), _plain(labels), rng=self.generator)
        return tv_tensors.wrap(x, like=images) if isinstance(images, _BATCH_TYPES) else x, y

    def _detection(self, images: Any, targets: list[Mapping]) -> tuple[Any, list[dict[str, Any]]]:
        images = self._batch(images, "images")
        b, size = int(images.shape[0]), tuple(int(s) for s in images.shape[-2:])
        if len(targets) != b:
            raise ValueError(f"targets must hold one dict per image ({b}), got {len(targets)}")
        for i, t in enumerate(targets):
            if "boxes" not in t:
                raise ValueError(f"targets[{i}] has no 'boxes'; its keys are {sorted(t)}")
        boxes = _check_boxes([t["boxes"] for t in targets], b, size, "targets' boxes")
        labels = [t["labels"] for t in targets] if all("labels" in t for t in targets) else None
        sample = {"image": _plain(images), "boxes": [_plain(x) for x in boxes]}
        if labels is not None:
            sample["box_labels"] = [_plain(x) for x in labels]
        out = self.transform(sample, rng=self.generator, box_format=_box_format(boxes[0]), **self.options)
        mixed = []
        for i in range(b):
            d = {k: v for k, v in targets[i].items() if k not in ("boxes", "labels")}
            d["boxes"] = tv_tensors.wrap(out["boxes"][i], like=boxes[i])
            if labels is not None:
                d["labels"] = out["box_labels"][i]
            d["weights"] = out["box_weights"][i]
            mixed.append(d)
        x = out["image"]
        return (tv_tensors.wrap(x, like=images) if isinstance(images, _BATCH_TYPES) else x), mixed

    def _dict(self, sample: Mapping) -> dict[str, Any]:
        key = "image" if "image" in sample else "x" if "x" in sample else None
        if key is None:
            raise ValueError(f"a dict sample needs an 'image' (or 'x') entry; its keys are {sorted(sample)}")
        images = self._batch(sample[key], f"sample[{key!r}]")
        b, size = int(images.shape[0]), tuple(int(s) for s in images.shape[-2:])
        plain: dict[str, Any] = {}
        options = dict(self.options)
        for k, v in sample.items():
            if k in ("boxes",):
                boxes = _check_boxes(v, b, size, "sample['boxes']")
                options.setdefault("box_format", _box_format(boxes[0]))
                plain[k] = [_plain(x) for x in boxes]
            elif isinstance(v, (list, tuple)):
                plain[k] = [_plain(x) for x in v]
            else:
                plain[k] = _plain(v)
        out = self.transform(plain, rng=self.generator, **options)
        result = dict(out)
        result[key] = tv_tensors.wrap(out[key], like=images) if isinstance(images, _BATCH_TYPES) else out[key]
        if isinstance(sample.get("mask"), tv_tensors.Mask) and isinstance(out.get("mask"), torch.Tensor):
            result["mask"] = tv_tensors.Mask(out["mask"])
        if "boxes" in sample:
            result["boxes"] = [tv_tensors.wrap(bx, like=ref) for bx, ref in zip(out["boxes"], sample["boxes"])]
        return result

    def extra_repr(self) -> str:
        return f"{self.transform!r}, seed={self.seed}"

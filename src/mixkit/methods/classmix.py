"""ClassMix (Olsson et al., 2021): paste the pixels of half of the partner's classes.

Each sample takes from its partner every pixel whose class (in the partner's segmentation mask) is
among a random half of the classes present there, and keeps its own data elsewhere. The result is a
binary :class:`~mixkit.MaskPlan` over the image axes: ``mask[i]`` is 1 where sample ``i`` keeps its own
pixel, so the per-pixel ``lam`` is the mask and ``lam[i] = mask[i].mean()``. The segmentation mask is
mixed with the same plan, so every pixel's label is the class of the image the pixel came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_probability, normalize_axes
from ..companions._common import host
from ..pairing import sample_partner
from ..plan import MaskPlan
from ..sampling import sample_applied
from ._base import Mixer, finish_plan

__all__ = ["ClassMix"]


class ClassMix(Mixer):
    """ClassMix for segmentation: needs the batch's segmentation mask to sample.

    Call it with the mask: ``ClassMix(num_classes=C)(x, y, mask=m)`` or on a dict sample
    ``{"image": x, "mask": m, "labels": y}``; or sample explicitly with ``t.sample(B, shape=x.shape, mask=m)``
    (``needs == {"mask"}``).

    Args:
        fraction: the share of the partner's classes that is pasted (0.5 in the paper; rounded up).
        axes: the image axes the mask covers, ``(-2, -1)`` for NCHW.
        ignore_index: a void label that is never chosen (its pixels stay the sample's own).
        pairing, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`
            (``p`` per sample).
    """

    needs = frozenset({"mask"})
    takes_partners = False  # the pasted pixels are the classes of its own partners

    def __init__(
        self,
        *,
        fraction: float = 0.5,
        axes: tuple[int, ...] = (-2, -1),
        ignore_index: int | None = None,
        pairing: str = "shuffle",
        num_classes: int | None = None,
        p: float = 1.0,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
        targets: str = "classes",
    ) -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing,
                         label_format=label_format, targets=targets)
        self.fraction = check_probability(fraction, "fraction")
        self._options(axes=axes, pairing=pairing)
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MaskPlan:
        """Partners and the pasted classes; ``mask=``: the batch's segmentation ``(B, *sizes)`` (or
        ``(B, 1, *sizes)``)."""
        mask = companions.get("mask")
        if mask is None:
            raise self._missing("the segmentation mask", "mask=")
        if shape is None:
            raise self._missing("the batch's shape", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        order = np.argsort(axes)
        sizes = tuple(shape[a] for a in axes)
        seg = host(mask)
        k = len(axes)
        if seg.ndim > k + 1:
            lead = seg.reshape((seg.shape[0], -1) + tuple(seg.shape[-k:]))
            if lead.shape[1] != 1:
                raise ValueError(f"ClassMix needs one mask per image (B, *sizes), got {tuple(seg.shape)}")
            seg = lead[:, 0]
        sorted_sizes = tuple(sizes[i] for i in order)
        if seg.ndim != len(axes) + 1 or seg.shape[0] != batch_size or tuple(seg.shape[1:]) != sorted_sizes:
            raise ValueError(
                f"ClassMix needs a mask of shape (B, {', '.join(map(str, sorted_sizes))}) matching the image "
                f"axes {axes} of {shape}; got {seg.shape}"
            )
        if seg.dtype.kind not in "ui":
            raise TypeError(f"the mask must hold integer class ids, got dtype {seg.dtype}")
        partner = sample_partner(batch_size, self.pairing, gen)
        keep = np.ones((batch_size,) + sorted_sizes, dtype=np.bool_)
        for i in range(batch_size):
            src = seg[partner[i]]
            classes = np.unique(src)
            if self.ignore_index is not None:
                classes = classes[classes != self.ignore_index]
            k = int(np.ceil(self.fraction * len(classes)))
            chosen = gen.permutation(classes)[:k]
            keep[i] = ~np.isin(src, chosen)
        applied = sample_applied(batch_size, self.p, "sample", gen)
        lam = keep.reshape(batch_size, -1).mean(axis=1) if keep.size else np.ones(batch_size)
        partner, lam = finish_plan(partner, lam, applied)
        keep[lam == 1.0] = True
        lam = keep.reshape(batch_size, -1).mean(axis=1) if keep.size else lam
        # the plan's mask is laid out in the order of its axes
        inverse = np.argsort(order)
        keep = np.transpose(keep, (0,) + tuple(int(i) + 1 for i in inverse))
        return MaskPlan._trusted(partner=partner, lam=lam, axes=axes, mask=keep)  # fresh, bool

    def _repr_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fraction": self.fraction, "axes": self.axes, "pairing": self.pairing}
        if self.ignore_index is not None:
            out["ignore_index"] = self.ignore_index
        return out

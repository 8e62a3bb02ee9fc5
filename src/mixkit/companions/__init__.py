"""Companions of a batch mixed with the batch's own plan: segmentation masks, boxes, keypoints,
padding masks and per-step labels. See :mod:`mixkit.methods` for the transforms that route them."""

from .boxes import BOX_FORMATS, convert_boxes
from .segmentation import MixedMasks, mix_masks, soft_masks
from .sequences import SequenceMix, fit_sequence_plan, mix_token_labels

__all__ = ["BOX_FORMATS", "MixedMasks", "SequenceMix", "convert_boxes", "fit_sequence_plan", "mix_masks",
           "mix_token_labels", "soft_masks"]

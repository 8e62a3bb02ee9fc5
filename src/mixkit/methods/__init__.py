"""Mixing methods: each samples a plan and applies it with the pure kernels."""

from ._base import Mixer, apply_plan
from .compose import OneOf
from .cutmix import CutMix, cutmix
from .masks import FMix, GridMix, SaliencyMix, SmoothMix
from .mixup import MixUp, mixup
from .resizemix import ResizeMix, ResizePlan

__all__ = [
    "CutMix",
    "FMix",
    "GridMix",
    "Mixer",
    "MixUp",
    "OneOf",
    "ResizeMix",
    "ResizePlan",
    "SaliencyMix",
    "SmoothMix",
    "apply_plan",
    "cutmix",
    "mixup",
]

"""Mixing methods: each samples a plan and applies it with the pure kernels."""

from ._base import Mixer, apply_plan
from ._result import Mixed
from .audio import AudioMixUp, LoudnessPlan
from .classmix import ClassMix
from .cmixup import CMixUp
from .compose import OneOf
from .cutmix import CutMix, cutmix
from .label_aware import BalancedMixUp, LabelPairedMix, LabelPlan, Remix
from .masks import FMix, GridMix, SaliencyMix, SmoothMix
from .mixup import MixUp, mixup
from .mosaic import Mosaic, MosaicPlan
from .resizemix import ResizeMix, ResizePlan
from .tabular import TabularMixUp, TabularPlan

__all__ = [
    "AudioMixUp",
    "BalancedMixUp",
    "CMixUp",
    "ClassMix",
    "CutMix",
    "FMix",
    "GridMix",
    "LabelPairedMix",
    "LabelPlan",
    "LoudnessPlan",
    "MixUp",
    "Mixed",
    "Mixer",
    "Mosaic",
    "MosaicPlan",
    "OneOf",
    "Remix",
    "ResizeMix",
    "ResizePlan",
    "SaliencyMix",
    "SmoothMix",
    "TabularMixUp",
    "TabularPlan",
    "apply_plan",
    "cutmix",
    "mixup",
]

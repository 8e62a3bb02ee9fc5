"""Mixing methods: each samples a plan and applies it with the pure kernels."""

from ._base import Mixer, apply_plan
from .compose import OneOf
from .cutmix import CutMix, cutmix
from .mixup import MixUp, mixup

__all__ = ["CutMix", "Mixer", "MixUp", "OneOf", "apply_plan", "cutmix", "mixup"]

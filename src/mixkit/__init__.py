"""mixkit: mix-based data augmentation for any batch.

Sample a plan once, apply it with pure kernels, mix the labels with the same plan. The convention
everywhere is ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``: ``lam`` is the weight of the
sample's own data. Every transform call ``t(x, y, **companions)`` returns a :class:`Mixed`
``(x_mixed, y_mixed)`` (companions in ``.companions``); every plan applies itself (``plan.apply(x)``).
``import mixkit`` imports no deep-learning framework; glue lives in ``mixkit.torch``.
"""

from .companions import MixedMasks, convert_boxes
from .kernels import blend, blend_many, box_mask, mask_mix, paste
from .labels import MixedTargets, as_targets, mix_targets, one_hot, smooth_labels
from .methods import (
    AudioMixUp,
    BalancedMixUp,
    ClassMix,
    CMixUp,
    CutMix,
    FMix,
    GridMix,
    LabelPairedMix,
    LabelPlan,
    LoudnessPlan,
    Mixed,
    Mixer,
    MixUp,
    Mosaic,
    MosaicPlan,
    OneOf,
    Remix,
    ResizeMix,
    ResizePlan,
    SaliencyMix,
    SmoothMix,
    TabularMixUp,
    TabularPlan,
    apply_plan,
    cutmix,
    mixup,
)
from .pairing import sample_partner
from .pairing_labels import ClassCounts, sample_label_partner
from .plan import BoxPlan, MaskPlan, MixPlan, MultiMixPlan, plan_from_dict
from .sampling import sample_lam
from .schedules import Scheduled

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``mixkit.sweep(...)``: imported on first use (it needs optuna, torch, matplotlib when run).
    if name == "sweep":
        import importlib

        return importlib.import_module(".sweep", __name__)
    raise AttributeError(f"module 'mixkit' has no attribute {name!r}")


__all__ = [
    "AudioMixUp",
    "BalancedMixUp",
    "BoxPlan",
    "CMixUp",
    "ClassCounts",
    "ClassMix",
    "CutMix",
    "FMix",
    "GridMix",
    "LabelPairedMix",
    "LabelPlan",
    "LoudnessPlan",
    "MaskPlan",
    "MixPlan",
    "MixUp",
    "Mixed",
    "MixedMasks",
    "MixedTargets",
    "Mixer",
    "Mosaic",
    "MosaicPlan",
    "MultiMixPlan",
    "OneOf",
    "Remix",
    "ResizeMix",
    "ResizePlan",
    "SaliencyMix",
    "Scheduled",
    "SmoothMix",
    "TabularMixUp",
    "TabularPlan",
    "__version__",
    "apply_plan",
    "as_targets",
    "blend",
    "blend_many",
    "box_mask",
    "convert_boxes",
    "cutmix",
    "mask_mix",
    "mix_targets",
    "mixup",
    "one_hot",
    "paste",
    "plan_from_dict",
    "sample_label_partner",
    "sample_lam",
    "sample_partner",
    "smooth_labels",
    "sweep",
]

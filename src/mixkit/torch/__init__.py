"""PyTorch glue: the DataLoader collate (``MixCollate``), DDP mixing (``DistributedMix``), hidden-state
mixing, MixMatch, RegMixup, PuzzleMix and losses for mixed targets (soft-target and multi-label). Importing this
module imports torch."""

from .collate import MixCollate
from .distributed import DistributedMix, current_rank, rank_generator
from .losses import mixed_binary_cross_entropy, mixed_cross_entropy, soft_cross_entropy
from .manifold import ManifoldMixup
from .mixmatch import MixMatch, MixMatchLoss, sharpen
from .puzzlemix import PuzzleMix
from .regmixup import RegMixup, RegMixupBatch
from .saliency import gradient_saliency

__all__ = [
    "DistributedMix",
    "ManifoldMixup",
    "MixCollate",
    "MixMatch",
    "MixMatchLoss",
    "PuzzleMix",
    "RegMixup",
    "RegMixupBatch",
    "current_rank",
    "gradient_saliency",
    "mixed_binary_cross_entropy",
    "mixed_cross_entropy",
    "rank_generator",
    "sharpen",
    "soft_cross_entropy",
]

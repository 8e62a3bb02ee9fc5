"""PyTorch glue: the DataLoader collate (``MixCollate``), DDP mixing (``DistributedMix``), hidden-state
mixing, MixMatch and losses for mixed targets. Importing this module imports torch."""

from .collate import MixCollate
from .distributed import DistributedMix, current_rank, rank_generator
from .losses import mixed_cross_entropy, soft_cross_entropy
from .manifold import ManifoldMixup
from .mixmatch import MixMatch, MixMatchLoss, sharpen
from .saliency import gradient_saliency

__all__ = [
    "DistributedMix",
    "ManifoldMixup",
    "MixCollate",
    "MixMatch",
    "MixMatchLoss",
    "current_rank",
    "gradient_saliency",
    "mixed_cross_entropy",
    "rank_generator",
    "sharpen",
    "soft_cross_entropy",
]

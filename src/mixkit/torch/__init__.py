"""PyTorch glue: losses for mixed targets. Importing this module imports torch."""

from .losses import mixed_cross_entropy, soft_cross_entropy

__all__ = ["mixed_cross_entropy", "soft_cross_entropy"]

"""Pairing: which sample each sample is mixed with.

A pairing returns ``partner``, an int64 array of shape ``(B,)``: sample ``i`` is mixed with
``x[partner[i]]``. ``partner[i] == i`` means the sample is left as it is.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice

__all__ = ["PAIRINGS", "sample_partner"]

PAIRINGS = ("shuffle", "pairs", "flip")


def sample_partner(batch_size: int, pairing: str, rng: np.random.Generator) -> np.ndarray:
    """Draw partners for a batch of ``batch_size`` samples.

    - ``"shuffle"``: a uniformly random permutation (a sample may draw itself: it is left as it is).
    - ``"pairs"``: a random perfect matching, ``partner[partner[i]] == i``; with an odd batch size one
      sample is its own partner.
    - ``"flip"``: ``partner[i] = B - 1 - i`` (no randomness); the middle sample of an odd batch is its
      own partner.
    """
    check_choice("pairing", pairing, PAIRINGS)
    if pairing == "shuffle":
        return rng.permutation(batch_size).astype(np.int64)
    if pairing == "flip":
        return np.arange(batch_size - 1, -1, -1, dtype=np.int64)
    order = rng.permutation(batch_size).astype(np.int64)
    partner = np.arange(batch_size, dtype=np.int64)
    half = batch_size // 2
    a, b = order[:half], order[half : 2 * half]
    partner[a] = b
    partner[b] = a
    return partner

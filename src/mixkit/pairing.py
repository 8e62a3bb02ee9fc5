"""Pairing: which sample each sample is mixed with.

A pairing returns ``partner``, an int64 array of shape ``(B,)``: sample ``i`` is mixed with
``x[partner[i]]``. ``partner[i] == i`` means the sample is left as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import as_generator, check_batch_size, check_choice

__all__ = ["PAIRINGS", "sample_partner"]

PAIRINGS = ("shuffle", "pairs", "flip")


def sample_partner(batch_size: int, pairing: str = "shuffle", rng: Any = None) -> np.ndarray:
    """Draw partners for a batch of ``batch_size`` samples; ``rng``: an int seed, a
    ``numpy.random.Generator``, a ``SeedSequence`` or None (fresh entropy).

    - ``"shuffle"``: a uniformly random permutation (a sample may draw itself: it is left as it is).
    - ``"pairs"``: a random perfect matching, ``partner[partner[i]] == i``; with an odd batch size one
      sample is its own partner.
    - ``"flip"``: ``partner[i] = B - 1 - i`` (no randomness); the middle sample of an odd batch is its
      own partner.
    """
    batch_size = check_batch_size(batch_size, None)
    check_choice("pairing", pairing, PAIRINGS)
    rng = as_generator(rng)
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

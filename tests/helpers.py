"""Small test helpers shared by the test modules."""

import numpy as np


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only copy: any write into it raises, so tests catch mutated inputs."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a

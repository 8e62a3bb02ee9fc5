"""How mixkit's compiled CPU kernels run in parallel: set up once, for every module that compiles.

DataLoader workers are forked from a process that has mixed already, and GNU OpenMP (numba's
choice where TBB is missing) kills such a child. The fork-safe layers (TBB, else numba's workqueue)
do not; the workqueue allows one parallel call at a time, so every ``parallel=True`` kernel is
called holding :data:`PARALLEL`. A layer chosen with ``NUMBA_THREADING_LAYER`` is kept. Imported on
first use only (it imports numba).
"""

from __future__ import annotations

import os
import threading

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "forksafe"

PARALLEL = threading.Lock()

"""``mixkit sweep``: which mixing helps on *this* data, and how sure are we?

Trains a small reference model, or calls your own training function (``train=``, any framework),
with each strategy (no mixing, MixUp at several alphas, CutMix, any mixkit transform by name) over
paired seeds on a fixed stratified split, stores every finished trial in an Optuna RDB store, and
writes a report with 95% intervals and paired differences against no mixing. Importing this package
imports neither torch nor optuna; running a sweep does.

``mixkit.sweep(...)`` and ``mixkit.sweep.sweep(...)`` are the same call: the package itself is
callable, so the public name works whether or not the package has been imported.
"""

import sys
import types
from typing import Any

from .errors import SweepError
from .result import SweepResult
from .run import DEFAULT_ALPHAS, DEFAULT_METHODS, sweep

__all__ = ["DEFAULT_ALPHAS", "DEFAULT_METHODS", "SweepError", "SweepResult", "sweep"]


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`sweep`."""

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

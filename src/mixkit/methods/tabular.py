"""MixUp for tabular rows ``(B, F)``: numeric columns blended, categorical columns taken whole.

A blended category code (say 2.6 between "red"=2 and "blue"=3) means nothing, so each categorical
column of sample ``i`` is taken from sample ``i`` itself with probability ``lam[i]`` and from its partner
otherwise: in expectation the sample keeps ``lam`` of its data, like the numeric columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._xp import backend
from ..companions._common import to_tensor
from ..kernels import blend
from ..plan import MixPlan, _frozen, register_plan_type
from .mixup import MixUp

__all__ = ["TabularMixUp", "TabularPlan"]


@register_plan_type
@dataclass(frozen=True, eq=False, repr=False)
class TabularPlan(MixPlan):
    """A blend of numeric columns plus, for the ``categorical`` columns, ``take_own`` bool
    ``(B, len(categorical))``: True where sample ``i`` keeps its own category."""

    categorical: tuple[int, ...] = ()
    take_own: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    companions: ClassVar[frozenset[str]] = frozenset()  # rows have no masks, boxes or padding

    def __post_init__(self) -> None:
        super().__post_init__()
        cat = tuple(int(c) for c in self.categorical)
        own = _frozen(self.take_own, bool).reshape(self.batch_size, len(cat))
        object.__setattr__(self, "categorical", cat)
        object.__setattr__(self, "take_own", own)

    def check_fits(self, shape: tuple[int, ...]) -> None:
        super().check_fits(shape)
        if len(shape) != 2:
            raise ValueError(f"TabularMixUp needs rows of shape (B, F), got {tuple(shape)}")
        if self.categorical and max(self.categorical) >= shape[1]:
            raise ValueError(
                f"categorical column {max(self.categorical)} is out of range for {shape[1]} columns"
            )

    def _apply(self, x: Any, out: Any) -> Any:
        """Rows ``x`` ``(B, F)``: numeric columns blended, categorical ones copied from one source."""
        if not self.categorical:
            return blend(x, self.partner, self.lam, out=out)
        cat = list(self.categorical)
        if backend(x) == "torch":
            import torch

            dev = x.device
            idx = to_tensor(np.asarray(cat), dev)
            own_vals = x.index_select(1, idx)  # copies, read before anything is written
            part_vals = own_vals.index_select(0, to_tensor(self.partner, dev))
            res = blend(x, self.partner, self.lam, out=out)
            res[:, idx] = torch.where(to_tensor(self.take_own, dev), own_vals, part_vals)
            return res
        own_vals = np.array(x[:, cat])
        part_vals = own_vals[self.partner]
        res = blend(x, self.partner, self.lam, out=out)
        res[:, cat] = np.where(self.take_own, own_vals, part_vals)
        return res


class TabularMixUp(MixUp):
    """MixUp for rows ``(B, F)`` with categorical columns taken whole from one source.

    Args:
        categorical: indices of the categorical (integer-coded) columns; each is kept from the
            sample itself with probability ``lam`` and from its partner otherwise.
        alpha, lam_mode, pairing, num_classes, p, lam, majority, label_smoothing, label_format: as in
            :class:`~mixkit.MixUp`. Use a float array, or an integer array if every column is
            categorical (blended integer columns are rounded).
    """

    def __init__(self, alpha: float = 1.0, *, categorical: Any = (), **options: Any) -> None:
        super().__init__(alpha, **options)
        try:
            cols = tuple(categorical)
        except TypeError:
            raise TypeError(f"categorical must be a sequence of column indices, got {categorical!r}") from None
        if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in cols):
            raise ValueError(f"categorical must hold non-negative column indices, got {cols!r}")
        if len(set(cols)) != len(cols):
            raise ValueError(f"categorical repeats a column: {cols!r}")
        self.categorical = tuple(int(c) for c in cols)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> TabularPlan:
        if shape is not None and (len(shape) != 2 or (self.categorical and max(self.categorical) >= shape[1])):
            raise ValueError(
                f"TabularMixUp needs rows of shape (B, F) with F > every categorical column "
                f"{self.categorical}; got shape {tuple(shape)}"
            )
        base = super()._sample(batch_size, gen, shape, x=x, y=y, companions=companions)
        u = gen.random((batch_size, len(self.categorical)))
        take_own = u < base.lam[:, None]
        return TabularPlan(partner=base.partner, lam=base.lam, categorical=self.categorical, take_own=take_own)

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        out["categorical"] = self.categorical
        return out

"""Mixing under ``torch.distributed`` (DDP): per-rank streams, or partners from the global batch.

``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``: with ``scope="local"`` (the default) each
rank mixes its own batch with its own stream; with ``scope="global"`` every rank gathers the global
batch (inputs, labels, companions) with ``all_gather``, draws the same plan over it from a stream shared
by all ranks (no communication for it), and keeps its own rows of the mixed result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .._validate import check_choice
from ..labels import MixedTargets
from ..methods._base import Mixer
from ..methods._result import Mixed
from ..plan import MixPlan
from ._compose import who_needs

__all__ = ["DistributedMix", "current_rank", "rank_generator"]

SCOPES = ("local", "global")
_LOCAL, _GLOBAL = 2, 3  # stream domains (MixCollate uses 0 and 1)


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def current_rank() -> int:
    """This process's rank in the default process group, or 0 when none is initialised."""
    return dist.get_rank() if _initialised() else 0


def rank_generator(seed: int, *, epoch: int = 0, rank: int | None = None) -> np.random.Generator:
    """A Generator for ``(seed, epoch, rank)``, independent of every other rank's and epoch's."""
    rank = current_rank() if rank is None else int(rank)
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_LOCAL, rank, int(epoch))))


class DistributedMix:
    """Mix a batch in the training step of a DDP job: ``DistributedMix(transform, seed=0)(x, y)``.

    Args:
        transform: a mixkit transform (``MixUp``, ``CutMix``, ``Remix``, ``OneOf``, ``Scheduled``, ...).
        seed: a non-negative int shared by all ranks.
        scope: ``"local"``: each rank mixes its own batch ``(B, ...)`` with its own stream (ranks are
            independent); ``"global"``: partners come from the global batch of all ranks (every rank
            must call with the same batch size, in step, as DDP does). ``"global"`` needs an
            initialised process group.
        group: the process group for ``"global"`` (default: the whole world).

    Every method works in both scopes, and gets what it needs to sample: with ``"global"`` the plan
    is drawn over the global batch, so label-aware methods (Remix, BalancedMixUp, LabelPairedMix)
    pair across ranks with the global labels, SaliencyMix reads the gathered batch and ClassMix the
    gathered ``mask=``. Every rank draws that plan itself from the same stream and the same gathered
    data, so the ranks agree as long as the method's sampling is deterministic for the same inputs
    (true of every mixkit method; SaliencyMix's saliency is computed on the batch's device). A Remix
    that tracks class counts counts the global batches, the same on every rank. Companions (``mask=``,
    ``padding_mask=``, ...) are tensors ``(B, ...)`` in ``"global"`` scope.

    ``set_epoch(n)`` starts epoch ``n``'s streams (and sets the epoch of a ``Scheduled`` transform);
    within an epoch each call draws the next plan. Returns a :class:`~mixkit.Mixed`
    ``(x_mixed, y_mixed)`` for the rank's own rows, as ``transform(x, y)`` does. The rank's own rows of
    ``x`` keep their autograd history; the rows gathered from other ranks carry none.
    """

    def __init__(self, transform: Mixer, *, seed: int = 0, scope: str = "local", group: Any = None) -> None:
        if not isinstance(transform, Mixer):
            raise TypeError(
                f"DistributedMix needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.transform = transform
        self.seed = int(seed)
        self.scope = check_choice("scope", scope, SCOPES)
        self.group = group
        self.epoch = 0
        self._gen: np.random.Generator | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: fresh streams, and the epoch of a ``Scheduled`` transform."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)
        self._gen = None
        set_epoch = getattr(self.transform, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(self.epoch)

    def _generator(self) -> np.random.Generator:
        if self._gen is None:
            if self.scope == "local":
                self._gen = rank_generator(self.seed, epoch=self.epoch)
            else:  # the same stream on every rank: all draw the same global plan
                key = (_GLOBAL, self.epoch)
                self._gen = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        return self._gen

    def sample(self, batch_size: int, shape: tuple[int, ...] | None = None, *, x: Any = None, y: Any = None,
               **companions: Any) -> MixPlan:
        """The next plan from this rank's stream (``"local"``) or the shared one (``"global"``), for a
        batch of ``batch_size`` (the global batch size with ``"global"``); ``x``, ``y`` and companions
        as the transform's ``sample`` takes them."""
        return self.transform.sample(batch_size, rng=self._generator(), shape=shape, x=x, y=y, **companions)

    def __call__(self, x: torch.Tensor, y: Any = None, **companions: Any) -> Mixed:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DistributedMix mixes torch tensors, got {type(x).__name__}")
        self._check_needs(y, companions)
        if self.scope == "local":
            return self.transform(x, y, rng=self._generator(), **companions)
        if not _initialised():
            raise ValueError(
                "DistributedMix(scope='global') needs an initialised process group: call "
                "torch.distributed.init_process_group(...) first, or use scope='local'"
            )
        return self._global(x, y, companions)

    def _check_needs(self, y: Any, companions: dict[str, Any]) -> None:
        for need in sorted(frozenset(self.transform.needs) - {"x"}):
            if need == "y" and y is None:
                raise ValueError(f"{who_needs(self.transform, 'y')} needs the labels to sample: call "
                                 "DistributedMix(...)(x, y)")
            if need not in ("x", "y") and need not in companions:
                raise ValueError(f"{who_needs(self.transform, need)} needs the {need!r} to sample: call "
                                 f"DistributedMix(...)(x, y, {need}=...)")

    def _global(self, x: torch.Tensor, y: Any, companions: dict[str, Any]) -> Mixed:
        world = dist.get_world_size(self.group)
        rank = dist.get_rank(self.group)
        b = int(x.shape[0])
        sizes = _all_gather(torch.tensor([b], device=x.device), world, self.group)
        if any(int(s) != b for s in sizes):
            raise ValueError(
                f"scope='global' needs the same batch size on every rank; got {[int(s) for s in sizes]} "
                "(use drop_last=True in the DataLoader)"
            )
        for k, v in companions.items():
            if not isinstance(v, torch.Tensor) or v.ndim == 0 or int(v.shape[0]) != b:
                raise ValueError(
                    f"scope='global' gathers companions as tensors (B, ...) with B = {b}; {k}= is "
                    + (f"a {type(v).__name__}" if not isinstance(v, torch.Tensor) else f"of shape {tuple(v.shape)}")
                    + ": pass a tensor, or use scope='local'"
                )
        xg = _gather_rows(x, rank, world, self.group)
        yg = None if y is None else _gather_rows(torch.as_tensor(y, device=x.device), rank, world, self.group)
        cg = {k: _gather_rows(v, rank, world, self.group) for k, v in companions.items()}
        shape = tuple(int(s) for s in xg.shape)
        plan = self.sample(world * b, shape, x=xg, y=yg, **cg)
        res = self.transform.apply(plan, xg, yg, **cg)
        rows = slice(rank * b, (rank + 1) * b)
        return Mixed(res.x[rows], _rows(res.y, rows), {k: _rows(v, rows) for k, v in res.companions.items()})

    def __repr__(self) -> str:
        return f"DistributedMix({self.transform!r}, seed={self.seed}, scope={self.scope!r})"


def _all_gather(t: torch.Tensor, world: int, group: Any) -> list[torch.Tensor]:
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t, group=group)
    return parts


def _gather_rows(t: torch.Tensor, rank: int, world: int, group: Any) -> torch.Tensor:
    """The concatenation of every rank's ``t``, with this rank's own ``t`` (and its autograd history) in
    its place."""
    parts = _all_gather(t.detach().contiguous(), world, group)
    parts[rank] = t
    return torch.cat(parts)


def _rows(value: Any, rows: slice) -> Any:
    """This rank's rows of a mixed output (a tensor, a pair form, a list per sample)."""
    if value is None:
        return None
    if isinstance(value, MixedTargets):
        return dataclasses.replace(value, y_a=value.y_a[rows], y_b=value.y_b[rows], lam=value.lam[rows])
    return value[rows]

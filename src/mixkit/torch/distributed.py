"""Mixing under ``torch.distributed`` (DDP): per-rank streams, or partners from the global batch.

``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``: with ``scope="local"`` (the default) each
rank mixes its own batch with its own stream; with ``scope="global"`` the plan is drawn over the
concatenation of all ranks' batches (the same draw on every rank, no communication for it) and each
rank gathers the partner rows it needs with ``all_gather``.
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
from ..plan import BoxPlan, MaskPlan, MixPlan

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
        transform: a mixkit transform (``MixUp``, ``CutMix``, ``OneOf``, ...).
        seed: a non-negative int shared by all ranks.
        scope: ``"local"``: each rank mixes its own batch ``(B, ...)`` with its own stream (ranks are
            independent); ``"global"``: partners come from the global batch of all ranks (every rank
            must call with the same batch size, in step, as DDP does). ``"global"`` needs an
            initialised process group.
        group: the process group for ``"global"`` (default: the whole world).

    ``set_epoch(n)`` starts epoch ``n``'s streams; within an epoch each call draws the next plan.
    Returns ``(x_mixed, y_mixed)`` for the rank's own rows, as ``transform(x, y)`` does.
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
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)
        self._gen = None

    def _generator(self) -> np.random.Generator:
        if self._gen is None:
            if self.scope == "local":
                self._gen = rank_generator(self.seed, epoch=self.epoch)
            else:  # the same stream on every rank: all draw the same global plan
                key = (_GLOBAL, self.epoch)
                self._gen = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        return self._gen

    def sample(self, batch_size: int, shape: tuple[int, ...]) -> MixPlan:
        """The next plan from this rank's stream (``"local"``) or the shared one (``"global"``)."""
        return self.transform.sample(batch_size, rng=self._generator(), shape=shape)

    def __call__(self, x: torch.Tensor, y: Any = None) -> tuple[Any, Any]:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DistributedMix mixes torch tensors, got {type(x).__name__}")
        if self.scope == "local":
            return self.transform(x, y, rng=self._generator())
        if not _initialised():
            raise ValueError(
                "DistributedMix(scope='global') needs an initialised process group: call "
                "torch.distributed.init_process_group(...) first, or use scope='local'"
            )
        return self._global(x, y)

    def _global(self, x: torch.Tensor, y: Any) -> tuple[Any, Any]:
        world = dist.get_world_size(self.group)
        rank = dist.get_rank(self.group)
        b = int(x.shape[0])
        sizes = _all_gather(torch.tensor([b], device=x.device), world, self.group)
        if any(int(s) != b for s in sizes):
            raise ValueError(
                f"scope='global' needs the same batch size on every rank; got {[int(s) for s in sizes]} "
                "(use drop_last=True in the DataLoader)"
            )
        shape = (world * b,) + tuple(int(s) for s in x.shape[1:])
        plan = self.sample(world * b, shape)
        if type(plan) not in (MixPlan, BoxPlan, MaskPlan):
            raise ValueError(
                f"scope='global' mixes plans of MixUp, CutMix and the mask methods; {type(self.transform).__name__} "
                f"draws a {type(plan).__name__}: use scope='local' for it"
            )
        rows = np.arange(rank * b, (rank + 1) * b)
        sources = plan.partner[rows]
        local = _local_plan(plan, rows, b)
        xs = torch.cat(_all_gather(x.contiguous(), world, self.group))
        idx = torch.as_tensor(sources, device=x.device)
        x_out = self.transform.apply(local, torch.cat([x, xs.index_select(0, idx)]))[0][:b]
        if y is None:
            return x_out, None
        y_t = torch.as_tensor(y, device=x.device)
        ys = torch.cat(_all_gather(y_t.contiguous(), world, self.group))
        mixed = self.transform.mix_labels(local, torch.cat([y_t, ys.index_select(0, idx)]))
        if isinstance(mixed, MixedTargets):
            mixed = dataclasses.replace(mixed, y_a=mixed.y_a[:b], y_b=mixed.y_b[:b], lam=mixed.lam[:b])
        else:
            mixed = mixed[:b]
        return x_out, mixed

    def __repr__(self) -> str:
        return f"DistributedMix({self.transform!r}, seed={self.seed}, scope={self.scope!r})"


def _all_gather(t: torch.Tensor, world: int, group: Any) -> list[torch.Tensor]:
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t, group=group)
    return parts


def _local_plan(plan: MixPlan, rows: np.ndarray, b: int) -> MixPlan:
    """The global plan's rows ``rows`` as a plan over ``[own rows; their partners]`` (2b rows):
    row ``i`` is mixed with row ``b + i``; the partner rows are left as they are."""
    g = plan.batch_size
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(plan):
        v = getattr(plan, f.name)
        if f.name == "partner":
            changes[f.name] = np.concatenate([np.arange(b, 2 * b), np.arange(b, 2 * b)])
        elif f.name == "lam":
            changes[f.name] = np.concatenate([v[rows], np.ones(b)])
        elif isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == g:
            # per-sample fields (boxes, masks): the partner rows get an empty box / a mask of ones
            own = v[rows]
            if f.name == "mask":
                rest = np.ones_like(own)
            else:
                rest = np.zeros_like(own)
            changes[f.name] = np.concatenate([own, rest])
    return dataclasses.replace(plan, **changes)

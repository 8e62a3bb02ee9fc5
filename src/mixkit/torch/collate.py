"""``MixCollate``: mix whole batches inside DataLoader workers, as the ``collate_fn``.

Samples are stacked and mixed in one pass: each output row is written once, straight from the
sample and its partner, so no float copy of a uint8 batch is made. Convention:
``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` (``lam`` is the weight of the sample's own data).

Random streams: every batch draws its plan from a ``numpy.random.Generator`` spawned from
``SeedSequence(seed)`` for its (rank, epoch, worker); within a worker the stream advances batch after
batch. Same seed, epoch and number of workers give the same batches on every run.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate, get_worker_info

from ..methods._base import Mixer, apply_plan
from ..plan import BoxPlan, MixPlan
from .distributed import current_rank

__all__ = ["MixCollate"]

_INPUT_KEYS = ("image", "pixel_values", "img", "x", "input")
_LABEL_KEYS = ("label", "labels", "target", "y")

# a stream key's first field: epochs set with set_epoch, or derived from the DataLoader (auto)
_SET, _AUTO = 1, 0


class MixCollate:
    """A DataLoader ``collate_fn`` that stacks samples and mixes the batch with ``transform``.

    Args:
        transform: a mixkit transform (``MixUp``, ``CutMix``, ``OneOf``, ...). Its ``axes`` count on the
            batch: ``(-2, -1)`` for CHW samples, ``(1, 2)`` for HWC samples.
        seed: a non-negative int; all streams (workers, epochs, ranks) are spawned from it.
        rank: this process's rank under DDP; by default read from ``torch.distributed`` when a
            process group is initialised, else 0.
        input_key, label_key: for dict samples (Hugging Face datasets, ...), the entries holding the
            input and the label; by default the first of ``image``, ``pixel_values``, ``img``, ``x``,
            ``input`` and of ``label``, ``labels``, ``target``, ``y`` found (no label entry: inputs only).

    Samples are ``(input, label)`` pairs or bare inputs; inputs are tensors, NumPy arrays or PIL
    images of one shape and dtype (uint8 CHW or HWC images, or floats), labels are class indices
    (ints) or probability rows; or dicts, whose other entries are collated as ``default_collate``
    does (a dict comes back). Returns ``(x, y_mixed)`` (``x`` a tensor ``(B, *sample_shape)`` of
    the samples' dtype; ``y_mixed`` as ``transform.mix_labels`` gives it), or ``x`` alone for bare inputs.

    Epochs: call ``set_epoch(n)`` at the start of each epoch (as with ``DistributedSampler``); each
    epoch then gets fresh streams that depend only on ``(seed, n, rank, worker)``. Without
    ``set_epoch``, a process that lives across epochs (``num_workers=0`` or ``persistent_workers``)
    continues its stream, and fresh workers key their stream on the DataLoader's per-epoch base seed,
    so plans never repeat from epoch to epoch; that mode is reproducible when the DataLoader is
    (``generator=torch.Generator().manual_seed(s)`` or ``torch.manual_seed``). With
    ``persistent_workers=True`` the workers do not see ``set_epoch``; their streams simply continue.
    """

    def __init__(self, transform: Mixer, *, seed: int = 0, rank: int | None = None,
                 input_key: str | None = None, label_key: str | None = None) -> None:
        if not isinstance(transform, Mixer):
            raise TypeError(
                f"MixCollate needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
            )
        self.transform = transform
        self.seed = _check_index("seed", seed)
        self.rank = None if rank is None else _check_index("rank", rank)
        self.input_key = input_key
        self.label_key = label_key
        self.epoch: int | None = None
        self._streams: dict[tuple[int, ...], np.random.Generator] = {}

    # -- streams ----------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: the following batches draw from that epoch's fresh streams."""
        self.epoch = _check_index("epoch", epoch)
        self._streams.clear()

    def _rank(self) -> int:
        return current_rank() if self.rank is None else self.rank

    def _generator(self) -> np.random.Generator:
        info = get_worker_info()
        worker = 0 if info is None else int(info.id) + 1  # 0: the main process
        if self.epoch is not None:
            key: tuple[int, ...] = (_SET, self._rank(), self.epoch, worker)
        else:
            base = 0 if info is None else int(info.seed) - int(info.id)  # the loader's per-epoch seed
            key = (_AUTO, self._rank(), base % (1 << 64), worker)
        gen = self._streams.get(key)
        if gen is None:
            gen = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
            self._streams[key] = gen
        return gen

    def __getstate__(self) -> dict[str, Any]:
        # workers started with spawn/forkserver get the rank resolved here, and fresh streams
        state = dict(self.__dict__)
        state["rank"] = self._rank()
        state["_streams"] = {}
        return state

    # -- collation --------------------------------------------------------------------------------
    def __call__(self, batch: Any) -> Any:
        if not isinstance(batch, (list, tuple)):
            raise TypeError(f"a collate_fn gets a list of samples, got {type(batch).__name__}")
        if len(batch) == 0:
            raise ValueError("cannot collate an empty list of samples")
        if isinstance(batch[0], Mapping):
            return self._collate_dicts(batch)
        pairs = isinstance(batch[0], (tuple, list))
        if pairs:
            for i, s in enumerate(batch):
                if not isinstance(s, (tuple, list)) or len(s) != 2:
                    raise ValueError(
                        "samples must all be (input, label) pairs or all bare inputs; "
                        f"sample {i} is {type(s).__name__}"
                        + (f" of length {len(s)}" if isinstance(s, (tuple, list)) else "")
                    )
            inputs = [s[0] for s in batch]
        else:
            inputs = list(batch)
        y = _stack_labels([s[1] for s in batch]) if pairs else None
        x, y_mixed = self._mix(inputs, y)
        return (x, y_mixed) if pairs else x

    def _collate_dicts(self, batch: list[Any]) -> dict[str, Any]:
        """Dict samples (e.g. Hugging Face datasets): the input and label entries are mixed, the
        other entries collated as ``default_collate`` does."""
        keys = list(batch[0])
        for i, s in enumerate(batch):
            if not isinstance(s, Mapping) or list(s) != keys:
                raise ValueError(f"dict samples must all have the keys {keys}; sample {i} has "
                                 f"{list(s) if isinstance(s, Mapping) else type(s).__name__}")
        xkey = self.input_key or next((k for k in _INPUT_KEYS if k in keys), None)
        ykey = self.label_key or next((k for k in _LABEL_KEYS if k in keys), None)
        if xkey not in keys:
            raise ValueError(f"dict samples have no input entry among {keys}; name it with input_key=")
        if ykey is not None and ykey not in keys:
            raise ValueError(f"dict samples have no entry {ykey!r} (label_key); their keys are {keys}")
        y = None if ykey is None else _stack_labels([s[ykey] for s in batch])
        x, y_mixed = self._mix([s[xkey] for s in batch], y)
        rest = [k for k in keys if k not in (xkey, ykey)]
        out = default_collate([{k: s[k] for k in rest} for s in batch]) if rest else {}
        out[xkey] = x
        if ykey is not None:
            out[ykey] = y_mixed
        return {k: out[k] for k in keys}

    def _mix(self, inputs: list[Any], y: Any) -> tuple[Any, Any]:
        arrays = _as_arrays(inputs)
        b = len(arrays)
        shape = (b,) + tuple(arrays[0].shape)
        needs = _sample_needs(self.transform)
        extra: dict[str, Any] = {}
        if "y" in needs and y is not None:  # label-aware pairing (Remix, balanced pairs, ...)
            extra["y"] = y
        stacked = None
        if "x" in needs:  # plans drawn from the batch itself (SaliencyMix)
            stacked = _stack(arrays, shape)
            extra["x"] = stacked
        plan = self.transform.sample(b, rng=self._generator(), shape=shape, **extra)
        x = _mix_into(plan, arrays, shape) if stacked is None else apply_plan(plan, stacked, inplace=True)
        return x, (None if y is None else self.transform.mix_labels(plan, y))

    def __repr__(self) -> str:
        return f"MixCollate({self.transform!r}, seed={self.seed}, epoch={self.epoch}, rank={self.rank})"


def _check_index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return int(value)


def _as_arrays(inputs: list[Any]) -> list[Any]:
    """NumPy views of the inputs (tensors without a NumPy dtype stay tensors); one shape and dtype."""
    arrays = []
    for i, v in enumerate(inputs):
        if isinstance(v, torch.Tensor):
            if v.device.type != "cpu":
                raise ValueError(
                    f"sample {i} is on {v.device}; collate on the CPU and move the batch afterwards "
                    "(or mix on the device with the transform itself)"
                )
            v = v.detach()
            if v.dtype not in (torch.bfloat16,) and v.dtype != torch.bool:
                v = v.numpy()
        elif hasattr(v, "__array_interface__") and not isinstance(v, np.ndarray):
            v = np.asarray(v)  # PIL images: HWC (or HW) uint8
        elif not isinstance(v, np.ndarray):
            raise TypeError(
                f"sample {i} is a {type(v).__name__}; expected a tensor, a NumPy array or a PIL image"
            )
        arrays.append(v)
    first = arrays[0]
    for i, v in enumerate(arrays):
        if tuple(v.shape) != tuple(first.shape):
            raise ValueError(
                f"cannot collate inputs of mixed sizes: sample 0 has shape {tuple(first.shape)} and "
                f"sample {i} has {tuple(v.shape)}; resize or crop every sample to one size first"
            )
        if type(v) is not type(first) or v.dtype != first.dtype:
            raise ValueError(
                f"cannot collate inputs of mixed dtypes: sample 0 is {first.dtype} and sample {i} is "
                f"{v.dtype}; convert every sample to one dtype first"
            )
    if isinstance(first, np.ndarray) and first.dtype.kind not in "fui":
        raise TypeError(f"inputs have dtype {first.dtype}; expected float or integer images")
    return arrays


def _new_batch(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; in a worker it lives in shared memory, as default_collate's does,
    so sending it to the main process costs no copy."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape, dtype=np.int64))
    itemsize = torch.empty((), dtype=dtype).element_size()
    storage = torch.UntypedStorage._new_shared(numel * itemsize)
    strides = tuple(int(s) for s in np.cumprod((1,) + shape[:0:-1])[::-1]) if shape else ()
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape, strides)


def _sample_needs(transform: Mixer) -> frozenset[str]:
    """Which of ``x`` and ``y`` the transform's ``sample`` takes."""
    params = inspect.signature(transform.sample).parameters
    return frozenset(k for k in ("x", "y") if k in params)


def _stack(arrays: list[Any], shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(arrays[0], np.ndarray):
        return torch.stack(arrays)
    out_t = _new_batch(shape, torch.from_numpy(np.empty(0, dtype=arrays[0].dtype)).dtype)
    out = out_t.numpy()
    for i, a in enumerate(arrays):
        out[i] = a
    return out_t


def _mix_into(plan: MixPlan, arrays: list[Any], shape: tuple[int, ...]) -> torch.Tensor:
    """Write the mixed batch straight from the samples: one write per output element."""
    if not isinstance(arrays[0], np.ndarray) or type(plan) not in (MixPlan, BoxPlan):
        # masks, other plans, tensors NumPy cannot view (bfloat16): stack, then mix in place
        return apply_plan(plan, _stack(arrays, shape), inplace=True)
    dtype = torch.from_numpy(np.empty(0, dtype=arrays[0].dtype)).dtype
    out_t = _new_batch(shape, dtype)
    out = out_t.numpy()
    partner = plan.partner
    rows = range(len(arrays))
    if type(plan) is MixPlan:
        blend_row = _RowBlender(out.dtype)
        for i in rows:
            j = int(partner[i])
            if j == i or plan.lam[i] == 1.0:
                out[i] = arrays[i]
            else:
                blend_row(out[i], arrays[i], arrays[j], float(plan.lam[i]))
        return out_t
    for i in rows:  # a BoxPlan: copy the row, then paste the partner's box
        out[i] = arrays[i]
        j = int(partner[i])
        if j != i and np.all(plan.stop[i] > plan.start[i]):
            region = [slice(None)] * (len(shape) - 1)
            for a, s, e in zip(plan.axes, plan.start[i], plan.stop[i]):
                region[a - 1] = slice(int(s), int(e))
            out[i][tuple(region)] = arrays[j][tuple(region)]
    return out_t


# Rows are blended in chunks of this many elements through two reused float buffers, which stay in
# cache; whole-row float temporaries would be fresh allocations (and page faults) for every row.
_CHUNK = 1 << 16


class _RowBlender:
    """``out = lam * a + (1 - lam) * b`` for single samples: float math in the wider of the dtype and
    float32, integers rounded half to even (and clipped, beyond 8 bits)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.cdt = np.promote_types(self.dtype, np.float32) if self.dtype.kind == "f" else np.dtype(np.float32)
        self.buf_a = np.empty(_CHUNK, self.cdt)
        self.buf_b = np.empty(_CHUNK, self.cdt)
        self.clip = np.iinfo(self.dtype) if self.dtype.kind in "ui" and self.dtype.itemsize > 1 else None

    def __call__(self, out: np.ndarray, a: np.ndarray, b: np.ndarray, lam: float) -> None:
        w, v = self.cdt.type(lam), self.cdt.type(1.0 - lam)
        flat_out = out.reshape(-1)  # a row of a fresh contiguous batch
        flat_a = np.ascontiguousarray(a).reshape(-1)
        flat_b = np.ascontiguousarray(b).reshape(-1)
        n = flat_out.shape[0]
        for s in range(0, n, _CHUNK):
            e = min(s + _CHUNK, n)
            x, y = self.buf_a[: e - s], self.buf_b[: e - s]
            np.copyto(x, flat_a[s:e], casting="unsafe")
            x *= w
            np.copyto(y, flat_b[s:e], casting="unsafe")
            y *= v
            x += y
            if self.dtype.kind != "f":
                np.rint(x, out=x)  # a rounded convex combination of 8-bit values stays in range
                if self.clip is not None:
                    np.clip(x, self.clip.min, self.clip.max, out=x)
            np.copyto(flat_out[s:e], x, casting="unsafe")


def _stack_labels(labels: list[Any]) -> torch.Tensor:
    first = labels[0]
    if isinstance(first, torch.Tensor):
        return torch.stack([torch.as_tensor(v) for v in labels])
    if isinstance(first, (np.ndarray, list, tuple)):
        return torch.as_tensor(np.stack([np.asarray(v) for v in labels]))
    if isinstance(first, (bool, np.bool_)) or not isinstance(first, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"labels must be class indices (ints) or probability rows (arrays), got {type(first).__name__}"
        )
    return torch.as_tensor(np.asarray(labels))

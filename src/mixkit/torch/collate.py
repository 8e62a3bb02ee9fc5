"""``MixCollate``: mix whole batches inside DataLoader workers, as the ``collate_fn``.

Samples are stacked and mixed in one pass by compiled kernels (``mixkit.kernels._collate``, numba):
each output row is written once, straight from the sample and its partner, so mixing writes the same
bytes as stacking and no float copy of a uint8 batch is made; the mixed one-hot targets are written
the same way. Convention:
``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` (``lam`` is the weight of the sample's own data).

Random streams: every batch draws its plan from a ``numpy.random.Generator`` spawned from
``SeedSequence(seed)`` for its (rank, epoch, worker); within a worker the stream advances batch after
batch. Same seed, epoch and number of workers give the same batches on every run.

Epochs reach the workers through shared memory made when the collate is built (before any worker
starts), so ``set_epoch`` works with fresh and with persistent workers, started by fork or spawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Subset, default_collate, get_worker_info

from .._channels import check_layout, check_no_channel_cut, is_pil, seen_as_chw
from ..labels import check_labels
from ..methods._base import Mixer
from ..pairing_labels import ClassCounts, class_indices
from ..plan import BoxPlan, MixPlan, MultiMixPlan
from ..schedules import Scheduled
from ._compose import SharedFloat, members, who_needs
from .distributed import current_rank

__all__ = ["MixCollate"]

_INPUT_KEYS = ("image", "pixel_values", "img", "x", "input")
_LABEL_KEYS = ("label", "labels", "target", "y")
# entries of a dict sample mixed with the same plan as the input (and given to sample(): ClassMix
# reads the mask); the first ones are stacked, the others passed on as lists of per-sample values
_STACKED_COMPANIONS = ("mask", "padding_mask", "lengths", "token_labels")
_LISTED_COMPANIONS = ("boxes", "box_labels", "box_valid", "keypoints")
_COMPANIONS = _STACKED_COMPANIONS + _LISTED_COMPANIONS

_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)

# a stream key's first field: epochs set with set_epoch, or derived from the DataLoader (auto)
_SET, _AUTO = 1, 0


class MixCollate:
    """A DataLoader ``collate_fn`` that stacks samples and mixes the batch with ``transform``.

    Args:
        transform: a mixkit transform (``MixUp``, ``CutMix``, ``OneOf``, ``Scheduled``, ...). It sees
            image batches as ``(B, C, H, W)`` whatever the samples' layout, so its default axes
            ``(-2, -1)`` cut height and width of CHW and of HWC samples alike.
        seed: a non-negative int; all streams (workers, epochs, ranks) are spawned from it.
        rank: this process's rank under DDP; by default read from ``torch.distributed`` when a
            process group is initialised, else 0.
        input_key, label_key: for dict samples (Hugging Face datasets, ...), the entries holding the
            input and the label; by default the first of ``image``, ``pixel_values``, ``img``, ``x``,
            ``input`` and of ``label``, ``labels``, ``target``, ``y`` found (no label entry: inputs only).
        layout: ``"auto"``, ``"CHW"`` or ``"HWC"``: the layout of 3-D samples. ``"auto"``: PIL images
            are HWC; other samples are HWC when their last axis has 1, 3 or 4 entries and their first
            has not, else CHW.

    Samples are ``(input, label)`` pairs or bare inputs; inputs are tensors, NumPy arrays or PIL
    images of one shape and dtype (uint8 CHW or HWC images, or floats), labels are class indices
    (ints) or probability rows; or dicts, whose other entries are collated as ``default_collate``
    does (a dict comes back with the same keys). A dict entry named ``mask``, ``padding_mask``,
    ``lengths``, ``token_labels`` (stacked) or ``boxes``, ``box_labels``, ``box_valid``,
    ``keypoints`` (kept as lists) is a companion: it is given to the transform's ``sample`` (ClassMix
    needs the ``mask``) and mixed with the same plan. Returns ``(x, y_mixed)`` (``x`` a tensor
    ``(B, *sample_shape)`` of the samples' dtype and layout; ``y_mixed`` as ``transform.mix_labels``
    gives it), or ``x`` alone for bare inputs.

    Everything the collate has is passed to ``transform.sample``: the labels always, the stacked
    batch when the transform needs it (``transform.needs``, e.g. SaliencyMix), the companions.

    Epochs: call ``set_epoch(n)`` at the start of each epoch, before iterating the loader (as with
    ``DistributedSampler``); each epoch then gets fresh streams that depend only on
    ``(seed, n, rank, worker)``, with fresh or persistent workers alike. ``set_epoch`` also sets the
    epoch of a :class:`~mixkit.Scheduled` transform (so ``off_last`` epochs do not mix), and
    ``transform.set_epoch(n)`` called directly reaches the workers as well. Without ``set_epoch``,
    a process that lives across epochs (``num_workers=0`` or ``persistent_workers``) continues its
    stream, and fresh workers key their stream on the DataLoader's per-epoch base seed, so plans
    never repeat from epoch to epoch; that mode is reproducible when the DataLoader is
    (``generator=torch.Generator().manual_seed(s)`` or ``torch.manual_seed``).

    Remix class counts: a Remix that tracks its counts (``counts=None``) would, in DataLoader
    workers, count only the batches of its own worker (and the transform in the main process none).
    So in a worker the collate gives it the dataset's class counts instead, read once from
    ``dataset.targets`` or ``dataset.labels`` (through ``Subset`` and ``ConcatDataset``), or from the
    label column of a Hugging Face dataset: the counts that tracking converges to. A dataset without
    them is an error; give ``Remix(counts=...)`` then. With ``num_workers=0`` tracking is unchanged.

    Speed: MixUp (two-way and n-way, ``k >= 3``) and CutMix plans on CPU tensors or NumPy arrays of
    one shape, each contiguous, are written straight from the samples by compiled kernels (blends of
    8- to 32-bit integers, float32 and float64; pastes of any dtype), into shared memory in a worker
    as ``default_collate`` does. Other plans (masks, ...), other dtypes and other layouts are stacked,
    then mixed in place (an n-way blend into a new batch).

    Warm-up: the kernels are compiled on first use and cached on disk by numba, so the first batch
    of a process pays for it: about 2 s the very first time, then about 1 s per process (importing
    numba and loading the cache), on a 2-core machine. Call :meth:`warm_up` once in the main process
    before iterating the DataLoader: workers started by ``fork`` (the Linux default) inherit the
    compiled kernels and pay nothing. With ``spawn``/``forkserver`` each worker still loads them; pass
    ``worker_init_fn=lambda _: collate.warm_up()`` to do it before its first batch.
    """

    def __init__(self, transform: Mixer, *, seed: int = 0, rank: int | None = None,
                 input_key: str | None = None, label_key: str | None = None, layout: str = "auto") -> None:
        if not isinstance(transform, Mixer):
            raise TypeError(
                f"MixCollate needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
            )
        self.transform = transform
        self.seed = _check_index("seed", seed)
        self.rank = None if rank is None else _check_index("rank", rank)
        self.input_key = input_key
        self.label_key = label_key
        self.layout = check_layout(layout)
        self.epoch: int | None = None
        self._streams: dict[tuple[int, ...], np.random.Generator] = {}
        # the epoch given to set_epoch, seen by the workers (nan: never set)
        self._shared_epoch = SharedFloat()
        # Scheduled transforms in the tree: each writes its epoch into a shared cell (epoch_cell),
        # which the workers' copies follow
        self._scheduled = [m for m in members(transform) if isinstance(m, Scheduled)]
        for s in self._scheduled:
            if getattr(s, "epoch_cell", None) is None:
                s.epoch_cell = SharedFloat(s.epoch)
        self._counts_fitted = False

    def warm_up(self, dtype: torch.dtype = torch.uint8) -> None:
        """Compile the collation kernels for samples of ``dtype`` now (or load them from numba's disk
        cache), so that the first batch does not; see the class docs for where to call it."""
        from ..kernels import _collate

        _collate.warm_up((_FUSED_DTYPES.get(dtype, ""),))

    # -- streams and epochs -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: the following batches draw from that epoch's fresh streams, and a
        ``Scheduled`` transform is set to that epoch. Call it before iterating the DataLoader."""
        self.epoch = _check_index("epoch", epoch)
        self._streams.clear()
        self._shared_epoch.value = self.epoch
        for s in self._scheduled:
            s.set_epoch(self.epoch)
            s.epoch_cell.value = s.epoch

    def _follow_epochs(self) -> None:
        """In a worker's copy: take up the epochs the main process set since the copy was made."""
        e = self._shared_epoch.value
        if not math.isnan(e) and int(e) != self.epoch:
            self.epoch = int(e)
            self._streams.clear()
        for s in self._scheduled:
            v = s.epoch_cell.value
            if not math.isnan(v) and v != s.epoch:
                s.set_epoch(v)

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

    # -- Remix counts in workers ------------------------------------------------------------------
    def _fit_counts(self) -> None:
        """In a DataLoader worker: give tracking class counts the dataset's counts (see the class docs)."""
        info = get_worker_info()
        if info is None or self._counts_fitted:
            return
        self._counts_fitted = True
        found = [m for m in members(self.transform) if isinstance(m, ClassCounts)]
        tracked = [c for c in found if c.tracked and not np.any(c.counts)]
        if not tracked:
            return
        labels = _dataset_labels(info.dataset, self.label_key)
        if labels is None:
            raise ValueError(
                f"{who_needs(self.transform, 'y')} tracks its class counts over the batches it draws, but each "
                "DataLoader worker draws only some of the batches (and the main process none), so its counts "
                f"would be partial. The collate reads the training counts from dataset.targets or "
                f"dataset.labels, which this {type(info.dataset).__name__} has not: give them to the "
                "transform, e.g. Remix(counts=np.bincount(train_labels))"
            )
        classes = np.asarray(class_indices(labels), dtype=np.int64)
        fixed = {id(c): ClassCounts(np.bincount(classes, minlength=c.counts.size).astype(np.float64))
                 for c in tracked}
        for m in members(self.transform):
            if isinstance(m, Mixer):
                for name, value in list(vars(m).items()):
                    if id(value) in fixed:
                        setattr(m, name, fixed[id(value)])

    # -- collation --------------------------------------------------------------------------------
    def __call__(self, batch: Any) -> Any:
        if not isinstance(batch, (list, tuple)):
            raise TypeError(f"a collate_fn gets a list of samples, got {type(batch).__name__}")
        if len(batch) == 0:
            raise ValueError("cannot collate an empty list of samples")
        self._follow_epochs()
        self._fit_counts()
        if isinstance(batch[0], Mapping):
            return self._collate_dicts(batch)
        pairs = isinstance(batch[0], (tuple, list))
        if pairs:
            if not (set(map(type, batch)) <= {tuple, list} and set(map(len, batch)) == {2}):
                for i, s in enumerate(batch):
                    if not isinstance(s, (tuple, list)) or len(s) != 2:
                        raise ValueError(
                            "samples must all be (input, label) pairs or all bare inputs; "
                            f"sample {i} is {type(s).__name__}"
                            + (f" of length {len(s)}" if isinstance(s, (tuple, list)) else "")
                        )
            inputs, labels = map(list, zip(*batch))
        else:
            inputs = list(batch)
        y = _stack_labels(labels) if pairs else None
        x, y_mixed, _ = self._mix(inputs, y, {})
        return (x, y_mixed) if pairs else x

    def _collate_dicts(self, batch: list[Any]) -> dict[str, Any]:
        """Dict samples (e.g. Hugging Face datasets): the input, label and companion entries are
        mixed, the other entries collated as ``default_collate`` does."""
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
        comp_keys = [k for k in keys if k in _COMPANIONS and k not in (xkey, ykey)]
        companions: dict[str, Any] = {}
        for k in comp_keys:
            values = [s[k] for s in batch]
            companions[k] = default_collate(values) if k in _STACKED_COMPANIONS else values
        y = None if ykey is None else _stack_labels([s[ykey] for s in batch])
        x, y_mixed, mixed = self._mix([s[xkey] for s in batch], y, companions)
        rest = [k for k in keys if k not in (xkey, ykey, *comp_keys)]
        out = default_collate([{k: s[k] for k in rest} for s in batch]) if rest else {}
        out[xkey] = x
        if ykey is not None:
            out[ykey] = y_mixed
        out.update(mixed)
        return {k: out[k] for k in [*keys, *(k for k in out if k not in keys)]}

    def _check_needs(self, y: Any, companions: dict[str, Any]) -> None:
        """What the transform needs to sample and a collate cannot give it, said in the collate's terms."""
        for need in sorted(frozenset(self.transform.needs) - {"x"}):
            if need == "y" and y is None:
                raise ValueError(
                    f"{who_needs(self.transform, 'y')} needs the labels to sample: give MixCollate "
                    "(input, label) pairs, or dict samples with a label entry"
                )
            if need not in ("y", "x") and need not in companions:
                raise ValueError(
                    f"{who_needs(self.transform, need)} needs the {need!r} of each sample: give MixCollate "
                    f"dict samples with a {need!r} entry, e.g. {{'image': ..., 'label': ..., {need!r}: ...}}"
                )

    def _mix(self, inputs: list[Any], y: Any, companions: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        t = self.transform
        self._check_needs(y, companions)
        arrays, addr = _gather(inputs)
        shape = (len(arrays),) + tuple(int(s) for s in arrays[0].shape)
        perm = seen_as_chw(shape, self.layout, is_pil(inputs[0]))
        seen_shape = shape if perm is None else tuple(shape[a] for a in perm)
        stacked = _stack(arrays, shape) if ("x" in t.needs or companions) else None
        view = None if stacked is None else _seen(stacked, perm)
        plan = t.sample(shape[0], rng=self._generator(), shape=seen_shape, x=view, y=y, **companions)
        if perm is not None:
            check_no_channel_cut(t, plan, "MixCollate")
        if companions:
            res = t.apply(plan, view, y, out=view, **companions)
            return stacked, res.y, dict(res.companions)
        if stacked is None:
            x = _mix_into(plan, arrays, addr, shape, perm)
        else:
            x = _mix_stacked(plan, stacked, perm)
        return x, (None if y is None else self._mix_labels(plan, y)), {}

    def _mix_labels(self, plan: MixPlan, y: Any) -> Any:
        """The transform's ``mix_labels``; for the common case (class indices, dense targets, no
        smoothing, a plan of two sources or an n-way blend) the same values written in one pass by
        ``mixkit.kernels._collate`` (into shared memory in a worker)."""
        t = self.transform
        nway = type(plan) is MultiMixPlan
        if (type(t).mix_labels is Mixer.mix_labels and (plan.pairwise or nway) and t.label_format == "dense"
                and getattr(t, "targets", "classes") == "classes"
                and not t.label_smoothing and t.num_classes is not None
                and isinstance(y, torch.Tensor) and y.ndim == 1 and y.dtype in _INDEX_DTYPES):
            y = check_labels(y, plan.batch_size, t.num_classes)  # the transform's own errors
            from ..kernels import _collate

            out = _new_batch((plan.batch_size, t.num_classes), torch.float32)
            if nway:  # the same weights as the batch's n-way blend
                _collate.mix_one_hot_many(out.numpy(), y.numpy(), plan.sources, plan.weights)
                return out
            partner, lam = plan.label_pair()
            _collate.mix_one_hot(out.numpy(), y.numpy(), np.asarray(partner), np.asarray(lam))
            return out
        return t.mix_labels(plan, y)

    def __repr__(self) -> str:
        return f"MixCollate({self.transform!r}, seed={self.seed}, epoch={self.epoch}, rank={self.rank})"


def _check_index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__} ({value!r})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return int(value)


def _seen(stacked: torch.Tensor, perm: tuple[int, ...] | None) -> torch.Tensor:
    """The stacked batch as the transform sees it: itself, or a ``(B, C, H, W)`` view of HWC samples."""
    return stacked if perm is None else stacked.permute(perm)


def _dataset_labels(dataset: Any, label_key: str | None) -> Any:
    """The class labels of every sample of ``dataset``, read without loading its samples; None if
    the dataset does not expose them."""
    if isinstance(dataset, Subset):
        inner = _dataset_labels(dataset.dataset, label_key)
        return None if inner is None else np.asarray(inner)[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, ConcatDataset):
        parts = [_dataset_labels(d, label_key) for d in dataset.datasets]
        return None if any(p is None for p in parts) else np.concatenate([np.asarray(p) for p in parts])
    for name in ("targets", "labels"):
        value = getattr(dataset, name, None)
        if value is not None and not callable(value):
            return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    columns = getattr(dataset, "column_names", None)  # Hugging Face datasets
    if isinstance(columns, (list, tuple)):
        key = label_key or next((k for k in _LABEL_KEYS if k in columns), None)
        if key in columns:
            return np.asarray(dataset[key])
    return None


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


def _torch_dtype(a: Any) -> torch.dtype:
    return a.dtype if isinstance(a, torch.Tensor) else torch.from_numpy(np.empty(0, dtype=a.dtype)).dtype


def _stack(arrays: list[Any], shape: tuple[int, ...]) -> torch.Tensor:
    out_t = _new_batch(shape, _torch_dtype(arrays[0]))
    if isinstance(arrays[0], torch.Tensor):
        with torch.no_grad():  # samples that require grad: stack their data, as default_collate does
            return torch.stack(arrays, out=out_t)
    np.stack(arrays, out=out_t.numpy())
    return out_t


# Tensor dtypes the fused collation reads (as NumPy dtype names; the others are stacked, then mixed),
# and the integer dtype of each item size that a paste copies bytes as.
_FUSED_DTYPES = {
    torch.uint8: "uint8", torch.int8: "int8", torch.int16: "int16", torch.int32: "int32",
    torch.int64: "int64", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.float32: "float32", torch.float64: "float64",
}
_FUSED_DTYPES.update({d: str(d).removeprefix("torch.") for d in
                      (getattr(torch, n, None) for n in ("uint16", "uint32", "uint64")) if d is not None})
_BYTES_AS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_shape_of, _dtype_of, _on_cpu = attrgetter("shape"), attrgetter("dtype"), attrgetter("is_cpu")


def _tensor_addresses(inputs: list[Any]) -> np.ndarray | None:
    """The data addresses of plain CPU tensors of one shape and dtype, each contiguous (the usual
    batch), as int64 ``(B,)``; None for anything else. One C-level pass per check, no Python per sample."""
    first = inputs[0]
    if type(first) is not torch.Tensor or first.dtype not in _FUSED_DTYPES:
        return None
    tensor = torch.Tensor
    if (set(map(type, inputs)) != {tensor} or set(map(_dtype_of, inputs)) != {first.dtype}
            or not all(map(_on_cpu, inputs)) or set(map(_shape_of, inputs)) != {first.shape}
            or not all(map(tensor.is_contiguous, inputs))):
        return None
    return np.fromiter(map(tensor.data_ptr, inputs), np.int64, len(inputs))


def _gather(inputs: list[Any]) -> tuple[list[Any], np.ndarray | None]:
    """The samples (tensors, or NumPy arrays checked by ``_as_arrays``) and, where the fused kernels
    can read them, their data addresses."""
    addr = _tensor_addresses(inputs)
    if addr is not None:
        return inputs, addr
    arrays = _as_arrays(inputs)
    first = arrays[0]
    if isinstance(first, np.ndarray) and first.dtype.isnative and first.dtype.name in _FUSED_DTYPES.values():
        from ..kernels import _collate

        addr = _collate.addresses(arrays)
    return arrays, addr


def _blend_fused(plan: MixPlan, out_t: torch.Tensor, addr: np.ndarray, shape: tuple[int, ...],
                 perm: tuple[int, ...] | None) -> bool:
    from ..kernels import _collate

    if _FUSED_DTYPES[out_t.dtype] not in _collate.BLEND_DTYPES:
        return False
    return bool(_collate.blend(out_t.view(shape[0], -1).numpy(), addr, plan.partner, plan.lam))


def _paste_fused(plan: BoxPlan, out_t: torch.Tensor, addr: np.ndarray, shape: tuple[int, ...],
                 perm: tuple[int, ...] | None) -> bool:
    from ..kernels import _collate

    axes = tuple(int(a) % len(shape) for a in plan.axes)
    if perm is not None:  # the plan's axes count on the (B, C, H, W) view
        axes = tuple(perm[a] for a in axes)
    rows = out_t.view(shape[0], -1).view(_BYTES_AS[out_t.element_size()])
    return bool(_collate.paste(rows.numpy(), addr, plan.partner, plan.start, plan.stop, axes, shape))


def _blend_many_fused(plan: MultiMixPlan, out_t: torch.Tensor, addr: np.ndarray, shape: tuple[int, ...],
                      perm: tuple[int, ...] | None) -> bool:
    from ..kernels import _collate

    if _FUSED_DTYPES[out_t.dtype] not in _collate.BLEND_DTYPES:
        return False
    return bool(_collate.blend_many(out_t.view(shape[0], -1).numpy(), addr, plan.sources, plan.weights))


# The plans the fused collation kernels write straight from the samples, by exact type (a subclass
# may mix differently, so it takes the general path: stack, then ``plan.apply``).
_FUSED = {MixPlan: _blend_fused, BoxPlan: _paste_fused, MultiMixPlan: _blend_many_fused}


def _mix_stacked(plan: MixPlan, stacked: torch.Tensor, perm: tuple[int, ...] | None) -> torch.Tensor:
    """Mix the stacked batch: in place, or for an n-way blend into a new batch (in place it would make
    one anyway, then copy it back). A blend mixes whole samples, so the stacked layout is kept."""
    if type(plan) is MultiMixPlan:
        from ..kernels import blend_many

        return blend_many(stacked, plan.sources, plan.weights, out=_new_batch(tuple(stacked.shape), stacked.dtype))
    view = _seen(stacked, perm)
    plan.apply(view, out=view)
    return stacked


def _mix_into(plan: MixPlan, arrays: list[Any], addr: np.ndarray | None, shape: tuple[int, ...],
              perm: tuple[int, ...] | None) -> torch.Tensor:
    """Write the mixed batch straight from the samples: each output element written once, from the
    sample or its partner (``mixkit.kernels._collate``). Other plans (masks, custom ones), samples
    the kernels cannot read and dtypes they do not blend: stack, then mix in place."""
    fused = None if addr is None else _FUSED.get(type(plan))
    if fused is not None:
        out_t = _new_batch(shape, _torch_dtype(arrays[0]))
        if fused(plan, out_t, addr, shape, perm):
            return out_t
    return _mix_stacked(plan, _stack(arrays, shape), perm)


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

"""Hugging Face ``datasets``: materialise a mixed copy of a dataset with a batched ``map``.

Each ``map`` batch is mixed within itself: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``
(``lam`` is the weight of the sample's own data), and its mixed labels are written as a new column of
``(num_classes,)`` float rows. The plan of a batch is drawn from ``SeedSequence(seed)`` keyed by the
batch's first row index, so the result depends on ``seed`` and the batches only: with ``num_proc``
workers it is the same as without when each worker's shard is a whole number of batches
(``len(dataset)`` divisible by ``num_proc * batch_size``); otherwise ``datasets`` forms other batches.

Everything the batch has is given to the transform: the inputs, the labels, and the companion
columns (``mask``, ...: ClassMix needs the mask), which are mixed with the same plan. Image batches
are shown to the transform as ``(B, C, H, W)`` (a view of HWC images such as PIL ones), so the
default axes ``(-2, -1)`` cut height and width; the column keeps its layout.

``mix_map_fn`` returns the function to pass to ``Dataset.map(..., batched=True, with_indices=True)``;
``mix_dataset`` does that call with the right arguments and features. ``import mixkit.hf`` imports
``datasets`` only when ``mix_dataset`` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._channels import check_layout, check_no_channel_cut, seen_as_chw
from .methods._base import Mixer

__all__ = ["mix_dataset", "mix_map_fn"]

_HF = 4  # stream domain (MixCollate uses 0-1, DistributedMix 2-3)


def _rows(values: Any, column: str) -> tuple[np.ndarray, bool]:
    """Stack a batch column (PIL images, arrays or nested lists) into ``(B, ...)``; True if PIL."""
    if isinstance(values, np.ndarray):
        return values, False
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"column {column!r} must hold a list of samples, got {type(values).__name__}")
    if not values:
        return np.zeros((0,)), False
    is_pil = hasattr(values[0], "__array_interface__") and hasattr(values[0], "mode")
    arrays = [np.asarray(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"column {column!r} holds samples of mixed shapes {sorted(shapes)}; resize them to one "
            "shape before mixing (e.g. with a map that resizes)"
        )
    return np.stack(arrays), is_pil


_COMPANIONS = ("mask", "padding_mask", "lengths", "token_labels")


def _as_column(values: np.ndarray, pil: bool) -> Any:
    """Mixed rows as a column: PIL images again where the column held them (integer values), else the array."""
    if pil and values.dtype.kind in "iub":
        from PIL import Image

        return [Image.fromarray(row.astype(np.uint8)) for row in values]
    return values


def mix_map_fn(
    transform: Mixer,
    *,
    seed: int = 0,
    input_column: str = "image",
    label_column: str = "label",
    target_column: str = "mixed_label",
    companion_columns: tuple[str, ...] | None = None,
    layout: str = "auto",
) -> Callable[[dict[str, Any], list[int]], dict[str, Any]]:
    """A function for ``dataset.map(fn, batched=True, with_indices=True)`` that mixes each batch.

    ``input_column`` is replaced by the mixed inputs (PIL images stay PIL images, arrays come back
    as arrays); ``target_column`` gets the mixed labels ``(num_classes,)`` per row (the labels in
    ``label_column``: class indices, with ``transform.num_classes`` set, or probability rows).
    ``companion_columns``: columns mixed with the same plan and given to the transform's ``sample``
    (default: those of ``mask``, ``padding_mask``, ``lengths``, ``token_labels`` the batch has; ``()``
    for none); each is replaced by its mixed values. Other columns are kept. ``layout``: ``"auto"``,
    ``"CHW"`` or ``"HWC"`` for 3-D samples, as in :class:`mixkit.torch.MixCollate` (PIL images are HWC).
    """
    if not isinstance(transform, Mixer):
        raise TypeError(
            f"mix_map_fn needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if transform.label_format != "dense":
        raise ValueError("a dataset column needs dense labels: use label_format='dense' in the transform")
    layout = check_layout(layout)

    def mix(batch: dict[str, Any], indices: list[int]) -> dict[str, Any]:
        for name in (input_column, label_column):
            if name not in batch:
                raise ValueError(f"the batch has no column {name!r}; its columns are {sorted(batch)}")
        if not isinstance(indices, (list, tuple, np.ndarray)) or len(indices) == 0:
            raise TypeError("call dataset.map with batched=True and with_indices=True")
        x, is_pil = _rows(batch[input_column], input_column)
        y = np.asarray(batch[label_column])
        names = _COMPANIONS if companion_columns is None else tuple(companion_columns)
        if companion_columns is not None:
            for name in names:
                if name not in batch:
                    raise ValueError(f"the batch has no companion column {name!r}; its columns are {sorted(batch)}")
        rows = {name: _rows(batch[name], name) for name in names if name in batch and name not in
                (input_column, label_column)}
        companions = {name: v for name, (v, _) in rows.items()}
        missing = sorted(frozenset(transform.needs) - {"x", "y"} - set(companions))
        if missing:
            raise ValueError(f"{type(transform).__name__} needs the {missing[0]!r} of each row: give the "
                             f"dataset a {missing[0]!r} column (or name it in companion_columns=)")
        key = (_HF, int(indices[0]))
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
        perm = seen_as_chw(tuple(x.shape), layout, is_pil)
        seen = x if perm is None else np.transpose(x, perm)
        plan = transform.sample(int(x.shape[0]), rng=rng, shape=tuple(int(s) for s in seen.shape), x=seen, y=y,
                                **companions)
        if perm is not None:
            check_no_channel_cut(transform, plan, "the map")
        res = transform.apply(plan, seen, y, **companions)
        x_mixed = res.x if perm is None else np.transpose(res.x, (0, 2, 3, 1))
        out = dict(batch)
        out[input_column] = _as_column(np.asarray(x_mixed), is_pil)
        out[target_column] = np.asarray(res.y, dtype=np.float32)
        for name, (_, pil) in rows.items():
            out[name] = _as_column(np.asarray(res.companions[name]), pil)
        return out

    return mix


def mix_dataset(
    dataset: Any,
    transform: Mixer,
    *,
    seed: int = 0,
    batch_size: int = 64,
    num_proc: int | None = None,
    input_column: str = "image",
    label_column: str = "label",
    target_column: str = "mixed_label",
    companion_columns: tuple[str, ...] | None = None,
    layout: str = "auto",
    **map_kwargs: Any,
) -> Any:
    """A mixed copy of ``dataset`` (a ``datasets.Dataset``), mixing within batches of ``batch_size``.

    With a ``ClassLabel`` label column, ``num_classes`` is taken from it when the transform has
    none. The target column is typed ``Sequence(float32, num_classes)``. ``companion_columns`` and
    ``layout``: as in :func:`mix_map_fn`.
    """
    import copy

    try:
        import datasets
    except ImportError as err:
        raise ImportError("mix_dataset needs Hugging Face datasets: pip install 'mixkit[hf]'") from err

    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"mix_dataset takes a datasets.Dataset, got {type(dataset).__name__}")
    if label_column not in dataset.column_names:
        raise ValueError(f"the dataset has no column {label_column!r}; its columns are {dataset.column_names}")
    feature = dataset.features[label_column]
    if transform.num_classes is None and isinstance(feature, datasets.ClassLabel):
        transform = copy.copy(transform)
        transform.num_classes = feature.num_classes
    num_classes = transform.num_classes
    if num_classes is None:
        num_classes = len(dataset[0][label_column])  # probability rows
    features = dataset.features.copy()
    features[target_column] = datasets.Sequence(datasets.Value("float32"), length=num_classes)
    fn = mix_map_fn(transform, seed=seed, input_column=input_column, label_column=label_column,
                    target_column=target_column, companion_columns=companion_columns, layout=layout)
    return dataset.map(fn, batched=True, batch_size=batch_size, with_indices=True, num_proc=num_proc,
                       features=features, **map_kwargs)

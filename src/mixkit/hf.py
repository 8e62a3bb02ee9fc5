"""Hugging Face ``datasets``: materialise a mixed copy of a dataset with a batched ``map``.

Each ``map`` batch is mixed within itself: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]``
(``lam`` is the weight of the sample's own data), and its mixed labels are written as a new column of
``(num_classes,)`` float rows. The plan of a batch is drawn from ``SeedSequence(seed)`` keyed by the
batch's first row index, so the result depends on ``seed`` and the batches only: with ``num_proc``
workers it is the same as without when each worker's shard is a whole number of batches
(``len(dataset)`` divisible by ``num_proc * batch_size``); otherwise ``datasets`` forms other batches.

``mix_map_fn`` returns the function to pass to ``Dataset.map(..., batched=True, with_indices=True)``;
``mix_dataset`` does that call with the right arguments and features. ``import mixkit.hf`` imports
``datasets`` only when ``mix_dataset`` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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


def mix_map_fn(
    transform: Mixer,
    *,
    seed: int = 0,
    input_column: str = "image",
    label_column: str = "label",
    target_column: str = "mixed_label",
) -> Callable[[dict[str, Any], list[int]], dict[str, Any]]:
    """A function for ``dataset.map(fn, batched=True, with_indices=True)`` that mixes each batch.

    ``input_column`` is replaced by the mixed inputs (PIL images stay PIL images, arrays come back
    as arrays); ``target_column`` gets the mixed labels ``(num_classes,)`` per row (the labels in
    ``label_column``: class indices, with ``transform.num_classes`` set, or probability rows). Other
    columns are kept. CutMix on HWC images (PIL) needs ``axes=(1, 2)``.
    """
    if not isinstance(transform, Mixer):
        raise TypeError(
            f"mix_map_fn needs a mixkit transform (MixUp, CutMix, OneOf, ...), got {type(transform).__name__}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if transform.label_format != "dense":
        raise ValueError("a dataset column needs dense labels: use label_format='dense' in the transform")

    def mix(batch: dict[str, Any], indices: list[int]) -> dict[str, Any]:
        for name in (input_column, label_column):
            if name not in batch:
                raise ValueError(f"the batch has no column {name!r}; its columns are {sorted(batch)}")
        if not isinstance(indices, (list, tuple, np.ndarray)) or len(indices) == 0:
            raise TypeError("call dataset.map with batched=True and with_indices=True")
        x, is_pil = _rows(batch[input_column], input_column)
        y = np.asarray(batch[label_column])
        key = (_HF, int(indices[0]))
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
        x_mixed, y_mixed = transform(x, y, rng=rng)
        out = dict(batch)
        if is_pil:
            from PIL import Image

            out[input_column] = [Image.fromarray(row) for row in x_mixed]
        else:
            out[input_column] = x_mixed
        out[target_column] = np.asarray(y_mixed, dtype=np.float32)
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
    **map_kwargs: Any,
) -> Any:
    """A mixed copy of ``dataset`` (a ``datasets.Dataset``), mixing within batches of ``batch_size``.

    With a ``ClassLabel`` label column, ``num_classes`` is taken from it when the transform has
    none. The target column is typed ``Sequence(float32, num_classes)``.
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
                    target_column=target_column)
    return dataset.map(fn, batched=True, batch_size=batch_size, with_indices=True, num_proc=num_proc,
                       features=features, **map_kwargs)

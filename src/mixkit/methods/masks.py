"""Mask-based mixing: FMix, SmoothMix, GridMix and SaliencyMix.

Each method samples a per-sample mask (or a box) and applies it with the shared kernels. The
convention is the same as everywhere: ``out = mask * x + (1 - mask) * x[partner]`` over the mask's
axes, so 1 marks the sample's own data, and ``lam[i]`` is exactly ``mask[i].mean()`` (for a box, the
exact kept fraction). A 0/1 mask pastes; any other mask blends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validate import _finite_float, check_choice, check_range, normalize_axes
from .._xp import to_numpy
from ..pairing import sample_partner
from ..plan import BoxPlan, MaskPlan
from ..saliency import spectral_residual_saliency
from ..sampling import sample_applied, sample_lam
from ._base import Mixer, finish_box_plan

__all__ = ["FMix", "GridMix", "SaliencyMix", "SmoothMix", "check_positive", "mask_lam"]


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0 (for shape parameters that are not a Beta's ``alpha``)."""
    number = _finite_float(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be a number > 0, got {number}")
    return number


def mask_lam(mask: np.ndarray) -> np.ndarray:
    """``lam[i] = mask[i].mean()`` (float64) for a mask ``(B, *sizes)``, computed exactly as NumPy's mean
    of each row (one reduction over the rows of the contiguous ``(B, N)`` view: the same pairwise sum
    per row). A bool mask's mean is its count of True over ``N``: the same float64, without a float copy.
    A float32 mask's mean is that of its float64 values, widened a block of rows at a time (a row's
    pairwise sum does not depend on the rows beside it), so no float64 copy of the whole mask is made."""
    mask = np.asarray(mask)
    n = mask.shape[0]
    if mask.dtype == np.bool_:
        total = int(np.prod(mask.shape[1:], dtype=np.int64))
        if total == 0:
            return np.full(n, np.nan)
        return np.count_nonzero(mask.reshape(n, total), axis=1) / np.float64(total)
    if mask.dtype != np.float32:
        mask = np.ascontiguousarray(mask, dtype=np.float64)
        return mask.reshape(n, -1).mean(axis=1)
    flat = np.ascontiguousarray(mask).reshape(n, int(np.prod(mask.shape[1:], dtype=np.int64)))
    out = np.empty(n)
    step = max(1, (1 << 19) // max(1, flat.shape[1]))  # about 4 MiB of float64 per block
    for r in range(0, n, step):
        out[r:r + step] = flat[r:r + step].astype(np.float64).mean(axis=1)
    return out


class _MaskMixer(Mixer):
    """Shared options and sampling of the mask methods; subclasses provide :meth:`_masks`."""

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        axes: int | tuple[int, ...] = (-2, -1),
        lam_mode: str = "batch",
        pairing: str = "shuffle",
        num_classes: int | None = None,
        p: float = 1.0,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
        targets: str = "classes",
    ) -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing,
                         label_format=label_format, targets=targets)
        self._options(alpha=alpha, axes=axes, lam_mode=lam_mode, pairing=pairing)

    def _masks(self, sizes: tuple[int, ...], lam0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Masks ``(n, *sizes)`` (1 = own data), one per entry of ``lam0`` (target ``lam``): bool for a
        binary mask, else float (float32 best; cast to it and clipped to [0, 1] by the caller)."""
        raise NotImplementedError

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> MaskPlan:
        """Partners and masks for a batch of shape ``shape`` (the full ``x.shape``)."""
        if shape is None:
            raise self._missing("the batch's shape to build masks", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        sizes = tuple(shape[a] for a in axes)
        partner = sample_partner(batch_size, self.pairing, gen)
        lam0 = sample_lam(batch_size, self.alpha, self.lam_mode, gen)
        shared = self.lam_mode == "batch"
        n = 1 if shared else batch_size
        masks = None
        if batch_size and int(np.prod(sizes)) > 0:
            masks = self._masks(sizes, lam0[:n], gen)
            if masks.dtype != np.bool_:  # soft masks are held as float32 (see MaskPlan)
                masks = masks.astype(np.float32, copy=False)
                masks = np.clip(masks, 0.0, 1.0, out=masks if masks.flags.writeable else None)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        rows = np.arange(batch_size)
        keep = (~applied) | (partner == rows)
        partner = np.where(applied, partner, rows)
        if masks is None:
            mask, lam = np.ones((batch_size,) + sizes, np.bool_), np.ones(batch_size)
        elif shared:
            # one mask for the batch: written once per row, and its mean taken once (every row that
            # uses it has exactly that mean)
            one = np.ones((), masks.dtype)
            mask = np.where(keep.reshape((batch_size,) + (1,) * len(sizes)), one, masks[0])
            lam = np.where(keep, 1.0, mask_lam(masks[:1])[0])
        else:
            mask = np.ascontiguousarray(masks)
            mask[keep] = 1
            lam = mask_lam(mask)
        # the masks are fresh and bool or float32 in [0, 1]: the plan takes them without a copy or check
        return MaskPlan._trusted(partner=partner, lam=lam, axes=axes, mask=mask)

    def _repr_fields(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "axes": self.axes, "lam_mode": self.lam_mode, "pairing": self.pairing}


def _grid(sizes: tuple[int, ...]) -> list[np.ndarray]:
    return [np.arange(s, dtype=np.float64) for s in sizes]


def _stable_descending_order(flat: np.ndarray) -> np.ndarray:
    """``np.argsort(-flat, axis=1, kind="stable")``, computed faster: a quicksort of every row, then the
    stable sort again only for rows where equal values (or NaN) make the order ambiguous."""
    order = np.argsort(-flat, axis=1)
    ranked = np.take_along_axis(flat, order, axis=1)
    unsure = np.any(ranked[:, 1:] == ranked[:, :-1], axis=1) | np.isnan(ranked).any(axis=1)
    if unsure.any():
        order[unsure] = np.argsort(-flat[unsure], axis=1, kind="stable")
    return order


#: rows at least this long get a partition each instead of one sort of the batch (benchmarks/README.md)
PARTITION_ROW = 4096


def _kth_values(flat: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``np.sort(flat, axis=1)[i, k[i]]`` for every row ``i`` of a NaN-free ``(n, N)`` array
    (``0 <= k[i] < N``): the same values, found by selection (O(N) a row) rather than a sort.

    NumPy partitions every row at the same positions, so one call serves a batch only where the
    positions are equal (one mask for the batch); per-sample positions take one partition per row
    for long rows (each a vectorised O(N) select: at 224x224, 64 rows, about a quarter of the time
    of the batch's sort) and the batch's sort for short ones, where the per-call cost would dominate."""
    n, total = flat.shape
    if n == 0:
        return np.zeros(0, flat.dtype)
    if np.all(k == k[0]):
        return np.partition(flat, int(k[0]), axis=1)[:, int(k[0])]
    if total < PARTITION_ROW:
        return np.sort(flat, axis=1)[np.arange(n), k]
    out = np.empty(n, flat.dtype)
    for i in range(n):
        j = int(k[i])
        out[i] = np.partition(flat[i], j)[j]
    return out


def _top_mask(flat: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Boolean ``(n, N)``: the ``keep[i]`` largest values of each row, equal values taken in index order
    (the first ``keep[i]`` of ``np.argsort(-flat[i], kind="stable")``), found from a per-row threshold."""
    total = flat.shape[1]
    thr = _kth_values(flat, total - np.clip(keep, 1, total))  # the keep-th largest value
    mask = flat >= thr[:, None]
    # more values at or above the threshold than are kept: values equal to it on both sides of the cut,
    # the first ones by index kept (rare for continuous values, so only those rows are read again)
    ties = (np.count_nonzero(mask, axis=1) > keep) & (keep > 0)
    if ties.any():
        rows, t = flat[ties], thr[ties, None]
        above, eq = rows > t, rows == t
        need = keep[ties] - np.count_nonzero(above, axis=1)  # how many of the equal values are kept
        mask[ties] = above | (eq & (np.cumsum(eq, axis=1) <= need[:, None]))
    mask[keep <= 0] = False
    return mask


def _rank_mask(grey: np.ndarray, lam0: np.ndarray, max_soft: float, dtype: Any = np.float64) -> np.ndarray:
    """Keep the ``round(lam0 * N)`` largest values of each ``grey`` row (1), the rest from the partner (0).

    Equal values are ranked in index order. With ``max_soft > 0`` the ranks around the cut get a linear
    ramp from 1 to 0 (``np.linspace(1, 0, hi - lo + 2)[1:-1]`` over ranks ``[lo, hi)``), over at most
    ``max_soft * N`` ranks on each side, so the edge blends. All rows at once: no loop over samples.
    A soft mask comes back as ``dtype`` (the ramp's float64 values rounded once), a binary one as bool.
    """
    n, shape = grey.shape[0], grey.shape[1:]
    total = int(np.prod(shape))
    flat = grey.reshape(n, total)
    lam0 = np.asarray(lam0, dtype=np.float64)
    keep = np.rint(lam0 * total).astype(np.int64)
    soft = np.floor(total * np.minimum(np.minimum(max_soft, lam0), 1.0 - lam0)).astype(np.int64)
    if not np.any(soft > 0) and not np.isnan(flat).any():
        return _top_mask(flat, keep).reshape((n,) + shape)
    lo, hi = (keep - soft)[:, None], (keep + soft)[:, None]
    rank = np.arange(total, dtype=np.int64)[None, :]
    # np.linspace(1.0, 0.0, num)[j] is j * (-1.0 / (num - 1)) + 1.0; here num = hi - lo + 2
    step = -1.0 / (hi - lo + 1).astype(np.float64)
    ramp = (rank - lo + 1).astype(np.float64) * step + 1.0
    by_rank = np.where(rank < lo, 1.0, np.where(rank < hi, ramp, 0.0))
    order = _stable_descending_order(flat)
    out = np.empty((n, total), dtype)
    out.reshape(-1)[(order + (np.arange(n, dtype=np.int64) * total)[:, None]).reshape(-1)] = by_rank.reshape(-1)
    return out.reshape((n,) + shape)


class FMix(_MaskMixer):
    """FMix (Harris et al., 2020): masks from thresholded low-frequency Fourier noise.

    Random complex noise is weighted by ``1 / f ** decay_power`` and turned back into an image; the
    ``round(lam0 * N)`` largest values keep the sample's own data (``lam0 ~ Beta(alpha, alpha)``), the
    rest come from the partner. ``lam`` is the exact mean of the mask.

    Args:
        alpha: ``lam0 ~ Beta(alpha, alpha)``, the target kept fraction.
        decay_power: how fast high frequencies fade; larger gives smoother, blobbier masks.
        max_soft: 0 gives a binary mask (a paste); ``> 0`` ramps the mask over up to ``max_soft * N``
            elements on each side of the cut, so the edge blends.
        axes: the axes the mask spans (``(-2, -1)`` for NCHW images; one axis for series, three for
            volumes); other axes are taken whole.
        lam_mode: ``"batch"`` (one mask for the batch, as in the paper) or ``"sample"``.
        pairing, num_classes, p, label_smoothing, label_format: as in :class:`~mixkit.MixUp`.
    """

    def __init__(self, alpha: float = 1.0, *, decay_power: float = 3.0, max_soft: float = 0.0,
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(alpha, axes=axes, lam_mode=lam_mode, pairing=pairing, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format, targets=targets)
        self.decay_power = check_positive(decay_power, "decay_power")
        if isinstance(max_soft, bool) or not isinstance(max_soft, (int, float)) or not 0.0 <= max_soft <= 0.5:
            raise ValueError(f"max_soft must be a number in [0, 0.5], got {max_soft!r}")
        self.max_soft = float(max_soft)

    def _masks(self, sizes: tuple[int, ...], lam0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = lam0.shape[0]
        freqs = [np.fft.fftfreq(s) for s in sizes[:-1]] + [np.fft.rfftfreq(sizes[-1])]
        mesh = np.meshgrid(*freqs, indexing="ij")
        f = np.sqrt(sum(m ** 2 for m in mesh))
        scale = 1.0 / np.maximum(f, 1.0 / max(sizes)) ** self.decay_power
        # (real + 1j * imag) * scale, built in place: the same values without four temporaries
        spec = np.empty((n,) + f.shape, dtype=np.complex128)
        np.multiply(rng.standard_normal((n,) + f.shape), scale, out=spec.real)
        np.multiply(rng.standard_normal((n,) + f.shape), scale, out=spec.imag)
        grey = np.fft.irfftn(spec, s=sizes, axes=tuple(range(1, len(sizes) + 1)))
        return _rank_mask(grey, lam0, self.max_soft, np.float32)

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        out["decay_power"] = self.decay_power
        if self.max_soft:
            out["max_soft"] = self.max_soft
        return out


SMOOTH_SHAPES = ("circle", "square")


class SmoothMix(_MaskMixer):
    """SmoothMix (Lee et al., 2020): a soft-edged region of the partner, so the mix has no sharp seams.

    The partner's weight is a Gaussian blob ``exp(-d^2 / 2)`` centred uniformly at random, with
    ``d`` the distance in units of ``sigma`` (per axis, a fraction of that axis' length drawn from
    ``sigma``); ``shape="square"`` uses the per-axis maximum norm with a steeper edge instead, a square
    with soft edges. The mask is ``1 - blob``, so ``lam`` (its exact mean) follows from the geometry;
    ``alpha`` is not used.

    Args:
        sigma: ``(low, high)`` fraction of each axis for the blob's width, drawn uniformly.
        shape: ``"circle"`` or ``"square"``.
        axes, lam_mode, pairing, num_classes, p, label_smoothing, label_format: as in :class:`FMix`.
    """

    def __init__(self, *, sigma: tuple[float, float] = (0.15, 0.35), shape: str = "circle",
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(1.0, axes=axes, lam_mode=lam_mode, pairing=pairing, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format, targets=targets)
        self.sigma = check_range("sigma", sigma, 1e-6, 10.0)
        self.shape = check_choice("shape", shape, SMOOTH_SHAPES)

    def _masks(self, sizes: tuple[int, ...], lam0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, k = lam0.shape[0], len(sizes)
        size = np.asarray(sizes, dtype=np.float64)
        centre = rng.random((n, k)) * size
        sig = rng.uniform(self.sigma[0], self.sigma[1], size=(n, 1)) * size
        grids = _grid(sizes)
        dist = []
        for a in range(k):
            shape = [n] + [1] * k
            shape[a + 1] = sizes[a]
            d = (grids[a][None, :] - centre[:, a : a + 1] + 0.5) / sig[:, a : a + 1]
            dist.append(d.reshape(shape))
        if self.shape == "circle":
            blob = np.exp(-0.5 * sum(d ** 2 for d in dist))
        else:
            cheb = np.abs(dist[0])
            for d in dist[1:]:
                cheb = np.maximum(cheb, np.abs(d))
            blob = np.exp(-0.5 * cheb ** 6)
        out = np.empty((n,) + sizes, np.float32)  # 1 - blob in float64, rounded once
        np.subtract(1.0, np.broadcast_to(blob, (n,) + sizes), out=out, casting="same_kind")
        return out

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        del out["alpha"]
        out.update(sigma=self.sigma, shape=self.shape)
        return out


class GridMix(_MaskMixer):
    """GridMix (Baek et al., 2021): a grid of cells, each taken whole from the sample or the partner.

    Each axis is cut into ``n`` near-equal cells, ``n`` drawn uniformly from ``grid``; each cell comes
    from the partner with probability ``1 - lam0``, ``lam0 ~ Beta(alpha, alpha)``. The mask is binary
    (a paste) and ``lam`` is its exact mean.

    Args:
        grid: ``(low, high)`` number of cells per axis, drawn uniformly (inclusive).
        alpha, axes, lam_mode, pairing, num_classes, p, label_smoothing, label_format: as in :class:`FMix`.
    """

    def __init__(self, alpha: float = 1.0, *, grid: tuple[int, int] = (2, 6),
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(alpha, axes=axes, lam_mode=lam_mode, pairing=pairing, num_classes=num_classes, p=p,
                         label_smoothing=label_smoothing, label_format=label_format, targets=targets)
        self.grid = check_range("grid", grid, 1, 10_000, integer=True)

    def _masks(self, sizes: tuple[int, ...], lam0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, k = lam0.shape[0], len(sizes)
        cells = rng.integers(self.grid[0], self.grid[1] + 1, size=n)
        count = cells ** k
        # one draw for every cell of every sample: the same numbers, in the same order, as one
        # rng.random((c,) * k) per sample
        own = rng.random(int(count.sum())) < np.repeat(lam0, count)
        flat = (np.cumsum(count) - count).reshape((n,) + (1,) * k)  # where each sample's cells start
        c = cells[:, None]
        for a, s in enumerate(sizes):
            cell = np.minimum(np.arange(s)[None, :] * c // max(s, 1), c - 1)  # (n, s): cell of each position
            shape = [n] + [1] * k
            shape[a + 1] = s
            flat = flat + (cell * c ** (k - 1 - a)).reshape(shape)
        return own[flat]

    def _repr_fields(self) -> dict[str, Any]:
        out = super()._repr_fields()
        out["grid"] = self.grid
        return out


SaliencyFn = Callable[[Any], Any]


class SaliencyMix(Mixer):
    """SaliencyMix (Uddin et al., 2021): a CutMix box centred on the partner's most salient point.

    The box covers about ``1 - lam0`` of the sample (``lam0 ~ Beta(alpha, alpha)``) and is pasted
    from the partner at the same place, so the pasted patch holds the partner's salient content;
    ``lam`` is the exact kept fraction after clipping. The saliency is model-free by default (the
    spectral residual of the channel mean); pass ``saliency=`` a function ``x -> (B, *sizes)`` map
    (for instance ``mixkit.torch.gradient_saliency(model)``), or give maps per call with
    ``sample(..., saliency=maps)``. The plan is a :class:`~mixkit.BoxPlan`, applied as a paste. Its
    :meth:`sample` needs the batch, ``x=`` (or ``saliency=``); calling the transform passes it.

    Args:
        alpha: box size ``1 - lam0``, ``lam0 ~ Beta(alpha, alpha)``.
        saliency: ``"spectral"`` or a callable taking the batch and returning maps ``(B, *sizes)``.
        axes, lam_mode, pairing, num_classes, p, label_smoothing, label_format: as in :class:`FMix`;
            ``lam_mode="batch"`` draws one box size per call, centres are per sample.
    """

    needs = frozenset({"x"})
    takes_partners = False  # its boxes follow its own partners' salient points

    def __init__(self, alpha: float = 1.0, *, saliency: str | SaliencyFn = "spectral",
                 axes: int | tuple[int, ...] = (-2, -1), lam_mode: str = "batch", pairing: str = "shuffle",
                 num_classes: int | None = None, p: float = 1.0, label_smoothing: float = 0.0,
                 label_format: str = "dense", targets: str = "classes") -> None:
        super().__init__(num_classes=num_classes, p=p, label_smoothing=label_smoothing, label_format=label_format,
                         targets=targets)
        self._options(alpha=alpha, axes=axes, lam_mode=lam_mode, pairing=pairing)
        if not callable(saliency):
            check_choice("saliency", saliency, ("spectral",))
        self.saliency = saliency

    def saliency_maps(self, x: Any, axes: tuple[int, ...]) -> np.ndarray:
        """Saliency ``(B, *sizes)`` (float64 NumPy) of the batch ``x`` over ``axes``."""
        if callable(self.saliency):
            maps = self.saliency(x)
        else:  # CUDA tensors on their device; NumPy, CPU tensors and the rest through NumPy
            maps = spectral_residual_saliency(x, axes)
        return np.asarray(to_numpy(maps), dtype=np.float64)

    def _sample(self, batch_size: int, gen: Any, shape: tuple[int, ...] | None, *, x: Any, y: Any,
                companions: dict[str, Any]) -> BoxPlan:
        """Partners and boxes; needs the batch ``x`` (or its ``saliency=`` maps ``(B, *sizes)``)."""
        saliency = companions.get("saliency")
        if shape is None and x is not None:
            shape = tuple(int(s) for s in x.shape)
        if shape is None:
            raise self._missing("the batch's shape to place boxes", "shape=x.shape")
        axes = normalize_axes(self.axes, len(shape))
        sizes = tuple(shape[a] for a in axes)
        if saliency is None:
            if x is None:
                raise self._missing("the batch", "x= (or saliency= maps) to find its salient points")
            saliency = self.saliency_maps(x, axes)
        maps = np.asarray(to_numpy(saliency), dtype=np.float64)
        if maps.shape != (batch_size,) + sizes:
            raise ValueError(
                f"saliency maps must have shape (B, *sizes) = {(batch_size,) + sizes}, got {maps.shape}"
            )
        partner = sample_partner(batch_size, self.pairing, gen)
        lam0 = sample_lam(batch_size, self.alpha, self.lam_mode, gen)
        size = np.asarray(sizes, dtype=np.int64)
        side = np.rint(((1.0 - lam0) ** (1.0 / len(sizes)))[:, None] * size[None, :]).astype(np.int64)
        flat = maps.reshape(batch_size, int(np.prod(sizes, dtype=np.int64)))
        peak = np.argmax(flat, axis=1) if flat.size else np.zeros(batch_size, np.int64)
        centre = (np.stack(np.unravel_index(peak, sizes), axis=1).reshape(batch_size, len(sizes)) if flat.size
                  else np.zeros((batch_size, len(sizes)), np.int64))  # no pixels: nothing is pasted
        centre = centre[partner]
        start = np.clip(centre - side // 2, 0, size)
        stop = np.clip(centre - side // 2 + side, 0, size)
        applied = sample_applied(batch_size, self.p, self.lam_mode, gen)
        partner, lam, start, stop = finish_box_plan(partner, start, stop, sizes, applied)
        return BoxPlan(partner=partner, lam=lam, axes=axes, sizes=sizes, start=start, stop=stop)

    def _repr_fields(self) -> dict[str, Any]:
        sal = self.saliency if isinstance(self.saliency, str) else getattr(self.saliency, "__name__", "callable")
        return {"alpha": self.alpha, "saliency": sal, "axes": self.axes, "lam_mode": self.lam_mode,
                "pairing": self.pairing}

"""Strategies that run the model themselves (training-step variants), by name for ``--methods``.

Each is a class with ``mixes_hidden = True`` and ``bind(model)``: the reference trainer calls
``logits, targets = transform.bind(model)(xb, yb, rng=gen)`` and trains on the soft-target cross
entropy of those, averaged over the rows. Names: ``tmix`` (hidden-state mixing, text head),
``regmixup`` (the clean batch and a mixed copy in one step) and ``puzzlemix`` (saliency-guided
masks, one extra forward and backward per step). Importing this module imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mixkit

__all__ = ["PuzzleMixStrategy", "RegMixupStrategy", "model_strategies"]


class _RunsTheModel:
    """What the strategies that run the model share: they are bound to a model, not called on a batch."""

    mixes_hidden = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = type(self).__name__
        raise TypeError(
            f"{name} runs the model and cannot mix a batch alone: call "
            "step = transform.bind(model), then logits, targets = step(xb, yb, rng=gen), and train "
            "on the soft-target cross entropy of those (as the reference trainer does)"
        )


def _check_alpha(alpha: Any, method: str) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float))
        or not (alpha > 0 and math.isfinite(alpha))
    ):
        raise ValueError(
            f"{method}: alpha must be a positive finite number (Beta(alpha, alpha)), got {alpha!r}"
        )
    return float(alpha)


class RegMixupStrategy(_RunsTheModel):
    """RegMixup (Pinto et al., 2022) as a sweep strategy: ``regmixup``, ``regmixup:alpha=20``.

    Each step trains on the clean batch and on a MixUp copy of it, through
    :class:`mixkit.torch.RegMixup`: ``bind(model)(xb, yb, rng=gen)`` returns ``(logits, targets)``
    of ``2B`` rows, the clean half first (``targets`` one-hot rows of ``yb``) then the mixed half
    (``x_mixed = lam * x + (1 - lam) * x[partner]``, ``lam ~ Beta(alpha, alpha)`` the sample's own
    weight, targets mixed by the same plan). Both halves go through the model as one batch of ``2B``
    (batch norm sees them together, as in the authors' code), so a step costs about twice a plain
    one.

    The trainer's mean over the ``2B`` rows is ``(CE_clean + CE_mixed) / 2``: the paper's loss
    ``CE_clean + eta * CE_mixed`` with ``eta = 1``, up to the factor 1/2 (as the authors' code
    averages). Other weights are refused here; use ``mixkit.torch.RegMixup(weight=...)`` in your
    own training function (``--train``) for them.

    Args:
        alpha: Beta(alpha, alpha) of ``lam``. Constructed directly the default is 20, the authors'
            (RegMixup's default); in ``--methods``, ``regmixup`` without ``:alpha=`` is swept over
            ``--alphas`` like every method that takes alpha, so write ``regmixup:alpha=20``.
        lam_mode: ``"batch"`` (one ``lam`` per step, as the authors) or ``"sample"``.
        weight: the mixed half's weight; only 1.0.
        num_classes: number of classes of the integer labels.
    """

    def __init__(
        self,
        alpha: float = 20.0,
        *,
        lam_mode: str = "batch",
        weight: float = 1.0,
        num_classes: int | None = None,
    ) -> None:
        alpha = _check_alpha(alpha, "regmixup")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise TypeError(f"regmixup: weight must be the number 1.0, got {weight!r}")
        if float(weight) != 1.0:
            raise ValueError(
                f"regmixup: the sweep trains with weight 1 only (the mean over the clean and the "
                f"mixed rows), got weight={weight!r}; for another weight use "
                "mixkit.torch.RegMixup(weight=...) in your own training function (--train)"
            )
        self.mixer = mixkit.MixUp(alpha, lam_mode=lam_mode, num_classes=num_classes)
        self.alpha = alpha
        self.lam_mode = lam_mode
        self.weight = 1.0
        self.num_classes = num_classes

    def __repr__(self) -> str:
        return f"RegMixupStrategy(alpha={self.alpha:g}, lam_mode={self.lam_mode!r})"

    def bind(self, model: Callable[[Any], Any]) -> Callable[..., tuple[Any, Any]]:
        """``step(xb, yb, *, rng) -> (logits, targets)``, both ``(2B, C)``: clean rows, then mixed."""
        from mixkit.torch import RegMixup

        regmixup = RegMixup(self.mixer, weight=self.weight)

        def step(xb: Any, yb: Any, *, rng: Any = None) -> tuple[Any, Any]:
            x, targets = regmixup(xb, yb, rng=rng).concat()
            return model(x), targets

        return step


class PuzzleMixStrategy(_RunsTheModel):
    """PuzzleMix (Kim et al., 2020) as a sweep strategy: ``puzzlemix``, ``puzzlemix:alpha=1.0``.

    Runs :class:`mixkit.torch.PuzzleMix`, which computes the saliency of the batch with one forward
    and backward pass of the model being trained, then mixes by its optimised masks and transport:
    ``bind(model)(xb, yb, rng=gen)`` returns ``(model(x_mixed), targets)``, ``B`` rows, the targets
    mixed by the same plan. A step costs about two plain ones plus the mask optimisation. Further
    options are PuzzleMix's own keyword options (``puzzlemix:block_counts=(2,4)``), checked by its
    constructor; ``clean_lam`` is refused, because its clean loss has no place in the reference
    trainer's loss (the cross entropy of the returned logits and targets).

    Args:
        alpha: Beta(alpha, alpha) of the mixing weight ``lam`` (the sample's own weight).
        num_classes: number of classes of the integer labels.
    """

    def __init__(
        self, alpha: float = 1.0, *, num_classes: int | None = None, **options: Any
    ) -> None:
        self.alpha = _check_alpha(alpha, "puzzlemix")
        if options.get("clean_lam", 0.0) != 0.0:
            raise ValueError(
                f"puzzlemix: clean_lam={options['clean_lam']!r} adds a clean loss that the sweep's "
                "trainer does not train on; leave it at 0, or use mixkit.torch.PuzzleMix(clean_lam=...) "
                "in your own training function (--train)"
            )
        self.num_classes = num_classes
        self.options = dict(options)
        self._puzzlemix()  # PuzzleMix checks its options here, before any trial runs

    def _puzzlemix(self) -> Any:
        try:
            from mixkit.torch import PuzzleMix
        except ImportError as exc:
            raise ValueError(f"puzzlemix needs mixkit.torch.PuzzleMix (PyTorch): {exc}") from None
        return PuzzleMix(self.alpha, num_classes=self.num_classes, **self.options)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in sorted(self.options.items()))
        return f"PuzzleMixStrategy(alpha={self.alpha:g}{extra})"

    def bind(self, model: Callable[[Any], Any]) -> Callable[..., tuple[Any, Any]]:
        """``step(xb, yb, *, rng) -> (logits, targets)``, both ``(B, C)``, on PuzzleMix's batch."""
        puzzlemix = self._puzzlemix()

        def step(xb: Any, yb: Any, *, rng: Any = None) -> tuple[Any, Any]:
            x_mixed, targets = puzzlemix(model, xb, yb, rng=rng)
            return model(x_mixed), targets

        return step


def model_strategies() -> dict[str, Any]:
    """Lower-case name -> strategy class, for the strategies that run the model."""
    from .text_models import HiddenMix

    return {"tmix": HiddenMix, "regmixup": RegMixupStrategy, "puzzlemix": PuzzleMixStrategy}

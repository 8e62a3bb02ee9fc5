"""What every mixing method shares: the call protocol, the constructor checks and label mixing."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._validate import (
    as_generator,
    check_alpha,
    check_axes_option,
    check_batch_size,
    check_choice,
    check_lam,
    check_probability,
)
from .._xp import backend, dtype_kind
from ..kernels import mix_index_labels
from ..labels import (
    TARGET_KINDS,
    check_continuous,
    check_labels,
    mix_continuous,
    one_hot,
    pair_targets,
    smooth_labels,
)
from ..pairing import PAIRINGS
from ..plan import MixPlan
from ..sampling import LAM_MODES
from ._result import Mixed
from ._structured import apply_plan, check_plan_type, run

__all__ = ["Mixed", "Mixer", "apply_plan", "check_num_classes", "check_plan_fits"]

LABEL_FORMATS = ("dense", "pair")


def check_plan_fits(plan: MixPlan, x: Any) -> None:
    """Raise ValueError if ``plan`` was sampled for a batch of another size or shape (``plan.check_fits``)."""
    check_plan_type(plan)
    plan.check_fits(tuple(int(s) for s in x.shape))


def check_num_classes(num_classes: Any) -> int | None:
    """``num_classes``: a positive int or None."""
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
    return None if num_classes is None else int(num_classes)


class Mixer:
    """Base of the mixing transforms: ``t(x, y, rng=...) -> Mixed(x_mixed, y_mixed)``.

    Every method has the same :meth:`sample` contract and returns a plan that applies itself (see
    :mod:`mixkit.plan`). A new method implements :meth:`_sample` (``sample`` checks the arguments
    once and calls it; so does a call of the transform). Labels: class indices ``(B,)`` with ``num_classes``, or probabilities /
    multi-hot ``(B, C)``. ``label_format="dense"`` returns ``(B, C)`` float targets, ``"pair"`` a
    :class:`~mixkit.MixedTargets`. ``label_smoothing`` (default 0) is applied before mixing.
    ``targets="continuous"`` declares regression targets, float ``(B,)`` or ``(B, D)`` (integers are
    cast to float64 for NumPy, torch's default float for tensors), mixed by the same plan
    (``lam * y + (1 - lam) * y[partner]``, a box's kept fraction as ``lam``) and returned in ``y``'s
    shape; the class options ``num_classes`` and ``label_smoothing`` are then refused.
    """

    #: what :meth:`sample` needs besides the batch size and shape: ``"x"`` (the batch), ``"y"`` (the
    #: labels) or a companion's name (``"mask"``); callers that hold it pass it, others may skip it
    needs: ClassVar[frozenset[str]] = frozenset()
    #: whether the plans can take partners drawn elsewhere (the ``base`` of a label-aware method)
    takes_partners: ClassVar[bool] = True

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        p: float = 1.0,
        label_smoothing: float = 0.0,
        label_format: str = "dense",
        targets: str = "classes",
    ) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.p = check_probability(p, "p")
        self.label_smoothing = check_probability(label_smoothing, "label_smoothing")
        self.label_format = check_choice("label_format", label_format, LABEL_FORMATS)
        self._options(targets=targets)

    def _options(self, *, alpha: Any = None, axes: Any = None, lam_mode: str | None = None,
                 pairing: str | None = None, pairings: tuple[str, ...] = PAIRINGS, lam: Any = None,
                 targets: str | None = None) -> None:
        """The options the methods share, each checked the same way and set on ``self`` when given:
        ``alpha`` (> 0), ``axes`` (ints), ``lam_mode``, ``pairing`` (one of ``pairings``), ``lam``,
        ``targets`` (``"classes"`` or ``"continuous"``; continuous targets refuse ``num_classes`` and
        ``label_smoothing``)."""
        if targets is not None:
            self.targets = check_choice("targets", targets, TARGET_KINDS)
            if self.targets == "continuous" and getattr(self, "num_classes", None) is not None:
                raise ValueError(
                    f"num_classes={self.num_classes} is a class option, but targets='continuous' declares "
                    "regression targets; drop num_classes (or use targets='classes')"
                )
            if self.targets == "continuous" and getattr(self, "label_smoothing", 0.0):
                raise ValueError(
                    f"label_smoothing={self.label_smoothing} is a class option, but targets='continuous' "
                    "declares regression targets; drop label_smoothing (or use targets='classes')"
                )
        if alpha is not None:
            self.alpha = check_alpha(alpha)
        if axes is not None:
            self.axes = check_axes_option(axes)
        if lam_mode is not None:
            self.lam_mode = check_choice("lam_mode", lam_mode, LAM_MODES)
        if pairing is not None:
            self.pairing = check_choice("pairing", pairing, pairings)
        if lam is not None:
            self.lam = check_lam(lam)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "sample" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides sample(); implement _sample(batch_size, rng, shape, *, x, y, "
                "companions) instead, which sample() and a call of the transform both use"
            )

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, batch_size: int, *, rng: Any = None, shape: tuple[int, ...] | None = None, x: Any = None,
               y: Any = None, **companions: Any) -> MixPlan:
        """Draw a plan for a batch of ``batch_size``.

        Every method takes the same arguments and uses what it needs: ``shape`` the batch's full shape
        (methods that cut or mask need it), ``x`` the batch (SaliencyMix), ``y`` the labels (the
        label-aware methods), companions such as ``mask=`` (ClassMix). What a method needs is in
        :attr:`needs`; a missing one is a ValueError naming it.
        """
        shape = None if shape is None else tuple(int(s) for s in shape)
        batch_size = check_batch_size(batch_size, shape)
        if y is not None:
            y = self._check_y(y, batch_size)
        return self._sample(batch_size, as_generator(rng), shape, x=x, y=y, companions=companions)

    def _sample(self, batch_size: int, rng: np.random.Generator, shape: tuple[int, ...] | None, *,
                x: Any, y: Any, companions: dict[str, Any]) -> MixPlan:
        """The plan, from checked arguments (each method provides this)."""
        raise NotImplementedError

    def _missing(self, what: str, how: str) -> ValueError:
        return ValueError(f"{type(self).__name__} needs {what}: pass {how}")

    # -- the call --------------------------------------------------------------------------------
    def __call__(self, x: Any, y: Any = None, *, rng: Any = None, out: Any = None,
                 inplace: bool = False, **companions: Any) -> Any:
        """Sample a plan for ``x`` and apply it.

        An array batch ``x`` ``(B, ...)`` gives a :class:`~mixkit.Mixed` ``(x_mixed, y_mixed)``
        (``y_mixed`` is None when ``y`` is None) whose ``.companions`` hold the companions given as
        keywords (``mask=``, ``boxes=``, ``box_labels=``, ``keypoints=``, ``padding_mask=``,
        ``lengths=``, ``token_labels=``), mixed with the same plan. A dict sample
        ``{"image" or "x": batch, "labels": y, "mask": ..., ...}`` gives a dict of the same keys (see
        :mod:`mixkit.methods._structured` for the keys and options).
        """
        return run(self, x, y, rng=rng, out=out, inplace=inplace, extra=companions)

    def apply(self, plan: MixPlan, x: Any, y: Any = None, *, out: Any = None,
              inplace: bool = False, **companions: Any) -> Any:
        """Apply a plan from :meth:`sample` to ``x`` ``(B, ...)``, labels ``y`` and companions, as in
        :meth:`__call__` (same return type)."""
        return run(self, x, y, plan=plan, out=out, inplace=inplace, extra=companions)

    # -- labels ----------------------------------------------------------------------------------
    def mix_labels(self, plan: MixPlan, y: Any) -> Any:
        """Labels mixed as ``plan`` mixes the batch: dense ``(B, C)`` or the pair form."""
        return self._mix_labels(plan, self._check_y(y, plan.batch_size))

    def _check_y(self, y: Any, batch_size: int, name: str = "y") -> Any:
        """Labels checked as this method's ``targets`` option says (class labels or continuous)."""
        if getattr(self, "targets", "classes") == "continuous":
            return check_continuous(y, batch_size, name)
        return check_labels(y, batch_size, self.num_classes, name)

    def _targets(self, y: Any) -> Any:
        """Dense float targets ``(B, C)`` from checked labels (smoothed when asked)."""
        if len(y.shape) == 1:
            t = one_hot(y, int(self.num_classes))  # type: ignore[arg-type]
        elif dtype_kind(y) != "f":  # multi-hot integers: float32 rows in the labels' library
            kind = backend(y)
            if kind == "torch":
                t = y.float()
            elif kind == "numpy":
                t = y.astype(np.float32)
            else:
                import array_api_compat

                xp = array_api_compat.array_namespace(y)
                t = xp.astype(y, xp.float32)
        else:
            t = y
        return smooth_labels(t, self.label_smoothing) if self.label_smoothing else t

    def _mix_labels(self, plan: MixPlan, y: Any) -> Any:
        """:meth:`mix_labels` for checked labels."""
        if getattr(self, "targets", "classes") == "continuous":
            if self.label_format == "pair":
                partner, lam = plan.label_pair()
                return pair_targets(y, partner, lam, num_classes=None, label_smoothing=0.0, targets="continuous")
            return mix_continuous(y, plan)
        if self.label_format == "pair":
            partner, lam = plan.label_pair()
            return pair_targets(y, partner, lam, num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        if plan.pairwise and len(y.shape) == 1:  # class indices: one fused launch where the device has it
            partner, lam = plan.label_pair()
            fused = mix_index_labels(y, partner, lam, int(self.num_classes), self.label_smoothing)  # type: ignore[arg-type]
            if fused is not None:
                return fused
        return plan.mix_targets(self._targets(y))

    # -- presentation ----------------------------------------------------------------------------
    def _repr_fields(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        fields = dict(self._repr_fields())
        fields.update(num_classes=self.num_classes, p=self.p)
        if self.label_smoothing:
            fields["label_smoothing"] = self.label_smoothing
        if self.label_format != "dense":
            fields["label_format"] = self.label_format
        if getattr(self, "targets", "classes") != "classes":
            fields["targets"] = self.targets
        inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__name__}({inner})"

    def _label_config(self) -> tuple[Any, ...]:
        return (self.num_classes, self.label_smoothing, self.label_format, getattr(self, "targets", "classes"))


def check_base(base: Any, owner: type) -> None:
    """Refuse what cannot be the ``base`` of a pairing method ``owner`` (a method whose plan follows
    the partners it is given): other objects, ``owner`` itself, n-way MixUp, and methods that draw
    their own partners or need the batch."""
    if not isinstance(base, Mixer) or isinstance(base, owner):
        raise TypeError(f"base must be a mixkit method such as CutMix() or FMix(), got {type(base).__name__}")
    k = getattr(base, "k", 2)
    if k > 2:
        raise ValueError(
            f"{type(base).__name__}(k={k}) cannot be a base: a base mixes each sample with the one partner it "
            "is given; use MixUp(k=2), CutMix, a mask method or ResizeMix"
        )
    if not base.takes_partners or base.needs:
        raise ValueError(
            f"{type(base).__name__} cannot be a base: its plan follows its own partners "
            "(or needs the batch to be drawn); use MixUp, CutMix, a mask method or ResizeMix"
        )


def finish_plan(partner: np.ndarray, lam: np.ndarray, applied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples not applied, or paired with themselves, keep all of their own data: ``lam = 1``."""
    rows = np.arange(partner.shape[0])
    keep = (~applied) | (partner == rows)
    partner = np.where(applied, partner, rows)
    lam = np.where(keep, 1.0, lam)
    return partner, lam


def finish_box_plan(
    partner: np.ndarray, start: np.ndarray, stop: np.ndarray, sizes: tuple[int, ...], applied: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Box plans: samples not applied, paired with themselves or with an empty box paste nothing
    (their box becomes ``[0, 0)``); ``lam`` is the exact kept fraction ``1 - volume / prod(sizes)``.

    Returns ``(partner, lam, start, stop)``.
    """
    rows = np.arange(partner.shape[0])
    volume = np.prod(stop - start, axis=1).astype(np.float64)
    empty = (~applied) | (partner == rows) | (volume == 0)
    start = np.where(empty[:, None], 0, start)
    stop = np.where(empty[:, None], 0, stop)
    partner = np.where(applied, partner, rows)
    total = float(np.prod(sizes))
    volume = np.where(empty, 0.0, volume)
    lam = 1.0 - volume / total if total > 0 else np.ones(partner.shape[0])
    return partner, lam, start, stop

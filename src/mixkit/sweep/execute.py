"""Running trials: claim one in the store, call the training function, store the result or the
failure (its traceback in a log file), in this process or in worker processes started with ``spawn``.

:func:`execute` yields ``(status, key or message, seconds)`` per trial, status ``done``, ``skipped``
or ``failed``; :func:`run_one` runs one trial. Worker processes that all end before running a trial
(most often a script without a main guard) raise :class:`~.errors.SweepError`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import re
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import Dataset
from .errors import SweepError
from .methods import Strategy
from .models import callable_name, load_function
from .result import trial_key
from .store import TrialStore
from .train import ReferenceTrainer, on_step, run_trial

__all__ = [
    "GUARD_IN_WORKER",
    "Job",
    "execute",
    "log_path",
    "resolve_train",
    "run_one",
    "show_failure",
]

_STARTED = "started"  # a worker's first message: it is up and has its training function
_WORKER_ERROR = "worker-error"  # a worker that could not start (its message says why)
_SWEEP_DIR = str(Path(__file__).resolve().parent)


class _Flag:
    """A flag a signal handler may read and set: a plain attribute, no lock. (A handler that set a
    ``threading.Event`` would take its lock; a second Ctrl-C arriving while the first handler holds
    it runs the handler again in the same thread, which then waits on that lock forever.)"""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False

    def set(self) -> None:
        self.on = True

    def clear(self) -> None:
        self.on = False

    def is_set(self) -> bool:
        return self.on


# set while a worker runs a user's training function: Ctrl-C raises KeyboardInterrupt there at once
# (that code never reaches the sweep's safe points)
_RAISE_ON_SIGINT = _Flag()


@dataclass(frozen=True)
class Job:
    store: TrialStore
    ds: Dataset
    strategies: tuple[Strategy, ...]
    train: Any  # the training function, or its "module:function" (imported again in each worker)
    device: str = "cpu"
    log_dir: Path | None = None  # one log file per failed trial (its traceback)


def resolve_train(spec: Any) -> Any:
    """The training function of ``spec``: a callable as it is, ``"module:function"`` imported."""
    if isinstance(spec, str):
        return load_function(spec, option="--train")
    if not callable(spec):
        raise SweepError(
            f"train must be a function or 'module:function', got {type(spec).__name__}"
        )
    return spec


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first frame outside the sweep (the user's code), else all of it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_SWEEP_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def log_path(log_dir: Path, key: str) -> Path:
    """The log file of the trial ``key`` (its traceback when it failed)."""
    return log_dir / (re.sub(r"[^A-Za-z0-9._=-]+", "_", key).strip("_") + ".log")


def _write_log(job: Job, key: str, train: Any, text: str) -> Path | None:
    if job.log_dir is None:
        return None
    path = log_path(job.log_dir, key)
    try:
        job.log_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"trial: {key}\ntrain: {callable_name(train)}\ndevice: {job.device}\n"
            f"host: {socket.gethostname()}, pid {os.getpid()}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n{text}"
        )
    except OSError:
        return None
    return path


def run_one(
    job: Job, train: Any, index: int, seed: int, stop: Any = None
) -> tuple[str, str, float]:
    """Claim and run one trial with the training function ``train``; returns (status, key or
    message, seconds) with status done/skipped/failed. ``stop``: a callable; when it returns true
    the reference trainer stops at its next step as interrupted. A failure is stored as FAIL, its
    traceback written to ``job.log_dir``; the message ends with ``(traceback: PATH)``."""
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
            "device": job.device,
        },
    )
    if trial is None:
        return "skipped", key, 0.0

    def check_stop() -> None:
        if stop is not None and stop():
            raise KeyboardInterrupt

    user_code = not isinstance(train, ReferenceTrainer)
    try:
        with on_step(check_stop):  # the store's own thread keeps the claim's heartbeat
            check_stop()
            if user_code:
                _RAISE_ON_SIGINT.set()
            try:
                result = run_trial(job.ds, strategy, seed, train, device=job.device)
            finally:
                _RAISE_ON_SIGINT.clear()
    except KeyboardInterrupt:
        job.store.fail(trial, "interrupted")
        raise
    except Exception as exc:  # noqa: BLE001 - the trial fails, the sweep goes on
        first = (str(exc).splitlines() or [""])[0]
        error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        path = _write_log(job, key, train, _user_traceback(exc))
        job.store.fail(trial, error)
        return "failed", f"{key}: {error}" + (f" (traceback: {path})" if path else ""), 0.0
    if not job.store.finish(trial, result):  # its claim was taken over: another process runs it
        return "skipped", key, 0.0
    return "done", key, float(result["seconds"])


def _worker(job: Job, todo: Any, done: Any) -> None:
    """A worker process: one torch thread, trials from ``todo`` until a ``None``.

    Ctrl-C (SIGINT) sets a flag, read at safe points: between trials and after every step of the
    reference trainer. Raised at any bytecode instead, a KeyboardInterrupt that lands in a garbage
    collector callback (SQLAlchemy has some) is printed and swallowed, and the worker runs on. A
    user's training function has no safe points: while it runs, Ctrl-C raises there at once."""
    interrupted = _Flag()

    def on_sigint(*_: Any) -> None:  # takes no lock: it may run again inside itself
        interrupted.set()
        if _RAISE_ON_SIGINT.is_set():
            _RAISE_ON_SIGINT.clear()  # one KeyboardInterrupt per trial; a second Ctrl-C only sets the flag
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        train = resolve_train(job.train)
    except Exception as exc:  # noqa: BLE001
        done.put((_WORKER_ERROR, f"{type(exc).__name__}: {exc}", 0.0))
        return
    if isinstance(train, ReferenceTrainer) or "torch" in sys.modules:  # not for other frameworks
        import torch

        torch.set_num_threads(1)
    done.put((_STARTED, str(os.getpid()), 0.0))
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
            done.put(run_one(job, train, *item, stop=interrupted.is_set))
        except KeyboardInterrupt:  # raised by run_one; its claim is marked FAIL
            break
        except Exception as exc:  # store errors: report and stop this worker  # noqa: BLE001
            done.put(("failed", f"{type(exc).__name__}: {exc}", 0.0))
            traceback.print_exc()
            break


def _bootstrap_error(jobs: int, codes: list[int | None], errors: list[str]) -> SweepError:
    """Workers that ended before taking a trial: most often a script without a main guard."""
    text = f"jobs={jobs}: the worker processes ended before running any trial (exit codes "
    text += ", ".join(str(c) for c in codes) + ")"
    if errors:
        return SweepError(f"{text}: {errors[0]}")
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        return SweepError(
            f"{text}. Each worker is started with 'spawn', which runs your script {main_file} "
            'again: put the code that calls mixkit.sweep() under `if __name__ == "__main__":` '
            "(keep the train function at the top level, outside it), or use jobs=1"
        )
    return SweepError(
        f"{text}. Each worker is started with 'spawn' and must import what it runs: functions "
        "defined in an interactive session cannot reach it; import the train function from a "
        "module file, or use jobs=1"
    )


GUARD_IN_WORKER = (
    "mixkit sweep: this is a worker process of a sweep with jobs > 1, and it started the sweep "
    "again while importing the script. Put the code that calls mixkit.sweep() under "
    '`if __name__ == "__main__":` (or use jobs=1).'
)


def show_failure(console: Any, message: str) -> None:
    """A failed trial on the console: its one line, then the traceback from its log file."""
    console.print(f"[bold red]trial failed[/]: {message}", markup=True, highlight=False)
    found = re.search(r"\(traceback: (.+)\)$", message)
    if found:
        try:
            console.print(Path(found.group(1)).read_text(), markup=False, highlight=False)
        except OSError:
            pass


def execute(
    job: Job, train: Any, todo: list[tuple[int, int]], jobs: int, console: Any, show: bool
) -> Any:
    """Yield ``(status, key, seconds)`` per trial of ``todo`` (see :func:`_execute_round`). A trial
    another process is running (another worker of a shared store) is waited for: once it is
    COMPLETE it is yielded as skipped; once its claim is stale (no heartbeat within the store's
    grace, or its process gone from this host) it is run here."""
    index = {trial_key(job.strategies[i], s): (i, s) for i, s in todo}
    rest, waiting, said = list(todo), [], False
    while rest or waiting:
        for item in _execute_round(job, train, rest, jobs, console, show) if rest else ():
            if item[0] == "skipped" and item[1] in index:
                waiting.append(item[1])
            else:
                yield item
        if not waiting:
            return
        free, busy = job.store.pending(waiting)
        for key in waiting:
            if key not in free and key not in busy:  # completed by another process
                yield ("skipped", key, 0.0)
        if busy and not free:
            if show and not said:
                console.print(f"waiting for {len(busy)} trial(s) running in other processes")
                said = True
            time.sleep(job.store.heartbeat_s)  # poll interval: the store is what is waited on
        rest, waiting = [index[k] for k in free], busy


def _execute_round(
    job: Job, train: Any, todo: list[tuple[int, int]], jobs: int, console: Any, show: bool
) -> Any:
    """Yield ``(status, key, seconds)`` per trial, with a progress bar and ETA; ``train`` is the
    training function (workers take ``job.train`` instead). Raises :class:`SweepError` when the
    worker processes all end before running a trial; trials lost with workers that died later are
    yielded as one ``failed`` item."""
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
                item = run_one(job, train, i, s)
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
        got, started, errors = 0, 0, []
        try:
            while got < len(todo):
                try:
                    item = done_q.get(timeout=1.0)
                except queue_mod.Empty:
                    if any(p.is_alive() for p in procs):
                        continue
                    try:  # all ended: what they sent before is in the pipe
                        item = done_q.get(timeout=0.1)
                    except queue_mod.Empty:
                        break
                if item[0] == _STARTED:
                    started += 1
                    continue
                if item[0] == _WORKER_ERROR:
                    errors.append(item[1])
                    continue
                got += 1
                bar.update(task, advance=1, description=f"{item[0]} {item[1][:40]}")
                yield item
            if got < len(todo):
                for p in procs:
                    p.join(timeout=30)
                codes = [p.exitcode for p in procs]
                if started == 0:
                    raise _bootstrap_error(jobs, codes, errors)
                why = f" ({errors[0]})" if errors else ""
                lost = (
                    f"{len(todo) - got} trial(s) did not run: the worker processes ended early "
                    f"(exit codes {', '.join(map(str, codes))}){why}; run again to resume"
                )
                yield ("failed", lost, 0.0)
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

"""Where trials live: an Optuna study in an RDB store (SQLite by default), one study per protocol.

A trial is claimed by creating a RUNNING trial that carries its key and its owner (host, pid) in one
transaction, so however a process dies it leaves no claim without an owner; it is stored COMPLETE with
all metrics the moment it ends. A re-run skips every key that is COMPLETE, and every key RUNNING in a
live process (same host: the process exists; other hosts: a heartbeat within the grace period). Claims
left by killed processes are marked FAIL and their keys run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any

from .errors import SweepError

__all__ = ["GRACE_S", "TrialStore", "study_name_for"]

GRACE_S = 300.0  # a RUNNING trial on another host without a heartbeat for this long is stale
BEAT_S = 5.0  # at most one heartbeat write per this many seconds


def study_name_for(config: dict[str, Any]) -> str:
    """A study name that changes with every setting that changes what a trial means."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    return f"mixkit-sweep-{config.get('data', 'data')}-{digest}"


def _quiet_optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrialStore:
    """The sweep's view of one Optuna study (opened lazily in each process)."""

    def __init__(self, url: str, study_name: str, config: dict[str, Any] | None = None) -> None:
        self.url = url
        self.study_name = study_name
        self.config = config
        self._study: Any = None
        self._storage: Any = None
        self._study_id: int | None = None

    # -- opening -----------------------------------------------------------------------------------
    @property
    def study(self) -> Any:
        if self._study is None:
            self._study = self._open()
        return self._study

    def _open(self) -> Any:
        optuna = _quiet_optuna()
        engine: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            engine = {"connect_args": {"timeout": 120}}
        try:
            storage = optuna.storages.RDBStorage(self.url, engine_kwargs=engine)
            study = optuna.create_study(
                storage=storage,
                study_name=self.study_name,
                direction="maximize",
                load_if_exists=True,
            )
        except Exception as exc:  # noqa: BLE001
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SweepError(f"cannot open the results store {self.url!r}: {msg}") from None
        if self.config is not None and "config" not in study.user_attrs:
            study.set_user_attr("config", self.config)
        self._storage = storage
        self._study_id = storage.get_study_id_from_name(self.study_name)
        return study

    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "study_name": self.study_name,
            "config": self.config,
            "_study": None,
            "_storage": None,
            "_study_id": None,
        }

    # -- reading -----------------------------------------------------------------------------------
    def completed(self) -> dict[str, Any]:
        """Key -> the first COMPLETE FrozenTrial of that key."""
        optuna = _quiet_optuna()
        out: dict[str, Any] = {}
        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            key = t.user_attrs.get("key")
            if key is not None and key not in out:
                out[key] = t
        return out

    def busy(self, *, reap: bool = True) -> set[str]:
        """Keys RUNNING in a live process; with ``reap``, stale claims are marked FAIL."""
        optuna = _quiet_optuna()
        host = socket.gethostname()
        now = time.time()
        keys: set[str] = set()
        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            a = t.user_attrs
            started = t.datetime_start.timestamp() if t.datetime_start else 0.0
            if "pid" not in a or "host" not in a:  # not a claim of ours (another writer of the
                live = now - started < GRACE_S  # study, or an older mixkit): left alone a while
            elif a.get("host") == host:
                live = _pid_alive(int(a["pid"])) and int(a["pid"]) != os.getpid()
            else:
                live = now - max(float(a.get("alive", 0.0)), started) < GRACE_S
            if live:
                if a.get("key") is not None:
                    keys.add(a["key"])
            elif reap:
                try:
                    self.study.tell(
                        t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True
                    )
                except Exception:  # another process finished or reaped it first  # noqa: BLE001, S110
                    pass
        return keys

    # -- writing -----------------------------------------------------------------------------------
    def claim(self, key: str, attrs: dict[str, Any]) -> Any | None:
        """A RUNNING trial for ``key``, or None when it is done or running elsewhere."""
        if key in self.completed() or key in self.busy():
            return None
        optuna = _quiet_optuna()
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "alive": time.time()}
        # one transaction, not study.ask() and then one write per attribute: a process killed between
        # those writes left a RUNNING trial without owner or key that no re-run could reap
        template = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING, user_attrs={**owner, **attrs, "key": key}
        )
        study = self.study  # opens the store, and with it self._storage and self._study_id
        trial_id = self._storage.create_new_trial(self._study_id, template_trial=template)
        return optuna.trial.Trial(study, trial_id)

    def heartbeat(self, trial: Any) -> Any:
        """A callable that records, at most every few seconds, that ``trial`` is still running."""
        last = [time.time()]

        def beat() -> None:
            now = time.time()
            if now - last[0] >= BEAT_S:
                trial.set_user_attr("alive", now)
                last[0] = now

        return beat

    def finish(self, trial: Any, result: dict[str, Any]) -> None:
        """Store the metrics and mark the trial COMPLETE (its value is the validation accuracy)."""
        trial.set_user_attr("result", result)
        self.study.tell(trial, float(result["val_acc"]))

    def fail(self, trial: Any, error: str) -> None:
        optuna = _quiet_optuna()
        try:
            trial.set_user_attr("error", error[:500])
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        except Exception:  # noqa: BLE001, S110
            pass

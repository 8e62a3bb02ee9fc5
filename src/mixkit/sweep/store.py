"""Where trials live: an Optuna study in an RDB store (SQLite by default, PostgreSQL for many
machines), one study per protocol.

A trial is claimed by creating a RUNNING trial that carries its key, its owner (host, process id) and
a first heartbeat in one transaction; claims are made one at a time across every process of the
store (a PostgreSQL advisory lock, or a lock file beside a SQLite file), so a key has at most one
live claim. While the trial runs, a thread of its process writes a heartbeat every ``heartbeat``
seconds, timed by the database's clock, so machines need no common clock. A claim is stale when its
heartbeat is older than ``grace`` seconds, or at once when its process is gone from this host; a stale
claim is marked FAIL (recorded why) before its key is claimed again. A trial is stored COMPLETE with
all its metrics the moment it ends, and only while its claim still stands: the state change locks
the trial's row and refuses a trial that is no longer RUNNING, so a key is COMPLETE at most once,
even when a worker whose claim was taken over still finishes.

Settings: ``MIXKIT_SWEEP_HEARTBEAT`` (seconds between heartbeats, default 10),
``MIXKIT_SWEEP_GRACE`` (seconds without one before a claim on another host is stale, default 120,
at least twice the heartbeat), ``MIXKIT_SWEEP_HOST`` (the name a worker gives its machine; default
the host name; claims under this worker's own name are also checked by process id).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import SweepError

__all__ = [
    "GRACE_S",
    "HEARTBEAT_S",
    "TrialStore",
    "heartbeat_settings",
    "study_name_for",
]

HEARTBEAT_S = 10.0  # seconds between two heartbeats of a running trial
GRACE_S = 120.0  # a RUNNING trial whose last heartbeat is older than this is stale
ENV_HEARTBEAT = "MIXKIT_SWEEP_HEARTBEAT"
ENV_GRACE = "MIXKIT_SWEEP_GRACE"
ENV_HOST = "MIXKIT_SWEEP_HOST"
_SCHEMA_LOCK = "mixkit-sweep-schema"


def study_name_for(config: dict[str, Any]) -> str:
    """A study name that changes with every setting that changes what a trial means."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    return f"mixkit-sweep-{config.get('data', 'data')}-{digest}"


def heartbeat_settings() -> tuple[float, float]:
    """``(heartbeat, grace)`` in seconds, from the environment or the defaults."""
    values = []
    for name, default in ((ENV_HEARTBEAT, HEARTBEAT_S), (ENV_GRACE, GRACE_S)):
        text = os.environ.get(name, "").strip()
        if not text:
            values.append(default)
            continue
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if not (v > 0 and v < float("inf")):
            raise SweepError(f"{name} must be a positive number of seconds, got {text!r}")
        values.append(v)
    beat, grace = values
    if grace < 2 * beat:
        raise SweepError(
            f"{ENV_GRACE} ({grace:g} s) must be at least twice {ENV_HEARTBEAT} ({beat:g} s), "
            "or live trials would look stale between two heartbeats"
        )
    return beat, grace


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


def _pid_namespace() -> int | None:
    """The inode of this process's PID namespace (Linux), so that two containers that share a host
    name never judge each other's process ids."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def _lock_id(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].lower()


_NOW_SQL = {  # seconds since the epoch by the database's clock
    "postgresql": "SELECT EXTRACT(EPOCH FROM clock_timestamp())",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
    "mysql": "SELECT UNIX_TIMESTAMP(NOW(6))",
}


class _Heartbeat:
    """A daemon thread that records, every ``interval`` seconds, that one trial is still running."""

    def __init__(self, store: TrialStore, trial_id: int, interval: float) -> None:
        self.store, self.trial_id, self.interval = store, trial_id, interval
        self.lost = False  # set once the store refuses the heartbeat: the claim was taken over
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="mixkit-sweep-heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        optuna = _quiet_optuna()
        while not self._stop.wait(self.interval):
            try:
                self.store._storage.set_trial_user_attr(
                    self.trial_id, "alive", self.store._db_now()
                )
            except optuna.exceptions.UpdateFinishedTrialError:
                self.lost = True
                return
            except Exception:  # noqa: BLE001, S112 - a database hiccup: the next beat tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=300)


class TrialStore:
    """The sweep's view of one Optuna study (opened lazily in each process)."""

    def __init__(self, url: str, study_name: str, config: dict[str, Any] | None = None) -> None:
        self.url = url
        self.study_name = study_name
        self.config = config
        self.heartbeat_s, self.grace_s = heartbeat_settings()
        self._study: Any = None
        self._storage: Any = None
        self._study_id: int | None = None
        self._lock_engine: Any = None
        self._beats: dict[int, _Heartbeat] = {}

    @property
    def display_url(self) -> str:
        """The URL with its password masked, for logs and reports."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: shown as given
            return self.url

    # -- opening -----------------------------------------------------------------------------------
    @property
    def study(self) -> Any:
        if self._study is None:
            self._study = self._open()
        return self._study

    def _open(self) -> Any:
        optuna = _quiet_optuna()
        scheme = _scheme(self.url)
        engine: dict[str, Any] = {}
        if scheme == "sqlite":
            # isolation_level None: the driver leaves transactions to the BEGIN IMMEDIATE below
            engine = {"connect_args": {"timeout": 120, "isolation_level": None}}
        try:
            # Creating the tables and the study is serialised across processes: two workers started
            # together on an empty PostgreSQL database otherwise both issue CREATE TABLE, and one
            # dies on a duplicate row in the catalogue (pg_type_typname_nsp_index).
            with self._lock(_SCHEMA_LOCK):
                storage = optuna.storages.RDBStorage(self.url, engine_kwargs=engine)
                if scheme == "sqlite":
                    _begin_immediate(storage.engine)
                study = optuna.create_study(
                    storage=storage,
                    study_name=self.study_name,
                    direction="maximize",
                    load_if_exists=True,
                )
                if self.config is not None and "config" not in study.user_attrs:
                    study.set_user_attr("config", self.config)
        except SweepError:
            raise
        except Exception as exc:  # noqa: BLE001
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SweepError(f"cannot open the results store {self.display_url!r}: {msg}") from None
        self._storage = storage
        self._study_id = storage.get_study_id_from_name(self.study_name)
        return study

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Hold a lock named ``name`` shared by every process using this store."""
        scheme = _scheme(self.url)
        if scheme == "postgresql":
            import sqlalchemy

            if self._lock_engine is None:
                self._lock_engine = sqlalchemy.create_engine(
                    self.url, poolclass=sqlalchemy.pool.NullPool
                )
            key = {"k": _lock_id(f"{name}:{self.study_name}" if name != _SCHEMA_LOCK else name)}
            with self._lock_engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), key)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), key)
                    conn.commit()
            return
        path = self._sqlite_path() if scheme == "sqlite" else None
        try:
            import fcntl
        except ImportError:  # not POSIX: claims are not serialised across processes
            fcntl = None  # type: ignore[assignment]
        handle = None
        if path is not None and fcntl is not None:
            try:
                handle = open(f"{path}.lock", "a+b")  # noqa: SIM115 - closed below
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            except OSError:  # a read-only folder: no lock, as for other databases
                if handle is not None:
                    handle.close()
                handle = None
        try:
            yield
        finally:
            if handle is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()

    def _sqlite_path(self) -> str | None:
        from sqlalchemy.engine import make_url

        try:
            db = make_url(self.url).database
        except Exception:  # noqa: BLE001 - RDBStorage reports a bad URL
            return None
        return db if db and db != ":memory:" and not db.startswith("file:") else None

    def _db_now(self) -> float:
        """Seconds since the epoch by the database's clock (this machine's where it has none)."""
        sql = _NOW_SQL.get(_scheme(self.url))
        if sql is None:
            return time.time()
        with self._storage.engine.connect() as conn:
            value = conn.exec_driver_sql(sql).scalar()
            conn.commit()
        return float(value)

    def close(self) -> None:
        """Stop the heartbeats of this process's claims and close the database connections (the
        store opens again on next use)."""
        for hb in list(self._beats.values()):
            hb.stop()
        self._beats.clear()
        for engine in (getattr(self._storage, "engine", None), self._lock_engine):
            if engine is not None:
                engine.dispose()
        self._study = self._storage = self._study_id = self._lock_engine = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_study=None, _storage=None, _study_id=None, _lock_engine=None, _beats={})
        return state

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

    def _stale(self, t: Any, now: float) -> str | None:
        """Why the RUNNING claim ``t`` is stale, or None while it is live."""
        a = t.user_attrs
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        beat = float(a["alive"]) if "alive" in a else started
        if a.get("host") == _host() and a.get("pid") is not None:
            pid, ns = int(a["pid"]), a.get("pidns")
            if ns is None or _pid_namespace() is None or int(ns) == _pid_namespace():
                if pid == os.getpid():
                    if t._trial_id not in self._beats:  # left by an earlier sweep in this process
                        return f"its process {pid} no longer runs it"
                elif not _pid_alive(pid):
                    return f"its process {pid} on {a['host']} is gone"
        if now - beat > self.grace_s:
            return f"no heartbeat for {now - beat:.0f} s (grace {self.grace_s:g} s)"
        return None

    def _scan(self, reap: bool) -> tuple[set[str], set[str]]:
        """(keys COMPLETE, keys with a live claim); with ``reap``, stale claims are marked FAIL.
        A stale claim that cannot be marked (it finished meanwhile) counts as live."""
        optuna = _quiet_optuna()
        state = optuna.trial.TrialState
        now = self._db_now()
        done: set[str] = set()
        busy: set[str] = set()
        for t in self.study.get_trials(deepcopy=False, states=(state.COMPLETE, state.RUNNING)):
            key = t.user_attrs.get("key")
            if key is None:  # not a claim of this sweep (another writer of the study): left alone
                continue
            if t.state == state.COMPLETE:
                done.add(key)
                continue
            why = self._stale(t, now)
            if why is None or not reap or not self._reap(t._trial_id, why):
                busy.add(key)
        return done, busy

    def _reap(self, trial_id: int, why: str) -> bool:
        optuna = _quiet_optuna()
        try:
            self._storage.set_trial_user_attr(trial_id, "error", f"stale claim: {why}")
            return bool(
                self._storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            )
        except Exception:  # noqa: BLE001 - finished or reaped by another process meanwhile
            return False

    def busy(self, *, reap: bool = True) -> set[str]:
        """Keys RUNNING in a live process; with ``reap``, stale claims are marked FAIL."""
        _ = self.study
        if not reap:
            return self._scan(reap=False)[1]
        with self._lock("claim"):
            return self._scan(reap=True)[1]

    def pending(self, keys: list[str]) -> tuple[list[str], list[str]]:
        """Of ``keys`` not yet COMPLETE: those free to claim now, and those running elsewhere
        (stale claims among them are marked FAIL first, so their keys are free)."""
        _ = self.study
        with self._lock("claim"):
            done, busy = self._scan(reap=True)
        left = [k for k in keys if k not in done]
        return [k for k in left if k not in busy], [k for k in left if k in busy]

    # -- writing -----------------------------------------------------------------------------------
    def claim(self, key: str, attrs: dict[str, Any]) -> Any | None:
        """A RUNNING trial for ``key`` (with its heartbeat started), or None when the key is
        COMPLETE or claimed by a live process."""
        optuna = _quiet_optuna()
        study = self.study  # opens the store, and with it self._storage and self._study_id
        with self._lock("claim"):
            done, busy = self._scan(reap=True)
            if key in done or key in busy:
                return None
            owner = {"host": _host(), "pid": os.getpid(), "alive": self._db_now()}
            ns = _pid_namespace()
            if ns is not None:
                owner["pidns"] = ns
            # one transaction: however the process dies, the claim has its key, owner and heartbeat
            template = optuna.trial.create_trial(
                state=optuna.trial.TrialState.RUNNING, user_attrs={**attrs, **owner, "key": key}
            )
            trial_id = self._storage.create_new_trial(self._study_id, template_trial=template)
            self._beats[trial_id] = _Heartbeat(self, trial_id, self.heartbeat_s)
        return optuna.trial.Trial(study, trial_id)

    def heartbeat(self, trial: Any) -> Any:
        """A callable for the training loop's steps; heartbeats come from a thread started by
        :meth:`claim`, so this one has nothing to do (kept for callers that call it)."""

        def beat() -> None:
            return None

        return beat

    def claim_lost(self, trial: Any) -> bool:
        """Whether ``trial``'s claim was taken over (judged stale by another process)."""
        hb = self._beats.get(trial._trial_id)
        return hb is not None and hb.lost

    def _stop_beat(self, trial: Any) -> None:
        hb = self._beats.get(trial._trial_id)
        if hb is not None:
            hb.stop()

    def finish(self, trial: Any, result: dict[str, Any]) -> bool:
        """Store the metrics and mark the trial COMPLETE (its value is the validation accuracy;
        for regression minus the validation RMSE, for multi-label the validation mAP: the study
        maximises, and nothing selects on this value).

        Returns False, storing nothing, when the claim was taken over meanwhile (its key is then
        run by the process that took it over)."""
        optuna = _quiet_optuna()
        self._stop_beat(trial)
        try:
            trial.set_user_attr("result", result)
            self.study.tell(trial, _value(result))
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
            if self._storage.get_trial(trial._trial_id).state.is_finished():
                return False
            raise
        finally:
            self._beats.pop(trial._trial_id, None)
        return True

    def fail(self, trial: Any, error: str) -> None:
        optuna = _quiet_optuna()
        self._stop_beat(trial)
        try:
            trial.set_user_attr("error", error[:500])
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        except Exception:  # noqa: BLE001, S110 - finished or reaped meanwhile
            pass
        finally:
            self._beats.pop(trial._trial_id, None)


def _host() -> str:
    return os.environ.get(ENV_HOST, "").strip() or socket.gethostname()


def _begin_immediate(engine: Any) -> None:
    """Every SQLite transaction takes the write lock when it begins: Optuna's read-then-write
    transactions (a state change checks the state first) then wait for each other under the busy
    timeout instead of failing as a deadlock ("database is locked") when they overlap."""
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while the tables were created start over with it


def _value(result: dict[str, Any]) -> float:
    """The Optuna value of a finished trial (see :meth:`TrialStore.finish`)."""
    if "val_acc" in result:
        return float(result["val_acc"])
    if "val_rmse" in result:
        return -float(result["val_rmse"])
    value = float(result["val_map"])
    return 0.0 if math.isnan(value) else value  # NaN: no positive label in validation

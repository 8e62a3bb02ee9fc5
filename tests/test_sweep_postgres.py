"""One sweep shared by several workers on a real PostgreSQL server (Debian's `postgresql` package).

The server is started for this module (initdb in a temporary folder, a free port on 127.0.0.1) and
stopped after it. Skipped, with the reason, where the server binaries or the driver are missing. The
store's claim and heartbeat rules are checked on SQLite too: both backends behave the same.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("torch")
try:
    import psycopg
except ImportError:  # the PostgreSQL tests skip; the SQLite case of the store test still runs
    psycopg = None

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX server and signals")

TIMEOUT = 300  # seconds: a safety net only; every wait below is for a state seen in the store
HEARTBEAT, GRACE = "1", "4"  # MIXKIT_SWEEP_HEARTBEAT / MIXKIT_SWEEP_GRACE for the workers


def _server_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], check=False, capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if all((Path(c) / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    return None


def _as_server_user() -> list[str] | None:
    """The command prefix that runs the server's tools (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_server():
    """``(admin_url_prefix, new_database)``: a running server; ``new_database()`` gives the URL of a
    fresh, empty database."""
    if psycopg is None:
        pytest.skip("the sweep extra's PostgreSQL driver (psycopg) is not installed")
    bindir = _server_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    prefix = _as_server_user()
    if prefix is None:
        pytest.skip(
            "running as root without a 'postgres' user (and runuser) to start the server as"
        )
    root = Path(tempfile.mkdtemp(prefix="mixkit-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, "postgres", "postgres")

    def server(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*prefix, *args], check=False, capture_output=True, text=True, timeout=TIMEOUT, cwd=root
        )

    started = False
    try:
        init = server(
            str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        assert init.returncode == 0, init.stdout + init.stderr
        port = _free_port()
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        start = server(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
            "-w", "-t", "120", "-o", opts, "start",
        )  # fmt: skip
        started = start.returncode == 0
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        assert started, start.stdout + start.stderr + log
        base = f"postgresql://postgres@127.0.0.1:{port}"

        def new_database() -> str:
            name = f"sweep_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            return f"{base}/{name}"

        yield base, new_database
    finally:
        if started:
            server(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


# -- one claim per key, completed at most once ---------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sweep.db'}"
    _, new_database = request.getfixturevalue("pg_server")
    return new_database()


def test_a_claim_without_heartbeats_is_taken_over_and_its_owner_cannot_complete_it(
    store_url, monkeypatch
):
    from mixkit.sweep.store import TrialStore

    monkeypatch.setenv("MIXKIT_SWEEP_HEARTBEAT", "0.2")
    monkeypatch.setenv("MIXKIT_SWEEP_GRACE", "1")
    monkeypatch.setenv("MIXKIT_SWEEP_HOST", "machine-a")
    a = TrialStore(store_url, "s")
    mine = a.claim("k", {"seed": 0})
    monkeypatch.setenv("MIXKIT_SWEEP_HOST", "machine-b")
    b = TrialStore(store_url, "s")
    try:
        assert mine is not None and b.claim("k", {}) is None  # live: its heartbeats go on
        a._beats[mine._trial_id].stop()  # machine a stops beating, as when it dies or hangs
        deadline, theirs = time.time() + TIMEOUT, None
        while theirs is None:
            assert time.time() < deadline, "the silent claim never became stale"
            theirs = b.claim("k", {})
            time.sleep(0.05)  # polling interval only: what is waited for is the stored state
        assert b.finish(theirs, {"val_acc": 0.5}) is True
        assert a.finish(mine, {"val_acc": 0.9}) is False  # taken over: nothing stored
        trials = b.study.get_trials()
    finally:
        a.close()
        b.close()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert "no heartbeat" in trials[0].user_attrs["error"]
    assert trials[1].value == 0.5 and trials[1].user_attrs["host"] == "machine-b"


# -- many processes on an empty database at the same instant --------------------------------------
RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mixkit.sweep.store import TrialStore

    url, folder, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    (folder / f"ready-{me}").touch()
    deadline = time.time() + 300
    while not (folder / "go").exists():  # a barrier: every racer opens the store at once
        if time.time() > deadline:
            sys.exit("no go")
        time.sleep(0.005)
    store = TrialStore(url, "racing", {"data": "racing"})
    trial = store.claim("the-key", {"seed": 0})
    (folder / f"result-{me}").write_text("claimed" if trial is not None else "refused")
    while not (folder / "done").exists():  # alive until all have claimed: a claim whose process
        if time.time() > deadline:  # is gone from this host is free to take over
            sys.exit("no done")
        time.sleep(0.005)
    """
)


def test_workers_started_together_on_an_empty_database_create_it_once(pg_server, tmp_path):
    _, new_database = pg_server
    url = new_database()
    n = 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, str(tmp_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    try:
        deadline = time.time() + TIMEOUT
        while len(list(tmp_path.glob("ready-*"))) < n:
            assert time.time() < deadline, "the racers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        while len(list(tmp_path.glob("result-*"))) < n:
            assert time.time() < deadline, "the racers did not claim"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        results = sorted(f.read_text() for f in tmp_path.glob("result-*"))
        (tmp_path / "done").touch()
        outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err  # e.g. no 'duplicate key ... pg_type_typname_nsp_index'
    assert results == ["claimed"] + ["refused"] * (n - 1)
    reader = _Reader(url)
    try:
        assert reader.study_names() == ["racing"]
        study = reader.open().study
        assert study.user_attrs["config"] == {"data": "racing"}
        (running,) = study.get_trials()
    finally:
        reader.close()
    assert running.state.name == "RUNNING" and running.user_attrs["key"] == "the-key"


class _Reader:
    """Reads the shared study the way a worker opens it (so it never races the schema creation)."""

    def __init__(self, url: str) -> None:
        self.url, self.store = url, None

    def study_names(self) -> list[str]:
        with psycopg.connect(self.url) as conn:
            (exists,) = conn.execute("SELECT to_regclass('public.studies') IS NOT NULL").fetchone()
            return [r[0] for r in conn.execute("SELECT study_name FROM studies")] if exists else []

    def open(self):
        from mixkit.sweep.store import TrialStore

        if self.store is None:
            (name,) = self.study_names()
            self.store = TrialStore(self.url, name)
        return self.store

    def trials(self) -> list:
        if self.store is None and not self.study_names():
            return []
        return self.open().study.get_trials()

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


# -- two sweep workers, one killed in the middle of a trial ---------------------------------------
HOLD_MODEL = textwrap.dedent(
    """
    import os, threading, time
    from pathlib import Path
    from torch import nn

    trained = 0

    class Net(nn.Module):
        def __init__(self, input_shape, num_classes):
            super().__init__()
            d = 1
            for s in input_shape:
                d *= s
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, num_classes))
            self.counted = False

        def forward(self, x):
            hold, wait = os.environ.get("HOLD_MARKER"), os.environ.get("WAIT_FOR")
            if self.training and not self.counted:
                global trained
                trained += 1
                self.counted = True
                if hold and trained == 2:  # this worker's second trial never ends
                    Path(hold).touch()
                    threading.Event().wait()
                if wait and trained == 1:  # this worker's first trial waits for the file WAIT_FOR
                    deadline = time.time() + 300
                    while not Path(wait).exists() and time.time() < deadline:
                        time.sleep(0.05)
            return self.body(x)

    def factory(input_shape, num_classes):
        return Net(input_shape, num_classes)
    """
)
GRID = ["--methods", "none,mixup", "--alphas", "1.0", "--seeds", "2"]


def _worker(url: str, out: Path, host: str, env: dict[str, str]) -> subprocess.Popen:
    args = [
        sys.executable, "-m", "mixkit.cli", "sweep", "--data", "digits", "--storage", url,
        "--out", str(out), "--model", "holdmodel:factory", "--epochs", "2",
        "--labels-per-class", "4", "--jobs", "1", "--quiet", *GRID,
    ]  # fmt: skip
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**env, "MIXKIT_SWEEP_HOST": host},
    )


def test_two_workers_share_a_sweep_and_one_takes_over_a_killed_workers_trial(pg_server, tmp_path):
    _, new_database = pg_server
    url = new_database()  # empty: both workers create the tables at the same moment
    (tmp_path / "holdmodel.py").write_text(HOLD_MODEL)
    marker = tmp_path / "held"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "MIXKIT_SWEEP_HEARTBEAT": HEARTBEAT,
        "MIXKIT_SWEEP_GRACE": GRACE,
    }
    reader = _Reader(url)
    a = _worker(url, tmp_path / "a", "worker-a", {**env, "HOLD_MARKER": str(marker)})
    release = tmp_path / "release"  # b's first trial waits for it, so a gets two trials
    b = _worker(url, tmp_path / "b", "worker-b", {**env, "WAIT_FOR": str(release)})
    try:
        # wait until worker a is inside its second trial: held there, its claim RUNNING in the store
        deadline, held = time.time() + TIMEOUT, None
        while held is None:
            assert time.time() < deadline, "worker a never reached its second trial"
            for p in (a, b):
                if p.poll() is not None:
                    pytest.fail(
                        f"a worker ended early (exit {p.returncode}):\n{p.communicate()[1]}"
                    )
            if marker.exists():
                mine = [t for t in reader.trials() if t.user_attrs.get("host") == "worker-a"]
                running = [t for t in mine if t.state.name == "RUNNING"]
                if running:
                    (held,) = running
            time.sleep(0.1)  # polling interval only: what is waited for is the stored state
        os.killpg(a.pid, signal.SIGKILL)
        a.communicate(timeout=TIMEOUT)
        release.touch()
        before = {t.number: t for t in reader.trials() if t.state.name == "COMPLETE"}
        assert any(t.user_attrs["host"] == "worker-a" for t in before.values())
        _, err = b.communicate(timeout=TIMEOUT)
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
        trials = reader.trials()
        reader.close()
    assert b.returncode == 0, err
    assert (tmp_path / "b" / "report.md").exists()

    keys = {t.user_attrs["key"] for t in trials}
    assert len(keys) == 4
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["key"] for t in complete) == sorted(keys)  # each exactly once
    assert "RUNNING" not in {t.state.name for t in trials}
    # the killed worker's trial: found stale by its heartbeat, then run by the other worker
    reaped = next(t for t in trials if t.number == held.number)
    assert reaped.state.name == "FAIL"
    assert "no heartbeat" in reaped.user_attrs["error"]
    (redone,) = [t for t in complete if t.user_attrs["key"] == held.user_attrs["key"]]
    assert redone.user_attrs["host"] == "worker-b" and redone.datetime_start > held.datetime_start
    # what had finished before the kill was kept as it was, and no key was run after it completed
    for n, t in before.items():
        now = next(x for x in trials if x.number == n)
        assert now.state.name == "COMPLETE" and now.datetime_complete == t.datetime_complete
    for t in complete:
        later = [
            x
            for x in trials
            if x.user_attrs["key"] == t.user_attrs["key"] and x.datetime_start > t.datetime_complete
        ]
        assert later == [], t.user_attrs["key"]
    report = (tmp_path / "b" / "report.md").read_text()
    assert "Incomplete" not in report

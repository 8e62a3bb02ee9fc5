"""`mixkit sweep` from the command line: bad input gives one line and a non-zero exit without touching
the store; a killed or interrupted sweep resumes without redoing finished trials."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")
pytest.importorskip("torch")
from click.testing import CliRunner

import mixkit
from mixkit.cli import cli

TINY = [
    "--seeds",
    "2",
    "--epochs",
    "2",
    "--labels-per-class",
    "4",
    "--alphas",
    "0.4",
    "--jobs",
    "1",
    "--quiet",
]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """A folder holding a finished tiny sweep (its store and report)."""
    out = tmp_path_factory.mktemp("existing")
    res = CliRunner().invoke(cli, ["sweep", "--methods", "none", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    assert (out / "sweep.db").exists()
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    gen = np.random.default_rng(0)
    (tmp / "garbage.npz").write_bytes(b"this is not a zip file")
    np.savez(tmp / "lengths.npz", X=gen.random((10, 3)), y=np.arange(9) % 2)
    np.savez(tmp / "one_class.npz", X=gen.random((10, 3)), y=np.zeros(10, dtype=int))
    np.savez(tmp / "few.npz", X=gen.random((12, 3)), y=np.array([0] * 10 + [1] * 2))
    (tmp / "t.csv").write_text("a,b,cls\n1,2,x\n3,4,y\n")
    return {
        "missing path": (
            ["--data", str(tmp / "nope.npz")],
            r"neither a bundled set .* nor an existing path",
        ),
        "unreadable file": (["--data", str(tmp / "garbage.npz")], r"cannot read as \.npz"),
        "X and y lengths": (
            ["--data", str(tmp / "lengths.npz")],
            r"X has 10 samples but y has 9 labels",
        ),
        "label column": (
            ["--data", str(tmp / "t.csv"), "--label-column", "kind"],
            r"no label column 'kind'; columns are: a, b, cls",
        ),
        "one class": (
            ["--data", str(tmp / "one_class.npz")],
            r"1 class\(es\); classification needs at least 2",
        ),
        "too few in a class": (
            ["--data", str(tmp / "few.npz")],
            r"class '1' has 2 example\(s\); the split needs at least 3 per class",
        ),
        "unknown method": (
            ["--methods", "none,mixupp"],
            r"unknown method 'mixupp'; available: none, .*mixup",
        ),
        "unknown option": (
            ["--methods", "cutmix:size=3"],
            r"unknown option 'size'; CutMix takes: alpha",
        ),
        "bad option value": (["--methods", "cutmix:lam_mode=often"], r"lam_mode must be one of"),
        "invalid alphas": (
            ["--alphas", "0.2,x"],
            r"--alphas must be a comma list of positive numbers",
        ),
        "negative alpha": (["--alphas", "-0.2"], r"--alphas must be positive finite numbers"),
        "factory import": (
            ["--model", "no_such_module_xyz:make"],
            r"no module named 'no_such_module_xyz'; looked on sys.path and in the current folder",
        ),
        "factory missing": (
            ["--model", "math:no_such_function"],
            r"module 'math' .*has no callable 'no_such_function'",
        ),
        "bad storage url": (["--storage", "nodb://x/y"], r"cannot open the results store"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing path",
        "unreadable file",
        "X and y lengths",
        "label column",
        "one class",
        "too few in a class",
        "unknown method",
        "unknown option",
        "bad option value",
        "invalid alphas",
        "negative alpha",
        "factory import",
        "factory missing",
        "bad storage url",
    ],
)
def test_bad_input_is_one_line_non_zero_and_leaves_the_store_alone(case, store_dir, tmp_path):
    import re

    args, match = _bad_inputs(tmp_path)[case]
    before = _digest(store_dir / "sweep.db")
    res = CliRunner().invoke(cli, ["sweep", *TINY, "--out", str(store_dir), *args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("mixkit sweep: error: ")
    assert re.search(match, err), err
    assert _digest(store_dir / "sweep.db") == before
    assert _complete_in_store(store_dir) == 2  # the store still reads, nothing lost


def _complete_in_store(out: Path) -> int:
    import optuna

    url = f"sqlite:///{out / 'sweep.db'}"
    (name,) = optuna.get_all_study_names(url)
    study = optuna.load_study(study_name=name, storage=url)
    return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))


def test_help_names_every_option():
    res = CliRunner().invoke(cli, ["sweep", "--help"])
    assert res.exit_code == 0
    for opt in (
        "--data",
        "--label-column",
        "--methods",
        "--alphas",
        "--seeds",
        "--epochs",
        "--labels-per-class",
        "--imbalance",
        "--out",
        "--storage",
        "--jobs",
        "--train",
        "--device",
        "--model",
    ):
        assert opt in res.output, opt


def test_preview_still_works(tmp_path):
    res = CliRunner().invoke(cli, ["preview", "--out", str(tmp_path), "-n", "3"])
    assert res.exit_code == 0 and (tmp_path / "preview.png").exists()


# -- interruption ----------------------------------------------------------------------------------
RESUME = {"methods": "none,mixup", "alphas": "1.0", "seeds": 3, "epochs": 3, "labels_per_class": 4}


def _cli_args(out: Path, jobs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mixkit.cli",
        "sweep",
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "--quiet",
        "--methods",
        RESUME["methods"],
        "--alphas",
        RESUME["alphas"],
        "--seeds",
        str(RESUME["seeds"]),
        "--epochs",
        str(RESUME["epochs"]),
        "--labels-per-class",
        str(RESUME["labels_per_class"]),
    ]


def _states(db: Path) -> list[tuple[int, str, str | None]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute(
                "SELECT number, state, datetime_complete FROM trials ORDER BY number"
            ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def _run_until(out: Path, n_complete: int, sig: int, jobs: int = 1) -> subprocess.CompletedProcess:
    """Start the CLI in its own process group; once ``n_complete`` trials are stored, send ``sig``
    to the whole group, as a terminal does for Ctrl-C."""
    # A shell that starts the tests in the background sets SIGINT to ignored, and children inherit
    # that; a handler is reset at exec, so with one installed the CLI sees Ctrl-C as from a terminal.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            _cli_args(out, jobs),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    stored = 0
    deadline = time.time() + 600  # generous: the machine may be busy
    while time.time() < deadline and proc.poll() is None:
        stored = sum(s == "COMPLETE" for _, s, _ in _states(out / "sweep.db"))
        if stored >= n_complete:
            break
        time.sleep(0.1)  # polling interval only: what is waited for is the stored state
    if proc.poll() is not None:
        stdout, stderr = proc.communicate()
        pytest.fail(
            f"the sweep ended (exit {proc.returncode}) before it could be interrupted:\n{stderr}"
        )
    if stored < n_complete:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{stored} of {n_complete} trials stored after 600 s; the sweep was killed")
    os.killpg(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _check_resume(out: Path, before: list[tuple[int, str, str | None]]) -> None:
    finished = [(n, t) for n, s, t in before if s == "COMPLETE"]
    res = mixkit.sweep("digits", out=out, progress=False, **RESUME)
    total = 2 * RESUME["seeds"]
    assert res.skipped == len(finished) and res.ran == total - len(finished)
    assert res.missing == 0 and len(res.trials) == total
    after = {n: (s, t) for n, s, t in _states(out / "sweep.db")}
    for n, t in finished:  # finished trials were kept as they were, not run again
        assert after[n] == ("COMPLETE", t)
    assert sum(s == "COMPLETE" for s, _ in after.values()) == total
    assert len({t["key"] for t in res.trials}) == total
    assert "RUNNING" not in {s for s, _ in after.values()}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_sweep_resumes_without_redoing_finished_trials(tmp_path):
    res = _run_until(tmp_path, 2, signal.SIGKILL)
    assert res.returncode == -signal.SIGKILL
    before = _states(tmp_path / "sweep.db")
    assert sum(s == "COMPLETE" for _, s, _ in before) >= 2
    assert any(s == "RUNNING" for _, s, _ in before) or len(before) < 2 * RESUME["seeds"]
    _check_resume(tmp_path, before)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_parallel_workers_cleanly_and_resumes(tmp_path):
    res = _run_until(tmp_path, 1, signal.SIGINT, jobs=2)
    assert res.returncode == 130, res.stderr
    assert "Traceback" not in res.stderr and "run the same command to resume" in res.stderr
    before = _states(tmp_path / "sweep.db")
    assert "RUNNING" not in {s for _, s, _ in before}  # the interrupted trial is marked failed
    assert (tmp_path / "report.md").exists()  # a partial report of what finished
    assert "Incomplete" in (tmp_path / "report.md").read_text()
    _check_resume(tmp_path, before)

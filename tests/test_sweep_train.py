"""`mixkit sweep` with your own training function (`train=`, `--train`), in-memory data, devices,
and parallel workers started from a script."""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

import mixkit
from mixkit.sweep import SweepError
from mixkit.sweep.train import TrialError, check_probabilities, resolve_device

QUICK = {"seeds": 2, "labels_per_class": 4, "alphas": "0.4", "progress": False}
ROOT = Path(__file__).resolve().parents[1]


def prior_fit(transform, X_train, y_train, *, seed, device, num_classes):
    """A training function without any framework: predicts the training class frequencies."""
    freq = np.bincount(y_train, minlength=num_classes) / len(y_train)
    return lambda X: np.tile(freq, (len(X), 1))


def _tabular(n=60, k=3, d=4, seed=0):
    gen = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = gen.normal(size=(n, d)) + y[:, None]
    return X, y


def _cli_in_folder(tmp_path, monkeypatch, module_name, source, args):
    """``mixkit sweep ARGS --data mine.npz`` run from a folder holding the user's module ``module_name``."""
    from click.testing import CliRunner

    from mixkit.cli import cli

    (tmp_path / f"{module_name}.py").write_text(source)
    X, y = _tabular()
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return CliRunner().invoke(cli, ["sweep", *args, "--data", "mine.npz", "--jobs", "1", "--quiet", "--out", "o"])


def _console():
    from rich.console import Console

    buf = io.StringIO()
    return Console(file=buf, width=200), buf


# -- the contract ----------------------------------------------------------------------------------
def test_train_function_gets_the_contract_arguments(tmp_path):
    calls = []

    def fit(transform, X_train, y_train, *, seed, device, num_classes):
        calls.append((transform, X_train, y_train, seed, device, num_classes))
        return prior_fit(
            transform, X_train, y_train, seed=seed, device=device, num_classes=num_classes
        )

    X, y = _tabular()
    res = mixkit.sweep((X, y), train=fit, methods="none,mixup", out=tmp_path, device="cpu", **QUICK)
    assert res.ran == 4 and not res.failed and res.missing == 0
    assert len(calls) == 4
    by_seed = {}
    for transform, Xt, yt, seed, device, k in calls:
        assert isinstance(Xt, np.ndarray) and Xt.dtype == np.float32 and Xt.shape == (12, 4)
        assert isinstance(yt, np.ndarray) and yt.dtype == np.int64 and set(yt.tolist()) == {0, 1, 2}
        assert device == "cpu" and k == 3 and seed in (0, 1)
        assert transform is None or isinstance(transform, mixkit.MixUp)
        by_seed.setdefault(seed, []).append(transform)
    # every seed trains each strategy once: no mixing (None) and MixUp(alpha=0.4)
    for ts in by_seed.values():
        assert sorted(type(t).__name__ for t in ts) == ["MixUp", "NoneType"]
        assert next(t for t in ts if t is not None).alpha == 0.4
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert len(trials) == 4 and all(t["test_acc"] is not None for t in trials)
    md = (tmp_path / "report.md").read_text()
    assert "test_sweep_train:test_train_function_gets_the_contract_arguments.<locals>.fit" in md


def test_the_training_arrays_are_copies(tmp_path):
    def vandal(transform, X_train, y_train, *, seed, device, num_classes):
        X_train[:] = np.nan  # nothing the function does reaches the next trial
        y_train[:] = 0
        return prior_fit(
            transform,
            X_train,
            np.arange(len(y_train)) % num_classes,
            seed=seed,
            device=device,
            num_classes=num_classes,
        )

    X, y = _tabular()
    res = mixkit.sweep((X, y), train=vandal, methods="none,mixup", out=tmp_path, **QUICK)
    assert res.ran == 4 and not res.failed


@pytest.mark.parametrize(
    "bad, match",
    [
        (
            lambda X: np.full((len(X), 2), 0.5),
            r"predict\(X_val\) returned shape \(12, 2\); expected class probabilities",
        ),
        (lambda X: np.full((len(X), 3), np.nan), r"NaN or infinite values in 12 of 12 rows"),
        (lambda X: np.ones((len(X), 3)), r"rows that do not sum to 1 .*row 0 sums to 3\).*softmax"),
        (lambda X: np.tile([1.5, -0.5, 0.0], (len(X), 1)), r"negative values"),
        (lambda X: "nope", r"returned a str, not an array of class probabilities"),
    ],
    ids=["shape", "nan", "sum", "negative", "not-an-array"],
)
def test_predictions_that_break_the_contract_fail_the_trial_clearly(tmp_path, bad, match):
    def fit(transform, X_train, y_train, *, seed, device, num_classes):
        if transform is None:
            return prior_fit(
                transform, X_train, y_train, seed=seed, device=device, num_classes=num_classes
            )
        return bad

    console, buf = _console()
    X, y = _tabular()
    res = mixkit.sweep(
        (X, y), train=fit, methods="none,mixup", out=tmp_path, console=console, **QUICK
    )
    assert res.ran == 2 and len(res.failed) == 2  # the sweep went on: no mixing finished
    import re

    assert all(re.search(match, f) for f in res.failed), res.failed
    assert all("TrialError" in f for f in res.failed)
    md = (tmp_path / "report.md").read_text()
    assert "## Failed trials" in md and "mixup(alpha=0.4)|seed=0" in md
    assert "trial failed" in buf.getvalue()


def test_a_raising_train_function_logs_the_users_traceback_and_the_sweep_goes_on(tmp_path):
    def fit(transform, X_train, y_train, *, seed, device, num_classes):
        if transform is not None and seed == 1:
            helper_that_breaks()
        return prior_fit(
            transform, X_train, y_train, seed=seed, device=device, num_classes=num_classes
        )

    def helper_that_breaks():
        raise RuntimeError("out of coffee")

    console, buf = _console()
    X, y = _tabular()
    res = mixkit.sweep(
        (X, y), train=fit, methods="none,mixup", out=tmp_path, console=console, **QUICK
    )
    assert res.ran == 3 and res.missing == 1
    (line,) = res.failed
    assert line.startswith("mixup(alpha=0.4)|seed=1: RuntimeError: out of coffee (traceback: ")
    log = Path(line.rsplit("(traceback: ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "logs" and log.exists()
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "helper_that_breaks" in text
    assert "out of coffee" in text and "in fit" in text
    assert "run.py" not in text  # the user's frames, not the sweep's
    assert "helper_that_breaks" in buf.getvalue()  # the console shows it too
    md = (tmp_path / "report.md").read_text()
    assert "## Failed trials" in md and "out of coffee" in md
    html = (tmp_path / "report.html").read_text()
    assert "Failed trials" in html
    # the failed trial is run again on the next run; the finished ones are not
    again = mixkit.sweep((X, y), train=prior_fit, methods="none,mixup", out=tmp_path, **QUICK)
    assert again.ran == 4  # another training function: another study, nothing reused
    same = mixkit.sweep((X, y), train=fit, methods="none,mixup", out=tmp_path, **QUICK)
    assert same.skipped == 3 and same.ran == 0 and len(same.failed) == 1


def test_a_train_function_returning_no_predict_fails_the_trial(tmp_path):
    def fit(transform, X_train, y_train, *, seed, device, num_classes):
        return None

    X, y = _tabular()
    res = mixkit.sweep((X, y), train=fit, methods="none", out=tmp_path, **QUICK)
    assert res.ran == 0 and len(res.failed) == 2
    assert "it must return predict(X)" in res.failed[0]


def test_different_train_functions_never_share_a_study(tmp_path):
    X, y = _tabular()
    a = mixkit.sweep((X, y), train=prior_fit, methods="none", out=tmp_path, **QUICK)
    b = mixkit.sweep(
        (X, y), train=functools.partial(prior_fit), methods="none", out=tmp_path, **QUICK
    )
    c = mixkit.sweep((X, y), train=prior_fit, methods="none", out=tmp_path, **QUICK)
    assert a.study_name != b.study_name and b.ran == 2
    assert c.study_name == a.study_name and c.ran == 0 and c.skipped == 2
    import optuna

    study = optuna.load_study(study_name=a.study_name, storage=a.storage)
    assert study.user_attrs["config"]["train"] == "test_sweep_train:prior_fit"


def test_check_probabilities_accepts_tensors_and_renormalises():
    torch = pytest.importorskip("torch")
    p = torch.softmax(torch.randn(5, 3), dim=1)
    out = check_probabilities(p, 5, 3, "predict(X)")
    assert out.dtype == np.float64 and np.allclose(out.sum(1), 1.0)
    near = np.full((2, 4), 0.25) + np.array([[1e-4, 0, 0, 0], [0, 0, 0, -1e-7]])
    assert np.allclose(check_probabilities(near, 2, 4, "p").sum(1), 1.0)
    with pytest.raises(TrialError, match=r"p returned shape \(2, 4\); expected .* \(3, 4\)"):
        check_probabilities(near, 3, 4, "p")


# -- bad input is refused before anything runs -------------------------------------------------------
def test_train_and_builtin_settings_do_not_mix(tmp_path):
    with pytest.raises(SweepError, match=r"epochs=3, model='mlp': these set the built-in trainer"):
        mixkit.sweep(_tabular(), train=prior_fit, epochs=3, model="mlp", out=tmp_path, **QUICK)
    assert not (tmp_path / "sweep.db").exists()


def test_a_train_function_with_the_wrong_signature_is_refused(tmp_path):
    def fit(X, y):
        return None

    with pytest.raises(
        SweepError,
        match=r"called as fn\(transform, X_train, y_train, \*, seed, "
        r"device, num_classes\) -> predict, but its signature is \(X, y\)",
    ):
        mixkit.sweep(_tabular(), train=fit, out=tmp_path, **QUICK)
    with pytest.raises(SweepError, match=r"train must be a function or 'module:function', got int"):
        mixkit.sweep(_tabular(), train=3, out=tmp_path, **QUICK)


def test_an_unpicklable_train_function_with_jobs_is_refused(tmp_path):
    with pytest.raises(SweepError, match=r"jobs=2: .* cannot be pickled .* or use jobs=1"):
        mixkit.sweep(_tabular(), train=lambda *a, **k: None, jobs=2, out=tmp_path, **QUICK)


# -- in-memory data ---------------------------------------------------------------------------------
def test_in_memory_arrays_and_lists_with_a_name(tmp_path):
    X, y = _tabular()
    res = mixkit.sweep((X, y), train=prior_fit, methods="none", out=tmp_path / "a", **QUICK)
    assert res.dataset == "arrays" and res.ran == 2
    named = mixkit.sweep(
        [X.tolist(), [f"c{v}" for v in y]],
        name="blobs",
        train=prior_fit,
        methods="none",
        out=tmp_path / "b",
        **QUICK,
    )
    assert named.dataset == "blobs" and named.ran == 2 and "blobs" in named.study_name
    assert "blobs" in (tmp_path / "b" / "report.md").read_text()
    # other arrays under the same name and folder are another study
    other = mixkit.sweep(
        (X + 1.0, y), name="blobs", train=prior_fit, methods="none", out=tmp_path / "b", **QUICK
    )
    assert other.study_name != named.study_name and other.ran == 2
    with pytest.raises(SweepError, match=r"name must be a non-empty string"):
        mixkit.sweep((X, y), name=" ", train=prior_fit, out=tmp_path, **QUICK)


# -- the built-in trainer is the same contract --------------------------------------------------------
def test_a_model_factory_given_as_a_function(tmp_path):
    torch = pytest.importorskip("torch")

    def tiny(shape, k):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape)), k))

    res = mixkit.sweep(
        _tabular(), model=tiny, epochs=1, methods="none,mixup", out=tmp_path, **QUICK
    )
    assert res.ran == 4 and not res.failed
    md = (tmp_path / "report.md").read_text()
    assert "test_a_model_factory_given_as_a_function.<locals>.tiny" in md


def test_the_reference_trainer_follows_the_contract():
    pytest.importorskip("torch")
    from mixkit.sweep.train import ReferenceTrainer, TrainConfig

    X, y = _tabular()
    predict = ReferenceTrainer("mlp", TrainConfig(epochs=2))(
        mixkit.MixUp(alpha=0.4, num_classes=3),
        X.astype(np.float32),
        y.astype(np.int64),
        seed=0,
        device="cpu",
        num_classes=3,
    )
    p = predict(X[:7].astype(np.float32))
    assert p.shape == (7, 3) and np.allclose(p.sum(1), 1.0)


# -- devices ----------------------------------------------------------------------------------------
def test_device_auto_cpu_and_unavailable_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(SweepError, match=r"--device must be auto, cpu, cuda or cuda:N, got 'gpu'"):
        resolve_device("gpu")
    seen = []

    def fit(transform, X_train, y_train, *, seed, device, num_classes):
        seen.append(device)
        return prior_fit(
            transform, X_train, y_train, seed=seed, device=device, num_classes=num_classes
        )

    mixkit.sweep(_tabular(), train=fit, methods="none", device="auto", out=tmp_path, **QUICK)
    assert seen == [resolve_device("auto")] * 2
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the refusal is for machines without it")
    with pytest.raises(
        SweepError, match=r"--device cuda: CUDA is not available .* use --device cpu"
    ):
        mixkit.sweep(_tabular(), train=fit, device="cuda", out=tmp_path / "c", **QUICK)
    with pytest.raises(SweepError, match=r"--device cuda:1: CUDA is not available"):
        resolve_device("cuda:1")
    assert not (tmp_path / "c").exists()


# -- --train module:function ------------------------------------------------------------------------
def _cli(args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "mixkit.cli", "sweep", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_train_from_a_module_in_the_current_folder(tmp_path):
    (tmp_path / "my_training.py").write_text(
        textwrap.dedent("""
        import numpy as np

        def fit(transform, X_train, y_train, *, seed, device, num_classes):
            freq = np.bincount(y_train, minlength=num_classes) / len(y_train)
            return lambda X: np.tile(freq, (len(X), 1))
    """)
    )
    X, y = _tabular()
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    # no PYTHONPATH: the sweep and its two worker processes import it from the current folder
    res = _cli(
        [
            "--train",
            "my_training:fit",
            "--data",
            "mine.npz",
            "--methods",
            "none,mixup",
            "--alphas",
            "0.4",
            "--seeds",
            "2",
            "--jobs",
            "2",
            "--quiet",
            "--out",
            "o",
        ],
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "4 trials run" in res.stdout
    assert "my_training:fit" in (tmp_path / "o" / "report.md").read_text()


def _cli_error(args, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mixkit.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the current folder is added for the import
    res = CliRunner().invoke(cli, ["sweep", *args, "--quiet", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("mixkit sweep: error: ")
    return err


def test_cli_train_errors_say_what_was_tried(tmp_path, monkeypatch):
    (tmp_path / "my_broken_training.py").write_text(
        "import numpy as np\n\ndef fit(a, b):\n    pass\n"
    )
    err = _cli_error(["--train", "not_here_at_all:fit"], tmp_path, monkeypatch)
    assert (
        "--train not_here_at_all:fit: no module named 'not_here_at_all'; looked on sys.path and "
        f"in the current folder {tmp_path}" in err
    )
    err = _cli_error(["--train", "my_broken_training:nope"], tmp_path, monkeypatch)
    assert "module 'my_broken_training'" in err and "has no callable 'nope'" in err
    err = _cli_error(["--train", "my_broken_training:fit"], tmp_path, monkeypatch)
    assert "its signature is (a, b)" in err
    err = _cli_error(["--train", "my_broken_training:fit", "--epochs", "3"], tmp_path, monkeypatch)
    assert "epochs=3: these set the built-in trainer" in err
    err = _cli_error(["--train", "no_colon"], tmp_path, monkeypatch)
    assert "--train must be 'module:function', got 'no_colon'" in err
    assert not (tmp_path / "o" / "sweep.db").exists()


def test_cli_model_from_the_current_folder(tmp_path, monkeypatch):
    pytest.importorskip("torch")


    module = (
        "import torch\n\ndef tiny(shape, k):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(shape[0], k))\n"
    )
    res = _cli_in_folder(tmp_path, monkeypatch, "my_factory_module", module,
                         ["--model", "my_factory_module:tiny", "--methods", "none", "--seeds", "1", "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert "my_factory_module:tiny" in (tmp_path / "o" / "report.md").read_text()


def test_cli_device_cuda_without_cuda_is_one_clear_line(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    res = _cli(["--device", "cuda", "--quiet", "--out", "o"], cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("mixkit sweep: error: --device cuda: CUDA is not available")
    assert not (tmp_path / "o").exists()


# -- jobs > 1 from a script ----------------------------------------------------------------------------
SCRIPT = """
import numpy as np
import mixkit

def fit(transform, X_train, y_train, *, seed, device, num_classes):
    freq = np.bincount(y_train, minlength=num_classes) / len(y_train)
    return lambda X: np.tile(freq, (len(X), 1))

gen = np.random.default_rng(0)
y = np.arange(60) % 3
X = gen.normal(size=(60, 4)) + y[:, None]
"""
CALL = """res = mixkit.sweep((X, y), train=fit, methods="none,mixup", alphas="0.4", seeds=2,
                  jobs=2, out="o", progress=False)
print("selected:", res.selected, "ran:", res.ran)
"""


def _script(tmp_path, guarded):
    body = SCRIPT + (
        'if __name__ == "__main__":\n' + textwrap.indent(CALL, "    ") if guarded else CALL
    )
    (tmp_path / "run_sweep.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "run_sweep.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_jobs_from_a_script_without_a_main_guard_fails_loudly(tmp_path):
    res = _script(tmp_path, guarded=False)
    assert res.returncode != 0, res.stdout
    assert "selected:" not in res.stdout  # no result that looks like a finished sweep
    assert "SweepError" in res.stderr and "ended before running any trial" in res.stderr
    assert 'if __name__ == "__main__":' in res.stderr and "or use jobs=1" in res.stderr
    assert str(tmp_path / "run_sweep.py") in res.stderr
    # each worker says in one line why it stopped, instead of running the sweep again
    assert res.stderr.count("this is a worker process of a sweep with jobs > 1") == 2


def test_jobs_from_a_script_with_a_main_guard_runs(tmp_path):
    res = _script(tmp_path, guarded=True)
    assert res.returncode == 0, res.stderr
    assert "ran: 4" in res.stdout


# -- the documented examples ------------------------------------------------------------------------
def _load_example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pytorch_example_in_a_sweep(tmp_path):
    pytest.importorskip("torch")
    example = _load_example("sweep_byo_torch")
    res = mixkit.sweep(
        "digits",
        train=functools.partial(example.fit, epochs=2),
        methods="none,mixup,cutmix:alpha=1.0",
        out=tmp_path,
        **QUICK,
    )
    assert res.ran == 6 and not res.failed and res.missing == 0
    assert all(0.0 <= t["test_acc"] <= 1.0 for t in res.trials)
    assert "sweep_byo_torch:fit(epochs=2)" in (tmp_path / "report.md").read_text()


def test_the_guide_shows_the_tested_examples():
    import re

    guide = (ROOT / "docs" / "sweep.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
    for name in ("sweep_byo_torch", "sweep_byo_keras"):
        code = (ROOT / "examples" / f"{name}.py").read_text()
        assert code in blocks, f"docs/sweep.md should show examples/{name}.py as it is"


# -- Ctrl-C while worker processes run a user's training function ------------------------------------
SLOW_TRAINING = """
import os
import time


def fit(transform, X_train, y_train, *, seed, device, num_classes):
    open(f"started-{os.getpid()}", "w").close()
    while True:  # a long training run, never calling back into the sweep
        time.sleep(0.05)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_workers_inside_a_user_training_function(tmp_path):
    import signal
    import sqlite3
    import time

    (tmp_path / "slow_training.py").write_text(SLOW_TRAINING)
    X, y = _tabular()
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    args = [
        sys.executable,
        "-m",
        "mixkit.cli",
        "sweep",
        "--train",
        "slow_training:fit",
        "--data",
        "mine.npz",
        "--methods",
        "none",
        "--seeds",
        "3",
        "--jobs",
        "2",
        "--quiet",
        "--out",
        "o",
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # as in test_sweep_cli
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            args,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    deadline = time.time() + 600
    while len(list(tmp_path.glob("started-*"))) < 2 and proc.poll() is None:
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the two workers did not both start a trial within 600 s")
        time.sleep(0.1)  # polling interval only: what is waited for is the marker files
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "run the same command to resume" in stderr
    with sqlite3.connect(tmp_path / "o" / "sweep.db") as con:
        states = [s for (s,) in con.execute("SELECT state FROM trials")]
        errors = [
            e
            for (e,) in con.execute(
                "SELECT value_json FROM trial_user_attributes WHERE key='error'"
            )
        ]
    assert states and "RUNNING" not in states  # both interrupted trials are marked failed
    # by the workers themselves, stopped inside the training function (not reaped after a kill)
    assert errors.count('"interrupted"') == 2, errors


def test_cli_failed_trials_exit_1_and_are_listed(tmp_path, monkeypatch):


    module = (
        "import numpy as np\n\n"
        "def fit(transform, X_train, y_train, *, seed, device, num_classes):\n"
        "    if transform is not None:\n"
        "        raise ValueError('mixing is not supported by this pipeline')\n"
        "    freq = np.bincount(y_train, minlength=num_classes) / len(y_train)\n"
        "    return lambda X: np.tile(freq, (len(X), 1))\n"
    )
    res = _cli_in_folder(tmp_path, monkeypatch, "my_failing_training", module,
                         ["--train", "my_failing_training:fit", "--methods", "none,mixup", "--alphas", "0.4",
                          "--seeds", "2"])
    assert res.exit_code == 1, res.output
    assert (
        "2 trial(s) failed, first: mixup(alpha=0.4)|seed=0: ValueError: mixing is not" in res.stderr
    )
    assert "raise ValueError('mixing is not supported by this pipeline')" in res.stderr  # traceback
    md = (tmp_path / "o" / "report.md").read_text()
    assert md.count("ValueError: mixing is not supported by this pipeline") == 2
    assert len(list((tmp_path / "o" / "logs").glob("*.log"))) == 2


def exit_on_mixing(transform, X_train, y_train, *, seed, device, num_classes):
    """Kills its worker process on a mixing trial (as a crash in native code would)."""
    if transform is not None:
        os._exit(3)
    return prior_fit(transform, X_train, y_train, seed=seed, device=device, num_classes=num_classes)


def test_workers_that_die_during_the_sweep_are_reported_not_hidden(tmp_path):
    X, y = _tabular()
    res = mixkit.sweep(
        (X, y),
        train=exit_on_mixing,
        methods="none,mixup",
        jobs=2,
        out=tmp_path,
        **{**QUICK, "seeds": 3},
    )
    assert res.missing == 3  # the store's count: every mixing trial is missing
    (line,) = res.failed
    import re

    found = re.fullmatch(
        r"(\d) trial\(s\) did not run: the worker processes ended early \(exit codes 3, 3\); "
        r"run again to resume",
        line,
    )
    assert found, line
    assert (
        res.ran + int(found.group(1)) == 6
    )  # (a result sent just before a worker died may be lost)
    assert "Incomplete" in (tmp_path / "report.md").read_text()


def test_the_reference_trainer_seeds_training_draws_and_restores_torchs_rng():
    torch = pytest.importorskip("torch")
    from mixkit.sweep.train import ReferenceTrainer, TrainConfig

    def with_dropout(shape, k):
        return torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(shape[0], 16),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(16, k),
        )

    X, y = _tabular()
    X, y = X.astype(np.float32), y.astype(np.int64)
    trainer = ReferenceTrainer(with_dropout, TrainConfig(epochs=2))
    state = torch.random.get_rng_state()
    a = trainer(None, X, y, seed=3, device="cpu", num_classes=3)(X)
    assert torch.equal(torch.random.get_rng_state(), state)  # torch's global RNG as it was
    torch.rand(7)  # move the global RNG: the trial must not depend on it
    b = trainer(None, X, y, seed=3, device="cpu", num_classes=3)(X)
    c = trainer(None, X, y, seed=4, device="cpu", num_classes=3)(X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)

"""Every page under docs/integrations/ has a complete example that runs as a script.

The example is the page's ```python block; its first line ``# requires: a, b`` names the modules it
needs, and the page is skipped where one is missing (keras, datasets and torchvision are not in the
default test environment: ``make test-integrations`` and ``make test-torchvision`` run them).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "integrations"
PAGES = sorted(DOCS.glob("*.md"))


def example(page: pathlib.Path) -> tuple[str, list[str]]:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, f"{page.name} should have exactly one python example, has {len(blocks)}"
    code = blocks[0]
    first = code.splitlines()[0]
    assert first.startswith("# requires:"), f"{page.name}: the example starts with '# requires: ...'"
    return code, [m.strip() for m in first.split(":", 1)[1].split(",") if m.strip()]


def test_there_is_a_page_per_integration():
    assert {p.stem for p in PAGES} >= {"pytorch", "keras", "huggingface", "torchvision"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_example_runs(page, tmp_path):
    code, requires = example(page)
    missing = [m for m in requires if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{page.name} needs {', '.join(missing)}")
    script = tmp_path / f"{page.stem}_example.py"
    script.write_text(code)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_CACHE=str(tmp_path / "hf"),
               TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{page.name} example failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"{page.name} example printed nothing"


SWEEP_KERAS = pathlib.Path(__file__).resolve().parents[1] / "examples" / "sweep_byo_keras.py"
KERAS_DRIVER = """
import functools, importlib.util, sys
import mixkit

spec = importlib.util.spec_from_file_location("sweep_byo_keras", sys.argv[1])
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
res = mixkit.sweep("digits", train=functools.partial(example.fit, epochs=2), seeds=2, alphas="0.4",
                   methods="none,mixup,cutmix:alpha=1.0", labels_per_class=4, out="out",
                   progress=False)
assert res.ran == 6 and not res.failed and res.missing == 0, (res.ran, res.failed)
assert "sweep_byo_keras:fit(epochs=2)" in (res.out / "report.md").read_text()
# keras_mixer keeps alpha, lam_mode and k (mixup:k=3 is n-way in the layer too)
import mixkit.keras
layer = example.keras_mixer(mixkit.MixUp(0.4, k=3, lam_mode="sample"), 10, seed=0)
assert isinstance(layer, mixkit.keras.MixUp)
assert (layer.alpha, layer.k, layer.lam_mode) == (0.4, 3, "sample"), (layer.alpha, layer.k)
assert example.keras_mixer(mixkit.MixUp(0.4), 10, seed=0).k == 2
assert isinstance(example.keras_mixer(mixkit.CutMix(1.0), 10, seed=0), mixkit.keras.CutMix)
assert example.keras_mixer(None, 10, seed=0) is None
print(res.statement)
"""


def test_sweep_keras_example_runs(tmp_path):
    """docs/sweep.md's Keras training function (TensorFlow backend, mixkit.keras layers) in a sweep,
    and its keras_mixer. In a child process: TensorFlow loaded into this one aborts a later import
    of triton (by transformers, through torch._dynamo) in the same process."""
    missing = [m for m in ("keras", "tensorflow", "optuna") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the Keras sweep example needs {', '.join(missing)} (make test-integrations)")
    (tmp_path / "driver.py").write_text(KERAS_DRIVER)
    env = dict(os.environ, OMP_NUM_THREADS="1", KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "driver.py", str(SWEEP_KERAS)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), "the example printed no verdict"


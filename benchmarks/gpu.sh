#!/usr/bin/env bash
# GPU check of the Triton backend, one command, under 6 minutes:
#   1. the pure wheels the project needs that the machine lacks, installed offline from
#      benchmarks/wheels/ into build/gpu-site (nothing in the machine's python3 changes);
#   2. tests/test_kernels_triton.py compiled on the GPU (MIXKIT_TEST_DEVICE=cuda, no interpreter);
#   3. benchmarks/bench_gpu.py: the bandwidth / launches / syncs table.
# The machine needs python3 with torch (CUDA), triton, numba, pytest, hypothesis (timm and
# torchvision optional: the peers) and no package index.
#
# Before: on a machine with an index, fetch the wheels into the git-ignored folder that travels
# with the tree:
#   benchmarks/gpu.sh --fetch        # = pip download --no-deps --only-binary=:all: -d benchmarks/wheels ...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=benchmarks/wheels
SITE=build/gpu-site
# import name -> requirement, for every pure dependency of `import mixkit` and of the tests
PURE=("array_api_compat:array-api-compat>=1.5")

if [ "${1:-}" = "--fetch" ]; then
    mkdir -p "$WHEELS"
    echo '*' > "$WHEELS/.gitignore"   # wheels are never committed
    for entry in "${PURE[@]}"; do
        "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEELS" "${entry#*:}"
    done
    ls -l "$WHEELS"
    exit 0
fi

missing=()
for entry in "${PURE[@]}"; do
    "$PY" -c "import ${entry%%:*}" 2>/dev/null || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} from $WHEELS into $SITE (offline)"
    "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" --target "$SITE" "${missing[@]}"
fi

export PYTHONPATH="$PWD/src:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET
"$PY" -c "import torch, triton; assert torch.cuda.is_available(), 'no CUDA device'; \
print('==', torch.cuda.get_device_name(), 'torch', torch.__version__, 'triton', triton.__version__)"

echo "== tests on the GPU"
status=0
MIXKIT_TEST_DEVICE=cuda timeout 170 "$PY" -m pytest -q -p no:cacheprovider tests/test_kernels_triton.py \
    || status=$?

echo "== benchmark"
timeout 150 "$PY" benchmarks/bench_gpu.py --reps "${REPS:-20}" || status=$?
exit $status

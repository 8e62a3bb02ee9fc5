"""The Triton backend (mixkit.kernels._cuda) against a NumPy formula of the contract and the reference.

By default the kernels run under ``TRITON_INTERPRET=1`` on CPU tensors (no GPU needed), so the
shapes stay tiny. ``MIXKIT_TEST_DEVICE=cuda`` runs the same tests compiled on a GPU
(``benchmarks/gpu.sh``), plus the checks that only a GPU can make: one launch and no host
synchronisation per call.

The interpreter must be switched on before the kernels are defined. If this process imported the
backend without it (another test, or ``TRITON_INTERPRET=0``), the tests here are skipped and one test
runs this file in a fresh interpreter-enabled subprocess instead.
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

DEVICE = os.environ.get("MIXKIT_TEST_DEVICE", "cpu")
if DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("triton", reason="Triton is not installed: the CUDA backend cannot be tested")

from mixkit.kernels import _cuda, _layout, _reference

ROOT = Path(__file__).resolve().parents[1]
STALE = DEVICE == "cpu" and not _cuda.INTERPRETED
needs_fresh = pytest.mark.skipif(
    STALE, reason="mixkit.kernels._cuda was imported without TRITON_INTERPRET=1 in this process; "
    "test_in_a_fresh_interpreter runs this file in a subprocess")
EXAMPLES = int(os.environ.get("MIXKIT_TRITON_EXAMPLES", "12" if DEVICE == "cuda" else "25"))
cuda_only = pytest.mark.skipif(DEVICE != "cuda", reason="needs MIXKIT_TEST_DEVICE=cuda and a GPU")


@pytest.mark.skipif(not STALE, reason="the interpreter is active in this process")
def test_in_a_fresh_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", MIXKIT_TEST_DEVICE="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.fixture(scope="module")
def device():
    """"cpu" under the interpreter, "cuda" with MIXKIT_TEST_DEVICE=cuda."""
    if STALE:
        pytest.skip("see test_in_a_fresh_interpreter")
    if DEVICE == "cuda" and not torch.cuda.is_available():
        pytest.skip("MIXKIT_TEST_DEVICE=cuda but no CUDA device")
    return torch.device(DEVICE)


# ----------------------------------------------------------------------------------------------------
# the contract as a NumPy formula
# ----------------------------------------------------------------------------------------------------

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
INTS = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
DTYPES = FLOATS + INTS
WIDE = (torch.float64, torch.int32, torch.int64)  # computed in float64
KEEP = {torch.int64: 2**63 - 1024}  # the highest float64 value a result may take


def as_numpy(t):
    """A CPU tensor as NumPy; bfloat16 as its exact float32 values."""
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def formula(x, partner, w):
    """The element rule of the contract: ``w`` (float64, broadcasting to x) is the weight of x[i];
    rows with partner[i] == i are copies."""
    dtype = x.dtype
    a = as_numpy(x)
    b = a[partner]
    cdt = np.float64 if dtype in WIDE else np.float32
    w = np.broadcast_to(np.asarray(w, np.float64), a.shape)
    wa, wb = w.astype(cdt), (1.0 - w).astype(cdt)
    with np.errstate(invalid="ignore", over="ignore"):
        r = wa * a.astype(cdt) + wb * b.astype(cdt)
    if dtype in INTS:
        info = torch.iinfo(dtype)
        r = np.clip(np.rint(r), info.min, KEEP.get(dtype, info.max)).astype(a.dtype)
        r = np.clip(r, np.minimum(a, b), np.maximum(a, b))
        res = torch.from_numpy(r)
    else:
        res = torch.from_numpy(r).to(dtype)  # round to nearest even
    at, bt = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
    sel = torch.from_numpy(np.ascontiguousarray(wa))
    out = torch.where(sel == 1, at, torch.where(sel == 0, bt, res))
    own = torch.from_numpy(partner == np.arange(len(partner))).reshape((-1,) + (1,) * (a.ndim - 1))
    return torch.where(own, at, out)


def box_mask(shape, axes, start, stop):
    inside = np.ones(shape, bool)
    for k, a in enumerate(axes):
        pos = np.arange(shape[a]).reshape([-1 if d == a else 1 for d in range(len(shape))])
        lo = start[:, k].reshape((-1,) + (1,) * (len(shape) - 1))
        hi = stop[:, k].reshape((-1,) + (1,) * (len(shape) - 1))
        inside &= (pos >= lo) & (pos < hi)
    return inside


def full_mask(mask, axes, ndim):
    return _reference.broadcast_mask(mask, axes, ndim)


def assert_same(got, want, device):
    """Bit for bit (NaN equal to NaN) under the interpreter; on a GPU floats within one rounding."""
    got = got.detach().cpu()
    want = want.to(got.dtype)
    if got.dtype.is_floating_point and device.type == "cuda":
        eps = torch.finfo(got.dtype).eps
        torch.testing.assert_close(got, want, rtol=eps, atol=0, equal_nan=True)
    else:
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


# ----------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------


def values(rng, shape, dtype, specials):
    if dtype in INTS:
        info = torch.iinfo(dtype)
        lo, hi = (info.min, info.max) if rng.random() < 0.5 else (max(info.min, -50), min(info.max, 50))
        a = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64 if dtype != torch.uint8 else np.uint8)
        return torch.from_numpy(a).to(dtype)
    a = rng.normal(0, 100, size=shape)
    if specials:
        flat = a.reshape(-1)
        k = rng.integers(0, flat.size, size=max(1, flat.size // 8))
        flat[k] = rng.choice([np.inf, -np.inf, np.nan], size=k.size)
    return torch.from_numpy(a).to(dtype)


def mapping(rng, b, kind):
    rows = np.arange(b)
    if kind == "self":
        return rows
    if kind == "roll":
        return np.roll(rows, 1)
    if kind == "perm":
        return rng.permutation(b)
    if kind == "repeat":
        return rng.integers(0, b, size=b)
    p = rows.copy()  # pairs: disjoint swaps, odd one out stays
    s = rng.permutation(b)
    for i, j in zip(s[0::2], s[1::2]):
        p[i], p[j] = j, i
    return p


def weights(rng, shape):
    """Weights in [0, 1] with exact 0s and 1s and values whose float32 rounds to 1."""
    w = rng.uniform(0, 1, size=shape)
    pick = rng.random(size=shape)
    w[pick < 0.2] = 0.0
    w[(pick >= 0.2) & (pick < 0.4)] = 1.0
    w[(pick >= 0.4) & (pick < 0.45)] = 1 - 1e-9
    w[(pick >= 0.45) & (pick < 0.5)] = 0.5
    return w


def make_batch(rng, device, dtype, shape, layout, specials):
    """``x`` of ``shape`` stored densely in the memory order ``layout`` (a permutation of the
    sample axes: C order, channels_last and others)."""
    perm = (0, *[1 + int(k) for k in layout])
    dense = values(rng, tuple(shape[a] for a in perm), dtype, specials)
    x = dense.permute(tuple(int(k) for k in np.argsort(perm))).to(device)
    assert tuple(x.shape) == tuple(shape)
    return x


@contextlib.contextmanager
def tiles(tile, walk_tile, walk_rows):
    """Shrink the backend's tiles so tiny rows span several tiles and walks several chunks."""
    names = ("_TILE", "_WALK_TILE", "_WALK_MIN_TILE", "_WALK_ROWS")
    old = [getattr(_cuda, k) for k in names]
    for k, v in zip(names, (tile, walk_tile, min(walk_tile, _cuda._WALK_MIN_TILE), walk_rows)):
        setattr(_cuda, k, v)
    try:
        yield
    finally:
        for k, v in zip(names, old):
            setattr(_cuda, k, v)


@st.composite
def cases(draw, min_ndim=2):
    ndim = draw(st.integers(min_ndim, 4))
    b = draw(st.integers(1, 6))
    shape = (b, *draw(st.lists(st.integers(1, 5), min_size=ndim - 1, max_size=ndim - 1)))
    return {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "dtype": draw(st.sampled_from(DTYPES)),
        "shape": shape,
        "layout": draw(st.permutations(range(ndim - 1))),
        "kind": draw(st.sampled_from(["pairs", "perm", "roll", "repeat", "self"])),
        "mode": draw(st.sampled_from(["new", "out", "inplace"])),
        "specials": draw(st.booleans()),
        "tiles": draw(st.sampled_from([(2048, 512, 16), (4, 2, 2), (8, 4, 4), (16, 1, 1)])),
    }


def bits(t):
    """The elements' bit patterns (NaN compares equal to itself)."""
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def run(kernel, x, mode, *args):
    """Call a backend kernel new / into a separate buffer / in place; returns the result."""
    if mode == "inplace":
        target = x
    else:
        target = torch.empty_like(x)
        if mode == "out":
            bits(target).fill_(77)  # a buffer full of something else: every element must be written
    before = x.clone()
    assert kernel(x, target, *args) is True
    if mode != "inplace":
        assert torch.equal(bits(x), bits(before)), "x was written"
        assert target.stride() == x.stride()
    return target


def idle_rows(partner, idle):
    """The dispatcher's normalisation: rows that change nothing become self rows."""
    rows = np.arange(len(partner))
    return np.where(idle, rows, partner)


# ----------------------------------------------------------------------------------------------------
# kernels against the formula and the reference
# ----------------------------------------------------------------------------------------------------


@needs_fresh
@settings(max_examples=EXAMPLES, deadline=None)
@given(c=cases(min_ndim=1))
def test_blend(device, c):
    rng = np.random.default_rng(c["seed"])
    x = make_batch(rng, device, c["dtype"], c["shape"], c["layout"], c["specials"])
    b = c["shape"][0]
    partner = mapping(rng, b, c["kind"])
    lam = weights(rng, b)
    want = formula(x.cpu(), partner, lam.reshape((-1,) + (1,) * (x.ndim - 1)))
    with tiles(*c["tiles"]):
        got = run(_cuda.blend, x.clone(), c["mode"], partner, lam)
    assert_same(got, want, device)
    p = idle_rows(partner, lam == 1.0)
    ref = _reference.blend(x.cpu(), p, np.where(p == np.arange(b), 1.0, lam))
    assert_same(got, ref, device)


@st.composite
def boxes(draw):
    c = draw(cases())
    ndim = len(c["shape"])
    axes = tuple(sorted(draw(st.sets(st.integers(1, ndim - 1), min_size=1))))
    c["axes"] = axes
    return c


@needs_fresh
@settings(max_examples=EXAMPLES, deadline=None)
@given(c=boxes())
def test_paste(device, c):
    rng = np.random.default_rng(c["seed"])
    x = make_batch(rng, device, c["dtype"], c["shape"], c["layout"], c["specials"])
    shape, axes = c["shape"], c["axes"]
    b = shape[0]
    partner = mapping(rng, b, c["kind"])
    sizes = np.array([shape[a] for a in axes])
    a0 = rng.integers(0, sizes + 1, size=(b, len(axes)))
    a1 = rng.integers(0, sizes + 1, size=(b, len(axes)))
    start, stop = np.minimum(a0, a1), np.maximum(a0, a1)
    full = rng.random(b) < 0.2
    start[full], stop[full] = 0, sizes  # whole-sample boxes
    # the contract: a row with an empty box is a self row (box_spec drops length-1 axes)
    partner = idle_rows(partner, np.any(stop <= start, axis=1))
    inside = torch.from_numpy(box_mask(shape, axes, start, stop))
    want = torch.where(inside, x.cpu()[partner], x.cpu())
    with tiles(*c["tiles"]):
        got = run(_cuda.paste, x.clone(), c["mode"], partner, start, stop, axes)
    assert_same(got, want, device)
    assert_same(got, _reference.paste(x.cpu(), partner, start, stop, axes), device)


@needs_fresh
@settings(max_examples=EXAMPLES, deadline=None)
@given(c=boxes(), binary=st.sampled_from([None, "soft32", "float64", "bool"]))
def test_mask_mix(device, c, binary):
    rng = np.random.default_rng(c["seed"])
    x = make_batch(rng, device, c["dtype"], c["shape"], c["layout"], c["specials"])
    shape, axes = c["shape"], c["axes"]
    b = shape[0]
    partner = mapping(rng, b, c["kind"])
    mshape = (b, *[shape[a] for a in axes])
    if binary in (None, "soft32"):  # soft weights, float64 or float32 (the formula takes them as float64)
        mask = weights(rng, mshape).astype(np.float32 if binary else np.float64)
    else:
        mask = (rng.random(mshape) < 0.5).astype(binary)
    perm = _layout.dense_perm(shape, tuple(x.stride()))
    if _layout.mask_spec(shape, perm, axes, mask) is None:
        # mask axes not adjacent in memory order: no flat formula; left to the reference
        target = torch.zeros_like(x)
        assert _cuda.mask_mix(x, target, partner, mask, axes) is False
        assert not target.any()
        return
    with tiles(*c["tiles"]):
        got = run(_cuda.mask_mix, x.clone(), c["mode"], partner, mask, axes)
    assert_same(got, formula(x.cpu(), partner, full_mask(mask, axes, len(shape))), device)
    # the reference blends a self row with itself (rounding), the contract copies it: compare on
    # the plan with self rows' masks set to 1, which is the same result
    p = idle_rows(partner, np.all(mask.reshape(b, -1) == 1.0, axis=1))
    own = (p == np.arange(b)).reshape((-1,) + (1,) * (mask.ndim - 1))
    assert_same(got, _reference.mask_mix(x.cpu(), p, np.where(own, 1.0, mask), axes), device)


@needs_fresh
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["new", "out", "inplace"])
def test_float32_masks_mix_as_float64_masks_of_the_same_values(device, dtype, mode):
    """Soft masks travel as float32 (half the bytes of float64) with the same results: each weight is
    widened before ``1 - w``. Weights where that matters: tiny ones, the largest float32 below 1."""
    rng = np.random.default_rng(11)
    x = make_batch(rng, device, dtype, (5, 3, 4, 6), (1, 2, 0), False)  # channels_last
    partner = np.array([1, 0, 3, 4, 2])  # a pair and a 3-cycle: the walk route in place
    mask = weights(rng, (5, 4, 6)).astype(np.float32)
    mask.reshape(-1)[::5] = np.array([2.0**-30, 1e-40, np.nextafter(np.float32(1), np.float32(0))],
                                     np.float32)[np.arange(mask.size)[::5] % 3]
    with tiles(8, 4, 2):
        got = run(_cuda.mask_mix, x.clone(), mode, partner, mask, (2, 3))
        want = run(_cuda.mask_mix, x.clone(), mode, partner, mask.astype(np.float64), (2, 3))
    assert torch.equal(bits(got.cpu()), bits(want.cpu()))
    assert_same(got, formula(x.cpu(), partner, full_mask(mask, (2, 3), 4)), device)


@needs_fresh
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_in_place_on_a_long_cycle_in_several_chunks(device, dtype):
    """A permutation that is one cycle, walked in chunks of 2 rows of 4-element tiles: the saved
    tile carries the first row to the last."""
    rng = np.random.default_rng(5)
    x = make_batch(rng, device, dtype, (7, 3, 5), (0, 1), False)
    partner = np.roll(np.arange(7), -1)
    lam = rng.uniform(0, 1, 7)
    want = formula(x.cpu(), partner, lam.reshape(-1, 1, 1))
    with tiles(4, 4, 2):
        got = run(_cuda.blend, x.clone(), "inplace", partner, lam)
    assert_same(got, want, device)


@needs_fresh
def test_exact_weights_never_let_inf_or_nan_through(device):
    x = torch.tensor([[1.0, -2.0, 3.0], [np.inf, np.nan, -np.inf]], device=device)
    partner = np.array([1, 0])
    got = run(_cuda.blend, x.clone(), "new", partner, np.array([1.0, 0.0]))
    assert torch.equal(got.cpu(), torch.tensor([[1.0, -2.0, 3.0], [1.0, -2.0, 3.0]]))
    mask = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    got = run(_cuda.mask_mix, x.clone(), "inplace", partner, mask, (1,))
    torch.testing.assert_close(got.cpu(), torch.tensor([[1.0, -2.0, -np.inf], [1.0, np.nan, 3.0]]),
                               equal_nan=True, rtol=0, atol=0)


@needs_fresh
def test_integers_round_half_to_even_and_stay_between_the_sources(device):
    x = torch.tensor([[1, 2, 255, 0], [2, 3, 254, 255]], dtype=torch.uint8, device=device)
    got = run(_cuda.blend, x, "new", np.array([1, 0]), np.array([0.5, 0.5]))
    assert got.cpu().tolist() == [[2, 2, 254, 128], [2, 2, 254, 128]]
    # float64 cannot hold these: the result is clipped into range, then kept between the sources
    big = torch.tensor([[2**63 - 1, -(2**63)], [2**63 - 2, -(2**63) + 1]], dtype=torch.int64, device=device)
    got = run(_cuda.blend, big.clone(), "inplace", np.array([1, 0]), np.array([0.25, 0.75]))
    assert got.cpu().tolist() == [[2**63 - 2, -(2**63)], [2**63 - 2, -(2**63)]]
    assert_same(got, formula(big.cpu(), np.array([1, 0]), np.array([[0.25], [0.75]])), device)


# ----------------------------------------------------------------------------------------------------
# calls the backend leaves to the reference: False, nothing written
# ----------------------------------------------------------------------------------------------------


@needs_fresh
def test_unhandled_calls_return_false_before_writing(device):
    x = torch.arange(2 * 4 * 6, dtype=torch.float32, device=device).reshape(2, 4, 6)
    p, lam = np.array([1, 0]), np.array([0.5, 0.5])
    sentinel = torch.full_like(x, -7.0)

    def untouched(kernel, a, out, *args):
        before, kept = a.clone(), out.clone()
        assert kernel(a, out, *args) is False
        assert torch.equal(a, before) and torch.equal(out, kept)

    untouched(_cuda.blend, x[:, :, ::2], sentinel[:, :, ::2].clone(), p, lam)  # not dense
    untouched(_cuda.blend, x, sentinel.transpose(1, 2).contiguous().transpose(1, 2), p, lam)  # layouts differ
    untouched(_cuda.blend, x.to(torch.uint16), torch.zeros_like(x, dtype=torch.uint16), p, lam)
    untouched(_cuda.blend, x.to(torch.bool), torch.zeros_like(x, dtype=torch.bool), p, lam)
    assert _cuda.blend(x.cpu().numpy(), np.empty((2, 4, 6), np.float32), p, lam) is False
    y = torch.zeros((2, 2, 2, 2, 2, 2), device=device)
    ones = np.ones((2, 5), np.int64)
    untouched(_cuda.paste, y, y.clone(), p, 0 * ones, ones, (1, 2, 3, 4, 5))  # five box dimensions
    z = torch.zeros((2, 2, 3, 4), device=device)
    untouched(_cuda.mask_mix, z, z.clone(), p, np.full((2, 2, 4), 0.5), (1, 3))  # not adjacent in memory


# ----------------------------------------------------------------------------------------------------
# the in-place walk plan, simulated in NumPy exactly as the kernel runs it
# ----------------------------------------------------------------------------------------------------


def simulate_walk(x, partner, u):
    """The walk route's memory traffic: per segment, chunks of ``u`` rows load all, then store."""
    order, flag, seg = _cuda._walk_plan(partner, u)
    x = x.copy()
    for g in range(len(seg) - 1):
        saved = None
        for k0 in range(seg[g], seg[g + 1], u):
            ks = range(k0, min(k0 + u, seg[g + 1]))
            loads = []
            for k in ks:
                i = order[k]
                b = saved if flag[k] & _cuda._FAR else x[partner[i]].copy()
                loads.append((i, b))
            keep = [order[k] for k in ks if flag[k] & _cuda._SAVE]
            assert len(keep) <= 1
            if keep:
                saved = x[keep[0]].copy()
            for i, b in loads:
                assert b is not None
                x[i] = b
    return x, order, seg


@given(b=st.integers(1, 40), u=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["pairs", "perm", "roll", "repeat"]))
def test_walk_plan_reads_every_source_before_it_is_overwritten(b, u, seed, kind):
    rng = np.random.default_rng(seed)
    partner = mapping(rng, b, kind)
    x = rng.normal(size=(b, 3))
    got, order, seg = simulate_walk(x, partner, u)
    np.testing.assert_array_equal(got, x[partner])
    moving = np.flatnonzero(partner != np.arange(b))
    assert sorted(order.tolist()) == moving.tolist()
    label = _cuda._components(partner)
    for g in range(len(seg) - 1):  # one component per segment, and each component in one segment
        assert len(set(label[order[seg[g]:seg[g + 1]]].tolist())) == 1
    assert len(set(label[order].tolist())) == len(seg) - 1


def test_components_name_each_connected_part_of_the_partner_graph():
    p = np.array([1, 0, 3, 4, 2, 5, 5, 6, 0])
    label = _cuda._components(p)
    groups = {}
    for i, g in enumerate(label.tolist()):
        groups.setdefault(g, set()).add(i)
    assert sorted(map(sorted, groups.values())) == [[0, 1, 8], [2, 3, 4], [5, 6, 7]]


def test_plan_is_one_buffer_of_aligned_views():
    plan = _cuda._Plan()
    k = [plan.add(np.array([3, 1, 2])), plan.add(np.array([0.25, 1.0])), plan.add(np.zeros(0, np.int64))]
    views = plan.upload(torch.device("cpu"))
    assert len({v.untyped_storage().data_ptr() for v in views}) == 1
    assert views[k[0]].tolist() == [3, 1, 2] and views[k[1]].tolist() == [0.25, 1.0]
    assert all(v.data_ptr() % 16 == 0 for v in views)


# ----------------------------------------------------------------------------------------------------
# labels
# ----------------------------------------------------------------------------------------------------


@needs_fresh
@settings(max_examples=EXAMPLES, deadline=None)
@given(b=st.integers(1, 6), c=st.integers(1, 9), eps=st.sampled_from([0.0, 0.1, 0.5]),
       dtype=st.sampled_from(FLOATS), ydtype=st.sampled_from([torch.int64, torch.int32, torch.uint8]),
       seed=st.integers(0, 2**32 - 1))
def test_mix_labels(device, b, c, eps, dtype, ydtype, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=b)
    partner = mapping(rng, b, "repeat")
    lam = weights(rng, b)
    got = _cuda.mix_labels(torch.from_numpy(y).to(ydtype).to(device), partner, lam, c, eps, dtype)
    cdt = np.float64 if dtype == torch.float64 else np.float32
    t = np.eye(c)[y] * (1 - eps) + eps / c
    wa, wb = lam.astype(cdt)[:, None], (1.0 - lam).astype(cdt)[:, None]
    ta, tb = t.astype(cdt), t[partner].astype(cdt)
    want = np.where(wa == 1, ta, np.where(wa == 0, tb, wa * ta + wb * tb))
    assert got.dtype == dtype and tuple(got.shape) == (b, c)
    assert_same(got, torch.from_numpy(want).to(dtype), device)
    np.testing.assert_allclose(got.cpu().double().sum(1).numpy(), 1.0, rtol=1e-2)


@needs_fresh
def test_mix_labels_out_of_range_is_caught_on_the_device(device):
    y = torch.tensor([0, 3, 1], device=device)
    got = _cuda.mix_labels(y, np.array([0, 0, 1]), np.array([1.0, 0.5, 0.5]), 3, check=False)
    assert torch.isnan(got.cpu()[1:]).all() and not torch.isnan(got.cpu()[0]).any()
    if device.type == "cpu":  # on a GPU the device-side assert would end the process
        with pytest.raises(RuntimeError, match="class indices must lie in"):
            _cuda.mix_labels(y, np.array([0, 0, 1]), np.array([1.0, 0.5, 0.5]), 3)
    with pytest.raises(ValueError, match="num_classes must be at least 1"):
        _cuda.mix_labels(y, np.array([0, 0, 1]), np.ones(3), 0)
    with pytest.raises(ValueError, match="smoothing must lie in"):
        _cuda.mix_labels(y, np.array([0, 0, 1]), np.ones(3), 4, smoothing=1.0)
    with pytest.raises(TypeError, match="1-D tensor of integer class indices"):
        _cuda.mix_labels(y.float(), np.array([0, 0, 1]), np.ones(3), 4)
    with pytest.raises(ValueError, match="partner and lam must have shape"):
        _cuda.mix_labels(y, np.array([0, 0]), np.ones(3), 4)


# ----------------------------------------------------------------------------------------------------
# GPU only: one launch, no host synchronisation
# ----------------------------------------------------------------------------------------------------


def _calls(device):
    """One call of each route and kernel, and the label kernel: (name, call)."""
    x = torch.randn(8, 3, 16, 16, device=device)
    cl = x.contiguous(memory_format=torch.channels_last)
    p = np.roll(np.arange(8), 1)
    pairs = np.array([1, 0, 3, 2, 5, 4, 7, 6])
    lam = np.linspace(0.1, 0.9, 8)
    start, stop = np.full((8, 2), 2), np.full((8, 2), 9)
    mask = np.random.default_rng(0).random((8, 16, 16))
    y = torch.arange(8, device=device)
    return [
        ("blend new", lambda: _cuda.blend(x, torch.empty_like(x), p, lam)),
        ("blend in place, pairs", lambda: _cuda.blend(x, x, pairs, lam)),
        ("blend in place, walk", lambda: _cuda.blend(cl, cl, p, lam)),
        ("paste in place, walk", lambda: _cuda.paste(x, x, p, start, stop, (2, 3))),
        ("mask_mix new", lambda: _cuda.mask_mix(cl, torch.empty_like(cl), pairs, mask, (2, 3))),
        ("labels", lambda: _cuda.mix_labels(y, p, lam, 10, 0.1)),
    ]


class Counted:
    """A kernel whose launches are counted (``kernel[grid](...)``)."""

    def __init__(self, kernel, counts):
        self.kernel, self.counts = kernel, counts

    def __getitem__(self, grid):
        self.counts["launch"] += 1
        return self.kernel[grid]


@needs_fresh
def test_one_launch_and_one_plan_upload_per_call(device, monkeypatch):
    counts = {"launch": 0, "upload": 0}
    upload = _cuda._Plan.upload

    def counted_upload(plan, dev):
        counts["upload"] += 1
        return upload(plan, dev)

    monkeypatch.setattr(_cuda, "_mix_kernel", Counted(_cuda._mix_kernel, counts))
    monkeypatch.setattr(_cuda, "_labels_kernel", Counted(_cuda._labels_kernel, counts))
    monkeypatch.setattr(_cuda._Plan, "upload", counted_upload)
    for name, f in _calls(device):
        counts.update(launch=0, upload=0)
        assert f() is not False, name
        assert counts == {"launch": 1, "upload": 1}, name


@cuda_only
@needs_fresh
def test_no_host_synchronisation(device):
    calls = _calls(device)
    for _, f in calls:
        f()  # compile first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _, f in calls:
            f()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


@cuda_only
@needs_fresh
def test_one_launch_and_one_copy_per_call(device):
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    for name, f in _calls(device):
        f()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            f()
            torch.cuda.synchronize()
        on_gpu = [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]
        kernels = [n for n in on_gpu if not n.startswith(("Memcpy", "Memset"))]
        copies = [n for n in on_gpu if n.startswith("Memcpy HtoD")]
        # mix_labels adds the one-element kernel of torch._assert_async
        assert len(kernels) == (2 if name == "labels" else 1), (name, on_gpu)
        assert len(copies) == 1, (name, on_gpu)


# ----------------------------------------------------------------------------------------------------
# the GPU benchmark's code paths, dry run on the CPU
# ----------------------------------------------------------------------------------------------------


@needs_fresh
def test_bench_gpu_dry_run():
    if DEVICE == "cuda":
        pytest.skip("benchmarks/gpu.sh runs the real benchmark")
    env = dict(os.environ, TRITON_INTERPRET="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--dry-run"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in run.stdout.splitlines()
            if ln.startswith("| ") and not ln.startswith("| kernel")]
    kernels = {(r[0], r[1], r[2], r[3]) for r in rows if r[0] in ("blend", "paste", "mask_mix")}
    # every kernel x mode x lam kind x dtype, the walk route (roll) and the label kernel
    assert len(kernels) == 3 * 3 * 2 * 3 + 2, sorted(kernels)
    assert any(r[0] == "mix_labels" for r in rows)
    # bool masks and the n-way blend: every mode x lam kind x dtype (n-way: new and out=)
    assert len({(r[1], r[2], r[3]) for r in rows if r[0] == "mask_mix (bool)"}) == 3 * 2 * 3
    assert len({(r[1], r[2], r[3]) for r in rows if r[0] == "blend_many k=3"}) == 2 * 2 * 3
    assert all(r[8] == "1" and r[9] == "0" for r in rows), rows  # launches, syncs per call


@needs_fresh
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_blend_many_matches_the_reference(device, dtype):
    """n-way MixUp's kernel (``_nway_cuda``): copy rows, zero and unit weights, in place and into
    ``out``; bit for bit under the interpreter, on a GPU within a few roundings (the k-term sum may
    be contracted differently; integers within 1 after rounding)."""
    from mixkit.kernels import _nway_cuda

    rng = np.random.default_rng(11)
    b, k = 7, 4
    x = torch.from_numpy(rng.random((b, 3, 45)) * 100).to(dtype).to(device)
    sources = np.c_[np.arange(b), rng.integers(0, b, (b, k - 1))]
    weights = rng.dirichlet(np.ones(k), b)
    weights[2] = [0.0, 1.0, 0.0, 0.0]
    weights[3] = [0.5, 0.0, 0.5, 0.0]
    copy = np.zeros(b, bool)
    copy[4] = True
    weights[4] = [1.0, 0.0, 0.0, 0.0]
    ref = _reference.blend_many(x.cpu(), sources, weights, copy)
    out = torch.empty_like(x)
    assert _nway_cuda.blend_many(x, out, sources, weights, copy)
    y = x.clone()
    assert _nway_cuda.blend_many(y, y, sources, weights, copy)
    for got in (out, y):
        got = got.cpu()
        if device.type != "cuda":
            assert torch.equal(got, ref)
        elif dtype.is_floating_point:
            torch.testing.assert_close(got, ref, rtol=4 * torch.finfo(dtype).eps, atol=0)
        else:
            torch.testing.assert_close(got, ref, rtol=0, atol=1)
    assert torch.equal(out.cpu()[4], x.cpu()[4])  # a copy row is the sample itself

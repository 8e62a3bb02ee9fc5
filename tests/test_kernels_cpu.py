"""The numba CPU backend (``mixkit.kernels._cpu``) against the element rule of the backend contract.

Every result is compared bit for bit with a plain NumPy formula of the contract (and with
``mixkit.kernels._reference``), for every dtype, C-contiguous and permuted dense layouts (NumPy
transposes made dense, torch channels_last), a new output, a separate ``out`` and in place, and
arbitrary partner mappings (repeats, cycles, pairs, self). With ``tiny`` blocks the task split
(blocks of a few elements, many row segments) is exercised on small batches too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")
from mixkit.kernels import _cpu

torch = pytest.importorskip("torch")

HAVE_REFERENCE = importlib.util.find_spec("mixkit.kernels._reference") is not None

NP_DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
             "int64", "uint64"]
TORCH_DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64"]
SMALL = {"float16", "bfloat16", "float32", "int8", "uint8", "int16", "uint16"}  # computed in float32
BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# the integer ranges as compute-dtype values that stay inside the dtype (contract)
INT_RANGE = {"int64": (-(2.0**63), 2.0**63 - 1024), "uint64": (0.0, 2.0**64 - 2048)}

SETTINGS = settings(max_examples=int(os.environ.get("MIXKIT_CPU_EXAMPLES", "30")), deadline=None)


# ----------------------------------------------------------------------------------------------------
# the contract in plain NumPy
# ----------------------------------------------------------------------------------------------------


def to_numpy(a):
    """Logical values as NumPy (bfloat16 -> float32, exact)."""
    if isinstance(a, np.ndarray):
        return a
    if a.dtype == torch.bfloat16:
        return a.float().numpy()
    return a.numpy()


def bits(a):
    """The bit patterns of ``a`` (NumPy array or torch tensor) as unsigned integers, C order."""
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a).view(BITS[a.itemsize])
    if a.dtype == torch.bfloat16:
        return a.contiguous().view(torch.int16).numpy().view(np.uint16)
    return np.ascontiguousarray(a.numpy()).view(BITS[a.element_size()])


def isnan_bits(b, name):
    if name == "float16":
        return (b & 0x7FFF) > 0x7C00
    if name == "bfloat16":
        return (b & 0x7FFF) > 0x7F80
    if name in ("float32", "float64"):
        return np.isnan(b.view(np.dtype(name)))
    return np.zeros(b.shape, bool)


def assert_same(got, want, name):
    """Bit for bit; NaN against NaN with any payload (a computed NaN's bits are not specified)."""
    g, w = bits(got), bits(want)
    assert g.shape == w.shape
    same = (g == w) | (isnan_bits(g, name) & isnan_bits(w, name))
    if not same.all():
        k = np.flatnonzero(~same.ravel())[:5]
        pytest.fail(f"{name}: {np.count_nonzero(~same)} elements differ, e.g. at {k.tolist()}: got "
                    f"{to_numpy(got).ravel()[k].tolist()} want {to_numpy(want).ravel()[k].tolist()}")


def cast_result(r, name):
    """A compute-dtype result in the dtype ``name`` (round to nearest even for the small floats)."""
    if name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(r, np.float32)).to(torch.bfloat16)
    return r.astype(name)


def combine(a, b, w, name):
    """The element rule: ``a = x[i]``, ``b = x[partner[i]]`` (NumPy, bfloat16 as float32 values),
    ``w`` float64 broadcasting against them. Returns NumPy (torch for bfloat16)."""
    cdt = np.float32 if name in SMALL else np.float64
    wa = np.asarray(w).astype(cdt)
    wb = (1.0 - np.asarray(w)).astype(cdt)
    with np.errstate(invalid="ignore", over="ignore"):
        r = wa * a.astype(cdt) + wb * b.astype(cdt)
    if name in ("float16", "bfloat16", "float32", "float64"):
        pick = np.where(wa == 1, a.astype(cdt), np.where(wa == 0, b.astype(cdt), r))
        res = cast_result(r, name)
        keep = cast_result(pick, name)
        if name == "bfloat16":  # a and b are exact in float32, so the picked ones convert back exactly
            return torch.where(torch.from_numpy(np.broadcast_to((wa == 1) | (wa == 0), r.shape).copy()),
                               keep, res)
        return np.where((wa == 1) | (wa == 0), np.where(wa == 1, a, b), res)
    info = np.iinfo(name)
    lo, hi = INT_RANGE.get(name, (float(info.min), float(info.max)))
    r = np.clip(np.rint(r), lo, hi).astype(name)
    r = np.clip(r, np.minimum(a, b), np.maximum(a, b))
    return np.where(wa == 1, a, np.where(wa == 0, b, r))


def per_row(w, ndim):
    return np.asarray(w, np.float64).reshape((-1,) + (1,) * (ndim - 1))


def oracle_blend(x, partner, lam, name):
    a = to_numpy(x)
    return combine(a, a[partner], per_row(lam, a.ndim), name)


def oracle_mask(x, partner, mask, axes, name):
    a = to_numpy(x)
    shape = [a.shape[0]] + [1] * (a.ndim - 1)
    for k, ax in enumerate(axes):
        shape[ax] = mask.shape[k + 1]
    return combine(a, a[partner], mask.reshape(shape), name)


def oracle_paste(x, partner, start, stop, axes):
    a = x.clone() if not isinstance(x, np.ndarray) else x.copy()
    for i in range(a.shape[0]):
        idx = [slice(None)] * (a.ndim - 1)
        for k, ax in enumerate(axes):
            idx[ax - 1] = slice(int(start[i, k]), int(stop[i, k]))
        a[i][tuple(idx)] = x[int(partner[i])][tuple(idx)]
    return a


def reference(fn, x, *args):
    from mixkit.kernels import _reference

    return getattr(_reference, fn)(x, *args)


# ----------------------------------------------------------------------------------------------------
# batches: values, layouts, outputs
# ----------------------------------------------------------------------------------------------------


def values(rng, shape, name):
    if name in ("float16", "bfloat16", "float32", "float64"):
        v = rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 100.0], size=shape)
        v[rng.random(shape) < 0.05] = 0.0
        return v.astype(np.float32 if name == "bfloat16" else name)
    info = np.iinfo(name)
    v = rng.integers(info.min, info.max, size=shape, dtype=name, endpoint=True)
    ends = rng.random(shape)
    v[ends < 0.05] = info.min
    v[ends > 0.95] = info.max
    return v


def empty(lib, shape, name, perm):
    """An uninitialised batch of logical ``shape``, dense in the axis order ``perm``."""
    stored = [shape[a] for a in perm]
    inv = np.argsort(perm).tolist()
    if lib == "numpy":
        return np.empty(stored, name).transpose(inv)
    return torch.empty(stored, dtype=getattr(torch, name)).permute(inv)


def batch(lib, v, name, perm):
    x = empty(lib, v.shape, name, perm)
    if lib == "numpy":
        x[...] = v
    else:
        x.copy_(torch.from_numpy(np.ascontiguousarray(v)))
    return x


def readonly(x):
    if isinstance(x, np.ndarray):
        x.setflags(write=False)
    return x


TORCH_BITS = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def fill_junk(o):
    """Fill ``o`` with the byte 0x5A (a value the result cannot keep by chance)."""
    if isinstance(o, np.ndarray):
        o.view(BITS[o.itemsize])[...] = BITS[o.itemsize](int.from_bytes(b"\x5a" * o.itemsize, "little"))
    else:
        size = o.element_size()
        pattern = int.from_bytes(b"\x5a" * size, "little")
        o.view(getattr(torch, TORCH_BITS[size])).fill_(pattern if size > 1 else 0x5A)


@contextlib.contextmanager
def tiny_blocks(on):
    """Force many small tasks (blocks of a few elements, several row segments) when ``on``."""
    if not on:
        yield
        return
    saved = (_cpu.SMALL_BYTES, _cpu.OOP_BLOCK_BYTES, _cpu.INPLACE_BLOCK_BYTES, _cpu.LINE_BYTES)
    _cpu.SMALL_BYTES, _cpu.OOP_BLOCK_BYTES, _cpu.INPLACE_BLOCK_BYTES, _cpu.LINE_BYTES = 0, 16, 16, 1
    try:
        yield
    finally:
        _cpu.SMALL_BYTES, _cpu.OOP_BLOCK_BYTES, _cpu.INPLACE_BLOCK_BYTES, _cpu.LINE_BYTES = saved


@st.composite
def cases(draw, min_axes=1):
    lib = draw(st.sampled_from(["numpy", "torch"]))
    name = draw(st.sampled_from(NP_DTYPES if lib == "numpy" else TORCH_DTYPES))
    b = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 6), min_size=min_axes, max_size=4))
    shape = (b, *sizes)
    nd = len(shape)
    kind = draw(st.sampled_from(["C", "permuted"] + (["channels_last"] if nd == 4 else [])))
    if kind == "C":
        perm = tuple(range(nd))
    elif kind == "channels_last":
        perm = (0, 2, 3, 1)
    else:
        perm = (0, *draw(st.permutations(list(range(1, nd)))))
    partner = draw(partners(b))
    how = draw(st.sampled_from(["new", "out", "inplace"]))
    return {"lib": lib, "name": name, "shape": shape, "perm": perm, "partner": partner, "how": how,
            "seed": draw(st.integers(0, 2**32 - 1)), "tiny": draw(st.booleans())}


def partners(b):
    arbitrary = st.lists(st.integers(0, b - 1), min_size=b, max_size=b).map(np.array)
    perm = st.permutations(list(range(b))).map(np.array)
    pairs = st.permutations(list(range(b))).map(_pairs)
    cycle = st.integers(0, b - 1).map(lambda s: (np.arange(b) + s) % b)
    return st.one_of(arbitrary, perm, pairs, cycle).map(lambda p: p.astype(np.int64))


def _pairs(p):
    p = np.asarray(p)
    out = np.arange(p.size)
    for k in range(0, p.size - 1, 2):
        out[p[k]], out[p[k + 1]] = p[k + 1], p[k]
    return out


def idle_self_rows(w, partner):
    """The dispatcher's normalisation: a row paired with itself is not written (weight 1)."""
    w = np.array(w, np.float64)
    w[partner == np.arange(partner.size)] = 1.0
    return w


def weights(rng, shape):
    """Weights in [0, 1]: uniform, exact 0 and 1, and 1 - 1e-9 (which float32 rounds to 1)."""
    w = rng.random(shape)
    u = rng.random(shape)
    w[u < 0.15] = 0.0
    w[(u >= 0.15) & (u < 0.3)] = 1.0
    w[(u >= 0.3) & (u < 0.35)] = 1.0 - 1e-9
    w[(u >= 0.35) & (u < 0.4)] = 0.5
    return w


def run(fn, case, *args):
    """Run ``_cpu.fn`` on a fresh batch the way ``case`` says; return (x as given, result, ok)."""
    rng = np.random.default_rng(case["seed"])
    name, lib = case["name"], case["lib"]
    v = values(rng, case["shape"], name)
    x = batch(lib, v, name, case["perm"])
    keep = bits(x).copy()
    if case["how"] == "inplace":
        target = x
        x_orig = batch(lib, v, name, case["perm"])
    else:
        target = empty(lib, case["shape"], name, case["perm"])
        if case["how"] == "out":
            fill_junk(target)
        x = readonly(x)
        x_orig = x
    with tiny_blocks(case["tiny"]):
        ok = getattr(_cpu, fn)(x, target, *args)
    if case["how"] != "inplace":
        assert np.array_equal(bits(x), keep), "the input was written"
    return x_orig, target, ok


# ----------------------------------------------------------------------------------------------------
# property tests
# ----------------------------------------------------------------------------------------------------


@SETTINGS
@given(case=cases(), data=st.data())
def test_blend_matches_the_element_rule(case, data):
    rng = np.random.default_rng(case["seed"] + 1)
    lam = idle_self_rows(weights(rng, case["shape"][0]), case["partner"])
    x, got, ok = run("blend", case, case["partner"], lam)
    assert ok
    want = oracle_blend(x, case["partner"], lam, case["name"])
    assert_same(got, want, case["name"])
    if HAVE_REFERENCE:
        assert_same(got, reference("blend", x, case["partner"], lam), case["name"])


@SETTINGS
@given(case=cases(), data=st.data())
def test_mask_mix_matches_the_element_rule(case, data):
    shape = case["shape"]
    nd = len(shape)
    live = [a for a in case["perm"][1:]]
    # mask axes adjacent in memory order (one to all of them)
    lo = data.draw(st.integers(0, len(live) - 1))
    hi = data.draw(st.integers(lo + 1, len(live)))
    axes = tuple(sorted(live[lo:hi]))
    rng = np.random.default_rng(case["seed"] + 2)
    msize = (shape[0], *[shape[a] for a in axes])
    mask = weights(rng, msize) if data.draw(st.booleans()) else (rng.random(msize) < 0.5).astype(float)
    mask = idle_self_rows(mask, case["partner"])
    x, got, ok = run("mask_mix", case, case["partner"], mask, axes)
    assert ok, (shape, case["perm"], axes)
    want = oracle_mask(x, case["partner"], mask, axes, case["name"])
    assert_same(got, want, case["name"])
    if HAVE_REFERENCE:
        assert_same(got, reference("mask_mix", x, case["partner"], mask, axes), case["name"])
    assert nd >= 2


@SETTINGS
@given(case=cases(), data=st.data())
def test_paste_matches_the_element_rule(case, data):
    shape = case["shape"]
    nd = len(shape)
    k = data.draw(st.integers(1, min(3, nd - 1)))
    axes = tuple(sorted(data.draw(st.permutations(list(range(1, nd))))[:k]))
    b = shape[0]
    start = np.zeros((b, k), np.int64)
    stop = np.zeros((b, k), np.int64)
    for i in range(b):
        kind = data.draw(st.sampled_from(["partial", "full", "empty"]))
        for j, a in enumerate(axes):
            n = shape[a]
            if kind == "full":
                start[i, j], stop[i, j] = 0, n
            elif kind == "empty" and j == 0:
                s = data.draw(st.integers(0, n))
                start[i, j], stop[i, j] = s, s
            else:
                s = data.draw(st.integers(0, n))
                start[i, j], stop[i, j] = s, data.draw(st.integers(s, n))
    # the dispatcher's normalisation: a row with an empty box is not written (paired with itself)
    partner = np.where(np.any(stop <= start, axis=1), np.arange(b), case["partner"])
    x, got, ok = run("paste", case, partner, start, stop, axes)
    assert ok
    want = oracle_paste(x, partner, start, stop, axes)
    assert_same(got, want, case["name"])
    if HAVE_REFERENCE:
        assert_same(got, reference("paste", x, partner, start, stop, axes), case["name"])


# ----------------------------------------------------------------------------------------------------
# values at the edges
# ----------------------------------------------------------------------------------------------------

FLOATS = [("numpy", "float16"), ("numpy", "float32"), ("numpy", "float64"), ("torch", "bfloat16"),
          ("torch", "float16"), ("torch", "float32")]


def make(lib, rows, name, perm=None):
    v = np.asarray(rows, dtype=np.float32 if name == "bfloat16" else name)
    return batch(lib, v, name, perm or tuple(range(v.ndim)))


@pytest.mark.parametrize(("lib", "name"), FLOATS)
@pytest.mark.parametrize("how", ["new", "inplace"])
def test_exact_weights_never_leak_inf_or_nan_of_the_unused_source(lib, name, how):
    bad = [np.inf, -np.inf, np.nan, 1.0]
    x = make(lib, [[1.5, -2.0, 3.0, 0.25], bad, [0.5, 0.5, -0.5, 7.0], bad], name)
    partner = np.array([1, 0, 3, 2])
    lam = np.array([1.0, 0.0, 1.0, 0.0])  # every row takes its finite source whole
    want = oracle_blend(x, partner, lam, name)
    out = x if how == "inplace" else empty(lib, tuple(x.shape), name, (0, 1))
    assert _cpu.blend(x, out, partner, lam)
    assert_same(out, want, name)
    assert np.isfinite(to_numpy(out)).all()
    # the same through per-element mask weights of 0 and 1
    x = make(lib, [[1.5, -2.0, 3.0, 0.25], bad, [0.5, 0.5, -0.5, 7.0], bad], name)
    mask = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], np.float64)
    out = x if how == "inplace" else empty(lib, tuple(x.shape), name, (0, 1))
    assert _cpu.mask_mix(x, out, partner, mask, (1,))
    assert np.isfinite(to_numpy(out)).all()


@pytest.mark.parametrize(("lib", "name"), FLOATS)
def test_largest_floats_blend_without_overflow(lib, name):
    big = float(torch.finfo(torch.bfloat16).max) if name == "bfloat16" else float(np.finfo(name).max)
    x = make(lib, [[big, -big, big], [-big, big, big]], name)
    out = empty(lib, (2, 3), name, (0, 1))
    assert _cpu.blend(x, out, np.array([1, 0]), np.array([0.5, 0.5]))
    r = to_numpy(out)
    assert np.isfinite(r).all()
    assert r[0, 0] == 0 and r[0, 2] == big
    assert_same(out, oracle_blend(x, np.array([1, 0]), np.array([0.5, 0.5]), name), name)


@pytest.mark.parametrize("name", ["int64", "uint64", "int32", "uint32", "int8", "uint8"])
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_integer_extremes_blended_with_themselves_stay_exact(lib, name):
    if lib == "torch" and name.startswith("uint") and name != "uint8":
        pytest.skip("numpy-only dtype")
    info = np.iinfo(name)
    hi, lo = int(info.max), int(info.min)
    x = make(lib, [[hi, lo, hi, hi - 1], [hi, lo, hi - 1, hi]], name)
    lam = np.array([0.3, 0.7])
    out = empty(lib, (2, 4), name, (0, 1))
    assert _cpu.blend(x, out, np.array([1, 0]), lam)
    r = to_numpy(out)
    assert r[0, 0] == hi and r[1, 0] == hi and r[0, 1] == lo and r[1, 1] == lo
    assert ((r[:, 2:] >= hi - 1) & (r[:, 2:] <= hi)).all()
    assert_same(out, oracle_blend(x, np.array([1, 0]), lam, name), name)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
@pytest.mark.parametrize("w", [0.5, 0.3])
def test_float16_rounding_over_every_bit_pattern(lib, w):
    """Midpoints of neighbouring float16 values (ties, to even) and other weights, every pattern."""
    pats = np.arange(0x10000, dtype=np.uint16)
    pats = pats[(pats & 0x7FFF) <= 0x7C00]  # no NaN
    a = pats.view(np.float16)
    b = (pats + 1).view(np.float16)  # the next pattern (crosses zero, into inf at the top)
    v = np.stack([a, b])
    x = batch(lib, v, "float16", (0, 1))
    out = empty(lib, v.shape, "float16", (0, 1))
    lam = np.array([w, 1 - w])
    assert _cpu.blend(x, out, np.array([1, 0]), lam)
    assert_same(out, oracle_blend(x, np.array([1, 0]), lam, "float16"), "float16")


@pytest.mark.parametrize("w", [0.5, 0.3])
def test_bfloat16_rounding_over_every_bit_pattern(w):
    pats = np.arange(0x10000, dtype=np.int32)
    pats = pats[(pats & 0x7FFF) <= 0x7F80]
    a = torch.from_numpy(pats.astype(np.int16)).view(torch.bfloat16)
    b = torch.from_numpy((pats + 1).astype(np.int16)).view(torch.bfloat16)
    x = torch.stack([a, b])
    out = torch.empty_like(x)
    lam = np.array([w, 1 - w])
    assert _cpu.blend(x, out, np.array([1, 0]), lam)
    assert_same(out, oracle_blend(x, np.array([1, 0]), lam, "bfloat16"), "bfloat16")


# ----------------------------------------------------------------------------------------------------
# calls the backend declines (and then writes nothing)
# ----------------------------------------------------------------------------------------------------


def declined(fn, x, out, *args):
    before = bits(out).copy()
    ok = getattr(_cpu, fn)(x, out, *args)
    assert ok is False
    assert np.array_equal(bits(out), before), "written although declined"


def test_non_dense_layouts_are_declined():
    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    p, lam = np.array([1, 0]), np.array([0.5, 0.5])
    strided = x[:, :, ::2]
    declined("blend", strided, np.zeros(strided.shape, np.float32), p, lam)
    # x dense, out a strided view
    buf = np.zeros((2, 4, 12), np.float32)
    declined("blend", x[:, :, :6].copy(), buf[:, :, ::2], p, lam)
    # both dense, in different axis orders
    other = np.zeros((2, 6, 4), np.float32).transpose(0, 2, 1)
    declined("blend", x, other, p, lam)
    declined("paste", x, other, p, np.zeros((2, 1), np.int64), np.ones((2, 1), np.int64), (1,))
    declined("mask_mix", x, other, p, np.ones((2, 4)), (1,))
    t = torch.arange(48, dtype=torch.float32).reshape(2, 4, 6)
    declined("blend", t[:, ::2], torch.zeros(2, 2, 6), p, lam)
    declined("blend", t, torch.zeros(2, 6, 4).permute(0, 2, 1), p, lam)


def test_unsupported_dtypes_and_libraries_are_declined():
    p, lam = np.array([1, 0]), np.array([0.5, 0.5])
    declined("blend", np.zeros((2, 3), bool), np.zeros((2, 3), bool), p, lam)
    declined("blend", np.zeros((2, 3), np.complex64), np.zeros((2, 3), np.complex64), p, lam)
    t = torch.zeros(2, 3, dtype=torch.complex64)
    declined("blend", t, torch.zeros_like(t), p, lam)
    assert _cpu.blend([[1.0], [2.0]], np.zeros((2, 1)), p, lam) is False


def test_masks_over_axes_apart_in_memory_and_deep_boxes_are_declined():
    x = np.zeros((2, 3, 4, 5), np.float32)
    p = np.array([1, 0])
    declined("mask_mix", x, np.ones_like(x), p, np.full((2, 3, 5), 0.5), (1, 3))
    # channels_last: axes 1 and 2 (C, H) are not adjacent in memory (H, W, C)
    t = torch.zeros(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    declined("mask_mix", t, torch.ones_like(t), p, np.full((2, 3, 4), 0.5), (1, 2))
    y = np.zeros((2, 2, 2, 2, 2, 2), np.float32)
    start, stop = np.zeros((2, 5), np.int64), np.ones((2, 5), np.int64)
    declined("paste", y, np.ones_like(y), p, start, stop, (1, 2, 3, 4, 5))


def test_channels_last_masks_over_height_and_width_are_handled():
    rng = np.random.default_rng(3)
    v = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    x = torch.from_numpy(v).contiguous(memory_format=torch.channels_last)
    mask = weights(rng, (3, 5, 6))
    out = torch.empty_like(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    partner = np.array([2, 0, 1])
    assert _cpu.mask_mix(x, out, partner, mask, (2, 3))
    assert_same(out, oracle_mask(x, partner, mask, (2, 3), "float32"), "float32")


def test_big_batches_use_many_tasks_and_stay_exact():
    """A batch over the one-task threshold, in place and out of place, default block sizes."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 3, 64, 65)).astype(np.float32)  # not a multiple of the line size
    partner = rng.permutation(16)
    lam = weights(rng, 16)
    want = oracle_blend(x, partner, lam, "float32")
    out = np.empty_like(x)
    assert _cpu.blend(readonly(x.copy()), out, partner, lam)
    assert_same(out, want, "float32")
    assert _cpu.blend(x, x, partner, lam)
    assert_same(x, want, "float32")


@pytest.mark.parametrize(("lib", "name"), [("numpy", n) for n in NP_DTYPES]
                         + [("torch", n) for n in TORCH_DTYPES])
@pytest.mark.parametrize("how", ["out", "inplace"])
@pytest.mark.parametrize("tiny", [False, True])
def test_every_dtype_through_every_kernel(lib, name, how, tiny):
    """A fixed batch per dtype (hypothesis draws only some of them): soft and 0/1 weights, a cycle,
    a pair and a repeat in the mapping, boxes over two axes."""
    partner = np.array([1, 2, 0, 4, 3, 3])
    rng = np.random.default_rng(7)
    shape = (6, 3, 4, 6)
    lam = idle_self_rows(weights(rng, 6), partner)
    mask = idle_self_rows(weights(rng, (6, 4, 6)), partner)
    start = np.array([[0, 1], [1, 0], [2, 2], [0, 0], [1, 3], [3, 5]])
    stop = np.array([[4, 5], [3, 6], [3, 4], [4, 6], [2, 6], [4, 6]])
    for fn, args, want in [
        ("blend", (partner, lam), lambda x: oracle_blend(x, partner, lam, name)),
        ("mask_mix", (partner, mask, (2, 3)), lambda x: oracle_mask(x, partner, mask, (2, 3), name)),
        ("paste", (partner, start, stop, (2, 3)), lambda x: oracle_paste(x, partner, start, stop, (2, 3))),
    ]:
        case = {"lib": lib, "name": name, "shape": shape, "perm": (0, 1, 2, 3), "how": how,
                "seed": 11, "tiny": tiny}
        x, got, ok = run(fn, case, *args)
        assert ok
        assert_same(got, want(x), name)


def test_a_forked_child_and_threads_can_mix_after_the_parent_has():
    """DataLoader workers fork after the main process mixed; threads may mix at the same time."""
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp, threading, numpy as np, mixkit\n"
        "x = np.random.rand(64, 3, 32, 32).astype(np.float32); p = np.random.permutation(64)\n"
        "lam = np.full(64, 0.3); ref = mixkit.blend(x, p, lam)\n"
        "def child(q): q.put(bool(np.array_equal(mixkit.blend(x, p, lam), ref)))\n"
        "ctx = mp.get_context('fork'); q = ctx.Queue(); c = ctx.Process(target=child, args=(q,))\n"
        "c.start(); c.join(60); assert c.exitcode == 0, c.exitcode; assert q.get(timeout=5)\n"
        "ok = []\n"
        "def run():\n"
        "    ok.append(all(np.array_equal(mixkit.blend(x, p, lam), ref) for _ in range(20)))\n"
        "ts = [threading.Thread(target=run) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]; assert ok == [True] * 4, ok\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr

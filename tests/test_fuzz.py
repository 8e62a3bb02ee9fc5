"""Property-based fuzz over every public transform.

Each example draws a method (MixUp, n-way MixUp (k=3), CutMix, FMix, GridMix, SmoothMix, ResizeMix, SaliencyMix, Mosaic,
AudioMixUp, TabularMixUp, ClassMix with its mask, BalancedMixUp, LabelPairedMix, Remix, OneOf,
Scheduled), a batch size in {0, 1, 2, odd, larger}, a library (NumPy or torch), a dtype (float16/32/64,
bfloat16 through torch, uint8 and signed integers), a memory layout (contiguous, a transposed view,
negative or doubled strides) and labels (none, class indices, probabilities, multi-hot). A result must
keep the batch's shape, dtype and library (and a torch tensor's channels_last format), leave its
inputs untouched (NumPy inputs are read-only), equal ``sample`` + ``apply`` with the same seed and the
replay of the logged plan, return the input for a batch of one or ``p=0``, and give label rows that
are distributions equal to the plan's mixture of the given labels. Bad labels, batches and plans must
fail with a ValueError or TypeError, before anything is written.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.schedules import Linear

torch = pytest.importorskip("torch")

C = 4
# per method (17 of them): a few hundred examples in all, seconds on a busy 2-core machine; derandomized
# so every run draws the same examples
FUZZ = settings(max_examples=14, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FUZZ_BAD = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

IMAGE, ANY, AUDIO, TABLE = "image", "any", "audio", "table"
NEEDS_Y = {"BalancedMixUp", "LabelPairedMix", "Remix", "OneOf", "Scheduled"}
BLEND_LIKE = {"MixUp", "MixUp(k=3)", "AudioMixUp", "BalancedMixUp", "TabularMixUp", "OneOf", "Scheduled"}  # fit any sample shape


def make(name, *, p, smoothing, label_format, lam_mode):
    """The transform ``name`` with the options drawn (all public constructors)."""
    k = {"num_classes": C, "p": p, "label_smoothing": smoothing}
    kf = dict(k, label_format=label_format)
    factories = {
        "MixUp": lambda: mixkit.MixUp(0.4, lam_mode=lam_mode, pairing="pairs", **kf),
        "MixUp(k=3)": lambda: mixkit.MixUp(0.4, k=3, lam_mode=lam_mode, **kf),
        "CutMix": lambda: mixkit.CutMix(1.0, lam_mode=lam_mode, **kf),
        "FMix": lambda: mixkit.FMix(lam_mode=lam_mode, **kf),
        "GridMix": lambda: mixkit.GridMix(lam_mode=lam_mode, **kf),
        "SmoothMix": lambda: mixkit.SmoothMix(lam_mode=lam_mode, **kf),
        "ResizeMix": lambda: mixkit.ResizeMix(lam_mode=lam_mode, **kf),
        "SaliencyMix": lambda: mixkit.SaliencyMix(lam_mode=lam_mode, **kf),
        "Mosaic": lambda: mixkit.Mosaic(**k),
        "AudioMixUp": lambda: mixkit.AudioMixUp(snr_db=(-5.0, 5.0), lam_mode=lam_mode, **kf),
        "TabularMixUp": lambda: mixkit.TabularMixUp(categorical=(0, 3), lam_mode=lam_mode, **kf),
        "ClassMix": lambda: mixkit.ClassMix(**kf),
        "BalancedMixUp": lambda: mixkit.BalancedMixUp(lam_mode=lam_mode, **kf),
        "LabelPairedMix": lambda: mixkit.LabelPairedMix(pairing="inter", base=mixkit.CutMix(), **kf),
        "Remix": lambda: mixkit.Remix(counts=[10, 1, 5, 2], base=mixkit.FMix(), **kf),
        "OneOf": lambda: mixkit.OneOf([mixkit.MixUp(**kf), mixkit.SaliencyMix(**kf), mixkit.Remix(**kf),
                                       mixkit.BalancedMixUp(**kf)], weights=[1, 2, 2, 1], p=p),
        "Scheduled": lambda: mixkit.Scheduled(mixkit.OneOf([mixkit.CutMix(**kf), mixkit.Remix(**kf)]),
                                              total_epochs=3, off_last=1, alpha=Linear(1.0, 0.2)),
    }
    return factories[name]()


KIND = {"MixUp": ANY, "MixUp(k=3)": ANY, "AudioMixUp": AUDIO, "TabularMixUp": TABLE}
NAMES = ["MixUp", "MixUp(k=3)", "CutMix", "FMix", "GridMix", "SmoothMix", "ResizeMix", "SaliencyMix", "Mosaic", "AudioMixUp",
         "TabularMixUp", "ClassMix", "BalancedMixUp", "LabelPairedMix", "Remix", "OneOf", "Scheduled"]
DTYPES = ["float32", "float64", "float16", "bfloat16", "uint8", "int8", "int16", "int32", "int64"]
RANGE = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-3000, 3000), "int32": (-10**6, 10**6),
         "int64": (-10**6, 10**6)}


def values(rng, shape, dtype):
    """Values of ``dtype`` (as float64 NumPy) for a batch of ``shape``."""
    if dtype in RANGE:
        lo, hi = RANGE[dtype]
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(np.float64)
    v = rng.normal(size=shape) * 3
    return v.astype(np.float16).astype(np.float64) if dtype in ("float16", "bfloat16") else v


def build(v, lib, dtype, layout):
    """The batch of values ``v`` in ``lib``/``dtype``, laid out as ``layout`` (same logical values)."""
    nd = v.ndim
    if lib == "numpy":
        a = v.astype(dtype)
        if layout == "transposed" and nd >= 2:
            a = np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)
        elif layout == "strided":
            a = np.ascontiguousarray(a[..., ::-1])[..., ::-1]  # negative strides
        a.setflags(write=False)
        return a
    t = torch.from_numpy(np.ascontiguousarray(v)).to(getattr(torch, dtype))
    if layout == "transposed" and nd >= 2:
        t = t.movedim(1, -1).contiguous().movedim(-1, 1)  # channels_last for (B, C, H, W)
    elif layout == "strided" and nd >= 1:
        t = torch.repeat_interleave(t, 2, dim=-1)[..., ::2] if t.shape[-1] else t  # doubled strides
    return t


@st.composite
def cases(draw, name):
    b = draw(st.sampled_from([0, 1, 1, 2, 3, 5, 16]))
    lib = draw(st.sampled_from(["numpy", "torch"]))
    dtype = draw(st.sampled_from(DTYPES if lib == "torch" else [d for d in DTYPES if d != "bfloat16"]))
    layout = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    kind = KIND.get(name, IMAGE)
    if kind == IMAGE:
        side = st.sampled_from([0, 1, 2, 5, 8]) if draw(st.integers(0, 9)) == 0 else st.integers(2, 9)
        shape = (b, draw(st.integers(1, 3)), draw(side), draw(side))
    elif kind == AUDIO:
        shape = (b, draw(st.integers(1, 2)), draw(st.integers(1, 20)))
    elif kind == TABLE:
        shape = (b, draw(st.integers(4, 6)))
    else:
        shape = (b,) + tuple(draw(st.lists(st.integers(1, 5), max_size=3)))
    labels = draw(st.sampled_from(["index", "probs", "multihot"] + ([] if name in NEEDS_Y else ["none"])))
    p = draw(st.sampled_from([0.0, 0.5, 1.0, 1.0]))
    pairwise = name not in ("Mosaic", "MixUp(k=3)")
    label_format = draw(st.sampled_from(["dense", "pair"])) if pairwise and labels == "index" else "dense"
    return {"name": name, "b": b, "lib": lib, "dtype": dtype, "layout": layout, "shape": shape,
            "labels": labels, "p": p, "smoothing": draw(st.sampled_from([0.0, 0.1])), "label_format": label_format,
            "lam_mode": draw(st.sampled_from(["batch", "sample"])), "seed": draw(st.integers(0, 2**16)),
            "epoch": draw(st.sampled_from([0, 1, 2]))}


def inputs(case):
    """``(transform, x, y, companions, T)``: T the dense float64 targets the labels stand for."""
    rng = np.random.default_rng(case["seed"])
    b, lib = case["b"], case["lib"]
    x = build(values(rng, case["shape"], case["dtype"]), lib, case["dtype"], case["layout"])
    conv = (lambda a: a) if lib == "numpy" else torch.from_numpy
    kind = case["labels"]
    if kind == "none":
        y, T = None, None
    elif kind == "index":
        idx = rng.integers(0, C, b)
        y, T = conv(idx), np.eye(C)[idx]
    elif kind == "probs":
        w = rng.random((b, C)) + 1e-3
        T = (w / w.sum(1, keepdims=True)).astype(np.float32)
        y, T = conv(T), T.astype(np.float64)
    else:
        T = (rng.random((b, C)) < 0.4).astype(np.float32)
        y, T = conv(T), T.astype(np.float64)
    companions = {}
    if case["name"] == "ClassMix":
        companions["mask"] = conv(rng.integers(0, C, (b,) + case["shape"][2:]))
    t = make(case["name"], p=case["p"], smoothing=case["smoothing"], label_format=case["label_format"],
             lam_mode=case["lam_mode"])
    if case["name"] == "Scheduled":
        t.set_epoch(case["epoch"])  # epoch 2 is the last one: mixing off
    return t, x, y, companions, T


def host(a):
    """A float64 NumPy copy of any result array (bfloat16 through float32)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().float() if a.dtype == torch.bfloat16 else a.detach()
        return a.cpu().numpy().astype(np.float64)
    return np.asarray(a, dtype=np.float64)


def snapshot(a):
    return a.clone() if isinstance(a, torch.Tensor) else np.array(a, copy=True)


def same(a, b):
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else np.array_equal(a, b)


def expected_targets(plan, T, smoothing):
    """The plan's mixture of the targets ``T`` ``(B, C)``, computed here from the plan's fields."""
    T = T * (1 - smoothing) + smoothing / C
    if isinstance(plan, (mixkit.MosaicPlan, mixkit.MultiMixPlan)):
        return sum(plan.weights[:, k:k + 1] * T[plan.sources[:, k]] for k in range(plan.weights.shape[1]))
    partner, lam = plan.label_pair()
    return lam[:, None] * T + (1 - lam[:, None]) * T[partner]


def check_result(case, t, x, y, T, plan, xm, ym):
    b = case["b"]
    assert type(xm) is type(x) and tuple(xm.shape) == tuple(x.shape) and xm.dtype == x.dtype
    if isinstance(x, torch.Tensor):
        assert xm.device == x.device
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            assert xm.is_contiguous(memory_format=torch.channels_last), "channels_last not kept"
    off = case["name"] == "Scheduled" and case["epoch"] == 2
    if b <= 1 or case["p"] == 0.0 or off:
        assert same(xm, x), "a batch of one / p=0 must come back unchanged"
        if plan is not None:
            np.testing.assert_array_equal(plan.lam, 1.0)
    if type(plan) is mixkit.MixPlan and case["dtype"] == "float64" and b:
        ref = plan.lam.reshape((-1,) + (1,) * (x.ndim - 1)) * host(x) + \
            (1 - plan.lam.reshape((-1,) + (1,) * (x.ndim - 1))) * host(x)[plan.partner]
        np.testing.assert_allclose(host(xm), ref, rtol=1e-12, atol=1e-12)
    if type(plan) is mixkit.MultiMixPlan and case["dtype"] == "float64" and b:
        shape = (-1,) + (1,) * (x.ndim - 1)
        ref = sum(plan.weights[:, j].reshape(shape) * host(x)[plan.sources[:, j]] for j in range(plan.k))
        np.testing.assert_allclose(host(xm), ref, rtol=1e-12, atol=1e-12)
    if isinstance(plan, (mixkit.BoxPlan, mixkit.MaskPlan)) and b and (
            isinstance(plan, mixkit.BoxPlan) or plan.binary):
        hx, hm = host(x), host(xm)
        assert np.all((hm == hx) | (hm == hx[plan.partner])), "a pasted element came from neither sample"
    if y is None:
        assert ym is None
        return
    dense = ym.dense() if isinstance(ym, mixkit.MixedTargets) else ym
    got = host(dense)
    assert got.shape == (b, C)
    want = expected_targets(plan, T, case["smoothing"])
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.all(got >= -1e-7)
    if case["labels"] != "multihot":
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_every_transform_keeps_its_invariants(name, data):
    case = data.draw(cases(name), label="case")
    t, x, y, companions, T = inputs(case)
    before_x = snapshot(x)
    before_y = None if y is None else snapshot(y)
    try:
        xm, ym = t(x, y, rng=case["seed"], **companions)
    except (ValueError, TypeError) as err:
        pytest.fail(f"a valid call was refused: {type(err).__name__}: {err}")
    assert same(x, before_x), "the input batch was changed"
    if y is not None:
        assert same(y, before_y), "the labels were changed"
    shape = tuple(int(s) for s in x.shape)
    plan = t.sample(case["b"], rng=case["seed"], shape=shape, x=x, y=y, **companions)
    again = t.apply(plan, x, y, **companions)
    assert same(again[0], xm), "sample + apply with the same seed differs from the call"
    replayed = mixkit.plan_from_dict(plan.to_dict())
    assert type(replayed) is type(plan)
    assert same(t.apply(replayed, x, y, **companions)[0], xm), "the logged plan does not replay"
    check_result(case, t, x, y, T, plan, xm, ym)
    # in place (into a writable copy) and into an out= buffer: the same values, in that buffer
    buf = snapshot(x)
    if isinstance(buf, np.ndarray):
        buf.setflags(write=True)
    res = t.apply(plan, buf, y, inplace=True, **companions)[0]
    assert res is buf and same(buf, xm), "inplace=True gave other values"
    out = snapshot(buf)
    res = t.apply(plan, x, y, out=out, **companions)[0]
    assert res is out and same(out, xm), "out= gave other values"


BAD = ["labels_length", "index_range", "negative_index", "float_index", "nan_probs", "probs_sum",
       "negative_probs", "columns", "labels_3d", "bool_batch", "complex_batch", "plan_batch", "plan_shape",
       "plan_dict_lam", "plan_dict_partner", "plan_dict_type", "plan_dict_field", "readonly_inplace",
       "out_shape", "not_a_plan"]


@pytest.mark.parametrize("name", NAMES)
@FUZZ_BAD
@given(data=st.data())
def test_bad_inputs_fail_clearly_before_anything_is_written(name, data):
    case = data.draw(cases(name), label="case")
    bad = data.draw(st.sampled_from(BAD), label="bad")
    if case["b"] == 0 and bad in ("labels_length", "index_range", "negative_index", "nan_probs", "probs_sum",
                                  "negative_probs", "plan_dict_partner", "plan_dict_lam"):
        case = dict(case, b=3, shape=(3,) + case["shape"][1:])
    if bad in ("index_range", "negative_index", "float_index"):
        case = dict(case, labels="index")
    if bad in ("nan_probs", "probs_sum", "negative_probs"):
        case = dict(case, labels="probs")
    if bad == "readonly_inplace":
        case = dict(case, lib="numpy", dtype="float32" if case["dtype"] == "bfloat16" else case["dtype"])
    t, x, y, companions, _T = inputs(case)
    b = case["b"]
    shape = tuple(int(s) for s in x.shape)
    # a writable batch, mixed in place: an error must leave it as it was
    xw = snapshot(x)
    if isinstance(xw, np.ndarray):
        xw.setflags(write=True)
    before = snapshot(xw)
    conv = (lambda a: a) if case["lib"] == "numpy" else torch.from_numpy
    call_kw = dict(companions, rng=case["seed"])
    arg_x, arg_y = xw, y
    plan = None
    if bad == "labels_length":
        arg_y = conv(np.zeros(b + 1, np.int64))
    elif bad == "index_range":
        arg_y = conv(np.full(b, C, np.int64))
    elif bad == "negative_index":
        arg_y = conv(np.full(b, -1, np.int64))
    elif bad == "float_index":
        arg_y = conv(np.zeros(b, np.float32))
    elif bad == "nan_probs":
        arg_y = conv(np.full((b, C), np.nan, np.float32))
    elif bad == "probs_sum":
        arg_y = conv(np.full((b, C), 0.4, np.float32))
    elif bad == "negative_probs":
        arg_y = conv(np.tile(np.array([[-0.5, 1.5, 0, 0]], np.float32), (b, 1)))
    elif bad == "columns":
        arg_y = conv(np.eye(C + 1, dtype=np.float32)[np.zeros(b, np.int64)])
    elif bad == "labels_3d":
        arg_y = conv(np.zeros((b, C, 1), np.float32))
    elif bad == "bool_batch":
        arg_x = conv(np.zeros(shape, bool))
    elif bad == "complex_batch":
        arg_x = conv(np.zeros(shape, np.complex64))
    elif bad in ("plan_batch", "plan_shape"):
        other = (b + 2,) + shape[1:] if bad == "plan_batch" else shape[:-1] + (shape[-1] + 3,)
        if bad == "plan_shape" and (case["name"] in BLEND_LIKE or len(shape) < 2):
            other = (b + 1,) + shape[1:]  # a blend fits any sample shape: a plan of another batch size
        ox = build(values(np.random.default_rng(0), other, "float32"), case["lib"], "float32", "contiguous")
        oy = None if y is None else conv(np.zeros(other[0], np.int64))
        okw = {k: conv(np.zeros((other[0],) + other[2:], np.int64)) for k in companions}
        plan = t.sample(other[0], rng=0, shape=other, x=ox, y=oy, **okw)
    elif bad.startswith("plan_dict"):
        d = t.sample(b, rng=0, shape=shape, x=xw, y=y, **companions).to_dict()
        if bad == "plan_dict_lam":
            d["lam"] = [1.5] * b
        elif bad == "plan_dict_partner":
            d["partner"] = [b] * b
        elif bad == "plan_dict_type":
            d["type"] = "NoSuchPlan"
        else:
            d["colour"] = 1
        with pytest.raises((ValueError, TypeError)) as info:
            mixkit.plan_from_dict(d)
        assert str(info.value)
        return
    elif bad == "not_a_plan":
        plan = {"partner": [0] * b}
    elif bad == "readonly_inplace":
        arg_x = x  # read-only NumPy
    elif bad == "out_shape":
        call_kw["out"] = snapshot(xw)[:0] if b else build(values(np.random.default_rng(0), (1,) + shape[1:],
                                                                 case["dtype"]), case["lib"], case["dtype"],
                                                          "contiguous")
    inplace = bad not in ("out_shape",)
    if bad == "readonly_inplace" or inplace:
        call_kw["inplace"] = True
    with pytest.raises((ValueError, TypeError)) as info:
        if plan is not None:
            call_kw.pop("rng")
            t.apply(plan, arg_x, arg_y, **call_kw)
        else:
            t(arg_x, arg_y, **call_kw)
    assert str(info.value), "an error without a message"
    if bad not in ("bool_batch", "complex_batch"):
        assert same(arg_x if bad == "readonly_inplace" else xw, before), "written before the error"


# -- cases the fuzz found, kept as explicit tests --------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (3, 2, 0, 8), (3, 2, 8, 0)])
@pytest.mark.parametrize("name", ["FMix", "SmoothMix", "GridMix", "ClassMix", "Mosaic", "SaliencyMix", "CutMix",
                                  "ResizeMix"])
def test_empty_batches_and_images_without_pixels_replay_and_come_back_unchanged(name, shape):
    t = make(name, p=1.0, smoothing=0.0, label_format="dense", lam_mode="sample")
    x = np.zeros(shape, np.float32)
    y = np.arange(shape[0]) % C
    kw = {"mask": np.zeros((shape[0],) + shape[2:], np.int64)} if name == "ClassMix" else {}
    plan = t.sample(shape[0], rng=0, shape=shape, x=x, y=y, **kw)
    again = mixkit.plan_from_dict(plan.to_dict())
    assert type(again) is type(plan)
    for p in (plan, again):
        xm, ym = t.apply(p, x, y, **kw)
        assert xm.shape == shape and xm.dtype == np.float32
        np.testing.assert_array_equal(ym, np.eye(C)[y])
    xm, ym = t(x, y, rng=0, **kw)
    np.testing.assert_array_equal(ym, np.eye(C)[y])


def test_audio_mixup_on_an_empty_batch():
    for x in (np.zeros((0, 16000), np.float32), torch.zeros(0, 2, 100), np.zeros((3, 0)), torch.zeros(3, 0)):
        xm, ym = mixkit.AudioMixUp(num_classes=2)(x, (torch.zeros if isinstance(x, torch.Tensor) else np.zeros)(
            int(x.shape[0]), dtype=torch.int64 if isinstance(x, torch.Tensor) else np.int64), rng=0)
        assert tuple(xm.shape) == tuple(x.shape) and ym.shape == (x.shape[0], 2)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_saliency_mix_on_bfloat16_and_float16_tensors(layout):
    x32 = torch.rand(4, 3, 12, 10)
    for dt in (torch.bfloat16, torch.float16):
        x = build(x32.to(dt).float().numpy().astype(np.float64), "torch", str(dt).split(".")[1], layout)
        t = mixkit.SaliencyMix(num_classes=4, lam_mode="sample")
        xm, _ym = t(x, torch.arange(4), rng=0)
        assert xm.dtype == dt and xm.shape == x.shape
        plan = t.sample(4, rng=0, shape=tuple(x.shape), x=x)
        ref = t.sample(4, rng=0, shape=tuple(x.shape), x=x.float())  # saliency read in float: same boxes
        np.testing.assert_array_equal(plan.start, ref.start)
        hx, hm = host(x), host(xm)
        assert np.all((hm == hx) | (hm == hx[plan.partner]))
        assert not np.array_equal(hm, hx)


@pytest.mark.parametrize("make", [
    lambda: mixkit.LabelPairedMix(p=0.0, pairing="inter", base=mixkit.CutMix(), num_classes=4),
    lambda: mixkit.Remix(p=0.0, base=mixkit.FMix(), num_classes=4),
])
def test_label_aware_p_zero_with_a_base_mixes_nothing(make):
    x = np.random.default_rng(0).random((8, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    xm, ym = make()(x, y, rng=0)
    np.testing.assert_array_equal(xm, x)
    np.testing.assert_array_equal(ym, np.eye(4, dtype=ym.dtype)[y])

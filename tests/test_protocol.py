"""The contracts every method shares: one sample() signature, plans that apply themselves, one return
type, checks run once and before anything is written."""

import pickle
import sys

import numpy as np
import pytest

import mixkit
from mixkit import _validate, labels

C = 3
B = 6


def _batch(b=B, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((b, 2, 8, 10))
    y = np.array([0, 1, 2, 0, 0, 1][:b])
    seg = rng.integers(0, 4, (b, 8, 10)).astype(np.uint8)
    return x, y, seg


def _methods():
    """One instance of every public method and composition, by name."""
    return {
        "MixUp": mixkit.MixUp(num_classes=C),
        "CutMix": mixkit.CutMix(num_classes=C),
        "FMix": mixkit.FMix(num_classes=C),
        "GridMix": mixkit.GridMix(num_classes=C),
        "SmoothMix": mixkit.SmoothMix(num_classes=C),
        "SaliencyMix": mixkit.SaliencyMix(num_classes=C),
        "ResizeMix": mixkit.ResizeMix(num_classes=C),
        "Mosaic": mixkit.Mosaic(num_classes=C),
        "AudioMixUp": mixkit.AudioMixUp(num_classes=C),
        "ClassMix": mixkit.ClassMix(num_classes=C),
        "BalancedMixUp": mixkit.BalancedMixUp(num_classes=C),
        "LabelPairedMix": mixkit.LabelPairedMix(num_classes=C, pairing="inter"),
        "Remix": mixkit.Remix(num_classes=C),
        "Remix(base=CutMix)": mixkit.Remix(num_classes=C, base=mixkit.CutMix()),
        "OneOf": mixkit.OneOf([mixkit.Remix(num_classes=C), mixkit.SaliencyMix(num_classes=C),
                               mixkit.ClassMix(num_classes=C)], weights=[1, 1, 1]),
        "Scheduled(Remix)": mixkit.Scheduled(mixkit.Remix(num_classes=C), total_epochs=3),
        "Scheduled(OneOf)": mixkit.Scheduled(mixkit.OneOf([mixkit.BalancedMixUp(num_classes=C),
                                                           mixkit.CutMix(num_classes=C)]), total_epochs=3),
    }


def test_every_public_method_is_covered():
    public = {name for name in mixkit.__all__
              if isinstance(getattr(mixkit, name), type) and issubclass(getattr(mixkit, name), mixkit.Mixer)
              and getattr(mixkit, name) is not mixkit.Mixer}
    # TabularMixUp: rows, tested below; CMixUp takes continuous targets only, so it has its own
    # contract test in test_continuous.py (the class-label checks here do not apply to it)
    covered = {type(t).__name__ for t in _methods().values()} | {"TabularMixUp", "CMixUp"}
    assert public <= covered, public - covered


def _expected_targets(plan, y):
    dense = np.eye(C)[y]
    return plan.mix_targets(dense)


@pytest.mark.parametrize("name", list(_methods()))
def test_sample_takes_the_whole_contract_and_the_plan_applies_itself(name):
    t = _methods()[name]
    x, y, seg = _batch()
    for seed in range(6):  # OneOf: every member gets its turn
        plan = t.sample(B, rng=seed, shape=x.shape, x=x, y=y, mask=seg, boxes=None, unused_companion=1)
        assert isinstance(plan, mixkit.MixPlan) and plan.batch_size == B
        res = t.apply(plan, x, y)
        assert type(res) is mixkit.Mixed and res.companions == {}
        np.testing.assert_array_equal(res.x, plan.apply(x))
        np.testing.assert_allclose(res.y, _expected_targets(plan, y), rtol=1e-6, atol=1e-7)
        if plan.pairwise:
            partner, lam = plan.label_pair()
            want = lam[:, None] * np.eye(C)[y] + (1 - lam[:, None]) * np.eye(C)[y[partner]]
            np.testing.assert_allclose(res.y, want, rtol=1e-6, atol=1e-7)
        # the call draws the same plan from the same seed, with everything it needs passed on
        again = t.apply(t.sample(B, rng=seed, shape=x.shape, x=x, y=y, mask=seg), x, y)
        np.testing.assert_array_equal(again.x, res.x)


def test_tabular_rows_take_the_contract():
    t = mixkit.TabularMixUp(categorical=(0,), num_classes=C)
    x = np.random.default_rng(0).random((B, 4))
    y = np.arange(B) % C
    plan = t.sample(B, rng=0, shape=x.shape, x=x, y=y, mask=None)
    res = t.apply(plan, x, y)
    np.testing.assert_array_equal(res.x, plan.apply(x))
    np.testing.assert_allclose(res.y, _expected_targets(plan, y), rtol=1e-6)


@pytest.mark.parametrize(
    ("t", "kwargs", "message"),
    [
        (mixkit.Remix(num_classes=C), {}, "Remix needs the labels: pass y="),
        (mixkit.BalancedMixUp(num_classes=C), {}, "BalancedMixUp needs the labels: pass y="),
        (mixkit.SaliencyMix(), {}, "SaliencyMix needs the batch: pass x="),
        (mixkit.ClassMix(), {}, "ClassMix needs the segmentation mask: pass mask="),
        (mixkit.CutMix(), {"shape": None}, "CutMix needs the batch's shape to place boxes: pass shape="),
        (mixkit.OneOf([mixkit.Remix(num_classes=C)]), {}, "Remix needs the labels: pass y="),
        (mixkit.Scheduled(mixkit.SaliencyMix(), total_epochs=2), {}, "SaliencyMix needs the batch: pass x="),
        (mixkit.Scheduled(mixkit.OneOf([mixkit.ClassMix()]), total_epochs=2), {},
         "ClassMix needs the segmentation mask: pass mask="),
    ],
)
def test_missing_arguments_are_named(t, kwargs, message):
    x, _, _ = _batch()
    args = {"shape": x.shape, **kwargs}
    with pytest.raises(ValueError, match=message):
        t.sample(B, rng=0, **args)


@pytest.mark.parametrize("t", [mixkit.OneOf([mixkit.SaliencyMix(num_classes=C)]),
                               mixkit.OneOf([mixkit.BalancedMixUp(num_classes=C)]),
                               mixkit.OneOf([mixkit.ClassMix(num_classes=C)])])
def test_calling_a_oneof_gives_every_member_what_it_needs(t):
    x, y, seg = _batch()
    extra = {"mask": seg} if t.needs == {"mask"} else {}
    res = t(x, y, rng=0, **extra)
    assert type(res) is mixkit.Mixed and res.x.shape == x.shape and res.y.shape == (B, C)
    assert set(res.companions) == set(extra)


def test_needs_say_what_sample_reads():
    assert mixkit.MixUp().needs == frozenset()
    assert mixkit.Remix(num_classes=C).needs == {"y"}
    assert mixkit.SaliencyMix().needs == {"x"}
    assert mixkit.ClassMix().needs == {"mask"}
    one = mixkit.OneOf([mixkit.SaliencyMix(), mixkit.Remix()])
    assert one.needs == {"x", "y"}
    assert mixkit.Scheduled(one, total_epochs=2).needs == {"x", "y"}


def test_a_subclass_implements_the_hook_not_sample():
    with pytest.raises(TypeError, match="implement _sample"):
        class Bad(mixkit.MixUp):
            def sample(self, batch_size, **kw):
                return super().sample(batch_size, **kw)


def test_base_methods_that_draw_their_own_partners_are_refused():
    for base in (mixkit.SaliencyMix(), mixkit.ClassMix(), mixkit.Mosaic()):
        with pytest.raises(ValueError, match=f"{type(base).__name__} cannot be a base"):
            mixkit.Remix(base=base)


@pytest.mark.parametrize("cls", [mixkit.MixUp, mixkit.CutMix, mixkit.FMix, mixkit.GridMix, mixkit.SaliencyMix,
                                 mixkit.LabelPairedMix, mixkit.Remix, mixkit.AudioMixUp, mixkit.TabularMixUp])
def test_shared_options_are_checked_alike(cls):
    with pytest.raises(ValueError, match="alpha must be > 0"):
        cls(0.0)
    with pytest.raises(ValueError, match="lam_mode must be one of"):
        cls(lam_mode="batches")
    with pytest.raises(ValueError, match="pairing must be one of"):
        cls(pairing="random")
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        cls(p=1.5)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        cls(num_classes=0)


# ---- one return type --------------------------------------------------------------------------------


def test_mixed_is_the_same_type_with_zero_one_or_two_companions():
    x, y, seg = _batch()
    boxes = [np.array([[1.0, 1.0, 4.0, 4.0]])] * B
    t = mixkit.CutMix(num_classes=C)
    results = [t(x, y, rng=0), t(x, y, rng=0, mask=seg), t(x, y, rng=0, mask=seg, boxes=boxes)]
    for res, keys in zip(results, [set(), {"mask"}, {"mask", "boxes", "box_weights"}]):
        assert type(res) is mixkit.Mixed and isinstance(res, tuple) and len(res) == 2
        xm, ym = res
        assert xm is res.x and ym is res.y
        assert set(res.companions) == keys
        np.testing.assert_array_equal(res.x, results[0].x)  # one plan, whatever else came along
        np.testing.assert_array_equal(res.y, results[0].y)
    assert results[1].mask is results[1].companions["mask"]
    with pytest.raises(AttributeError, match="its companions are"):
        _ = results[0].mask
    assert t(x, rng=0).y is None


def test_mixed_pickles_and_is_read_only():
    x, y, seg = _batch()
    res = mixkit.CutMix(num_classes=C)(x, y, rng=0, mask=seg)
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is mixkit.Mixed and set(back.companions) == {"mask"}
    np.testing.assert_array_equal(back.mask, res.mask)
    np.testing.assert_array_equal(back.x, res.x)
    with pytest.raises(AttributeError, match="read-only"):
        res.x = 1


def test_apply_returns_the_same_kinds_as_a_call():
    x, y, seg = _batch()
    t = mixkit.FMix(num_classes=C)
    plan = t.sample(B, rng=1, shape=x.shape)
    assert type(t.apply(plan, x, y)) is mixkit.Mixed
    assert type(t.apply(plan, x, y, mask=seg)) is mixkit.Mixed
    out = t.apply(plan, {"image": x, "labels": y, "mask": seg})
    assert type(out) is dict and list(out) == ["image", "labels", "mask"]


def test_oneof_p_is_the_probability_of_mixing():
    x, y, _ = _batch()
    never = mixkit.OneOf([mixkit.MixUp(num_classes=C), mixkit.CutMix(num_classes=C)], p=0.0)
    for seed in range(5):
        xm, ym = never(x, y, rng=seed)
        np.testing.assert_array_equal(xm, x)
        np.testing.assert_array_equal(ym, np.eye(C)[y])
    half = mixkit.OneOf([mixkit.MixUp(num_classes=C)], p=0.5)
    mixed = [np.any(half.sample(B, rng=s, shape=x.shape).lam < 1) for s in range(400)]
    assert 0.4 < np.mean(mixed) < 0.6
    assert "weights=" in repr(half) and "p=0.5" in repr(half)


# ---- checks before anything is written ---------------------------------------------------------------


def _written_before_failing(call, x):
    before = x.copy()
    with pytest.raises(ValueError) as info:
        call()
    np.testing.assert_array_equal(x, before)
    return str(info.value)


@pytest.mark.parametrize("t", [mixkit.BalancedMixUp(num_classes=C), mixkit.LabelPairedMix(num_classes=C),
                               mixkit.Remix(num_classes=C), mixkit.Remix(num_classes=C, base=mixkit.CutMix())])
def test_label_aware_plans_refuse_a_mask_before_writing(t):
    x, y, seg = _batch()
    msg = _written_before_failing(lambda: t(x, y, mask=seg, inplace=True, rng=0), x)
    assert "LabelPlan, which cannot carry mask" in msg


@pytest.mark.parametrize("companion", ["mask", "boxes"])
def test_resizemix_and_audio_refuse_masks_and_boxes_before_writing(companion):
    x, y, seg = _batch()
    boxes = [np.array([[1.0, 1.0, 4.0, 4.0]])] * B
    value = {"mask": seg, "boxes": boxes}[companion]
    msg = _written_before_failing(
        lambda: mixkit.ResizeMix(num_classes=C)(x, y, inplace=True, rng=0, **{companion: value}), x)
    assert f"ResizePlan, which cannot carry {companion}" in msg
    clips = np.random.default_rng(1).normal(size=(B, 8, 10))
    msg = _written_before_failing(
        lambda: mixkit.AudioMixUp(num_classes=C)(clips, y, inplace=True, rng=0, **{companion: value}), clips)
    assert f"LoudnessPlan, which cannot carry {companion}" in msg


def test_pair_labels_of_a_mosaic_are_refused_before_writing():
    x, y, _ = _batch()
    plan = mixkit.Mosaic(num_classes=C).sample(B, rng=0, shape=x.shape)
    msg = _written_before_failing(
        lambda: mixkit.MixUp(num_classes=C, label_format="pair").apply(plan, x, y, inplace=True), x)
    assert "mixes more than two samples" in msg and "label_format='dense'" in msg


def test_companion_errors_found_while_mixing_leave_the_batch_alone():
    x, _, seg = _batch()
    # a blended mask needs the number of mask classes; bad boxes are found when they are read
    _written_before_failing(lambda: mixkit.MixUp()(x, mask=seg, inplace=True, rng=0), x)
    bad = [np.array([[1.0, 1.0, 40.0, 4.0]])] * B
    _written_before_failing(lambda: mixkit.CutMix()(x, boxes=bad, inplace=True, rng=0), x)
    _written_before_failing(lambda: mixkit.CutMix(num_classes=C)(x, np.full(B, 7), inplace=True, rng=0), x)


# ---- each check once per call ---------------------------------------------------------------------


def _count(monkeypatch, name, module_prefix="mixkit"):
    original = getattr(_validate if name == "check_batch" else labels, name)
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    for mod_name, mod in list(sys.modules.items()):
        # the public kernels check their own arguments; what is counted is the call above them
        own = mod_name.startswith(module_prefix) and not mod_name.startswith("mixkit.kernels")
        if own and getattr(mod, name, None) is original:
            monkeypatch.setattr(mod, name, counted)
    return calls


@pytest.mark.parametrize(("name", "with_mask"), [
    ("MixUp", False), ("CutMix", True), ("Remix", False), ("Remix(base=CutMix)", False),
    ("Scheduled(Remix)", False), ("SaliencyMix", False), ("ClassMix", True), ("Mosaic", True),
    ("OneOf(Remix, SaliencyMix)", False),
])
def test_one_call_checks_the_batch_once_and_the_labels_once(monkeypatch, name, with_mask):
    methods = _methods()
    methods["OneOf(Remix, SaliencyMix)"] = mixkit.OneOf([mixkit.Remix(num_classes=C), mixkit.SaliencyMix(num_classes=C)])
    t = methods[name]
    x, y, seg = _batch()
    batch_checks = _count(monkeypatch, "check_batch")
    label_checks = _count(monkeypatch, "check_labels")
    for seed in range(3):
        batch_checks.clear()
        label_checks.clear()
        t(x, y, rng=seed, **({"mask": seg} if with_mask else {}))
        assert [a is x for a in batch_checks] == [True]
        assert [a is y for a in label_checks] == [True]

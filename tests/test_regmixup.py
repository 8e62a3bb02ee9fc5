"""RegMixup: the clean half is the input, the mixed half is the mixer's plan replayed, the loss is the formula."""

import numpy as np
import pytest

import mixkit

torch = pytest.importorskip("torch")
F = torch.nn.functional
from mixkit.torch import RegMixup, RegMixupBatch, mixed_binary_cross_entropy, mixed_cross_entropy

B, C = 8, 4


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, 6, 6, generator=g), torch.randint(0, C, (B,), generator=g)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 36, 16), torch.nn.BatchNorm1d(16),
                               torch.nn.ReLU(), torch.nn.Linear(16, C))


def test_defaults_follow_the_paper():
    r = RegMixup(num_classes=C)
    assert isinstance(r.mixer, mixkit.MixUp)
    assert r.mixer.alpha == 20.0 and r.mixer.lam_mode == "batch" and r.mixer.num_classes == C
    assert r.weight == 1.0
    assert "alpha=20.0" in repr(r) and "weight=1.0" in repr(r)


@pytest.mark.parametrize("mixer", [None, mixkit.MixUp(10.0, num_classes=C, lam_mode="sample"),
                                   mixkit.CutMix(1.0, num_classes=C, label_format="pair"),
                                   mixkit.OneOf([mixkit.MixUp(num_classes=C), mixkit.CutMix(num_classes=C)])])
@pytest.mark.parametrize("seed", range(3))
def test_clean_half_is_the_input_and_mixed_half_replays_the_plan(mixer, seed):
    x, y = data(seed)
    x_before, y_before = x.clone(), y.clone()
    r = RegMixup(mixer, num_classes=C) if mixer is None else RegMixup(mixer, weight=0.5)
    out = r(x, y, rng=seed)
    assert isinstance(out, RegMixupBatch) and len(out) == B
    assert out.clean_x is x and out.clean_y is y            # the input itself, not a copy
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    replay = r.mixer.apply(out.plan, x, y)
    assert torch.equal(out.mixed_x, replay.x)
    if isinstance(replay.y, mixkit.MixedTargets):
        assert torch.equal(out.mixed_y.y_b, replay.y.y_b) and torch.equal(out.mixed_y.lam, replay.y.lam)
    else:
        assert torch.equal(out.mixed_y, replay.y)
    # the same seed draws the same plan as the mixer itself
    plan = r.mixer.sample(B, rng=seed, shape=tuple(x.shape), x=x, y=y)
    assert np.array_equal(plan.partner, out.plan.partner) and np.array_equal(plan.lam, out.plan.lam)
    assert out.weight == r.weight


def test_large_alpha_keeps_lam_near_one_half():
    x, y = data()
    lams = []
    for s in range(200):
        plan = RegMixup(num_classes=C)(x, y, rng=s).plan
        moved = plan.partner != np.arange(B)          # a sample paired with itself keeps lam = 1
        lams.append(plan.lam[moved][0])
    # Beta(20, 20): mean 0.5, standard deviation 1 / (2 * sqrt(41)) ~ 0.078
    assert abs(np.mean(lams) - 0.5) < 0.03 and 0.05 < np.std(lams) < 0.11


@pytest.mark.parametrize("weight", [0.0, 1.0, 2.5])
def test_loss_index_labels_equals_the_formula(weight):
    x, y = data(1)
    out = RegMixup(num_classes=C, weight=weight)(x, y, rng=4)
    net = model()
    loss = out.loss(net)
    net2 = model()
    logits = net2(torch.cat([x, out.mixed_x]))               # one forward pass of 2B
    partner = torch.tensor(np.array(out.plan.partner))
    lam = float(out.plan.lam[0])
    mixed = lam * F.cross_entropy(logits[B:], y) + (1 - lam) * F.cross_entropy(logits[B:], y[partner])
    want = F.cross_entropy(logits[:B], y) + weight * mixed
    torch.testing.assert_close(loss, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.loss(logits=logits), want, rtol=1e-6, atol=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_loss_with_dense_rows_pair_form_and_label_smoothing():
    x, y = data(2)
    for fmt in ("dense", "pair"):
        mixer = mixkit.MixUp(20.0, num_classes=C, label_smoothing=0.1, label_format=fmt)
        out = RegMixup(mixer, weight=0.7)(x, y, rng=1)
        logits = torch.randn(2 * B, C, generator=torch.Generator().manual_seed(3))
        want = (F.cross_entropy(logits[:B], y, label_smoothing=0.1)
                + 0.7 * mixed_cross_entropy(logits[B:], out.mixed_y))
        torch.testing.assert_close(out.loss(logits=logits), want, rtol=1e-6, atol=1e-6)


def test_concat_holds_the_clean_samples_untouched_then_the_mixed_ones():
    x, y = data(3)
    for fmt in ("dense", "pair"):
        out = RegMixup(mixkit.MixUp(20.0, num_classes=C, label_format=fmt))(x, y, rng=0)
        xc, yc = out.concat()
        assert xc.shape == (2 * B, 3, 6, 6)
        assert torch.equal(xc[:B], x) and torch.equal(xc[B:], out.mixed_x)
        dense = yc.dense() if fmt == "pair" else yc
        assert torch.equal(dense[:B], F.one_hot(y, C).float())
        mixed = out.mixed_y.dense() if fmt == "pair" else out.mixed_y
        assert torch.equal(dense[B:], mixed)
        # a plain mean over the 2B batch is half of CE(clean) + CE(mixed) (the authors' training loss)
        logits = torch.randn(2 * B, C, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(mixed_cross_entropy(logits, yc), out.loss(logits=logits) / 2,
                                   rtol=1e-6, atol=1e-6)


def test_multi_hot_labels_with_bce():
    x, _ = data(4)
    y = (torch.rand(B, C, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    out = RegMixup(mixkit.MixUp(20.0, label_format="pair"))(x, y, rng=2)
    assert out.clean_y is y
    logits = torch.randn(2 * B, C, generator=torch.Generator().manual_seed(2))
    loss = out.loss(logits=logits, loss_fn=mixed_binary_cross_entropy)
    want = (F.binary_cross_entropy_with_logits(logits[:B], y)
            + F.binary_cross_entropy_with_logits(logits[B:], out.mixed_y.dense()))
    torch.testing.assert_close(loss, want, rtol=1e-6, atol=1e-6)
    _, yc = out.concat()
    assert torch.equal(yc.dense()[:B], y)


def test_errors():
    x, y = data()
    with pytest.raises(TypeError, match="mixer must be a mixkit method with sample.. and apply.."):
        RegMixup(lambda a: a)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0, got -1"):
        RegMixup(num_classes=C, weight=-1)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0, got nan"):
        RegMixup(num_classes=C, weight=float("nan"))
    with pytest.raises(TypeError, match="weight must be a number >= 0, got str"):
        RegMixup(num_classes=C, weight="1")
    with pytest.raises(ValueError, match="num_classes=4 is for the default mixer; the given mixer has num_classes=None"):
        RegMixup(mixkit.MixUp(20.0), num_classes=C)
    with pytest.raises(ValueError, match="num_classes must be a positive int or None, got 0"):
        RegMixup(num_classes=0)
    r = RegMixup(num_classes=C)
    with pytest.raises(TypeError, match="x must be a torch tensor"):
        r(x.numpy(), y)
    with pytest.raises(TypeError, match="y must be a torch tensor of class indices"):
        r(x, None)
    with pytest.raises(ValueError, match="num_classes is needed"):
        RegMixup()(x, y)
    with pytest.raises(ValueError, match="x has batch size 8 but y has 7 labels"):
        r(x, y[:7])
    out = r(x, y, rng=0)
    with pytest.raises(ValueError, match="exactly one of model"):
        out.loss()
    with pytest.raises(ValueError, match=r"shape \(2B, C\) with 2B=16, got \(8, 4\)"):
        out.loss(logits=torch.zeros(B, C))
    with pytest.raises(TypeError, match="model must be a callable"):
        out.loss(3)


def test_probability_rows_use_soft_cross_entropy_on_the_clean_half():
    x, _ = data(5)
    rows = torch.softmax(torch.randn(B, C, generator=torch.Generator().manual_seed(4)), dim=1)
    out = RegMixup()(x, rows, rng=3)                      # rows need no num_classes
    assert out.clean_y is rows
    logits = torch.randn(2 * B, C, generator=torch.Generator().manual_seed(5))
    want = (-(rows * F.log_softmax(logits[:B], 1)).sum(1).mean()
            + -(out.mixed_y * F.log_softmax(logits[B:], 1)).sum(1).mean())
    torch.testing.assert_close(out.loss(logits=logits), want, rtol=1e-6, atol=1e-6)


def test_regmixup_pickles_and_draws_the_same_plan():
    import pickle

    x, y = data(6)
    r = RegMixup(mixkit.MixUp(10.0, num_classes=C, lam_mode="sample"), weight=0.3)
    r2 = pickle.loads(pickle.dumps(r))
    a, b = r(x, y, rng=7), r2(x, y, rng=7)
    assert r2.weight == 0.3 and torch.equal(a.mixed_x, b.mixed_x) and torch.equal(a.mixed_y, b.mixed_y)

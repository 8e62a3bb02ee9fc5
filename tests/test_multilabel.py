"""Multi-hot targets (B, C) through MixUp, CutMix and the pair form, and the multi-label BCE helper."""

import numpy as np
import pytest

import mixkit

torch = pytest.importorskip("torch")
F = torch.nn.functional
from mixkit.torch import mixed_binary_cross_entropy

# multi-hot rows with 0 to 5 ones: only row 4 (one-hot) sums to 1
Y = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 0, 0, 1], [0, 0, 0, 1, 0],
              [1, 1, 1, 1, 1]], dtype=np.float64)
B, C = Y.shape


def expected(y: torch.Tensor, partner, lam) -> torch.Tensor:
    lam = torch.tensor(np.array(lam), dtype=torch.float64).reshape(-1, 1)
    yy = y.to(torch.float64)
    return lam * yy + (1 - lam) * yy[torch.tensor(np.array(partner))]


def batch(seed=0):
    return torch.rand(B, 3, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.int64, torch.bool])
@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("seed", range(4))
def test_mixup_keeps_weighted_multi_hot(dtype, lam_mode, seed):
    y = torch.tensor(Y).to(dtype)
    before = y.clone()
    t = mixkit.MixUp(0.4, lam_mode=lam_mode)
    x = batch(seed)
    plan = t.sample(B, rng=seed, shape=x.shape)
    res = t.apply(plan, x, y)
    torch.testing.assert_close(res.y.to(torch.float64), expected(y, plan.partner, plan.lam),
                               rtol=0, atol=1e-6 if dtype != torch.float64 else 1e-12)
    assert torch.equal(y, before)
    # never renormalised: a row sums to lam * |y_i| + (1 - lam) * |y_partner|, not to 1
    sums = res.y.to(torch.float64).sum(1)
    lam = torch.tensor(np.array(plan.lam))
    own, other = y.to(torch.float64).sum(1), y.to(torch.float64).sum(1)[torch.tensor(np.array(plan.partner))]
    torch.testing.assert_close(sums, lam * own + (1 - lam) * other, rtol=0, atol=1e-5)


def test_mixup_with_a_dyadic_lam_is_exact():
    y = torch.tensor(Y, dtype=torch.float32)
    t = mixkit.MixUp(lam=0.75, pairing="flip")
    x = batch().float()
    plan = t.sample(B, rng=0, shape=x.shape)
    res = t.apply(plan, x, y)
    want = 0.75 * y + 0.25 * y[torch.tensor(np.array(plan.partner))]
    assert torch.equal(res.y, want)
    assert set(res.y.unique().tolist()) <= {0.0, 0.25, 0.75, 1.0}
    assert plan.partner[5] == 0                     # "flip": the all-ones row meets row 0
    assert res.y[5].tolist() == [1.0, 0.75, 1.0, 0.75, 0.75]   # sums to 4.25, not renormalised
    assert not torch.allclose(res.y.sum(1), torch.ones(B))


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("seed", range(4))
def test_cutmix_weights_multi_hot_by_kept_area(lam_mode, seed):
    y = torch.tensor(Y, dtype=torch.float64)
    x = batch(seed)
    t = mixkit.CutMix(1.0, lam_mode=lam_mode)
    plan = t.sample(B, rng=seed, shape=x.shape)
    res = t.apply(plan, x, y)
    # lam is the kept area: the fraction of each sample still equal to its own data
    kept = (res.x == x).to(torch.float64).mean(dim=(1, 2, 3))
    partner = torch.tensor(np.array(plan.partner))
    self_paired = partner == torch.arange(B)
    torch.testing.assert_close(kept[~self_paired], torch.tensor(np.array(plan.lam))[~self_paired], rtol=0, atol=1e-12)
    torch.testing.assert_close(res.y, expected(y, plan.partner, plan.lam), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", [mixkit.MixUp(0.4, label_format="pair"),
                                    mixkit.CutMix(1.0, lam_mode="sample", label_format="pair")])
def test_pair_form_holds_the_multi_hot_rows(method):
    y = torch.tensor(Y, dtype=torch.float32)
    x = batch().float()
    plan = method.sample(B, rng=3, shape=x.shape)
    res = method.apply(plan, x, y)
    pair = res.y
    assert isinstance(pair, mixkit.MixedTargets)
    assert torch.equal(pair.y_a, y)
    assert torch.equal(pair.y_b, y[torch.tensor(np.array(plan.partner))])
    torch.testing.assert_close(pair.dense().double(), expected(y, plan.partner, plan.lam), rtol=0, atol=1e-6)


# -- the loss ---------------------------------------------------------------------------------------

def logits_for(seed=0, dtype=torch.float64):
    return torch.randn(B, C, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_dense_and_pair_equal_dense_bce_with_gradients(reduction, with_pos_weight):
    y = torch.tensor(Y)
    x = batch()
    pos_weight = torch.linspace(0.5, 3.0, C, dtype=torch.float64) if with_pos_weight else None
    dense_t = mixkit.MixUp(0.4, lam_mode="sample")
    pair_t = mixkit.MixUp(0.4, lam_mode="sample", label_format="pair")
    plan = dense_t.sample(B, rng=5, shape=x.shape)
    dense = dense_t.apply(plan, x, y).y
    pair = pair_t.apply(plan, x, y).y

    losses, grads = [], []
    for kind in ("torch", "dense", "pair"):
        z = logits_for().requires_grad_(True)
        if kind == "torch":
            loss = F.binary_cross_entropy_with_logits(z, dense, reduction=reduction, pos_weight=pos_weight)
        else:
            loss = mixed_binary_cross_entropy(z, dense if kind == "dense" else pair, reduction=reduction,
                                              pos_weight=pos_weight)
        (loss.sum() if reduction == "none" else loss).backward()
        losses.append(loss.detach())
        grads.append(z.grad)
    assert losses[0].shape == ((B, C) if reduction == "none" else ())
    for loss, grad in zip(losses[1:], grads[1:]):
        torch.testing.assert_close(loss, losses[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, grads[0], rtol=1e-12, atol=1e-12)


def test_bce_pair_form_with_cutmix_and_label_smoothing():
    y = torch.tensor(Y, dtype=torch.float32)
    x = batch().float()
    t = mixkit.CutMix(1.0, lam_mode="sample", label_format="pair", label_smoothing=0.1)
    res = t(x, y, rng=2)
    z = logits_for(1, torch.float32)
    want = F.binary_cross_entropy_with_logits(z, res.y.dense())
    torch.testing.assert_close(mixed_binary_cross_entropy(z, res.y), want, rtol=1e-6, atol=1e-6)


def test_bce_pair_form_with_index_labels_is_one_hot_bce():
    y = torch.tensor([0, 3, 1, 4, 2, 2])
    x = batch().float()
    t = mixkit.MixUp(0.4, num_classes=C, label_format="pair", lam_mode="sample")
    res = t(x, y, rng=1)
    z = logits_for(2, torch.float32)
    want = F.binary_cross_entropy_with_logits(z, res.y.dense())
    torch.testing.assert_close(mixed_binary_cross_entropy(z, res.y), want, rtol=1e-6, atol=1e-6)


def test_bce_errors():
    z = logits_for(dtype=torch.float32)
    y = torch.tensor(Y, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"same shape \(B, C\); got \(6, 5\) and \(6, 4\)"):
        mixed_binary_cross_entropy(z, y[:, :4])
    with pytest.raises(TypeError, match="targets must be a .B, C. tensor or mixkit.MixedTargets, got ndarray"):
        mixed_binary_cross_entropy(z, Y)
    with pytest.raises(TypeError, match="logits must be a torch tensor"):
        mixed_binary_cross_entropy(Y, y)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        mixed_binary_cross_entropy(z, y, reduction="avg")
    x = batch().float()
    pair = mixkit.MixUp(0.4, label_format="pair")(x, y, rng=0).y
    with pytest.raises(ValueError, match=r"logits must have shape \(B, C\) with B=6"):
        mixed_binary_cross_entropy(z[:4], pair)
    with pytest.raises(ValueError, match="targets.y_a has 5 columns but logits have 3"):
        mixed_binary_cross_entropy(z[:, :3], pair)
    idx_pair = mixkit.MixUp(0.4, num_classes=C, label_format="pair")(x, torch.arange(B) % C, rng=0).y
    with pytest.raises(ValueError, match="built for num_classes=5 but logits have 3 columns"):
        mixed_binary_cross_entropy(z[:, :3], idx_pair)
    bad = mixkit.MixedTargets(torch.zeros(B, 2, C), torch.zeros(B, 2, C), torch.ones(B))
    with pytest.raises(ValueError, match=r"class indices \(B,\) or multi-hot rows \(B, C\), got shape \(6, 2, 5\)"):
        mixed_binary_cross_entropy(z, bad)
    floats = mixkit.MixedTargets(torch.zeros(B), torch.zeros(B), torch.ones(B))
    with pytest.raises(TypeError, match="must hold integer class indices, got dtype torch.float32"):
        mixed_binary_cross_entropy(z, floats)

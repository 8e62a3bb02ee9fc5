"""PuzzleMix: targets and images follow the plan, the mask is the exact minimum of its energy, the
transport permutes blocks, the saliency is autograd's, and bad inputs are refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mixkit.torch import PuzzleMix
from mixkit.torch._puzzle_cpu import solve_labels


def tiny_model(c: int = 3, classes: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(c, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(classes)
    )


def batch(b: int = 6, c: int = 3, h: int = 16, w: int = 16, classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g), torch.randint(0, classes, (b,), generator=g)


def peaked_saliency(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = np.random.default_rng(seed)
    return torch.from_numpy(g.gamma(0.3, size=(b, h, w))).float()


def blocks_of(img: torch.Tensor, t: int) -> list[torch.Tensor]:
    _c, h, w = img.shape
    bh, bw = h // t, w // t
    return [img[:, r * bh:(r + 1) * bh, q * bw:(q + 1) * bw] for r in range(t) for q in range(t)]


def rebuild(img: torch.Tensor, src: torch.Tensor, t: int) -> torch.Tensor:
    """The plan's transport applied block by block (the oracle for the vectorised gather)."""
    parts = blocks_of(img, t)
    out = torch.empty_like(img)
    bh, bw = img.shape[1] // t, img.shape[2] // t
    for k, s in enumerate(src.tolist()):
        r, q = divmod(k, t)
        out[:, r * bh:(r + 1) * bh, q * bw:(q + 1) * bw] = parts[s]
    return out


@pytest.mark.parametrize("transport", [False, True])
@pytest.mark.parametrize("n_labels", [2, 3])
def test_image_and_targets_follow_the_plan(transport: bool, n_labels: int) -> None:
    x, y = batch()
    s = peaked_saliency(6, 16, 16)
    pm = PuzzleMix(1.0, num_classes=5, n_labels=n_labels, transport=transport, block_counts=(2, 4, 8))
    res = pm.mix(x, y, saliency=s, rng=3)
    p = res.plan
    n, t = p.block_count, p.transport_count
    mask = torch.from_numpy(p.labels).float() / (n_labels - 1)
    mask = mask.repeat_interleave(16 // n, 1).repeat_interleave(16 // n, 2)
    torch.testing.assert_close(p.mask, mask)
    torch.testing.assert_close(p.lam, mask.reshape(6, -1).mean(1))
    for i in range(6):
        own = rebuild(x[i], p.transport_own[i], t)
        other = rebuild(x[int(p.partner[i])], p.transport_partner[i], t)
        torch.testing.assert_close(res.x[i], mask[i] * own + (1 - mask[i]) * other)
        expect = torch.zeros(5)
        expect[int(y[i])] += float(p.lam[i])
        expect[int(y[int(p.partner[i])])] += 1 - float(p.lam[i])
        torch.testing.assert_close(res.y[i], expect)
    torch.testing.assert_close(res.y.sum(1), torch.ones(6))
    assert sorted(p.partner.tolist()) == list(range(6))


def test_probability_rows_mixed_by_mask_mean() -> None:
    x, _ = batch()
    rows = torch.softmax(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)), 1)
    res = PuzzleMix(1.0).mix(x, rows, saliency=peaked_saliency(6, 16, 16), rng=0)
    lam = res.plan.lam[:, None]
    torch.testing.assert_close(res.y, lam * rows + (1 - lam) * rows[torch.from_numpy(res.plan.partner)])


def brute_force_min(d: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> float:
    k, n, _ = d.shape
    labs = np.array(list(itertools.product(range(k), repeat=n * n))).reshape(-1, n, n)
    e = np.take_along_axis(d.reshape(1, k, n * n), labs.reshape(-1, 1, n * n), 1)[:, 0].sum(1)
    e += (wx[None] * (labs[:, :-1, :] - labs[:, 1:, :]) ** 2).sum((1, 2)) / (k - 1) ** 2
    e += (wy[None] * (labs[:, :, :-1] - labs[:, :, 1:]) ** 2).sum((1, 2)) / (k - 1) ** 2
    return float(e.min())


def energy(d: np.ndarray, wx: np.ndarray, wy: np.ndarray, lab: np.ndarray) -> float:
    k = d.shape[0]
    e = np.take_along_axis(d, lab[None], 0).sum()
    e += (wx * (lab[:-1, :] - lab[1:, :]) ** 2).sum() / (k - 1) ** 2
    return float(e + (wy * (lab[:, :-1] - lab[:, 1:]) ** 2).sum() / (k - 1) ** 2)


@pytest.mark.parametrize("n_labels", [2, 3, 4])
def test_mask_is_the_brute_force_minimum_of_the_paper_energy(n_labels: int) -> None:
    # gamma = 0: the energy written out from the paper, independently of the implementation
    b, n = 4, 3 if n_labels < 4 else 2
    h = 6
    x, y = batch(b, h=h, w=h)
    s = peaked_saliency(b, h, h, seed=n_labels)
    for seed in range(3):
        pm = PuzzleMix(1.0, num_classes=5, n_labels=n_labels, gamma=0.0, beta=1.2, eta=0.2,
                       transport=False, block_counts=(n,))
        res = pm.mix(x, y, saliency=s, rng=seed)
        p = res.plan
        lam = p.lam_prior
        pooled = s.reshape(b, n, h // n, n, h // n).mean((2, 4)).double().numpy()
        pooled /= pooled.sum((1, 2), keepdims=True)
        levels = np.linspace(0, 1, n_labels)
        prior = np.array([-math.log(math.comb(n_labels - 1, j) * lam**j * (1 - lam) ** (n_labels - 1 - j) + 1e-8)
                          for j in range(n_labels)])
        w = 1.2 / n / 16
        for i in range(b):
            own, other = pooled[i], pooled[int(p.partner[i])]
            d = levels[:, None, None] * other[None] + (1 - levels[:, None, None]) * own[None]
            d = d + 0.2 * prior[:, None, None] / n**2
            wx, wy = np.full((n - 1, n), w), np.full((n, n - 1), w)
            assert energy(d, wx, wy, p.labels[i]) <= brute_force_min(d, wx, wy) + 1e-6


def test_solver_is_exact_on_the_full_energy_with_local_statistics() -> None:
    x, _y = batch(4, h=6, w=6)
    pm = PuzzleMix(0.7, num_classes=5, gamma=3.0, beta=4.0, transport=False, block_counts=(3,))
    part = torch.tensor([1, 2, 3, 0])
    d, wx, wy = pm._unaries(x, peaked_saliency(4, 6, 6), part, 3, 0.4)
    assert (wx > 1.2 / 48).any()  # the local statistics changed the edge weights
    labels = solve_labels(d, wx, wy)
    for i in range(4):
        assert energy(d[i], wx[i], wy[i], labels[i]) <= brute_force_min(d[i], wx[i], wy[i]) + 1e-9


def test_solver_random_energies_match_brute_force() -> None:
    g = np.random.default_rng(5)
    for _ in range(40):
        k, n = int(g.integers(2, 5)), int(g.integers(1, 4))
        n = 2 if k**(n * n) > 30000 else n
        d = g.normal(size=(1, k, n, n))
        wx, wy = g.exponential(size=(1, n - 1, n)), g.exponential(size=(1, n, n - 1))
        lab = solve_labels(d, wx, wy)[0]
        assert lab.min() >= 0 and lab.max() < k
        assert energy(d[0], wx[0], wy[0], lab) <= brute_force_min(d[0], wx[0], wy[0]) + 1e-9


def test_salient_blocks_are_kept() -> None:
    # own saliency all in the top-left block, the partner's in the bottom-right: each keeps its own
    x, y = batch(2, h=8, w=8)
    s = torch.full((2, 8, 8), 1e-3)
    s[0, :4, :4] = 1.0
    s[1, 4:, 4:] = 1.0
    pm = PuzzleMix(1.0, num_classes=5, n_labels=2, transport=False, block_counts=(2,), beta=0.0, eta=0.0)
    checked = 0
    for seed in range(8):
        p = pm.mix(x, y, saliency=s, rng=seed).plan
        for i in range(2):
            if p.partner[i] != i:
                corner = (0, 0) if i == 0 else (1, 1)
                other = (1, 1) if i == 0 else (0, 0)
                assert p.labels[i][corner] == 1 and p.labels[i][other] == 0
                checked += 1
    assert checked > 0


def test_transport_permutes_blocks_and_moves_saliency_into_the_mask() -> None:
    x, y = batch(8, h=16, w=16)
    s = peaked_saliency(8, 16, 16, seed=2)
    for t_size, counts in ((None, (2, 4, 8)), (2, (2, 4))):
        for seed in range(4):
            pm = PuzzleMix(1.0, num_classes=5, t_size=t_size, t_eps=0.1, block_counts=counts)
            p = pm.mix(x, y, saliency=s, rng=seed).plan
            t = p.transport_count
            for side in (p.transport_own, p.transport_partner):
                assert sorted_rows_are_ranges(side, t * t)


def sorted_rows_are_ranges(src: torch.Tensor, n: int) -> bool:
    return bool((src.sort(1).values == torch.arange(n)).all())


def test_transport_kept_saliency_not_below_identity() -> None:
    from mixkit.torch.puzzlemix import _transport

    g = torch.Generator().manual_seed(0)
    sal = torch.rand(16, 16, generator=g) ** 4
    sal = sal / sal.sum(1, keepdim=True)
    shown = (torch.rand(16, 16, generator=g) > 0.5).float()
    src = _transport(shown, sal, 0.0, 4)
    assert sorted_rows_are_ranges(src, 16)
    kept = (sal.gather(1, src) * shown).sum(1)
    assert (kept >= (sal * shown).sum(1) - 1e-6).all()


def test_saliency_is_autograd_grad_norm_and_leaves_params_alone() -> None:
    model = tiny_model()
    x, y = batch()
    model(x)  # materialise the lazy layer
    for prm in model.parameters():
        prm.grad = torch.full_like(prm, 0.25)
    model.eval()
    pm = PuzzleMix(1.0, num_classes=5)
    s = pm.saliency(model, x, y)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), y), xg)
    torch.testing.assert_close(s, g.norm(dim=1))
    assert s.shape == (6, 16, 16) and not s.requires_grad
    assert all(bool((prm.grad == 0.25).all()) for prm in model.parameters())
    assert not model.training


def test_call_uses_the_model_saliency_and_does_not_mutate() -> None:
    model = tiny_model()
    x, y = batch()
    x0, y0 = x.clone(), y.clone()
    pm = PuzzleMix(1.0, num_classes=5)
    a = pm(model, x, y, rng=11)
    b = pm.mix(x, y, saliency=pm.saliency(model, x, y), rng=11)
    torch.testing.assert_close(a.x, b.x)
    torch.testing.assert_close(a.y, b.y)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert all(prm.grad is None for prm in model.parameters())


def test_seeded_reproducible() -> None:
    x, y = batch()
    s = peaked_saliency(6, 16, 16)
    pm = PuzzleMix(1.0, num_classes=5)
    a, b = pm.mix(x, y, saliency=s, rng=7), pm.mix(x, y, saliency=s, rng=np.random.default_rng(7))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert np.array_equal(a.plan.partner, b.plan.partner) and a.plan.block_count == b.plan.block_count
    c = pm.mix(x, y, saliency=s, rng=np.random.SeedSequence(7))
    assert c.x.shape == a.x.shape


def test_batch_of_one_returns_input() -> None:
    x, y = batch(1)
    res = PuzzleMix(1.0, num_classes=5)(tiny_model(), x, y, rng=0)
    assert torch.equal(res.x, x) and res.x is not x
    torch.testing.assert_close(res.y, torch.nn.functional.one_hot(y, 5).float())
    assert float(res.plan.lam[0]) == 1.0


def test_clean_loss_and_adversarial_noise() -> None:
    model = tiny_model()
    x, y = batch()
    res = PuzzleMix(1.0, num_classes=5, clean_lam=1.0, adv_p=1.0)(model, x, y, rng=0)
    assert res.plan.noise_own and res.plan.noise_partner
    assert torch.isfinite(res.x).all() and res.x.min() >= 0 and res.x.max() <= 1
    assert not torch.equal(res.x, PuzzleMix(1.0, num_classes=5)(model, x, y, rng=0).x)
    res.clean_loss.backward()
    assert all(prm.grad is not None for prm in model.parameters())


def test_bad_inputs() -> None:
    x, y = batch()
    s = peaked_saliency(6, 16, 16)
    pm = PuzzleMix(1.0, num_classes=5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        pm.mix(x[0], y, saliency=s)
    with pytest.raises(TypeError, match="float tensor"):
        pm.mix((x * 255).to(torch.uint8), y, saliency=s)
    with pytest.raises(TypeError, match="torch tensor"):
        pm.mix(x.numpy(), y, saliency=s)
    with pytest.raises(ValueError, match="batch size 6 but y has 5"):
        pm.mix(x, y[:5], saliency=s)
    with pytest.raises(ValueError, match="num_classes is needed"):
        PuzzleMix(1.0).mix(x, y, saliency=s)
    with pytest.raises(ValueError, match=r"saliency must have shape \(B, H, W\)"):
        pm.mix(x, y, saliency=s[:, :8])
    with pytest.raises(TypeError, match="saliency must be a float"):
        pm.mix(x, y, saliency=s.long())
    with pytest.raises(ValueError, match="none of block_counts"):
        PuzzleMix(1.0, num_classes=5, block_counts=(3,)).mix(x, y, saliency=s)
    with pytest.raises(ValueError, match="model must return logits"):
        pm(lambda t: t.sum((2, 3, 1)), x, y)
    with pytest.raises(TypeError, match="model must be a callable"):
        pm(3, x, y)
    with pytest.raises(ValueError, match="alpha"):
        PuzzleMix(0.0)
    with pytest.raises(ValueError, match="n_labels must be an int >= 2"):
        PuzzleMix(n_labels=1)
    with pytest.raises(TypeError, match="n_labels must be an int"):
        PuzzleMix(n_labels=2.5)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        PuzzleMix(beta=-1.0)
    with pytest.raises(ValueError, match="block_counts"):
        PuzzleMix(block_counts=())
    with pytest.raises(ValueError, match=r"block_counts\[...\] must be an int >= 2"):
        PuzzleMix(block_counts=(1, 2))
    with pytest.raises(TypeError, match="transport must be True or False"):
        PuzzleMix(transport="yes")
    with pytest.raises(ValueError, match="adv_p"):
        PuzzleMix(adv_p=1.5)
    with pytest.raises(ValueError, match="std must hold finite numbers > 0"):
        PuzzleMix(std=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="mean has 2 values but x has 3 channels"):
        PuzzleMix(num_classes=5, mean=(0.5, 0.5)).mix(x, y, saliency=s)


def test_float64_batch_and_saliency_untouched() -> None:
    x, y = batch()
    x = x.double()
    s = peaked_saliency(6, 16, 16)
    s0 = s.clone()
    res = PuzzleMix(1.0, num_classes=5, t_size=2).mix(x, y, saliency=s, rng=2)
    assert res.x.dtype == torch.float64 and res.y.dtype == torch.float64
    assert torch.equal(s, s0)
    assert sorted_rows_are_ranges(res.plan.transport_own, res.plan.transport_count**2)

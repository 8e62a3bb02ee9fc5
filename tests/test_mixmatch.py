"""MixMatch: label guessing, sharpening, the joint MixUp, the loss and its ramp-up, batch-norm passes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")

from mixkit.torch import MixMatch, MixMatchLoss, sharpen


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread avoids thread start-up and contention costs on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Recorder(torch.nn.Module):
    """A small model with batch norm that records the batch size of each forward pass."""

    def __init__(self, d=6, c=3):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                       torch.nn.Linear(16, c))
        self.calls = []

    def forward(self, x):
        self.calls.append((x.shape[0], torch.is_grad_enabled()))
        return self.net(x)


@given(rows=st.integers(1, 6), c=st.integers(2, 6), t=st.floats(0.05, 3.0), seed=st.integers(0, 1000))
def test_sharpen_keeps_distributions_and_sharpens(rows, c, t, seed):
    p = torch.softmax(torch.randn(rows, c, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), -1)
    q = sharpen(p, t)
    torch.testing.assert_close(q.sum(-1), torch.ones(rows, dtype=torch.float64))
    assert torch.equal(q.argmax(-1), p.argmax(-1)) or torch.allclose(q.max(-1).values, p.max(-1).values)
    if t < 1:
        assert torch.all(q.max(-1).values >= p.max(-1).values - 1e-12)
    torch.testing.assert_close(sharpen(p, 1.0), p)


def test_guess_is_the_sharpened_mean_over_views_without_grad():
    model = Recorder()
    mm = MixMatch(3, K=3, T=0.5)
    views = [torch.randn(5, 6) for _ in range(3)]
    q = mm.guess_labels(model, views)
    assert not q.requires_grad and q.shape == (5, 3)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(model(v), -1) for v in views]).mean(0)
    # batch norm in train mode uses batch statistics, so compare with one pass over all views
    with torch.no_grad():
        joint = torch.softmax(model(torch.cat(views)), -1).view(3, 5, 3).mean(0)
    torch.testing.assert_close(q, sharpen(joint, 0.5))
    assert mean.shape == joint.shape


def reference_loss(model, mm, x, y, views, step, seed):
    """MixMatch written out from the paper, with the same MixUp plan."""
    b = x.shape[0]
    with torch.no_grad():
        q = sharpen(torch.softmax(model(torch.cat(views)), -1).view(len(views), views[0].shape[0], -1).mean(0), mm.T)
    w_in = torch.cat([x] + views)
    w_t = torch.cat([F.one_hot(y, mm.num_classes).float()] + [q] * len(views))
    plan = mm.plan(w_in.shape[0], rng=seed)
    lam = torch.tensor(plan.lam, dtype=torch.float32)[:, None]
    p = torch.tensor(plan.partner)
    mixed = lam * w_in + (1 - lam) * w_in[p]
    targets = lam * w_t + (1 - lam) * w_t[p]
    logits = model(mixed)
    lx = -(targets[:b] * torch.log_softmax(logits[:b], -1)).sum(-1).mean()
    lu = ((torch.softmax(logits[b:], -1) - targets[b:]) ** 2).mean()
    return lx, lu, plan


@pytest.mark.parametrize("mixup", [True, False])
def test_loss_matches_the_written_out_algorithm(mixup):
    model = Recorder()
    mm = MixMatch(3, K=2, rampup_steps=100, mixup=mixup)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 6, generator=gen), torch.tensor([0, 1, 2, 1])
    views = [torch.randn(8, 6, generator=gen) for _ in range(2)]
    out = mm(model, x, y, views, step=40, rng=7)
    assert isinstance(out, MixMatchLoss)
    lx, lu, plan = reference_loss(model, mm, x, y, views, 40, 7)
    torch.testing.assert_close(out.labelled, lx.detach())
    torch.testing.assert_close(out.unlabelled, lu.detach())
    assert out.weight == pytest.approx(75.0 * 0.4)
    torch.testing.assert_close(out.loss, lx + out.weight * lu)
    if mixup:
        assert np.all(plan.lam >= 0.5) and np.any(plan.lam < 1)  # each sample keeps the larger share
    else:
        assert np.all(plan.lam == 1.0) and np.all(plan.partner == np.arange(20))


def test_one_guess_pass_and_one_training_pass_over_the_whole_mixed_batch():
    model = Recorder()
    mm = MixMatch(3, K=2, augment=lambda u: u + 0.01)
    x, y, u = torch.randn(4, 6), torch.tensor([0, 1, 2, 0]), torch.randn(8, 6)
    out = mm(model, x, y, u, step=0, rng=0)
    assert model.calls == [(16, False), (20, True)]
    out.loss.backward()
    assert model.net[0].weight.grad is not None
    assert out.weight == 0.0 and float(out.loss.detach()) == pytest.approx(float(out.labelled))


def test_ramp_up():
    mm = MixMatch(10, lambda_u=50.0, rampup_steps=200)
    assert [mm.weight(s) for s in (0, 100, 200, 10_000)] == [0.0, 25.0, 50.0, 50.0]
    assert MixMatch(10, lambda_u=3.0, rampup_steps=0).weight(0) == 3.0


def test_probability_labels_and_training_reduces_the_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 1, 0, 1])
    x = centres[y] + 0.3 * torch.randn(4, 2, generator=gen)
    mm = MixMatch(2, augment=lambda u: u + 0.1 * torch.randn(u.shape, generator=gen), rampup_steps=20)
    first = last = None
    for step in range(60):
        u = centres[torch.randint(0, 2, (32,), generator=gen)] + 0.3 * torch.randn(32, 2, generator=gen)
        out = mm(model, x, F.one_hot(y, 2).float(), u, step=step, rng=step)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = float(out.labelled) if first is None else first
        last = float(out.labelled)
    assert last < first
    model.eval()
    test_y = torch.randint(0, 2, (200,), generator=gen)
    test_x = centres[test_y] + 0.3 * torch.randn(200, 2, generator=gen)
    assert (model(test_x).argmax(1) == test_y).float().mean() > 0.95


def test_errors():
    model = Recorder()
    x, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    mm = MixMatch(3)
    with pytest.raises(ValueError, match="no augment= was given"):
        mm(model, x, y, torch.randn(8, 6), step=0)
    with pytest.raises(ValueError, match="expected K=2 augmented views"):
        mm(model, x, y, [torch.randn(8, 6)], step=0)
    with pytest.raises(TypeError, match="u must be a tensor or a sequence"):
        mm(model, x, y, np.zeros((8, 6)), step=0)
    with pytest.raises(ValueError, match="the K views must have the same shape"):
        mm(model, x, y, [torch.randn(8, 6), torch.randn(7, 6)], step=0)
    with pytest.raises(ValueError, match="same shape; got x"):
        mm(model, x, y, [torch.randn(8, 5), torch.randn(8, 5)], step=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        mm(model, np.zeros((4, 6)), y, [torch.randn(8, 6)] * 2, step=0)
    with pytest.raises(ValueError, match="class index 3, out of range"):
        mm(model, x, torch.tensor([0, 1, 3, 0]), [torch.randn(8, 6)] * 2, step=0)
    with pytest.raises(ValueError, match=r"logits of shape \(batch, 4\)"):
        MixMatch(4)(model, x, torch.tensor([0, 1, 2, 0]), [torch.randn(8, 6)] * 2, step=0)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        MixMatch(1)
    with pytest.raises(ValueError, match="K .* must be an int >= 1"):
        MixMatch(3, K=0)
    with pytest.raises(ValueError, match="T must be a number > 0"):
        MixMatch(3, T=0.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MixMatch(3, alpha=-1.0)
    with pytest.raises(ValueError, match="lambda_u must be a finite number >= 0"):
        MixMatch(3, lambda_u=-1)
    with pytest.raises(ValueError, match="rampup_steps must be an int >= 0"):
        MixMatch(3, rampup_steps=1.5)
    with pytest.raises(TypeError, match="augment must be a callable"):
        MixMatch(3, augment=3)
    assert repr(MixMatch(3, mixup=False)).endswith("mixup=False)")

"""ManifoldMixup: hidden activations mixed at a chosen layer, labels mixed with the same plan."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn

import mixkit
from mixkit.torch import ManifoldMixup


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.body(x))


def test_mixes_the_hidden_state_with_the_label_plan():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    mm = ManifoldMixup(net, ["body.0", "body.2"], alpha=1.0, num_classes=3)
    out, targets = mm(x, y, rng=3, layer="body.2")
    plan = mm.last_plan
    h = net.body(x)
    lam = torch.tensor(plan.lam, dtype=torch.float32)[:, None]
    expected = net.head(lam * h + (1 - lam) * h[torch.tensor(plan.partner)])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(targets, mixkit.MixUp(num_classes=3).mix_labels(plan, y))
    # hooks are gone afterwards, and the model's own forward is untouched
    torch.testing.assert_close(net(x), net.head(net.body(x)))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_layer_choice_is_seeded_and_gradients_flow():
    net = Net()
    mm = ManifoldMixup(net, ["input", "body.0", "body.2"], num_classes=3)
    chosen = []
    for seed in range(12):
        out, t = mm(torch.randn(4, 4), torch.tensor([0, 1, 2, 0]), rng=seed)
        chosen.append(mm.last_layer)
        loss = mixkit.torch.soft_cross_entropy(out, t)
        loss.backward()
    assert set(chosen) == {"input", "body.0", "body.2"}
    again = []
    for seed in range(12):
        mm(torch.randn(4, 4), rng=seed)
        again.append(mm.last_layer)
    assert again == chosen
    assert all(p.grad is not None for p in net.parameters())


def test_span_mixing_of_token_states_with_cutmix():
    class Tok(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, ids):
            return self.out(self.emb(ids).mean(1))

    torch.manual_seed(0)
    net = Tok()
    mm = ManifoldMixup(net, ["emb"], mixer=mixkit.CutMix(axes=(1,), num_classes=2))
    ids = torch.randint(0, 10, (5, 7))
    y = torch.tensor([0, 1, 0, 1, 1])
    out, t = mm(ids, y, rng=0)
    plan = mm.last_plan
    assert isinstance(plan, mixkit.BoxPlan)
    # the token states of each sample's span come from its partner; the rest stay its own
    h = net.emb(ids).detach()
    mixed = h.clone()
    for i in range(5):
        a, b = int(plan.start[i, 0]), int(plan.stop[i, 0])
        mixed[i, a:b] = h[int(plan.partner[i]), a:b]
    assert bool((mixed != h).any()), "nothing was mixed"
    torch.testing.assert_close(out, net.out(mixed.mean(1)))
    # the label weight is the kept share of the tokens
    kept = 1.0 - (plan.stop[:, 0] - plan.start[:, 0]) / 7.0
    onehot = torch.nn.functional.one_hot(y, 2).float()
    kept_t = torch.tensor(kept, dtype=torch.float32)[:, None]
    expected = kept_t * onehot + (1 - kept_t) * onehot[torch.tensor(plan.partner)]
    torch.testing.assert_close(t, expected)


def test_label_aware_mixer_gets_the_labels():
    net = Net()
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    mm = ManifoldMixup(net, ["body.2"], mixer=mixkit.LabelPairedMix(num_classes=3))
    out, t = mm(torch.randn(6, 4), y, rng=1)
    plan = mm.last_plan
    assert out.shape == (6, 3)
    torch.testing.assert_close(t, mixkit.LabelPairedMix(num_classes=3).mix_labels(plan, y))
    with pytest.raises(ValueError, match="needs the labels"):
        mm(torch.randn(6, 4), rng=1)


def _tiny_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32, num_labels=3,
                                     initializer_range=0.5)
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config).eval()


def test_hugging_face_encoder_tmix_with_union_attention_mask():
    model = _tiny_bert()
    ids = torch.randint(1, 50, (4, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    ids = ids * mask
    y = torch.tensor([0, 1, 2, 1])
    mm = ManifoldMixup(model, ["bert.encoder.layer.0"], alpha=1.0, num_classes=3)
    out, targets = mm({"input_ids": ids, "attention_mask": mask}, y, rng=2)
    assert out.logits.shape == (4, 3) and targets.shape == (4, 3)
    plan = mm.last_plan
    # the oracle: run layer 0 by hand, mix, and finish with the union mask
    with torch.no_grad():
        emb = model.bert.embeddings(input_ids=ids)
        def extended(m):
            return model.bert._create_attention_masks(attention_mask=m, encoder_attention_mask=None,
                                                      embedding_output=emb, encoder_hidden_states=None,
                                                      cache=None)[0]

        ext = extended(mask)
        h = model.bert.encoder.layer[0](emb, attention_mask=ext)
        h = h[0] if isinstance(h, tuple) else h
        lam = torch.tensor(plan.lam, dtype=h.dtype)[:, None, None]
        p = torch.tensor(plan.partner)
        h = lam * h + (1 - lam) * h[p]
        union = torch.maximum(mask, mask[p])
        ext_u = extended(union)
        h = model.bert.encoder.layer[1](h, attention_mask=ext_u)
        h = h[0] if isinstance(h, tuple) else h
        pooled = model.bert.pooler(h)
        expected = model.classifier(pooled)
    torch.testing.assert_close(out.logits, expected, atol=1e-5, rtol=1e-4)
    # without the union, positions valid only in the partner would be hidden: the result differs
    plain, _ = ManifoldMixup(model, ["bert.encoder.layer.0"], alpha=1.0, num_classes=3, mask_arg=None)(
        {"input_ids": ids, "attention_mask": mask}, y, rng=2)
    assert (plain.logits - expected).abs().max() > 1e-3


def test_manifold_errors():
    net = Net()
    with pytest.raises(ValueError, match="no layer named 'body.9'; did you mean"):
        ManifoldMixup(net, ["body.9"])
    with pytest.raises(ValueError, match="at least one module"):
        ManifoldMixup(net, [])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ManifoldMixup(lambda x: x, ["a"])
    with pytest.raises(TypeError, match="mixkit transform"):
        ManifoldMixup(net, ["body.0"], mixer="mixup")
    with pytest.raises(ValueError, match="not both"):
        ManifoldMixup(net, ["body.0"], mixer=mixkit.MixUp(), num_classes=3)
    mm = ManifoldMixup(net, ["body.0", "head"], num_classes=3)
    with pytest.raises(ValueError, match="not among this transform's layers"):
        mm(torch.randn(2, 4), layer="body.1")
    with pytest.raises(ValueError, match="x has batch size 2 but y has 3"):
        mm(torch.randn(2, 4), torch.tensor([0, 1, 2]))
    tok = nn.Sequential(nn.Embedding(5, 4))
    with pytest.raises(TypeError, match="needs a float tensor"):
        ManifoldMixup(tok, ["input"])(torch.randint(0, 5, (2, 3)), rng=0)


class _Pool(nn.Module):
    def forward(self, h, attention_mask):
        return (h * attention_mask[..., None].to(h.dtype)).sum(1)


class _MaskedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 5)
        self.pool = _Pool()
        self.head = nn.Linear(5, 2)

    def forward(self, x, attention_mask):
        return self.head(self.pool(self.inp(x), attention_mask=attention_mask))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_n_way_mixing_takes_the_union_of_every_source_mask(dtype):
    torch.manual_seed(0)
    net = _MaskedNet()
    x = torch.randn(6, 4, 3)
    mask = (torch.arange(4)[None, :] < torch.tensor([4, 1, 2, 3, 1, 2])[:, None]).to(dtype)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    mm = ManifoldMixup(net, ["inp"], mixer=mixkit.MixUp(1.0, k=3, num_classes=2), mask_arg="attention_mask")
    out, targets = mm({"x": x, "attention_mask": mask}, y, rng=5)
    plan = mm.last_plan
    src = torch.tensor(plan.sources)
    w = torch.tensor(plan.weights, dtype=torch.float32)
    with torch.no_grad():
        h = net.inp(x)
        hm = (w[:, :, None, None] * h[src]).sum(1)
        union = mask[src].amax(1) if dtype != torch.bool else mask[src].any(1)
        expected = net.head(net.pool(hm, attention_mask=union))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(targets, (w[:, :, None] * torch.eye(2)[y][src]).sum(1))
    assert (union.sum(1) >= mask.sum(1)).all() and (union != mask).any()

"""DistributedMix and MixCollate under torch.distributed: two real processes, gloo backend, CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available in this build", allow_module_level=True)

import mixkit
from mixkit.torch import DistributedMix, current_rank, rank_generator

HERE = os.path.dirname(os.path.abspath(__file__))
WORLD = 2
B = 6
C = 2 * B  # labels are global sample ids, so mixed labels name the partner

def global_methods(c):
    """(name, transform) for the global-scope check: one of each kind of method and wrapper."""
    return [
        ("Remix", mixkit.Remix(num_classes=c, lam_mode="sample")),
        ("RemixCutMix", mixkit.Remix(num_classes=c, base=mixkit.CutMix(lam_mode="sample"))),
        ("BalancedMixUp", mixkit.BalancedMixUp(num_classes=c)),
        ("LabelPairedMix", mixkit.LabelPairedMix(num_classes=c, pairing="inter")),
        ("SaliencyMix", mixkit.SaliencyMix(num_classes=c, lam_mode="sample")),
        ("ScheduledRemix", mixkit.Scheduled(mixkit.Remix(num_classes=c, lam_mode="sample"), total_epochs=3)),
        ("OneOfSaliencyRemix", mixkit.OneOf([mixkit.SaliencyMix(num_classes=c), mixkit.Remix(num_classes=c)])),
        ("Mosaic", mixkit.Mosaic(num_classes=c)),
        ("FMix", mixkit.FMix(num_classes=c)),
        ("ClassMix", mixkit.ClassMix(num_classes=c)),
    ]


WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    import torch.distributed as dist
    import mixkit
    from mixkit.torch import DistributedMix, MixCollate

    torch.set_num_threads(1)
    rank, world, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path.insert(0, sys.argv[5])
    from test_distributed import global_methods
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=world)
    B, C = {B}, {C}
    ids = torch.arange(rank * B, (rank + 1) * B)
    x = ids.double().view(B, 1, 1, 1).expand(B, 1, 2, 2).contiguous() * 10.0
    res = {{}}

    local = DistributedMix(mixkit.MixUp(lam_mode="sample", num_classes=C), seed=5)
    res["local_y"] = local(x, ids)[1].numpy()

    glob = DistributedMix(mixkit.MixUp(lam_mode="sample", num_classes=C), seed=5, scope="global")
    gx, gy = glob(x, ids)
    res["global_x"], res["global_y"] = gx.numpy(), gy.numpy()
    res["global_plan_lam"] = DistributedMix(
        mixkit.MixUp(lam_mode="sample", num_classes=C), seed=5, scope="global"
    ).sample(world * B, (world * B, 1, 2, 2)).lam

    cut = DistributedMix(mixkit.CutMix(lam_mode="sample", num_classes=C), seed=1, scope="global")
    cx, cy = cut(x, ids)
    res["cut_x"], res["cut_y"] = cx.numpy(), cy.numpy()

    pair = DistributedMix(mixkit.MixUp(num_classes=C, label_format="pair"), seed=2, scope="global")
    px, py = pair(x, ids)
    res["pair_dense"] = py.dense().numpy()
    res["pair_x"] = px.numpy()

    collate = MixCollate(mixkit.MixUp(lam_mode="sample", num_classes=C), seed=9)
    collate.set_epoch(0)
    batch = [(torch.full((1, 2, 2), float(i)), int(i)) for i in range(B)]
    res["collate_y"] = collate(batch)[1].numpy()

    # every kind of method in global scope: label-aware, saliency-based, wrapped, more than two sources,
    # companions; images (1, 4, 4) of value 10 * id
    big = ids.double().view(B, 1, 1, 1).expand(B, 1, 4, 4).contiguous() * 10.0
    seg = (ids.view(B, 1, 1) + torch.arange(16).view(1, 4, 4)) % 3
    for name, t in global_methods(C):
        m = DistributedMix(t, seed=3, scope="global")
        extra = {{"mask": seg}} if name == "ClassMix" else {{}}
        got = m(big, ids, **extra)
        res[name + "_x"], res[name + "_y"] = got.x.numpy(), got.y.numpy()
        if extra:
            res[name + "_mask"] = got.companions["mask"].numpy()
    try:
        glob(x[:B - rank], ids[:B - rank])
    except ValueError as e:
        res["size_error"] = np.array(str(e))
    dist.barrier()
    dist.destroy_process_group()
    np.savez(out, **res)
    """
).format(B=B, C=C)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "worker.py"
    script.write_text(WORKER)
    store = tmp / "store"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(r), str(WORLD), str(store), str(tmp / f"rank{r}.npz"), HERE],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        for r in range(WORLD)
    ]
    logs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        logs.append(out.decode(errors="replace"))
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"rank {r} failed:\n{logs[r]}"
    return [dict(np.load(tmp / f"rank{r}.npz")) for r in range(WORLD)]


def test_local_scope_ranks_draw_independent_plans(results):
    a, b = results[0]["local_y"], results[1]["local_y"]
    # each rank mixes only its own samples
    assert np.all(a[:, B:] == 0) and np.all(b[:, :B] == 0)
    np.testing.assert_allclose(a.sum(1), 1.0)
    lam_a = np.array([a[i, i] for i in range(B)])
    lam_b = np.array([b[i, B + i] for i in range(B)])
    assert not np.allclose(lam_a, lam_b)


def test_local_scope_matches_rank_generator():
    t = mixkit.MixUp(lam_mode="sample", num_classes=C)
    for rank in (0, 1):
        plan = t.sample(B, rng=rank_generator(5, epoch=0, rank=rank))
        other = t.sample(B, rng=rank_generator(5, epoch=1, rank=rank))
        assert not np.array_equal(plan.lam, other.lam)


def test_global_scope_mixes_across_ranks_with_one_plan(results):
    ys = np.concatenate([r["global_y"] for r in results])
    xs = np.concatenate([r["global_x"] for r in results])
    lam = results[0]["global_plan_lam"]
    np.testing.assert_array_equal(lam, results[1]["global_plan_lam"])
    crossed = 0
    for g in range(WORLD * B):
        row = ys[g]
        np.testing.assert_allclose(row.sum(), 1.0, rtol=1e-6)
        assert row[g] == pytest.approx(lam[g]) or lam[g] == 1.0
        partners = [k for k in np.flatnonzero(row > 0) if k != g]
        p = partners[0] if partners else g
        # input rows follow the same plan: x = 10 * id, mixed linearly
        want = 10.0 * (lam[g] * g + (1 - lam[g]) * p)
        np.testing.assert_allclose(xs[g], want)
        crossed += (g < B) != (p < B)
    assert crossed >= 2  # some partners live on the other rank


def test_global_scope_cutmix_and_pair_labels(results):
    for r, res in enumerate(results):
        cx, cy = res["cut_x"], res["cut_y"]
        for i in range(B):
            g = r * B + i
            values = np.unique(cx[i]) / 10.0
            owners = set(np.flatnonzero(cy[i] > 0))
            assert set(values.astype(int)) <= owners | {g}
            np.testing.assert_allclose(cy[i].sum(), 1.0)
            # the kept fraction of pixels equals the sample's own weight
            assert np.mean(cx[i] == 10.0 * g) == pytest.approx(cy[i, g], abs=1e-6)
        dense = res["pair_dense"]
        np.testing.assert_allclose(dense.sum(1), 1.0, rtol=1e-6)
        assert dense.shape == (B, C)


@pytest.mark.parametrize("name", [n for n, _ in global_methods(C)])
def test_global_scope_every_kind_of_method_equals_its_global_plan_on_one_process(results, name):
    """Both ranks' rows together are the global plan applied to the global batch in one process: the
    plan saw the global labels (label-aware), the gathered batch (SaliencyMix), the gathered mask."""
    ids = torch.arange(WORLD * B)
    big = ids.double().view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous() * 10.0
    seg = (ids.view(-1, 1, 1) % B + torch.arange(16).view(1, 4, 4)) % 3
    t = dict(global_methods(C))[name]
    extra = {"mask": seg} if name == "ClassMix" else {}
    plan = DistributedMix(t, seed=3, scope="global").sample(WORLD * B, tuple(big.shape), x=big, y=ids, **extra)
    want = t.apply(plan, big, ids, **extra)
    got_x = np.concatenate([r[name + "_x"] for r in results])
    got_y = np.concatenate([r[name + "_y"] for r in results])
    np.testing.assert_array_equal(got_x, want.x.numpy())
    np.testing.assert_allclose(got_y, want.y.numpy(), rtol=1e-6, atol=1e-7)
    if extra:
        np.testing.assert_array_equal(np.concatenate([r[name + "_mask"] for r in results]),
                                      want.companions["mask"].numpy())
    # and the labels say where the pixels came from: x = 10 * id, so mean(x) / 10 = sum_k y_k * k
    np.testing.assert_allclose(got_x.reshape(WORLD * B, -1).mean(1) / 10.0, got_y @ np.arange(C), atol=1e-5)
    # some rows take data from the other rank
    sources = [set(np.flatnonzero(row > 1e-9)) for row in got_y]
    assert any((g < B) != (k < B) for g, src in enumerate(sources) for k in src)


def test_global_scope_says_what_a_method_lacks():
    mix = DistributedMix(mixkit.Scheduled(mixkit.Remix(num_classes=3), total_epochs=2), scope="global")
    with pytest.raises(ValueError, match=r"Remix needs the labels to sample: call DistributedMix\(...\)\(x, y\)"):
        mix(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"ClassMix needs the 'mask' to sample: call DistributedMix\(...\)\(x, y, mask=...\)"):
        DistributedMix(mixkit.ClassMix(num_classes=3))(torch.zeros(4, 3, 2, 2), torch.zeros(4, dtype=torch.long))


def test_collate_streams_differ_between_ranks(results):
    a, b = results[0]["collate_y"], results[1]["collate_y"]
    assert a.shape == b.shape == (B, C)
    assert not np.array_equal(a, b)


def test_global_scope_refuses_unequal_batch_sizes(results):
    for res in results:
        assert "same batch size on every rank; got [6, 5]" in str(res["size_error"])


def test_global_scope_without_process_group_is_a_clear_error():
    assert not dist.is_initialized()
    mix = DistributedMix(mixkit.MixUp(num_classes=3), scope="global")
    with pytest.raises(ValueError, match="needs an initialised process group: call torch.distributed.init_process_group"):
        mix(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    assert current_rank() == 0


def test_local_scope_without_process_group_and_epochs():
    mix = DistributedMix(mixkit.MixUp(lam_mode="sample", num_classes=3), seed=0)
    x = torch.rand(8, 3)
    y = torch.arange(8) % 3
    mix.set_epoch(0)
    a = mix(x, y)[1]
    mix.set_epoch(1)
    b = mix(x, y)[1]
    mix.set_epoch(0)
    c = mix(x, y)[1]
    assert torch.equal(a, c) and not torch.equal(a, b)


def test_local_scope_is_the_transform_with_the_rank_stream_and_a_world_of_one_is_local(tmp_path):
    y = torch.arange(8) % 3
    x = torch.rand(8, 3, 4, 4)
    seg = torch.randint(0, 3, (8, 4, 4))
    for t, extra in ((mixkit.Remix(num_classes=3, counts=[3, 3, 2]), {}), (mixkit.ClassMix(num_classes=3), {"mask": seg}),
                     (mixkit.SaliencyMix(num_classes=3), {})):
        got = DistributedMix(t, seed=0)(x, y, **extra)
        want = t(x, y, rng=rank_generator(0, epoch=0, rank=0), **extra)
        assert isinstance(got, mixkit.Mixed)
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y) and not torch.equal(got.x, x)
        assert sorted(got.companions) == sorted(extra)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        # a world of one: the global plan is the local batch's, drawn from the global stream
        for t in (mixkit.Mosaic(num_classes=3), mixkit.CutMix(num_classes=3)):
            got = DistributedMix(t, seed=0, scope="global")(x, y)
            plan = DistributedMix(t, seed=0, scope="global").sample(8, tuple(x.shape), x=x, y=y)
            want = t.apply(plan, x, y)
            assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y)
        with pytest.raises(ValueError, match=r"scope='global' gathers companions as tensors \(B, ...\) with B = 8; "
                                             r"mask= is a list: pass a tensor, or use scope='local'"):
            DistributedMix(mixkit.ClassMix(num_classes=3), scope="global")(x, y, mask=list(seg))
    finally:
        dist.destroy_process_group()


def test_bad_arguments():
    with pytest.raises(ValueError, match="scope must be one of 'local', 'global'; got 'world'"):
        DistributedMix(mixkit.MixUp(), scope="world")
    with pytest.raises(TypeError, match="needs a mixkit transform"):
        DistributedMix("mixup")
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DistributedMix(mixkit.MixUp(), seed=-3)
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        DistributedMix(mixkit.MixUp()).set_epoch(-1)
    with pytest.raises(TypeError, match="mixes torch tensors, got ndarray"):
        DistributedMix(mixkit.MixUp())(np.zeros((2, 2)))

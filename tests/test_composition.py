"""Every public method inside every composition piece: OneOf, Scheduled, MixCollate with two DataLoader
workers, DistributedMix with two gloo processes, and the sweep's method strings.

Each cell either mixes, checked against the plan it drew (the output equals the plan applied to the
batch, the targets equal the plan's label pair written out by hand) and, for images, against the mixed
batch itself; or it raises a clear error, matched by its message.

Images make the check independent of the plan: sample ``k`` is the one-hot image whose channel ``k``
is 1 everywhere (``num_classes`` channels), with label ``k``. The mean of channel ``k`` of a mixed
image is then the share of sample ``k``'s data in it, which must equal the target's weight of class
``k``, whatever the method (blends, boxes, masks, resized pastes, four-image mosaics).

The DataLoader and the process group are started once for all methods (module fixtures).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from torch.utils.data import DataLoader, Dataset

import mixkit
from mixkit.sweep.errors import SweepError
from mixkit.sweep.methods import resolve_strategies
from mixkit.torch import DistributedMix, MixCollate, rank_generator

HERE = os.path.dirname(os.path.abspath(__file__))
B, H, W, T, F = 6, 8, 8, 64, 5
WORLD = 2
SEED = 11

# name -> (kind of data, factory of num_classes, sweep method string)
METHODS = {
    "MixUp": ("image", lambda c: mixkit.MixUp(1.0, lam_mode="sample", num_classes=c), "mixup"),
    "MixUp(k=3)": ("image", lambda c: mixkit.MixUp(1.0, k=3, lam_mode="sample", num_classes=c),
                   "mixup:k=3:lam_mode=sample"),
    "CutMix": ("image", lambda c: mixkit.CutMix(1.0, lam_mode="sample", num_classes=c), "cutmix:lam_mode=sample"),
    "FMix": ("image", lambda c: mixkit.FMix(num_classes=c), "fmix"),
    "GridMix": ("image", lambda c: mixkit.GridMix(num_classes=c), "gridmix"),
    "SmoothMix": ("image", lambda c: mixkit.SmoothMix(num_classes=c), "smoothmix"),
    "ResizeMix": ("image", lambda c: mixkit.ResizeMix(num_classes=c), "resizemix"),
    "SaliencyMix": ("image", lambda c: mixkit.SaliencyMix(lam_mode="sample", num_classes=c), "saliencymix"),
    "Mosaic": ("image", lambda c: mixkit.Mosaic(num_classes=c), "mosaic"),
    "AudioMixUp": ("audio", lambda c: mixkit.AudioMixUp(num_classes=c, lam_mode="sample"), "audiomixup"),
    "TabularMixUp": ("tabular", lambda c: mixkit.TabularMixUp(categorical=(0,), lam_mode="sample", num_classes=c),
                     "tabularmixup:categorical=(0,)"),
    "ClassMix": ("seg", lambda c: mixkit.ClassMix(num_classes=c), "classmix"),
    "BalancedMixUp": ("image", lambda c: mixkit.BalancedMixUp(0.5, num_classes=c), "balancedmixup"),
    "LabelPairedMix": ("image", lambda c: mixkit.LabelPairedMix(pairing="inter", num_classes=c),
                       "labelpairedmix:pairing=inter"),
    "Remix": ("image", lambda c: mixkit.Remix(lam_mode="sample", num_classes=c), "remix"),
    "Remix(base=CutMix)": ("image", lambda c: mixkit.Remix(base=mixkit.CutMix(lam_mode="sample"), num_classes=c),
                           "remix:base=cutmix"),
}
NAMES = list(METHODS)


def make(name: str, c: int = B) -> mixkit.Mixer:
    return METHODS[name][1](c)


def data(kind: str, n: int = B, c: int = B, first: int = 0):
    """Inputs, labels ``first .. first + n - 1`` and companions of a batch of ``kind``."""
    ids = np.arange(first, first + n)
    if kind in ("image", "seg"):
        x = np.zeros((n, c, H, W), np.float32)
        x[np.arange(n), ids] = 1.0  # sample k: channel k is 1
    elif kind == "audio":
        x = np.random.default_rng(first).standard_normal((n, T)).astype(np.float32)
    else:
        x = np.random.default_rng(first).random((n, F)).astype(np.float32)
        x[:, 0] = ids % 3  # an integer-coded categorical column
    comp = {}
    if kind == "seg":
        comp["mask"] = torch.from_numpy((ids[:, None, None] + np.arange(H * W).reshape(1, H, W)) % 3)
    return torch.from_numpy(x), torch.from_numpy(ids), comp


def expected_targets(plan, y: torch.Tensor, c: int) -> np.ndarray:
    """The dense targets the plan means, written out from its label pair (or its own targets rule
    for a plan of more than two sources)."""
    eye = np.eye(c)
    y = y.numpy()
    if not plan.pairwise:
        return np.asarray(plan.mix_targets(eye[y]))
    partner, lam = plan.label_pair()
    lam = np.asarray(lam)[:, None]
    return lam * eye[y] + (1 - lam) * eye[y[np.asarray(partner)]]


def check_mixed(name: str, t, plan, x, y, comp, got_x, got_y, c: int = B) -> None:
    """``got_x``/``got_y`` are what ``plan`` makes of ``(x, y, comp)``, and something was mixed."""
    want = t.apply(plan, x, y, **comp)
    np.testing.assert_allclose(np.asarray(got_x), want.x.numpy(), rtol=1e-6, atol=1e-6, err_msg=name)
    got_y = np.asarray(got_y, dtype=np.float64)
    np.testing.assert_allclose(got_y, expected_targets(plan, y, c), atol=1e-6, err_msg=name)
    np.testing.assert_allclose(got_y.sum(1), 1.0, atol=1e-6)
    if METHODS[name][0] in ("image", "seg"):
        # the targets are the shares of each sample's data in the mixed image
        share = np.asarray(got_x, dtype=np.float64).mean((2, 3))
        np.testing.assert_allclose(share, got_y, atol=1e-5, err_msg=name)
    assert not np.allclose(got_y, np.eye(c)[y.numpy()]), f"{name}: nothing was mixed"


# ---- OneOf and Scheduled ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_oneof(name):
    kind = METHODS[name][0]
    x, y, comp = data(kind)
    t = mixkit.OneOf([make(name)])
    got = t(x, y, rng=SEED, **comp)
    assert isinstance(got, mixkit.Mixed) and sorted(got.companions) == sorted(comp)
    plan = t.sample(B, rng=SEED, shape=tuple(x.shape), x=x, y=y, **comp)
    check_mixed(name, t, plan, x, y, comp, got.x, got.y)
    # what the method needs, missing, is said in the method's terms
    if "y" in t.needs:
        with pytest.raises(ValueError, match=f"{name.split('(')[0]} needs the labels: pass y="):
            t(x, rng=SEED, **comp)
    if "mask" in t.needs:
        with pytest.raises(ValueError, match="ClassMix needs the segmentation mask: pass mask="):
            t(x, y, rng=SEED)
    if "x" in t.needs:
        with pytest.raises(ValueError, match="SaliencyMix needs the batch: pass x="):
            t.sample(B, rng=SEED, shape=tuple(x.shape), y=y)


@pytest.mark.parametrize("name", NAMES)
def test_scheduled(name):
    kind = METHODS[name][0]
    x, y, comp = data(kind)
    t = mixkit.Scheduled(make(name), total_epochs=3, off_last=1)
    got = t(x, y, rng=SEED, **comp)
    plan = t.sample(B, rng=SEED, shape=tuple(x.shape), x=x, y=y, **comp)
    check_mixed(name, t, plan, x, y, comp, got.x, got.y)
    t.set_epoch(2)  # off: the batch passes unchanged, with its plain labels
    off = t(x, y, rng=SEED, **comp)
    assert torch.equal(off.x, x), name
    np.testing.assert_array_equal(np.asarray(off.y), np.eye(B)[y.numpy()])


# ---- MixCollate with two DataLoader workers ----------------------------------------------------------


class AllMethods(Dataset):
    """Batch ``m`` (of ``B`` samples) is for method ``NAMES[m]``, as that method's data needs it."""

    def __init__(self) -> None:
        self.batches = [data(METHODS[n][0]) for n in NAMES]
        self.targets = [j for _ in NAMES for j in range(B)]  # the class counts a Remix in a worker reads

    def __len__(self) -> int:
        return B * len(NAMES)

    def __getitem__(self, i: int):
        m, j = divmod(i, B)
        x, y, comp = self.batches[m]
        if comp:
            return m, {"image": x[j], "label": int(y[j]), "mask": comp["mask"][j].numpy()}
        return m, (x[j], int(y[j]))


class Dispatch:
    """The collate_fn: each batch goes to its method's MixCollate; the plan that collate drew is
    replayed from a copy of its stream, in the worker, with the stacked batch."""

    def __init__(self) -> None:
        self.collates = [MixCollate(make(n), seed=SEED) for n in NAMES]
        for c in self.collates:
            c.set_epoch(0)

    def __call__(self, batch):
        m = batch[0][0]
        samples = [s for _, s in batch]
        collate = self.collates[m]
        replay = copy.deepcopy(collate._generator())
        out = collate(samples)
        if isinstance(out, dict):
            x = torch.stack([s["image"] for s in samples])
            y = torch.tensor([s["label"] for s in samples])
            comp = {"mask": torch.stack([torch.from_numpy(s["mask"]) for s in samples])}
            got = (out["image"], out["label"])
        else:
            x = torch.stack([s[0] for s in samples])
            y = torch.tensor([s[1] for s in samples])
            comp, got = {}, out
        plan = collate.transform.sample(len(samples), rng=replay, shape=tuple(x.shape), x=x, y=y, **comp)
        return m, got, plan, x, y, comp, get_worker_info_id()


def get_worker_info_id() -> int:
    from torch.utils.data import get_worker_info

    info = get_worker_info()
    return -1 if info is None else info.id


@pytest.fixture(scope="module")
def collated():
    loader = DataLoader(AllMethods(), batch_size=B, num_workers=2, collate_fn=Dispatch())
    out = {NAMES[m]: rest for m, *rest in loader}
    assert len(out) == len(NAMES)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_mixcollate_with_two_workers(collated, name):
    (got_x, got_y), plan, x, y, comp, worker = collated[name]
    assert worker in (0, 1)
    check_mixed(name, make(name), plan, x, y, comp, got_x, got_y)


def test_mixcollate_says_what_a_method_lacks():
    x, y, _ = data("image")
    pairs = [(x[j], int(y[j])) for j in range(B)]
    with pytest.raises(ValueError, match="ClassMix needs the 'mask' of each sample: give MixCollate dict samples "
                                         "with a 'mask' entry"):
        MixCollate(make("ClassMix"))(pairs)
    for name in ("Remix", "BalancedMixUp", "LabelPairedMix", "Remix(base=CutMix)"):
        with pytest.raises(ValueError, match=f"{name.split('(')[0]} needs the labels to sample: give MixCollate "
                                             r"\(input, label\) pairs"):
            MixCollate(make(name))([s for s, _ in pairs])


# ---- DistributedMix with two gloo processes -------------------------------------------------------

RANK_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    import torch.distributed as dist

    rank, world, store, out, here = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    sys.path.insert(0, here)
    import test_composition as tc
    from mixkit.torch import DistributedMix

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=world)
    res = {}
    c = world * tc.B  # labels and one-hot channels are global sample ids
    for name in tc.NAMES:
        kind = tc.METHODS[name][0]
        x, y, comp = tc.data(kind, n=tc.B, c=c, first=rank * tc.B)
        for scope in ("global", "local"):
            got = DistributedMix(tc.make(name, c), seed=tc.SEED, scope=scope)(x, y, **comp)
            res[f"{name}/{scope}/x"], res[f"{name}/{scope}/y"] = got.x.numpy(), np.asarray(got.y)
            for k, v in got.companions.items():
                res[f"{name}/{scope}/{k}"] = np.asarray(v)
    dist.barrier()
    dist.destroy_process_group()
    np.savez(out, **res)
    """
)


@pytest.fixture(scope="module", autouse=True)
def rank_processes(tmp_path_factory):
    """The two gloo processes, started with the module's first test so they work while the other
    tests run; :func:`ranks` waits for them."""
    if not dist.is_available():
        yield None
        return
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(WORLD), str(tmp / "store"),
                               str(tmp / f"rank{r}.npz"), HERE], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for r in range(WORLD)]
    yield tmp, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


@pytest.fixture(scope="module")
def ranks(rank_processes):
    if rank_processes is None:
        pytest.skip("torch.distributed is not available in this build")
    tmp, procs = rank_processes
    logs = []
    for p in procs:  # the timeout only keeps a hung group from hanging the test run
        logs.append(p.communicate(timeout=600)[0].decode(errors="replace"))
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"rank {r} failed:\n{logs[r]}"
    return [dict(np.load(tmp / f"rank{r}.npz")) for r in range(WORLD)]


@pytest.mark.parametrize("name", NAMES)
def test_distributedmix_global_on_two_processes(ranks, name):
    c = WORLD * B
    kind = METHODS[name][0]
    parts = [data(kind, n=B, c=c, first=r * B) for r in range(WORLD)]  # each rank's batch
    x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    comp = {k: torch.cat([p[2][k] for p in parts]) for k in parts[0][2]}
    t = make(name, c)
    plan = DistributedMix(t, seed=SEED, scope="global").sample(WORLD * B, tuple(x.shape), x=x, y=y, **comp)
    got_x = np.concatenate([r[f"{name}/global/x"] for r in ranks])
    got_y = np.concatenate([r[f"{name}/global/y"] for r in ranks])
    check_mixed(name, t, plan, x, y, comp, got_x, got_y, c=c)
    for k in comp:
        want = t.apply(plan, x, y, **comp).companions[k]
        np.testing.assert_array_equal(np.concatenate([r[f"{name}/global/{k}"] for r in ranks]), np.asarray(want))
    # partners come from the other rank too
    sources = [set(np.flatnonzero(row > 1e-9)) for row in got_y]
    assert any((g < B) != (k < B) for g, src in enumerate(sources) for k in src), name


@pytest.mark.parametrize("name", NAMES)
def test_distributedmix_local_on_two_processes(ranks, name):
    c = WORLD * B
    kind = METHODS[name][0]
    for r, res in enumerate(ranks):
        x, y, comp = data(kind, n=B, c=c, first=r * B)
        t = make(name, c)
        plan = t.sample(B, rng=rank_generator(SEED, epoch=0, rank=r), shape=tuple(x.shape), x=x, y=y, **comp)
        check_mixed(name, t, plan, x, y, comp, res[f"{name}/local/x"], res[f"{name}/local/y"], c=c)


# ---- the sweep's method strings ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_sweep_method_strings(name):
    kind, _, spec = METHODS[name]
    x, y, comp = data(kind)
    if kind == "seg":  # a sweep trains classifiers: nothing gives ClassMix a segmentation mask
        with pytest.raises(SweepError, match="method classmix cannot mix this data: ClassMix needs the "
                                             "segmentation mask: pass mask="):
            resolve_strategies(spec, (1.0,), num_classes=B, probe=(x, y))
        return
    (strategy,) = resolve_strategies(spec, (1.0,), num_classes=B, probe=(x, y))
    t = strategy.build(B, None)
    assert type(t).__name__ == name.split("(")[0]
    got = t(x, y, rng=SEED)
    plan = t.sample(B, rng=SEED, shape=tuple(x.shape), x=x, y=y)
    check_mixed(name, t, plan, x, y, comp, got.x, got.y)

"""`mixkit preview`: the picture of mixed digits and its captions."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

import mixkit
from mixkit.cli import main
from mixkit.preview import (
    INFORMATIVE,
    default_methods,
    image_for_display,
    label_caption,
    mix_for_display,
    pair_caption,
    preview_grid,
)


def test_caption_lists_sources_largest_first():
    assert label_caption(np.array([0, 0.38, 0, 0, 0, 0, 0, 0.62, 0, 0])) == "7: 0.62 | 1: 0.38"
    assert label_caption(np.array([1.0, 0.0])) == "0: 1.00"
    assert label_caption(np.array([0.5, 0.5]), names=["cat", "dog"]) == "cat: 0.50 | dog: 0.50"


def test_every_image_method_is_shown_and_labels_are_distributions():
    x = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    y = np.arange(8) % 10
    methods = default_methods(10)
    assert {"MixUp", "CutMix", "FMix", "SmoothMix", "GridMix", "ResizeMix", "SaliencyMix"} <= set(
        methods
    )
    for t in methods.values():
        _, targets = t(x, y, rng=0)
        np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)


def test_preview_command_writes_a_png(tmp_path, capsys):
    assert main(["preview", "--out", str(tmp_path), "-n", "4", "--seed", "3"]) == 0
    png = tmp_path / "preview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out


# -- tiles whose lam shows something -----------------------------------------------------------
def _batch(b=64, c=1, seed=0):
    gen = np.random.default_rng(seed)
    return gen.random((b, c, 8, 8), dtype=np.float32), np.arange(b) % 10


def test_pair_caption_names_both_sources_and_their_weights():
    assert pair_caption("6", "1", 0.62) == "6 (0.62) + 1 (0.38)"
    assert pair_caption("cat", "dog", 0.999) == "cat (1.00)"
    assert pair_caption("cat", "cat", 0.4, mixed=False) == "cat (1.00)"


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_low_alpha_tiles_have_an_informative_lam(lam_mode):
    x, y = _batch()
    t = mixkit.MixUp(0.1, lam_mode=lam_mode, num_classes=10)
    # a single draw at alpha 0.1 is mostly barely mixed: that is what the picture must not show
    lam = t.sample(len(x), rng=0, shape=x.shape).lam
    assert np.mean((lam >= 0.2) & (lam <= 0.8)) < 0.5
    tiles = mix_for_display(t, x, y, n=8, rng=0)
    lo, hi = INFORMATIVE
    assert len(tiles.captions) == 8 and np.all((tiles.lam >= lo) & (tiles.lam <= hi))
    assert np.all(y[tiles.partner] != y[tiles.index])  # another class where one is available
    for k in range(8):
        i, j, lam_k = tiles.index[k], tiles.partner[k], tiles.lam[k]
        np.testing.assert_allclose(tiles.x[k], lam_k * x[i] + (1 - lam_k) * x[j], atol=1e-6)
        assert tiles.captions[k] == f"{y[i]} ({lam_k:.2f}) + {y[j]} ({1 - lam_k:.2f})"


def test_without_informative_draws_the_most_mixed_are_shown():
    x, y = _batch(16)
    tiles = mix_for_display(mixkit.MixUp(lam=0.95, num_classes=10), x, y, n=4, max_draws=3)
    np.testing.assert_allclose(tiles.lam, 0.95)
    assert all(c.endswith("(0.05)") and " + " in c for c in tiles.captions)


def test_class_names_and_cut_methods():
    x, y = _batch(32)
    names = [f"c{k}" for k in range(10)]
    tiles = mix_for_display(mixkit.CutMix(0.2, num_classes=10), x, y, n=6, rng=3, class_names=names)
    assert all(c.startswith("c") and " + c" in c for c in tiles.captions)
    assert np.all((tiles.lam >= 0.2) & (tiles.lam <= 0.8))


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 8])
def test_any_channel_count_can_be_shown(channels, tmp_path):
    x, y = _batch(20, channels)
    img, cmap = image_for_display(x[0])
    assert img.ndim == (3 if channels in (3, 4) else 2)
    assert cmap == (None if channels in (3, 4) else "gray_r")
    path = preview_grid(x, y, {"MixUp": mixkit.MixUp(0.2, num_classes=10)}, tmp_path / "p.png", n=3)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_preview_grid_refuses_non_image_batches(tmp_path):
    with pytest.raises(
        ValueError, match=r"needs images of shape \(N, C, H, W\), got shape \(4, 8\)"
    ):
        preview_grid(np.zeros((4, 8)), np.arange(4), {}, tmp_path / "p.png")

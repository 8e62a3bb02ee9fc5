"""`mixkit preview`: the picture of mixed digits and its captions."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from mixkit.cli import main  # noqa: E402
from mixkit.preview import default_methods, label_caption  # noqa: E402


def test_caption_lists_sources_largest_first():
    assert label_caption(np.array([0, 0.38, 0, 0, 0, 0, 0, 0.62, 0, 0])) == "7: 0.62 | 1: 0.38"
    assert label_caption(np.array([1.0, 0.0])) == "0: 1.00"
    assert label_caption(np.array([0.5, 0.5]), names=["cat", "dog"]) == "cat: 0.50 | dog: 0.50"


def test_every_image_method_is_shown_and_labels_are_distributions():
    x = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    y = np.arange(8) % 10
    methods = default_methods(10)
    assert {"MixUp", "CutMix", "FMix", "SmoothMix", "GridMix", "ResizeMix", "SaliencyMix"} <= set(methods)
    for t in methods.values():
        _, targets = t(x, y, rng=0)
        np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)


def test_preview_command_writes_a_png(tmp_path, capsys):
    assert main(["preview", "--out", str(tmp_path), "-n", "4", "--seed", "3"]) == 0
    png = tmp_path / "preview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out

"""Reading the user's data: layouts inferred and said, --kind overrides, how much of the data is used."""

from __future__ import annotations

import numpy as np
import pytest

from mixkit.sweep import SweepError
from mixkit.sweep.data import (
    DEMO_LABELS_PER_CLASS,
    infer_kind,
    load_data,
    make_split,
    read_data,
    resolve_labels_per_class,
)


def _npz(tmp_path, X, n_classes=2, name="d.npz"):
    y = np.arange(len(X)) % n_classes
    np.savez(tmp_path / name, X=X, y=y)
    return tmp_path / name


def test_channels_last_npz_images_are_moved_to_channels_first_and_said(tmp_path):
    gen = np.random.default_rng(0)
    X = gen.random((30, 8, 8, 3))
    got = read_data(str(_npz(tmp_path, X)))
    assert got.kind == "image" and got.X.shape == (30, 3, 8, 8) and got.X.dtype == np.float32
    np.testing.assert_allclose(
        got.X[4, 2], X[4, :, :, 2].astype(np.float32)
    )  # channel 2 of sample 4
    assert "inferred: images, channels-last (N, H, W, C) -> (N, C, H, W)" in got.layout
    assert "(30, 8, 8, 3) -> (30, 3, 8, 8)" in got.layout
    assert not got.bundled
    ds = make_split(got.X, got.y, got.kind, name=got.name, layout=got.layout)
    assert ds.input_shape == (3, 8, 8) and got.layout in ds.describe()


def test_channels_first_images_stay_as_given():
    X, kind, text = infer_kind(np.zeros((5, 3, 32, 32)))
    assert X.shape == (5, 3, 32, 32) and kind == "image" and "channels-first" in text
    X, kind, text = infer_kind(np.zeros((5, 1, 28, 28)))
    assert X.shape == (5, 1, 28, 28) and "could" not in text and "both" not in text


@pytest.mark.parametrize(
    ("shape", "out", "phrase"),
    [
        ((5, 4, 4, 3), (5, 3, 4, 4), "axes 1 and 2 are equal sides"),  # both 4 and 3 fit channels
        ((5, 3, 4, 4), (5, 3, 4, 4), "axes 2 and 3 are equal sides"),
        ((5, 32, 32, 2), (5, 2, 32, 32), "neither axis 1 nor 3"),
        ((5, 8, 8, 8), (5, 8, 8, 8), "read as channels-first"),
    ],
)
def test_ambiguous_image_layouts_follow_the_rule_and_say_why(shape, out, phrase):
    X, kind, text = infer_kind(np.zeros(shape))
    assert X.shape == out and kind == "image"
    assert phrase in text and "transpose X to (N, C, H, W)" in text


def test_square_three_d_arrays_are_grey_images_unless_kind_says_series(tmp_path):
    path = _npz(tmp_path, np.random.default_rng(1).random((20, 28, 28)))
    got = read_data(str(path))
    assert got.kind == "image" and got.X.shape == (20, 1, 28, 28)
    assert "inferred: grey images (N, H, W) -> (N, 1, H, W)" in got.layout
    assert "--kind series" in got.layout
    forced = read_data(str(path), kind="series")
    assert forced.kind == "series" and forced.X.shape == (20, 28, 28)
    assert forced.layout.startswith("--kind series: series (N, C, T)")


def test_series_layouts_channels_first_and_channels_last():
    X, kind, text = infer_kind(np.zeros((7, 6, 100)))
    assert kind == "series" and X.shape == (7, 6, 100) and "series (N, C, T)" in text
    assert "--kind image" in text  # the way out, should these be images
    X, kind, text = infer_kind(np.zeros((7, 100, 6)))  # 100 steps of 6 sensors, channels-last
    assert kind == "series" and X.shape == (7, 6, 100) and "channels-last (N, T, C)" in text
    X, kind, _ = infer_kind(np.zeros((7, 1, 24)))  # univariate UCR set saved as (N, 1, T)
    assert kind == "series" and X.shape == (7, 1, 24)
    X, kind, _ = infer_kind(np.zeros((7, 28, 50)))  # near-square multichannel series: not images
    assert kind == "series" and X.shape == (7, 28, 50)
    X, kind, text = infer_kind(np.zeros((7, 28, 50)), "image")
    assert kind == "image" and X.shape == (7, 1, 28, 50) and text.startswith("--kind image")


def test_two_d_arrays_are_tabular_or_univariate_series_when_asked(tmp_path):
    path = _npz(tmp_path, np.random.default_rng(2).random((20, 150)))
    got = read_data(str(path))
    assert got.kind == "tabular" and got.X.shape == (20, 150) and "--kind series" in got.layout
    got = read_data(str(path), kind="series")
    assert got.kind == "series" and got.X.shape == (20, 1, 150)
    assert "univariate series (N, T) -> (N, 1, T)" in got.layout
    with pytest.raises(SweepError, match=r"cannot read X of shape \(20, 150\) as images.*reshape"):
        read_data(str(path), kind="image")


def test_kind_tabular_flattens_and_kind_series_refuses_images():
    X, kind, text = infer_kind(np.zeros((4, 8, 8, 3)), "tabular")
    assert kind == "tabular" and X.shape == (4, 192) and "flattened" in text
    with pytest.raises(SweepError, match=r"cannot read X of shape \(4, 8, 8, 3\) as series"):
        infer_kind(np.zeros((4, 8, 8, 3)), "series")


@pytest.mark.parametrize(
    ("X", "kind", "match"),
    [
        (np.zeros(5), "auto", r"X must have 2 .* dimensions, got shape \(5,\)"),
        (np.zeros((2, 2, 2, 2, 2)), "auto", r"got shape \(2, 2, 2, 2, 2\)"),
        (np.array([["a", "b"]]), "auto", r"X must be numeric, got dtype <U1"),
        (np.zeros((2, 3)), "pictures", r"--kind must be one of auto, image, series, tabular"),
    ],
)
def test_unreadable_arrays_are_refused_with_the_reason(X, kind, match):
    with pytest.raises(SweepError, match=match):
        infer_kind(X, kind)


def test_npz_errors_name_the_file(tmp_path):
    path = _npz(tmp_path, np.zeros((4, 2, 2, 2, 2)))
    with pytest.raises(SweepError, match=r"d\.npz: X must have 2"):
        read_data(str(path))


def test_input_arrays_are_not_modified():
    X = np.arange(2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)
    X.setflags(write=False)
    out, _, _ = infer_kind(X)
    assert out.shape == (2, 3, 8, 8) and X.shape == (2, 8, 8, 3)


def test_csv_is_tabular_and_load_data_keeps_its_four_values(tmp_path):
    (tmp_path / "t.csv").write_text(
        "f1,f2,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(12))
    )
    X, y, kind, name = load_data(str(tmp_path / "t.csv"))
    assert sorted(set(y)) == ["0", "1"]
    assert X.shape == (12, 2) and kind == "tabular" and name == "t"
    got = read_data(str(tmp_path / "t.csv"), kind="series")
    assert got.kind == "series" and got.X.shape == (12, 1, 2)


def test_labels_per_class_default_is_for_the_bundled_demo_only():
    assert resolve_labels_per_class(None, bundled=True) == DEMO_LABELS_PER_CLASS == 20
    assert resolve_labels_per_class(None, bundled=False) is None  # the user's data: all of it
    assert resolve_labels_per_class(0, bundled=True) is None
    assert resolve_labels_per_class(7, bundled=False) == 7
    with pytest.raises(SweepError, match=r"--labels-per-class must be >= 0 \(0 = all\), got -1"):
        resolve_labels_per_class(-1, bundled=False)
    with pytest.raises(SweepError, match=r"--labels-per-class must be an int"):
        resolve_labels_per_class(2.5, bundled=False)  # type: ignore[arg-type]


def test_describe_says_loudly_how_much_of_the_data_trains():
    gen = np.random.default_rng(3)
    X, y = gen.random((300, 5)), np.arange(300) % 2
    ds = make_split(X, y, "tabular", name="mine", labels_per_class=20)
    text = ds.describe()
    assert len(ds.y_train) == 40 and ds.available_train == 180
    assert "300 samples" in text and "train on only 40 of the 180 training samples" in text
    assert "--labels-per-class 20" in text and "--labels-per-class 0 uses all" in text
    assert "validation 60, test 60" in text
    full = make_split(
        X, y, "tabular", name="mine", labels_per_class=resolve_labels_per_class(None, False)
    )
    assert len(full.y_train) == 180 and "only" not in full.describe()
    assert "train 180 (per class 90-90)" in full.describe()
    tail = make_split(X, y, "tabular", imbalance=3.0)
    assert "--imbalance 3 makes the tail classes smaller" in tail.describe()


def test_bundled_demo_is_marked_bundled_and_kind_can_flatten_it():
    got = read_data("digits")
    assert (
        got.bundled and got.kind == "image" and got.layout == "" and got.X.shape == (1797, 1, 8, 8)
    )
    flat = read_data("digits", kind="tabular")
    assert flat.kind == "tabular" and flat.X.shape == (1797, 64) and "flattened" in flat.layout


def test_in_memory_arrays_are_read_like_a_npz():
    gen = np.random.default_rng(4)
    X = gen.random((12, 8, 8, 3)).tolist()  # lists work too
    got = read_data((X, ["a", "b"] * 6))
    assert got.name == "arrays" and got.kind == "image" and got.X.shape == (12, 3, 8, 8)
    assert "channels-last" in got.layout and not got.bundled
    X2, y2, kind, name = load_data([np.zeros((6, 5)), np.arange(6) % 2], kind="series")
    assert X2.shape == (6, 1, 5) and kind == "series" and name == "arrays" and len(y2) == 6


@pytest.mark.parametrize(
    ("data", "kw", "match"),
    [
        ((np.zeros((4, 3)),), {}, r"a pair \(X, y\) of arrays, got a tuple of 1 items"),
        ((np.zeros((4, 3)), np.zeros(3)), {}, r"X has 4 samples but y has 3 labels"),
        ((np.zeros((4, 3)), np.zeros((4, 2))), {}, r"y must be one label per row.*\(4, 2\)"),
        ((np.zeros((4, 3)), np.zeros(4)), {"label_column": "y"}, r"--label-column applies to CSV"),
        (([[1, 2], [3]], [0, 1]), {}, r"cannot read \(X, y\) as arrays"),
        ((np.float32(3), np.zeros(1)), {}, r"X must have 2 .* got shape \(\)"),
    ],
)
def test_bad_in_memory_arrays_are_refused_clearly(data, kw, match):
    with pytest.raises(SweepError, match=match):
        read_data(data, **kw)


def test_a_report_folder_named_like_a_bundled_set_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "report.md").write_text("# an earlier sweep's report\n")
    got = read_data("digits")
    assert got.bundled and got.X.shape == (1797, 1, 8, 8)
    # a folder of the user's own (class sub-folders, no report) with that name is the user's data
    (tmp_path / "digits" / "report.md").unlink()
    with pytest.raises(SweepError, match="one sub-folder per class"):
        read_data("digits")

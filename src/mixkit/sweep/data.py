"""Data for the sweep: bundled sets, user files, a fixed stratified split, few labels, long tails.

Every loader returns ``(X, y, kind)`` with ``X`` float32 of shape ``(N, C, H, W)`` for images,
``(N, C, T)`` for time series or ``(N, D)`` for tabular rows, ``y`` any labels of length ``N``.
:func:`make_split` turns that into a :class:`Dataset` with integer classes ``0..K-1``; for
``task="regression"`` float targets ``(N,)`` or ``(N, D)``; for ``task="multilabel"`` multi-hot
``(N, C)`` of 0/1 (several label columns of a CSV, or a 2-D ``y``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import SweepError
from .layout import KINDS, infer_kind
from .packaged import package_file
from .tasks import CLASSIFICATION, MULTILABEL, REGRESSION, resolve_task

__all__ = [
    "BUNDLED",
    "DEMO_LABELS_PER_CLASS",
    "Dataset",
    "LoadedData",
    "infer_kind",
    "load_data",
    "make_split",
    "read_data",
    "resolve_labels_per_class",
]

# the bundled demo sets train on few labels by default (the regime where mixing is asked about);
# the user's own data is used in full unless --labels-per-class says otherwise
DEMO_LABELS_PER_CLASS = 20
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}

# bundled name -> (loader name in sktime.datasets or "digits", description)
BUNDLED = {
    "digits": "scikit-learn's handwritten digits: 1,797 images 8x8, 10 classes",
    "gunpoint": "UCR GunPoint (bundled with sktime): 200 series of length 150, 2 classes",
    "italypowerdemand": "UCR ItalyPowerDemand (bundled with sktime): 1,096 series of length 24, 2 classes",
    "basicmotions": "UEA BasicMotions (bundled with sktime): 80 series, 6 channels x 100, 4 classes",
    "diabetes": "scikit-learn's diabetes (regression): 442 patients, 10 features, disease "
    "progression after one year",
    "tecator": "Tecator (regression, bundled with sktime): 215 near-infrared spectra of meat, "
    "length 100; target: fat content (%)",
    "yeast": "Yeast (multi-label, MULAN's version, shipped inside river's wheel): 2,417 genes, 103 "
    "expression and phylogenetic features, 14 functional classes",
}
# the bundled sets that are not classification sets
BUNDLED_TASKS = {"diabetes": REGRESSION, "tecator": REGRESSION, "yeast": MULTILABEL}
_SKTIME_LOADERS = {
    "gunpoint": "load_gunpoint",
    "italypowerdemand": "load_italy_power_demand",
    "basicmotions": "load_basic_motions",
    "tecator": "load_tecator",
}


@dataclass(frozen=True)
class Dataset:
    """A fixed split. ``X_*`` float32 (normalised with training statistics), ``y_*`` int64 in [0, K).

    ``task="regression"``: ``y_*`` float64 targets ``(n,)`` or ``(n, D)`` in their own units and
    ``classes`` the target names; ``task="multilabel"``: ``y_*`` float32 multi-hot ``(n, C)`` and
    ``classes`` the label names. ``num_classes`` is then D (1 for ``(n,)`` targets) or C.

    ``raw_train`` keeps the training inputs before normalisation (for pictures of mixed samples).
    ``layout`` says how the inputs were read (see :func:`infer_kind`); ``available_train`` is the size
    of the training split before ``labels_per_class`` and ``imbalance`` kept part of it.
    """

    name: str
    kind: str
    classes: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    raw_train: np.ndarray = field(repr=False)
    layout: str = ""
    available_train: int | None = None
    labels_per_class: int | None = None
    imbalance: float = 1.0
    task: str = CLASSIFICATION

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.X_train.shape[1:])

    def describe(self) -> str:
        """One line: kind, input shape, how many of the samples each split uses, how X was read."""
        if self.task != CLASSIFICATION:
            return self._describe_targets()
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        n_train = len(self.y_train)
        available = n_train if self.available_train is None else self.available_train
        total = available + len(self.y_val) + len(self.y_test)
        train = f"train {n_train:,} (per class {counts.min()}-{counts.max()})"
        if n_train < available:
            why = []
            if self.labels_per_class is not None:
                why.append(
                    f"--labels-per-class {self.labels_per_class} keeps at most that many per class"
                )
            if self.imbalance > 1.0:
                why.append(f"--imbalance {self.imbalance:g} makes the tail classes smaller")
            train = (
                f"train on only {n_train:,} of the {available:,} training samples "
                f"(per class {counts.min()}-{counts.max()}; {', '.join(why) or 'subset'}; "
                "--labels-per-class 0 uses all)"
            )
        text = (
            f"{self.name} ({self.kind}, input {self.input_shape}, {self.num_classes} classes), "
            f"{total:,} samples: {train}, validation {len(self.y_val):,}, test {len(self.y_test):,}"
        )
        return text + (f"; {self.layout}" if self.layout else "")

    def _describe_targets(self) -> str:
        n_train = len(self.y_train)
        total = n_train + len(self.y_val) + len(self.y_test)
        names = ", ".join(self.classes[:8]) + (", ..." if len(self.classes) > 8 else "")
        if self.task == REGRESSION:
            y = self.y_train.reshape(n_train, -1)
            stats = "; ".join(
                f"{c} mean {m:.4g}, std {sd:.4g}"
                for c, m, sd in zip(self.classes[:4], y.mean(0), y.std(0))
            )
            what = f"regression, {self.num_classes} target(s): {names}; training split: {stats}" + (
                "; ..." if self.num_classes > 4 else ""
            )
        else:
            pos = self.y_train.sum(0)
            what = (
                f"multi-label, {self.num_classes} labels: {names}; positives per label in the "
                f"training split {int(pos.min())}-{int(pos.max())}, labels per sample "
                f"{self.y_train.sum(1).mean():.2f} on average"
            )
        text = (
            f"{self.name} ({self.kind}, input {self.input_shape}, {what}), {total:,} samples "
            f"(random split): train {n_train:,}, validation {len(self.y_val):,}, "
            f"test {len(self.y_test):,}"
        )
        return text + (f"; {self.layout}" if self.layout else "")


class LoadedData(NamedTuple):
    """What :func:`read_data` found: ``X`` in the models' layout, labels, kind, a short name, the line
    saying how ``X`` was read, whether it is a bundled demo set, and the target (or label) names of
    a regression or multi-label set."""

    X: np.ndarray
    y: np.ndarray
    kind: str
    name: str
    layout: str
    bundled: bool
    columns: tuple[str, ...] = ()


def resolve_labels_per_class(labels_per_class: int | None, bundled: bool) -> int | None:
    """The training labels kept per class: ``None`` (the default) is :data:`DEMO_LABELS_PER_CLASS`
    for a bundled demo set and all of them for the user's data; ``0`` is all; ``n`` is at most ``n``."""
    if labels_per_class is None:
        return DEMO_LABELS_PER_CLASS if bundled else None
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, (int, np.integer)):
        raise SweepError(f"--labels-per-class must be an int (0 = all), got {labels_per_class!r}")
    if labels_per_class < 0:
        raise SweepError(f"--labels-per-class must be >= 0 (0 = all), got {labels_per_class}")
    return None if labels_per_class == 0 else int(labels_per_class)


def _user_data(path: Path) -> bool:
    """Whether ``path`` (spelled like a bundled set's name) is the user's data: it exists and is not
    a sweep's own report folder (``--out diabetes`` then ``--data diabetes`` means the bundled set)."""
    if not path.exists():
        return False
    return not (path.is_dir() and any((path / f).exists() for f in ("trials.json", "report.md", "sweep.db")))


def load_data(
    data: Any,
    *,
    label_column: str | None = None,
    kind: str = "auto",
    image_size: int = 32,
    text: Any = None,
    task: str = CLASSIFICATION,
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Load ``data`` (a bundled name, a path or ``(X, y)`` arrays); returns ``(X, y, kind, name)``.

    :func:`read_data` returns the same and the line saying how ``X`` was read."""
    got = read_data(
        data, label_column=label_column, kind=kind, image_size=image_size, text=text, task=task
    )
    return got.X, got.y, got.kind, got.name


def read_data(
    data: Any,
    *,
    label_column: str | None = None,
    kind: str = "auto",
    image_size: int = 32,
    text: Any = None,
    task: str = CLASSIFICATION,
) -> LoadedData:
    """Load ``data``: a bundled name, a ``.npz`` with arrays ``X`` and ``y``, a CSV with a label
    column, a folder of class sub-folders of images, or in-memory arrays ``(X, y)`` (NumPy arrays,
    lists, anything ``numpy.asarray`` reads; named ``"arrays"``). ``X`` is read as
    :func:`infer_kind` says (``kind`` overrides the kind). ``text``: a
    :class:`~mixkit.sweep.text.TextSource` for text data (embedded, kind ``"text"``).

    ``task="regression"``: ``y`` float targets ``(N,)`` or ``(N, D)`` (a CSV's ``label_column`` may
    name several columns, comma-separated); ``task="multilabel"``: ``y`` multi-hot ``(N, C)`` of
    0/1 (a CSV: ``label_column`` names the C label columns, comma-separated)."""
    task = resolve_task(task)
    if kind not in ("auto", *KINDS):
        raise SweepError(f"--kind must be one of auto, {', '.join(KINDS)}; got {kind!r}")
    if text is not None and task != CLASSIFICATION:
        raise SweepError(f"text data is swept for classification only, not --task {task}")
    if text is not None:
        from .text import load_text

        return LoadedData(*load_text(data, text, label_column=label_column, kind=kind))
    if isinstance(data, (tuple, list)):
        got = _read_arrays(data, label_column, kind, task)
        return got._replace(**_targets(got.y, task, "y", got.columns))
    key = str(data).strip().lower().replace("-", "").replace("_", "")
    if key in BUNDLED and not _user_data(Path(str(data))):
        own = BUNDLED_TASKS.get(key, CLASSIFICATION)
        if own != task:
            raise SweepError(
                f"the bundled set {key!r} is a {own} set: use --task {own} (task={own!r}), "
                f"not {task}"
            )
        if label_column is not None:
            raise SweepError(f"--label-column applies to CSV files, not to the bundled set {key!r}")
        X, y, found, columns = _load_bundled(key)
        layout = ""
        if kind != "auto" and kind != found:
            X, found, layout = infer_kind(X, kind)
        got = LoadedData(X, y, found, key, layout, True, columns)
        return got._replace(**_targets(got.y, task, key, columns))
    path = Path(str(data)).expanduser()
    if not path.exists():
        raise SweepError(
            f"data {str(data)!r} is neither a bundled set ({', '.join(BUNDLED)}) nor an existing path"
        )
    layout = ""
    if path.is_dir():
        X, y = _load_image_folder(path, image_size)
        found = "image"
        layout = f"images from class folders, resized to {image_size}x{image_size}, {X.shape[1]} channel(s)"
        if kind != "auto" and kind != found:
            X, found, layout = infer_kind(X, kind)
    elif path.suffix.lower() == ".npz":
        X, y = _load_npz(path, task)
        try:
            X, found, layout = infer_kind(X, kind)
        except SweepError as exc:
            raise SweepError(f"{path}: {exc}") from None
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        X, y, columns = _load_csv(path, label_column, task)
        found = "tabular"
        if kind != "auto" and kind != found:
            X, found, layout = infer_kind(X, kind)
    else:
        raise SweepError(
            f"{path}: expected a .npz file (X, y), a .csv file or a folder of class "
            f"sub-folders of images; got a {path.suffix or 'suffix-less'} file"
        )
    if label_column is not None and path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise SweepError(f"--label-column applies to CSV files only, but {path} is not a CSV file")
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        columns = ()
    got = LoadedData(X, y, found, path.stem or path.name, layout, False, tuple(columns))
    return got._replace(**_targets(got.y, task, str(path), got.columns))


def _targets(y: np.ndarray, task: str, where: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """Regression or multi-label targets of ``y`` as numbers, checked, with their names; nothing
    for classification (its labels are any values, turned into classes by :func:`make_split`)."""
    if task == CLASSIFICATION:
        return {}
    y = np.asarray(y)
    try:
        num = y.astype(np.float64)
    except (TypeError, ValueError):
        flat = y.reshape(-1)
        bad = next(v for v in flat if not _is_float(str(v)))
        raise SweepError(
            f"{where}: --task {task} needs numeric targets, got {str(bad)!r} among them"
        ) from None
    if task == REGRESSION:
        if num.ndim not in (1, 2) or num.shape[-1] == 0:
            raise SweepError(
                f"{where}: regression targets must be (N,) or (N, D), got shape {num.shape}"
            )
        if not np.all(np.isfinite(num)):
            rows = np.flatnonzero(~np.isfinite(num.reshape(len(num), -1)).all(1))
            raise SweepError(
                f"{where}: the targets hold NaN or infinite values ({len(rows)} rows, first: row "
                f"{rows[0]}); drop or impute them first"
            )
        d = 1 if num.ndim == 1 else num.shape[1]
    else:
        if num.ndim != 2 or num.shape[1] < 2:
            raise SweepError(
                f"{where}: multi-label targets must be multi-hot (N, C) with C >= 2 labels, got "
                f"shape {num.shape} (one 0/1 label is binary classification: --task "
                "classification)"
            )
        if not np.isin(num, (0.0, 1.0)).all():
            bad = num[~np.isin(num, (0.0, 1.0))][0]
            raise SweepError(
                f"{where}: multi-label targets must be 0/1 (multi-hot rows), got the value {bad:g}"
            )
        d = num.shape[1]
    if len(columns) != d:
        columns = ("target",) if d == 1 and task == REGRESSION else tuple(f"y{j}" for j in range(d))
    return {"y": num, "columns": tuple(columns)}


def _read_arrays(data: Any, label_column: str | None, kind: str, task: str) -> LoadedData:
    """``(X, y)`` in memory: ``X`` read by :func:`infer_kind`, ``y`` one label per row."""
    if len(data) != 2:
        raise SweepError(
            f"in-memory data must be a pair (X, y) of arrays, got a {type(data).__name__} of "
            f"{len(data)} items"
        )
    if label_column is not None:
        raise SweepError("--label-column applies to CSV files, not to in-memory arrays (X, y)")
    try:
        X, y = np.asarray(data[0]), np.asarray(data[1])
    except (TypeError, ValueError) as exc:  # ragged lists, objects NumPy cannot stack
        raise SweepError(f"cannot read (X, y) as arrays ({type(exc).__name__}: {exc})") from None
    if y.ndim != 1 and task == CLASSIFICATION:
        raise SweepError(_one_label_per_row("y", y.shape))
    X, found, layout = infer_kind(X, kind)
    if len(X) != len(y):
        raise SweepError(
            f"X has {len(X)} samples but y has {len(y)} labels; they must have the same length"
        )
    return LoadedData(X, y, found, "arrays", layout, False)


def _one_label_per_row(where: str, shape: tuple[int, ...]) -> str:
    return (
        f"{where} must be one label per row, shape (N,), got shape {shape} (regression targets "
        "(N, D): --task regression; multi-hot labels (N, C): --task multilabel)"
    )


def _load_bundled(key: str) -> tuple[np.ndarray, np.ndarray, str, tuple[str, ...]]:
    if key == "digits":
        X, y = _digits()
        return X, y, "image", ()
    if key == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes()  # read from the files scikit-learn ships; nothing is downloaded
        return d.data.astype(np.float32), d.target.astype(np.float64), "tabular", ("progression",)
    if key == "yeast":
        X, y = _yeast()
        return X, y, "tabular", tuple(f"Class{j}" for j in range(1, y.shape[1] + 1))
    try:
        import sktime.datasets as skd
    except ImportError:
        raise SweepError(
            f"the bundled set {key!r} ships with sktime: pip install 'mixkit[sweep]'"
        ) from None
    X, y = getattr(skd, _SKTIME_LOADERS[key])(return_type="numpy3D")
    columns = ("fat",) if key == "tecator" else ()
    return np.asarray(X, dtype=np.float32), np.asarray(y), "series", columns


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(1797, 1, 8, 8)`` in [0, 1]: read from the file it ships (importing
    scikit-learn takes seconds), or through ``load_digits`` if that file moved."""
    path = package_file("sklearn", "datasets", "data", "digits.csv.gz")
    if path is not None:
        data = np.loadtxt(path, delimiter=",")
        if data.shape == (1797, 65):
            return (data[:, :64].reshape(-1, 1, 8, 8) / 16.0).astype(np.float32), data[
                :, 64
            ].astype(np.int64)
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def _yeast() -> tuple[np.ndarray, np.ndarray]:
    """The Yeast multi-label set as ``X`` float32 ``(2417, 103)`` and ``y`` multi-hot ``(2417, 14)``,
    read from the CSV that river's wheel ships (river itself is not imported)."""
    import gzip

    path = package_file("river", "datasets", "yeast.csv.gz")
    if path is None:
        import importlib.util

        installed = importlib.util.find_spec("river") is not None
        where = "this river has no datasets/yeast.csv.gz" if installed else "river is not installed"
        raise SweepError(
            f"the bundled set 'yeast' is the file that ships inside river's wheel ({where}): "
            "pip install 'mixkit[sweep]' (or pip install --no-deps 'river>=0.26')"
        )
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        data = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    n_feat = sum(h.startswith("Att") for h in header)
    if data.shape != (2417, 117) or n_feat != 103:
        raise SweepError(
            f"{path}: expected the Yeast table of 2417 rows x (103 features + 14 labels), "
            f"got {data.shape} with {n_feat} feature columns"
        )
    return data[:, :n_feat].astype(np.float32), data[:, n_feat:]


def _load_npz(path: Path, task: str = CLASSIFICATION) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if "X" not in names or "y" not in names:
                raise SweepError(
                    f"{path}: a .npz needs arrays named X and y, found {names or 'none'}"
                )
            X, y = f["X"], f["y"]
    except SweepError:
        raise
    except Exception as exc:  # zip or format errors: unreadable file  # noqa: BLE001
        raise SweepError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None
    if X.dtype.kind not in "biuf":
        raise SweepError(f"{path}: X must be numeric, got dtype {X.dtype}")
    if y.ndim != 1 and task == CLASSIFICATION:
        raise SweepError(f"{path}: " + _one_label_per_row("y", y.shape))
    return X, y


def _load_csv(
    path: Path, label_column: str | None, task: str = CLASSIFICATION
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Features and labels of a CSV; ``label_column`` may name several columns (comma-separated)
    for regression (``(N, D)`` targets) and multi-label data (one 0/1 column per label)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            delimiter = (
                "\t"
                if path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample)
                else ","
            )
            rows = list(csv.reader(fh, delimiter=delimiter))
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise SweepError(f"{path}: a CSV needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        if task == MULTILABEL:
            raise SweepError(
                f"{path}: multi-label data needs its label columns, one 0/1 column per label: "
                f"--label-column a,b,c (columns: {', '.join(header)})"
            )
        if "label" not in header:
            raise SweepError(
                f"{path}: say which column holds the labels with --label-column "
                f"(columns: {', '.join(header)})"
            )
        label_column = "label"
    wanted = [c.strip() for c in label_column.split(",") if c.strip()]
    if len(wanted) > 1 and task == CLASSIFICATION:
        raise SweepError(
            f"{path}: --label-column {label_column!r} names {len(wanted)} columns; classification "
            "takes one (several target columns: --task regression; 0/1 label columns: --task "
            "multilabel)"
        )
    if task == MULTILABEL and len(wanted) < 2:
        raise SweepError(
            f"{path}: multi-label data needs at least 2 label columns (--label-column a,b,c), got "
            f"{label_column!r}"
        )
    for c in wanted:
        if c not in header:
            raise SweepError(f"{path}: no label column {c!r}; columns are: {', '.join(header)}")
    if len(set(wanted)) != len(wanted):
        raise SweepError(f"{path}: --label-column {label_column!r} names a column twice")
    js = [header.index(c) for c in wanted]
    features = [c for i, c in enumerate(header) if i not in js]
    if not features:
        raise SweepError(f"{path}: the CSV has no feature columns besides {label_column!r}")
    X = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    y = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise SweepError(
                f"{path}: line {r} has {len(row)} fields, the header has {len(header)}"
            )
        y.append([row[j].strip() for j in js])
        vals = [v for i, v in enumerate(row) if i not in js]
        try:
            X[r - 2] = [float(v) for v in vals]
        except ValueError:
            bad = next(v for v in vals if not _is_float(v))
            raise SweepError(
                f"{path}: line {r} has a non-numeric feature value {bad!r}; "
                "feature columns must be numbers"
            ) from None
    labels = np.asarray(y)
    return X, (labels[:, 0] if len(js) == 1 else labels), tuple(wanted)


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _load_image_folder(path: Path, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise SweepError(f"{path}: a folder of images needs one sub-folder per class, found none")
    files: list[tuple[Path, str]] = []
    for c in classes:
        files += [(f, c.name) for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise SweepError(
            f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class folders"
        )
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                images.append(im.convert("RGB").resize((image_size, image_size)))
        except (OSError, UnidentifiedImageError) as exc:
            raise SweepError(f"{f}: cannot read as an image ({type(exc).__name__})") from None
    arr = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])  # (N, H, W, 3)
    if np.allclose(arr[..., 0], arr[..., 1]) and np.allclose(arr[..., 1], arr[..., 2]):
        arr = arr[..., :1]
    return np.ascontiguousarray(np.moveaxis(arr, -1, 1)), np.asarray([c for _, c in files])


def make_split(
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    *,
    name: str = "data",
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    labels_per_class: int | None = None,
    imbalance: float = 1.0,
    seed: int = 0,
    layout: str = "",
    task: str = CLASSIFICATION,
    columns: tuple[str, ...] = (),
) -> Dataset:
    """A fixed stratified split into train / validation / test, drawn with ``seed``.

    Per class, ``round(fraction * n)`` (at least 1) examples go to validation and to test, the rest to
    train. ``labels_per_class`` keeps at most that many training examples per class; ``imbalance``
    ``R >= 1`` then makes the training split long-tailed: class ``k`` (of ``K``, largest first) keeps
    ``n_max * R ** (-k / (K - 1))`` examples (at least 1). ``layout`` (the text of :func:`infer_kind`)
    is kept for :meth:`Dataset.describe`.

    ``task="regression"`` or ``"multilabel"``: a random (unstratified) split with the same fractions;
    ``y`` as :func:`read_data` gives it (float targets, or multi-hot rows), ``columns`` their names;
    ``labels_per_class`` and ``imbalance`` do not apply.
    """
    task = resolve_task(task)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2:
        raise SweepError(
            f"X must have a sample axis and at least one feature axis, got shape {X.shape}"
        )
    if len(X) != len(y):
        raise SweepError(
            f"X has {len(X)} samples but y has {len(y)} labels; they must have the same length"
        )
    if not np.all(np.isfinite(X)):
        raise SweepError("X holds NaN or infinite values; clean or impute them first")
    if labels_per_class is not None and labels_per_class < 1:
        raise SweepError(f"--labels-per-class must be a positive int, got {labels_per_class}")
    if not (np.isfinite(imbalance) and imbalance >= 1.0):
        raise SweepError(f"--imbalance must be a ratio >= 1 (1 = balanced), got {imbalance}")
    if task != CLASSIFICATION:
        return _split_targets(
            X, y, kind, task, name=name, val_fraction=val_fraction, test_fraction=test_fraction,
            labels_per_class=labels_per_class, imbalance=imbalance, seed=seed, layout=layout,
            columns=columns,
        )  # fmt: skip
    classes, y_int = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise SweepError(
            f"the labels hold {len(classes)} class(es); classification needs at least 2"
        )
    gen = np.random.default_rng(seed)
    counts = np.bincount(y_int, minlength=len(classes))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(classes)):
        idx = gen.permutation(np.flatnonzero(y_int == c))
        n = len(idx)
        n_test = max(1, round(test_fraction * n))
        n_val = max(1, round(val_fraction * n))
        if n - n_test - n_val < 1:
            raise SweepError(
                f"class {str(classes[c])!r} has {n} example(s); the split needs at least 3 per class "
                "(train, validation, test)" + _regression_hint(classes)
            )
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    train = parts["train"]
    available = int(sum(len(t) for t in train))
    if labels_per_class is not None:
        train = [t[:labels_per_class] for t in train]
    if imbalance > 1.0:
        k = len(classes)
        order = np.argsort(-counts, kind="stable")  # most frequent class keeps the most
        n_max = max(len(t) for t in train)
        for rank, c in enumerate(order):
            keep = max(1, round(n_max * imbalance ** (-rank / (k - 1))))
            train[c] = train[c][:keep]
    tr, va, te = (np.sort(np.concatenate(p)) for p in (train, parts["val"], parts["test"]))
    raw = X.astype(np.float32)
    Xn = _normalise(raw, raw[tr], kind)
    return Dataset(
        name=name,
        kind=kind,
        classes=tuple(str(c) for c in classes),
        X_train=Xn[tr],
        y_train=y_int[tr].astype(np.int64),
        X_val=Xn[va],
        y_val=y_int[va].astype(np.int64),
        X_test=Xn[te],
        y_test=y_int[te].astype(np.int64),
        raw_train=raw[tr],
        layout=layout,
        available_train=available,
        labels_per_class=labels_per_class,
        imbalance=float(imbalance),
    )


def _regression_hint(classes: np.ndarray) -> str:
    """A pointer to ``--task regression`` when the class labels read as numbers with fractions, or
    as more than 20 distinct numbers (said only where the classification split fails)."""
    try:
        values = np.asarray(classes).astype(np.float64)
    except (TypeError, ValueError):
        return ""
    if not (values.size and np.all(np.isfinite(values))):
        return ""
    if np.any(values != np.round(values)) or len(values) > 20:  # fractions, or many numbers
        return (
            f". The {len(values)} labels are numbers (from {values.min():g} to {values.max():g}): "
            "if they are regression targets, say so with --task regression (task='regression')"
        )
    return ""


def _split_targets(
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    task: str,
    *,
    name: str,
    val_fraction: float,
    test_fraction: float,
    labels_per_class: int | None,
    imbalance: float,
    seed: int,
    layout: str,
    columns: tuple[str, ...],
) -> Dataset:
    """The random split of regression targets or multi-hot labels (see :func:`make_split`)."""
    if labels_per_class is not None or imbalance != 1.0:
        raise SweepError(
            f"--labels-per-class and --imbalance act on classes; --task {task} has none"
        )
    info = _targets(y, task, "y", columns)
    y, columns = info["y"], info["columns"]
    n = len(y)
    n_test = max(1, round(test_fraction * n))
    n_val = max(1, round(val_fraction * n))
    if n - n_test - n_val < 2:
        raise SweepError(
            f"{n} samples are too few: the split needs at least 2 for training, 1 for validation "
            "and 1 for test"
        )
    if task == MULTILABEL:
        pos = y.sum(axis=0)
        for c in range(y.shape[1]):
            if pos[c] == 0 or pos[c] == n:
                state = "never on" if pos[c] == 0 else "on for every sample"
                raise SweepError(
                    f"label {columns[c]!r} is {state}; every label needs positive and negative "
                    "samples (drop that column)"
                )
    idx = np.random.default_rng(seed).permutation(n)
    te, va, tr = (
        np.sort(idx[:n_test]),
        np.sort(idx[n_test : n_test + n_val]),
        np.sort(idx[n_test + n_val :]),
    )
    raw = X.astype(np.float32)
    Xn = _normalise(raw, raw[tr], kind)
    yy = y.astype(np.float64 if task == REGRESSION else np.float32)
    return Dataset(
        name=name,
        kind=kind,
        classes=tuple(columns),
        X_train=Xn[tr],
        y_train=yy[tr],
        X_val=Xn[va],
        y_val=yy[va],
        X_test=Xn[te],
        y_test=yy[te],
        raw_train=raw[tr],
        layout=layout,
        available_train=len(tr),
        task=task,
    )


def _normalise(X: np.ndarray, train: np.ndarray, kind: str) -> np.ndarray:
    """Standardise with training statistics: per channel (images, series) or per feature (tabular)."""
    axes: Any = (0,) if kind == "tabular" else (0, *range(2, X.ndim))
    mean = train.mean(axis=axes, keepdims=True)
    std = train.std(axis=axes, keepdims=True)
    std = np.where(std > 1e-8, std, 1.0)
    return ((X - mean) / std).astype(np.float32)

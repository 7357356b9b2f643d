"""The ONNX Runtime embedding path (qa.embed.minilm_onnx): export, checks against torch, the cache and
its corruption, fallback to torch, threads, and a query process that never imports torch.

Unmarked tests use a tiny random BERT saved as a sentence-transformers model (same pipeline as
MiniLM: Transformer → mean pooling → Normalize, 384 dimensions); they import torch to make and
export it. Tests marked ``slow`` use the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from qa.embed import minilm_onnx
from qa.embed.embedder import MiniLMEmbedder
from qa.errors import QAError
from qa.index.build import build_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant

TEXTS = [
    "How many workers rebuilt the pier?",
    "x",
    "The harbor of Linden reopened on Monday after a week of repairs.",
    "Who leads the mission? " * 30,  # past the tiny model's truncation length (32)
    "",
]

WORDS = (
    "the a of to in and is was on for how many who what when did cost workers rebuilt main pier "
    "harbor linden reopened monday after week repairs mayor said ferry school pupils islands"
).split()


def make_tiny_model(root: Path) -> Path:
    """A 1-layer random BERT (hidden 384) with a small WordPiece vocabulary, saved as a
    sentence-transformers model folder like MiniLM's."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    root.mkdir(parents=True, exist_ok=True)
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *".,?!$'-"]
    vocab += [f"##{c}" for c in chars] + WORDS
    vocab = list(dict.fromkeys(vocab))
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok.enable_padding(length=16)  # like MiniLM's tokenizer.json: the encoder must undo it
    tok.save(str(root / "tokenizer.json"))
    special = {t.strip("[]").lower() + "_token": t for t in vocab[:5]}
    (root / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True, **special})
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=384,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    model = BertModel(config)
    with torch.no_grad():  # spread the embeddings so texts get clearly different vectors
        model.embeddings.word_embeddings.weight.normal_(0, 1)
    model.save_pretrained(root)
    kinds = ["Transformer", "Pooling", "Normalize"]
    paths = ["", "1_Pooling", "2_Normalize"]
    modules = [
        {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{k}"}
        for i, (k, p) in enumerate(zip(kinds, paths, strict=True))
    ]
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 32, "do_lower_case": False})
    )
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 384,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def tiny_torch(tiny_model: Path):  # type: ignore[no-untyped-def]
    """The torch embedder of the tiny model (the reference)."""
    return MiniLMEmbedder(tiny_model, backend="torch")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("QA_CACHE_DIR", str(folder))
    monkeypatch.delenv("QA_EMBED_BACKEND", raising=False)
    return folder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def cached(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_export_matches_torch_then_loads_from_cache_without_exporting(
    tiny_model: Path, tiny_torch: MiniLMEmbedder, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = MiniLMEmbedder(tiny_model)
    assert emb.backend_in_use == "onnx"
    assert emb._model is None  # the torch copy loaded for the export was let go
    stem = f"minilm-{emb.weights_sha256()[:16]}"
    assert cached(cache) == [f"{stem}.json", f"{stem}.onnx"]
    record = json.loads((cache / f"{stem}.json").read_text())
    assert record["worst_cosine_vs_torch"] > minilm_onnx.MIN_COSINE
    assert record["onnx_bytes"] == (cache / f"{stem}.onnx").stat().st_size

    ref = tiny_torch.encode(TEXTS, batch_size=3)
    batched = emb.encode(TEXTS, batch_size=2)
    single = np.vstack([emb.encode([t]) for t in TEXTS])
    for got in (batched, single):
        assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
        assert cosines(got, ref).min() > minilm_onnx.MIN_COSINE  # int8 against float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    # texts differ (a constant vector would pass the checks above trivially)
    assert cosines(ref[:1], ref[2:3]).max() < 0.99
    assert emb.encode([]).shape == (0, 384)

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again although the cache is valid")

    monkeypatch.setattr(minilm_onnx, "export", no_export)
    again = MiniLMEmbedder(tiny_model)
    assert again.backend_in_use == "onnx"
    assert again._model is None
    np.testing.assert_allclose(again.encode(TEXTS), batched, atol=1e-6)


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-record", "garbage-record", "empty"])
def test_damaged_cache_is_detected_and_exported_again(
    tiny_model: Path,
    tiny_torch: MiniLMEmbedder,
    cache: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = MiniLMEmbedder(tiny_model)
    assert first.backend_in_use == "onnx"
    onnx_file, record_file = minilm_onnx.cache_files(first.weights_sha256())
    good = onnx_file.read_bytes()
    if damage == "truncate":
        onnx_file.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF
        onnx_file.write_bytes(bytes(data))
    elif damage == "no-record":
        record_file.unlink()
    elif damage == "garbage-record":
        record_file.write_text("{not json")
    else:
        onnx_file.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="qa.embed.embedder"):
        emb = MiniLMEmbedder(tiny_model)
        assert emb.backend_in_use == "onnx"
    assert "exporting the embedding model to ONNX again" in caplog.text
    assert onnx_file.stat().st_size == len(good)
    record = json.loads(record_file.read_text())
    assert record["onnx_bytes"] == len(good)
    assert cosines(emb.encode(TEXTS), tiny_torch.encode(TEXTS)).min() > minilm_onnx.MIN_COSINE
    assert not [n for n in cached(cache) if n.endswith(".tmp")]


def test_export_failure_falls_back_to_torch(
    tiny_model: Path,
    tiny_torch: MiniLMEmbedder,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise minilm_onnx.ExportError("exporter exploded")

    monkeypatch.setattr(minilm_onnx, "export", broken)
    with caplog.at_level(logging.WARNING, logger="qa.embed.embedder"):
        emb = MiniLMEmbedder(tiny_model)
        assert emb.backend_in_use == "torch"
    assert "exporter exploded" in caplog.text and "using PyTorch" in caplog.text
    np.testing.assert_allclose(emb.encode(TEXTS), tiny_torch.encode(TEXTS), atol=1e-6)
    with pytest.raises(QAError, match="ONNX embedding backend is not usable"):
        MiniLMEmbedder(tiny_model, backend="onnx").encode(["q"])


def test_export_that_disagrees_with_torch_is_not_kept(
    tiny_model: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(minilm_onnx, "MIN_COSINE", 1.5)  # nothing can pass
    with caplog.at_level(logging.WARNING, logger="qa.embed.embedder"):
        emb = MiniLMEmbedder(tiny_model)
        assert emb.backend_in_use == "torch"
    assert "differ from torch" in caplog.text
    assert cached(cache) == []  # no model, no record, no temporary file


def test_unwritable_cache_falls_back_to_torch(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("QA_CACHE_DIR", str(blocker / "cache"))
    emb = MiniLMEmbedder(tiny_model)
    assert emb.backend_in_use == "torch"
    assert emb.encode(["How many workers?"]).shape == (1, 384)


def test_torch_backend_by_env_does_not_touch_the_cache(
    tiny_model: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_EMBED_BACKEND", "torch")
    emb = MiniLMEmbedder(tiny_model)
    assert emb.backend_in_use == "torch"
    assert emb.encode(["q"]).shape == (1, 384)
    assert cached(cache) == []
    with pytest.raises(QAError, match="unknown embedding backend"):
        MiniLMEmbedder(tiny_model, backend="tensorflow")


def test_other_pooling_is_not_exported(
    tiny_model: Path, tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    other = tmp_path / "cls-pooling"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "1_Pooling" / "config.json").read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (other / "1_Pooling" / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="qa.embed.embedder"):
        assert MiniLMEmbedder(other).backend_in_use == "torch"
    assert "pooling" in caplog.text
    assert cached(cache) == []


def test_encoding_from_many_threads_matches_one_thread(tiny_model: Path, cache: Path) -> None:
    emb = MiniLMEmbedder(tiny_model)
    texts = [f"{w} {v} workers rebuilt the pier" for w in WORDS[:12] for v in WORDS[12:16]]
    expected = np.vstack([emb.encode([t]) for t in texts])
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(3):
                mine = texts[k::6]
                results[k] = np.vstack([emb.encode([t]) for t in mine])
                np.testing.assert_allclose(emb.encode(mine), results[k], atol=1e-5)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(6):
        np.testing.assert_allclose(results[k], expected[k::6], atol=1e-5)


def test_a_texts_vector_does_not_depend_on_the_texts_beside_it(
    tiny_model: Path, cache: Path
) -> None:
    # int8 quantises activations per call: run together, short and long texts would change
    # each other's vectors; each runs alone, so they are the same bits in any company
    emb = MiniLMEmbedder(tiny_model)
    texts = ["x", *TEXTS, " ".join(WORDS * 3)]
    alone = np.vstack([emb.encode([t]) for t in texts])
    np.testing.assert_array_equal(emb.encode(texts), alone)
    np.testing.assert_array_equal(emb.encode(texts[::-1]), alone[::-1])


QUERY_PROCESS = textwrap.dedent(
    """
    import json, sys
    from qa.pipeline import Assistant
    a = Assistant.load(sys.argv[1])
    one = a.ask("How many workers rebuilt the main pier?")
    many = a.ask_many(["Who is the mayor?", "When did the harbor reopen?"])
    heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
    print(json.dumps({"heavy": heavy, "backend": a.embedder.backend_in_use,
                      "answers": [one.answer] + [x.answer for x in many]}))
    """
)


def test_query_process_never_imports_torch(
    tiny_model: Path, tiny_dir: Path, tmp_path: Path, cache: Path
) -> None:
    index_dir = tmp_path / "index"
    articles = load_corpus([tiny_dir]).articles
    builder = MiniLMEmbedder(tiny_model)
    build_index(articles, index_dir, inputs=[tiny_dir], embedder=builder, progress=False)
    assert builder.backend_in_use == "onnx"  # the build exported it
    env = {**os.environ, "QA_MODEL_PATH": str(tiny_model), "QA_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", QUERY_PROCESS, str(index_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == []
    assert got["backend"] == "onnx"
    assert len(got["answers"]) == 3


# -- the real all-MiniLM-L6-v2 --------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    """all-MiniLM-L6-v2 as released (the package's weights), exported here once."""
    embedder = MiniLMEmbedder()
    _ = embedder.model
    return embedder


@pytest.fixture(scope="module")
def base_index(minilm: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qa.config import BUNDLED_CORPUS

    target = tmp_path_factory.mktemp("base-index")
    articles = load_corpus([BUNDLED_CORPUS]).articles
    build_index(articles, target, inputs=[BUNDLED_CORPUS], embedder=minilm, progress=False)
    return target


@pytest.mark.slow
def test_minilm_int8_vectors_stay_close_to_torch(minilm: MiniLMEmbedder) -> None:
    from qa.config import BUNDLED_CORPUS

    assert minilm.backend_in_use == "onnx"
    arts = load_corpus([BUNDLED_CORPUS]).articles
    texts = [a.title for a in arts] + [a.text[:2000] for a in arts] + TEXTS
    texts += ["How many officers has Kenya provided?", "¿Quién dirige la misión?"]
    ref = np.asarray(minilm.model.encode(texts, batch_size=16, normalize_embeddings=True))
    got = minilm.encode(texts, batch_size=64)
    assert minilm.precision == "int8"
    assert cosines(got, ref).min() > minilm_onnx.MIN_COSINE
    assert cosines(got, ref).mean() > 0.99
    for t in texts[:5] + texts[-3:]:
        assert cosines(minilm.encode([t]), minilm._encode_one(t)).min() > minilm_onnx.MIN_COSINE


@pytest.mark.slow
def test_minilm_cache_is_used_and_assistant_skips_torch(
    minilm: MiniLMEmbedder, base_index: Path
) -> None:
    onnx_file, _ = minilm_onnx.cache_files(minilm.weights_sha256())
    assert onnx_file.is_file() and minilm.onnx_encoder().onnx_file == onnx_file
    question = "How many officers has Kenya provided?"
    expected = Assistant.load(base_index, embedder=minilm).ask(question).answer
    script = QUERY_PROCESS.replace(
        'a.ask("How many workers rebuilt the main pier?")', f"a.ask({question!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(base_index)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and got["backend"] == "onnx"
    assert got["answers"][0] == expected

"""Scale features on small data: streaming sharded builds, --resume, approximate indexes (HNSW,
IVF-PQ) with their knobs and filters, incremental updates without retraining, memory-mapped
loading. All with the hashing embedder; a few seconds in total."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import qa.index.ann
import qa.index.build as qi
from qa.embed.embedder import HashEmbedder
from qa.index.build import build_index
from qa.index.format import current_build
from qa.index.store import load_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant
from qa.retrieve.hybrid import Filters, HybridRetriever
from qa.surfaces.cli import main
from tests.helpers import CountingEmbedder, write_jsonl


def tables(ix_dir: Path) -> dict[str, object]:
    ix = load_index(ix_dir)
    return {
        "articles": [(a.id, a.text) for a in ix.articles],
        "passages": [(p.article_id, p.start, p.end, p.sentences) for p in ix.passages],
        "pv": np.asarray(ix.passage_vectors, dtype=np.float32),
        "sv": np.asarray(ix.sentence_vectors, dtype=np.float32),
    }


def same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a["articles"] == b["articles"]
    assert a["passages"] == b["passages"]
    assert np.array_equal(a["pv"], b["pv"]) and np.array_equal(a["sv"], b["sv"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("news")
    write_jsonl(folder / "news.jsonl", 400)
    return folder


def test_streamed_shards_equal_one_in_memory_build(news: Path, tmp_path: Path) -> None:
    arts = load_corpus([news]).articles
    build_index(arts, tmp_path / "mem", embedder=HashEmbedder(), progress=False)
    report = build_index(
        None,
        tmp_path / "stream",
        inputs=[news],
        embedder=HashEmbedder(),
        progress=False,
        shard_size=37,
    )
    assert report.articles == 400 and report.embedded_articles == 400
    same(tables(tmp_path / "mem"), tables(tmp_path / "stream"))
    assert not (tmp_path / "stream" / ".work").exists()  # shards are removed after the swap


def test_streamed_bm25_matches_bm25s(news: Path, tmp_path: Path) -> None:
    import bm25s

    from qa.index.shards import passage_input
    from qa.ingest.text import analyze

    build_index(
        None, tmp_path / "ix", inputs=[news], embedder=HashEmbedder(), progress=False, shard_size=50
    )
    ix = load_index(tmp_path / "ix")
    ref = bm25s.BM25()
    ref.index(
        [analyze(passage_input(ix.article(p.article_id), p.text)) or [""] for p in ix.passages],
        show_progress=False,
    )
    for query in (["mayor"], ["storm", "harbor"], ["vaccin", "strike", "union"]):
        assert np.allclose(ix.bm25.get_scores(query), ref.get_scores(query), atol=1e-5)


def test_interrupted_build_resumes_from_finished_shards(
    news: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ix"
    fresh = CountingEmbedder()  # what one uninterrupted build embeds
    build_index(None, target, inputs=[news], embedder=fresh, progress=False)
    before = current_build(target)
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "news.jsonl").write_text((news / "news.jsonl").read_text())
    real = qi.write_shard
    calls = {"n": 0}

    def dying(*args: object, **kwargs: object) -> Path:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(qi, "write_shard", dying)
    emb = CountingEmbedder()
    with pytest.raises(KeyboardInterrupt):
        build_index(
            None,
            tmp_path / "fresh",
            inputs=[corpus],
            embedder=emb,
            progress=False,
            shard_size=50,
            rebuild=True,
        )
    assert not (tmp_path / "fresh" / "CURRENT").exists()
    assert len(list((tmp_path / "fresh" / ".work").glob("shard-*"))) == 3
    first = emb.texts
    monkeypatch.setattr(qi, "write_shard", real)
    emb2 = CountingEmbedder()
    report = build_index(
        None,
        tmp_path / "fresh",
        inputs=[corpus],
        embedder=emb2,
        progress=False,
        shard_size=50,
        resume=True,
    )
    assert report.embedded_articles == 400  # counted over all shards, 150 of them from before
    assert emb2.texts < fresh.texts  # the finished shards were not embedded again
    assert first > 0
    same(tables(tmp_path / "fresh"), tables(target))
    assert current_build(target) == before
    # without --resume an old work folder is discarded
    (tmp_path / "fresh" / ".work" / "shard-000000").mkdir(parents=True)
    build_index(
        None,
        tmp_path / "fresh",
        inputs=[corpus],
        embedder=HashEmbedder(),
        progress=False,
        rebuild=True,
    )
    assert not (tmp_path / "fresh" / ".work").exists()


def recall_at_10(ix_dir: Path, exact_dir: Path, n: int = 50, **knobs: int) -> float:
    approx = load_index(ix_dir, search_params=knobs)
    exact = load_index(exact_dir)
    q = np.asarray(exact.passage_vectors[:n], dtype=np.float32) + 0.02
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, truth = exact.faiss_index.search(q, 10)
    _, got = approx.faiss_index.search(q, 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got, strict=True)]))


# IVF-PQ training and re-scoring take seconds
@pytest.mark.parametrize("kind", ["hnsw", pytest.param("ivfpq", marks=pytest.mark.slow)])
def test_approximate_index_recall_knobs_and_filters(
    kind: str, news: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(None, tmp_path / "flat", inputs=[news], embedder=HashEmbedder(), progress=False)
    build_index(
        None,
        tmp_path / kind,
        inputs=[news],
        embedder=HashEmbedder(),
        progress=False,
        faiss_kind=kind,
        faiss_params={"nlist": 16} if kind == "ivfpq" else {},
    )
    m = json.loads((current_build(tmp_path / kind) / "manifest.json").read_text())
    assert m["faiss"]["kind"] == kind
    if kind == "hnsw":
        assert m["faiss"]["params"] == {"M": 32, "efConstruction": 80, "efSearch": 128}
    else:
        p = m["faiss"]["params"]
        # 4-bit fast-scan codes, dim / 2 of them; all 16 lists probed; 20 x k re-scored
        assert (p["nlist"], p["m"], p["nbits"], p["fastscan"]) == (16, 128, 4, True)
        assert (p["nprobe"], p["refine"]) == (16, 20)
        assert m["faiss"]["training"]["sample"] == m["counts"]["passages"]
    # (hashing vectors are nearly orthogonal, a hard case for PQ: re-score more candidates)
    knobs = {"refine": 16} if kind == "ivfpq" else {}
    assert recall_at_10(tmp_path / kind, tmp_path / "flat", **knobs) >= 0.9

    # knobs: from the manifest, the environment, or load_index
    knob = "efSearch" if kind == "hnsw" else "nprobe"
    env = "QA_EF_SEARCH" if kind == "hnsw" else "QA_NPROBE"
    raw = lambda ix: ix.faiss_index.hnsw.efSearch if kind == "hnsw" else ix.faiss_index.nprobe  # noqa: E731
    assert raw(load_index(tmp_path / kind, search_params={knob: 5})) == 5
    monkeypatch.setenv(env, "7")
    assert raw(load_index(tmp_path / kind)) == 7
    monkeypatch.delenv(env)
    # ... and settable without re-embedding
    emb = CountingEmbedder()
    report = build_index(
        None,
        tmp_path / kind,
        inputs=[news],
        embedder=emb,
        progress=False,
        faiss_kind=kind,
        faiss_params={knob: 9},
    )
    assert report.unchanged and emb.texts == 0
    assert raw(load_index(tmp_path / kind)) == 9

    # filters (IDSelector) still work on approximate indexes
    ix = load_index(tmp_path / kind)
    retriever = HybridRetriever(ix)
    qvec = np.asarray(ix.passage_vectors[3], dtype=np.float32)
    hits = retriever.search("mayor harbor storm", qvec, k=8, filters=Filters(sources=("Times",)))
    assert hits and all(
        ix.article(ix.passages[h.passage].article_id).source == "Times" for h in hits
    )
    only = ix.passages[3].article_id
    hits = retriever.search("mayor", qvec, k=5, filters=Filters(article_ids=(only,)))
    assert hits and {ix.passages[h.passage].article_id for h in hits} == {only}


def test_auto_goes_approximate_only_above_the_threshold(
    news: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_index: Path
) -> None:
    assert load_index(tiny_index).manifest["faiss"]["kind"] == "flat"
    monkeypatch.setattr(qa.index.ann, "APPROX_THRESHOLD", 100)
    build_index(None, tmp_path / "ix", inputs=[news], embedder=HashEmbedder(), progress=False)
    assert load_index(tmp_path / "ix").manifest["faiss"]["kind"] == "hnsw"


@pytest.mark.slow  # four IVF-PQ builds
def test_incremental_update_reuses_training_and_retrains_on_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_jsonl(corpus / "news.jsonl", 400)
    target = tmp_path / "ix"
    params = {"nlist": 16}
    build_index(
        None,
        target,
        inputs=[corpus],
        embedder=HashEmbedder(),
        progress=False,
        faiss_kind="ivfpq",
        faiss_params=params,
    )
    trained = load_index(target).manifest["faiss"]["training"]
    old = tables(target)
    write_jsonl(corpus / "news.jsonl", 30, start=400)  # appended
    emb = CountingEmbedder()
    report = build_index(
        None,
        target,
        inputs=[corpus],
        embedder=emb,
        progress=False,
        faiss_kind="ivfpq",
        faiss_params=params,
    )
    assert (report.embedded_articles, report.reused_articles, report.retrained) == (30, 400, "")
    ix = load_index(target)
    assert ix.manifest["faiss"]["training"]["reused"] is True
    assert ix.manifest["faiss"]["training"]["fit"] == trained["fit"]
    n_old = len(old["passages"])  # type: ignore[arg-type]
    assert np.array_equal(np.asarray(ix.passage_vectors[:n_old], dtype=np.float32), old["pv"])  # type: ignore[arg-type]
    assert ix.faiss_index.ntotal == len(ix.passages)
    # every new passage finds itself
    new = np.asarray(ix.passage_vectors[n_old:], dtype=np.float32)
    _, ids = ix.faiss_index.search(new, 1)
    assert np.mean(ids[:, 0] == np.arange(n_old, len(ix.passages))) > 0.95

    # a changed article in the middle: no retraining, codes re-added
    lines = (corpus / "news.jsonl").read_text().splitlines()
    row = json.loads(lines[5])
    row["text"] += " The council approved a new budget."
    lines[5] = json.dumps(row)
    (corpus / "news.jsonl").write_text("\n".join(lines) + "\n")
    emb = CountingEmbedder()
    report = build_index(
        None,
        target,
        inputs=[corpus],
        embedder=emb,
        progress=False,
        faiss_kind="ivfpq",
        faiss_params=params,
    )
    assert report.embedded_articles == 1 and report.retrained == ""

    # drift: new vectors fit the centroids worse than at training time -> retrain, and say so
    monkeypatch.setattr(qa.index.ann, "DRIFT_LIMIT", -1.0)
    write_jsonl(corpus / "news.jsonl", 5, start=900)
    report = build_index(
        None,
        target,
        inputs=[corpus],
        embedder=HashEmbedder(),
        progress=False,
        faiss_kind="ivfpq",
        faiss_params=params,
    )
    assert "drifted" in report.retrained
    assert "reused" not in load_index(target).manifest["faiss"]["training"]


def test_hnsw_append_keeps_the_graph_and_finds_new_passages(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_jsonl(corpus / "news.jsonl", 200)
    target = tmp_path / "ix"
    build_index(
        None, target, inputs=[corpus], embedder=HashEmbedder(), progress=False, faiss_kind="hnsw"
    )
    n_old = len(load_index(target).passages)
    write_jsonl(corpus / "news.jsonl", 20, start=200)
    report = build_index(
        None, target, inputs=[corpus], embedder=HashEmbedder(), progress=False, faiss_kind="hnsw"
    )
    assert report.embedded_articles == 20
    ix = load_index(target)
    new = np.asarray(ix.passage_vectors[n_old:], dtype=np.float32)
    _, ids = ix.faiss_index.search(new, 1)
    assert np.mean(ids[:, 0] == np.arange(n_old, len(ix.passages))) > 0.95
    # deleting articles drops them (the graph is rebuilt from the stored vectors)
    lines = (corpus / "news.jsonl").read_text().splitlines()
    (corpus / "news.jsonl").write_text("\n".join(lines[10:]) + "\n")
    report = build_index(
        None, target, inputs=[corpus], embedder=HashEmbedder(), progress=False, faiss_kind="hnsw"
    )
    assert report.embedded_articles == 0 and len(report.removed_articles) == 10
    assert load_index(target).faiss_index.ntotal == len(load_index(target).passages)


def test_memory_mapped_load_answers_the_same(tiny_index: Path) -> None:
    plain = Assistant(load_index(tiny_index))
    mapped_ix = load_index(tiny_index, mmap=True)
    assert (
        isinstance(mapped_ix.passage_vectors.base, np.memmap)
        or mapped_ix.passage_vectors.dtype == np.float16
    )
    mapped = Assistant(mapped_ix)
    for q in ("How much did the repairs cost?", "How many pupils does the school have room for?"):
        a, b = plain.ask(q).to_dict(), mapped.ask(q).to_dict()
        a.pop("timing_ms"), b.pop("timing_ms")
        assert a["answer"] == b["answer"] and a["short_answer"] == b["short_answer"]


def test_cli_index_options(news: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ix = tmp_path / "ix"
    args = ["index", str(news), "--index-dir", str(ix), "--model", "hash", "-q"]
    res = runner.invoke(main, [*args, "--faiss", "hnsw", "--shard-size", "64", "--ef-search", "99"])
    assert res.exit_code == 0, res.output
    assert "Indexed 400 articles" in res.output
    assert load_index(ix).faiss_index.hnsw.efSearch == 99
    res = runner.invoke(main, [*args, "--faiss", "hnsw", "--ef-search", "120", "--resume"])
    assert res.exit_code == 0 and "up to date" in res.output
    assert load_index(ix).faiss_index.hnsw.efSearch == 120

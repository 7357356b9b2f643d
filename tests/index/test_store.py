from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.embed.embedder import HashEmbedder
from qa.errors import IndexLoadError, QAError, StaleIndexError
from qa.index.build import build_index
from qa.index.format import current_build
from qa.index.stale import check_stale, ensure_fresh
from qa.index.store import load_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant
from tests.helpers import CountingEmbedder


def make_corpus(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"a{i}.md").write_text(
            f"---\nid: a{i}\ntitle: Article {i}\n---\nArticle {i} says {i * 10} workers came. "
            f"They built {i} bridges in the town of Place{i}.\n",
            encoding="utf-8",
        )
    return folder


def build(corpus: Path, target: Path, embedder: HashEmbedder | None = None, **kw: object):  # type: ignore[no-untyped-def]
    arts = load_corpus([corpus]).articles
    return build_index(
        arts, target, inputs=[corpus], embedder=embedder or HashEmbedder(), progress=False, **kw
    )


def test_index_describes_itself(tmp_path: Path) -> None:
    build(make_corpus(tmp_path / "c"), tmp_path / "ix")
    index = load_index(tmp_path / "ix")
    m = index.manifest
    assert m["format"] == "qa-index" and m["format_version"] == 4
    assert m["model"]["name"] == "hash-256" and m["model"]["dimension"] == 256
    assert m["tokenizer"]["name"] == "cl100k_base"
    assert m["chunking"]["max_tokens"] == 128
    assert m["counts"] == {
        "articles": 3,
        "passages": len(index.passages),
        "sentences": len(index.sentences),
    }
    assert set(m["articles"]) == {"a0", "a1", "a2"}
    for p in index.passages:
        assert index.article(p.article_id).text[p.start : p.end] == p.text


def test_update_embeds_only_new_or_changed_articles_and_drops_deleted(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c")
    emb = CountingEmbedder()
    first = build(corpus, tmp_path / "ix", emb)
    assert first.embedded_articles == 3
    before = load_index(tmp_path / "ix")
    # each article's version says when it was indexed; an unchanged one keeps its time
    (before.path / "manifest.json").write_text(
        json.dumps({**before.manifest, "indexed_at": {"a0": "2020-01-01T00:00:00Z"}}),
        encoding="utf-8",
    )
    (corpus / "a1.md").write_text(
        "---\nid: a1\ntitle: Changed\n---\nNew text entirely here.\n", encoding="utf-8"
    )
    (corpus / "a2.md").unlink()
    make_corpus(tmp_path / "extra", 0)
    (corpus / "new.md").write_text(
        "---\nid: new\n---\nA brand new article appears.\n", encoding="utf-8"
    )
    emb.calls.clear()
    second = build(corpus, tmp_path / "ix", emb)
    assert (second.embedded_articles, second.reused_articles) == (2, 1)
    assert second.removed_articles == ["a2"]
    index = load_index(tmp_path / "ix")
    assert sorted(a.id for a in index.articles) == ["a0", "a1", "new"]
    assert index.indexed_at("a0") == "2020-01-01T00:00:00Z"
    assert index.indexed_at("a1") == index.manifest["created"] >= before.manifest["created"]
    # one sentence + one passage for each of the two articles
    assert sum(emb.calls) == 4
    # unchanged vectors were reused bit for bit
    assert np.allclose(
        index.sentence_vectors[0], HashEmbedder().encode([index.sentences[0].text])[0], atol=1e-3
    )


def test_update_analyses_only_new_articles_and_keeps_bm25_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.index import shards

    corpus = make_corpus(tmp_path / "c", 4)
    build(corpus, tmp_path / "ix")
    assert "place3" in load_index(tmp_path / "ix").bm25.vocab_dict
    analysed: list[str] = []
    real = shards.PassageTerms.add

    def counting(self: shards.PassageTerms, text: str) -> np.ndarray:
        analysed.append(text)
        return real(self, text)

    monkeypatch.setattr(shards.PassageTerms, "add", counting)
    (corpus / "a3.md").unlink()
    (corpus / "new.md").write_text(
        "---\nid: new\ntitle: Ferry\n---\nA ferry carried 70 workers to Place1.\n",
        encoding="utf-8",
    )
    build(corpus, tmp_path / "ix")
    assert len(analysed) == 1 and "ferry" in analysed[0]  # only the new article's passage
    build(corpus, tmp_path / "fresh")
    updated, fresh = load_index(tmp_path / "ix"), load_index(tmp_path / "fresh")
    assert "place3" not in updated.bm25.vocab_dict  # the removed article's terms left
    for query in (["worker"], ["ferri", "place1"], ["bridg", "town"]):
        assert np.allclose(updated.bm25.get_scores(query), fresh.bm25.get_scores(query))


def test_a_build_missing_its_term_tables_is_remade_reusing_its_vectors(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c")
    build(corpus, tmp_path / "ix")
    b = current_build(tmp_path / "ix")
    m = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    for rel in ("terms.json", "passage_terms.npy", "passage_terms_offsets.npy"):
        (b / rel).unlink()
        del m["files"][rel]
    (b / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    emb = CountingEmbedder()
    report = build(corpus, tmp_path / "ix", emb)
    assert not report.unchanged and report.reused_articles == 3 and emb.calls == []
    assert (current_build(tmp_path / "ix") / "terms.json").is_file()
    load_index(tmp_path / "ix")


def test_stale_index_is_reported(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c")
    build(corpus, tmp_path / "ix")
    assert check_stale(load_index(tmp_path / "ix")) == []
    (corpus / "a0.md").write_text("---\nid: a0\n---\nEdited text.\n", encoding="utf-8")
    with pytest.raises(StaleIndexError, match=r"stale.*changed: .*a0\.md.*qa index"):
        ensure_fresh(load_index(tmp_path / "ix"))
    with pytest.raises(StaleIndexError):
        Assistant.load(tmp_path / "ix")


def test_crash_during_build_keeps_previous_index_and_leaves_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = make_corpus(tmp_path / "c")
    build(corpus, tmp_path / "ix")
    before = current_build(tmp_path / "ix")
    answer_before = Assistant.load(tmp_path / "ix").ask("How many bridges in Place2?").to_dict()
    (corpus / "a0.md").write_text("---\nid: a0\n---\nSomething else.\n", encoding="utf-8")

    import qa.index.build as qi

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(qi, "_write_build", boom)
    with pytest.raises(OSError, match="disk full"):
        build(corpus, tmp_path / "ix")
    assert current_build(tmp_path / "ix") == before
    assert not [p for p in (tmp_path / "ix").iterdir() if p.name.startswith(".tmp-")]
    after = (
        Assistant.load(tmp_path / "ix", stale="ignore").ask("How many bridges in Place2?").to_dict()
    )
    assert {k: v for k, v in after.items() if k != "timing_ms"} == {
        k: v for k, v in answer_before.items() if k != "timing_ms"
    }


def test_leftover_temp_folders_are_cleaned_on_next_build(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "c")
    (tmp_path / "ix" / ".tmp-killed").mkdir(parents=True)
    (tmp_path / "ix" / ".tmp-killed" / "half.npy").write_bytes(b"xx")
    build(corpus, tmp_path / "ix")
    assert not (tmp_path / "ix" / ".tmp-killed").exists()


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    build(make_corpus(tmp_path / "c"), tmp_path / "ix")
    return current_build(tmp_path / "ix")


def test_truncated_faiss_file_is_detected(built: Path) -> None:
    f = built / "passages.faiss"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(
        IndexLoadError, match=r"passages\.faiss.*(truncated|modified).*qa index --rebuild"
    ):
        load_index(built.parent)


def test_missing_faiss_file_is_detected(built: Path) -> None:
    (built / "passages.faiss").unlink()
    with pytest.raises(IndexLoadError, match=r"passages\.faiss is missing.*--rebuild"):
        load_index(built.parent)


def test_count_mismatch_is_detected(built: Path) -> None:
    m = json.loads((built / "manifest.json").read_text())
    m["counts"]["passages"] += 1
    (built / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexLoadError, match=r"count mismatch"):
        load_index(built.parent)


def test_other_format_version_is_detected(built: Path) -> None:
    m = json.loads((built / "manifest.json").read_text())
    m["format_version"] = 99
    (built / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexLoadError, match=r"manifest\.json has index format version 99"):
        load_index(built.parent)


def test_corrupt_manifest_is_detected(built: Path) -> None:
    (built / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match=r"manifest\.json is not valid JSON"):
        load_index(built.parent)


def test_modified_vectors_are_detected(built: Path) -> None:
    f = built / "sentence_vectors.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match=r"sentence_vectors\.npy does not match its SHA-256"):
        load_index(built.parent)


def test_index_built_with_another_model_is_detected(built: Path) -> None:
    m = json.loads((built / "manifest.json").read_text())
    m["model"]["name"] = "all-MiniLM-L6-v2"
    m["model"]["dimension"] = 384
    m["model"]["precision"] = "int8"
    (built / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexLoadError, match=r"dimension"):
        load_index(built.parent)


def test_no_index_at_all(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match=r"no index in .*run `qa index"):
        load_index(tmp_path / "nothing")


def test_build_lock_rejects_a_second_builder(tmp_path: Path) -> None:
    import fcntl

    target = tmp_path / "ix"
    target.mkdir()
    with (target / ".lock").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(QAError, match="already building"):
            build(make_corpus(tmp_path / "c"), target)


def test_copying_an_index_folder_keeps_it_loadable(built: Path, tmp_path: Path) -> None:
    shutil.copytree(built.parent, tmp_path / "copy")
    assert len(load_index(tmp_path / "copy").articles) == 3

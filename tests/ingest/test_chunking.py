from __future__ import annotations

import itertools

from qa.ingest.chunking import ChunkParams, chunk_article
from qa.ingest.tokenizer import SHA256, count_tokens, get_encoding
from qa.types import Article


def test_tokenizer_is_real_cl100k() -> None:
    enc = get_encoding()
    assert enc.name == "cl100k_base"
    assert enc.encode("hello world") == [15339, 1917]
    assert len(SHA256) == 64


def test_passages_fit_budget_overlap_and_keep_offsets() -> None:
    sentences = [
        f"Sentence number {i} talks about the harbor and its {i} workers." for i in range(40)
    ]
    text = " ".join(sentences)
    art = Article(id="a", title="", text=text)
    chunks = chunk_article(art, ChunkParams(max_tokens=64, overlap_sentences=1), count_tokens)
    assert len(chunks) > 3
    for ch in chunks:
        assert ch.n_tokens <= 64
        for s, e in ch.sentences:
            assert text[s:e] in sentences
    for a, b in itertools.pairwise(chunks):
        assert a.sentences[-1] == b.sentences[0]  # one sentence of overlap
    covered = {span for ch in chunks for span in ch.sentences}
    assert len(covered) == 40


def test_overlong_sentence_is_split_into_pieces() -> None:
    text = " ".join(["word"] * 500) + "."
    chunks = chunk_article(Article("a", "", text), ChunkParams(max_tokens=50), count_tokens)
    assert all(ch.n_tokens <= 50 for ch in chunks)
    pieces = sorted({span for ch in chunks for span in ch.sentences})
    assert "".join(text[s:e] for s, e in pieces).replace(" ", "") == text.replace(" ", "")

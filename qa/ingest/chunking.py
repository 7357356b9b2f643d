"""Sentence-aware passages within a token budget, with sentence overlap.

Token counts use tiktoken's cl100k_base (see :mod:`qa.ingest.tokenizer`). Every sentence and passage is
an exact ``(start, end)`` span of the article text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qa.ingest.text import sentence_spans, word_spans
from qa.types import Article

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ChunkParams:
    max_tokens: int = 128
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        if self.overlap_sentences < 0:
            raise ValueError("overlap_sentences must be >= 0")


@dataclass(frozen=True)
class Chunk:
    """A passage before it gets an id: a span plus the sentence spans it holds."""

    start: int
    end: int
    sentences: tuple[tuple[int, int], ...]
    n_tokens: int


def _split_long(
    text: str, start: int, end: int, budget: int, count: TokenCounter
) -> list[tuple[int, int]]:
    """Break one over-long sentence into word-aligned pieces that fit the budget."""
    pieces: list[tuple[int, int]] = []
    spans = word_spans(text, start, end)
    if not spans:
        return [(start, end)]
    spans[-1] = (spans[-1][0], end)  # trailing punctuation belongs to the last word
    piece_start = start
    last_end = start
    for w_start, w_end in spans:
        if last_end > piece_start and count(text[piece_start:w_end]) > budget:
            pieces.append((piece_start, last_end))
            piece_start = w_start
        last_end = w_end
    pieces.append((piece_start, end))
    return pieces


def sentence_table(article: Article, max_tokens: int, count: TokenCounter) -> list[tuple[int, int]]:
    """The article's sentences, with any sentence longer than the budget split into pieces."""
    out: list[tuple[int, int]] = []
    for s, e in sentence_spans(article.text):
        if count(article.text[s:e]) > max_tokens:
            out.extend(_split_long(article.text, s, e, max_tokens, count))
        else:
            out.append((s, e))
    return out


def chunk_article(article: Article, params: ChunkParams, count: TokenCounter) -> list[Chunk]:
    """Greedy packing of consecutive sentences up to ``max_tokens``; each new passage starts
    with the last ``overlap_sentences`` sentences of the previous one."""
    sents = sentence_table(article, params.max_tokens, count)
    sizes = [count(article.text[s:e]) for s, e in sents]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sents):
        j, total = i, 0
        while j < len(sents) and (j == i or total + sizes[j] <= params.max_tokens):
            total += sizes[j]
            j += 1
        spans = tuple(sents[i:j])
        chunks.append(Chunk(spans[0][0], spans[-1][1], spans, total))
        if j >= len(sents):
            break
        # overlap, but always make progress
        i = max(i + 1, j - params.overlap_sentences)
    return chunks

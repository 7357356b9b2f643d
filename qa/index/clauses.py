"""Clauses: short runs of words inside a sentence, embedded on their own.

A long news sentence often answers a question in one of its clauses ("… after holding talks with
Haiti Prime Minister Garry Conille at State House, Nairobi, on Friday, the President said …").
The whole sentence's embedding is diluted by the rest; the clause's is not. The reader scores a
sentence by its best clause as well as by the sentence itself.

Clauses are windows of one to three consecutive segments of a sentence (split at commas,
semicolons, colons, dashes, brackets and quotes) of 3 to 25 words. They are embedded when an
index is built (reusing the previous build's vectors for unchanged text) and stored beside the
sentences as ``clauses.npy`` (int64 rows: sentence, start, end, in article offsets) and
``clause_vectors.npy`` (float16). Indexes with more than ``CLAUSE_LIMIT`` sentences skip them:
the reader then uses the sentence embeddings alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder

CLAUSE_LIMIT = 20_000  # sentences; larger indexes store no clauses
MIN_WORDS, MAX_WORDS, MAX_SEGMENTS = 3, 25, 3
_BREAK = re.compile(r"[,;:](?=\s)|[—–()\[\]“”\"]")  # not the comma inside "1,000"


def split_clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets into ``text`` of its clause windows; the whole text when it has no
    clause of at least three words."""
    segs = []
    pos = 0
    for cut in [*(m.start() for m in _BREAK.finditer(text)), len(text)]:
        piece = text[pos:cut]
        body = piece.strip()
        if body:
            start = pos + len(piece) - len(piece.lstrip())
            segs.append((start, start + len(body)))
        pos = cut + 1
    out: list[tuple[int, int]] = []
    for i in range(len(segs)):
        for j in range(i, min(len(segs), i + MAX_SEGMENTS)):
            start, end = segs[i][0], segs[j][1]
            n = len(text[start:end].split())
            if n > MAX_WORDS:
                break
            if n >= MIN_WORDS:
                out.append((start, end))
    return out or [(0, len(text))]


def write_clauses(
    folder: Path,
    encode: Callable[[list[str]], np.ndarray],
    dim: int,
    previous: Path | None = None,
    limit: int = CLAUSE_LIMIT,
) -> int:
    """Write ``clauses.npy`` and ``clause_vectors.npy`` for the build in ``folder`` (which holds
    ``articles.jsonl`` and ``sentences.npy``). Clause texts already embedded in ``previous`` are
    not embedded again. Returns the number of clauses (0 when the index is too large)."""
    srows = np.load(folder / "sentences.npy")
    if len(srows) > limit:
        return 0
    texts_by_article = _article_texts(folder)
    rows: list[tuple[int, int, int]] = []
    texts: list[str] = []
    for sid, (a, s, e) in enumerate(srows):
        sentence = texts_by_article[int(a)][int(s) : int(e)]
        for cs, ce in split_clauses(sentence):
            rows.append((sid, int(s) + cs, int(s) + ce))
            texts.append(sentence[cs:ce])
    known = _previous_vectors(previous) if previous is not None else {}
    vecs = np.zeros((len(texts), dim), dtype=np.float16)
    todo = [i for i, t in enumerate(texts) if t not in known]
    for i, t in enumerate(texts):
        if t in known:
            vecs[i] = known[t]
    if todo:
        vecs[todo] = encode([texts[i] for i in todo]).astype(np.float16)
    np.save(folder / "clauses.npy", np.asarray(rows, dtype=np.int64).reshape(-1, 3))
    np.save(folder / "clause_vectors.npy", vecs)
    return len(rows)


def _article_texts(folder: Path) -> list[str]:
    with (folder / "articles.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def _previous_vectors(build: Path) -> dict[str, np.ndarray]:
    """Clause text -> stored vector of an earlier build (empty when it has none or is broken)."""
    try:
        rows = np.load(build / "clauses.npy", allow_pickle=False)
        vecs = np.load(build / "clause_vectors.npy", mmap_mode="r", allow_pickle=False)
        texts = _article_texts(build)
        srows = np.load(build / "sentences.npy", allow_pickle=False)
        return {
            texts[int(srows[sid][0])][int(s) : int(e)]: np.asarray(vecs[i])
            for i, (sid, s, e) in enumerate(rows)
        }
    except (OSError, ValueError, KeyError, IndexError):
        return {}


def clause_ranges(rows: np.ndarray, n_sentences: int) -> np.ndarray:
    """For each sentence, [first, last) rows of its clauses (rows are sorted by sentence)."""
    if len(rows) == 0:
        return np.zeros((n_sentences, 2), dtype=np.int64)
    sids = rows[:, 0]
    first = np.searchsorted(sids, np.arange(n_sentences), side="left")
    last = np.searchsorted(sids, np.arange(n_sentences), side="right")
    return np.stack([first, last], axis=1).astype(np.int64)


def encoder(embedder: Embedder) -> Callable[[list[str]], np.ndarray]:
    return lambda texts: embedder.encode(texts, batch_size=64)

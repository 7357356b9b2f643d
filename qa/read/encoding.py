"""How a (question, sentence) pair is turned into model input, shared by training and
inference so both see exactly the same tokens.

The second segment is the article's title (at most :data:`TITLE_WORDS` words), a separator and
the sentence; the short answer may only be taken from the sentence's own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TITLE_WORDS = 12
SEPARATOR = " | "
MAX_LENGTH = 160


def second_segment(title: str, sentence: str) -> tuple[str, int]:
    """The second segment's text and where the sentence starts in it."""
    head = " ".join(title.split()[:TITLE_WORDS])
    prefix = head + SEPARATOR if head else ""
    return prefix + sentence, len(prefix)


@dataclass
class Batch:
    input_ids: np.ndarray  # (n, length) int64
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    # per row and token: character offsets of the token in the sentence (-1, -1 outside it)
    offsets: np.ndarray  # (n, length, 2) int64


def load_tokenizer(path: Path):  # type: ignore[no-untyped-def]
    """A fast WordPiece tokenizer from ``tokenizer.json``, truncating the sentence side."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_LENGTH, strategy="only_second")
    return tok


def encode_pairs(tokenizer, questions: list[str], titles: list[str], sentences: list[str]) -> Batch:  # type: ignore[no-untyped-def]
    """Encode pairs, padded to the longest in the batch."""
    seconds = [second_segment(t, s) for t, s in zip(titles, sentences, strict=True)]
    encs = tokenizer.encode_batch([(q, s) for q, (s, _) in zip(questions, seconds, strict=True)])
    n, length = len(encs), max(len(e.ids) for e in encs)
    ids = np.zeros((n, length), dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    types = np.zeros((n, length), dtype=np.int64)
    offs = np.full((n, length, 2), -1, dtype=np.int64)
    for i, (enc, (_, skip)) in enumerate(zip(encs, seconds, strict=True)):
        k = len(enc.ids)
        ids[i, :k] = enc.ids
        mask[i, :k] = 1
        types[i, :k] = enc.type_ids
        for j, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets, strict=True)):
            if seq == 1 and a >= skip and b > a:
                offs[i, j] = (a - skip, b - skip)
    return Batch(ids, mask, types, offs)


def span_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """The first and last token of the character span ``[start, end)``, or None when the span
    is not wholly inside the encoded sentence (truncated)."""
    first = last = -1
    for j, (a, b) in enumerate(offsets):
        if a < 0:
            continue
        if first < 0 and b > start:
            first = j
        if a < end:
            last = j
    if first < 0 or last < first or offsets[last][1] < end:
        return None
    return first, last

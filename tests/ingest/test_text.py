from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qa.ingest.text import (
    analyze,
    is_boilerplate,
    normalize_article_text,
    sentence_spans,
    split_sentences,
)


def test_normalize_removes_invisible_characters_and_crlf() -> None:
    raw = "Port-au-Prin\u00adce is the capi\u200btal.\r\nSecond&nbsp;line &amp; more.\r\n"
    assert normalize_article_text(raw) == "Port-au-Prince is the capital.\nSecond line & more."


def test_sentences_respect_abbreviations_initials_and_glued_quotes() -> None:
    text = (
        "Mr. Smith met Dr. Jones in the U.S. capital. John F. Kennedy was not there. "
        "“We won,” he said.“Next year we win again.” It cost $1.5 million."
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Mr. Smith met Dr. Jones in the U.S. capital.",
        "John F. Kennedy was not there.",
        "“We won,” he said.",
        "“Next year we win again.”",
        "It cost $1.5 million.",
    ]


def test_boilerplate_lines_and_photo_credits_are_not_sentences() -> None:
    text = (
        "Read More\nThe mission began in June. PHOTO/ Agency.\nShare This Article\nhttps://x.org/a"
    )
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == ["The mission began in June."]
    assert is_boilerplate("Related Topics")
    assert not is_boilerplate("The mission began in June.")


def test_analyze_stems_and_normalizes_numbers() -> None:
    assert analyze("Officers deployed 2,500 troops") == ["offic", "deploy", "2500", "troop"]


@given(st.text(max_size=400))
def test_sentence_offsets_round_trip_on_any_text(raw: str) -> None:
    text = normalize_article_text(raw)
    for start, end in sentence_spans(text):
        piece = text[start:end]
        assert piece and piece == piece.strip()
        assert 0 <= start < end <= len(text)

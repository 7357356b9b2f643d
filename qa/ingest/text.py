"""Text normalisation and sentence splitting with exact character offsets.

Every function here that returns spans returns ``(start, end)`` offsets into the string it was
given, so callers can always recover the verbatim text with ``text[start:end]``.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

# Characters that are invisible inside words in scraped text and only break matching.
# (regular expressions: a search in C, where str.translate looks every character up in a dict)
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e]"
)
_SPACES = re.compile("[\u00a0\u2007\u202f\u2009\u200a\u3000\t\v\f]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_article_text(raw: str) -> str:
    """Clean scraped article text for storage, indexing and quoting.

    Line endings become ``\\n``; soft hyphens, zero-width and bidi-control characters are
    removed; HTML entities left by scrapers are decoded; odd spaces become plain spaces;
    control characters are dropped; trailing spaces on lines are trimmed. Words and punctuation
    are otherwise left exactly as they were, so quotes read as the article does.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
        text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    lines = [line.rstrip(" ") for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


# ---------------------------------------------------------------------------------------------
# Sentence splitting

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "gov",
        "sen",
        "rep",
        "rev",
        "hon",
        "pres",
        "amb",
        "no",
        "nos",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "univ",
        "est",
        "approx",
        "fig",
        "al",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
    ]
)
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then either
# whitespace or an opening quote glued to the next sentence ("said.“Police ...").
_BOUNDARY = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s+|[“‘«][A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_BOILERPLATE_LINE = re.compile(
    r"^(?:read more|related (?:topics|stories|articles)|latest (?:stories|news)|share (?:this|on)"
    r".*|advertisement|subscribe.*|sign up.*|follow us.*|click here.*|photo:.*|image:.*"
    r"|categories:.*|tags?:.*|https?://\S+|www\.\S+)$",
    re.IGNORECASE,
)


def paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the non-empty lines of ``text`` with surrounding spaces trimmed."""
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            yield start, end


def is_boilerplate(line: str) -> bool:
    """A line that is page furniture rather than article prose (menus, share links, URLs)."""
    stripped = line.strip()
    if _BOILERPLATE_LINE.match(stripped):
        return True
    words = stripped.split()
    if len(words) <= 8 and re.match(r"(?i)by\b\s*[|:]?", stripped) and not stripped.endswith("."):
        return True  # a byline
    # short lines without sentence punctuation: section labels, menu items, bylines
    return len(words) <= 4 and not re.search(r"[.!?”\"]$", stripped)


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the '.' at ``dot`` ends an abbreviation or an initial rather than a sentence."""
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    # single-letter initials ("John F. Kennedy"); not the pronoun "I"
    return len(word) == 1 and word != "i" and text[m.start(1)].isupper()


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans within ``text[start:end]`` (a paragraph), trimmed of outer whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.end()
        first_dot = m.start()
        if (
            text[first_dot] == "."
            and m.group(0).startswith(".")
            and len(m.group(0).rstrip(_CLOSERS)) == 1
        ) and _is_abbreviation(text, first_dot):
            continue
        # the next sentence must start like a sentence
        nxt = stop
        while nxt < end and text[nxt].isspace():
            nxt += 1
        if nxt >= end:
            break
        ch = text[nxt]
        if not (ch.isupper() or ch.isdigit() or ch in _OPENERS):
            continue
        spans.append((cur, stop))
        cur = nxt
    if cur < end:
        spans.append((cur, end))
    return [_trim(text, s, e) for s, e in spans if text[s:e].strip()]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_CAPTION = re.compile(r"(?i)^(?:photo|image|picture|credit|file photo|courtesy)\b\s*[/:|]")


def is_prose(sentence: str) -> bool:
    """Whether a sentence is article prose worth quoting (not a photo credit or a fragment)."""
    if _CAPTION.match(sentence):
        return False
    return sum(1 for w in sentence.split() if any(c.isalnum() for c in w)) >= 3


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """All prose sentence spans of an article, skipping boilerplate lines and photo credits."""
    out: list[tuple[int, int]] = []
    for p_start, p_end in paragraphs(text):
        if is_boilerplate(text[p_start:p_end]):
            continue
        out.extend((s, e) for s, e in split_sentences(text, p_start, p_end) if is_prose(text[s:e]))
    return out


# ---------------------------------------------------------------------------------------------
# Words

_WORD = re.compile(r"[^\W_]+(?:[.,'’\-][^\W_]+)*", re.UNICODE)


def fold(word: str) -> str:
    """A lower-cased token without accents, so "António" and "Antonio" are one word."""
    word = word.lower().replace("’", "'")
    if word.isascii():
        return word
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch)
    )


def words(text: str) -> list[str]:
    """Lower-cased, accent-free word tokens (numbers with separators stay whole: ``2,500``,
    ``1.3``)."""
    if text.isascii():
        return [w.lower() for w in _WORD.findall(text)]
    return [fold(w) for w in _WORD.findall(text)]


def word_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    end = len(text) if end is None else end
    return [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]


# ---------------------------------------------------------------------------------------------
# Lexical analysis for BM25 and overlap features

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "'s",
        "also",
        "said",
        "say",
        "says",
        "according",
        "did",
        "does",
        "tell",
        "told",
    ]
)

_stemmer_lock = threading.Lock()
_stemmer: Any = None


def _stem_words(tokens: list[str]) -> list[str]:
    global _stemmer
    if _stemmer is None:
        with _stemmer_lock:
            if _stemmer is None:
                import Stemmer  # PyStemmer: Snowball, in C

                _stemmer = Stemmer.Stemmer("english")
    return list(_stemmer.stemWords(tokens))


def normalize_number(token: str) -> str:
    """'2,500' -> '2500' so figures match however they are written."""
    if token[:1].isdigit():
        return token.replace(",", "")
    return token


def analyze(text: str) -> list[str]:
    """Content terms: lower-cased, stop words removed, Snowball-stemmed, numbers normalised."""
    toks = [normalize_number(w) for w in words(text) if w not in STOPWORDS]
    return _stem_words(toks)

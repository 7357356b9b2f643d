"""The data shared by every stage and every surface (CLI, Python API, HTTP, chat).

All records are frozen dataclasses. ``Answer.to_dict()`` is *the* answer contract: the CLI's
``--json``, ``qa batch`` output, the HTTP API and the chat all emit exactly this shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article as stored: ``text`` is the body exactly as it is kept on disk.

    Offsets everywhere (passages, sentences, citations) index into ``text``.
    """

    id: str
    title: str
    text: str
    source: str = ""  # the outlet
    author: str = ""
    date: str = ""  # ISO date when known, else as stated, else ""
    url: str = ""
    path: str = ""  # where it was loaded from

    def meta(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "author": self.author,
            "date": self.date,
            "url": self.url,
        }


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article: ``article.text[start:end] == text``."""

    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieval unit: consecutive sentences of one article within a token budget.

    ``article.text[start:end] == text``; ``sentences`` are indexes into the index's sentence table.
    """

    id: int
    article_id: str
    start: int
    end: int
    text: str
    sentences: tuple[int, ...] = ()
    n_tokens: int = 0


QUOTATION_MARKS = frozenset('"“”„«»')


@dataclass(frozen=True)
class Citation:
    n: int
    article_id: str
    title: str
    source: str
    author: str
    date: str
    url: str
    quote: str  # verbatim: article.text[start:end]
    start: int
    end: int
    # the short answer inside the quote, as offsets into the article (absent when none)
    short_start: int | None = None
    short_end: int | None = None
    # asked with preferred articles (a story page's widget): whether this one is among them
    in_story: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.in_story is None:
            del out["in_story"]
        return out

    @property
    def has_quote_marks(self) -> bool:
        """Whether the quote holds double quotation marks of its own (a speaker's words, often
        opened in one sentence and closed in another): surfaces then show it without marks of
        their own around it, which would double or unbalance them (““Gangs …”)."""
        return any(ch in QUOTATION_MARKS for ch in self.quote)

    def in_marks(self, shown: str) -> str:
        """``shown`` (this quote as a surface shows it: marked up, escaped) inside quotation
        marks, unless the quote has its own."""
        return shown if self.has_quote_marks else f"“{shown}”"

    def quote_parts(self) -> tuple[str, str, str]:
        """The quote as (before, short answer, after); the short answer is "" when there is
        none inside the quote."""
        quote = self.quote
        if self.short_start is None or self.short_end is None:
            return quote, "", ""
        a = max(0, min(len(quote), self.short_start - self.start))
        b = max(a, min(len(quote), self.short_end - self.start))
        return quote[:a], quote[a:b], quote[b:]


@dataclass(frozen=True)
class Answer:
    id: str
    question: str
    answer: str  # the quoted sentence(s), verbatim; "" when abstained
    short_answer: str  # the short span, verbatim; "" when none or abstained
    abstained: bool
    confidence: float
    citations: tuple[Citation, ...] = ()
    timing_ms: float = 0.0
    message: str = ""  # a plain note for people: why it abstained, or that sources disagree
    conflict: bool = False  # True when sources give different figures for the same thing
    error: str = ""  # batch only: why this record could not be answered
    resolved_question: str = ""  # the question after follow-up resolution, when it changed
    # abstained: the closest sentences found (at most 3), shown as such, never as the answer
    related: tuple[Citation, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "timing_ms": round(self.timing_ms, 2),
            "message": self.message,
            "conflict": self.conflict,
            "related": [c.to_dict() for c in self.related],
        }
        if self.resolved_question:
            out["resolved_question"] = self.resolved_question
        if self.error:
            out["error"] = self.error
        return out


NOT_FOUND_MESSAGE = "Not found in these articles."

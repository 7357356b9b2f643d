"""The reader: picks the sentence(s) that answer a question inside the retrieved passages, marks
the short answer, decides whether to abstain, and notices when sources disagree on a figure.

Everything it returns is quoted from the articles; it writes no text of its own.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from qa import questions as qt
from qa import spans as sp
from qa.index import Index
from qa.questions import QuestionInfo
from qa.retrieval import Hit
from qa.text import analyze, words
from qa.types import NOT_FOUND_MESSAGE, Answer, Citation

MAX_ANSWER_WORDS = 80
_FIGURE_TYPES = (qt.NUMBER, qt.MONEY, qt.PERCENT)
_TYPED = (*_FIGURE_TYPES, qt.DATE, qt.PERSON, qt.PLACE, qt.ORG)
_LEADING_REFERENCE = re.compile(
    r"^\W*(?:he|she|they|it|this|these|those|his|her|their|its|the (?:organization|group))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReaderSettings:
    """Weights of the sentence score and the abstention threshold (tuned on the dev split)."""

    w_dense: float = 0.30
    w_passage: float = 0.15
    w_lexical: float = 0.35
    w_context: float = 0.10
    w_type: float = 0.15
    w_bigram: float = 0.10
    threshold: float = 0.45  # confidence below this abstains
    conf_center: float = 0.42  # score mapped to confidence 0.5
    conf_scale: float = 12.0
    conflict_margin: float = 0.85  # a disagreeing sentence must score this close to the best
    passages: int = 6  # top passages whose sentences are read


@dataclass
class Candidate:
    sid: int
    score: float = 0.0
    dense: float = 0.0
    passage: float = 0.0
    lexical: float = 0.0
    context: float = 0.0
    typed: float = 0.0
    bigram: float = 0.0
    short: sp.Span | None = None
    features: dict[str, float] = field(default_factory=dict)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def parse_figure(text: str) -> float | None:
    """The numeric value of a figure span ('about 1,000' -> 1000, '$68 million' -> 6.8e7)."""
    low = text.lower()
    m = re.search(r"\d[\d,]*(?:\.\d+)?", low)
    words_map = {
        "a thousand": 1e3,
        "a hundred": 1e2,
        "a million": 1e6,
        "a dozen": 12,
        "half": 0.5,
        "one": 1,
        "two": 2,
        "three": 3,
        "four": 4,
        "five": 5,
        "six": 6,
        "seven": 7,
        "eight": 8,
        "nine": 9,
        "ten": 10,
        "eleven": 11,
        "twelve": 12,
        "twenty": 20,
        "thirty": 30,
        "forty": 40,
        "fifty": 50,
        "hundred": 100,
        "thousand": 1e3,
    }
    if m:
        value = float(m.group(0).replace(",", ""))
        rest = low[m.end() :]
    else:
        for w, v in words_map.items():
            if re.search(rf"\b{w}\b", low):
                value, rest = float(v), low.split(w, 1)[1]
                break
        else:
            return None
    for word, mult in (
        ("trillion", 1e12),
        ("billion", 1e9),
        ("bn", 1e9),
        ("million", 1e6),
        ("thousand", 1e3),
        ("hundred", 1e2),
    ):
        if re.match(rf"\s?{word}\b", rest):
            value *= mult
            break
    return value


class Reader:
    def __init__(self, index: Index, settings: ReaderSettings | None = None) -> None:
        self.index = index
        self.settings = settings or ReaderSettings()
        self._terms: dict[int, frozenset[str]] = {}
        n = max(1, len(index.sentences))
        self._df = index.term_df
        self._n = n
        self._title_terms: dict[str, frozenset[str]] = {}

    # -- term statistics --------------------------------------------------------------------
    def terms(self, sid: int) -> frozenset[str]:
        got = self._terms.get(sid)
        if got is None:
            got = frozenset(analyze(self.index.sentences[sid].text))
            if len(self._terms) < 500_000:
                self._terms[sid] = got
        return got

    def title_terms(self, article_id: str) -> frozenset[str]:
        got = self._title_terms.get(article_id)
        if got is None:
            got = frozenset(analyze(self.index.article(article_id).title))
            self._title_terms[article_id] = got
        return got

    def idf(self, term: str) -> float:
        df = self._df.get(term, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    # -- reading ------------------------------------------------------------------------------
    def read(
        self, info: QuestionInfo, qvec: np.ndarray, hits: Sequence[Hit], answer_id: str = ""
    ) -> Answer:
        """Answer from the retrieved passages; ``extra["ranked"]`` lists the sentence ids read,
        best first (used by evaluation)."""
        if not hits:
            return self._abstain(info, answer_id, 0.0)
        cands = self.rank(info, qvec, hits)
        answer = self._decide(info, cands, answer_id)
        return replace(answer, extra={"ranked": [c.sid for c in cands[:20]]})

    def rank(self, info: QuestionInfo, qvec: np.ndarray, hits: Sequence[Hit]) -> list[Candidate]:
        """Score every sentence of the top passages; best first."""
        s = self.settings
        main_terms = analyze(info.text)
        context_terms = [t for t in analyze(info.query) if t not in main_terms]
        weights = {t: self.idf(t) for t in main_terms}
        weights.update({t: 0.5 * self.idf(t) for t in context_terms if t not in weights})
        total = sum(weights.values()) or 1.0
        q_bigrams = set(itertools.pairwise(main_terms))
        qset = set(weights)
        q_words = set(words(info.text))

        # candidate sentences: every sentence of the top passages, deduplicated
        passage_score: dict[int, float] = {}
        for hit in hits[: s.passages]:
            for sid in self.index.passages[hit.passage].sentences:
                passage_score[sid] = max(passage_score.get(sid, 0.0), hit.score)
        sids = list(passage_score)
        svecs = self.index.sentence_vectors[sids]
        dense = svecs @ qvec.reshape(-1)

        cands: list[Candidate] = []
        for sid, d in zip(sids, dense, strict=True):
            sent = self.index.sentences[sid]
            st = self.terms(sid)
            ctx = set(st) | self.title_terms(sent.article_id)
            if sid > 0 and self.index.sentences[sid - 1].article_id == sent.article_id:
                ctx |= self.terms(sid - 1)
            lexical = sum(w for t, w in weights.items() if t in st) / total
            context = sum(w for t, w in weights.items() if t in ctx) / total
            s_list = analyze(sent.text)
            bigram = (
                len(q_bigrams & set(itertools.pairwise(s_list))) / len(q_bigrams)
                if q_bigrams
                else 0.0
            )
            short = self._short_answer(sent.text, info, qset, q_words)
            typed = 0.0
            if info.answer_type in _TYPED:
                typed = 1.0 if short is not None else 0.0
            elif info.answer_type in (qt.REASON, qt.LIST):
                typed = 1.0 if short is not None else 0.3
            else:
                typed = 0.5
            c = Candidate(
                sid, 0.0, float(d), passage_score[sid], lexical, context, typed, bigram, short
            )
            c.score = (
                s.w_dense * c.dense
                + s.w_passage * c.passage
                + s.w_lexical * c.lexical
                + s.w_context * c.context
                + s.w_type * c.typed
                + s.w_bigram * c.bigram
            )
            cands.append(c)
        cands.sort(key=lambda c: -c.score)
        return cands

    def _decide(self, info: QuestionInfo, cands: list[Candidate], answer_id: str) -> Answer:
        s = self.settings
        best = cands[0]
        confidence = _sigmoid(s.conf_scale * (best.score - s.conf_center))
        if info.answer_type in _TYPED and best.short is None:
            confidence *= 0.7
        if confidence < s.threshold:
            return self._abstain(info, answer_id, confidence)

        conflict = self._conflicting(info, cands) if info.answer_type in _FIGURE_TYPES else []
        if conflict:
            quotes = [self._quote(c.sid, c.short, single=True) for c in [best, *conflict]]
            figures = ", ".join(
                f"{c.short.text} [{i}]" for i, c in enumerate([best, *conflict], 1) if c.short
            )
            return self._answer(
                info,
                answer_id,
                confidence,
                quotes,
                best.short,
                conflict=True,
                message=f"The articles give different figures: {figures}.",
            )
        return self._answer(
            info, answer_id, confidence, [self._quote(best.sid, best.short)], best.short
        )

    # -- short answers -----------------------------------------------------------------------
    def _short_answer(
        self, text: str, info: QuestionInfo, qset: set[str], q_words: set[str]
    ) -> sp.Span | None:
        kind = info.answer_type
        if kind in _TYPED:
            found = sp.candidates(text, kind)
        elif kind == qt.REASON:
            found = sp.reason_candidates(text)
        elif kind == qt.LIST and ":" in text:
            colon = text.index(":") + 1
            rest = text[colon:].strip()
            st = text.index(rest, colon) if rest else colon
            found = [sp.Span(st, st + len(rest.rstrip('.”"')), qt.LIST, rest.rstrip('.”"'))]
        else:
            found = sp.phrase_candidates(text, qset)
        # the answer is not something the question already says
        found = [c for c in found if not set(analyze(c.text)) <= qset or not analyze(c.text)]
        found = [c for c in found if c.text.lower() not in " ".join(q_words)]
        if not found:
            return None
        anchors = [
            m.start()
            for m in re.finditer(r"[\w’'\-]+", text)
            if (a := analyze(m.group(0))) and a[0] in qset
        ]

        def rank(c: sp.Span) -> float:
            dist = min((abs(c.start - a) for a in anchors), default=len(text)) / max(len(text), 1)
            n_words = len(c.text.split())
            length_pen = 0.0 if kind in (qt.REASON, qt.LIST) else 0.02 * max(0, n_words - 4)
            unit = 0.0
            if kind in _FIGURE_TYPES:
                after = set(analyze(text[c.end : c.end + 40]))
                unit = 0.3 if after & qset else 0.0
            return -dist - length_pen + unit

        return max(found, key=rank)

    # -- conflicts -----------------------------------------------------------------------------
    def _conflicting(self, info: QuestionInfo, cands: list[Candidate]) -> list[Candidate]:
        best = cands[0]
        if best.short is None:
            return []
        base = parse_figure(best.short.text)
        if base is None:
            return []
        art = self.index.sentences[best.sid].article_id
        focus = self._unit_terms(best)
        out: list[Candidate] = []
        seen_articles = {art}
        for c in cands[1:]:
            if c.score < self.settings.conflict_margin * best.score or c.short is None:
                continue
            c_art = self.index.sentences[c.sid].article_id
            if c_art in seen_articles:
                continue
            value = parse_figure(c.short.text)
            if value is None or math.isclose(value, base, rel_tol=1e-9):
                continue
            if focus and not (focus & self._unit_terms(c)):
                continue
            out.append(c)
            seen_articles.add(c_art)
            if len(out) == 2:
                break
        return out

    def _unit_terms(self, c: Candidate) -> set[str]:
        """Content words right after the figure ('989 officers' -> {'offic'})."""
        assert c.short is not None
        text = self.index.sentences[c.sid].text
        return set(analyze(text[c.short.end : c.short.end + 30])[:2])

    # -- output --------------------------------------------------------------------------------
    def _quote(
        self, sid: int, short: sp.Span | None, single: bool = False
    ) -> tuple[str, int, int, tuple[int, int] | None]:
        """(article id, start, end, short span in article offsets) for the quoted sentence(s),
        adding the previous sentence when the best one leans on it ("He said ...")."""
        sent = self.index.sentences[sid]
        start, end = sent.start, sent.end
        n_words = len(sent.text.split())
        if (
            not single
            and sid > 0
            and _LEADING_REFERENCE.match(sent.text)
            and self.index.sentences[sid - 1].article_id == sent.article_id
        ):
            prev = self.index.sentences[sid - 1]
            if n_words + len(prev.text.split()) <= MAX_ANSWER_WORDS:
                start = prev.start
        short_abs = (sent.start + short.start, sent.start + short.end) if short else None
        start, end = self._fit(sent.article_id, start, end, short_abs)
        return sent.article_id, start, end, short_abs

    def _fit(
        self, article_id: str, start: int, end: int, short: tuple[int, int] | None
    ) -> tuple[int, int]:
        """Trim a quote longer than MAX_ANSWER_WORDS to a verbatim window around the answer."""
        text = self.index.article(article_id).text
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
        if len(spans) <= MAX_ANSWER_WORDS:
            return start, end
        centre = (short[0] - start) if short else 0
        first = next((i for i, (s, e) in enumerate(spans) if e > centre), 0)
        lo = max(0, min(first - MAX_ANSWER_WORDS // 3, len(spans) - MAX_ANSWER_WORDS))
        hi = lo + MAX_ANSWER_WORDS
        return start + spans[lo][0], start + spans[hi - 1][1]

    def _answer(
        self,
        info: QuestionInfo,
        answer_id: str,
        confidence: float,
        quotes: list[tuple[str, int, int, tuple[int, int] | None]],
        short: sp.Span | None,
        conflict: bool = False,
        message: str = "",
    ) -> Answer:
        citations = []
        for n, (art_id, start, end, short_abs) in enumerate(quotes, start=1):
            art = self.index.article(art_id)
            inside = short_abs is not None and start <= short_abs[0] and short_abs[1] <= end
            citations.append(
                Citation(
                    n=n,
                    article_id=art.id,
                    title=art.title,
                    source=art.source,
                    author=art.author,
                    date=art.date,
                    url=art.url,
                    quote=art.text[start:end],
                    start=start,
                    end=end,
                    short_start=short_abs[0] if inside and short_abs else None,
                    short_end=short_abs[1] if inside and short_abs else None,
                )
            )
        first = citations[0]
        short_text = ""
        if first.short_start is not None and first.short_end is not None:
            short_text = self.index.article(first.article_id).text[
                first.short_start : first.short_end
            ]
        return Answer(
            id=answer_id,
            question=info.text,
            answer=" ".join(c.quote for c in citations),
            short_answer=short_text,
            abstained=False,
            confidence=confidence,
            citations=tuple(citations),
            message=message,
            conflict=conflict,
            resolved_question=info.resolved,
        )

    def _abstain(self, info: QuestionInfo, answer_id: str, confidence: float) -> Answer:
        return Answer(
            id=answer_id,
            question=info.text,
            answer="",
            short_answer="",
            abstained=True,
            confidence=confidence,
            message=NOT_FOUND_MESSAGE,
            resolved_question=info.resolved,
        )

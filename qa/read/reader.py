"""The learned reader: which sentence answers, whether the articles answer at all, and the short
answer.

For one question and its retrieved passages:

1. every sentence of the top passages is a candidate; a fitted first-stage scorer (question
   vector against the stored sentence vector, the passage's retrieval score, word overlap) keeps
   the few best;
2. the reader model (:class:`~qa.read.model.ReaderModel`) reads each of those with the question
   and gives a relevance logit and the best short answer inside it;
3. a fitted ranker orders what was read (the model's relevance with the first-stage score:
   each knows something the other does not);
4. a fitted calibrator turns the best sentence's reading into ``confidence``, the probability
   that the answer is right; below the threshold chosen on validation the reader abstains.

Two sentences from different articles that both answer, with different figures, are shown
together as a conflict. Everything returned is quoted from the articles.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.store import Index
from qa.ingest.text import analyze
from qa.questions import QuestionInfo
from qa.read.figures import is_figure, parse_figure
from qa.read.model import ReaderModel, Reading, blend, default_model, model_dir
from qa.read.scorer import LinearScorer
from qa.retrieve.hybrid import Hit
from qa.types import NOT_FOUND_MESSAGE, Answer, Citation, Sentence

MAX_ANSWER_WORDS = 80  # a quote longer than this is trimmed to a window around the answer
RELATED = 3  # closest sentences shown with an abstention
_TERM_CACHE = 50_000  # sentences whose terms are kept
# the order of the read candidates before rankers were fitted (params.json without "rank")
RANK_BY_RELEVANCE = LinearScorer(("relevance",), (1.0,), 0.0)


@dataclass(frozen=True)
class ReaderParams:
    """The fitted, non-neural part of the reader (``params.json`` beside the model)."""

    first_stage: LinearScorer
    confidence: LinearScorer
    threshold: float  # abstain below this confidence
    read: int = 5  # candidates the model reads
    passages: int = 20  # top passages whose sentences are candidates (10 until the archive)
    fitted: dict[str, Any] = field(default_factory=dict)  # how and on what it was fitted
    rank: LinearScorer = RANK_BY_RELEVANCE  # orders the read candidates (``reading_values``)
    # of the top ``read``, only those whose first-stage logit is within this of the best are
    # read (None: all ``read``)
    read_gap: float | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderParams:
        path = path or model_dir() / "params.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            LinearScorer.from_dict(data["first_stage"]),
            LinearScorer.from_dict(data["confidence"]),
            float(data["threshold"]),
            int(data.get("read", 5)),
            int(data.get("passages", cls.passages)),
            dict(data.get("fitted", {})),
            LinearScorer.from_dict(data["rank"]) if "rank" in data else RANK_BY_RELEVANCE,
            None if data.get("read_gap") is None else float(data["read_gap"]),
        )

    def to_read(self, firsts: Sequence[float]) -> int:
        """How many of the candidates, their first-stage logits ``firsts`` best first, the model
        reads: at most ``read``, at least one, only those within ``read_gap`` of the best."""
        return how_many(firsts, self.read, self.read_gap)


def how_many(firsts: Sequence[float], read: int, gap: float | None) -> int:
    """Of candidates with first-stage logits ``firsts`` (best first), how many to read: the top
    ``read``, but only those within ``gap`` of the best (always the best itself)."""
    top = list(firsts[:read])
    if gap is None or not top:
        return len(top)
    return sum(1 for f in top if f >= top[0] - gap)


@dataclass
class Candidate:
    """A sentence considered for the answer, with the features the scorers use."""

    sid: int
    dense: float  # cosine of the question and sentence vectors
    passage: float  # best retrieval score of a passage holding it
    lexical: float  # share of the question's terms the sentence has
    first: float = 0.0  # first-stage logit
    reading: Reading | None = None
    score: float = 0.0  # the ranker's logit, once read

    def values(self) -> dict[str, float]:
        return {"dense": self.dense, "passage": self.passage, "lexical": self.lexical}

    def reading_values(self) -> dict[str, float]:
        """What the ranker may use of a read candidate."""
        assert self.reading is not None
        span = self.reading.span_score
        return {
            "relevance": self.reading.relevance,
            "first": self.first,
            "span": span if math.isfinite(span) else 0.0,
        }


def rank_read(cands: Sequence[Candidate], rank: LinearScorer) -> list[Candidate]:
    """The read candidates, each given its ranker score, best first."""
    read = [c for c in cands if c.reading is not None]
    for c in read:
        c.score = rank.logit(c.reading_values())
    return sorted(read, key=lambda c: -c.score)


def confidence_features(cands: Sequence[Candidate]) -> dict[str, float]:
    """What the calibrator sees of the best read candidate (``cands`` ranked best first): its
    reading, its ranker score's margin over the next one and its first-stage features."""
    best = cands[0]
    assert best.reading is not None
    second = cands[1].score if len(cands) > 1 and cands[1].reading else best.score - 10.0
    return {
        **best.reading_values(),
        "margin": min(10.0, best.score - second),
        **best.values(),
    }


class LearnedReader:
    """Reads retrieved passages and answers, quoting. Thread-safe; one per index."""

    def __init__(
        self,
        index: Index,
        model: ReaderModel | None = None,
        params: ReaderParams | None = None,
    ) -> None:
        self.index = index
        self.model = model or default_model()
        self.params = params or ReaderParams.load()
        self._terms: OrderedDict[int, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def passages(self) -> int:
        """How many top passages the reader reads."""
        return self.params.passages

    # -- candidates ----------------------------------------------------------------------------
    def _sentence_terms(self, sid: int) -> frozenset[str]:
        with self._lock:
            got = self._terms.get(sid)
        if got is None:
            got = frozenset(analyze(self.index.sentences[sid].text))
            with self._lock:
                self._terms[sid] = got
                if len(self._terms) > _TERM_CACHE:
                    self._terms.popitem(last=False)
        return got

    def candidates(
        self,
        query: str,
        qvec: np.ndarray,
        hits: Sequence[Hit],
        *,
        top: bool = True,
        asked: tuple[str, np.ndarray] | None = None,
    ) -> list[Candidate]:
        """Every sentence of the top passages (all of ``hits`` with ``top=False``),
        first-stage scored, best first.

        ``asked`` (a follow-up read in context: the question as asked and its vector): each
        sentence's first-stage logit is the mean of its logits against ``query`` (the question
        with the conversation's context) and against the question as asked, as the model's
        reading is (:meth:`read_candidates`): scored against the context alone, the sentences
        that answered the earlier question come first and the follow-up's own are never read."""
        passage: dict[int, float] = {}
        for hit in hits[: self.params.passages] if top else hits:
            for sid in self.index.passages[hit.passage].sentences:
                passage[sid] = max(passage.get(sid, 0.0), hit.score)
        if not passage:
            return []
        sids = list(passage)
        matches = zip(sids, self._match(query, qvec, sids), strict=True)
        out = [Candidate(sid, d, passage[sid], lex) for sid, (d, lex) in matches]
        for c in out:
            c.first = self.params.first_stage.logit(c.values())
        if asked is not None:
            for c, (d, lex) in zip(out, self._match(*asked, sids), strict=True):
                as_asked = Candidate(c.sid, d, c.passage, lex)
                c.first = (c.first + self.params.first_stage.logit(as_asked.values())) / 2
        out.sort(key=lambda c: -c.first)
        return out

    def _match(self, query: str, qvec: np.ndarray, sids: list[int]) -> list[tuple[float, float]]:
        """Each sentence's cosine with ``qvec`` and share of ``query``'s terms it holds."""
        dense = self.index.sentence_vectors[sids] @ qvec.reshape(-1)
        qterms = set(analyze(query))
        out = []
        for sid, d in zip(sids, dense, strict=True):
            terms = self._sentence_terms(sid)
            out.append((float(d), len(qterms & terms) / len(qterms) if qterms else 0.0))
        return out

    def _ranked(self, cands: list[Candidate]) -> list[Candidate]:
        """The read candidates first, by the ranker, then the rest as they were."""
        top = self.params.read
        unread = [c for c in cands[:top] if c.reading is None]
        return rank_read(cands[:top], self.params.rank) + unread + cands[top:]

    def read_candidates(self, info: QuestionInfo, cands: Sequence[Candidate]) -> None:
        """The model's reading of each candidate, stored on it. The question is
        read first, then a follow-up's context (``info.read_as``).

        A follow-up read with its context is read as asked too, and the two readings blended
        (:func:`~qa.read.model.blend`): with the earlier questions beside it, a sentence that
        answers one of them reads as relevant ("Who paid it?" after "How much of the pledged
        money has been disbursed?" got the sum); as asked, it lacks what it leans on ("And
        Friday's?") (docs/benchmarks.md, "Follow-ups")."""
        if not cands:
            return
        question = info.read_as or info.query
        sents = [self.index.sentences[c.sid] for c in cands]
        titles = [self.index.article(s.article_id).title for s in sents]
        texts = [s.text for s in sents]
        readings = self.model.read(question, titles, texts)
        if info.in_context:
            alone = self.model.read(info.text, titles, texts)
            readings = [blend(a, r) for a, r in zip(alone, readings, strict=True)]
        for c, reading in zip(cands, readings, strict=True):
            c.reading = reading

    # -- answering -------------------------------------------------------------------------------
    def read(
        self,
        info: QuestionInfo,
        qvec: np.ndarray,
        hits: Sequence[Hit],
        answer_id: str = "",
        prefer: frozenset[str] = frozenset(),
        asked_vec: np.ndarray | None = None,
    ) -> Answer:
        """Answer from the retrieved passages; ``extra["ranked"]`` lists the sentence ids
        considered, best first (used by evaluation), ``extra["features"]`` what the calibrator
        saw. ``asked_vec``: for a follow-up read in context (``info.in_context``), the vector of
        the question as asked (:meth:`candidates`).

        ``prefer`` (article ids; a story page's widget): the best few sentences of those articles
        and of the rest are read apart, each judged on its own; the preferred articles' answer
        comes first, then the rest's when it also answers, each citation marked ``in_story``."""
        if prefer:  # the top passages of the preferred articles and of the rest
            story = self._passages_of(prefer)
            n_hits = self.params.passages
            hits = [h for h in hits if h.passage in story][:n_hits] + [
                h for h in hits if h.passage not in story
            ][:n_hits]
        asked = (info.text, asked_vec) if asked_vec is not None else None
        cands = self.candidates(info.query, qvec, hits, top=not prefer, asked=asked)
        if prefer:
            groups = [
                [c for c in cands if self._article_id(c) in prefer],
                [c for c in cands if self._article_id(c) not in prefer],
            ]
        else:
            groups = [cands]
        n = self.params.read
        self.read_candidates(
            info, [c for g in groups for c in g[: self.params.to_read([c.first for c in g[:n]])]]
        )
        ranked = [self._ranked(g) for g in groups if g]
        if not ranked:
            return self._abstain(info, answer_id, 0.0, {}, [], prefer)
        judged = []
        for group in ranked:
            feats = confidence_features(group)
            judged.append((self.params.confidence.probability(feats), group, feats))
        confidence, first, feats = judged[0]
        extra = {"ranked": [c.sid for c in first[:20]], "features": feats}
        passing = [(p, g) for p, g, _ in judged if p >= self.params.threshold]
        if not passing:
            best = max(p for p, _, _ in judged)
            return self._abstain(info, answer_id, best, extra, ranked, prefer)
        confidence, group = passing[0]
        chosen = [group[0], *self._conflicting(group)]
        message = ""
        if len(chosen) > 1:
            figures = ", ".join(f"{self._short(c)} [{i}]" for i, c in enumerate(chosen, 1))
            message = f"The articles give different figures: {figures}."
        conflict = len(chosen) > 1
        for _, other in passing[1:]:  # the rest of the archive's answer, after the story's
            if all(self._sentence(other[0]).text != self._sentence(c).text for c in chosen):
                chosen.append(other[0])
        return self._answer(info, answer_id, confidence, chosen, message, extra, conflict, prefer)

    def _passages_of(self, article_ids: frozenset[str]) -> set[int]:
        out: set[int] = set()
        for aid in article_ids:
            pos = self.index.article_pos.get(aid)
            if pos is not None:
                lo, hi = self.index.article_slices(pos)[1]
                out.update(range(lo, hi))
        return out

    def _sentence(self, c: Candidate) -> Sentence:
        return self.index.sentences[c.sid]

    def _article_id(self, c: Candidate) -> str:
        return self.index.sentences[c.sid].article_id

    def _short(self, c: Candidate) -> str:
        r = c.reading
        if r is None or r.start < 0:
            return ""
        return self.index.sentences[c.sid].text[r.start : r.end]

    def _conflicting(self, cands: Sequence[Candidate]) -> list[Candidate]:
        """Read sentences of other articles that would themselves be given as the answer (their
        calibrated confidence, counting their margin to the best, above the threshold) with a
        different figure than the best one's; at most two."""
        best = cands[0]
        base = parse_figure(self._short(best))
        if base is None or not is_figure(self._short(best)):
            return []
        seen_articles = {self.index.sentences[best.sid].article_id}
        values = [base]
        out: list[Candidate] = []
        for i, c in enumerate(cands[1 : self.params.read], start=1):
            if c.reading is None:
                break
            # it would itself be given as the answer, its margin to the best one counted
            rest = [c, *cands[:i], *cands[i + 1 : self.params.read]]
            if (
                self.params.confidence.probability(confidence_features(rest))
                < self.params.threshold
            ):
                continue
            art = self.index.sentences[c.sid].article_id
            value = parse_figure(self._short(c))
            if art in seen_articles or value is None or not is_figure(self._short(c)):
                continue
            if any(math.isclose(value, v) for v in values):
                continue
            seen_articles.add(art)
            values.append(value)
            out.append(c)
            if len(out) == 2:
                break
        return out

    def _quote(self, c: Candidate) -> tuple[str, int, int, tuple[int, int] | None]:
        sent = self.index.sentences[c.sid]
        short = None
        if c.reading is not None and c.reading.start >= 0:
            short = (sent.start + c.reading.start, sent.start + c.reading.end)
        start, end = fit_quote(
            self.index.article(sent.article_id).text, sent.start, sent.end, short
        )
        return sent.article_id, start, end, short

    def _citation(
        self, n: int, c: Candidate, prefer: frozenset[str], *, short_answer: bool = True
    ) -> Citation:
        art_id, start, end, short = self._quote(c)
        art = self.index.article(art_id)
        inside = short_answer and short is not None and start <= short[0] and short[1] <= end
        return Citation(
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
            short_start=short[0] if inside and short else None,
            short_end=short[1] if inside and short else None,
            in_story=(art.id in prefer) if prefer else None,
        )

    def _answer(
        self,
        info: QuestionInfo,
        answer_id: str,
        confidence: float,
        chosen: Sequence[Candidate],
        message: str,
        extra: dict[str, Any],
        conflict: bool,
        prefer: frozenset[str],
    ) -> Answer:
        citations = [self._citation(n, c, prefer) for n, c in enumerate(chosen, start=1)]
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
            extra=extra,
        )

    def _related(self, ranked: Sequence[Sequence[Candidate]]) -> list[Candidate]:
        """The closest sentences, for an abstention, at most RELATED: those read by relevance,
        then (the read gap may leave fewer than RELATED read) the first stage's next ones; one
        per article first."""
        read = sorted(
            (c for g in ranked for c in g if c.reading is not None),
            key=lambda c: -c.reading.relevance if c.reading else 0.0,
        )
        pool = read + [c for g in ranked for c in g if c.reading is None][:RELATED]
        out: list[Candidate] = []
        seen: set[str] = set()
        for c in pool:  # one per article, then the rest in order
            if self._article_id(c) not in seen:
                seen.add(self._article_id(c))
                out.append(c)
        out += [c for c in pool if c not in out]
        return out[:RELATED]

    def _abstain(
        self,
        info: QuestionInfo,
        answer_id: str,
        confidence: float,
        extra: dict[str, Any],
        ranked: Sequence[Sequence[Candidate]],
        prefer: frozenset[str],
    ) -> Answer:
        related = [
            self._citation(n, c, prefer, short_answer=False)
            for n, c in enumerate(self._related(ranked), start=1)
        ]
        return Answer(
            id=answer_id,
            question=info.text,
            answer="",
            short_answer="",
            abstained=True,
            confidence=confidence,
            message=NOT_FOUND_MESSAGE,
            resolved_question=info.resolved,
            related=tuple(related),
            extra=extra,
        )


def fit_quote(text: str, start: int, end: int, short: tuple[int, int] | None) -> tuple[int, int]:
    """``(start, end)``, or a verbatim window of MAX_ANSWER_WORDS words around the short answer
    when the quote is longer."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    if len(spans) <= MAX_ANSWER_WORDS:
        return start, end
    centre = (short[0] - start) if short else 0
    first = next((i for i, (_, e) in enumerate(spans) if e > centre), 0)
    lo = max(0, min(first - MAX_ANSWER_WORDS // 3, len(spans) - MAX_ANSWER_WORDS))
    hi = lo + MAX_ANSWER_WORDS
    return start + spans[lo][0], start + spans[hi - 1][1]

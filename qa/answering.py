"""The reader: picks the sentence(s) that answer a question inside the retrieved passages, marks
the short answer, decides whether to abstain, and notices when sources disagree on a figure.

Everything it returns is quoted from the articles; it writes no text of its own.
"""

from __future__ import annotations

import bisect
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
from qa.text import _WORD, STOPWORDS, analyze, normalize_number, words
from qa.text import _stem_words as _stem
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
    """Weights of the sentence score, of the answerability score and the abstention threshold
    (tuned on the dev split of the bundled benchmark)."""

    # sentence ranking
    w_dense: float = 0.45
    w_passage: float = 0.10
    w_lexical: float = 0.45
    w_context: float = 0.15
    w_type: float = 0.20
    w_bigram: float = 0.10
    w_local: float = 0.10
    w_missing: float = 0.15
    # answerability of the best sentence
    a_context: float = 1.35
    a_dense: float = 0.3
    a_type: float = 1.1
    a_local: float = 0.1
    a_missing: float = 1.0
    threshold: float = 0.5  # confidence below this abstains
    conf_center: float = 1.05  # answerability mapped to confidence 0.5
    conf_scale: float = 8.0
    conflict_margin: float = 0.70  # a disagreeing sentence must score this close to the best
    passages: int = 10  # top passages whose sentences are read
    dense_pool: int = 8  # extra sentences taken by dense similarity (small collections)
    local_window: int = 8  # words either side of a short answer that count as its clause


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
    local: float = 0.0
    missing: float = 0.0
    short: sp.Span | None = None
    short_sid: int = -1  # the sentence holding ``short`` (this one or the one before)
    features: dict[str, float] = field(default_factory=dict)


@dataclass
class _Sent:
    """Per-sentence analysis, computed once and cached."""

    terms: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    positions: tuple[tuple[int, str], ...]  # (word index, stem) of content words
    offsets: tuple[int, ...]  # character offset of every word
    spans: dict[str, list[sp.Span]] = field(default_factory=dict)


@dataclass
class _Query:
    weights: dict[str, float]
    total: float
    bigrams: set[tuple[str, str]]
    words: set[str]
    lowered: str
    constraints: set[str]
    kind: str
    needs_name: bool
    variants: dict[str, frozenset[str]] = field(default_factory=dict)

    def cover(self, terms: frozenset[str] | set[str]) -> float:
        """Weighted share of the question's terms found in ``terms`` (derived forms such as
        'Kenya'/'Kenyan' count for part)."""
        got = 0.0
        for t, w in self.weights.items():
            if t in terms:
                got += w
            else:
                v = self.variants.get(t)
                if v and not v.isdisjoint(terms):
                    got += _VARIANT_CREDIT * w
        return got / self.total


_VARIANT_CREDIT = 0.6
_DENSE_POOL_MAX = 20_000
_FRAME_WORDS = (
    "many much name names date day year month time city cities place number amount total "
    "percentage percent figure kind type long old often far"
)
_ORDINALS = frozenset(
    "first second third fourth fifth sixth seventh eighth ninth tenth last final".split()
)
_PRONOUN_SUBJECT = re.compile(
    r"\b(?:he|she|they|it|his|her|their)\b(?:\s+\w+)?\s*(?:said|says|added|noted|told|wrote)?",
    re.IGNORECASE,
)


def _word_matches(text: str) -> list[tuple[re.Match[str], str]]:
    return [(m, m.group(0).lower().replace("’", "'")) for m in _WORD.finditer(text)]


def _fits_unit(kind: str, text: str) -> bool:
    if kind == qt.PERCENT:
        return bool(re.search(r"%|per ?cent", text, re.IGNORECASE))
    if kind == qt.MONEY:
        return bool(re.search(r"[$€£]|dollar|euro|shilling|pound", text, re.IGNORECASE))
    return True


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


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
        self._df = index.term_df
        self._n = max(1, len(index.sentences))
        self._sents: dict[int, _Sent] = {}
        self._title_terms: dict[str, frozenset[str]] = {}
        self._frame: frozenset[str] | None = None
        self._idf_max = math.log(1.0 + (self._n + 0.5) / 0.5)
        self._prefixes: dict[str, list[str]] | None = None
        self._last_query: tuple[QuestionInfo, _Query] | None = None
        self._span_terms: dict[str, frozenset[str]] = {}

    # -- term statistics --------------------------------------------------------------------
    def idf(self, term: str) -> float:
        df = self._df.get(term, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def _variants(self, term: str) -> frozenset[str]:
        """Corpus terms that are derived forms of ``term`` ('kenya' -> 'kenyan')."""
        if len(term) < 5 or not term.isalpha():
            return frozenset()
        if self._prefixes is None:
            prefixes: dict[str, list[str]] = {}
            for t in self._df:
                if len(t) >= 5 and t.isalpha():
                    prefixes.setdefault(t[:5], []).append(t)
            self._prefixes = prefixes
        out = []
        for t in self._prefixes.get(term[:5], ()):
            if t == term or abs(len(t) - len(term)) > 3:
                continue
            short, long_ = sorted((t, term), key=len)
            if long_.startswith(short) and len(short) >= 5:
                out.append(t)
        return frozenset(out)

    def _analysis(self, sid: int) -> _Sent:
        got = self._sents.get(sid)
        if got is None:
            text = self.index.sentences[sid].text
            toks = [(m.start(), w) for m, w in _word_matches(text)]
            content = [
                (i, normalize_number(w)) for i, (_, w) in enumerate(toks) if w not in STOPWORDS
            ]
            stems = _stem([w for _, w in content])
            positions = tuple((i, st) for (i, _), st in zip(content, stems, strict=True))
            terms = {st for _, st in positions}
            for st in list(terms):
                if "-" in st:  # "Kenyan-led" also counts as "kenyan" and "led"
                    terms.update(_stem([p for p in st.split("-") if p]))
            got = _Sent(
                frozenset(terms),
                frozenset(itertools.pairwise(st for _, st in positions)),
                positions,
                tuple(o for o, _ in toks),
            )
            if len(self._sents) < 500_000:
                self._sents[sid] = got
        return got

    def terms(self, sid: int) -> frozenset[str]:
        return self._analysis(sid).terms

    def title_terms(self, article_id: str) -> frozenset[str]:
        got = self._title_terms.get(article_id)
        if got is None:
            got = frozenset(analyze(self.index.article(article_id).title))
            self._title_terms[article_id] = got
        return got

    def _typed_spans(self, sid: int, kind: str) -> list[sp.Span]:
        a = self._analysis(sid)
        got = a.spans.get(kind)
        if got is None:
            text = self.index.sentences[sid].text
            if kind in _TYPED:
                got = sp.candidates(text, kind)
                if kind == qt.NUMBER:
                    got = got + sp.durations(text)
                elif kind == qt.PERSON:
                    got = got + sp.roles(text)
            elif kind == qt.REASON:
                got = sp.reason_candidates(text)
            elif kind == qt.LIST:
                got = sp.enumerations(text)
            else:
                got = []
            a.spans[kind] = got
        return got

    # -- the question -----------------------------------------------------------------------
    def _query(self, info: QuestionInfo) -> _Query:
        last = self._last_query
        if last is not None and last[0] is info:
            return last[1]
        if self._frame is None:
            self._frame = frozenset(analyze(_FRAME_WORDS))
        main_terms: list[str] = []
        for t in analyze(info.text):
            if "-" in t and t not in self._df:
                main_terms.extend(_stem([p for p in t.split("-") if p]))
            else:
                main_terms.append(t)
        head = re.search(r"\b(?:which|what)\s+([\w’'\-]+)", info.text, re.IGNORECASE)
        head_term = analyze(head.group(1)) if head else []
        weights: dict[str, float] = {}
        for t in main_terms:
            w = self.idf(t)
            if t in self._frame:
                w *= 0.2
            elif head_term and t == head_term[0]:
                w *= 0.5
            weights[t] = max(weights.get(t, 0.0), w)
        for t in analyze(info.query):
            if t not in weights:
                weights[t] = 0.5 * self.idf(t)
        # specific constraints: figures, ordinals and names in the question
        constraints: set[str] = set()
        for n, m in enumerate(re.finditer(r"[\w’'\-,.]+", info.text)):
            w = m.group(0).strip(",.")
            if not w:
                continue
            specific = (
                w[0].isdigit()
                or w.lower() in _ORDINALS
                or (
                    n > 0
                    and w[0].isupper()
                    and w.lower() not in STOPWORDS
                    and w.lower() not in sp.TITLE_WORDS  # "Prime Minister" is not a name
                )
            )
            if specific:
                constraints.update(t for t in analyze(w) if t in weights)
        return _Query(
            weights,
            sum(weights.values()) or 1.0,
            set(itertools.pairwise(main_terms)),
            set(words(info.text)),
            " ".join(words(info.text)),
            constraints,
            info.answer_type,
            qt.wants_name(info.text),
            {t: v for t in weights if (v := self._variants(t))},
        )

    # -- reading ------------------------------------------------------------------------------
    def read(
        self, info: QuestionInfo, qvec: np.ndarray, hits: Sequence[Hit], answer_id: str = ""
    ) -> Answer:
        """Answer from the retrieved passages; ``extra["ranked"]`` lists the sentence ids read,
        best first (used by evaluation)."""
        if not hits:
            return self._abstain(info, answer_id, 0.0)
        cands = self.rank(info, qvec, hits)
        if not cands:
            return self._abstain(info, answer_id, 0.0)
        answer = self._decide(info, cands, answer_id)
        return replace(answer, extra={"ranked": [c.sid for c in cands[:20]]})

    def rank(self, info: QuestionInfo, qvec: np.ndarray, hits: Sequence[Hit]) -> list[Candidate]:
        """Score every sentence of the top passages; best first."""
        s = self.settings
        q = self._query(info)
        passage_score: dict[int, float] = {}
        for hit in hits[: max(s.passages, 1)]:
            for sid in self.index.passages[hit.passage].sentences:
                passage_score[sid] = max(passage_score.get(sid, 0.0), hit.score)
        if not passage_score:
            return []
        qv = qvec.reshape(-1)
        n_all = len(self.index.sentences)
        if s.dense_pool and n_all <= _DENSE_POOL_MAX:
            # small collections: also read the sentences of the retrieved articles that are
            # closest to the question, in case passage retrieval missed them (articles come
            # from the hits, so filters still hold)
            articles = {self.index.sentences[sid].article_id for sid in passage_score}
            all_dense = self.index.sentence_vectors @ qv
            floor = min(passage_score.values())
            for sid in np.argsort(-all_dense)[: s.dense_pool]:
                sid = int(sid)
                if sid not in passage_score and self.index.sentences[sid].article_id in articles:
                    passage_score[sid] = floor
        sids = list(passage_score)
        dense = self.index.sentence_vectors[sids] @ qv
        cands: list[Candidate] = []
        for sid, d in zip(sids, dense, strict=True):
            sent = self.index.sentences[sid]
            a = self._analysis(sid)
            prev = (
                sid - 1
                if sid > 0 and self.index.sentences[sid - 1].article_id == sent.article_id
                else -1
            )
            ctx = a.terms | self.title_terms(sent.article_id)
            if prev >= 0:
                ctx = ctx | self.terms(prev)
            lexical = q.cover(a.terms)
            context = q.cover(ctx)
            bigram = len(q.bigrams & a.bigrams) / len(q.bigrams) if q.bigrams else 0.0
            missing = max(
                (self.idf(t) / self._idf_max for t in q.constraints if t not in ctx), default=0.0
            )
            c = Candidate(
                sid,
                dense=float(d),
                passage=passage_score[sid],
                lexical=lexical,
                context=context,
                bigram=bigram,
                missing=missing,
            )
            self._type_feature(c, q, prev)
            c.score = (
                s.w_dense * c.dense
                + s.w_passage * c.passage
                + s.w_lexical * c.lexical
                + s.w_context * c.context
                + s.w_type * c.typed
                + s.w_bigram * c.bigram
                + s.w_local * c.local
                - s.w_missing * c.missing
            )
            cands.append(c)
        cands.sort(key=lambda c: -c.score)
        if q.kind not in _TYPED and q.kind not in (qt.REASON, qt.LIST):
            for c in cands[:3]:
                c.short = self._short_answer(c.sid, q)
                c.short_sid = c.sid if c.short is not None else -1
        self._last_query = (info, q)
        return cands

    def answerability(self, c: Candidate) -> float:
        s = self.settings
        return (
            s.a_context * c.context
            + s.a_dense * c.dense
            + s.a_type * c.typed
            + s.a_local * c.local
            - s.a_missing * c.missing
        )

    def _type_feature(self, c: Candidate, q: _Query, prev: int) -> None:
        """Whether the sentence holds an answer of the expected type, and the best such span."""
        kind = q.kind
        if kind not in _TYPED and kind not in (qt.REASON, qt.LIST):
            # phrase answers do not change the ranking: found for the top sentences only
            c.typed, c.local = 0.5, c.lexical
            return
        short, where = self._short_answer(c.sid, q), c.sid
        if (
            short is None
            and prev >= 0
            and kind in (qt.PERSON, qt.ORG)
            and _PRONOUN_SUBJECT.search(self.index.sentences[c.sid].text)
        ):
            # "…,” he said. — the name is in the sentence before
            short, where = self._short_answer(prev, q), prev
        c.short, c.short_sid = short, where if short is not None else -1
        if short is not None:
            c.local = self._local(where, short, q) if where == c.sid else c.lexical
        else:
            c.local = 0.0
        if kind in _TYPED:
            c.typed = 0.0 if short is None else (1.0 if where == c.sid else 0.7)
            if short is not None and not _fits_unit(kind, short.text):
                c.typed *= 0.5
            if short is not None and kind == qt.PERSON and short.kind == "role":
                c.typed = 0.0 if q.needs_name else 0.6
        elif kind in (qt.REASON, qt.LIST):
            c.typed = 1.0 if short is not None else 0.3
        else:
            c.typed = 0.5
            c.local = c.lexical

    def _local(self, sid: int, short: sp.Span, q: _Query) -> float:
        """Question coverage within a few words of the short answer (its clause)."""
        a = self._analysis(sid)
        first = bisect.bisect_right(a.offsets, short.start) - 1
        last = bisect.bisect_left(a.offsets, short.end)
        w = self.settings.local_window
        near = {st for i, st in a.positions if first - w <= i <= last + w}
        return q.cover(near)

    def _decide(self, info: QuestionInfo, cands: list[Candidate], answer_id: str) -> Answer:
        s = self.settings
        best = cands[0]
        confidence = _sigmoid(s.conf_scale * (self.answerability(best) - s.conf_center))
        if confidence < s.threshold:
            return self._abstain(info, answer_id, confidence)

        conflict = self._conflicting(info, cands) if info.answer_type in _FIGURE_TYPES else []
        if conflict:
            quotes = [self._quote(c, single=True) for c in [best, *conflict]]
            figures = ", ".join(
                f"{c.short.text} [{i}]" for i, c in enumerate([best, *conflict], 1) if c.short
            )
            return self._answer(
                info,
                answer_id,
                confidence,
                quotes,
                conflict=True,
                message=f"The articles give different figures: {figures}.",
            )
        return self._answer(info, answer_id, confidence, [self._quote(best)])

    # -- short answers -----------------------------------------------------------------------
    def _short_answer(self, sid: int, q: _Query) -> sp.Span | None:
        kind = q.kind
        text = self.index.sentences[sid].text
        if kind in _TYPED or kind in (qt.REASON, qt.LIST):
            found = self._typed_spans(sid, kind)
        else:
            found = sp.phrase_candidates(text, set(q.weights))
        qset = q.weights
        # the answer is not something the question already says
        kept = []
        for c in found:
            terms = self._span_terms.get(c.text)
            if terms is None:
                terms = frozenset(analyze(c.text))
                if len(self._span_terms) < 200_000:
                    self._span_terms[c.text] = terms
            if terms and all(t in qset for t in terms):
                continue
            if kind in _TYPED and c.text.lower() in q.lowered:
                continue
            kept.append(c)
        if not kept:
            return None
        a = self._analysis(sid)
        anchors = [(a.offsets[i], q.weights[st]) for i, st in a.positions if st in qset]

        def score(c: sp.Span) -> float:
            if anchors:
                dist = (
                    sum(wt / (1.0 + abs((c.start + c.end) / 2 - off) / 12.0) for off, wt in anchors)
                    / q.total
                )
            else:
                dist = 0.0
            n_words = len(c.text.split())
            length_pen = 0.0 if kind in (qt.REASON, qt.LIST) else 0.02 * max(0, n_words - 4)
            bonus = 0.0
            if kind in _FIGURE_TYPES:
                after = set(analyze(text[c.end : c.end + 30])[:2])
                bonus += 0.3 if after & set(qset) else 0.0
                if c.kind == qt.NUMBER and re.search(r"\d", c.text) is None and n_words == 1:
                    bonus -= 0.05
            if kind == qt.PERSON and c.kind == "role":
                bonus -= 0.2
            if kind == qt.LIST:
                bonus += 0.05 * c.text.count(",")
            return dist - length_pen + bonus

        return max(kept, key=score)

    # -- conflicts -----------------------------------------------------------------------------
    def _conflicting(self, info: QuestionInfo, cands: list[Candidate]) -> list[Candidate]:
        """Sentences from other articles that give a different figure for the same thing."""
        best = cands[0]
        if best.short is None or best.short_sid != best.sid:
            return []
        base = parse_figure(best.short.text)
        if base is None:
            return []
        q = self._query(info)
        focus = self._unit_terms(best) | {t for t in self._unit_terms(best, 60) if t in q.weights}
        per_article: dict[str, Candidate] = {}
        best_art = self.index.sentences[best.sid].article_id
        for c in cands[1:20]:
            if c.short is None or c.short_sid != c.sid:
                continue
            if c.score < self.settings.conflict_margin * best.score:
                break
            if c.local < 0.5 * best.local or c.context < 0.6 * best.context:
                continue
            c_art = self.index.sentences[c.sid].article_id
            if c_art == best_art:
                continue
            value = parse_figure(c.short.text)
            if value is None or math.isclose(value, base, rel_tol=1e-9):
                continue
            if focus and not (focus & self._unit_terms(c, 60)):
                continue
            held = per_article.get(c_art)
            if held is None or c.local + c.context > held.local + held.context:
                per_article[c_art] = c
        out: list[Candidate] = []
        values = [base]
        for c in sorted(per_article.values(), key=lambda c: -c.score):
            assert c.short is not None
            value = parse_figure(c.short.text)
            if value is not None and not any(math.isclose(value, v) for v in values):
                out.append(c)
                values.append(value)
            if len(out) == 2:
                break
        return out

    def _unit_terms(self, c: Candidate, reach: int = 30) -> set[str]:
        """Content words right after the figure ('989 officers' -> {'offic'})."""
        assert c.short is not None
        text = self.index.sentences[c.short_sid].text
        return set(analyze(text[c.short.end : c.short.end + reach])[: 3 if reach > 30 else 2])

    # -- output --------------------------------------------------------------------------------
    def _quote(
        self, c: Candidate, single: bool = False
    ) -> tuple[str, int, int, tuple[int, int] | None]:
        """(article id, start, end, short span in article offsets) for the quoted sentence(s),
        adding the previous sentence when the best one leans on it ("He said ...")."""
        sid, short = c.sid, c.short
        sent = self.index.sentences[sid]
        start, end = sent.start, sent.end
        n_words = len(sent.text.split())
        if sid > 0 and self.index.sentences[sid - 1].article_id == sent.article_id:
            prev = self.index.sentences[sid - 1]
            fits = n_words + len(prev.text.split()) <= MAX_ANSWER_WORDS
            if c.short_sid == sid - 1 or (
                not single and fits and _LEADING_REFERENCE.match(sent.text)
            ):
                start = prev.start
        short_abs = None
        if short is not None and c.short_sid >= 0:
            holder = self.index.sentences[c.short_sid]
            short_abs = (holder.start + short.start, holder.start + short.end)
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

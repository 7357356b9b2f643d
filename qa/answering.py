"""The reader: picks the sentence(s) that answer a question inside the retrieved passages, marks
the short answer, decides whether to abstain, and notices when sources disagree on a figure.

Everything it returns is quoted from the articles; it writes no text of its own.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qa import questions as qt
from qa import spans as sp
from qa.index import Index
from qa.questions import QuestionInfo
from qa.retrieval import Hit
from qa.text import _WORD, STOPWORDS, analyze, fold, normalize_number, words
from qa.text import _stem_words as _stem
from qa.types import NOT_FOUND_MESSAGE, Answer, Citation

MAX_ANSWER_WORDS = 80
_FIGURE_TYPES = (qt.NUMBER, qt.MONEY, qt.PERCENT)
_SPEECH = re.compile(
    r"\b(?:said|says|say|told|tells|noted|notes|added|adds|stated|states|estimated|estimates|"
    r"reported|reports|claimed|claims|announced|announces|wrote|writes)\b",
    re.IGNORECASE,
)
_SIGNED = (qt.PERCENT, qt.MONEY)
_NAMED = (qt.PERSON, qt.PLACE, qt.ORG)
_TYPED = (*_FIGURE_TYPES, qt.DATE, *_NAMED)
_LEADING_REFERENCE = re.compile(
    r"^\W*(?:he|she|they|it|this|these|those|his|her|their|its|the (?:organization|group))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReaderSettings:
    """Weights of the sentence score, of the answerability score and the abstention threshold
    (tuned on the dev split of the bundled benchmark)."""

    # sentence ranking
    w_dense: float = 0.2
    w_passage: float = 0.10
    w_lexical: float = 0.45
    w_context: float = 0.15
    w_type: float = 0.20
    w_bigram: float = 0.10
    w_local: float = 0.10
    w_missing: float = 0.15
    w_soft: float = 0.3
    w_gap: float = 0.0
    w_unit: float = 0.3
    w_far: float = 0.2
    w_clause: float = 0.3  # best clause's similarity (qa.clauses), beside the sentence's
    w_follow: float = 0.15  # follow-ups: same article as the previous answer, or next to it
    soft_pool: int = 8  # best sentences re-scored with word similarity
    full_pool: int = 16  # sentences given the full (costlier) features after a first cut
    # answerability of the best sentence
    a_context: float = 0.5
    a_dense: float = 0.3
    a_type: float = 1.1
    a_local: float = 0.1
    a_missing: float = 1.0
    a_absent: float = 2.0
    a_soft: float = 0.0
    a_gap: float = 0.0
    a_unit: float = 1.5
    a_far: float = 1.5
    a_clause: float = 0.5
    a_pred: float = 1.0  # the question's main verb unmatched
    a_noname: float = 1.0  # "What is the name of …" and the sentence has no name
    threshold: float = 0.5  # confidence below this abstains
    conf_center: float = 0.85  # answerability mapped to confidence 0.5
    conf_scale: float = 8.0
    conflict_margin: float = 0.70  # a disagreeing sentence must score this close to the best
    passages: int = 10  # top passages whose sentences are read
    dense_pool: int = 8  # extra sentences taken by dense similarity (small collections)
    local_window: int = 8  # words either side of a short answer that count as its clause


@dataclass
class Candidate:
    sid: int
    score: float = 0.0
    soft: float = 0.0  # question coverage counting close words (MiniLM word similarity)
    gap: float = 0.0  # weight of the most important question word left unmatched
    unit: float = 0.5  # how well the figure's own noun matches the question's focus
    far: float = 0.0  # a question name in the sentence but away from the short answer
    pred: float = 1.0  # how well the question's main verb is matched
    noname: bool = False  # the question asks for a name and this sentence gives none
    dense: float = 0.0
    clause: float = 0.0  # the best clause's similarity to the question (or the sentence's)
    passage: float = 0.0
    lexical: float = 0.0
    context: float = 0.0
    typed: float = 0.0
    bigram: float = 0.0
    local: float = 0.0
    missing: float = 0.0
    anaphoric: bool = False  # opens with "it", "this", "they", "such …": about the sentence before
    follow: float = 0.0  # a follow-up read near where the previous question's answer is
    absent: float = 0.0  # a question name or figure the sentence's whole article never mentions
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
    surface: tuple[str, ...] = ()  # the content words as written (lower-cased)
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
    content: list[tuple[str, str, float]] = field(default_factory=list)  # (word, stem, weight)
    focus: list[tuple[str, str]] = field(default_factory=list)  # (word, stem), head last
    pred: frozenset[str] = frozenset()  # stems of the question's main verb
    units: dict[tuple[int, int, int, bool], float] = field(default_factory=dict)  # memo of _unit
    asked: frozenset[str] | None = None  # what the question asks about (for figure qualifiers)
    owner: frozenset[str] = frozenset()  # stems of the name owning the figure asked for
    role: str = ""  # stem of the role a "who is the X of …" question asks for
    share_of: list[str] = field(default_factory=list)  # "what share of the country's people"
    text: str = ""  # the question as written
    name_kind: str = ""  # what "What is the name of the …" names (person, place, org), if said
    acronyms: frozenset[str] = frozenset()  # the question's acronyms ("MSS"), lower-cased
    events: tuple[re.Pattern[str], ...] = ()  # kinds of event a figure question counts
    person: frozenset[str] = frozenset()  # the terms of who the question's "he"/"she" is

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
_ACRONYM_WORD = re.compile(r"\b[A-Z][A-Z0-9&]{1,7}\b")
_WORD_CACHE_MAX = 300_000
_ADDITIONAL = re.compile(r"(?:another|additional|extra|more(?!\s+than))\b", re.IGNORECASE)
_OWNER = re.compile(
    r"^\s*(?i:how (?:many|much)\b[^?]*?\b(?:has|have|did|does|do|will|would)\s+(?:the\s+)?)"
    r"([A-Z][\w’'\-]*(?:\s+(?:of\s+)?[A-Z][\w’'\-]*)*)"
)
_FOLLOW_NEAR = 3  # sentences either side of the previous answer that count as next to it
_ANCHOR_COVER = 0.3  # how much of the previous question a sentence must cover to anchor
# "Who is the commander of …", "What is the name of the Kenyan commander leading …"
_WHO_ROLE = re.compile(
    r"^\s*(?:and\s+)?(?:who\s+(?:is|was|are|were)|what\s+(?:is|was)\s+the\s+name\s+of)\s+the\s+"
    r"(?:[\w\-]+\s+)?([\w\-]+)\s+(?:of|in|at|for|leading|heading|running|who|that)\b",
    re.IGNORECASE,
)
_TIME_AFTER = re.compile(r"\s+(?:year|month|week|day|decade|night|time|season)s?\b", re.I)
_MEASURE_OF = re.compile(  # "What is the population of Nairobi?" -> Nairobi
    r"(?i:\b(?:population|number|total|size|share|budget|cost|toll)\s+of\s+(?:the\s+)?)"
    r"([A-Z][\w’'\-]*(?:\s+(?:of\s+)?[A-Z][\w’'\-]*)*)"
)
_CONFLICT_LOCAL = 0.15  # question coverage a figure needs around it to count as disagreeing
_HOW_LONG = re.compile(r"\bhow long\b")
_NAME_ADJECTIVE = re.compile(r"-(?:led|based|backed|run|owned|funded|born|made|brokered)$")
_LOCATIVE = re.compile(
    r"\b(?:in|at|from|to|into|near|across|outside|inside|toward|towards|around|throughout|"
    r"between|via)\s+(?:the\s+)?(?:[\w’'\-]+\s+){0,2}$|,\s*$",
    re.IGNORECASE,
)
_VERB_PLACE = re.compile(r"\b([\w\-]+)\s+(?:from|in|at|into|inside|outside|near|to)\s+")
_PHRASE = re.compile(r"[^,;:.—–()“”\"]{1,60}")
_RATIO_OF = re.compile(
    r"\b(?:percentage|percent|share|fraction|proportion|part|rate)\s+", re.IGNORECASE
)
_RATIO_WORDS = frozenset("percentage percent share fraction proportion part rate".split())
_CLAUSE_BREAK = re.compile(r"[,;:.—–()“”\"]")
_CAPS_RUN = re.compile(
    r"[A-Z][a-z][\w’'\-]*(?:\s+(?:(?:of|for|the|and|on)\s+)?[A-Z][a-z][\w’'\-]*)+"
)
_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
_ENTITY_NOUNS = frozenset(
    "organization organisation group agency body government ministry council committee "
    "company firm network coalition alliance union association mission watchdog official "
    "minister president leader commander spokesman spokesperson chief".split()
)
_DEFINITE_SUBJECT = re.compile(r"^\W*the\s+(?:[\w’'\-]+\s+){0,2}?([\w’'\-]+)\b", re.IGNORECASE)
_STACK_CACHE_MAX = 50_000
_CORPUS_SCAN_MAX = 20_000  # sentences scanned for the lower-case vocabulary and acronyms
_DENSE_POOL_MAX = 20_000
_NAME_SCAN_MAX = 10_000  # sentences read once to learn what each name is
_FRAME_WORDS = (
    "many much name names date day year month time city cities place number amount total "
    "percentage percent figure kind type long old often far"
)
# "…, according to the article on Ruto's UN assessment": words that pick the article, not
# words the answering sentence should hold
_ARTICLE_REF = re.compile(
    r",?\s*\b(?:(?:according to|as (?:reported|described|told) in)\s+(?:the|an?|this|that)\s+"
    r"(?:[\w’'\-]+\s+)?(?:article|report|story|piece|coverage|account)"
    r"|(?:in|from)\s+(?:the|this|that)\s+(?:article|story|piece))\b[^?]*",
    re.IGNORECASE,
)
_ORDINALS = frozenset(
    "first second third fourth fifth sixth seventh eighth ninth tenth last final".split()
)
# kinds of event a count can be of: a count of one kind does not answer a question about
# another ("How many officers were killed?" is not answered by "600 officers will deploy")
_EVENT_KINDS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:kill\w*|di(?:e|ed|es|ing)|dead\w*|deaths?|fatal\w*|casualt\w*|murder\w*|slain"
        r"|perish\w*|lost (?:\w+ ){0,2}li(?:fe|ves)|li(?:fe|ves) (?:were |was )?lost)\b",
        r"\b(?:injur\w*|wound\w*|hurt)\b",
        r"\b(?:kidnap\w*|abduct\w*|hostages?|ransom\w*)\b",
        r"\b(?:arrest\w*|detain\w*|detention|custody|jailed|imprison\w*)\b",
    )
)
# the setting a report opens with: "At the 80th United Nations General Assembly, …"
_SETTING = re.compile(
    r"^\W*((?:at|during|on the sidelines of|speaking at|addressing|in a speech (?:at|to))\s[^,]{3,80}),"
    r"\s*\S",
    re.IGNORECASE,
)
_ANAPHORIC_OPENING = re.compile(
    # after a short opening phrase: "In collaboration, they have …"
    r"^\W*(?:(?:[\w’'\-]+\s+){0,3}[\w’'\-]+,\s*)?"
    # or after a time adverb: "Today it’s working"
    r"(?:(?:today|now|then|later|since then|soon|still|again)\s+)?"
    r"(?:it|this|that|these|those|its|they|such\s+[\w\-]+)\b(?!\s*,)",
    re.IGNORECASE,
)
_REFERENT_BACK = 4  # sentences to look back for who "he" or "she" is
_PRONOUN_SUBJECT = re.compile(
    r"\b(?:he|she|they|it|his|her|their)\b(?:\s+\w+)?\s*(?:said|says|added|noted|told|wrote)?",
    re.IGNORECASE,
)


def _identifier(text: str, span: sp.Span) -> bool:
    """A bare number that is part of a name ("France 24", "Resolution 2699"): not a count."""
    if not span.text.isdigit():
        return False
    m = re.search(r"(\S+)\s+$", text[: span.start])
    if m is None or not m.group(1)[:1].isupper():
        return False
    return bool(re.search(r"\w", text[: m.start()]))  # not the sentence's first word


def _initials(name: str) -> list[tuple[str, frozenset[str]]]:
    """(initials, word stems) of a capitalised name and of its runs of two or more words
    ("Multinational Security Support Mission" -> 'mssm', 'mss', 'ssm', …)."""
    toks = [t for t in name.split() if t[:1].isupper()]
    out = []
    for i in range(len(toks)):
        for j in range(i + 2, len(toks) + 1):
            part = toks[i:j]
            out.append(
                ("".join(t[0] for t in part).lower(), frozenset(_stem([t.lower() for t in part])))
            )
    return out


def _word_matches(text: str) -> list[tuple[re.Match[str], str]]:
    return [(m, fold(m.group(0))) for m in _WORD.finditer(text)]


def _fits_unit(kind: str, text: str) -> bool:
    if kind == qt.PERCENT:
        return sp.is_share(text)
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


_ARTICLE_CACHE = 4096  # articles whose word sets are kept (for Candidate.absent)


def _of_words(text: str, at: re.Match[str] | None) -> list[str]:
    """Content words of the "of …" phrase right after ``at`` ("of the country's people" ->
    ['country', 'people']); empty when none follows."""
    if at is None:
        return []
    m = re.match(r"of\s+([^,;:.?!—–()“”\"]+)", text[at.end() : at.end() + 80])
    if m is None:
        return []
    out: list[str] = []
    for w in words(m.group(1)):
        if w in STOPWORDS or not w[:1].isalpha():
            if out:
                break  # the noun phrase ends ("… people have been forced")
            continue
        out.append(w.removesuffix("'s"))
    return out[:3]


class Reader:
    def __init__(
        self, index: Index, settings: ReaderSettings | None = None, embedder: Any = None
    ) -> None:
        self.index = index
        self.embedder = embedder  # single words are embedded with it (cached) for soft matching
        self._wvecs: dict[str, np.ndarray] = {}
        self.settings = settings or ReaderSettings()
        self._df = index.term_df
        self._n = max(1, len(index.sentences))
        self._sents: dict[int, _Sent] = {}
        self._title_terms: dict[str, frozenset[str]] = {}
        self._frame: frozenset[str] | None = None
        self._idf_max = math.log(1.0 + (self._n + 0.5) / 0.5)
        self._prefixes: dict[str, list[str]] | None = None
        self._last_query: tuple[QuestionInfo, _Query] | None = None
        self._name_kinds: dict[str, str] | None = None
        self._span_terms: dict[str, frozenset[str]] = {}
        self._lower: frozenset[str] | None = None
        self._stacks: dict[tuple[str, ...], np.ndarray] = {}  # word vectors of a word list
        self._quals: dict[tuple[int, int, int], frozenset[str]] = {}
        self._sent_names: dict[int, list[sp.Span]] = {}
        self._acronyms: dict[str, frozenset[str]] | None = None
        self._article_terms: dict[str, frozenset[str]] = {}
        self._article_titles: dict[str, dict[str, frozenset[str]]] = {}
        self._ctx_sets: dict[int, frozenset[str]] = {}
        self._referents: dict[int, str] = {}
        self._people: dict[int, frozenset[str]] = {}  # sentence -> its own terms with names
        self._article_people: dict[str, dict[str, frozenset[str]]] = {}
        self._ctx_lists: dict[int, list[str]] = {}
        self._unit_memo: dict[tuple[int, int, int], tuple[list[str], list[str]]] = {}

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
            terms.update(self._acronym_terms(text))
            got = _Sent(
                frozenset(terms),
                frozenset(itertools.pairwise(st for _, st in positions)),
                positions,
                tuple(o for o, _ in toks),
                tuple(toks[i][1] for i, _ in content),
            )
            if len(self._sents) < 500_000:
                self._sents[sid] = got
        return got

    def _corpus_scan(self) -> None:
        """Words the corpus writes in lower case (so a capitalised one opening a sentence is
        not a name: "Several", "Another") and acronyms with the names they stand for ("UN" ->
        United Nations, "HRW" -> Human Rights Watch), learned from the text."""
        lower: set[str] = set()
        initials: dict[str, set[str]] = {}
        sentences = self.index.sentences
        if len(sentences) <= _CORPUS_SCAN_MAX:
            for sent in sentences:
                text = sent.text
                lower.update(w for w in re.findall(r"[a-z][\w’'\-]*", text) if w.islower())
                for m in _CAPS_RUN.finditer(text):
                    for key, stems in _initials(m.group(0)):
                        initials.setdefault(key, set()).update(stems)
        self._lower = frozenset(lower)
        self._acronyms = {k: frozenset(v) for k, v in initials.items()}

    def _acronym_terms(self, text: str) -> set[str]:
        """Extra terms a sentence stands for: the initials of its capitalised names
        ("United Nations" -> 'un') and the words of its known acronyms ("UN" -> 'unit', 'nation')."""
        if self._acronyms is None:
            self._corpus_scan()
        assert self._acronyms is not None
        out: set[str] = set()
        for m in _CAPS_RUN.finditer(text):
            out.update(key for key, _ in _initials(m.group(0)))
        for m in _ACRONYM.finditer(text):
            out.update(self._acronyms.get(m.group(0).lower(), ()))
        return out

    def _common_word(self, word: str) -> bool:
        if self._lower is None:
            self._corpus_scan()
        assert self._lower is not None
        return word.lower() in self._lower or word.lower() in STOPWORDS

    def _names(self, sid: int, spans: list[sp.Span]) -> list[sp.Span]:
        """Drop a capitalised common word opening the sentence ("Several", "Today") and
        adjectives made from a name ("Kenyan-led", "US-based")."""
        text = self.index.sentences[sid].text
        return [
            x
            for x in spans
            if not (
                " " not in x.text
                and not re.search(r"\w", text[: x.start])
                and self._common_word(x.text.strip(".,"))
            )
            and not _NAME_ADJECTIVE.search(x.text)
        ]

    def _sentence_names(self, sid: int) -> list[sp.Span]:
        got = self._sent_names.get(sid)
        if got is None:
            got = self._names(sid, sp.names(self.index.sentences[sid].text))
            if len(self._sent_names) < _WORD_CACHE_MAX:
                self._sent_names[sid] = got
        return got

    def terms(self, sid: int) -> frozenset[str]:
        return self._analysis(sid).terms

    def title_terms(self, article_id: str) -> frozenset[str]:
        """Terms naming what the whole article is about: its title, and the setting its first
        sentence opens with ("At the 80th United Nations General Assembly, …")."""
        got = self._title_terms.get(article_id)
        if got is None:
            got = frozenset(analyze(self.index.article(article_id).title))
            first = self.index.article_slices(self.index.article_pos[article_id])[0][0]
            setting = _SETTING.match(self.index.sentences[first].text)
            if setting is not None:
                got = got | frozenset(analyze(setting.group(1)))
            self._title_terms[article_id] = got
        return got

    def _typed_spans(self, sid: int, kind: str) -> list[sp.Span]:
        a = self._analysis(sid)
        got = a.spans.get(kind)
        if got is None:
            text = self.index.sentences[sid].text
            if kind in _TYPED:
                known = self.known_names() if kind in (qt.PERSON, qt.PLACE, qt.ORG) else None
                got = sp.candidates(text, kind, known)
                if kind in (qt.PERSON, qt.PLACE, qt.ORG):
                    got = self._names(sid, got)
                elif kind in _FIGURE_TYPES:
                    got = [x for x in got if not _identifier(text, x)]
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

    def known_names(self) -> dict[str, str]:
        """What the collection's names are (person, place, org) by the contexts that say so,
        read once over all sentences; collections above ``_NAME_SCAN_MAX`` sentences go
        without it."""
        if self._name_kinds is None:
            sents = self.index.sentences
            self._name_kinds = (
                sp.name_kinds(s.text for s in sents) if len(sents) <= _NAME_SCAN_MAX else {}
            )
        return self._name_kinds

    # -- word similarity ------------------------------------------------------------------------
    def _ensure_vectors(self, ws: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors of the words ``ws``: from the cache, the rest embedded in one batch (and
        kept for later questions while the cache has room)."""
        if self.embedder is None:
            return {}
        words = set(ws)
        got = {w: v for w in words if (v := self._wvecs.get(w)) is not None}
        todo = sorted(words - got.keys())
        if todo:
            vecs = self.embedder.encode(todo)
            keep = len(self._wvecs) < _WORD_CACHE_MAX
            for w, v in zip(todo, vecs, strict=True):
                got[w] = np.asarray(v, dtype=np.float32).reshape(-1)
                if keep:
                    self._wvecs[w] = got[w]
        return got

    def _max_sims(self, qwords: Sequence[str], cwords: Sequence[str]) -> np.ndarray:
        """For each question word, its best cosine with any of ``cwords`` (0 without an
        embedder). Every word is embedded when first met, so the result never depends on
        which questions came before."""
        out = np.zeros(len(qwords), dtype=np.float32)
        if self.embedder is None or not cwords or not qwords:
            return out
        key = tuple(cwords)
        cm = self._stacks.get(key)
        vecs = self._ensure_vectors([*qwords, *(() if cm is not None else cwords)])
        if cm is None:
            cm = np.vstack([vecs[w] for w in cwords])
            if len(self._stacks) < _STACK_CACHE_MAX:
                self._stacks[key] = cm
        for i, w in enumerate(qwords):
            out[i] = float((cm @ vecs[w]).max())
        return out

    def _unit_words(self, sid: int, span: sp.Span) -> tuple[list[str], list[str]]:
        """Content words right after a figure in its clause ('989 officers from …' ->
        ['officers', …]) and the few before it ('Kenya has provided 735' -> ['kenya', …])."""
        key = (sid, span.start, span.end)
        got = self._unit_memo.get(key)
        if got is None:
            got = self._find_unit_words(sid, span)
            if len(self._unit_memo) < _WORD_CACHE_MAX:
                self._unit_memo[key] = got
        return got

    def _find_unit_words(self, sid: int, span: sp.Span) -> tuple[list[str], list[str]]:
        text = self.index.sentences[sid].text
        after = re.split(r"[,;:.—–()“”\"]", text[span.end : span.end + 50], maxsplit=1)[0]
        before = re.split(r"[,;:.—–()“”\"]", text[max(0, span.start - 40) : span.start])[-1]
        nxt = re.match(r"\s*([\w’'\-]+)", after)
        if nxt and nxt.group(1).lower() in STOPWORDS and nxt.group(1).lower() != "of":
            # "of the 2,500 troops pledged, only 991 are …": the figure counts the earlier one's
            earlier = [x for x in sp.numbers(text) if x.end < span.start]
            if earlier:
                bw = [w for w in words(before) if w not in STOPWORDS][-3:]
                return self._unit_words(sid, earlier[-1])[0], bw
        aw = [w for w in words(after) if w not in STOPWORDS][:3]
        bw = [w for w in words(before) if w not in STOPWORDS][-3:]
        return aw, bw

    def _qualifiers(self, sid: int, span: sp.Span) -> frozenset[str]:
        key = (sid, span.start, span.end)
        got = self._quals.get(key)
        if got is None:
            got = frozenset(self._find_qualifiers(sid, span))
            if len(self._quals) < _WORD_CACHE_MAX:
                self._quals[key] = got
        return got

    def _find_qualifiers(self, sid: int, span: sp.Span) -> set[str]:
        """What narrows the thing a figure counts: a name owning it ("Kenya has provided 735"),
        a name or ordinal with it ("the first 200 Kenyan police officers"), or that it is an
        increment ("another 600"). Stems; increments as '+'."""
        text = self.index.sentences[sid].text
        out: set[str] = set()
        increment = _ADDITIONAL.match(span.text) or re.search(
            r"\b(?:another|additional|extra|more)\s+$", text[: span.start], re.IGNORECASE
        )
        if increment and not sp.is_duration(span.text):  # "for another year" is a length of time
            out.add("+")
        prev = re.search(r"([\w’'\-]+)\s+$", text[: span.start])
        if prev and prev.group(1).lower() in _ORDINALS:
            out.add(prev.group(1).lower())
        after = re.split(r"[,;:.—–()“”\"]", text[span.end : span.end + 50], maxsplit=1)[0]
        if not (_fits_unit(qt.PERCENT, span.text) and re.match(r"\s*of\b", after)):
            # (a share's "of Haiti's population" names its whole: _ratio_of)
            for w in re.findall(r"[\w’'\-]+", after)[:3]:
                if w[:1].isupper():
                    out.update(analyze(w))
        for x in self._sentence_names(sid):
            gap = text[x.end : span.start]
            if (
                x.end <= span.start
                and len(gap) <= 25
                and not _CLAUSE_BREAK.search(gap)
                and not _SPEECH.search(gap)  # "Mayor Voss said 120 …": a speaker, not an owner
            ):
                out.update(analyze(x.text))
        return out

    def _extra_qualifiers(self, sid: int, span: sp.Span, q: _Query) -> frozenset[str]:
        """Qualifiers of a figure that the question does not ask about."""
        if q.asked is None:
            asked = set(q.weights).union(*q.variants.values()) if q.variants else set(q.weights)
            if _ADDITIONAL.search(q.lowered):
                asked.add("+")
            asked.update(w for w in q.words if w in _ORDINALS)
            asked.update(self._acronym_terms(q.text))  # "UN" asks about the United Nations
            q.asked = frozenset(asked)
        return self._qualifiers(sid, span) - q.asked

    def _unit(self, sid: int, span: sp.Span, q: _Query, sims: bool = False) -> float:
        """How well the noun the figure counts matches the question's focus ("how many
        countries" -> '6 countries' 1.0, '735 officers' 0.0); 0.5 without a focus. A figure
        narrowed by something the question does not ask ("another 600", "735" of Kenya's when
        the question asks for all officers) counts for less."""
        key = (sid, span.start, span.end, sims)
        memo = q.units.get(key)
        if memo is not None:
            return memo
        got = self._unit_match(sid, span, q, sims)
        extra = self._extra_qualifiers(sid, span, q)
        if extra:
            # narrowed by another qualifier; and when the question's own qualifier is missing
            # too ("Haitian police officers" against "600 Kenyan police officers"), another group
            other_name = not extra.isdisjoint(self._terms_of_names(sid)) and any(
                st not in self._qualifiers(sid, span) for st in self._named_modifiers(q)
            )
            got *= 0.6 if got > 0.5 and not other_name else 0.3
        if not self._owned(sid, q):
            got *= 0.3  # the question asks for another name's figure
        q.units[key] = got
        return got

    def _locative(self, sid: int, span: sp.Span) -> bool:
        """The name stands where a place does: after "in", "at", "from" … ("in the capital
        Port-au-Prince", "at State House, Nairobi"), or it is where the question's verb happens."""
        if re.search(r"['’]s$", span.text):
            return False  # an owner: "Haiti’s fight"
        text = self.index.sentences[sid].text
        return _LOCATIVE.search(text[max(0, span.start - 40) : span.start]) is not None

    @staticmethod
    def _verb_places(text: str, q: _Query) -> list[sp.Span]:
        """Where the question's own verb happens: "From where were gangs operating?" read in
        "gangs were operating from police headquarters" -> 'police headquarters'."""
        out = []
        for m in _VERB_PLACE.finditer(text):
            if _stem([m.group(1).lower()])[0] not in q.pred:
                continue
            rest = _PHRASE.match(text, m.end())
            if rest is None:
                continue
            phrase: list[re.Match[str]] = []
            for w in re.finditer(r"[\w’'\-]+", rest.group(0)):
                if w.group(0).lower() in STOPWORDS and phrase:
                    break
                if w.group(0).lower() not in ("the", "a", "an", "its", "their"):
                    phrase.append(w)
            if phrase:
                start, end = rest.start() + phrase[0].start(), rest.start() + phrase[-1].end()
                out.append(sp.Span(start, end, qt.PLACE, text[start:end]))
        return out

    def _ratio_of(self, sid: int, span: sp.Span, q: _Query, sims: bool) -> float:
        """A share of what: "what fraction of the country's people" against "11% of Haiti's
        population" (close) or "90 percent of the urban territory" (another whole)."""
        asked = q.share_of
        if not asked:
            return 1.0
        text = self.index.sentences[sid].text
        whole = _of_words(text, re.compile(r"\s*").match(text, span.end))
        if not whole:
            return 0.8
        if not set(_stem(asked)).isdisjoint(_stem(whole)):
            return 1.0
        if not sims:
            return 0.6
        # the asked phrase's last word is its head ("the country's people")
        sim = float(self._max_sims(asked[-1:], whole).max())
        return 0.3 + 0.7 * min(1.0, max(0.0, (sim - 0.3) / 0.35))

    def _terms_of_names(self, sid: int) -> frozenset[str]:
        """Stems of the names in a sentence."""
        return frozenset(t for x in self._sentence_names(sid) for t in analyze(x.text))

    @staticmethod
    def _named_modifiers(q: _Query) -> list[str]:
        """Stems of the capitalised words qualifying what the question counts ("How many
        Haitian police recruits" -> ['haitian'])."""
        return [
            st
            for w, st in q.focus[:-1]
            if re.search(rf"\b{re.escape(w[:1].upper() + w[1:])}\b", q.text)
        ]

    def _unit_match(self, sid: int, span: sp.Span, q: _Query, sims: bool) -> float:
        if _HOW_LONG.search(q.lowered):  # "how long …" asks for a length of time
            return 1.0 if sp.is_duration(span.text) else 0.1
        if not q.focus:
            return 0.5
        head_w, head = q.focus[-1]
        if head_w in _RATIO_WORDS or q.kind in (qt.PERCENT, qt.MONEY):
            # "what share …", "how much money …": the figure's own sign is its unit
            if head_w in _RATIO_WORDS and _fits_unit(qt.PERCENT, span.text):
                return self._ratio_of(sid, span, q, sims)
            if q.kind == qt.MONEY and _fits_unit(qt.MONEY, span.text):
                return 1.0
        aw, bw = self._unit_words(sid, span)
        heads = {head} | self._variants(head)
        a_st = set(_stem(aw)) if aw else set()
        if a_st & heads:
            # the question's modifiers ("gang members", "Jamaican officers") should be there too
            near = a_st | (set(_stem(bw)) if bw else set())
            mods = [st for _, st in q.focus[:-1] if not st.isdigit()]
            lost = [
                m for m in mods if m not in near and q.variants.get(m, frozenset()).isdisjoint(near)
            ]
            return 0.5 if lost else 1.0
        if bw and set(_stem(bw)) & heads:
            return 0.6  # "Kenya has provided 735 …" for "how many Kenyans"
        if not heads.isdisjoint(self.terms(sid)):
            return 0.0  # the sentence counts the question's thing elsewhere, not with this figure
        mod_set = {st for _, st in q.focus[:-1]}
        got = 0.0
        if a_st & mod_set:
            got = max(got, 0.6)
        if sims and aw:
            sim = float(self._max_sims([head_w], aw)[0])
            got = max(got, min(0.9, max(0.0, (sim - 0.3) / 0.35)))
            if len(q.focus) > 1:
                # a modifier close to the figure's noun: "death toll" against "2,680 dead"
                named = set(self._named_modifiers(q))
                mods = [w for w, st in q.focus[:-1] if not st.isdigit() and st not in named]
                msim = float(self._max_sims(mods, aw).max()) if mods else 0.0
                got = max(got, min(0.7, max(0.0, (msim - 0.4) / 0.35)))
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
            weight = self.idf(t)
            if t in self._frame:
                weight *= 0.2
            elif head_term and t == head_term[0]:
                weight *= 0.5
            weights[t] = max(weights.get(t, 0.0), weight)
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
                or (w.lower() in _ORDINALS and not _TIME_AFTER.match(info.text, m.end()))
                or (
                    n > 0
                    and w[0].isupper()
                    and w.lower() not in STOPWORDS
                    and w.lower() not in sp.TITLE_WORDS  # "Prime Minister" is not a name
                )
            )
            if specific:
                constraints.update(t for t in analyze(w) if t in weights)
        ref = _ARTICLE_REF.search(info.text)
        if ref is not None:
            rest = set(analyze(info.text[: ref.start()] + info.text[ref.end() :]))
            for t in set(analyze(ref.group(0))) - rest:
                if t in weights:
                    weights[t] *= 0.2
                constraints.discard(t)
        content: list[tuple[str, str, float]] = []
        for w in words(info.text):
            if w in STOPWORDS or w[:1].isdigit():
                continue
            st = _stem([w])[0]
            if st in weights and st not in {c[1] for c in content}:
                content.append((w, st, weights[st]))
        focus = [(w, _stem([w])[0]) for w in qt.focus_words(info.text, STOPWORDS)]
        role = self._role(info)
        # the words naming what is asked for ("Which TV channel …") are not constraints
        constraints -= {st for _, st in focus}
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
            content,
            focus,
            # "Who is the commander of …": the role stands for the missing verb
            frozenset(_stem(qt.predicate_words(info.text, STOPWORDS)) or ([role] if role else [])),
            text=info.text,
            owner=self._owner(info),
            role=role,
            share_of=_of_words(info.text, _RATIO_OF.search(info.text)),
            name_kind=qt.named_kind(info.text),
            acronyms=frozenset(a.lower() for a in _ACRONYM_WORD.findall(info.text)),
            events=tuple(p for p in _EVENT_KINDS if p.search(info.text))
            if info.answer_type in _FIGURE_TYPES
            else (),
            # "he" in "What did he say …" is the person the previous answer named
            person=frozenset(analyze(info.referent)),
        )

    @staticmethod
    def _role(info: QuestionInfo) -> str:
        """'commander' for "Who is the commander of the Kenyan contingent?"."""
        if info.answer_type != qt.PERSON:
            return ""
        m = _WHO_ROLE.match(info.text)
        return _stem([m.group(1).lower()])[0] if m else ""

    @staticmethod
    def _owner(info: QuestionInfo) -> frozenset[str]:
        """The name a figure question asks the figure of: "How many officers has Canada
        deployed?" -> Canada (not a speaker: "did Ruto say …")."""
        if info.answer_type not in _FIGURE_TYPES:
            return frozenset()
        m = _OWNER.search(info.text) or _MEASURE_OF.search(info.text)
        if m is None or _SPEECH.match(info.text[m.end() :].lstrip()):
            return frozenset()
        return frozenset(analyze(m.group(1)))

    # -- reading ------------------------------------------------------------------------------
    @property
    def passages(self) -> int:
        """How many top passages the reader reads."""
        return self.settings.passages

    def prepare(self) -> None:
        """Work done once before the first question (the corpus's names)."""
        self.known_names()

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
        anchor = self._anchor(info, sids)
        if self.embedder is not None and q.focus and q.kind in _FIGURE_TYPES:
            ws = [w for w, _ in q.focus]
            for sid in sids:
                for span in self._typed_spans(sid, q.kind):
                    ws.extend(self._unit_words(sid, span)[0])
            self._ensure_vectors(ws)
        dense = self.index.sentence_vectors[sids] @ qv
        clause = self._clause_sims(sids, qv, dense)
        cands: list[Candidate] = []
        for sid, d, cl in zip(sids, dense, clause, strict=True):
            sent = self.index.sentences[sid]
            a = self._analysis(sid)
            ctx = self._ctx_terms(sid)
            own = self._own_terms(sid)
            lexical = q.cover(own)
            context = q.cover(ctx)
            bigram = len(q.bigrams & a.bigrams) / len(q.bigrams) if q.bigrams else 0.0
            unmet = [t for t in q.constraints if t not in ctx]
            if q.person:
                # the question's "he" must be the one the sentence is about, not someone the
                # sentence before met
                unmet.extend(t for t in q.person if t not in own and t not in unmet)
            if unmet:
                # "The President noted …" names Ruto in an article about President Ruto
                # (not when the question says "President" itself: then it may be another's)
                titles = ctx - q.weights.keys()
                unmet = [t for t in unmet if not self._titled(sent.article_id, titles, t)]
            missing = max((self.idf(t) / self._idf_max for t in unmet), default=0.0)
            c = Candidate(
                sid,
                dense=float(d),
                clause=float(cl),
                passage=passage_score[sid],
                lexical=lexical,
                context=context,
                bigram=bigram,
                missing=missing,
                absent=self._absent(sent.article_id, q) if missing else 0.0,
                # "It caused the most property damage …": what "it" is, is in the sentence
                # before, so for ranking the question's words there count as its own
                anaphoric=bool(_ANAPHORIC_OPENING.match(sent.text)) and self._prev(sid) >= 0,
            )
            if anchor >= 0 and sent.article_id == self.index.sentences[anchor].article_id:
                c.follow = 1.0 if abs(sid - anchor) <= _FOLLOW_NEAR else 0.5
            c.soft, c.typed, c.local = c.context, 0.5, c.lexical
            c.score = self._score(c)  # without the costlier features: a first cut
            cands.append(c)
        if len(cands) > s.full_pool:
            cands.sort(key=lambda c: -c.score)
            del cands[int(s.full_pool) :]
        for c in cands:
            prev = self._prev(c.sid)
            self._type_feature(c, q, prev)
            self._soft(c, q, prev, sims=False)
            c.score = self._score(c)
        cands.sort(key=lambda c: -c.score)
        if self.embedder is not None and s.soft_pool:
            # close words (MiniLM similarity of single words) for the best few sentences
            top = cands[: s.soft_pool]
            ws = [w for w, _, _ in q.content]
            for c in top:
                ws.extend(self._ctx_words(c.sid))
            self._ensure_vectors(ws)
            for c in top:
                self._soft(c, q, self._prev(c.sid), sims=True)
                if c.short is not None and c.short_sid >= 0 and q.kind in _FIGURE_TYPES:
                    c.unit = self._unit(c.short_sid, c.short, q, sims=True)
                c.score = self._score(c)
            cands.sort(key=lambda c: -c.score)
        if q.kind not in _TYPED and q.kind not in (qt.REASON, qt.LIST):
            for c in cands[:3]:
                c.short = self._short_answer(c.sid, q)
                c.short_sid = c.sid if c.short is not None else -1
                if q.needs_name:
                    # "What is the name of the successor force?": only a name answers it, not
                    # "the mandate of this force"
                    c.noname = c.short is None
                    c.score = self._score(c)
            if q.needs_name:
                cands[:3] = sorted(cands[:3], key=lambda c: -c.score)
        self._last_query = (info, q)
        return cands

    def _anchor(self, info: QuestionInfo, sids: list[int]) -> int:
        """For a follow-up, the sentence among ``sids`` that best matches the question it
        follows up on (by its words), where the conversation was; -1 when there is none."""
        if not info.previous:
            return -1
        prev = self._query(
            QuestionInfo(info.previous, info.previous, qt.answer_type(info.previous))
        )
        best, got = -1, 0.0
        for sid in sids:
            cover = prev.cover(self._analysis(sid).terms)
            if cover > got:
                best, got = sid, cover
        return best if got >= _ANCHOR_COVER else -1

    def _titled(self, article_id: str, near: frozenset[str], term: str) -> bool:
        """Whether a title in ``near`` ("the President") stands for a name holding ``term``:
        the name the article most often writes after that title ("President William Ruto")."""
        titles = self._article_titles.get(article_id)
        if titles is None:
            counts: dict[str, Counter[str]] = {}
            first, last = self.index.article_slices(self.index.article_pos[article_id])[0]
            for sid in range(first, last):
                for title, name in sp.titled_names(self.index.sentences[sid].text):
                    # "President William Ruto" and "President Ruto" are one person
                    counts.setdefault(_stem([title])[0], Counter())[name.split()[-1]] += 1
            titles = {}
            for title, names in counts.items():
                ranked = names.most_common(2)
                if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
                    titles[title] = frozenset(analyze(ranked[0][0]))
            if len(self._article_titles) >= _ARTICLE_CACHE:
                self._article_titles.clear()
            self._article_titles[article_id] = titles
        return any(term in names for title, names in titles.items() if title in near)

    def _absent(self, article_id: str, q: _Query) -> float:
        """The rarest name or figure of the question that the article never mentions (a question
        about Canada's pledge, read in an article that does not name Canada)."""
        terms = self._article_terms.get(article_id)
        if terms is None:
            first, last = self.index.article_slices(self.index.article_pos[article_id])[0]
            terms = self.title_terms(article_id).union(
                *(self.terms(sid) for sid in range(first, last))
            )
            if len(self._article_terms) >= _ARTICLE_CACHE:
                self._article_terms.clear()
            self._article_terms[article_id] = terms
        return max(
            (
                self.idf(t) / self._idf_max
                for t in q.constraints
                if t not in terms
                and t not in _ORDINALS  # "last year" against "the past year"
                and q.variants.get(t, frozenset()).isdisjoint(terms)
            ),
            default=0.0,
        )

    def _clause_sims(self, sids: list[int], qv: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """For each sentence, its best clause's similarity to the question (at least the
        sentence's own); the sentence's when the index stores no clauses."""
        span, vecs = self.index.clause_span, self.index.clause_vectors
        if span is None or vecs is None:
            return np.asarray(dense, dtype=np.float32)
        ranges = span[sids]
        counts = ranges[:, 1] - ranges[:, 0]
        if not counts.any():
            return np.asarray(dense, dtype=np.float32)
        rows = np.concatenate([np.arange(a, b) for a, b in ranges])
        sims = vecs[rows] @ qv
        owner = np.repeat(np.arange(len(sids)), counts)
        best = np.full(len(sids), -1.0, dtype=np.float32)
        np.maximum.at(best, owner, sims)
        out: np.ndarray = np.maximum(best, dense).astype(np.float32)
        return out

    def _score(self, c: Candidate) -> float:
        s = self.settings
        return (
            s.w_dense * c.dense
            + s.w_clause * c.clause
            + s.w_passage * c.passage
            + s.w_lexical * (max(c.lexical, c.context) if c.anaphoric else c.lexical)
            + s.w_context * c.context
            + s.w_type * c.typed
            + s.w_bigram * c.bigram
            + s.w_local * c.local
            - s.w_missing * c.missing
            + s.w_soft * c.soft
            - s.w_gap * c.gap
            + s.w_unit * (c.unit - 0.5)
            - s.w_far * c.far
            + s.w_follow * c.follow
        )

    def _next(self, sid: int) -> int:
        """The following sentence of the same article, or -1."""
        sents = self.index.sentences
        if sid + 1 < len(sents) and sents[sid + 1].article_id == sents[sid].article_id:
            return sid + 1
        return -1

    def _prev(self, sid: int) -> int:
        sent = self.index.sentences[sid]
        if sid > 0 and self.index.sentences[sid - 1].article_id == sent.article_id:
            return sid - 1
        return -1

    def _persons(self, sid: int) -> list[str]:
        """The people a sentence names, without their titles, in order ("Dr Conille echoed
        President Ruto’s call" -> ['Conille', 'Ruto'])."""
        text = self.index.sentences[sid].text
        known = self.known_names()
        out = []
        for span in sp.names(text):
            if sp.classify_name(text, span, known) == qt.PERSON:
                toks = span.text.split()
                out.append(" ".join(toks[sp.after_title(toks) :]))
        return out

    def _referent(self, sid: int) -> str:
        """Who "he" or "she" is in a sentence that names no person: the first person the
        sentence before names, or the one named just before a chain of sentences about
        "he"/"she" ("Dr Conille echoed …" / "He emphasised …" / "“…,” he said." -> 'Conille');
        "" when there is none within ``_REFERENT_BACK`` sentences (cached)."""
        got = self._referents.get(sid)
        if got is not None:
            return got
        got = ""
        if qt.PERSON_PRONOUN.search(self.index.sentences[sid].text) and not self._persons(sid):
            at = self._prev(sid)
            for _ in range(_REFERENT_BACK):
                if at < 0:
                    break
                named = self._persons(at)
                if named:
                    got = named[0]
                    break
                if not qt.PERSON_PRONOUN.search(self.index.sentences[at].text):
                    break  # the chain of sentences about "he" is broken
                at = self._prev(at)
        if len(self._referents) < _WORD_CACHE_MAX:
            self._referents[sid] = got
        return got

    def _full_names(self, article_id: str) -> dict[str, frozenset[str]]:
        """For each surname in an article, the terms of every form of the person's name it
        writes ('conille' -> garry, conille): "Dr Conille" is "Prime Minister Garry Conille"."""
        got = self._article_people.get(article_id)
        if got is None:
            forms: dict[str, set[str]] = {}
            first, last = self.index.article_slices(self.index.article_pos[article_id])[0]
            for sid in range(first, last):
                for name in self._persons(sid):
                    terms = analyze(name)
                    if terms:
                        forms.setdefault(terms[-1], set()).update(terms)
            got = {k: frozenset(v) for k, v in forms.items()}
            if len(self._article_people) >= _ARTICLE_CACHE:
                self._article_people.clear()
            self._article_people[article_id] = got
        return got

    def _own_terms(self, sid: int) -> frozenset[str]:
        """A sentence's terms with the full names of the people it is about: those it names
        and who its "he" or "she" is (see :meth:`_referent`; cached). "“…,” he said." says
        what the person named before said, so that person's names count as its own."""
        got = self._people.get(sid)
        if got is not None:
            return got
        people = self._persons(sid)
        if who := self._referent(sid):
            people.append(who)
        out = set(self.terms(sid))
        if people:
            forms = self._full_names(self.index.sentences[sid].article_id)
            for name in people:
                terms = analyze(name)
                if terms:
                    out.update(forms.get(terms[-1], terms))
        got = frozenset(out)
        if len(self._people) < _WORD_CACHE_MAX:
            self._people[sid] = got
        return got

    def _ctx_terms(self, sid: int) -> frozenset[str]:
        """Terms of a sentence, the one before it, the full names of the people it is about
        (see :meth:`_own_terms`) and its article's title (cached)."""
        got = self._ctx_sets.get(sid)
        if got is None:
            prev = self._prev(sid)
            got = self._own_terms(sid) | self.title_terms(self.index.sentences[sid].article_id)
            if prev >= 0:
                got = got | self.terms(prev)
            if len(self._ctx_sets) < _WORD_CACHE_MAX:
                self._ctx_sets[sid] = got
        return got

    def _ctx_words(self, sid: int) -> list[str]:
        """Words of a sentence, the one before it and its article's title (cached)."""
        got = self._ctx_lists.get(sid)
        if got is None:
            got = list(self._analysis(sid).surface)
            prev = self._prev(sid)
            if prev >= 0:
                got.extend(self._analysis(prev).surface)
            got.extend(w for w in words(self._referent(sid)) if w not in STOPWORDS)
            title = self.index.article(self.index.sentences[sid].article_id).title
            got.extend(w for w in words(title) if w not in STOPWORDS)
            if len(self._ctx_lists) < _WORD_CACHE_MAX:
                self._ctx_lists[sid] = got
        return got

    def _soft(self, c: Candidate, q: _Query, prev: int, sims: bool) -> None:
        """Question coverage where a word also counts when the sentence (or the one before, or
        the title) has the same stem, a derived form, or — with ``sims`` — a close word."""
        if not q.content:
            c.soft, c.gap = c.context, 0.0
            return
        ctx = self._ctx_terms(c.sid)
        match = [0.0] * len(q.content)  # plain floats: these lists are a handful long
        todo = []
        for i, (_, st, _) in enumerate(q.content):
            if st in ctx:
                match[i] = 1.0
            elif not q.variants.get(st, frozenset()).isdisjoint(ctx):
                match[i] = 0.8
            else:
                todo.append(i)
        if sims and todo:
            got = self._max_sims([q.content[i][0] for i in todo], self._ctx_words(c.sid))
            for i, sim in zip(todo, got, strict=True):
                match[i] = min(0.85, max(0.0, (float(sim) - 0.3) / 0.4))
        c.pred = min(
            (m for (_, st, _), m in zip(q.content, match, strict=True) if st in q.pred),
            default=1.0,
        )
        wts = [w for _, _, w in q.content]
        c.soft = sum(w * m for w, m in zip(wts, match, strict=True)) / max(sum(wts), 1e-9)
        c.gap = max(w * (1.0 - m) for w, m in zip(wts, match, strict=True)) / self._idf_max

    def answerability(self, c: Candidate) -> float:
        s = self.settings
        return (
            s.a_context * c.context
            + s.a_dense * c.dense
            + s.a_clause * c.clause
            + s.a_type * c.typed
            + s.a_local * c.local
            - s.a_missing * c.missing
            - s.a_absent * c.absent
            + s.a_soft * c.soft
            - s.a_gap * c.gap
            + s.a_unit * (c.unit - 0.5)
            - s.a_far * c.far
            - (s.a_noname if c.noname else 0.0)
            - s.a_pred * (1.0 - c.pred)
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
            and self._refers_back(self.index.sentences[c.sid].text, q)
        ):
            # "…,” he said. / "The organization urged …" — the name is in the sentence before
            short, where = self._short_answer(prev, q), prev
        elif short is None and kind == qt.REASON:
            # "Kenya is threatening to withdraw. Ruto has expressed frustration with …": the
            # sentence restating what is asked is followed by the reason
            nxt = self._next(c.sid)
            if nxt >= 0:
                short, where = self._short_answer(nxt, q), nxt
        c.short, c.short_sid = short, where if short is not None else -1
        if short is not None:
            c.local = self._local(where, short, q) if where == c.sid else c.lexical
        else:
            c.local = 0.0
        if kind in _FIGURE_TYPES:
            c.unit = 0.0 if short is None else self._unit(where, short, q)
        if short is not None and where == c.sid and q.constraints and kind in _FIGURE_TYPES:
            c.far = self._far(c.sid, short, q)
        if kind in _TYPED:
            c.typed = 0.0 if short is None else (1.0 if where == c.sid else 0.7)
            if short is not None and q.events and not self._of_events(where, q):
                c.typed = 0.0  # a count, but of another kind of event
            if short is not None and not _fits_unit(kind, short.text):
                c.typed *= 0.5
            if short is not None and kind == qt.PLACE and not self._locative(where, short):
                c.typed *= 0.7  # "Haiti’s fight", "the mission (MSS)": not where something is
            c.typed *= 1.0 - 0.5 * c.far  # the figure is another name's ("Kenya has provided 735")
            if short is not None and kind in _FIGURE_TYPES and not self._owned(c.sid, q):
                # "how many officers has Canada deployed" read in "989 officers from six
                # countries": a figure, but not Canada's (its unit counts less too: _unit)
                c.typed *= 0.5
            if short is not None and kind == qt.PERSON and short.kind == "role":
                c.typed = 0.0 if q.needs_name else 0.6
            unroled = bool(q.role) and not self._has_role(c.sid, q)
            if short is not None and unroled:
                c.typed *= 0.5  # "Who is the commander of …": a name, but not said to be that
            c.noname = (q.needs_name and c.typed == 0.0) or unroled
        elif kind in (qt.REASON, qt.LIST):
            c.typed = 0.3 if short is None else (1.0 if where == c.sid else 0.7)
        else:
            c.typed = 0.5
            c.local = c.lexical

    def _of_events(self, sid: int, q: _Query) -> bool:
        """The sentence (or the one before) tells of a kind of event the question counts ("killed
        or injured": either)."""
        text = self.index.sentences[sid].text
        prev = self._prev(sid)
        if prev >= 0:
            text = self.index.sentences[prev].text + " " + text
        return any(p.search(text) for p in q.events)

    def _near_terms(self, sid: int) -> frozenset[str]:
        """Terms of the sentence and the one before it (not the title)."""
        prev = self._prev(sid)
        return self.terms(sid) | self.terms(prev) if prev >= 0 else self.terms(sid)

    def _has_role(self, sid: int, q: _Query) -> bool:
        """The sentence (or the one before) names the role the question asks for."""
        near = self._near_terms(sid)
        return q.role in near or not self._variants(q.role).isdisjoint(near)

    def _owned(self, sid: int, q: _Query) -> bool:
        """The question's owning name (if any) is in the sentence, the one before, or the
        title: an article about Victoria gives Victoria's figures."""
        if not q.owner:
            return True
        near = self._near_terms(sid)
        title = self.title_terms(self.index.sentences[sid].article_id)
        return all(
            t in near or t in title or not q.variants.get(t, frozenset()).isdisjoint(near)
            for t in q.owner
        )

    @staticmethod
    def _refers_back(text: str, q: _Query) -> bool:
        """The sentence names its subject with a pronoun or a definite description ("The
        organization", "the rights group") whose name is given earlier."""
        if _PRONOUN_SUBJECT.search(text):
            return True
        m = _DEFINITE_SUBJECT.match(text)
        if m is None:
            return False
        noun = m.group(1).lower()
        return noun in _ENTITY_NOUNS or _stem([noun])[0] in {st for _, st in q.focus}

    def _local(self, sid: int, short: sp.Span, q: _Query) -> float:
        """Question coverage within a few words of the short answer (its clause)."""
        a = self._analysis(sid)
        first = bisect.bisect_right(a.offsets, short.start) - 1
        last = bisect.bisect_left(a.offsets, short.end)
        w = self.settings.local_window
        near = {st for i, st in a.positions if first - w <= i <= last + w}
        return q.cover(near)

    def _far(self, sid: int, short: sp.Span, q: _Query) -> float:
        """A name or figure of the question that the sentence has, but only away from the short
        answer ("Kenya has provided 735 officers, with others from … Canada")."""
        a = self._analysis(sid)
        first = bisect.bisect_right(a.offsets, short.start) - 1
        last = bisect.bisect_left(a.offsets, short.end)
        w = self.settings.local_window
        near = {st for i, st in a.positions if first - w <= i <= last + w}
        away = [t for t in q.constraints if t in a.terms and t not in near]
        if not away:
            return 0.0
        # only when the figure belongs to another name ("Kenya has provided 735 …")
        text = self.index.sentences[sid].text
        before = [
            x
            for x in self._sentence_names(sid)
            if x.end <= short.start
            and short.start - x.end <= 25
            and not _CLAUSE_BREAK.search(text[x.end : short.start])
        ]
        if not before:
            return 0.0
        owner = set(analyze(before[-1].text)) | self._acronym_terms(before[-1].text)
        known = set(q.weights).union(*q.variants.values()) if q.variants else set(q.weights)
        if not owner or owner & known:
            return 0.0
        return max(self.idf(t) / self._idf_max for t in away)

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
            aligned = self._verb_places(text, q) if kind == qt.PLACE and q.pred else []
            found = found + aligned
        elif q.needs_name:
            # "What is the name of the stadium …": a name, not any phrase; and for "the name of
            # the successor force", not one said to be a person's or a place's
            known = self.known_names()
            found = [
                sp.Span(n.start, n.end, kind, n.text)
                for n in sp.names(text)
                if not q.name_kind or sp.said_kind(text, n, known) in (None, q.name_kind)
            ]
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
            if kind in _TYPED and " ".join(words(c.text)) in q.lowered:
                continue
            if (kind in _NAMED or q.needs_name) and not q.acronyms.isdisjoint(sp.acronyms(text, c)):
                continue  # "the Multinational Security Support Mission (MSS)" when asked of the MSS
            if kind == qt.PERCENT and sp.is_fraction(c.text) and sp.PERCENT_WORD.search(q.text):
                continue  # "what percentage …" is answered by a percentage, not "a quarter"
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
                if q.focus:
                    bonus += 0.6 * self._unit(sid, c, q, sims=True)
                else:
                    after = set(analyze(text[c.end : c.end + 30])[:2])
                    bonus += 0.3 if after & set(qset) else 0.0
                if c.kind == qt.NUMBER and re.search(r"\d", c.text) is None and n_words == 1:
                    bonus -= 0.05
            if kind == qt.PERSON and c.kind == "role":
                bonus -= 0.2
            if kind in _NAMED and q.focus and q.focus[-1][1] in _stem(words(text[: c.start])[-1:]):
                bonus += 0.3  # "which Secretary-General" -> "Secretary-General António Guterres"
            if kind == qt.PLACE:
                # where the question's verb happens; an owner ("Haiti’s") is no place
                bonus += 0.3 if c in aligned else (-0.2 if re.search(r"['’]s$", c.text) else 0.0)
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
        if base is None or best.local < _CONFLICT_LOCAL:
            return []  # a disagreement needs the question's words around both figures
        q = self._query(info)
        focus = self._unit_terms(best) | {t for t in self._unit_terms(best, 3) if t in q.weights}
        per_article: dict[str, Candidate] = {}
        best_art = self.index.sentences[best.sid].article_id
        for c in cands[1:20]:
            if c.short is None or c.short_sid != c.sid:
                continue
            if c.score < self.settings.conflict_margin * best.score:
                break
            if c.local < _CONFLICT_LOCAL or c.context < 0.6 * best.context:
                continue
            c_art = self.index.sentences[c.sid].article_id
            if c_art == best_art:
                continue
            value = parse_figure(c.short.text)
            if value is None or math.isclose(value, base, rel_tol=1e-9):
                continue
            if any(_fits_unit(k, c.short.text) != _fits_unit(k, best.short.text) for k in _SIGNED):
                continue  # a share or a sum of money against a count
            if focus and not (focus & self._unit_terms(c, 3)) and c.unit < 0.5:
                continue
            if q.focus and c.unit < 0.5:
                continue  # the figure counts something else
            best_q = self._qualifiers(best.sid, best.short)
            c_q = self._qualifiers(c.sid, c.short)
            if ("+" in c_q) != ("+" in best_q) or self._extra_qualifiers(
                c.sid, c.short, q
            ) - best_q:
                continue  # "another 600", "Kenya's 735": not the same total
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

    def _unit_terms(self, c: Candidate, n: int = 2) -> set[str]:
        """Stems of the first ``n`` content words the figure counts ('989 officers' ->
        {'offic'})."""
        assert c.short is not None
        return set(_stem(self._unit_words(c.short_sid, c.short)[0][:n]))

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
        if c.short_sid == sid + 1:  # the reason given in the next sentence
            end = self.index.sentences[sid + 1].end
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

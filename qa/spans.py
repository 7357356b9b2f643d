"""Short-answer candidates inside a sentence: figures, dates, names, places and phrases.

Every candidate is an exact ``(start, end)`` span of the sentence text, so the short answer is
always verbatim. Types come from the surface of the text (numbers, calendar words, capitalised
names and the words around them); there is no trained tagger.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qa import questions as qt
from qa.text import STOPWORDS, words

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
# words that open a date, not a name ("May" and the short forms can be names: Theresa May, Jan)
_MONTH_SET = frozenset(_MONTHS.split("|")[:12]) - {"May"}
_DAY_SET = frozenset(_DAYS.split("|"))
_NUMWORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|hundred|thousand|dozens?|hundreds|thousands|millions|a (?:thousand|hundred|"
    r"million|dozen)|half)"
)
_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|hundred|m|bn|k)\b)?"
_NUMBER = re.compile(
    r"(?:(?:about|around|nearly|almost|approximately|roughly|some|over|more than|less than|"
    r"fewer than|at least|at most|up to|only|just|another)\s+)?"
    r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?"
    + _SCALE
    + r"|\d[\d,]*(?:\.\d+)?"
    + _SCALE
    + r"(?:\s?(?:%|percent\b|per cent\b))?|\b"
    + _NUMWORD
    + r"\b(?:\s(?:of\s)?(?:"  # "hundreds of thousands"
    + _NUMWORD
    + r")\b)*)",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:(?:"
    + _DAYS
    + r"),?\s+)?(?:(?:"
    + _MONTHS
    + r")\.?\s+\d{1,2}(?:st|nd|rd|th)?\b(?!,?\d)(?:,?\s+\d{4}\b)?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:" + _MONTHS + r")\b(?:,?\s+\d{4}\b)?"
    r"|(?:" + _MONTHS + r")\.?,?\s+\d{4}\b"
    r"|(?:" + _MONTHS + r")\b"
    r"|(?:" + _DAYS + r")\b"
    r"|(?:early|mid|late)[- ](?:1[5-9]|20)\d\ds?|(?:1[5-9]|20)\d\d[-–]\d{2,4}|(?:1[5-9]|20)\d\ds?\b"
    r"|(?:next|last|this) (?:week|month|year)|(?:in )?the coming (?:days|weeks|months)"
    r"|(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) "
    r"(?:days|weeks|months|years)"
    r"|(?:the )?(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|"
    r"ninth|tenth|eleventh|twelfth|\w+teenth|\w+tieth)"
    r"(?: (?:and|or|to) (?:the )?\d{1,2}(?:st|nd|rd|th))? centur(?:y|ies))",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"(?<![\w’'])(?:[A-Z][\w’'\-.]*|[A-Z]{2,})(?:\s+(?:(?:of|de|du|la|van|von|bin|al|and|the)\s+)?"
    # an acronym inside a name: "the Multinational Security Support (MSS) Mission"
    r"(?:[A-Z][\w’'\-.]*|\d+|\([A-Z][A-Z0-9&]{1,7}\)(?=\s+[A-Z])))*"
)
_ACRONYM = re.compile(r"\(([A-Z][A-Z0-9&]{1,7})\)")
_NAME_LINKS = frozenset(("of", "de", "du", "la", "van", "von", "bin", "al", "and", "the"))
_TITLES = frozenset(
    [
        "president",
        "prime",
        "minister",
        "secretary-general",
        "secretary",
        "general",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "chancellor",
        "governor",
        "senator",
        "king",
        "queen",
        "prince",
        "princess",
        "ambassador",
        "envoy",
        "commissioner",
        "director",
        "chief",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "pope",
        "bishop",
        "duke",
        "earl",
        "lord",
        "sir",
        "judge",
        "chairman",
        "chairwoman",
        "leader",
        "head",
        "commander",
        "founder",
        "ceo",
        "mayor",
        "captain",
        "colonel",
        "master",
    ]
)
TITLE_WORDS = _TITLES

_PLACE_PREP = frozenset(
    [
        "in",
        "at",
        "from",
        "to",
        "into",
        "near",
        "across",
        "outside",
        "inside",
        "throughout",
        "toward",
        "towards",
    ]
)
_PERSON_VERBS = re.compile(
    r"^\s*(?:,\s*)?(?:said|says|told|wrote|added|noted|argued|stated|announced|urged|warned|"
    r"explained|emphasi[sz]ed|acknowledged|called|described|commended|echoed)\b"
)
_NOT_NAMES = frozenset(
    [
        *(_MONTHS + "|" + _DAYS).lower().split("|"),
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "he",
        "she",
        "they",
        "we",
        "i",
        "but",
        "however",
        "while",
        "despite",
    ]
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    text: str


def _clean(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " ,;:-–—(\"'“‘":
        start += 1
    while end > start and text[end - 1] in " ,;:.-–—)\"'”’":
        end -= 1
    # keep a closing bracket or quote that has its opener inside the span
    return start, end


def numbers(text: str) -> list[Span]:
    out = []
    for m in _NUMBER.finditer(text):
        s, e = _clean(text, m.start(), m.end())
        frag = text[s:e]
        if not any(c.isdigit() for c in frag) and not re.search(_NUMWORD, frag, re.IGNORECASE):
            continue
        if re.fullmatch(r"\d{4}", frag.strip()) and 1500 < int(frag) < 2100:
            unit = re.match(r"\s+([a-z]+)", text[e:])
            det = re.search(
                r"\b(?:the|this|that|its|their|his|her|a|an|by|in|since|until)\s+$", text[:s], re.I
            )
            if unit is None or unit.group(1) in STOPWORDS or det:
                continue  # a year ("in 2000", "the 2014 elections"; not "2000 kilometres")
        out.append(Span(s, e, qt.NUMBER, frag))
    return out


# a share given as a fraction: "half", "two-thirds", "a quarter", "one in five"
_FRACTION = re.compile(
    r"\b(?:(?:about|nearly|almost|roughly|more than|less than|over|some|at least)\s+)?"
    r"(?:half|(?:a|one|two)[- ]thirds?|(?:a|one|three)[- ]quarters?|(?:a|one|two|three|four)"
    r"[- ]fifths?|(?:one|two|three|four|five|nine|\d+) (?:in|out of) (?:\w+))\b",
    re.IGNORECASE,
)


def fractions(text: str) -> list[Span]:
    """Shares given as fractions ("Half the population", "one in five Haitians")."""
    return [Span(m.start(), m.end(), qt.NUMBER, m.group(0)) for m in _FRACTION.finditer(text)]


def is_fraction(text: str) -> bool:
    """A share given only as a fraction ("half", "a quarter"), not as a percentage."""
    return bool(_FRACTION.fullmatch(text.strip()))


# a percentage, or a question asking for one: "40%", "90 percent", "what percentage"
PERCENT_WORD = re.compile(r"%|per ?cent", re.IGNORECASE)


def is_share(text: str) -> bool:
    """A percentage or a fraction: "40%", "90 percent", "half", "one in five"."""
    return bool(PERCENT_WORD.search(text) or _FRACTION.search(text))


def _overlaps(span: Span, others: list[Span]) -> bool:
    return any(span.start < o.end and o.start < span.end for o in others)


_DURATION = re.compile(
    r"\b(?:another|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"several|a few|\d+(?:\.\d+)?)\s+(?:more\s+|additional\s+|full\s+)?"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centuries)\b",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r"\b(?:(?:the|a|an|its|his|her|their|one|two|three|four|five|several)\s+)?"
    r"(?:(?:former|current|then|new|acting|deputy|vice|[A-Z][a-z]+)\s+)*"
    r"(?:head|heads|leader|leaders|president|chief|chairman|director|commander|envoy|"
    r"spokesman|spokeswoman|spokesperson|minister|officials?|members?)"
    r"\s+of\s+(?:the\s+)?(?:state|[A-Z][\w’'\-]*(?:\s+(?:of\s+)?[A-Z][\w’'\-]*)*)"
)


def durations(text: str) -> list[Span]:
    """Lengths of time: 'another year', '11 days', 'several months'."""
    return [Span(m.start(), m.end(), qt.NUMBER, m.group(0)) for m in _DURATION.finditer(text)]


def is_duration(text: str) -> bool:
    """'another year', '11 days': a length of time."""
    return _DURATION.fullmatch(text.strip()) is not None


def roles(text: str) -> list[Span]:
    """Role descriptions that answer a 'who' question without a name ('the head of X')."""
    return [Span(m.start(), m.end(), "role", m.group(0)) for m in _ROLE.finditer(text)]


def dates(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), qt.DATE, m.group(0)) for m in _DATE.finditer(text)]


# a capitalised preposition opening a sentence is not part of the name after it
_LEAD_PREPS = frozenset(
    "in on at by for from with after before during since under into to of as".split()
)


def names(text: str) -> list[Span]:
    out = []
    for m in _NAME.finditer(text):
        s, e = m.start(), m.end()
        frag = text[s:e]
        # drop a leading title word ("President William Ruto" -> keep both forms)
        toks = frag.split()
        while toks and toks[-1].lower() in ("of", "de", "and", "the"):
            toks.pop()
        while len(toks) > 1 and (toks[0].lower() in _LEAD_PREPS or toks[0] == "the"):
            # "In 1854 at Ballarat", "By Friday", "At the UN General Assembly"
            s = text.index(toks[1], s + len(toks[0]))
            toks.pop(0)
        if not toks or not toks[0][:1].isupper():
            continue
        if toks[-1].endswith(".") and "." not in toks[-1][:-1] and len(toks[-1]) > 3:
            toks[-1] = toks[-1][:-1]  # "… and Canada." ends the sentence; "U.S." keeps its dot
        frag = " ".join(toks)
        e = s + len(frag)
        if frag.lower() in _NOT_NAMES or frag.lower() in STOPWORDS:
            continue
        if _DATE.fullmatch(frag) or toks[0].rstrip(".,") in _MONTH_SET | _DAY_SET:
            continue  # "June 25", "Monday": dates, not names
        out.append(Span(s, e, "name", text[s:e]))
        if " and " in frag and not _ORG_WORD.search(frag):
            # "the United States and Canada": each of the two names too (not the parts of
            # "the Ministry of Defence and Foreign Affairs")
            at = s
            for piece in frag.split(" and "):
                at = text.find(piece, at)
                if at < 0:
                    break
                if piece.lower() not in _NOT_NAMES:
                    out.append(Span(at, at + len(piece), "name", piece))
                at += len(piece)
        k = after_title(toks)
        if k > 0:
            # "President William Ruto", "Dominican President Luis Abinader": the name after the
            # title is a name of its own
            inner = text.index(toks[k], text.index(toks[k - 1], s) + len(toks[k - 1]))
            if not _ORG_WORD.search(text[inner:e]):  # not "Assembly" of "General Assembly"
                out.append(Span(inner, e, "name", text[inner:e]))
    return out


def acronyms(text: str, span: Span) -> frozenset[str]:
    """The acronyms (lower-cased) a name in ``text`` goes by: its initials, one written inside
    it ("Multinational Security Support (MSS) Mission") or just after it ("Human Rights Watch
    (HRW)")."""
    found = {m.group(1).lower() for m in _ACRONYM.finditer(span.text)}
    after = _ACRONYM.match(text, span.end + 1) if text[span.end : span.end + 1] == " " else None
    if after is not None:
        found.add(after.group(1).lower())
    toks = [t for t in span.text.split() if t[:1].isupper() and t.lower() not in _NAME_LINKS]
    if len(toks) >= 2:
        found.add("".join(t[0] for t in toks).lower())
    return frozenset(found)


def titled_names(text: str) -> list[tuple[str, str]]:
    """(title word, name) for each name written after a title: "Dominican President Luis
    Abinader" -> ('president', 'Luis Abinader')."""
    out = []
    for m in _NAME.finditer(text):
        toks = m.group(0).split()
        k = after_title(toks)
        if k > 0 and not _ORG_WORD.search(" ".join(toks[k:])):
            out.append((toks[k - 1].lower().rstrip("."), " ".join(toks[k:]).rstrip(".,")))
    return out


def after_title(toks: list[str]) -> int:
    """The index of the first word after the last title word of a capitalised run ("Haiti
    Prime Minister Garry Conille" -> 3); 0 when no title word precedes the run's last word."""
    k = 0
    for i, tok in enumerate(toks[:-1]):
        if tok.lower().rstrip(".") in _TITLES and toks[i + 1].lower().rstrip(".") not in _TITLES:
            k = i + 1
    return k


# words that make a name a body, not a person or place
_ORG_WORD = re.compile(
    r"\b(?:council|nations|police|mission|organi[sz]ation|assembly|watch|network|agency|bank|"
    r"university|ministry|committee|party|army|force|house|academy|group|association|union|court|"
    r"institute|foundation|club|league|corporation|company|times|post|journal|herald|tribune|"
    r"gazette|news|press|broadcasting)",
    re.IGNORECASE,
)


def _prev_word(text: str, start: int) -> str:
    m = re.search(r"([\w’'\-]+)\W*$", text[:start])
    return m.group(1).lower() if m else ""


def _name_cue(text: str, span: Span) -> str | None:
    """person, place or org when the words around a name say so; None when they do not."""
    frag = span.text
    prev = _prev_word(text, span.start)
    if (re.fullmatch(r"[A-Z][A-Z0-9]{1,5}", frag) and re.search(r"\d", frag)) or (
        len(frag) >= 3 and frag.isupper() and frag.isalpha() and prev in ("the", "by", "from")
    ):
        return qt.ORG  # "the P5", "by HRW": an acronym of a body
    if _ORG_WORD.search(frag):
        return qt.ORG
    if (
        prev in _TITLES
        or frag.split()[0].lower().rstrip(".") in _TITLES
        or after_title(frag.split()) > 0
        or _PERSON_VERBS.match(text[span.end : span.end + 40])
    ):
        return qt.PERSON
    if prev in _PLACE_PREP:
        return qt.PLACE
    return None


def classify_name(text: str, span: Span, known: Mapping[str, str] | None = None) -> str:
    """person, place or org for a capitalised span: from the words around it, else from what
    the collection says of the same name elsewhere (``known``, see :func:`name_kinds`), else
    from its shape."""
    cue = _name_cue(text, span)
    if cue is not None:
        return cue
    if known and span.text in known:
        return known[span.text]
    if " and " in span.text:
        # "Bendigo and Geelong" is what each of them is
        last = span.text.rsplit(" and ", 1)[1]
        at = span.start + len(span.text) - len(last)
        return classify_name(text, Span(at, span.end, span.kind, last), known)
    toks = span.text.split()
    if len(toks) in (2, 3) and all(t[:1].isupper() and t[1:].islower() for t in toks):
        return qt.PERSON
    return qt.PLACE if len(toks) == 1 else qt.ORG


def said_kind(text: str, span: Span, known: Mapping[str, str] | None = None) -> str | None:
    """What the words around a name, or the collection's other mentions of it, say it is:
    person, place or org; None when nothing says (its shape alone does not: "Tarn Boatworks"
    looks like "Piet Vos")."""
    cue = _name_cue(text, span)
    if cue is None and known:
        cue = known.get(span.text)
    return cue


def name_kinds(texts: Iterable[str]) -> dict[str, str]:
    """What each name is across a collection, by the contexts that say so ("in Los Angeles"
    twice makes Los Angeles a place where a sentence gives no clue of its own)."""
    votes: dict[str, Counter[str]] = {}
    for text in texts:
        for span in names(text):
            cue = _name_cue(text, span)
            if cue is not None:
                votes.setdefault(span.text, Counter())[cue] += 1
    return {name: c.most_common(1)[0][0] for name, c in votes.items()}


# a part of a place named by its compass direction: "the south-east of Australia"
_DIRECTION = re.compile(
    r"\b(?:the\s+)?(?:north|south|east|west)(?:[\s-]?(?:east|west))?(?:ern)?(?=\s+of\s+[A-Z])"
    r"(?:\s+of\s+[A-Z][\w’'\-]*(?:\s+[A-Z][\w’'\-]*)*)?"
)


def candidates(text: str, kind: str, known: Mapping[str, str] | None = None) -> list[Span]:
    """Spans of ``text`` that could answer a question expecting ``kind`` (``known``: what
    the collection's names are, see :func:`name_kinds`)."""
    if kind in (qt.NUMBER, qt.MONEY, qt.PERCENT):
        spans = numbers(text)
        if kind == qt.MONEY:
            spans = [
                s
                for s in spans
                if re.search(r"[$€£]|dollar|shilling|euro", text[s.start : s.end + 10], re.I)
            ] or spans
        if kind == qt.PERCENT:
            parts = fractions(text)
            parts += [s for s in spans if is_share(s.text) and not _overlaps(s, parts)]
            spans = sorted(parts, key=lambda s: s.start) or spans
        return spans
    if kind == qt.DATE:
        return dates(text)
    if kind in (qt.PERSON, qt.PLACE, qt.ORG):
        found = (
            [Span(m.start(), m.end(), kind, m.group(0)) for m in _DIRECTION.finditer(text)]
            if kind == qt.PLACE
            else []
        )
        for s in names(text):
            k = classify_name(text, s, known)
            if (
                k == kind
                or (kind == qt.PERSON and k == qt.ORG)  # "who" can be a body
                # … or the agent of a passive: "it was shown by Ladner"
                or (kind in (qt.PERSON, qt.ORG) and _prev_word(text, s.start) == "by")
            ):
                found.append(Span(s.start, s.end, kind, s.text))
        return found
    return []


def phrase_candidates(text: str, question_terms: set[str]) -> list[Span]:
    """Runs of words that are not in the question, split at punctuation and clause words.

    For what/which/how questions the answer is usually such a run next to the words the
    question and the sentence share.
    """
    out = []
    breaks = re.compile(
        r"[,;:()“”\"—–]|\s-\s|\b(?:and|but|which|who|while|because|as|that|after|before|when|where|said|says)\b"
    )
    pos = 0
    pieces: list[tuple[int, int]] = []
    for m in breaks.finditer(text):
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, len(text)))
    for ps, pe in pieces:
        tokens = [
            (m.start() + ps, m.end() + ps, m.group(0))
            for m in re.finditer(r"[\w’'\-.$%]+", text[ps:pe])
        ]
        run: list[tuple[int, int, str]] = []
        for tok in [*tokens, (0, 0, "")]:
            w = tok[2].lower().strip(".")
            norm = words(w)
            in_q = bool(norm) and norm[0] in question_terms
            if tok[2] and not in_q:
                run.append(tok)
                continue
            while run and run[0][2].lower() in STOPWORDS:
                run.pop(0)
            while run and run[-1][2].lower() in STOPWORDS:
                run.pop()
            if run:
                s, e = _clean(text, run[0][0], run[-1][1])
                if s < e:
                    out.append(Span(s, e, qt.OTHER, text[s:e]))
            run = []
    return out


def enumerations(text: str) -> list[Span]:
    """Lists inside a sentence: what follows a colon, or 'A, B(,) and C' runs of short items."""
    out: list[Span] = []
    if ":" in text:
        colon = text.index(":") + 1
        end = len(text)
        close = text.find("”", colon)
        if close >= 0 and "“" not in text[colon:close]:
            end = close  # a quotation ends with the list: "… key sites: A, B and C,” he said.
        s, e = _clean(text, colon, end)
        if e - s > 3:
            out.append(Span(s, e, qt.LIST, text[s:e]))
    lead = re.compile(
        r"\b(?:such as|including|includes?|from|like|between|are|were|as|of|in|for|with|by|on)\s+([^;:()]{1,60})$"
    )
    for m in re.finditer(r"(?:,\s*|\s)(?:and|or)\s+", text):
        start, cur_end, n_items, caps = m.start(), m.start(), 1, True
        while True:
            c = text.rfind(",", 0, cur_end)
            seg = text[c + 1 : cur_end] if c >= 0 else text[:cur_end]
            lm = lead.search(seg)
            if lm:
                start = (c + 1 if c >= 0 else 0) + lm.start(1)
                caps = caps and text[start : start + 1].isupper()
                n_items += 1
                break
            if not seg.strip() or len(seg.split()) > 5 or re.search(r"[;:()“”\"]", seg):
                break
            start = c + 1 if c >= 0 else 0
            caps = caps and seg.strip()[:1].isupper()
            n_items += 1
            if c < 0:
                break
            cur_end = c
        # the last item ends at the clause ("… and financial resources to sustain …")
        tail = re.match(r"(?:(?!\s(?:to|which|that|who|so)\s)[^,;:.()—])+", text[m.end() :])
        if (n_items < 3 and not (n_items == 2 and caps)) or not tail:
            continue
        end = m.end() + tail.end()
        if caps:  # a list of names ends with the last capitalised run
            run = re.match(
                r"(?:(?:the|of|de|and)\s+)*[A-Z][\w’'\-]*(?:\s+[A-Z][\w’'\-]*)*", tail.group(0)
            )
            if run:
                end = m.end() + run.end()
        s_, e_ = _clean(text, start, end)
        if s_ < e_:
            out.append(Span(s_, e_, qt.LIST, text[s_:e_]))
    return out


_REASON = re.compile(
    # causal words: 'because …', 'due to …', 'citing …'
    r"\b(?:because(?: of)?|due to|owing to|as a result of|since|so that|in order to|citing|"
    r"after|amid|given)\b[^.;]*"
    # a feeling and its cause: 'frustration with …', 'concerns over …'
    r"|\b(?:frustration|frustrated|anger|angered|concerns?|dissatisfaction|disappointment|"
    r"disappointed|fears?)\s+(?:with|over|at|about|by)\b[^.;]*"
    # what a fear or risk would bring: '… could plunge Haiti back into violence'
    r"|\b(?:could|would|might|may)\s+(?:\w+\s+)?(?:plunge|lead|cause|undermine|trigger|"
    r"result|leave|push|threaten|undo|derail|worsen|fuel|reverse|collapse|destabili[sz]e)\b[^.;]*"
    # a participle giving the significance of what the clause before states: '…, marking …'
    r"|(?<=,\s)(?:marking|signall?ing|reflecting|underscoring|making it|meaning)\b[^.;]*"
    # what a sentence names as a reason: 'X is one of the reasons Kenya was elected'
    r"|(?:(?<=\bthat\s)|(?<=,\s)|^)(?:(?!\bthat\b)[^,.;])+?(?=\s+(?:is|was|are|were)\s+"
    r"(?:one of\s+|among\s+)?the\s+(?:main\s+|key\s+|chief\s+|principal\s+)?reasons?\b)"
    # the subject of a verb of causing: 'The meager support has hampered the mission'
    r"|(?:(?<=\bthat\s)|(?<=[“\"])|^)(?:(?!\bthat\b)[^,.;“”\"])+?(?=\s+(?:has\s+|have\s+|had\s+)?"
    r"(?:hampered|hindered|undermined|held back|slowed|weakened|crippled|caused|triggered|"
    r"prevented|fuell?ed|complicated)\b)"
    # a purpose: '… would help secure the gains made'
    r"|\b(?:would|will|could|to)\s+help\b[^.;]*"
    # the means: 'by investing in …', 'through …'; what a goal takes: 'To achieve X, we must …'
    r"|\b(?:by|through)\s+[a-z]+ing\b[^.;]*"
    r"|(?<=,\s)(?:we|they|it|he|she|you|[a-z]+)\s+(?:must|should|need to|have to)\b[^.;]*"
    # a consequence: '…, complicating the supply of …'
    r"|(?<=,\s)(?!including|according|following|during|regarding|concerning)[a-z]+ing\b[^.;]*",
    re.IGNORECASE,
)


_TIME_BEFORE = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|several|a few|many)?\s*"
    r"(?:years?|months?|weeks?|days?|hours?|decades?|shortly|soon|long|just|only|ever)\s*$",
    re.IGNORECASE,
)


def reason_candidates(text: str) -> list[Span]:
    """Clauses that give a cause or a significance: 'because …', 'due to …', 'frustration
    with …', '…, marking the first time …'."""
    out = []
    for m in _REASON.finditer(text):
        if m.group(0)[:5].lower() in ("after", "since") and _TIME_BEFORE.search(
            text[max(0, m.start() - 30) : m.start()]
        ):
            continue  # "one year after the arrival …", "weeks since …": a time, not a cause
        if re.match(r"[a-z]+ing\b", m.group(0)):
            item = re.split(r"[,:;]", text[: m.start()].rstrip(", "))[-1].strip()
            if re.match(r"(?:and\s+)?[a-z]+ing\b", item):
                continue  # "…: expanding the mandate, boosting support, …": items of a list
        s, e = _clean(text, m.start(), m.end())
        out.append(Span(s, e, qt.REASON, text[s:e]))
    return out

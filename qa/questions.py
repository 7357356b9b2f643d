"""Question analysis: the expected answer type, and follow-up resolution from chat history."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qa.errors import QuestionError
from qa.text import STOPWORDS

MAX_QUESTION_CHARS = 1000

# answer types
NUMBER, MONEY, PERCENT, DATE, PERSON, PLACE, ORG, REASON, LIST, OTHER = (
    "number",
    "money",
    "percent",
    "date",
    "person",
    "place",
    "org",
    "reason",
    "list",
    "other",
)

# nouns for people by their role: "the name of the Kenyan commander", "which director"
_PERSON_NOUNS = (
    "head|leader|president|chief|commander|minister|official|person|man|woman|secretary|"
    "secretary-general|diplomat|envoy|director|chairman|chairwoman|spokesman|spokeswoman|"
    "spokesperson|ambassador|mayor|governor|founder|captain|colonel|master"
)
# "What did the mayor credit …" asks what, not who
_AUX_WORDS = r"(?:is|was|are|were|did|does|do|has|have|had|will|would|can|could|should)"

# "cite as one reason", "gave as the main cause": what is asked for is a reason
_CITED = (
    r"\b(cite|cited|give|gave|name|named|offer|offered) as (?:an? |the |one |another )?"
    r"(?:main |key |chief )?(?:reasons?|causes?|explanations?|justifications?)\b"
)

_TYPE_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        MONEY,
        re.compile(
            r"\bhow much (?:of (?:the |its |their |this |that )?(?:[\w\-]+ )?)?(?:money|funding|funds|cash|aid)\b|\bamount of (?:money|funding|cash|aid)\b|\bhow much\b.*\b(?:cost|fund|pay|paid|spend|spent|pledged?|disburs|budget|worth|dollars?)"
            r"|\b(?:what|which) (?:is|was|are|were) the (?:\w+ )?(?:prize|fees?|price|cost|salary|budget)\b"
        ),
    ),
    (
        PERCENT,
        re.compile(
            r"\b(?:what|which) (?:percentage|percent|proportion|portion|share|fraction)\b|\bwhat part\b(?! of (?:the )?[a-z]+ (?:is|are|was|were)\b)"
            r"|\b(?:what|which) (?:is|was|are|were) the (?:percentage|percent|proportion|portion|share|fraction)\b"
        ),
    ),
    (
        DATE,
        re.compile(
            r"\bwhen\b|\b(?:what|which) (?:year|date|day|month|decade|century|time)\b|\bhow long ago\b|\bsince when\b|\bin what year\b|\bon what (?:date|day)\b"
        ),
    ),
    (
        NUMBER,
        re.compile(
            r"\bhow (?:many|much|large|big|long|old|far|high|often)\b|\bby how (?:much|long)\b|\b(?:what|which) (?:number|amount|size|figure|total|count)\b|\b(?:what|which) (?:[\w\-]+ )?(?:toll|tally)\b|\bwhat was the (?:number|total|size)\b"
            r"|\b(?:what|which) (?:is|was|are|were) the (?:[\w\-]+ ){0,2}(?:population|number|total|"
            r"temperature|magnitude|height|length|size|area|distance|speed|depth|width)\b"
        ),
    ),
    (
        LIST,
        re.compile(
            r"\b(?:what|which) (?:are|were) the (?:\w+ )?(?:three|two|four|five|main|key)\b|"
            r"\b(?:what|which|name|list)(?: the)? (?:three|two|four|five|several|main|key) "
            r"(?:\w+ )?\w+s\b|\b(?:which|what) (?:\w+ ){0,2}(?:countries|sites|areas|states|nations|"
            r"cities|places|requirements|proposals|conditions|steps|reasons|demands|kinds|types|forms)\b|"
            r"\bname the\b|\blist\b"
        ),
    ),
    (
        PERSON,
        re.compile(
            r"^(?:and )?(?:who|whom|whose)\b|\b(?:who|whom|whose)\b|\bname of (?:the |this |that )?"
            rf"(?:\w+ )?(?:{_PERSON_NOUNS})\b|\b(?:which|what) (?!{_AUX_WORDS}\b)(?:[\w\-]+ ){{0,2}}"
            rf"(?:{_PERSON_NOUNS}|politician|journalist|author)\b"
        ),
    ),
    (
        PLACE,
        re.compile(
            r"\bwhere\b|\b(?:which|what) (?:(?!(?:is|are|was|were|the|an?|did|does|do|of)\b)[\w’'\-]+ )?(?:country|countries|city|cities|place|places|region|regions|area|areas|towns?|villages?|districts?|provinces?|county|venues?|nation|nations|capital|site|sites|state|continent|locations?|neighbou?rhoods?|islands?)\b|\bfrom where\b"
        ),
    ),
    (
        ORG,
        re.compile(
            r"\b(?:which|what) (?:(?!(?:is|are|was|were|the|an?|did|does|do|of)\b)[\w’'\-]+ )?(?:organi[sz]ations?|groups?|agency|agencies|body|institution|company|"
            r"companies|network|outlet|council|party|force|mission|(?:tv |television |radio |news )?"
            r"(?:channel|station|broadcaster|newspaper|paper|network|outlet|media))\b"
        ),
    ),
    (
        REASON,
        re.compile(
            r"^(?:and )?why\b|\bwhy\b|\bfor what reason\b|\bwhat (?:caused|led to|prompted|is the reason)\b|\bhow come\b"
            r"|\bwhat (?:did|does|do) .* (?:blame|credit)\b"
            # "What did Ruto cite as one reason …", "What is one reason …"
            r"|"
            + _CITED
            + r"|\bwhat (?:is|was) (?:one|a|another|the main|a key) (?:reason|cause)\b"
            # the means to an end: "How can Kenya and Haiti bring about lasting change?"
            r"|^(?:and )?how,?\s+(?:[^,]+,\s+)?(?:can|could|should|must)\b"
        ),
    ),
]

_PRONOUNS = re.compile(
    r"\b(?:he|she|him|her|his|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|the same)\b",
    re.IGNORECASE,
)
_ELLIPSIS = re.compile(
    r"^\s*(?:and|but|also|what about|how about|and what about|what of|or)\b", re.IGNORECASE
)
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)
_CAPS = re.compile(r"\b[A-Z][\w’'\-]+(?:\s+(?:[A-Z][\w’'\-]+|of|de|du|la|al|bin))*")


@dataclass(frozen=True)
class QuestionInfo:
    text: str  # the question as asked (stripped)
    query: str  # what retrieval should search for (includes context for follow-ups)
    answer_type: str
    followup: bool = False
    resolved: str = ""  # a readable resolved form for follow-ups
    previous: str = ""  # the question this one follows up on
    # the conversation before ``previous`` and the history's reply to it ("" when it gives
    # none, as a list of earlier questions does): the pipeline may answer ``previous`` itself
    earlier: tuple[tuple[str, str], ...] = ()
    reply: str = ""
    referent: str = ""  # who "he" or "she" is, when the previous answer says so


def validate_question(question: Any) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    text = " ".join(question.replace("\x00", " ").split())
    if not text:
        raise QuestionError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(text)} characters; the limit is {MAX_QUESTION_CHARS})"
        )
    if not any(ch.isalnum() for ch in text):
        raise QuestionError("the question has no words in it")
    _check_encodable(text, "the question")
    return text


def _check_encodable(text: str, what: str) -> None:
    """Lone surrogates (from a bad JSON escape or a non-UTF-8 argument) are not text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise QuestionError(f"{what} is not valid Unicode text (at character {err.start})") from err


_SUBORDINATE = re.compile(
    r"\s(?:when|where|while|after|before|because|since|until|"
    # "as" opens a clause, but not in "cite as one reason"
    r"as(?! (?:an? |the |one |another )?(?:main |key |chief )?(?:reason|cause|explanation)))\b.*$"
)


# a leading time clause before the question proper: "When X happens, what …?"
_LEADING_WHEN = re.compile(
    r"^(?:when|while|if|once)\b[^,?]*,\s*(?=.*\b(?:what|which|who|whom|how)\b)"
)


def answer_type(question: str) -> str:
    """The expected answer type, from the question's own wh-phrase: an embedded question
    ("Who briefed him on how far …") or a subordinate clause ("… reacted when confronted")
    after the first wh-word does not decide the type."""
    q = question.lower()
    lead = _LEADING_WHEN.match(q)
    if lead is not None:
        q = q[lead.end() :]  # "When extensive time is required …, this represents what case"
    first = _WH.search(q)
    if first is not None:
        tail = q[first.end() :]
        cut = [m.start() for m in (_WH.search(tail), _SUBORDINATE.search(tail)) if m is not None]
        if cut:
            q = q[: first.end() + min(cut)]
    for kind, pattern in _TYPE_RULES:
        if pattern.search(q):
            return kind
    return OTHER


def normalize_history(history: Any) -> list[tuple[str, str]]:
    """History as (role, content) pairs from any accepted form.

    Accepts a list of strings (earlier user questions), a list of ``{"role", "content"}``
    messages, or a list of ``(user, assistant)`` pairs.
    """
    if history is None:
        return []
    if isinstance(history, str):
        history = [history]
    if not isinstance(history, Sequence):
        raise QuestionError("history must be a list of questions or of {role, content} messages")
    out: list[tuple[str, str]] = []
    for item in history:
        if isinstance(item, str):
            out.append(("user", item))
        elif isinstance(item, dict):
            role = str(item.get("role", "user"))
            content = item.get("content", "")
            if isinstance(content, list):  # multimodal-style content parts
                content = " ".join(
                    str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content
                )
            if not isinstance(content, str):
                content = str(content) if content is not None else ""
            out.append((role if role in ("user", "assistant") else "user", content))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, bot = item
            if user:
                out.append(("user", str(user)))
            if bot:
                out.append(("assistant", str(bot)))
        else:
            raise QuestionError(
                "history items must be strings, {role, content} messages or [user, assistant] pairs"
            )
    return out


def is_followup(question: str) -> bool:
    q = question.strip()
    if _ELLIPSIS.match(q):
        return True
    if _PRONOUNS.search(q):
        # "that"/"this" as a determiner of a fresh noun phrase is still a reference
        return True
    # very short questions without a wh-word ("The original target?")
    return not _WH.search(q) and len(q.split()) <= 5


def _names(text: str) -> list[str]:
    names = []
    for m in _CAPS.finditer(text):
        span = m.group(0)
        if m.start() == 0 and " " not in span:
            continue  # a sentence-initial capital alone is not a name
        names.append(span)
    return names


# "he", "his", "her" …: a person the conversation has named
PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her)\b", re.IGNORECASE)


def refers_to_answer(question: str, previous: str) -> bool:
    """Whether "he" or "she" in a follow-up may be the answer to the previous question, which
    asked for a person ("Which prime minister did Ruto meet?" / "What did he say …?")."""
    return answer_type(previous) == PERSON and bool(PERSON_PRONOUN.search(question))


def _put_person(question: str, name: str) -> str:
    """``question`` with "he"/"she"/"him" replaced by ``name`` and "his"/"her" (before a
    noun) by its possessive: "How many people in his country did he say …" -> "How many
    people in Garry Conille’s country did Garry Conille say …"."""

    def sub(m: re.Match[str]) -> str:
        word = m.group(0).lower()
        rest = question[m.end() :].lstrip()
        following = re.match(r"[\w’'\-]+", rest)
        owner = word == "his" or (
            word == "her" and following is not None and following.group(0).lower() not in STOPWORDS
        )
        return f"{name}’s" if owner else name

    return PERSON_PRONOUN.sub(sub, question)


def analyze_question(question: str, history: Any = None, referent: str = "") -> QuestionInfo:
    """Validate a question and, when it leans on the conversation, fold the context in.

    ``referent`` is the person "he" or "she" stands for when the previous question asked
    for one (see :func:`refers_to_answer`); the pipeline finds it by answering that
    question."""
    text = validate_question(question)
    turns = normalize_history(history)
    for _, content in turns:
        _check_encodable(content, "the history")
    kind = answer_type(text)
    asked = [i for i, (r, c) in enumerate(turns) if r == "user" and c.strip()]
    if not asked or not is_followup(text):
        return QuestionInfo(text, text, kind)
    prev = " ".join(turns[asked[-1]][1].split())[:MAX_QUESTION_CHARS]
    if kind == OTHER and not _WH.search(text):
        kind = answer_type(prev)
    replies = [c for r, c in turns[asked[-1] + 1 :] if r == "assistant" and c.strip()]
    reply = replies[-1] if replies else ""
    context = prev
    if referent:
        context += " " + referent  # who "he" is; the reply's other names are other people
    elif reply:
        # names from the last answer help resolve "he"/"she"/"they"
        context += " " + " ".join(_names(reply)[:3])
    return QuestionInfo(
        text,
        f"{context} {text}",
        kind,
        followup=True,
        resolved=_put_person(text, referent) if referent else f"{text} (following up on: {prev})",
        previous=prev,
        earlier=tuple(turns[: asked[-1]]),
        reply=reply,
        referent=referent,
    )


_WANTS_NAME = re.compile(r"\b(?:what|which) (?:is|was|are|were) the names? of\b", re.I)


def wants_name(question: str) -> bool:
    """Whether the question asks for a proper name ("What is the name of ..."), so a role
    description ("the head of the council") does not answer it."""
    return bool(_WANTS_NAME.search(question))


def named_kind(question: str) -> str:
    """What a "What is the name of …" question names, read as "which …" would be: "the name
    of the successor force" -> org, "of the state …" -> place; "" when the kind is not said
    or no name is asked for."""
    m = _WANTS_NAME.search(question)
    if m is None:
        return ""
    rest = re.sub(
        r"^(?:the|this|that|its|their|his|her|an?)\s+", "", question[m.end() :].strip(), flags=re.I
    )
    kind = answer_type("which " + rest)
    return kind if kind in (PERSON, PLACE, ORG) else ""


_FOCUS_TRIGGER = re.compile(
    r"\b(?:how (?:many|much)|(?:which|what)(?! (?:is|was|are|were|did|does|do|has|have|had)\b))"
    r"\s+((?:[\w’'\-]+\s*){1,8})",
    re.I,
)
_FOCUS_SKIP = frozenset("of the a an its their his her more new other".split())
_VERB_OBJECT = frozenset(
    "the a an its their his her most all this that these those some any".split()
)
_IRREGULAR_PLURALS = frozenset(
    "people personnel children staff men women troops money funding cash aid".split()
)


def focus_words(question: str, stopwords: frozenset[str]) -> list[str]:
    """The noun phrase a "how many X" / "which X" question asks about, head last
    ("How many Kenyan police officers did …" -> ['kenyan', 'police', 'officers'];
    "Which TV channel broadcast the …" -> ['tv', 'channel']). Empty when there is none."""
    m = _FOCUS_TRIGGER.search(question)
    if m is None:
        return []
    run = _noun_run(m.group(1), stopwords)
    lead = _PARTITIVE.match(question)
    if lead is not None and m.group(0)[:3].lower() == "how" and not (run and _plural(run[-1])):
        # "Of the 989 officers serving …, how many came from Kenya?" counts officers
        return _noun_run(lead.group(1), stopwords) or run
    return run


# a leading partitive naming the whole a "how many" question counts in
_PARTITIVE = re.compile(
    r"^(?:of|out of|among)\s+(?:the|its|their|these|those|all)?\s*([^,]+),", re.I
)


def _plural(word: str) -> bool:
    return (word.endswith("s") and not word.endswith(("ss", "'s"))) or word in _IRREGULAR_PLURALS


def _noun_run(phrase: str, stopwords: frozenset[str]) -> list[str]:
    """The noun phrase at the start of ``phrase``, head last."""
    raw = re.findall(r"[\w’'\-]+", phrase)
    toks = [t.lower().replace("’", "'") for t in raw]
    while toks and toks[0] in _FOCUS_SKIP:
        toks.pop(0)
        raw.pop(0)
    run: list[str] = []
    for i, t in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        nxt_raw = raw[i + 1] if i + 1 < len(raw) else ""
        if t in stopwords or t.endswith("ly"):
            break
        if run and (
            (t.endswith("ed") and (nxt in stopwords or nxt_raw[:1].isupper()))
            or nxt in _VERB_OBJECT
        ):
            break  # a verb: "… leader controls most …", "… Secretary-General received Ruto’s …"
        run.append(t)
        if _plural(t):
            break  # a plural head ends the phrase
    return [t for t in run if not t.endswith("'s")] or run


_AUX = frozenset(
    "did does do has have had is are was were will would can could should may might".split()
)
_BEEN = frozenset(("been", "being"))
_PARTICLES = frozenset("away up out off down back".split())
_LIGHT_VERBS = frozenset("used able going".split())
_REASON_FRAMES = frozenset("credit blame attribute".split())
_SPEECH_VERBS = frozenset("say said says tell told claim claimed think believe believes".split())
_WH_WORDS = frozenset("who whom whose what which when where why how".split())


def predicate_words(question: str, stopwords: frozenset[str]) -> list[str]:
    """The question's main verb, found from its shape without a tagger: the word after
    "who"/"which X" ("Who commands …", "Which gang leader controls …"), or the first verb-like
    word after the auxiliary ("How many … have died in …", "What did the Council decide at …").
    Lower-cased; empty when none is found (or it is a stop word such as "say")."""
    found = list(re.finditer(r"[\w’'\-]+", question))
    toks = [m.group(0) for m in found]
    low = [t.lower() for t in toks]
    clause_end = {j for j, m in enumerate(found) if question[m.end() : m.end() + 1] in ",;:?"}
    focus = focus_words(question, stopwords)
    start = None
    for i, t in enumerate(low):
        if t in _AUX:
            start = i + 1
            break
    out: list[str] = []
    # the verb right after the wh-word or its noun phrase ("Which gang leader controls …")
    after_wh = None
    for i, t in enumerate(low):
        if t in _WH_WORDS:
            j = i + 1
            if t in ("how",) and j < len(low) and low[j] in ("many", "much"):
                j += 1
            while j < len(low) and (low[j] in focus or low[j].endswith("ly") or low[j] == "else"):
                j += 1
            if j < len(low) and low[j] not in stopwords and not toks[j][:1].isupper():
                after_wh = j
            break
    if start is None or (
        after_wh is not None and after_wh < start - 1 and low[after_wh].endswith(("ed", "s"))
    ):
        # no auxiliary, or one only in a later clause ("Which … received Ruto’s letter
        # warning that Kenya might pull out?")
        return [low[after_wh]] if after_wh is not None else out
    # reported speech: the verb is in the clause said: "did Ruto say Kenyan officers had
    # jointly retaken …" (not "would be a mistake": a copula)
    said = next((j for j in range(start, len(low)) if low[j] in _SPEECH_VERBS), None)
    if said is not None:
        for j in range(said + 1, len(low) - 1):
            if low[j] in _AUX:
                k = j + 1
                while k < len(low) - 1 and (
                    low[k].endswith("ly")
                    or low[k] in ("been", "being", "not", "never")
                    or (low[k] == "be" and low[k + 1].endswith(("ed", "en")))
                ):
                    k += 1  # "have been displaced", "should be converted"
                if low[k] not in stopwords and low[k] != "be":
                    start = k
                break
    copula = low[start - 1] in ("is", "are", "was", "were")
    been = next((j for j in range(start, min(start + 4, len(low))) if low[j] in _BEEN), None)
    if been is not None:
        start, copula = been + 1, False  # "had gangs been using …", "had actually been sent"
    for j in range(start, len(low)):
        t, raw = low[j], toks[j]
        if copula and not t.endswith(("ed", "ing", "en")):
            continue  # "was the operation approved": only a participle is the verb
        if t in stopwords or raw[:1].isupper() or raw[:1].isdigit() or t in focus:
            continue
        if t.endswith("ly"):
            continue  # an adverb: "had actually been sent"
        nxt = toks[j + 1] if j + 1 < len(toks) else ""
        if (
            t.endswith(("ed", "ing", "en"))
            or j in clause_end  # "… had actually been sent, per …"
            or not nxt
            # (a noun before "say" or an auxiliary ends the subject: "did the watchdog say")
            or (nxt.lower() in stopwords and nxt.lower() not in _SPEECH_VERBS | _AUX)
            or nxt[:1].isupper()
            or nxt.lower() in _PARTICLES  # "walk away", "pull out"
        ):
            out.append(t)
            break
    if out and out[0] in _LIGHT_VERBS:
        # "What is used to broadly define …": the verb after "to" carries the meaning
        j = low.index(out[0]) + 1
        if j < len(low) and low[j] == "to":
            rest = [t for t in low[j + 1 :] if not t.endswith("ly")]
            if rest and rest[0] not in stopwords:
                out = [rest[0]]
    if out and out[0] in _REASON_FRAMES:
        # "What did Ruto credit for Kenya winning a seat …": the verb asks for the reason;
        # what the reason is for is the verb after "for"
        j = low.index(out[0])
        out = [t for t in low[j + 1 :] if t.endswith("ing") and t not in stopwords][:1]
    cited = _CITED_REASON.search(question)
    if out and cited is not None and out[0] == cited.group(1).lower():
        # "What did Ruto cite as one reason Kenya won a seat …": the verb of what the
        # reason is for ("won")
        return predicate_words("did " + question[cited.end() :], stopwords)
    return out


_CITED_REASON = re.compile(_CITED + r"(?: (?:why|that))?", re.I)

"""The question stage: validation, and follow-up resolution from the chat history.

A follow-up ("And in 2024?", "What did he say about the displaced?") is searched and read
together with the question that opened its thread (the last earlier question that stood on its
own), the question it follows up on, and the names the conversation has used, latest first. When the
previous question asked for a person and the follow-up says "he" or "she", the pipeline answers
the previous question to learn who (see :func:`refers_to_answer`) and the follow-up, with that
name in place of the pronoun, stands on its own: it is searched and read alone. Any other
follow-up is also judged as asked (:attr:`QuestionInfo.in_context`; see
``LearnedReader.candidates`` and ``read_candidates``).

May import: ``qa.errors``, ``qa.ingest.text``, ``qa.lexicon``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qa.errors import QuestionError, QuestionTooLongError
from qa.ingest.text import STOPWORDS
from qa.lexicon import lexicon

MAX_QUESTION_CHARS = 1000
MAX_CONTEXT_NAMES = 4  # names from the conversation added to a follow-up's query

_PRONOUNS = re.compile(
    r"\b(?:he|she|him|her|his|hers|they|them|their|theirs|it|its|this|that|these|those|there|"
    r"then|the same)\b",
    re.IGNORECASE,
)
_ELLIPSIS = re.compile(
    r"^\s*(?:and|but|also|what about|how about|and what about|what of|or)\b", re.IGNORECASE
)
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)
_CAPS = re.compile(r"\b[A-Z][\w’'\-]+(?:\s+(?:[A-Z][\w’'\-]+|of|de|du|la|al|bin))*")
# "he", "his", "her" …: a person the conversation has named
PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her)\b", re.IGNORECASE)


@dataclass(frozen=True)
class QuestionInfo:
    text: str  # the question as asked (stripped)
    query: str  # what retrieval searches for (includes context for follow-ups)
    followup: bool = False
    # what the reader model reads: the question first, then the context; a follow-up whose
    # "he" or "she" was resolved to a name, that question alone ("" = ``query``)
    read_as: str = ""
    resolved: str = ""  # a readable resolved form for follow-ups
    previous: str = ""  # the question this one follows up on
    # the conversation before ``previous`` and the history's reply to it ("" when it gives
    # none, as a list of earlier questions does): the pipeline may answer ``previous`` itself
    earlier: tuple[tuple[str, str], ...] = ()
    reply: str = ""
    referent: str = ""  # who "he" or "she" is, when the previous answer says so

    @property
    def in_context(self) -> bool:
        """Whether the reader reads this question followed by the conversation's context (a
        follow-up not resolved to stand on its own)."""
        return self.followup and not self.referent


def validate_question(question: Any) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    text = " ".join(question.replace("\x00", " ").split())
    if not text:
        raise QuestionError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(
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
    """Whether a question leans on the conversation: it opens elliptically ("And …", "What
    about …"), holds a pronoun or a word such as "else" or "other" (the lexicon's
    ``context_words``), or is a short phrase without a wh-word."""
    q = question.strip()
    words = {w.lower() for w in re.findall(r"[\w’'\-]+", q)}
    if _ELLIPSIS.match(q) or _PRONOUNS.search(q) or words & set(lexicon()["context_words"]):
        return True
    return not _WH.search(q) and len(q.split()) <= 5


def _names(text: str) -> list[str]:
    names = []
    for m in _CAPS.finditer(text):
        span = m.group(0)
        if m.start() == 0 and " " not in span:
            continue  # a sentence-initial capital alone is not a name
        names.append(span)
    return names


def asks_for_person(question: str) -> bool:
    """ "Who …", "Whose …", "Which prime minister …", "the name of the commander …"."""
    nouns = "|".join(re.escape(n) for n in lexicon()["person_nouns"])
    return bool(
        re.search(r"\b(?:who|whom|whose)\b", question, re.I)
        or re.search(
            rf"\b(?:which|what|name of)(?: the)?(?: [\w\-]+)? (?:{nouns})\b", question, re.I
        )
    )


_NAME_WORD = r"[A-Z][\w’'\-]*\.?"  # "Conille", "Archer-Bradshaw", "F.", "Dr."
_NAME = re.compile(rf"{_NAME_WORD}(?:\s+(?:{_NAME_WORD}|of|de|du|la|al|bin))*")


def is_name(text: str) -> bool:
    """Whether ``text`` reads as one name: capitalised words and initials ("Garry Conille",
    "Carissa F. Etienne", "Mayor Tomas Brandt"), not a clause or a list that a short answer may
    also be."""
    return _NAME.fullmatch(text) is not None


_WHO_IS = re.compile(r"^\s*who\s+(?:is|was)\s+(.+?)\s*\??\s*$", re.IGNORECASE)


def person_asked_about(question: str) -> str:
    """The person a "Who is …?" question names ("Who is Garry Conille?" -> "Garry Conille"): its
    answer describes them ("Prime Minister"), so a follow-up's "he" or "she" is that person, not
    the answer. "" when the question does not name whom it asks about, as when it names a role
    ("Who is Napa County's Public Works Director?": the answer is the person)."""
    m = _WHO_IS.match(question)
    if m is None or not is_name(m.group(1)):
        return ""
    subject = m.group(1)
    role = (
        re.search(r"['’]s\b", subject) or subject.split()[-1].lower() in lexicon()["person_nouns"]
    )
    return "" if role else subject


def refers_to_answer(question: str, previous: str) -> bool:
    """Whether "he" or "she" in a follow-up may be the answer to the previous question, which
    asked for a person ("Which prime minister did Ruto meet?" / "What did he say …?")."""
    return asks_for_person(previous) and bool(PERSON_PRONOUN.search(question))


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
    asked = [i for i, (r, c) in enumerate(turns) if r == "user" and c.strip()]
    if not asked or not is_followup(text):
        return QuestionInfo(text, text)
    prev = " ".join(turns[asked[-1]][1].split())[:MAX_QUESTION_CHARS]
    replies = [c for r, c in turns[asked[-1] + 1 :] if r == "assistant" and c.strip()]
    reply = replies[-1] if replies else ""
    if referent:
        # who "he" is, in place of the pronoun; the conversation's other names are other people.
        # The resolved question stands on its own, searched and read alone as a human rewrite
        # would be: read beside the earlier question, the model weighs sentences against both;
        # searched with it, the sentences that answered it crowd out the follow-up's
        # (docs/benchmarks.md, "Follow-ups")
        resolved = _put_person(text, referent)
        query = read_as = resolved
    else:
        # the thread's topic: the last earlier question that stood on its own (not a follow-up),
        # the question followed up on, then the names the conversation used, latest first
        starts = [i for i in asked if not is_followup(turns[i][1])]
        first = " ".join(turns[starts[-1] if starts else asked[0]][1].split())
        context = list(dict.fromkeys([first[:MAX_QUESTION_CHARS], prev]))
        resolved = f"{text} (following up on: {prev})"
        names: list[str] = []
        for _, content in reversed(turns):
            for name in _names(content):
                if name not in names:
                    names.append(name)
        query = " ".join([*context, *names[:MAX_CONTEXT_NAMES], text])
        read_as = " ".join([text, *context, *names[:MAX_CONTEXT_NAMES]])
    return QuestionInfo(
        text,
        query,
        followup=True,
        read_as=read_as,
        resolved=resolved,
        previous=prev,
        earlier=tuple(turns[: asked[-1]]),
        reply=reply,
        referent=referent,
    )

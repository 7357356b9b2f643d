"""Training and evaluation examples for the reader, built from SQuAD-format files.

A question is paired with single sentences of an article, as the reader sees them at query time:
the sentence that holds the gold answer is a positive (with the answer's character span), other
sentences of the same paragraph and of other paragraphs of the article are negatives, and every
sentence paired with an unanswerable SQuAD 2.0 question is a negative. Sentences are cut with the
same splitter the index uses (:func:`qa.ingest.text.split_sentences`).

This module reads only the files it is given; it never downloads anything.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.text import split_sentences

# SQuAD 1.1 train in the shared folder (QA_SHARED_DIR): the reader and embedder learn from it
SQUAD_TRAIN = Path("datasets/squad-v1.1-train/train-v1.1.json.gz")


@dataclass(frozen=True)
class Pair:
    """One (question, sentence) pair. ``start``/``end`` index the answer in ``sentence``
    (-1 for a negative)."""

    question: str
    title: str
    sentence: str
    label: int
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Question:
    """A question on a paragraph, with the paragraph's sentences and where its answers start."""

    qid: str
    question: str
    title: str
    article: str
    paragraph: str
    sentences: tuple[tuple[int, int], ...]
    answers: tuple[tuple[int, str], ...]  # (char start in paragraph, text); () unanswerable


def read_squad(path: Path) -> Iterator[Question]:
    """Questions of a SQuAD v1.1/v2.0 JSON file (``.json`` or ``.json.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    for art in data:
        article = str(art.get("title", ""))
        title = article.replace("_", " ")
        for para in art["paragraphs"]:
            text = para["context"]
            sents = tuple(split_sentences(text))
            for qa in para["qas"]:
                answers = tuple((int(a["answer_start"]), a["text"]) for a in qa.get("answers", []))
                if qa.get("is_impossible"):
                    answers = ()
                yield Question(qa["id"], qa["question"], title, article, text, sents, answers)


def read_jsonl_set(folder: Path) -> Iterator[Question]:
    """Questions of a project benchmark folder (``questions.jsonl`` with ``paragraphs.jsonl``):
    the gold answers are located in their paragraph (first occurrence)."""
    paras = {}
    for line in (folder / "paragraphs.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            paras[rec["id"]] = rec
    for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        para = paras[q["paragraph_id"]]
        text = para["text"]
        answers: list[tuple[int, str]] = []
        for a in q.get("answers", []) if q.get("answerable", True) else []:
            at = text.find(a)
            if at >= 0:
                answers.append((at, a))
        title = str(para.get("article_id", "")).replace("_", " ")
        yield Question(
            q["id"],
            q["question"],
            title,
            str(para.get("article_id", "")),
            text,
            tuple(split_sentences(text)),
            tuple(answers),
        )


def gold_sentence(q: Question) -> int:
    """Index of the sentence wholly holding the first answer, or -1."""
    for at, text in q.answers:
        for i, (s, e) in enumerate(q.sentences):
            if s <= at and at + len(text) <= e:
                return i
    return -1


_WORD = re.compile(r"\w+")


def words_of(text: str) -> frozenset[str]:
    """The lower-cased words of ``text``, as a set."""
    return frozenset(_WORD.findall(text.lower()))


def _overlap(a: str, b: str) -> int:
    return len(words_of(a) & words_of(b))


def pairs_for(
    q: Question,
    rng: random.Random,
    others: list[str],
    hard: int = 2,
    easy: int = 1,
) -> list[Pair]:
    """The training pairs of one question: its gold sentence (if any), up to ``hard`` other
    sentences of the paragraph (the most word-overlapping for an unanswerable question, random
    otherwise) and ``easy`` sentences from ``others`` (the article's other paragraphs)."""
    out: list[Pair] = []
    gold = gold_sentence(q)
    if q.answers and gold < 0:
        return out  # answer crosses a sentence boundary: no clean label
    if gold >= 0:
        s, e = q.sentences[gold]
        sent = q.paragraph[s:e]
        at, text = next((a, t) for a, t in q.answers if s <= a and a + len(t) <= e)
        out.append(Pair(q.question, q.title, sent, 1, at - s, at - s + len(text)))
    rest = [q.paragraph[s:e] for i, (s, e) in enumerate(q.sentences) if i != gold]
    if not q.answers:
        rest.sort(key=lambda t: -_overlap(q.question, t))
        chosen = rest[:hard]
    else:
        chosen = rng.sample(rest, min(hard, len(rest)))
    out.extend(Pair(q.question, q.title, t, 0) for t in chosen)
    if others and easy:
        out.extend(
            Pair(q.question, q.title, t, 0) for t in rng.sample(others, min(easy, len(others)))
        )
    return out


def one_per_paragraph(questions: list[Question]) -> Iterator[Question]:
    """The first question of each paragraph (so each paragraph's text is counted once)."""
    seen: set[tuple[str, str]] = set()
    for q in questions:
        if (q.article, q.paragraph[:64]) not in seen:
            seen.add((q.article, q.paragraph[:64]))
            yield q


def build_pairs(
    questions: list[Question], seed: int, hard: int = 2, easy: int = 1, mined: int = 0
) -> list[Pair]:
    """Pairs for every question; ``others`` are sentences of other paragraphs of the same
    article. ``mined`` more negatives per question are the article's other-paragraph sentences
    sharing the most words with the question (see :func:`mined_negatives`)."""
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = {}
    for q in one_per_paragraph(questions):
        by_article.setdefault(q.article, []).extend(q.paragraph[s:e] for s, e in q.sentences)
    words = {a: [words_of(t) for t in ts] for a, ts in by_article.items()} if mined else {}
    out: list[Pair] = []
    for q in questions:
        pool = by_article.get(q.article, [])
        others = [t for t in rng.sample(pool, min(12, len(pool))) if t not in q.paragraph]
        pairs = pairs_for(q, rng, others, hard, easy)
        out.extend(pairs)
        if mined and pairs:
            chosen = mined_negatives(q, pool, words.get(q.article, []), mined)
            out.extend(Pair(q.question, q.title, t, 0) for t in chosen)
    return out


def mined_negatives(q: Question, pool: list[str], words: list[frozenset[str]], n: int) -> list[str]:
    """The ``n`` sentences of ``pool`` (the article's, with their word sets ``words``) outside
    the question's paragraph that share the most words with the question and hold none of its
    answers: the distractors a first stage puts before the model, which random sentences of
    other paragraphs rarely are."""
    qwords = words_of(q.question)
    answers = [text.lower() for _, text in q.answers]
    ranked = sorted(range(len(pool)), key=lambda i: -len(qwords & words[i]))
    out: list[str] = []
    for i in ranked:
        t = pool[i]
        if t in q.paragraph or any(a in t.lower() for a in answers):
            continue
        out.append(t)
        if len(out) == n:
            break
    return out


# -- made-up unanswerable questions ---------------------------------------------------------------
# SQuAD 2.0's adversarial unanswerable questions are mostly an answerable question with one
# thing changed (an entity or a number swapped, a negation, an antonym). Only 3,208 real ones
# can be had here, so more are made the way the commonest kinds were: a name or a number of the
# question that its gold sentence holds is swapped for another of the same kind from elsewhere in
# the article, which the paragraph does not hold. The gold sentence no longer answers it.
_SWAPPABLE = {
    "year": re.compile(r"\b1\d{3}\b|\b20\d{2}\b"),
    "number": re.compile(r"\b\d+(?:[.,]\d+)*\b"),
    "name": re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'’-]*)*"),
}


def _spans(kind: str, text: str, start: int = 0, end: int | None = None) -> list[str]:
    """The ``kind`` spans of ``text[start:end]``, not counting one that opens it (a capital
    there says nothing)."""
    stop = len(text) if end is None else end
    found = [m.group(0) for m in _SWAPPABLE[kind].finditer(text, start, stop) if m.start() > start]
    if kind == "number":
        found = [f for f in found if not _SWAPPABLE["year"].fullmatch(f)]
    return found


def _holds(text: str, span: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(span) + r"(?!\w)", text) is not None


def swapped_question(q: Question, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    """``q`` with one year, number or name that its gold sentence holds swapped for another of
    the same kind from ``pool`` (the article's) that its paragraph does not hold; ``None`` when
    there is none to swap. The title is kept."""
    gold = gold_sentence(q)
    if gold < 0:
        return None
    s, e = q.sentences[gold]
    sentence = q.paragraph[s:e]
    for kind in rng.sample(list(_SWAPPABLE), len(_SWAPPABLE)):
        mine = [m for m in _spans(kind, q.question) if m != q.title and _holds(sentence, m)]
        others = sorted({o for o in pool.get(kind, ()) if o not in q.paragraph})
        if mine and others:
            old = rng.choice(mine)
            return q.question.replace(old, rng.choice(others), 1)
    return None


def swapped_pairs(
    questions: list[Question], share: float, seed: int, with_original: bool = False
) -> list[Pair]:
    """Negatives made from about ``share`` of the answerable ``questions``: the swapped question
    paired with the original's gold sentence. ``with_original`` also gives the original question
    with its gold sentence (the positive), so the two make a minimal pair: one sentence, two
    questions one name or number apart, one answered and one not."""
    rng = random.Random(seed)
    found: dict[str, dict[str, set[str]]] = {}
    for q in one_per_paragraph(questions):
        art = found.setdefault(q.article, {k: set() for k in _SWAPPABLE})
        for kind in _SWAPPABLE:
            for s, e in q.sentences:
                art[kind].update(_spans(kind, q.paragraph, s, e))
    pools = {a: {k: sorted(v) for k, v in kinds.items()} for a, kinds in found.items()}
    out = []
    for q in questions:
        if not q.answers or rng.random() >= share:
            continue
        changed = swapped_question(q, pools.get(q.article, {}), rng)
        if changed is not None:
            positive, *_ = pairs_for(q, rng, [], hard=0, easy=0)
            out.append(Pair(changed, q.title, positive.sentence, 0))
            if with_original:
                out.append(positive)
    return out

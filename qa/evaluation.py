"""Evaluation over a question set: correctness, abstention, answer-sentence ranking, short-answer
EM/F1 (SQuAD normalisation) and latency, per question kind.

Two input forms are read:

* the project's own benchmark (``eval/questions.jsonl``): ``id, question, kind, answers, match,
  article_ids, answerable, history, split``;
* SQuAD-style sets such as ``squad2-dev-5``: ``id, question, answers, answerable,
  paragraph_id`` with a ``paragraphs.jsonl`` beside it; a sentence then counts only when it lies
  inside the gold paragraph.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputFileError
from qa.pipeline import Assistant
from qa.text import normalize_article_text
from qa.types import Answer


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    kind: str
    answers: tuple[str, ...]
    match: str  # "any" | "all"
    article_ids: tuple[str, ...]
    answerable: bool
    history: tuple[Any, ...] = ()
    split: str = ""
    paragraph: str = ""  # gold paragraph text (SQuAD-style sets)


@dataclass
class EvalRecord:
    item: EvalItem
    answer: Answer
    correct: bool
    rank: int | None  # 1-based rank of the first gold sentence among those read
    em: float
    f1: float


@dataclass
class EvalReport:
    records: list[EvalRecord] = field(default_factory=list)

    def summary(self, records: Sequence[EvalRecord] | None = None) -> dict[str, Any]:
        recs = list(self.records if records is None else records)
        answerable = [r for r in recs if r.item.answerable]
        unanswerable = [r for r in recs if not r.item.answerable]
        abstained = [r for r in recs if r.answer.abstained]
        true_abst = [r for r in abstained if not r.item.answerable]
        lat = np.array([r.answer.timing_ms for r in recs]) if recs else np.zeros(1)

        def mean(xs: Iterable[float]) -> float | None:
            xs = list(xs)
            return float(np.mean(xs)) if xs else None

        return {
            "n": len(recs),
            "answerable": len(answerable),
            "correct": mean(float(r.correct) for r in recs),
            "abstain_precision": (len(true_abst) / len(abstained)) if abstained else None,
            "abstain_recall": (len(true_abst) / len(unanswerable)) if unanswerable else None,
            "answered_unanswerable": sum(1 for r in unanswerable if not r.answer.abstained),
            "p_at_1": mean(float(r.rank == 1) for r in answerable),
            "mrr": mean((1.0 / r.rank) if r.rank else 0.0 for r in answerable),
            "em": mean(r.em for r in answerable),
            "f1": mean(r.f1 for r in answerable),
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p95_ms": float(np.percentile(lat, 95)),
        }

    def by(self, key: str) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[EvalRecord]] = defaultdict(list)
        for r in self.records:
            groups[str(getattr(r.item, key))].append(r)
        return {k: self.summary(v) for k, v in sorted(groups.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.summary(),
            "by_kind": self.by("kind"),
            "by_split": self.by("split"),
            "questions": [
                {
                    "id": r.item.id,
                    "kind": r.item.kind,
                    "split": r.item.split,
                    "question": r.item.question,
                    "gold": list(r.item.answers),
                    "correct": r.correct,
                    "rank": r.rank,
                    "em": r.em,
                    "f1": r.f1,
                    "answer": r.answer.to_dict(),
                }
                for r in self.records
            ],
        }


# -- SQuAD normalisation ---------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("“”‘’–—")


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(pred: str, golds: Sequence[str]) -> float:
    return float(any(normalize_answer(pred) == normalize_answer(g) for g in golds))


def f1_score(pred: str, golds: Sequence[str]) -> float:
    best = 0.0
    ptoks = normalize_answer(pred).split()
    for g in golds:
        gtoks = normalize_answer(g).split()
        common = Counter(ptoks) & Counter(gtoks)
        same = sum(common.values())
        if not ptoks or not gtoks:
            best = max(best, float(ptoks == gtoks))
            continue
        if same == 0:
            continue
        p, r = same / len(ptoks), same / len(gtoks)
        best = max(best, 2 * p * r / (p + r))
    return best


# -- loading ---------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read {path}: {err}") from err
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputFileError(f"{path}:{n}: invalid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise InputFileError(f"{path}:{n}: each line must be a JSON object")
        rows.append(row)
    return rows


def load_eval_set(path: str | Path) -> list[EvalItem]:
    path = Path(path)
    if path.is_dir():
        path = path / "questions.jsonl"
    rows = _read_jsonl(path)
    paragraphs: dict[str, dict[str, Any]] = {}
    if any("paragraph_id" in r for r in rows):
        para_file = path.parent / "paragraphs.jsonl"
        paragraphs = {p["id"]: p for p in _read_jsonl(para_file)}
    items = []
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get("question"), str):
            raise InputFileError(f"{path}:{n}: missing 'question'")
        answers = tuple(r.get("answers") or ())
        answerable = bool(r.get("answerable", bool(answers)))
        para = paragraphs.get(r.get("paragraph_id", ""), {})
        kind = r.get("kind") or ("squad" if answerable else "squad-unanswerable")
        items.append(
            EvalItem(
                id=str(r.get("id", n)),
                question=r["question"],
                kind=kind,
                answers=answers,
                match=r.get("match", "any"),
                article_ids=tuple(r.get("article_ids") or ([para["article_id"]] if para else [])),
                answerable=answerable,
                history=tuple(r.get("history") or ()),
                split=r.get("split", ""),
                paragraph=para.get("text", ""),
            )
        )
    return items


# -- judging ---------------------------------------------------------------------------------------


def _contains(haystack: str, needle: str) -> bool:
    return needle in haystack or normalize_answer(needle) in normalize_answer(haystack)


def _gold_in(text: str, item: EvalItem) -> bool:
    hits = [_contains(text, g) for g in item.answers]
    return all(hits) if item.match == "all" else any(hits)


def judge(assistant: Assistant, item: EvalItem, answer: Answer) -> EvalRecord:
    index = assistant.index
    if not item.answerable:
        return EvalRecord(item, answer, answer.abstained, None, 0.0, 0.0)
    cited = {c.article_id for c in answer.citations}
    correct = (
        not answer.abstained
        and _gold_in(answer.answer, item)
        and bool(cited & set(item.article_ids))
    )
    rank = None
    para_span: dict[str, tuple[int, int]] = {}
    if item.paragraph:
        for aid in item.article_ids:
            if aid in index.article_pos:
                text = index.article(aid).text
                ptext = normalize_article_text(item.paragraph)
                at = text.find(ptext[:200])
                if at >= 0:
                    para_span[aid] = (at, at + len(ptext))
    for pos, sid in enumerate(answer.extra.get("ranked", []), 1):
        s = index.sentences[sid]
        if s.article_id not in item.article_ids:
            continue
        if item.paragraph:
            span = para_span.get(s.article_id)
            if span is None or not (span[0] <= s.start < span[1]):
                continue
        if any(_contains(s.text, g) for g in item.answers):
            rank = pos
            break
    short = "" if answer.abstained else answer.short_answer
    return EvalRecord(
        item, answer, correct, rank, exact_match(short, item.answers), f1_score(short, item.answers)
    )


def evaluate(assistant: Assistant, items: Sequence[EvalItem], progress: bool = False) -> EvalReport:
    report = EvalReport()
    iterable: Iterable[EvalItem] = items
    if progress:
        from tqdm.auto import tqdm

        iterable = tqdm(items, desc="evaluating", unit="q")
    for item in iterable:
        answer = assistant.ask(item.question, list(item.history) or None, id=item.id)
        report.records.append(judge(assistant, item, answer))
    return report


def format_table(report: EvalReport) -> str:
    cols = ["n", "correct", "abst_P", "abst_R", "P@1", "MRR", "EM", "F1", "p50ms", "p95ms"]
    keys = [
        "n",
        "correct",
        "abstain_precision",
        "abstain_recall",
        "p_at_1",
        "mrr",
        "em",
        "f1",
        "latency_p50_ms",
        "latency_p95_ms",
    ]

    def fmt(v: Any, k: str) -> str:
        if v is None:
            return "–"
        if k == "n":
            return str(v)
        if k.startswith("latency"):
            return f"{v:.1f}"
        return f"{v:.3f}"

    rows = [("kind", *cols)]
    for name, summ in report.by("kind").items():
        rows.append((name, *(fmt(summ[k], k) for k in keys)))
    for name, summ in report.by("split").items():
        if name:
            rows.append((f"split:{name}", *(fmt(summ[k], k) for k in keys)))
    rows.append(("ALL", *(fmt(report.summary()[k], k) for k in keys)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)

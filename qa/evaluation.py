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

import gzip
import hashlib
import json
import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputFileError
from qa.index.store import Index
from qa.ingest.text import normalize_article_text
from qa.pipeline import Assistant
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
            "answered_right": mean(float(r.correct) for r in answerable),
            "auroc": confidence_auroc(recs),
            "ece": confidence_ece(recs),
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


def confidence_auroc(records: Sequence[EvalRecord]) -> float | None:
    """How well ``confidence`` separates questions whose top sentence is right (answerable,
    gold sentence ranked first) from the rest (unanswerable, or a wrong top sentence); None when
    one side is empty."""
    labels = np.array([bool(r.item.answerable and r.rank == 1) for r in records])
    if labels.all() or not labels.any():
        return None
    scores = np.array([r.answer.confidence for r in records])
    pos, neg = scores[labels], scores[~labels]
    # probability that a random right one scores above a random wrong one (ties count half)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def confidence_ece(records: Sequence[EvalRecord], bins: int = 10) -> float | None:
    """Expected calibration error of ``confidence`` as the probability that the top sentence
    is right (same labels as :func:`confidence_auroc`), over equal-width bins."""
    if not records:
        return None
    labels = np.array([float(r.item.answerable and r.rank == 1) for r in records])
    scores = np.array([r.answer.confidence for r in records])
    total = 0.0
    for lo in np.linspace(0.0, 1.0, bins, endpoint=False):
        hi = lo + 1.0 / bins
        m = (scores >= lo) & ((scores < hi) | (hi >= 1.0))
        if m.any():
            total += m.mean() * abs(float(scores[m].mean()) - float(labels[m].mean()))
    return float(total)


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


class GoldSentences:
    """Which sentences of an index hold a gold answer of ``item``: in one of its articles,
    inside its gold paragraph (SQuAD-style sets), containing a gold answer."""

    def __init__(self, index: Index, item: EvalItem) -> None:
        self.index = index
        self.item = item
        self.para_span: dict[str, tuple[int, int]] = {}
        if item.paragraph:
            ptext = normalize_article_text(item.paragraph)
            for aid in item.article_ids:
                if aid in index.article_pos:
                    at = index.article(aid).text.find(ptext[:200])
                    if at >= 0:
                        self.para_span[aid] = (at, at + len(ptext))

    def holds(self, sid: int) -> bool:
        if not self.item.answerable:
            return False
        s = self.index.sentences[sid]
        if s.article_id not in self.item.article_ids:
            return False
        if self.item.paragraph:
            span = self.para_span.get(s.article_id)
            if span is None or not (span[0] <= s.start < span[1]):
                return False
        return any(_contains(s.text, g) for g in self.item.answers)


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
    gold = GoldSentences(index, item)
    rank = next(
        (pos for pos, sid in enumerate(answer.extra.get("ranked", []), 1) if gold.holds(sid)),
        None,
    )
    short = "" if answer.abstained else answer.short_answer
    return EvalRecord(
        item, answer, correct, rank, exact_match(short, item.answers), f1_score(short, item.answers)
    )


def evaluate(
    assistant: Assistant, items: Sequence[EvalItem], progress: bool = False, chat: bool = False
) -> EvalReport:
    """Ask every item and judge the answers. A follow-up's ``history`` (earlier questions) is
    given as it is; with ``chat``, as the web chat gives it: each earlier question asked in
    turn, with the conversation so far, and followed by its answer (empty when it abstained)."""
    report = EvalReport()
    iterable: Iterable[EvalItem] = items
    if progress:
        from tqdm.auto import tqdm

        iterable = tqdm(items, desc="evaluating", unit="q")
    for item in iterable:
        history: list[Any] = list(item.history)
        if chat and history:
            history = chat_history(assistant, [str(q) for q in item.history])
        answer = assistant.ask(item.question, history or None, id=item.id)
        report.records.append(judge(assistant, item, answer))
    return report


def chat_history(assistant: Assistant, questions: Sequence[str]) -> list[dict[str, str]]:
    """The {role, content} messages of a chat in which ``questions`` were asked in turn."""
    messages: list[dict[str, str]] = []
    for question in questions:
        reply = assistant.ask(question, messages or None)
        messages = [
            *messages,
            {"role": "user", "content": question},
            {"role": "assistant", "content": reply.answer},
        ]
    return messages


SUMMARY_COLUMNS = (
    ("set", "set"),
    ("reader", "reader"),
    ("n", "n"),
    ("P@1", "p_at_1"),
    ("answered right", "answered_right"),
    ("unans. abstained", "abstain_recall"),
    ("EM", "em"),
    ("F1", "f1"),
    ("AUROC", "auroc"),
    ("ECE", "ece"),
    ("p50 ms", "latency_p50_ms"),
)


def format_summary(rows: Sequence[tuple[str, str, dict[str, Any]]]) -> str:
    """One Markdown table: a row per (set, reader) with its summary figures."""
    head = [c for c, _ in SUMMARY_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, reader, summ in rows:
        cells = [name, reader]
        for _, key in SUMMARY_COLUMNS[2:]:
            v = summ.get(key)
            cells.append(
                "–"
                if v is None
                else str(v)
                if key == "n"
                else f"{v:.1f}"
                if "ms" in key
                else f"{v:.3f}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


# -- the index a set is asked of -------------------------------------------------------------------


def eval_assistant(
    questions: Path,
    corpus: Sequence[str | Path],
    data_dir: Path,
    *,
    index_dir: Path | None = None,
    model: str = "minilm",
    progress: bool = False,
    **kwargs: Any,
) -> Assistant | None:
    """The assistant that answers a set's questions from ``corpus`` (default: the
    ``corpus.jsonl`` beside the questions, i.e. the set's own articles only), its index built or
    refreshed in ``index_dir`` (default ``data_dir/eval-index/<set>-<model>``). None when the
    set has no articles of its own and none are given (the bundled index answers it then).
    ``kwargs`` go to :class:`Assistant` (``query_cache=0``, say)."""
    folder = questions if questions.is_dir() else questions.parent
    sources = [str(p) for p in corpus]
    if not sources and (folder / "corpus.jsonl").is_file():
        sources = [str(folder / "corpus.jsonl")]
    if not sources:
        return None
    # a SQuAD-style folder is named by its folder, a questions file of its own (eval/pages.jsonl)
    # by its name
    own_file = questions.is_file() and questions.name != "questions.jsonl"
    name = questions.stem if own_file else folder.name
    target = index_dir or data_dir / "eval-index" / f"{name}-{model}"
    return Assistant.ensure(sources, target, model=model, progress=progress, **kwargs)


# -- named sets ------------------------------------------------------------------------------------

BUNDLED_SETS = (
    "questions",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "offtopic",
    "followups",
)
SHARED_SETS = {
    "squad2-dev-5": ("benchmarks/squad2-dev-5", "validation"),
    "squad2-test-10": ("benchmarks/squad2-test-10", "test"),
    "new_wiki": ("datasets/squadshifts/new_wiki_v1.0.json", "test"),
    "reddit": ("datasets/squadshifts/reddit_v1.0.json", "test"),
}


# sets whose questions are in eval/ and whose articles are read from QA_SHARED_DIR: ``pages`` and
# ``pages-followups`` ask about ten real news web pages, indexed from their HTML (menus, ads and
# all) as a newsroom's would be
PAGE_SETS = {"pages": "pages/news-html", "pages-followups": "pages/news-html"}


# a set whose articles are partly training data: only its held-out articles are evaluated
HELD_OUT_SETS = {
    "amazon_reviews": ("datasets/squadshifts/amazon_reviews_v1.0.json", "validation"),
}
HELD_OUT_SHARE = 4  # one article in this many is held out (by its title's hash)


def held_out_article(title: str) -> bool:
    """Whether an article of a partly-training set (``HELD_OUT_SETS``) is held out for
    validation: decided by the SHA-256 of its title, so training and evaluation agree without
    sharing any state."""
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_SHARE == 0


def set_names() -> list[str]:
    return [*BUNDLED_SETS, *PAGE_SETS, *SHARED_SETS, *HELD_OUT_SETS]


def set_articles(name: str, shared_dir: Path) -> list[Path]:
    """The articles a named set is asked of when they are neither the bundled corpus nor a
    ``corpus.jsonl`` beside its questions: for a ``PAGE_SETS`` set, its web pages in
    ``shared_dir``; none for the others."""
    if name not in PAGE_SETS:
        return []
    folder = shared_dir / PAGE_SETS[name]
    pages = sorted(folder.glob("*.html"))
    if not pages:
        raise InputFileError(f"the eval set {name!r} needs the web pages in {folder}: none found")
    return pages


def resolve_set(name: str, eval_dir: Path, shared_dir: Path, work_dir: Path) -> Path:
    """The questions file or folder of a named set. A SQuAD-format JSON file (squadshifts) is
    converted once into a folder under ``work_dir`` (corpus, paragraphs and questions JSONL)."""
    if name in BUNDLED_SETS or name in PAGE_SETS:
        path = eval_dir / f"{name}.jsonl"
        if not path.is_file():
            raise InputFileError(f"the eval set {name!r} is missing: no {path}")
        return path
    known = {**SHARED_SETS, **HELD_OUT_SETS}
    if name not in known:
        raise InputFileError(f"unknown eval set {name!r}; known: {', '.join(set_names())}")
    path = shared_dir / known[name][0]
    if not path.exists():
        raise InputFileError(f"the eval set {name!r} needs {path}, which is missing")
    if path.is_dir():
        return path
    keep = held_out_article if name in HELD_OUT_SETS else None
    return squad_json_to_set(path, work_dir / name, keep)


def squad_json_to_set(path: Path, out: Path, keep: Callable[[str], bool] | None = None) -> Path:
    """Write ``out/{corpus,paragraphs,questions}.jsonl`` from a SQuAD v1.1-format file (or its
    ``.gz``): one article per SQuAD title (paragraphs joined by a blank line), only the titles
    ``keep`` accepts when given. Rewritten only when missing."""
    if (out / "questions.jsonl").is_file():
        return out
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    corpus: list[dict[str, Any]] = []
    paragraphs: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for art in data:
        aid = str(art.get("title") or f"article-{len(corpus)}")
        if keep is not None and not keep(aid):
            continue
        texts = []
        for i, para in enumerate(art["paragraphs"]):
            pid = f"{aid}#{i}"
            texts.append(para["context"])
            paragraphs.append({"id": pid, "article_id": aid, "text": para["context"]})
            for qa in para["qas"]:
                answers = sorted({a["text"] for a in qa.get("answers", [])})
                questions.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"],
                        "answers": answers,
                        "answerable": bool(answers),
                        "paragraph_id": pid,
                    }
                )
        corpus.append(
            {
                "id": aid,
                "title": aid.replace("_", " "),
                "source": path.stem,
                "text": "\n\n".join(texts),
            }
        )
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("corpus.jsonl", corpus),
        ("paragraphs.jsonl", paragraphs),
        ("questions.jsonl", questions),
    ):
        with open(tmp / name, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out

"""Example questions for the chat, drawn from what the index holds."""

from __future__ import annotations

import json
from pathlib import Path

from qa.config import EVAL_DIR
from qa.pipeline import Assistant

EVAL_QUESTIONS = EVAL_DIR / "questions.jsonl"


def example_questions(
    assistant: Assistant, limit: int = 4, eval_file: Path | None = EVAL_QUESTIONS
) -> list[str]:
    """Example questions for the chat, drawn from what is indexed: benchmark questions whose
    articles are all in this index (one per kind, when ``eval_file`` exists), else questions built
    from article titles."""
    ids = {a.id for a in assistant.index.articles}
    out: list[str] = []
    kinds: set[str] = set()
    if eval_file is not None and eval_file.is_file():
        try:
            rows = [json.loads(x) for x in eval_file.read_text(encoding="utf-8").splitlines() if x]
        except (OSError, ValueError):
            rows = []
        for row in rows:
            arts = set(row.get("article_ids") or [])
            q = str(row.get("question") or "")
            if not (row.get("answerable") and q and arts and arts <= ids) or row.get("history"):
                continue
            if len(q) > 90 or row.get("kind") in kinds:
                continue
            kinds.add(str(row.get("kind")))
            out.append(q)
            if len(out) >= limit:
                return out
    for article in assistant.index.articles:
        if len(out) >= limit:
            break
        title = " ".join(article.title.split()).rstrip(".?!")
        if title and len(title) <= 80:
            out.append(f"What happened: {title}?")
    return out

"""qa: offline extractive question answering over news articles, with citations.

from qa import Assistant
answer = Assistant.load("index").ask("Who leads the mission?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.errors import CorpusError, IndexLoadError, QAError, QuestionError, StaleIndexError
from qa.types import Answer, Article, Citation, Passage, Sentence

if TYPE_CHECKING:
    from qa.pipeline import Assistant

__all__ = [
    "Answer",
    "Article",
    "Assistant",
    "Citation",
    "CorpusError",
    "IndexLoadError",
    "Passage",
    "QAError",
    "QuestionError",
    "Sentence",
    "StaleIndexError",
]


def __getattr__(name: str) -> Any:
    # imported lazily so `import qa` stays cheap (FAISS and torch load only when needed)
    if name == "Assistant":
        from qa.pipeline import Assistant

        return Assistant
    raise AttributeError(name)

"""Assistant.ask_many: same answers as ask(), in order, each distinct query encoded once, the
encoding done ahead in a background thread (fast hashing embedder, tiny corpus)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.embed.embedder import HashEmbedder
from qa.index.build import build_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant

QUESTIONS = [
    "How much did the repairs cost?",
    "Who welcomed the first students?",
    "How many workers rebuilt the main pier?",
    "When did the school in Marrow open?",
    "What is the boiling point of mercury in Kelvin?",
    "How many classrooms does the school have?",
    "When will ferry service resume?",
]


@pytest.fixture(scope="module")
def tiny_index(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus indexed with the hashing embedder (these tests count its calls; they
    compare answers with each other, not with what a question should get)."""
    target = tmp_path_factory.mktemp("tiny-hash-index")
    articles = load_corpus([tiny_dir]).articles
    build_index(articles, target, inputs=[tiny_dir], embedder=HashEmbedder(), progress=False)
    return target


class CountingEmbedder(HashEmbedder):
    """Records every text it encodes and the thread it ran on; can be made to fail."""

    def __init__(self, fail_on: str = "") -> None:
        super().__init__()
        self.seen: list[str] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        with self._lock:
            self.seen.extend(texts)
            self.threads.add(threading.current_thread().name)
        if self.fail_on and self.fail_on in texts:
            raise RuntimeError("encoder broke")
        return super().encode(texts, batch_size, progress)


def strip(answer: Any) -> dict[str, Any]:
    d = answer.to_dict()
    d.pop("timing_ms", None)
    return d


@pytest.fixture
def counting(tiny_index: Path) -> tuple[Assistant, CountingEmbedder]:
    embedder = CountingEmbedder()
    return Assistant.load(tiny_index, embedder=embedder, query_cache=0), embedder


def test_ask_many_matches_ask_over_many_batches(tiny_index: Path) -> None:
    assistant = Assistant.load(tiny_index, query_cache=0)
    items: list[Any] = [*QUESTIONS, "", {"id": "f", "question": "And the ferry?", "history": []}]
    items += [{"id": f"x{i}", "question": q} for i, q in enumerate(QUESTIONS)]
    one = []
    for n, item in enumerate(items, start=1):
        if item == "":
            continue
        if isinstance(item, dict):
            one.append(strip(assistant.ask(item["question"], item.get("history"), id=item["id"])))
        else:
            one.append(strip(assistant.ask(item, id=str(n))))
    for batch_size in (1, 3, 64):
        many = assistant.ask_many(items, batch_size=batch_size)
        assert [a.id for a in many][: len(QUESTIONS) + 2] == [
            *[str(i) for i in range(1, len(QUESTIONS) + 1)],
            str(len(QUESTIONS) + 1),
            "f",
        ]
        assert many[len(QUESTIONS)].error == "the question is empty"
        assert [strip(a) for a in many if not a.error] == one
        assert all(a.timing_ms >= 0 for a in many)


def test_each_distinct_query_is_encoded_once_ahead_of_reading(
    counting: tuple[Assistant, CountingEmbedder],
) -> None:
    assistant, embedder = counting
    answers = assistant.ask_many(QUESTIONS * 4, batch_size=2)
    assert len(answers) == 4 * len(QUESTIONS)
    for i, a in enumerate(answers):
        assert strip(a) | {"id": ""} == strip(answers[i % len(QUESTIONS)]) | {"id": ""}
    queries = [q for q in embedder.seen if q in QUESTIONS]
    assert sorted(queries) == sorted(QUESTIONS)  # once each, not four times
    assert any(name.startswith("qa-encode") for name in embedder.threads)


def test_a_single_batch_is_encoded_in_the_calling_thread(
    counting: tuple[Assistant, CountingEmbedder],
) -> None:
    assistant, embedder = counting
    assistant.ask_many(QUESTIONS[:3])
    assert embedder.threads == {threading.current_thread().name}


def test_an_encoder_failure_reaches_the_caller_and_stops_the_thread(tiny_index: Path) -> None:
    embedder = CountingEmbedder(fail_on=QUESTIONS[4])
    assistant = Assistant.load(tiny_index, embedder=embedder, query_cache=0)
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="encoder broke"):
        assistant.ask_many(QUESTIONS, batch_size=1)
    after = {t.name for t in threading.enumerate()}
    assert not {n for n in after - before if n.startswith("qa-encode")}
    # batches after the failing one were cancelled, not encoded
    assert QUESTIONS[-1] not in embedder.seen

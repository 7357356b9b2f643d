"""Named evaluation sets: SQuAD-format files become benchmark folders, unknown names are clean
errors, and the summary table has one row per set and reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from qa.config import Settings
from qa.errors import InputFileError
from qa.evaluation import (
    EvalItem,
    EvalRecord,
    confidence_auroc,
    confidence_ece,
    evaluate,
    format_summary,
    held_out_article,
    load_eval_set,
    resolve_set,
    set_articles,
)
from qa.ingest.corpus import load_corpus
from qa.surfaces.cli import main
from qa.types import Answer
from tests.helpers import ROOT

CONTEXT = "Lake Orva freezes every January. Its ice is 40 centimetres thick."


def _shifts(shared: Path) -> None:
    folder = shared / "datasets" / "squadshifts"
    folder.mkdir(parents=True)
    data = {
        "data": [
            {
                "title": "Lake_Orva",
                "paragraphs": [
                    {
                        "context": CONTEXT,
                        "qas": [
                            {
                                "id": "x1",
                                "question": "When does Lake Orva freeze?",
                                "answers": [
                                    {"text": "every January", "answer_start": 18},
                                    {"text": "January", "answer_start": 24},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (folder / "new_wiki_v1.0.json").write_text(json.dumps(data), encoding="utf-8")


def test_a_squad_file_becomes_a_benchmark_folder(tmp_path: Path) -> None:
    _shifts(tmp_path / "shared")
    folder = resolve_set("new_wiki", tmp_path / "eval", tmp_path / "shared", tmp_path / "work")
    corpus = [json.loads(x) for x in (folder / "corpus.jsonl").read_text().splitlines()]
    assert corpus == [
        {"id": "Lake_Orva", "title": "Lake Orva", "source": "new_wiki_v1.0", "text": CONTEXT}
    ]
    (item,) = load_eval_set(folder)
    assert item.answers == ("January", "every January") and item.answerable
    assert item.paragraph == CONTEXT and item.article_ids == ("Lake_Orva",)


def test_a_partly_training_set_is_evaluated_on_its_held_out_articles_only(
    tmp_path: Path,
) -> None:
    titles = [f"Shop_{i}" for i in range(16)]
    data = {
        "data": [
            {
                "title": t,
                "paragraphs": [
                    {
                        "context": CONTEXT,
                        "qas": [
                            {
                                "id": t,
                                "question": "When does Lake Orva freeze?",
                                "answers": [{"text": "every January", "answer_start": 18}],
                            }
                        ],
                    }
                ],
            }
            for t in titles
        ]
    }
    folder = tmp_path / "shared" / "datasets" / "squadshifts"
    folder.mkdir(parents=True)
    (folder / "amazon_reviews_v1.0.json").write_text(json.dumps(data), encoding="utf-8")
    got = resolve_set("amazon_reviews", tmp_path / "eval", tmp_path / "shared", tmp_path / "w")
    kept = {json.loads(x)["id"] for x in (got / "corpus.jsonl").read_text().splitlines()}
    assert kept == {t for t in titles if held_out_article(t)}
    assert 0 < len(kept) < len(titles)
    assert {i.id for i in load_eval_set(got)} == kept


def test_unknown_or_missing_sets_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="unknown eval set 'nope'"):
        resolve_set("nope", tmp_path, tmp_path, tmp_path)
    with pytest.raises(InputFileError, match=r"needs .*squad2-test-10"):
        resolve_set("squad2-test-10", tmp_path, tmp_path, tmp_path)


def test_eval_cli_rejects_an_unknown_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_SHARED_DIR", str(tmp_path))
    res = CliRunner().invoke(main, ["eval", "--set", "nope"])
    assert res.exit_code == 1
    assert "unknown eval set 'nope'" in res.output


def test_the_pages_set_is_asked_of_the_web_pages_in_the_shared_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = resolve_set("pages", ROOT / "eval", tmp_path, tmp_path)
    items = load_eval_set(path)
    assert path.name == "pages.jsonl" and len(items) == 61
    assert sum(not i.answerable for i in items) == 10 and all(i.split == "pages" for i in items)
    with pytest.raises(InputFileError, match=r"needs the web pages in .*news-html"):
        set_articles("pages", tmp_path)
    folder = tmp_path / "pages" / "news-html"
    folder.mkdir(parents=True)
    for name in ("b.html", "a.html", "notes.txt"):
        (folder / name).write_text("<html></html>", encoding="utf-8")
    assert [p.name for p in set_articles("pages", tmp_path)] == ["a.html", "b.html"]
    assert set_articles("questions", tmp_path) == []  # the bundled corpus answers it
    monkeypatch.setenv("QA_SHARED_DIR", str(tmp_path / "elsewhere"))
    res = CliRunner().invoke(main, ["eval", "--set", "pages"])
    assert res.exit_code == 1 and "needs the web pages in" in res.output


PAGES = Settings().shared_dir / "pages" / "news-html"


@pytest.mark.skipif(not PAGES.is_dir(), reason=f"no {PAGES}")
@pytest.mark.parametrize("name", ["pages.jsonl", "pages-followups.jsonl"])
def test_every_pages_answer_is_in_its_page_as_indexed(name: str) -> None:
    texts = {a.id: a.text for a in load_corpus(sorted(PAGES.glob("*.html"))).articles}
    assert len(texts) == 10
    for item in load_eval_set(ROOT / "eval" / name):
        for gold in item.answers:
            assert any(gold in texts[a] for a in item.article_ids), (item.id, gold)


@pytest.mark.parametrize("name", ["followups.jsonl", "pages-followups.jsonl"])
def test_the_follow_up_sets_are_conversations_with_answerable_and_unanswerable_turns(
    name: str,
) -> None:
    items = load_eval_set(ROOT / "eval" / name)
    assert len(items) == 40 and len({i.id for i in items}) == 40
    assert sum(not i.answerable for i in items) == 16
    assert all(1 <= len(i.history) <= 3 for i in items)
    assert all(bool(i.answers) == i.answerable == bool(i.article_ids) for i in items)


def test_every_follow_up_answer_is_in_its_bundled_article() -> None:
    texts = {a.id: a.text for a in load_corpus([ROOT / "corpus"]).articles}
    for item in load_eval_set(ROOT / "eval" / "followups.jsonl"):
        for gold in item.answers:
            assert any(gold in texts[a] for a in item.article_ids), (item.id, gold)


def _record(answerable: bool, rank: int | None, confidence: float) -> EvalRecord:
    item = EvalItem("i", "q?", "k", ("a",) if answerable else (), "any", (), answerable)
    answer = Answer("i", "q?", "", "", False, confidence)
    return EvalRecord(item, answer, False, rank, 0.0, 0.0)


def test_auroc_of_confidence() -> None:
    perfect = [_record(True, 1, 0.9), _record(False, None, 0.1), _record(True, 2, 0.2)]
    assert confidence_auroc(perfect) == pytest.approx(1.0)
    inverted = [_record(True, 1, 0.1), _record(False, None, 0.9)]
    assert confidence_auroc(inverted) == pytest.approx(0.0)
    assert confidence_auroc([_record(True, 1, 0.5)]) is None
    tied = [_record(True, 1, 0.5), _record(False, None, 0.5)]
    assert confidence_auroc(tied) == pytest.approx(0.5)


def test_ece_of_confidence() -> None:
    assert confidence_ece([_record(True, 1, 1.0), _record(False, None, 0.0)]) == pytest.approx(0.0)
    assert confidence_ece([_record(True, 2, 0.9)]) == pytest.approx(0.9)
    assert confidence_ece([]) is None


def test_summary_table_has_a_row_per_set_and_reader() -> None:
    summ = {"n": 3, "p_at_1": 0.5, "answered_right": None, "latency_p50_ms": 12.34}
    table = format_summary([("a", "learned", summ), ("a", "rules", summ)]).splitlines()
    assert table[0].startswith("| set | reader | n | P@1 |")
    assert table[2] == "| a | learned | 3 | 0.500 | – | – | – | – | – | – | 12.3 |"
    assert len(table) == 4
    assert np.isfinite(0.5)


class _Recorder:
    """An assistant that records what it is asked; it answers "How …" questions only."""

    index = None  # judging an unanswerable item needs no index

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def ask(self, question: str, history: Any = None, id: str = "") -> Answer:
        self.calls.append((question, history))
        if question.startswith("How"):
            return Answer(id, question, f"A quote for {question}", "", False, 0.9)
        return Answer(id, question, "", "", True, 0.1, message="Not found in these articles.")


def test_chat_mode_gives_a_follow_up_the_replies_the_chat_showed() -> None:
    item = EvalItem("f1", "And then?", "followup", (), "any", (), False, ("How many?", "Why?"))
    plain = _Recorder()
    evaluate(plain, [item])  # type: ignore[arg-type]
    assert plain.calls == [("And then?", ["How many?", "Why?"])]
    chat = _Recorder()
    report = evaluate(chat, [item], chat=True)  # type: ignore[arg-type]
    first = [
        {"role": "user", "content": "How many?"},
        {"role": "assistant", "content": "A quote for How many?"},
    ]
    assert chat.calls == [
        ("How many?", None),
        ("Why?", first),
        (
            "And then?",
            [
                *first,
                {"role": "user", "content": "Why?"},
                {"role": "assistant", "content": ""},  # as the web chat sends an abstention
            ],
        ),
    ]
    assert report.records[0].correct  # an unanswerable follow-up, abstained

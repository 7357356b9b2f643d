"""Real-model tests on the bundled corpus: the answer contract and the benchmark floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.config import Settings
from qa.evaluation import evaluate, load_eval_set
from qa.pipeline import Assistant
from qa.surfaces.cli import main
from tests.helpers import ROOT

pytestmark = pytest.mark.slow
BENCHMARK = ROOT / "eval" / "questions.jsonl"
# Regression floors for the learned reader (docs/benchmarks.md), a little under what reader
# model v5 (twelve layers of a cross-encoder, both stages; read gap 2.5, threshold 0.30)
# measured on 2026-12-05 evening: 0.816 of the 103 questions handled right, 17 of 20
# unanswerable ones abstained (v4: 0.718 and 16 of 20; v3: 0.699 and 13); 0.825 since a
# follow-up resolved to a person is searched alone. The goals (0.90 and 20 of 20) are
# not met; the rules reader met them on this file because it was written from it.
CORRECT_FLOOR = 0.80
ABSTAIN_FLOOR = 0.80
OFFTOPIC_FLOOR = 0.95  # the goal; measured 60 of 60
# measured: 1 of the 99 questions that are not about a disagreement: with v5, q001 ("another 600"
# officers shown against Kenya's 735); with v4, q063, the same two figures (the 600-step
# embedder: both)
SPURIOUS_CONFLICTS = 1
# The held-out sets (eval/README.md), handled right: v2 0.567, 0.700, 0.400, 0.767, 0.700 (pooled
# 0.627), v3 0.633, 0.633, 0.533, 0.867, 0.700 (pooled 0.673), v3 with the ranker, the fine-tuned
# embedder and the read gap 0.633, 0.733, 0.533, 0.900, 0.700 (pooled 0.700), reader model v4
# 0.633, 0.700, 0.533, 0.800, 0.733 (pooled 0.680), v5 0.700, 0.700, 0.567, 0.833, 0.700 (pooled
# 0.700; docs/benchmarks.md), 0.733, 0.733, 0.567, 0.833, 0.700 (pooled 0.713) since a follow-up
# resolved to a person is searched alone, 0.733, 0.767, 0.567, 0.833, 0.733 (pooled 0.727) since
# a follow-up is judged as asked and in context. The follow-ups written blind on 2026-12-05
# (eval/followups.jsonl): 0.625 blind, 0.800 since.
HELDOUT_FLOORS = {
    "heldout.jsonl": 0.70,
    "heldout2.jsonl": 0.73,
    "heldout3.jsonl": 0.53,
    "heldout4.jsonl": 0.76,
    "heldout5.jsonl": 0.70,
    "followups.jsonl": 0.77,
}


@pytest.fixture(scope="module")
def report(bundled_assistant: Assistant):  # type: ignore[no-untyped-def]
    return evaluate(bundled_assistant, load_eval_set(BENCHMARK))


def test_benchmark_has_the_promised_shape() -> None:
    items = load_eval_set(BENCHMARK)
    kinds = {i.kind for i in items}
    assert len(items) == 103
    assert sum(not i.answerable for i in items) >= 10
    assert sum(i.kind == "conflict" for i in items) >= 2
    assert sum(bool(i.history) for i in items) >= 5
    assert {"figure", "date", "person", "place", "list", "why", "paraphrase"} <= kinds


def test_benchmark_correctness_floor(report) -> None:  # type: ignore[no-untyped-def]
    summary = report.summary()
    wrong = [
        f"{r.item.id} {r.item.question!r} -> {r.answer.answer[:80]!r}"
        for r in report.records
        if not r.correct
    ]
    assert summary["correct"] >= CORRECT_FLOOR, "\n".join(wrong)


def test_out_of_corpus_questions_abstain(report) -> None:  # type: ignore[no-untyped-def]
    unanswerable = [r for r in report.records if not r.item.answerable]
    abstained = sum(r.answer.abstained for r in unanswerable)
    assert abstained / len(unanswerable) >= ABSTAIN_FLOOR, [
        r.item.question for r in unanswerable if not r.answer.abstained
    ]


def test_few_made_up_disagreements(report) -> None:  # type: ignore[no-untyped-def]
    # figures for different things ("another 600" officers, Kenya's 735 of 989) shown as
    # sources disagreeing: a known weakness, held at its measured level
    spurious = [
        f"{r.item.id}: {r.answer.message}"
        for r in report.records
        if r.answer.conflict and r.item.kind != "conflict"
    ]
    assert len(spurious) <= SPURIOUS_CONFLICTS, spurious


def test_off_topic_questions_abstain(bundled_assistant: Assistant) -> None:
    report = evaluate(bundled_assistant, load_eval_set(BENCHMARK.parent / "offtopic.jsonl"))
    answered = [r.item.question for r in report.records if not r.answer.abstained]
    assert len(report.records) >= 50
    assert 1 - len(answered) / len(report.records) >= OFFTOPIC_FLOOR, answered


def test_every_quote_is_verbatim_at_its_offsets(report, bundled_assistant: Assistant) -> None:  # type: ignore[no-untyped-def]
    for r in report.records:
        for c in r.answer.citations:
            assert bundled_assistant.index.article(c.article_id).text[c.start : c.end] == c.quote
        if not r.answer.abstained:
            assert len(r.answer.answer.split()) <= 80 * len(r.answer.citations)
            assert r.answer.short_answer in r.answer.answer


def test_batch_over_bundled_corpus_writes_the_contract(bundled_index: Path, tmp_path: Path) -> None:
    inp = tmp_path / "questions.jsonl"
    items = load_eval_set(BENCHMARK)[:20]
    inp.write_text(
        "\n".join(
            json.dumps({"id": i.id, "question": i.question, "history": list(i.history)})
            for i in items
        )
    )
    out = tmp_path / "answers.jsonl"
    res = CliRunner().invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(bundled_index), "-q"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [i.id for i in items]
    texts = {a.id: a.text for a in Assistant.load(bundled_index).index.articles}
    for row in rows:
        assert set(row) >= {
            "id",
            "question",
            "answer",
            "short_answer",
            "abstained",
            "confidence",
            "citations",
            "timing_ms",
        }
        for c in row["citations"]:
            assert texts[c["article_id"]][c["start"] : c["end"]] == c["quote"]


def test_an_answer_does_not_depend_on_what_was_asked_before(
    bundled_assistant: Assistant,
) -> None:
    # the reader and the pipeline cache (sentence terms, question vectors); a question asked
    # first, on a fresh assistant, must get the same answer as when it is asked again
    for path in [BENCHMARK, *sorted(BENCHMARK.parent.glob("heldout*.jsonl"))]:
        for item in load_eval_set(path):
            fresh = Assistant(bundled_assistant.index, embedder=bundled_assistant.embedder)
            history = list(item.history) or None
            first, again = fresh.ask(item.question, history), fresh.ask(item.question, history)
            assert (first.answer, first.abstained) == (again.answer, again.abstained), item.id


@pytest.mark.parametrize("name", sorted(HELDOUT_FLOORS))
def test_held_out_sets_do_not_regress(name: str, bundled_assistant: Assistant) -> None:
    report = evaluate(bundled_assistant, load_eval_set(BENCHMARK.parent / name))
    wrong = [r.item.id for r in report.records if not r.correct]
    assert report.summary()["correct"] >= HELDOUT_FLOORS[name], wrong


PAGES = Settings().shared_dir / "pages" / "news-html"
# the ten real news pages (eval/pages.jsonl), first measured 2026-12-05: 49 of 61 handled right
# (0.803: 40 of 51 answered right, 9 of 10 unanswerable ones refused); follow-ups on them
# (eval/pages-followups.jsonl), written blind 2026-12-05: 0.575 blind, 0.775 since a follow-up is
# judged as asked and in context
PAGES_FLOORS = {"pages.jsonl": 0.77, "pages-followups.jsonl": 0.75}


@pytest.fixture(scope="module")
def pages_assistant(make_assistant) -> Assistant:  # type: ignore[no-untyped-def]
    return make_assistant(
        {p.name: p.read_text(encoding="utf-8") for p in sorted(PAGES.glob("*.html"))}
    )


@pytest.mark.skipif(not PAGES.is_dir(), reason=f"no {PAGES}")
@pytest.mark.parametrize("name", sorted(PAGES_FLOORS))
def test_the_real_news_pages_do_not_regress(name: str, pages_assistant: Assistant) -> None:
    report = evaluate(pages_assistant, load_eval_set(BENCHMARK.parent / name))
    wrong = [r.item.id for r in report.records if not r.correct]
    assert report.summary()["correct"] >= PAGES_FLOORS[name], wrong

"""The learned reader end to end on a few invented articles (hashing embedder, real reader
model): quotes are verbatim, off-topic questions abstain, disagreeing sources are both shown,
and confidence is a probability."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.errors import QAError
from qa.pipeline import Assistant

ARTICLES = {
    "harbor.md": """---
id: harbor
title: "Port of Linden reopens after storm"
source: "Coast Gazette"
date: 2025-03-02
---
The harbor of Linden reopened on Monday after a week of repairs.
Mayor Clara Voss said 120 workers rebuilt the main pier.
The repairs cost $4 million, paid by the regional government.
""",
    "ferry.md": """---
id: ferry
title: "Linden ferry service to resume"
source: "Island Times"
date: 2025-03-04
---
Ferry operators confirmed that service to the islands resumes in April.
According to the operators, 95 workers rebuilt the main pier in Linden.
Tickets will cost the same as last year.
""",
    "school.md": """---
id: school
title: "New school opens in Marrow"
source: "Marrow Post"
date: 2025-02-20
---
The town of Marrow opened a new primary school on Friday.
The school has 14 classrooms and room for 400 pupils.
Principal Tomas Berg welcomed the first students.
""",
}


@pytest.fixture(scope="module")
def assistant(make_assistant) -> Assistant:  # type: ignore[no-untyped-def]
    return make_assistant(ARTICLES)  # type: ignore[no-any-return]


def test_answer_quotes_the_article_verbatim(assistant: Assistant) -> None:
    answer = assistant.ask("Who is the principal of the new school in Marrow?")
    assert not answer.abstained
    cite = answer.citations[0]
    text = assistant.index.article(cite.article_id).text
    assert cite.quote == text[cite.start : cite.end]
    assert "Tomas Berg" in answer.short_answer
    assert cite.short_start is not None and cite.short_end is not None
    assert text[cite.short_start : cite.short_end] == answer.short_answer
    assert cite.start <= cite.short_start < cite.short_end <= cite.end
    assert 0.0 <= answer.confidence <= 1.0


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How many moons does Jupiter have?",
        "Who painted the ceiling of the Sistine Chapel?",
    ],
)
def test_questions_the_articles_never_touch_abstain(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.abstained, answer.answer
    assert answer.citations == ()
    assert answer.confidence < assistant.reader.params.threshold  # type: ignore[union-attr]


def test_sources_that_disagree_are_both_shown(assistant: Assistant) -> None:
    answer = assistant.ask("How many workers rebuilt the main pier in Linden?")
    assert answer.conflict, answer.answer
    assert {c.article_id for c in answer.citations} == {"harbor", "ferry"}
    assert "120" in answer.message and "95" in answer.message


def test_single_and_batch_agree(assistant: Assistant) -> None:
    q = "How much did the repairs of the harbor cost?"
    one = assistant.ask(q)
    many = assistant.ask_many([q])[0]
    assert one.to_dict() | {"timing_ms": 0, "id": ""} == many.to_dict() | {"timing_ms": 0, "id": ""}
    assert "$4 million" in one.answer


def test_an_abstention_shows_the_closest_sentences_as_related(assistant: Assistant) -> None:
    answer = assistant.ask("How many moons does Jupiter have?")
    assert answer.abstained and answer.answer == "" and answer.citations == ()
    assert len(answer.related) == 3
    # one per article first: the first ones come from as many articles as there are
    arts = [c.article_id for c in answer.related]
    assert len(set(arts[: len(set(arts))])) == len(set(arts))
    for n, c in enumerate(answer.related, start=1):
        assert c.n == n and c.short_start is None and c.in_story is None
        assert c.quote == assistant.index.article(c.article_id).text[c.start : c.end]
    assert answer.to_dict()["related"][0]["quote"] == answer.related[0].quote
    assert assistant.ask("Who welcomed the first students?").related == ()


def test_a_story_page_answers_from_its_story_first(assistant: Assistant) -> None:
    q = "How many workers rebuilt the main pier in Linden?"
    for story, other in (("ferry", "harbor"), ("harbor", "ferry")):
        answer = assistant.ask(q, prefer=[story])
        assert not answer.abstained
        assert (answer.citations[0].article_id, answer.citations[0].in_story) == (story, True)
        # the rest of the archive follows, marked as such
        assert [(c.article_id, c.in_story) for c in answer.citations[1:]] == [(other, False)]
    # a story that does not answer: the archive's answer, marked as not from the story
    answer = assistant.ask("When does the ferry service to the islands resume?", prefer=["school"])
    assert not answer.abstained
    assert [(c.article_id, c.in_story) for c in answer.citations] == [("ferry", False)]
    assert "in_story" not in assistant.ask(q).to_dict()["citations"][0]
    one = assistant.ask(q, prefer=["ferry"]).to_dict()
    many = assistant.ask_many([q], prefer=["ferry"])[0].to_dict()
    assert one | {"timing_ms": 0, "id": ""} == many | {"timing_ms": 0, "id": ""}


def test_an_abstention_shows_three_related_though_one_sentence_was_read(
    assistant: Assistant,
) -> None:
    shipped = assistant.reader.params
    assistant.reader.params = replace(shipped, read_gap=0.0, threshold=1.0)  # read 1, abstain
    try:
        answer = assistant.ask("How many workers rebuilt the main pier in Linden?")
    finally:
        assistant.reader.params = shipped
    assert answer.abstained and len(answer.related) == 3
    # the one read first, then the first stage's next ones, one per article first
    assert len({c.article_id for c in answer.related[:2]}) == 2


def test_min_confidence_moves_only_where_the_reader_abstains(assistant: Assistant) -> None:
    answered = "How much did the repairs of the harbor cost?"
    off_topic = "How many moons does Jupiter have?"
    shipped = {q: assistant.ask(q) for q in (answered, off_topic)}

    def with_bar(bar: float) -> Assistant:
        return Assistant(assistant.index, embedder=assistant.embedder, min_confidence=bar)

    # below every confidence: the off-topic question gets its best sentence, as confident
    # (and unsure) as before
    low = with_bar(0.0).ask(off_topic)
    assert not low.abstained and low.citations
    assert low.confidence == pytest.approx(shipped[off_topic].confidence)
    # at 1, nothing is answered; the answer it would have given is the first related sentence
    high = with_bar(1.0).ask(answered)
    assert high.abstained and high.answer == "" and high.citations == ()
    assert high.confidence == pytest.approx(shipped[answered].confidence)
    assert high.related[0].quote == shipped[answered].citations[0].quote
    with pytest.raises(QAError, match="min_confidence"):
        with_bar(1.5)

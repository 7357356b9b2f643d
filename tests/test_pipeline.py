"""Answer behaviour on the tiny inline corpus (hashing embedder, the learned reader): quotes,
short answers, abstention, conflicts, follow-ups, bad input, batches and filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from qa.errors import QuestionError
from qa.pipeline import Assistant
from qa.questions import (
    analyze_question,
    is_followup,
    is_name,
    person_asked_about,
    refers_to_answer,
)
from qa.retrieve.hybrid import Filters


def check_quotes(assistant: Assistant, answer) -> None:  # type: ignore[no-untyped-def]
    for c in answer.citations:
        art = assistant.index.article(c.article_id)
        assert art.text[c.start : c.end] == c.quote
        if c.short_start is not None:
            assert c.start <= c.short_start < c.short_end <= c.end


def test_answer_quotes_the_sentence_and_marks_the_figure(tiny_assistant: Assistant) -> None:
    ans = tiny_assistant.ask("How much did the repairs cost?")
    assert not ans.abstained
    assert ans.answer == "The repairs cost $4 million, paid by the regional government."
    assert ans.short_answer == "$4 million"
    (c,) = ans.citations
    assert (c.n, c.article_id, c.title, c.source, c.author, c.date, c.url) == (
        1,
        "harbor",
        "Port reopens after storm",
        "Coast Gazette",
        "Ana Ruiz",
        "2025-03-02",
        "https://example.org/harbor",
    )
    check_quotes(tiny_assistant, ans)
    assert 0.0 <= ans.confidence <= 1.0


def test_short_answer_matches_question_type(tiny_assistant: Assistant) -> None:
    who = tiny_assistant.ask("Who welcomed the first students at the school?")
    assert "Tomas Berg" in who.short_answer
    when = tiny_assistant.ask("When did the school in Marrow open?")
    assert when.short_answer == "Friday"
    check_quotes(tiny_assistant, who)


def test_unrelated_question_abstains(tiny_assistant: Assistant) -> None:
    ans = tiny_assistant.ask("What is the boiling point of mercury in Kelvin?")
    assert ans.abstained and ans.answer == "" and ans.citations == ()
    assert ans.message == "Not found in these articles."


def test_sources_disagreeing_on_a_figure_are_both_shown(tiny_assistant: Assistant) -> None:
    ans = tiny_assistant.ask("How many workers rebuilt the main pier?")
    assert ans.conflict
    assert {c.article_id for c in ans.citations} == {"harbor", "ferry"}
    assert "120" in ans.answer and "95" in ans.answer
    assert "different figures" in ans.message
    check_quotes(tiny_assistant, ans)


def test_follow_up_uses_the_conversation(tiny_assistant: Assistant) -> None:
    history = ["When did the new primary school in Marrow open?"]
    ans = tiny_assistant.ask("How many pupils does it have room for?", history=history)
    assert "400" in ans.short_answer
    msgs = [
        {"role": "user", "content": "Who is the principal of the school in Marrow?"},
        {"role": "assistant", "content": "Principal Tomas Berg welcomed the first students."},
    ]
    ans2 = tiny_assistant.ask("How many classrooms does his school have?", history=msgs)
    assert ans2.short_answer == "14"


@pytest.mark.parametrize("bad", ["", "   ", "?!", "x" * 1001, None, 42])
def test_bad_questions_are_rejected_with_a_message(tiny_assistant: Assistant, bad: object) -> None:
    with pytest.raises(QuestionError):
        tiny_assistant.ask(bad)  # type: ignore[arg-type]


def test_history_forms_are_accepted() -> None:
    for hist in (
        ["earlier question?"],
        [{"role": "user", "content": "earlier question?"}],
        [["earlier question?", "an answer"]],
    ):
        info = analyze_question("And then what?", hist)
        assert info.followup and "earlier question" in info.query
    with pytest.raises(QuestionError):
        analyze_question("What?", [42])


def test_ask_many_keeps_order_and_records_bad_items(tiny_assistant: Assistant) -> None:
    out = tiny_assistant.ask_many(
        [
            "How much did the repairs cost?",
            "",
            {"id": "q3", "question": "Who welcomed the first students?"},
        ]
    )
    assert [a.id for a in out] == ["1", "2", "q3"]
    assert out[1].error == "the question is empty"
    assert out[0].short_answer == "$4 million" and "Tomas Berg" in out[2].answer


def test_filters_restrict_sources(tiny_assistant: Assistant) -> None:
    from qa.retrieve.hybrid import Filters

    ans = tiny_assistant.ask(
        "How many workers rebuilt the main pier?", filters=Filters(sources=("Island Times",))
    )
    assert {c.article_id for c in ans.citations} == {"ferry"}
    none = tiny_assistant.ask(
        "How many workers rebuilt the main pier?", filters=Filters(date_from="2030-01-01")
    )
    assert none.abstained


VELM = """---
id: velm
title: "Governor visits Velm schools"
---
Governor Ada Holt met Mayor Tomas Brandt at the Velm town hall on Monday.
Brandt said 900 children in Velm are waiting for a classroom.
The governor promised that 200 new teachers would be hired by the autumn.
The town's oldest school was built in 1911.
"""


@pytest.fixture(scope="module")
def velm_assistant(make_assistant) -> Assistant:  # type: ignore[no-untyped-def]
    return make_assistant({"velm.md": VELM})  # type: ignore[no-any-return]


def test_he_in_a_follow_up_is_the_person_the_previous_answer_named(
    velm_assistant: Assistant,
) -> None:
    first = "Which mayor did Governor Holt meet at the Velm town hall?"
    name = velm_assistant.ask(first).short_answer
    assert "Tomas Brandt" in name
    question = "How many children did he say are waiting for a classroom?"
    # a list of earlier questions (as in `qa batch`): the previous answer is worked out
    ans = velm_assistant.ask(question, history=[first])
    assert ans.short_answer == "900", ans.answer  # the mayor's figure, not the governor's 200
    assert ans.resolved_question == f"How many children did {name} say are waiting for a classroom?"
    # the chat's history holds the reply it showed
    chat = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": velm_assistant.ask(first).answer},
    ]
    assert velm_assistant.ask(question, history=chat).short_answer == "900"
    [batch] = velm_assistant.ask_many([{"question": question, "history": [first]}])
    assert batch.short_answer == "900"


MEETING = """---
id: meeting
title: "Governor and mayor meet at Velm town hall"
---
Governor Ada Holt met Mayor Tomas Brandt at the Velm town hall on Monday.
The two leaders discussed the town's budget, its schools and the harbour.
Holt said the meeting had been constructive and that the province would support the town.
Brandt thanked the governor for her visit and invited her to return in the spring.
The governor's office said a second meeting would be held at the provincial capital in June.
"""

HARBOUR = """---
id: harbour
title: "Velm harbour struggles as ferries stay in port"
---
The Velm harbour has been quiet since the storm in January damaged two of its piers.
"Half the ferries are idle and 300 dock workers have lost their jobs," Brandt told reporters.
Repairs to the piers are expected to cost 4 million euros.
The harbour authority hopes to reopen the north pier by the end of the summer.
"""


def test_a_resolved_follow_up_is_not_crowded_out_by_the_question_before_it(
    make_assistant,  # type: ignore[no-untyped-def]
) -> None:
    # the answer is in another article than the meeting that named the mayor: searched with the
    # earlier question, the meeting's sentences were read instead and the reader abstained
    assistant = make_assistant({"meeting.md": MEETING, "harbour.md": HARBOUR})
    first = "Which mayor did Governor Holt meet at the town hall?"
    ans = assistant.ask("How many dock workers did he say have lost their jobs?", history=[first])
    assert ans.resolved_question.startswith("How many dock workers did Tomas Brandt say")
    assert not ans.abstained and ans.short_answer == "300", ans.message


PORT = """---
id: port
title: "Velm port traffic falls after the storm"
---
The port of Velm handled 1.2 million ferry passengers in 2023, its busiest year.
Traffic fell to 900,000 passengers in 2024, after the January storm closed two piers.
The harbour authority blames the closures and higher fuel prices for the drop.
"""


@pytest.fixture(scope="module")
def velm(make_assistant) -> Assistant:  # type: ignore[no-untyped-def]
    return make_assistant({"harbour.md": HARBOUR, "port.md": PORT})


@pytest.mark.parametrize(
    ("previous", "question"),
    [
        ("How much will the pier repairs cost?", "Who will pay for them?"),
        ("How many dock workers have lost their jobs?", "How much were they paid?"),
        ("How many ferry passengers did the port of Velm handle in 2023?", "And in 2022?"),
    ],
)
def test_a_follow_up_the_articles_do_not_answer_is_not_answered_with_the_earlier_answer(
    velm: Assistant, previous: str, question: str
) -> None:
    # read only beside the earlier question, the sentence that answered it read as relevant to
    # the follow-up too: "4 million euros" (0.37), "300" (0.64), "1.2 million" (0.82)
    ans = velm.ask(question, history=[previous])
    assert ans.abstained, (ans.answer, ans.confidence)


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        (
            "How many ferry passengers did the port of Velm handle in 2023?",
            "And in 2024?",
            "900,000",
        ),
        ("How much will the pier repairs cost?", "And when will the north pier reopen?", "summer"),
    ],
)
def test_an_elliptical_follow_up_is_answered_from_its_own_sentence(
    velm: Assistant, previous: str, question: str, expected: str
) -> None:
    # scored by the first stage only against the earlier question too, the sentence that answered
    # it came first and the follow-up's own was never read (1.2 million; abstained)
    ans = velm.ask(question, history=[previous])
    assert not ans.abstained and expected in ans.answer, (ans.answer, ans.confidence)
    check_quotes(velm, ans)


def test_a_follow_up_read_in_context_is_also_read_as_asked() -> None:
    plain = analyze_question("How many pupils?", None)
    assert not plain.in_context
    info = analyze_question("And in 2024?", ["How many passengers did the port handle in 2023?"])
    assert info.in_context and info.read_as.startswith("And in 2024? How many passengers")
    resolved = analyze_question("What did he say?", ["Which mayor did they meet?"], "Tomas Brandt")
    assert resolved.followup and not resolved.in_context  # it stands on its own


def test_he_after_who_is_a_name_is_that_person_not_the_answer(
    make_assistant,  # type: ignore[no-untyped-def]
) -> None:
    # the answer to "Who is Tomas Brandt?" describes him ("Mayor"); "he" is Tomas Brandt
    assistant = make_assistant({"meeting.md": MEETING, "harbour.md": HARBOUR})
    ans = assistant.ask(
        "How many dock workers did he say lost their jobs?", ["Who is Tomas Brandt?"]
    )
    assert ans.resolved_question.startswith("How many dock workers did Tomas Brandt say")


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("Who is Garry Conille?", "Garry Conille"),
        ("who was President Ruto", "President Ruto"),
        ("Who is Napa County's Public Works Director?", ""),  # a role: the answer is the person
        ("Who is the head of the council?", ""),
        ("Who is Prime Minister?", ""),
        ("Who leads the council?", ""),
    ],
)
def test_a_who_is_question_names_its_person_only_when_it_gives_a_name(
    question: str, named: str
) -> None:
    assert person_asked_about(question) == named


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Garry Conille", True),
        ("Carissa F. Etienne", True),
        ("Dr. Anton Best", True),
        ("Mayor Tomas Brandt", True),
        # short answers a who-question may also get; "he" is not put in their place
        ("Kaieteur News understands that they hiked into the jungle", False),
        ("Mohamed Irfaan Ali, and UN Secretary-General António Guterres", False),
        ("the Queen", False),
    ],
)
def test_he_is_replaced_only_by_a_name(text: str, expected: bool) -> None:
    assert is_name(text) is expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did he say?", True),  # a pronoun
        ("And in 2024?", True),  # an ellipsis
        ("Who else sent officers?", True),  # a context word (lexicon.json)
        ("What other countries sent troops?", True),
        ("the new pier", True),  # a short phrase without a wh-word
        ("How many officers has Kenya sent to Haiti?", False),
        ("Who leads the council?", False),
    ],
)
def test_what_leans_on_the_conversation(question: str, expected: bool) -> None:
    assert is_followup(question) is expected


def test_a_follow_up_whose_person_is_resolved_is_read_and_searched_on_its_own() -> None:
    info = analyze_question(
        "What did he say?", ["Which mayor did the governor meet?"], "Tomas Brandt"
    )
    assert info.read_as == info.resolved == "What did Tomas Brandt say?"
    assert info.query == info.resolved  # searched alone too
    # unresolved, the follow-up is read with the questions before it
    plain = analyze_question("What did he say?", ["Which mayor did the governor meet?"])
    assert plain.read_as.startswith("What did he say? Which mayor did the governor meet?")


@pytest.mark.parametrize(
    ("question", "previous", "expected"),
    [
        ("What did he say?", "Which mayor did the governor meet?", True),
        ("Where was her office?", "Who leads the council?", True),
        ("What did he say?", "What is the name of the prime minister?", True),
        ("What did it say?", "Who leads the council?", False),  # "it" is not a person
        ("What did he say?", "When did the governor arrive?", False),  # no person was asked for
    ],
)
def test_he_stands_for_the_answer_only_when_a_person_was_asked_for(
    question: str, previous: str, expected: bool
) -> None:
    assert refers_to_answer(question, previous) is expected


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"top_k": 1},
        {"filters": Filters(sources=("Island Times",))},
        {"filters": Filters(date_from="2025-03-03")},
        {"filters": Filters(article_ids=("school",))},
        {"filters": Filters(date_from="2030-01-01")},
    ],
)
@pytest.mark.parametrize(
    ("question", "history"),
    [
        ("How many workers rebuilt the main pier?", None),
        ("How many pupils does it have room for?", ["When did the new school in Marrow open?"]),
    ],
)
def test_single_and_batch_are_twins(
    tiny_assistant: Assistant, question: str, history: list[str] | None, opts: dict[str, Any]
) -> None:
    one = tiny_assistant.ask(question, history, id="x", **opts)
    [many] = tiny_assistant.ask_many(
        [{"id": "x", "question": question, "history": history}], **opts
    )
    assert replace(one, timing_ms=0.0) == replace(many, timing_ms=0.0)
    assert one.extra.get("ranked") == many.extra.get("ranked")


def test_a_follow_up_is_read_with_the_conversations_topic_and_names() -> None:
    history = [
        {"role": "user", "content": "What did the Linden harbor authority announce?"},
        {"role": "assistant", "content": "Mayor Clara Voss said the harbor reopened."},
        {"role": "user", "content": "When did it reopen?"},
        {"role": "assistant", "content": "On Monday."},
    ]
    info = analyze_question("Who paid for the repairs?", history)
    assert not info.followup  # a new, complete question is read alone
    info = analyze_question("And who paid for them?", history)
    assert info.followup and info.previous == "When did it reopen?"
    # the first question (the topic), the one followed up on, the names used, then the question
    assert info.query.startswith(
        "What did the Linden harbor authority announce? When did it reopen? "
    )
    assert "Mayor Clara Voss" in info.query and info.query.endswith(" And who paid for them?")


def test_a_new_thread_in_the_chat_leaves_the_earlier_topic_behind() -> None:
    history = [
        "How many workers rebuilt the main pier in Linden?",
        "How many classrooms does the school in Marrow have?",
    ]
    info = analyze_question("And how many pupils?", history)
    assert "pier" not in info.query and "classrooms" in info.query


def test_an_index_of_another_embedder_than_the_readers_is_named(
    tiny_assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    params = tiny_assistant.reader.params
    Assistant(tiny_assistant.index, embedder=tiny_assistant.embedder, reader_params=params)
    assert "fitted on the vectors" not in caplog.text  # the shipped pair
    other = replace(params, fitted={"models": {"embedder": "all-MiniLM-L6-v2"}})
    Assistant(tiny_assistant.index, embedder=tiny_assistant.embedder, reader_params=other)
    assert "fitted on the vectors of all-MiniLM-L6-v2: rebuild it with `qa index`" in caplog.text

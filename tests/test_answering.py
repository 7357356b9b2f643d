"""Answer behaviour on the tiny inline corpus, with the fast hashing embedder."""

from __future__ import annotations

import pytest

from qa.errors import QuestionError
from qa.pipeline import Assistant
from qa.questions import analyze_question, answer_type, refers_to_answer


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


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many officers were deployed?", "number"),
        ("When did it start?", "date"),
        ("Who leads the mission?", "person"),
        ("Where did they meet?", "place"),
        ("Why is Kenya threatening to leave?", "reason"),
        ("How much money was pledged?", "money"),
        ("How much of the promised money actually arrived?", "money"),
        ("What is the population of the capital?", "number"),
        ("What was the percentage of votes in favour?", "percent"),
        ("What is the prize for solving it?", "money"),
        ("What death toll did the ministry give?", "number"),
        ("What did the company blame for the delays?", "reason"),
        ("What did the mayor credit for the fall in crime?", "reason"),
        ("What portion of the city is under curfew?", "percent"),
        ("Which harbour master signed it?", "person"),
        ("Which Haitian force are the officers working with?", "org"),
        ("Which Caribbean country hosts the talks?", "place"),
        ("What did the country pledge?", "other"),
        ("When the talks stalled, who stepped in?", "person"),
        ("What part of France were the Normans in?", "other"),
        ("What part of the money arrived?", "percent"),
        ("How, according to Ruto, can the two countries bring about lasting change?", "reason"),
        ("How does Victoria rank in population density?", "other"),
        ("What did the harbour master cite as one reason trade doubled?", "reason"),
        ("What is one reason the talks failed?", "reason"),
        ("Who served as the head of the mission?", "person"),
        ("In what venue did the two leaders meet?", "place"),
    ],
)
def test_question_types(question: str, kind: str) -> None:
    assert answer_type(question) == kind


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
    from qa.retrieval import Filters

    ans = tiny_assistant.ask(
        "How many workers rebuilt the main pier?", filters=Filters(sources=("Island Times",))
    )
    assert {c.article_id for c in ans.citations} == {"ferry"}
    none = tiny_assistant.ask(
        "How many workers rebuilt the main pier?", filters=Filters(date_from="2030-01-01")
    )
    assert none.abstained


RELIEF = {
    "relief.md": """---
id: relief
title: "Aid appeal for Norland"
---
In a report released on March 3, Global Relief Watch warned of a growing food crisis in Norland.
The organization urged donors to double their aid within a month.
Officials said 300 engineers have rebuilt the northern bridge so far.
Until May, aid workers in Norland's north were operating from a former school.
The ministry will send another 150 engineers next week.
""",
    "census.md": """---
id: census
title: "Census of Norland"
---
The United Nations counted 2 million residents in Norland last year.
Farmers make up most of the rural workforce.
The oldest farms in Norland date from the 9th and 10th centuries.
Relief teams in the north include 40 doctors from six countries.
Sweden has also pledged support for the clinics.
Health minister Anna Berg praised the relief teams in the north.
In the north, 30 percent of the farmland lies fallow and 12% of Norland's residents live there.
""",
    "pact.md": """---
id: pact
title: "Norland and the grain pact"
---
Two years after signing it, Norland is threatening to leave the regional grain pact.
Its trade minister has expressed frustration with the pact's strict export quotas.
The pact was hailed as a turning point, marking the first time the region's farmers set prices together.
The pact's term was extended by the council for another year.
Some traders fear that ending the pact early could push grain prices sharply higher.
The council urged donors to double their aid to the pact this month.
It asked the G7 in particular to pay for new grain silos.
""",
    "orchards.md": """---
id: orchards
title: "Orchards of Tellin"
---
Growers there picked 5,000 tonnes of pears this autumn, a record.
Most of the growers live in Port Elm.
Port Elm holds the largest pear market of the region.
Mayor José Núñez praised the pickers’ record autumn harvest.
""",
    "storm.md": """---
id: storm
title: "Weather"
---
A storm struck the coast of Marn in May, the worst storm at Marn in years.
It wrecked the old lighthouse.
""",
    "port.md": """---
id: port
title: "Harbour of Valmo"
---
Several countries, including Finland and Estonia, have reiterated their support for the clinics, but without sending any new doctors.
The harbour master noted that the new cranes are one of the reasons trade at Valmo doubled this year.
Dock workers called for cranes, tugboats and safety nets to keep the harbour running at night.
""",
    "dam.md": """---
id: dam
title: ""
---
President Lena Ost has called on neighbours to honour their pledges to the Tarn dam.
She spoke after talks with the Dravian envoy at Castle Hall, Marlow, on Friday.
President Ost said the dam is on schedule.
The talks follow a letter from Dravian President Ivo Petrak, co-signed by two former Dravian heads of state, urging support for the dam.
The President noted that the new locks are one of the reasons river trade doubled last year.
Dam crews now include 90 engineers from three countries.
Norland has provided 60 engineers, with others coming from Dravia and Latvia.
The Red Lantern Society deployed its medical teams to the dam site in June.
""",
    "river.md": """---
id: river
title: "River patrols on the Tarn"
---
The Joint River Patrol (JRP) Force has guarded the river near Tarn since 2019.
The mandate of this force, which is set to end in June, has cut smuggling by half, said Minister Piet Vos.
Its patrol boats were built by Tarn Boatworks, a family firm.
Minister Piet Vos said the JRP crews are working with the Coast Guard to patrol the river, protect the locks and keep traffic moving.
“Together, they have already reopened key sites: the old mill, the ferry landing and the north lock,” he said.
In a letter addressed to the head of the Tarn council, Ada Moor, and Harbour Master Jon Varga, Vos asked for more boats.
The lock school at Tarn was shut by the floods of 2021.
Today it’s open again, and 40 pilots have passed out, Vos said.
Minister Vos said 300 boats a month will use the new locks and need trained pilots.
""",
    "summit.md": """---
id: summit
title: "Grain talks"
---
At the Kessel Harvest Summit, trade minister Ola Lind presented the region's grain forecast.
Barley prices have held steady since spring.
Nearly 80 percent of the wheat grown in Oberdal was lost to frost, Lind said, citing farm bureau estimates.
""",
    "floods.md": """---
id: floods
title: "Floods in the north"
---
The April floods killed 12 people in the valley towns.
Rescue crews evacuated 3,000 people from the valley towns after the floods.
“A third of the valley farms cannot plant this year,” the mayor said, and 40 farms have closed.
""",
    "talks.md": """---
id: talks
title: "Velm town hall talks"
---
Governor Mark Holt met Mayor Tomas Brandt at the Velm town hall on Monday.
Governor Holt said 200 children in the valley are waiting for a classroom.
Mayor Brandt thanked the governor for the new ferry.
He warned that the town’s schools are overcrowded.
“We have 900 children waiting for a classroom,” he said.
""",
    "delegates.md": """---
id: delegates
title: "Delegates gather"
---
Delegates to the Kessel Harvest Summit gathered in Brill, where Lind cited estimates.
""",
}


@pytest.fixture(scope="module")
def relief_assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    from qa.corpus import load_corpus
    from qa.embedding import HashEmbedder
    from qa.index import build_index

    root = tmp_path_factory.mktemp("relief")
    folder = root / "corpus"
    folder.mkdir()
    for name, text in RELIEF.items():
        (folder / name).write_text(text, encoding="utf-8")
    arts = load_corpus([folder]).articles
    build_index(arts, root / "ix", inputs=[folder], embedder=HashEmbedder(), progress=False)
    return Assistant.load(root / "ix")


def test_a_name_given_in_the_sentence_before_is_the_answer(relief_assistant: Assistant) -> None:
    # "The organization urged …" names the organization one sentence earlier
    ans = relief_assistant.ask("Which organization urged donors to double their aid?")
    assert not ans.abstained
    assert ans.short_answer == "Global Relief Watch"
    assert "double their aid" in ans.answer
    check_quotes(relief_assistant, ans)


def test_an_increment_is_not_a_disagreement(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("How many engineers have rebuilt the northern bridge?")
    assert not ans.conflict and len(ans.citations) == 1
    assert ans.short_answer == "300"


def test_an_acronym_matches_the_name_it_stands_for(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("How many residents did the UN count in Norland?")
    assert ans.citations and ans.citations[0].article_id == "census"
    assert ans.short_answer == "2 million"


def test_a_why_answer_takes_the_reason_from_the_next_sentence(relief_assistant: Assistant) -> None:
    # the first sentence restates the question; the reason follows it
    ans = relief_assistant.ask("Why is Norland threatening to leave the grain pact?")
    assert not ans.abstained
    assert "strict export quotas" in ans.answer
    assert "threatening to leave" in ans.answer
    check_quotes(relief_assistant, ans)


def test_a_participle_clause_gives_the_significance(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("Why was the pact hailed as a turning point?")
    assert not ans.abstained
    assert ans.short_answer.startswith("marking the first time")


def test_a_length_of_time_answers_how_long(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("For how long did the council extend the pact's term?")
    assert ans.short_answer == "another year"


def test_a_name_the_article_never_mentions_is_not_answered(relief_assistant: Assistant) -> None:
    # the ministry's engineers are not Sweden's: no article names Sweden
    ans = relief_assistant.ask("How many engineers has Sweden sent to the northern bridge?")
    assert ans.abstained
    assert relief_assistant.ask("How many engineers have rebuilt the northern bridge?").citations


def test_a_figure_is_not_given_for_a_name_it_does_not_belong_to(
    relief_assistant: Assistant,
) -> None:
    # Sweden is in the article, but the 40 doctors are the relief teams', not Sweden's
    ans = relief_assistant.ask("How many doctors has Sweden sent to the relief teams in the north?")
    assert ans.abstained
    ans = relief_assistant.ask("How many doctors do the relief teams in the north include?")
    assert ans.short_answer == "40"


def test_a_share_is_matched_to_the_whole_it_is_a_share_of(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("What share of the residents are in the north?")
    assert ans.short_answer == "12%"


def test_a_follow_up_stays_with_the_source_of_the_previous_answer(
    relief_assistant: Assistant,
) -> None:
    # both the organization and the council "urged donors to double their aid"; "it" is the
    # organization the conversation was about
    ans = relief_assistant.ask(
        "What did it urge donors to do?", history=["Which group warned of a growing food crisis?"]
    )
    assert ans.citations[0].article_id == "relief"
    assert "within a month" in ans.answer


def test_where_the_questions_own_verb_happens_is_the_place(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("From where were aid workers operating until May?")
    assert ans.short_answer == "former school"


def test_centuries_answer_a_when_question(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("When do the oldest farms in Norland date from?")
    assert ans.short_answer == "the 9th and 10th centuries"


def test_who_can_be_answered_by_a_body(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("Whom did the council ask to pay for new grain silos?")
    assert ans.short_answer == "G7"


def test_last_year_is_a_time_not_a_missing_name(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("How many engineers rebuilt the northern bridge last year?")
    assert ans.short_answer == "300"


@pytest.mark.parametrize(
    ("question", "verb"),
    [
        ("Which key sites did Ruto say the police had jointly retaken?", "retaken"),
        ("Which UN official received the letter warning that Kenya might pull out?", "received"),
        ("How many officers did he say Kenya would send?", "send"),
        ("Which gang leader controls most of the capital?", "controls"),
        ("How many officers have died in Haiti?", "died"),
        ("What did the minister cite as one reason exports rose?", "rose"),
        ("How many people did he say have been displaced?", "displaced"),
        ("What did the watchdog say the force should be converted into?", "converted"),
        ("What did Ruto credit for Kenya winning a seat on the council?", "winning"),
        ("On which channel did Ruto say Kenya would not walk away from Haiti?", "walk"),
        ("What is typically used to broadly define complexity measures?", "define"),
        ("Who else signed the president's letter?", "signed"),
        ("What was the total amount the MSS was expected to receive?", "expected"),
    ],
)
def test_the_questions_main_verb_is_found(question: str, verb: str) -> None:
    from qa.questions import predicate_words
    from qa.text import STOPWORDS

    assert predicate_words(question, STOPWORDS) == [verb]


def test_a_name_is_not_given_for_a_role_the_text_does_not_give_it(
    relief_assistant: Assistant,
) -> None:
    ans = relief_assistant.ask("Who is the director of the relief teams in the north?")
    assert ans.abstained
    ans = relief_assistant.ask("Who praised the relief teams in the north?")
    assert ans.short_answer == "Anna Berg"


def test_what_a_feared_outcome_would_bring_answers_why(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("Why are some traders worried about the pact ending early?")
    assert not ans.abstained
    assert "push grain prices sharply higher" in ans.short_answer


def test_a_figure_of_another_place_is_not_given(relief_assistant: Assistant) -> None:
    # the census counts Norland's residents; nothing gives the population of Sweden
    ans = relief_assistant.ask("What is the population of Sweden?")
    assert ans.abstained


def test_each_of_two_joined_names_can_be_the_answer(relief_assistant: Assistant) -> None:
    # "Finland and Estonia" are two countries; the one the question does not name answers it
    ans = relief_assistant.ask(
        "Apart from Finland, which country reiterated its support for the clinics?"
    )
    assert ans.short_answer == "Estonia"


def test_what_a_sentence_names_as_one_of_the_reasons_answers_why(
    relief_assistant: Assistant,
) -> None:
    ans = relief_assistant.ask("What did the harbour master credit for trade at Valmo doubling?")
    assert not ans.abstained
    assert ans.short_answer == "the new cranes"


def test_words_naming_the_article_are_not_required_in_the_sentence(
    relief_assistant: Assistant,
) -> None:
    ans = relief_assistant.ask(
        "What three things did dock workers call for, according to the story on Valmo’s port economy?"
    )
    assert not ans.abstained
    assert ans.short_answer == "cranes, tugboats and safety nets"


def test_an_article_about_a_place_gives_that_places_figures(relief_assistant: Assistant) -> None:
    # the sentence does not repeat "Tellin": the article's title says whose pears they are
    ans = relief_assistant.ask("How many tonnes of pears does Tellin produce?")
    assert not ans.abstained
    assert ans.short_answer == "5,000"


@pytest.mark.parametrize(
    ("text", "figures"),
    [
        ("Is there a route of at most 2000 kilometres through them?", ["at most 2000"]),
        ("In 2000 the firm grew.", []),
        ("The 2014 elections were close.", []),
        ("Growers picked 5,000 tonnes in 2023.", ["5,000"]),
        # a count in words is one figure, "of" and all
        ("The storm displaced hundreds of thousands of people.", ["hundreds of thousands"]),
        ("Two thousand workers and dozens of volunteers came.", ["Two thousand", "dozens"]),
    ],
)
def test_figures_are_read_whole(text: str, figures: list[str]) -> None:
    from qa import spans

    assert [s.text for s in spans.numbers(text)] == figures


def test_the_agent_of_a_passive_can_answer_who() -> None:
    from qa import spans

    found = spans.candidates("It was shown by Ladner that such problems exist.", "person")
    assert [s.text for s in found] == ["Ladner"]
    found = spans.candidates("The channel was replaced by Sky Three in 2005.", "org")
    assert [s.text for s in found] == ["Sky Three"]


def test_a_compass_direction_of_a_place_is_a_place() -> None:
    from qa import spans

    found = spans.candidates("Victoria is a state in the south-east of Australia.", "place")
    assert "the south-east of Australia" in [s.text for s in found]
    assert spans.candidates("He went south to rest.", "place") == []


def test_what_a_name_is_comes_from_the_collection_when_its_sentence_gives_no_clue(
    relief_assistant: Assistant,
) -> None:
    # "Port Elm" has the shape of a person's name; "live in Port Elm" says it is a place
    ans = relief_assistant.ask("Which town holds the largest pear market of the region?")
    assert ans.short_answer == "Port Elm"


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("In 1854 at Ballarat there was a rebellion.", "Ballarat", "place"),
        (
            "Labor is strongest in the cities of Bendigo and Geelong.",
            "Bendigo and Geelong",
            "place",
        ),
        ("In 1900, the Los Angeles Times defined the region.", "Los Angeles Times", "org"),
    ],
)
def test_what_a_name_is(text: str, name: str, kind: str) -> None:
    from qa import spans

    found = {s.text: spans.classify_name(text, s) for s in spans.names(text)}
    assert found.get(name) == kind
    assert not any(n.startswith("In ") for n in found)  # "In 1854" is no name


def test_a_sentence_about_it_is_read_with_the_sentence_before(relief_assistant: Assistant) -> None:
    # "It wrecked …" is about the storm named one sentence earlier
    ans = relief_assistant.ask("What did the storm at Marn wreck?")
    assert "old lighthouse" in ans.answer


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "Pledges have yet to be paid, complicating the supply of equipment.",
            "complicating the supply of equipment",
        ),
        ("They won by investing in schools.", "by investing in schools"),
        ("To achieve lasting change, we must invest in growth.", "we must invest in growth"),
        ("Gangs control several towns, including Mirebalais.", None),
        ("He proposed two steps: expanding the mandate, and boosting support.", None),
        ("He argued these changes would help secure the gains.", "would help secure the gains"),
        ("“The meager support has hampered the mission,” he said.", "The meager support"),
    ],
)
def test_consequences_and_means_are_reason_clauses(text: str, reason: str | None) -> None:
    from qa import spans

    found = [s.text for s in spans.reason_candidates(text)]
    assert found == ([reason] if reason else [])


def test_a_question_typed_without_accents_finds_accented_words(
    relief_assistant: Assistant,
) -> None:
    from qa.text import analyze

    assert analyze("António’s fiancée") == analyze("Antonio's fiancee")
    ans = relief_assistant.ask("What did Jose Nunez praise?")
    assert not ans.abstained
    assert ans.citations[0].article_id == "orchards"
    assert "José Núñez" in ans.answer  # quoted as written
    check_quotes(relief_assistant, ans)


def test_a_title_stands_for_the_person_the_article_gives_it_to(
    relief_assistant: Assistant,
) -> None:
    # "The President noted …" in an article about President Ost: Ost's words, so the
    # sentence is not missing the name the question asks about
    from qa.questions import analyze_question

    question = "What did Ost cite as one reason river trade doubled?"
    ans = relief_assistant.ask(question)
    assert not ans.abstained
    assert ans.short_answer == "the new locks"
    info = analyze_question(question)
    qvec = relief_assistant.embedder.encode([info.query])[0]
    hits = relief_assistant.retriever.search(info.query, qvec, k=10)
    best = relief_assistant.reader.rank(info, qvec, hits)[0]
    assert "The President noted" in relief_assistant.index.sentences[best.sid].text
    assert best.missing == 0.0


def test_the_name_after_a_title_inside_a_longer_name_is_a_person(
    relief_assistant: Assistant,
) -> None:
    from qa import spans

    text = "a letter from Dravian President Ivo Petrak, co-signed by two former heads of state"
    assert "Ivo Petrak" in [s.text for s in spans.candidates(text, "person")]
    ans = relief_assistant.ask("Which Dravian president sent a letter urging support for the dam?")
    assert not ans.abstained
    assert ans.short_answer is not None and "Ivo Petrak" in ans.short_answer
    assert [s.text for s in spans.names("At the UN General Assembly in New York")] == [
        "UN General Assembly",
        "New York",
    ]


def test_a_venue_question_is_answered_with_the_place(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask("In what venue did Ost hold talks with the Dravian envoy?")
    assert not ans.abstained
    assert ans.short_answer in ("Castle Hall", "Marlow")


def test_how_many_of_a_whole_named_first_counts_that_whole(relief_assistant: Assistant) -> None:
    ans = relief_assistant.ask(
        "Of the 90 engineers in the dam crews from three countries, how many came from Norland?"
    )
    assert not ans.abstained
    assert ans.short_answer == "60"


def test_who_holds_a_role_is_not_answered_by_a_sentence_without_that_role(
    relief_assistant: Assistant,
) -> None:
    # the sentence says who deployed the teams, not who directs them
    ans = relief_assistant.ask("Who is the director of the medical teams deployed to the dam site?")
    assert ans.abstained
    ans = relief_assistant.ask("Who deployed medical teams to the dam site?")
    assert ans.short_answer == "The Red Lantern Society"
    # asked as "the name of" the role-holder, too
    for question in (
        "What is the name of the medical director at the dam site?",
        "What is the name of the director leading the medical teams deployed to the dam site?",
    ):
        assert relief_assistant.ask(question).abstained, question


def test_a_name_with_its_acronym_inside_is_one_name() -> None:
    from qa.spans import names

    text = "The Joint River Patrol (JRP) Force has guarded the river near Tarn since 2019."
    assert "The Joint River Patrol (JRP) Force" in [s.text for s in names(text)]
    # a bracketed word that is not an acronym still ends the name
    assert "Anna Berg" in [s.text for s in names("Anna Berg (Reuters) Said nothing.")]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the name of the successor force set to replace the mission?", "org"),
        ("What is the name of the state the region extends into?", "place"),
        ("What is the name of the head of the council?", "person"),
        ("What is the name of the medical director at the dam site?", "person"),
        ("What was the name of the count of Apulia?", ""),
        ("Which force replaced the mission?", ""),
    ],
)
def test_what_a_name_question_names(question: str, kind: str) -> None:
    from qa.questions import named_kind

    assert named_kind(question) == kind


def test_a_name_question_is_answered_only_by_a_new_name_of_its_kind(
    relief_assistant: Assistant,
) -> None:
    ans = relief_assistant.ask("What is the name of the company that built the patrol boats?")
    assert ans.short_answer == "Tarn Boatworks"
    check_quotes(relief_assistant, ans)
    # no sentence names a successor: not "the mandate of this force" (no name), not
    # "Piet Vos" (a person, not a force), not "Tarn" (a place), not "The Joint River Patrol
    # (JRP) Force" (the JRP itself)
    for question in (
        "What is the name of the force set to replace the JRP?",
        "What is the name of the force that will replace the JRP Force?",
    ):
        assert relief_assistant.ask(question).abstained, question


def test_they_after_an_opening_phrase_is_read_with_the_sentence_before(
    relief_assistant: Assistant,
) -> None:
    # "Together, they have already reopened key sites: …" — who "they" are is in the sentence
    # before, which itself lists what the crews do, not the sites
    ans = relief_assistant.ask(
        "Which key sites did Piet Vos say the JRP crews and the Coast Guard had reopened together?"
    )
    # the list ends with the quotation, not at '” he said'
    assert ans.short_answer == "the old mill, the ferry landing and the north lock"
    check_quotes(relief_assistant, ans)


def test_the_setting_a_report_opens_with_holds_for_the_whole_report(
    relief_assistant: Assistant,
) -> None:
    # the report opens "At the Kessel Harvest Summit, …": its later sentences are said there too
    ans = relief_assistant.ask(
        "Which area lost most of its wheat to frost, according to estimates Lind cited at the "
        "Kessel Harvest Summit?"
    )
    assert not ans.abstained
    assert ans.short_answer == "Oberdal"
    check_quotes(relief_assistant, ans)


@pytest.mark.parametrize(
    ("question", "figure"),
    [
        ("How many people died in the April floods?", "12"),
        ("How many people were killed or injured in the floods?", "12"),
        ("How many people did crews evacuate from the valley towns?", "3,000"),
        # counts of one kind of event do not answer a question about another
        ("How many people were injured in the April floods?", None),
        ("How many people were kidnapped in the valley towns?", None),
        # "lost their lives" is a death; "lost to frost" is not
        ("How many farmers in Oberdal lost their lives to frost?", None),
        ("How much of the wheat grown in Oberdal was lost to frost?", "Nearly 80 percent"),
    ],
)
def test_a_count_answers_only_for_its_kind_of_event(
    relief_assistant: Assistant, question: str, figure: str | None
) -> None:
    ans = relief_assistant.ask(question)
    if figure is None:
        assert ans.abstained
    else:
        assert ans.short_answer == figure


def test_it_after_a_time_word_is_read_with_the_sentence_before(
    relief_assistant: Assistant,
) -> None:
    # "Today it’s open again, and 40 pilots have passed out": "it" is the lock school named in
    # the sentence before
    ans = relief_assistant.ask("How many trained pilots has the lock school at Tarn produced?")
    assert ans.short_answer == "40"
    check_quotes(relief_assistant, ans)


@pytest.mark.parametrize(
    "question",
    [
        "What fraction of the valley farms are unable to plant this year?",
        "What portion of the valley farms cannot plant this year?",
    ],
)
def test_a_share_can_be_a_fraction(relief_assistant: Assistant, question: str) -> None:
    ans = relief_assistant.ask(question)
    assert ans.short_answer == "A third"
    check_quotes(relief_assistant, ans)


def test_a_count_is_not_a_share(relief_assistant: Assistant) -> None:
    # "40 farms have closed" is a count, not the percentage asked for
    ans = relief_assistant.ask("What percentage of the valley farms cannot plant this year?")
    assert ans.short_answer != "40"


@pytest.mark.parametrize(
    "question",
    [
        "Besides the head of the Tarn council, which harbour master was the letter addressed to?",
        "Which harbour master got the letter that was addressed to the head of the Tarn council as well?",
    ],
)
def test_which_title_is_answered_by_the_name_that_title_comes_with(
    relief_assistant: Assistant, question: str
) -> None:
    # "… the head of the Tarn council, Ada Moor, and Harbour Master Jon Varga": the question's
    # words are nearer Ada Moor, but the harbour master is the name after that title
    ans = relief_assistant.ask(question)
    assert ans.short_answer == "Jon Varga"


@pytest.mark.parametrize(
    "question",
    [
        "How many children did Mayor Brandt say are waiting for a classroom?",
        # "Mayor Brandt" and "He" are the Tomas Brandt the article named first
        "How many children did Tomas Brandt say are waiting for a classroom?",
    ],
)
def test_what_he_said_is_credited_to_the_person_named_before(
    relief_assistant: Assistant, question: str
) -> None:
    # “We have 900 children …,” he said. — "he" is the mayor named two sentences before
    ans = relief_assistant.ask(question)
    assert ans.short_answer == "900"


def test_he_in_a_follow_up_is_the_person_the_previous_answer_named(
    relief_assistant: Assistant,
) -> None:
    first = "Which mayor did Governor Holt meet at the Velm town hall?"
    assert relief_assistant.ask(first).short_answer == "Tomas Brandt"
    question = "How many children did he say are waiting for a classroom?"
    # a list of earlier questions (as in `qa batch`): the previous answer is worked out
    ans = relief_assistant.ask(question, history=[first])
    assert ans.short_answer == "900", ans.answer  # the mayor's figure, not the governor's 200
    assert ans.resolved_question == (
        "How many children did Tomas Brandt say are waiting for a classroom?"
    )
    # the chat's history holds the reply it showed
    chat = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": relief_assistant.ask(first).answer},
    ]
    assert relief_assistant.ask(question, history=chat).short_answer == "900"
    [batch] = relief_assistant.ask_many([{"question": question, "history": [first]}])
    assert batch.short_answer == "900"


@pytest.mark.parametrize(
    ("question", "previous", "expected"),
    [
        ("What did he say?", "Which mayor did the governor meet?", True),
        ("Where was her office?", "Who leads the council?", True),
        ("What did it say?", "Who leads the council?", False),  # "it" is not a person
        ("What did he say?", "When did the governor arrive?", False),  # no person was asked for
    ],
)
def test_he_stands_for_the_answer_only_when_a_person_was_asked_for(
    question: str, previous: str, expected: bool
) -> None:
    assert refers_to_answer(question, previous) is expected

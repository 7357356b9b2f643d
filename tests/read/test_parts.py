"""The reader's small parts: the fitted linear scorer, figures, the model files' hash check,
span decoding and input encoding."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.read.encoding import encode_pairs, load_tokenizer, second_segment, span_tokens
from qa.read.figures import is_figure, parse_figure
from qa.read.model import ModelFileError, ReaderModel, Reading, blend, model_dir
from qa.read.reader import RANK_BY_RELEVANCE, Candidate, ReaderParams, how_many, rank_read
from qa.read.scorer import LinearScorer


def test_linear_scorer_is_a_logistic_model() -> None:
    s = LinearScorer.from_dict({"features": ["a", "b"], "weights": [2.0, -1.0], "bias": 0.5})
    assert s.logit({"a": 1.0, "b": 3.0}) == pytest.approx(-0.5)
    assert s.probability({"a": 1.0, "b": 3.0}) == pytest.approx(1 / (1 + math.exp(0.5)))
    assert LinearScorer.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="one weight per feature"):
        LinearScorer.from_dict({"features": ["a"], "weights": [1.0, 2.0], "bias": 0})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("about 1,000", 1000.0),
        ("$68 million", 68e6),
        ("2.5 billion", 2.5e9),
        ("two dozen", 2.0),
        ("half", 0.5),
        ("no figure here", None),
    ],
)
def test_parse_figure(text: str, value: float | None) -> None:
    assert parse_figure(text) == value


@pytest.mark.parametrize(
    ("text", "figure"),
    [
        ("600 officers", True),
        ("$68 million", True),
        ("1,000", True),
        ("June 25, 2024", False),
        ("October 2023", False),
        ("2023", False),
        ("One year", False),
        ("Garry Conille", False),
    ],
)
def test_dates_and_lengths_of_time_are_not_figures(text: str, figure: bool) -> None:
    assert is_figure(text) is figure


def test_second_segment_puts_the_title_before_the_sentence() -> None:
    text, at = second_segment("A title " + "word " * 20, "The sentence.")
    assert text[at:] == "The sentence."
    assert len(text[:at].split()) == 13  # 12 title words and the separator


def test_span_tokens_map_characters_to_word_pieces() -> None:
    tok = load_tokenizer(model_dir() / "tokenizer.json")
    sentence = "Mayor Clara Voss said 120 workers rebuilt the pier."
    b = encode_pairs(tok, ["How many workers?"], ["Harbor"], [sentence])
    at = sentence.index("120 workers")
    first, last = span_tokens(b.offsets[0], at, at + len("120 workers")) or (-1, -1)
    assert sentence[b.offsets[0][first][0] : b.offsets[0][last][1]] == "120 workers"
    # the question's and the title's tokens are never part of the sentence
    assert (b.offsets[0][b.token_type_ids[0] == 0] == -1).all()
    assert span_tokens(b.offsets[0], 0, len(sentence) + 5) is None


@pytest.fixture(scope="module")
def model() -> ReaderModel:
    return ReaderModel()


def test_model_reads_the_short_answer_inside_the_sentence(model: ReaderModel) -> None:
    sentences = [
        "Mayor Clara Voss said 120 workers rebuilt the main pier.",
        "Ferries to the islands will resume next month.",
    ]
    readings = model.read("How many workers rebuilt the pier?", ["Port reopens"] * 2, sentences)
    best = readings[0]
    assert best.relevance > readings[1].relevance
    assert "120" in sentences[0][best.start : best.end]
    for r, s in zip(readings, sentences, strict=True):
        assert 0 <= r.start < r.end <= len(s)


def test_a_pairs_reading_does_not_depend_on_the_sentences_read_beside_it(
    model: ReaderModel,
) -> None:
    # the int8 model quantises activations per call: read together, a long sentence would
    # shift a short one's relevance; each pair runs alone, so company changes nothing
    question = "How many workers rebuilt the pier?"
    sentences = [
        "Mayor Clara Voss said 120 workers rebuilt the main pier.",
        "Ferries resume.",
        " ".join(["The harbour authority published a long report on the repairs."] * 8),
    ]
    together = model.read(question, ["Port reopens"] * 3, sentences)
    alone = [model.read(question, ["Port reopens"], [s])[0] for s in sentences]
    assert together == alone
    assert model.read(question, ["Port reopens"] * 3, sentences[::-1]) == alone[::-1]


def _copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "reader"
    shutil.copytree(model_dir(), folder)
    return folder


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    with open(folder / "tokenizer.json", "a", encoding="utf-8") as fh:
        fh.write(" ")
    with pytest.raises(ModelFileError, match="does not match its recorded SHA-256"):
        ReaderModel(folder)


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "model.onnx").unlink()
    with pytest.raises(ModelFileError, match=r"model\.onnx is missing"):
        ReaderModel(folder)
    shutil.rmtree(folder)
    folder.mkdir()
    with pytest.raises(ModelFileError, match=r"no .*manifest\.json"):
        ReaderModel(folder)


def test_shipped_params_are_complete() -> None:
    params = json.loads((model_dir() / "params.json").read_text(encoding="utf-8"))
    assert 0.0 < params["threshold"] < 1.0
    assert params["read"] >= 1
    assert params["read_gap"] is None or params["read_gap"] > 0
    for key in ("first_stage", "rank", "confidence"):
        scorer = LinearScorer.from_dict(params[key])
        assert all(np.isfinite(scorer.weights))


def test_params_of_before_the_ranker_and_the_gap_keep_the_models_order_and_read_all(
    tmp_path: Path,
) -> None:
    params = json.loads((model_dir() / "params.json").read_text(encoding="utf-8"))
    del params["rank"], params["read_gap"]
    (tmp_path / "params.json").write_text(json.dumps(params), encoding="utf-8")
    loaded = ReaderParams.load(tmp_path / "params.json")
    assert loaded.rank == RANK_BY_RELEVANCE
    assert loaded.read_gap is None and loaded.to_read([9.0, 0.0, -9.0, -10.0]) == loaded.read
    cands = [Candidate(i, 0.0, 0.0, 0.0, first=f) for i, f in enumerate((8.0, 2.0, 0.0))]
    for c, rel in zip(cands, (0.1, 1.0, -1.0), strict=True):
        c.reading = Reading(rel, 0.0, -1, -1)
    assert [c.sid for c in rank_read(cands, loaded.rank)] == [1, 0, 2]
    # the shipped ranker also weighs the first stage
    assert [c.sid for c in rank_read(cands, ReaderParams.load().rank)] == [0, 1, 2]


def test_only_candidates_near_the_first_stages_best_are_read() -> None:
    assert how_many([5.0, 4.0, 1.0, 0.5], 3, None) == 3
    assert how_many([5.0, 4.0, 1.0, 0.5], 3, 2.0) == 2  # 1.0 is 4 below the best
    assert how_many([5.0, -3.0], 3, 2.0) == 1  # always the best
    assert how_many([5.0, 4.5, 4.4, 4.3], 3, 2.0) == 3  # never more than ``read``
    assert how_many([], 3, 2.0) == 0


def test_a_blended_reading_weighs_both_and_keeps_the_short_answer_read_as_asked() -> None:
    as_asked = Reading(-1.0, 3.0, 4, 9)
    in_context = Reading(3.0, 5.0, 0, 2)
    assert blend(as_asked, in_context) == Reading(1.0, 3.0, 4, 9)

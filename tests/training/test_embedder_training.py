"""Training smoke test of the embedder: its examples, a few steps on a tiny invented
SQuAD-format sample, a stop and a resume, then the int8 ONNX folder the shipped loader accepts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from qa.embed.trained import TrainedEmbedder
from qa.training.embedder import EmbedderConfig, train, triples

PARAGRAPHS = [
    "The bridge over the Tarn was finished in 1912. It was designed by Elise Marchand. "
    "Trains crossed the bridge for the first time two years later.",
    "The ferry at Albi stopped running in 1931. Its last captain was Jules Ferrand.",
]
QUESTIONS = [
    (0, "When was the bridge over the Tarn finished?", "1912"),
    (0, "Who designed the bridge over the Tarn?", "Elise Marchand"),
    (1, "Who was the ferry's last captain?", "Jules Ferrand"),
    (0, "What was finished and who designed it?", "finished in 1912. It was designed"),
]


def _squad_file(folder: Path) -> Path:
    paragraphs = [
        {
            "context": text,
            "qas": [
                {
                    "id": f"q{i}",
                    "question": q,
                    "answers": [{"text": a, "answer_start": text.index(a)}],
                }
                for i, (p, q, a) in enumerate(QUESTIONS)
                if p == n
            ],
        }
        for n, text in enumerate(PARAGRAPHS)
    ]
    path = folder / "train.json"
    path.write_text(json.dumps({"data": [{"title": "Tarn", "paragraphs": paragraphs}]}))
    return path


def test_examples_pair_the_gold_sentence_with_its_likeliest_neighbour(tmp_path: Path) -> None:
    found = {q: (pos, neg) for q, pos, neg in triples(_squad_file(tmp_path), seed=13)}
    # an answer across two sentences gives no example
    assert set(found) == {q for _, q, _ in QUESTIONS[:3]}
    pos, neg = found["Who designed the bridge over the Tarn?"]
    assert pos == "It was designed by Elise Marchand."
    assert neg == "The bridge over the Tarn was finished in 1912."  # the most words in common
    assert found["Who was the ferry's last captain?"] == (
        "Its last captain was Jules Ferrand.",
        "The ferry at Albi stopped running in 1931.",
    )


@pytest.mark.slow
def test_train_stops_resumes_and_exports(tmp_path: Path) -> None:
    cfg = EmbedderConfig(
        squad_train=str(_squad_file(tmp_path)),
        out_dir=str(tmp_path / "model"),
        work_dir=str(tmp_path / "work"),
        steps=2,
        batch_size=2,
        warmup=1,
        max_minutes=1e-6,  # stop after the first step
    )
    assert train(cfg).name == "checkpoint.pt" and not (tmp_path / "model").exists()
    out = train(replace(cfg, max_minutes=0.0))  # resumes and finishes
    assert out == tmp_path / "model" / "model.onnx"
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["steps"] == 2 and manifest["examples"] == 3
    assert manifest["worst_cosine_vs_torch"] > 0.97
    assert "sha256" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8").lower()
    vecs = TrainedEmbedder(tmp_path / "model").encode(["Who designed the bridge?"])
    assert vecs.shape == (1, 384)

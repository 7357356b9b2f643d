"""The qa command line, through click's CliRunner (fast: hashing embedder)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.read import ReaderParams
from qa.surfaces.cli import main


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_index_then_ask_json_contract(runner: CliRunner, tiny_dir: Path, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    res = runner.invoke(
        main, ["index", str(tiny_dir), "--index-dir", str(ix), "--model", "minilm", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert "Indexed 3 articles" in res.output
    res = runner.invoke(
        main, ["ask", "How much did the repairs cost?", "--index-dir", str(ix), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) >= {
        "id",
        "question",
        "answer",
        "short_answer",
        "abstained",
        "confidence",
        "citations",
        "timing_ms",
    }
    assert data["short_answer"] == "$4 million"
    cit = data["citations"][0]
    assert set(cit) >= {
        "n",
        "article_id",
        "title",
        "source",
        "author",
        "date",
        "url",
        "quote",
        "start",
        "end",
    }
    again = runner.invoke(
        main, ["index", str(tiny_dir), "--index-dir", str(ix), "--model", "minilm", "-q"]
    )
    assert "up to date" in again.output


def test_ask_text_output_marks_answer_and_lists_sources(
    runner: CliRunner, tiny_index: Path
) -> None:
    res = runner.invoke(
        main, ["ask", "How much did the repairs cost?", "--index-dir", str(tiny_index)]
    )
    assert res.exit_code == 0
    assert (
        "**$4 million**" in res.output
        and "[1] Port reopens after storm — Coast Gazette" in res.output
    )


def test_ask_with_history(runner: CliRunner, tiny_index: Path) -> None:
    hist = json.dumps(["When did the new primary school in Marrow open?"])
    res = runner.invoke(
        main,
        [
            "ask",
            "How many pupils does it have room for?",
            "--history",
            hist,
            "--index-dir",
            str(tiny_index),
            "--json",
        ],
    )
    assert json.loads(res.output)["short_answer"].endswith("400")


def test_empty_question_is_a_clean_error(runner: CliRunner, tiny_index: Path) -> None:
    res = runner.invoke(main, ["ask", "  ", "--index-dir", str(tiny_index)])
    assert res.exit_code == 1
    assert res.output.strip() == "Error: the question is empty"


def test_missing_index_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(main, ["ask", "Anything?", "--index-dir", str(tmp_path / "none")])
    assert (
        res.exit_code == 1 and "Error: no index in" in res.output and "Traceback" not in res.output
    )


def test_env_var_fallback_for_index_dir(runner: CliRunner, tiny_index: Path) -> None:
    res = runner.invoke(
        main,
        ["ask", "How much did the repairs cost?", "--json"],
        env={"QA_INDEX_DIR": str(tiny_index)},
    )
    assert json.loads(res.output)["short_answer"] == "$4 million"


def test_bad_article_aborts_index_and_writes_nothing(
    runner: CliRunner, tiny_dir: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.md").write_text("---\nid: g\n---\nGood text here.\n")
    (corpus / "bad.md").write_text("---\ntitle: [oops\n---\nText.\n")
    ix = tmp_path / "ix"
    res = runner.invoke(
        main, ["index", str(corpus), "--index-dir", str(ix), "--model", "minilm", "-q"]
    )
    assert res.exit_code == 1
    assert "bad.md: broken front matter" in res.output and "--skip-invalid" in res.output
    assert not (ix / "CURRENT").exists()
    res = runner.invoke(
        main,
        ["index", str(corpus), "--index-dir", str(ix), "--model", "hash", "-q", "--skip-invalid"],
    )
    assert res.exit_code == 0 and "skipped" in res.output and "Indexed 1 articles" in res.output


def test_batch_jsonl_in_order_with_bad_lines(
    runner: CliRunner, tiny_index: Path, tmp_path: Path
) -> None:
    inp = tmp_path / "q.jsonl"
    inp.write_text(
        '{"id": "a", "question": "How much did the repairs cost?", "extra": 1}\n'
        "this is not json\n"
        '{"id": "c", "question": ""}\n'
        '{"id": "d", "question": "How many pupils does it have room for?", "history": ["When did the school in Marrow open?"]}\n'
    )
    out = tmp_path / "a.jsonl"
    res = runner.invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(tiny_index), "-q"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "line-2", "c", "d"]
    assert rows[0]["short_answer"] == "$4 million"
    assert "invalid JSON" in rows[1]["error"] and rows[2]["error"] == "the question is empty"
    assert "400" in rows[3]["short_answer"]


def test_batch_txt_to_csv(runner: CliRunner, tiny_index: Path, tmp_path: Path) -> None:
    inp = tmp_path / "q.txt"
    inp.write_text("How much did the repairs cost?\n\nWho welcomed the first students?\n")
    out = tmp_path / "a.csv"
    res = runner.invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(tiny_index), "-q"]
    )
    assert res.exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "3"]
    assert json.loads(rows[0]["citations"])[0]["article_id"] == "harbor"


def test_batch_csv_needs_question_column_and_writes_nothing(
    runner: CliRunner, tiny_index: Path, tmp_path: Path
) -> None:
    inp = tmp_path / "q.csv"
    inp.write_text("id,text\n1,How much?\n")
    out = tmp_path / "a.jsonl"
    res = runner.invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(tiny_index), "-q"]
    )
    assert res.exit_code == 1 and "needs a 'question' column" in res.output
    assert not out.exists() and list(tmp_path.glob(".a.jsonl*")) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such file"),
        ("q.pdf", "x", "unsupported input type"),
        ("bad.txt", b"\xff\xfe\xfa", "not valid UTF-8"),
    ],
)
def test_batch_bad_input_file_writes_nothing(
    runner: CliRunner,
    tiny_index: Path,
    tmp_path: Path,
    name: str,
    content: str | bytes | None,
    message: str,
) -> None:
    inp = tmp_path / name
    if isinstance(content, bytes):
        inp.write_bytes(content)
    elif content is not None:
        inp.write_text(content)
    out = tmp_path / "out.jsonl"
    res = runner.invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(tiny_index), "-q"]
    )
    assert res.exit_code == 1 and message in res.output
    assert not out.exists()


def test_batch_failure_midway_keeps_previous_output(
    runner: CliRunner, tiny_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "a.jsonl"
    out.write_text("previous results\n")
    inp = tmp_path / "q.txt"
    inp.write_text("How much did the repairs cost?\n")
    import qa.surfaces.batch

    def explode(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(qa.surfaces.batch, "write_answers", explode)
    res = runner.invoke(
        main, ["batch", str(inp), "-o", str(out), "--index-dir", str(tiny_index), "-q"]
    )
    assert res.exit_code == 130
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".a.jsonl")] == []


def test_eval_prints_table_per_kind(runner: CliRunner, tiny_index: Path, tmp_path: Path) -> None:
    qs = tmp_path / "qs.jsonl"
    qs.write_text(
        '{"id": "1", "question": "How much did the repairs cost?", "kind": "figure", "answers": ["$4 million"], "article_ids": ["harbor"], "answerable": true, "split": "dev"}\n'
        '{"id": "2", "question": "What is the boiling point of mercury in Kelvin?", "kind": "unanswerable", "answers": [], "article_ids": [], "answerable": false, "split": "test"}\n'
    )
    res = runner.invoke(main, ["eval", str(qs), "--index-dir", str(tiny_index), "-q"])
    assert res.exit_code == 0, res.output
    assert "figure" in res.output and "unanswerable" in res.output and "ALL" in res.output
    res = runner.invoke(main, ["eval", str(qs), "--index-dir", str(tiny_index), "-q", "--json"])
    data = json.loads(res.output)
    assert data["overall"]["correct"] == 1.0 and data["overall"]["abstain_recall"] == 1.0


def test_a_failed_first_build_leaves_nothing(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "new-index"
    res = runner.invoke(
        main,
        [
            "index",
            str(tmp_path / "no-such-path"),
            "--index-dir",
            str(target),
            "-q",
            "--model",
            "hash",
        ],
    )
    assert res.exit_code != 0
    assert "no-such-path" in res.output
    assert not target.exists()


def test_calibrate_refuses_a_gap_and_no_gap_together(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "params.json"
    res = runner.invoke(
        main, ["train", "calibrate", "--read-gap", "2", "--no-read-gap", "--out", str(out)]
    )
    assert res.exit_code == 1 and "either --read-gap or --no-read-gap" in res.output
    assert not out.exists()


def test_train_passes_the_readers_shape_and_teacher_to_both_stages(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.training.reader as training

    seen = []
    monkeypatch.setattr(training, "train", lambda cfg: seen.append(cfg) or tmp_path / "m.onnx")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    stage1 = tmp_path / "s1" / "checkpoint.pt"
    stage1.parent.mkdir()
    stage1.write_bytes(b"")
    shape = ["--layers", "4", "--pooling", "mean", "--teacher", str(teacher), "--distil", "0.7"]
    shape += ["--base", str(teacher)]
    assert runner.invoke(main, ["train", "reader", *shape]).exit_code == 0
    stage2 = ["--init-from", str(stage1), "--epochs", "2"]
    res = runner.invoke(main, ["train", "answerability", *shape, *stage2])
    assert res.exit_code == 0, res.output
    for cfg in seen:
        assert (cfg.layers, cfg.pooling, cfg.teacher, cfg.distil) == (4, "mean", str(teacher), 0.7)
        assert cfg.base == str(teacher)
    assert seen[1].init_from == str(stage1) and seen[0].init_from == ""
    assert (seen[0].epochs, seen[1].epochs) == (1.0, 2.0)
    res = runner.invoke(main, ["train", "answerability", *stage2[:2], "--epochs", "0"])
    assert res.exit_code == 2 and "--epochs" in res.output and len(seen) == 2
    # without a teacher: none, and stage 2 starts from stage 1's usual checkpoint
    res = runner.invoke(main, ["train", "answerability"])
    assert res.exit_code == 1 and "qa train reader" in res.output and len(seen) == 2
    assert runner.invoke(main, ["train", "reader"]).exit_code == 0 and seen[2].teacher == ""
    assert seen[2].base == ""


def test_min_confidence_from_the_environment(
    runner: CliRunner, tiny_index: Path, tmp_path: Path
) -> None:
    ask = ["ask", "How much did the repairs cost?", "--json", "--index-dir", str(tiny_index)]
    res = runner.invoke(main, ask, env={"QA_MIN_CONFIDENCE": "1"})
    assert res.exit_code == 0 and json.loads(res.output)["abstained"] is True
    # qa eval measures at that bar and says so
    qs = tmp_path / "qs.jsonl"
    qs.write_text(
        '{"id": "1", "question": "How much did the repairs cost?", "answers": ["$4 million"], '
        '"article_ids": ["harbor"], "answerable": true}\n'
    )
    evaluate = ["eval", str(qs), "--index-dir", str(tiny_index), "-q"]
    res = runner.invoke(main, [*evaluate, "--json"], env={"QA_MIN_CONFIDENCE": "1"})
    data = json.loads(res.output)
    assert data["min_confidence"] == 1.0 and data["overall"]["correct"] == 0.0
    res = runner.invoke(main, [*evaluate, "--json"])  # unset: the reader's own threshold
    assert json.loads(res.output)["min_confidence"] == ReaderParams.load().threshold
    res = runner.invoke(main, evaluate, env={"QA_MIN_CONFIDENCE": "1"})
    assert res.output.rstrip().endswith(
        "Answered only at confidence 1 or above (QA_MIN_CONFIDENCE)."
    )
    for bad in ("1.5", "most"):
        res = runner.invoke(main, ask, env={"QA_MIN_CONFIDENCE": bad})
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert res.output.strip() == (
            f"Error: QA_MIN_CONFIDENCE must be a number from 0 to 1, got {bad!r}"
        )

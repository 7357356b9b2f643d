"""The distributed build on a local Ray instance gives the same index as the local build."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.embed.embedder import HashEmbedder
from qa.index.build import build_index
from qa.index.store import load_index
from tests.helpers import CountingEmbedder, write_jsonl


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # imported here, not at collection: the fast suite (-m "not slow") never loads Ray
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("ray-corpus")
    write_jsonl(folder / "news.jsonl", 120)
    for f in tiny_dir.iterdir():  # .md and .txt files too
        (folder / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def by_article(ix_dir: Path) -> dict[str, tuple[list[tuple[int, int]], np.ndarray, np.ndarray]]:
    ix = load_index(ix_dir)
    out = {}
    for a in ix.articles:
        ps = [p for p in ix.passages if p.article_id == a.id]
        ss = [i for i, s in enumerate(ix.sentences) if s.article_id == a.id]
        out[a.id] = (
            [(p.start, p.end) for p in ps],
            np.asarray(ix.passage_vectors[[p.id for p in ps]], dtype=np.float32),
            np.asarray(ix.sentence_vectors[ss], dtype=np.float32),
        )
    return out


def assert_same(a: Path, b: Path, atol: float) -> None:
    x, y = by_article(a), by_article(b)
    assert x.keys() == y.keys()
    for aid in x:
        assert x[aid][0] == y[aid][0], aid  # the same passages
        assert np.allclose(x[aid][1], y[aid][1], atol=atol), aid  # the same vectors
        assert np.allclose(x[aid][2], y[aid][2], atol=atol), aid


@pytest.mark.slow  # starts a local Ray cluster (~30 s)
def test_ray_build_matches_local_build(local_ray: None, corpus: Path, tmp_path: Path) -> None:
    build_index(None, tmp_path / "local", inputs=[corpus], embedder=HashEmbedder(), progress=False)
    report = build_index(
        None,
        tmp_path / "ray",
        inputs=[corpus],
        embedder=HashEmbedder(),
        progress=False,
        ray_address="local",
        shard_size=40,
    )
    assert report.articles == 123 and report.embedded_articles == 123
    assert_same(tmp_path / "local", tmp_path / "ray", atol=1e-3)
    assert not (tmp_path / "ray" / ".work").exists()

    # an update on Ray embeds only the changed article; the rest is reused on the driver
    lines = (corpus / "news.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row["text"] += " A late paragraph was added."
    lines[3] = json.dumps(row)
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "news.jsonl").write_text("\n".join(lines) + "\n")
    build_index(None, tmp_path / "ray2", inputs=[changed], embedder=HashEmbedder(), progress=False)
    emb = CountingEmbedder()
    (changed / "news.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n" + lines[3] + "\n")
    report = build_index(
        None, tmp_path / "ray2", inputs=[changed], embedder=emb, progress=False, ray_address="local"
    )
    assert report.embedded_articles == 0 and emb.texts == 0  # same articles, reordered only
    row["text"] += " And another."
    (changed / "news.jsonl").write_text(
        "\n".join(lines[:3] + lines[4:]) + "\n" + json.dumps(row) + "\n"
    )
    report = build_index(
        None, tmp_path / "ray2", inputs=[changed], embedder=emb, progress=False, ray_address="local"
    )
    assert (report.embedded_articles, report.reused_articles) == (1, 119)
    assert emb.texts == 0  # the driver's embedder was not used: the actors embedded


@pytest.mark.slow
def test_ray_build_with_minilm_matches_local(local_ray: None, tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    from qa.config import BUNDLED_CORPUS

    arts = [BUNDLED_CORPUS / "ruto-kenya-remain-haiti.md"]
    build_index(None, tmp_path / "local", inputs=arts, embedder=minilm, progress=False)
    build_index(
        None, tmp_path / "ray", inputs=arts, embedder=minilm, progress=False, ray_address="local"
    )
    assert_same(tmp_path / "local", tmp_path / "ray", atol=2e-3)

"""Shared fixtures: a tiny inline corpus and its index, the real MiniLM model (loaded once per
session, ~1 s: the reader's calibrated confidence expects its cosines, so the tests that check
answers use it) and, for tests marked ``slow``, the bundled corpus.

The tests mirror the package: ``tests/ingest/`` tests ``qa/ingest/``, ``tests/surfaces/web/``
tests ``qa/surfaces/web/``, and so on; ``tests/test_<module>.py`` tests a top-level module, and
the suites that cut across every stage (fuzzing, crash safety, install, layout, quality) sit at
the top. Every folder is a package (``__init__.py``), so two folders may hold test files of the
same name. Helpers shared by test modules are in ``tests/helpers.py``; test modules never import
each other."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.config import BUNDLED_CORPUS
from qa.index.build import build_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant

TINY = {
    "harbor.md": """---
id: harbor
title: "Port reopens after storm"
source: "Coast Gazette"
author: "Ana Ruiz"
date: 2025-03-02
url: "https://example.org/harbor"
---
The harbor of Linden reopened on Monday after a week of repairs.
Mayor Clara Voss said 120 workers rebuilt the main pier.
The repairs cost $4 million, paid by the regional government.
Ferries to the islands will resume next month.
""",
    "ferry.md": """---
id: ferry
title: "Ferry service to resume"
source: "Island Times"
date: 2025-03-04
---
Ferry operators confirmed that service to the islands resumes in April.
According to the operators, 95 workers rebuilt the main pier in Linden.
Tickets will cost the same as last year.
""",
    "school.txt": """New school opens in Marrow
The town of Marrow opened a new primary school on Friday.
The school has 14 classrooms and room for 400 pupils.
Principal Tomas Berg welcomed the first students.
""",
}


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The ONNX export of the embedding model goes to a per-session folder, not the user's
    cache (so every session that uses MiniLM also exercises the export)."""
    os.environ["QA_CACHE_DIR"] = str(tmp_path_factory.mktemp("qa-cache"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-corpus")
    for name, text in TINY.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_index(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory, minilm) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path_factory.mktemp("tiny-index")
    articles = load_corpus([tiny_dir]).articles
    build_index(articles, target, inputs=[tiny_dir], embedder=minilm, progress=False)
    return target


@pytest.fixture(scope="session")
def tiny_assistant(tiny_index: Path, minilm) -> Assistant:  # type: ignore[no-untyped-def]
    return Assistant.load(tiny_index, embedder=minilm)


@pytest.fixture(scope="session")
def make_assistant(tmp_path_factory: pytest.TempPathFactory, minilm):  # type: ignore[no-untyped-def]
    """A factory: an assistant over the few articles a test needs ({file name: text}), indexed
    with the real embedder (the reader's calibrated confidence expects its cosines)."""

    def make(articles: dict[str, str]) -> Assistant:
        folder = tmp_path_factory.mktemp("corpus")
        for name, text in articles.items():
            (folder / name).write_text(text, encoding="utf-8")
        target = tmp_path_factory.mktemp("index")
        built = load_corpus([folder]).articles
        build_index(built, target, inputs=[folder], embedder=minilm, progress=False)
        return Assistant.load(target, embedder=minilm)

    return make


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    """The shipped embedder (the fine-tuned MiniLM the reader's parameters were fitted with)."""
    from qa.embed.trained import TrainedEmbedder

    embedder = TrainedEmbedder()
    embedder.prepare()  # load once per session
    return embedder


@pytest.fixture(scope="session")
def bundled_index(minilm, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path_factory.mktemp("bundled-index")
    articles = load_corpus([BUNDLED_CORPUS]).articles
    build_index(articles, target, inputs=[BUNDLED_CORPUS], embedder=minilm, progress=False)
    return target


@pytest.fixture(scope="session")
def bundled_assistant(bundled_index: Path, minilm) -> Assistant:  # type: ignore[no-untyped-def]
    return Assistant.load(bundled_index, embedder=minilm)

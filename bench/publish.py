"""Publishing latency: how long a CMS's `PUT /api/articles/{id}` takes until the story is served
(validated, stored, incrementally indexed, the new build loaded and warmed up), and a `DELETE`,
over the bundled corpus with the real model; the ten real news pages of ../shared/pages/news-html
are pushed as HTML. Floor (same run): encoding the pushed article's own text alone."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import HEADER, machine, median, row
from fastapi.testclient import TestClient

from qa.config import BUNDLED_CORPUS, Settings
from qa.embed.trained import TrainedEmbedder
from qa.index.build import build_index
from qa.ingest.chunking import ChunkParams, sentence_table
from qa.ingest.corpus import article_from_html
from qa.ingest.tokenizer import count_tokens
from qa.surfaces.web.app import create_app

PAGES = Path(os.environ.get("QA_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
TOKEN = "bench-token"


def main() -> None:
    pages = sorted((PAGES / "pages" / "news-html").glob("*.html"))
    if not pages:
        raise SystemExit(f"no pages under {PAGES / 'pages' / 'news-html'}")
    load0 = os.getloadavg()
    embedder = TrainedEmbedder()
    embedder.prepare()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(BUNDLED_CORPUS, corpus)
        index_dir = Path(tmp) / "index"
        build_index(None, index_dir, inputs=[corpus], embedder=embedder, progress=False)
        settings = Settings(
            index_dir=index_dir, data_dir=Path(tmp) / "data", admin_token=TOKEN, rate_limit=0
        )
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/html"}
        puts, deletes, floors = [], [], []
        with TestClient(create_app(index_dir, settings, ui=False)) as client:
            for n, page in enumerate(pages):
                html = page.read_text(encoding="utf-8", errors="replace")
                article = article_from_html(html, f"page-{n}", "bench")
                spans = sentence_table(article, ChunkParams().max_tokens, count_tokens)
                texts = [article.text[a:b] for a, b in spans]
                t = time.perf_counter()
                embedder.encode(texts)
                floors.append(time.perf_counter() - t)
                t = time.perf_counter()
                r = client.put(f"/api/articles/page-{n}", content=html, headers=auth)
                puts.append(time.perf_counter() - t)
                assert r.status_code == 201, r.text
            for n in range(len(pages)):
                t = time.perf_counter()
                r = client.delete(f"/api/articles/page-{n}", headers=auth)
                deletes.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    load1 = os.getloadavg()
    print(f"machine: {machine()}")
    print(f"load average at start {load0[0]:.2f}, at end {load1[0]:.2f}")
    print(HEADER)
    print(
        row(
            "PUT a news page until served, median / max",
            f"{median(puts):.2f} / {max(puts):.2f} s",
            "within seconds",
            f"encoding its sentences alone {median(floors):.2f} s",
        )
    )
    print(row("DELETE until served, median / max", f"{median(deletes):.2f} / {max(deletes):.2f} s"))


if __name__ == "__main__":
    main()

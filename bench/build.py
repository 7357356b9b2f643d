"""Index build time for the bundled corpus against raw `model.encode` of the same texts."""

from __future__ import annotations

import tempfile
import time

from _common import HEADER, machine, median, row

from qa.config import BUNDLED_CORPUS
from qa.corpus import load_corpus
from qa.embedding import MiniLMEmbedder
from qa.index import build_index, load_index


def main() -> None:
    embedder = MiniLMEmbedder()
    _ = embedder.model
    articles = load_corpus([BUNDLED_CORPUS]).articles
    builds, encodes = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_index(articles, tmp, embedder=embedder, progress=False, rebuild=True)
            builds.append(time.perf_counter() - t)
            index = load_index(tmp)
            by_id = {a.id: a for a in articles}
            texts = [s.text for s in index.sentences] + [
                f"{by_id[p.article_id].title}. {p.text}" if by_id[p.article_id].title else p.text
                for p in index.passages
            ]
        t = time.perf_counter()
        embedder.model.encode(texts, batch_size=64, normalize_embeddings=True)
        encodes.append(time.perf_counter() - t)
    b, e = median(builds), median(encodes)
    print(f"machine: {machine()}")
    print(
        f"texts embedded: {len(texts)} ({len(index.sentences)} sentences, {len(index.passages)} passages)\n"
    )
    print(HEADER)
    print(
        row(
            "index build (bundled corpus)",
            f"{b:.2f} s",
            "≤ 1.10 × encode",
            f"model.encode {e:.2f} s",
        )
    )
    print(row("build / encode", f"{b / e:.2f} ×", "≤ 1.10 ×", ""))


if __name__ == "__main__":
    main()

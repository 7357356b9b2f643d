"""Index build time for the bundled corpus against raw encoding of the same texts: the
sentence-transformers `model.encode` (torch) and the ONNX Runtime encoder the build uses."""

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
    embedder.prepare()  # the ONNX export (cached after the first run)
    articles = load_corpus([BUNDLED_CORPUS]).articles
    builds, encodes, onnx_encodes = [], [], []
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
        t = time.perf_counter()
        embedder.encode(texts, batch_size=64)
        onnx_encodes.append(time.perf_counter() - t)
    b, e, o = median(builds), median(encodes), median(onnx_encodes)
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
    print(
        row(
            f"build / ONNX encode (backend: {embedder.backend_in_use})",
            f"{b / o:.2f} ×",
            "",
            f"ONNX Runtime encode {o:.2f} s",
        )
    )


if __name__ == "__main__":
    main()

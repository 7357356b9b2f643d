"""Index build time for the bundled corpus against raw encoding of exactly the texts the build
embeds (sentences and passages): with the
sentence-transformers `model.encode` (torch, the goal's reference) and with the encoder the
build uses (ONNX Runtime unless `QA_EMBED_BACKEND=torch`)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

import numpy as np
from _common import HEADER, machine, median, row

from qa.config import BUNDLED_CORPUS
from qa.embed.embedder import MiniLMEmbedder
from qa.index.store import build_index
from qa.ingest.corpus import load_corpus


class Recording(MiniLMEmbedder):
    """MiniLM, remembering the batches of texts it was asked to embed."""

    calls: list[list[str]]

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts, batch_size, progress)


def main() -> None:
    embedder = Recording()
    embedder.calls = []
    _ = embedder.model
    embedder.prepare()  # the ONNX export (cached after the first run)
    articles = load_corpus([BUNDLED_CORPUS]).articles
    builds, encodes, own = [], [], []
    for _ in range(3):
        embedder.calls = []
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_index(articles, tmp, embedder=embedder, progress=False, rebuild=True)
            builds.append(time.perf_counter() - t)
        calls = embedder.calls
        t = time.perf_counter()
        for texts in calls:
            embedder.model.encode(texts, batch_size=64, normalize_embeddings=True)
        encodes.append(time.perf_counter() - t)
        t = time.perf_counter()
        for texts in calls:
            MiniLMEmbedder.encode(embedder, texts, batch_size=64)
        own.append(time.perf_counter() - t)
    b, e, o = median(builds), median(encodes), median(own)
    print(f"machine: {machine()}")
    sizes = " + ".join(str(len(c)) for c in calls)
    print(
        f"texts embedded by the build: {sum(len(c) for c in calls)} ({sizes} in {len(calls)} calls)\n"
    )
    print(HEADER)
    print(
        row(
            "index build (bundled corpus)",
            f"{b:.2f} s",
            "≤ 1.10 × encode",
            f"model.encode of the same texts {e:.2f} s",
        )
    )
    print(row("build / encode", f"{b / e:.2f} ×", "≤ 1.10 ×", ""))
    print(
        row(
            f"build / encode with the build's own encoder ({embedder.backend_in_use})",
            f"{b / o:.2f} ×",
            "",
            f"encode {o:.2f} s",
        )
    )


if __name__ == "__main__":
    main()

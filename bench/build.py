"""Index build time against its floor, same run: a plain sentence-transformers `model.encode`
(torch, the goal's reference) of the index's sentences. A build embeds each sentence and each
passage (with its title) once, so beyond the floor are the passages, chunking, BM25, the vector
index and writing files.

    python bench/build.py                       # squad2-dev-5's articles (the issue's reference)
    python bench/build.py --corpus corpus       # any article files or folders
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _common import HEADER, bench_run, median, plain_encode_seconds, row

from qa.config import Settings
from qa.embed.trained import TrainedEmbedder
from qa.index.build import build_index
from qa.index.store import load_index
from qa.ingest.corpus import load_corpus


class Recording(TrainedEmbedder):
    """The shipped embedder, remembering the batches of texts it was asked to embed."""

    calls: list[list[str]]

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts, batch_size, progress)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", nargs="+", default=None, help="default: squad2-dev-5's articles")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    inputs = args.corpus or [
        str(Settings().shared_dir / "benchmarks" / "squad2-dev-5" / "corpus.jsonl")
    ]
    embedder = Recording()
    embedder.calls = []
    embedder.prepare()  # load and check the model
    articles = load_corpus(inputs).articles
    builds, floors = [], []
    for _ in range(args.rounds):
        embedder.calls = []
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_index(articles, tmp, embedder=embedder, progress=False, rebuild=True)
            builds.append(time.perf_counter() - t)
            sentences = [s.text for s in load_index(Path(tmp)).sentences]
        floors.append(plain_encode_seconds(sentences))
    b, f = median(builds), median(floors)
    embedded = sum(len(c) for c in embedder.calls)
    print(
        f"{len(articles)} articles, {len(sentences)} sentences; the build embedded {embedded} "
        f"texts (sentences and passages) in {len(embedder.calls)} calls; median of {args.rounds}\n"
    )
    print(HEADER)
    print(
        row(
            f"index build ({', '.join(Path(p).parent.name or p for p in inputs)})",
            f"{b:.2f} s",
            "≤ 1.25 × the floor",
            f"model.encode of its {len(sentences)} sentences {f:.2f} s",
        )
    )
    print(row("build / floor", f"{b / f:.2f} ×", "≤ 1.25 ×", ""))
    print(
        row(
            "build rate",
            f"{len(sentences) / b:.0f} sentences/s",
            "",
            f"{len(sentences) / f:.0f} sentences/s",
        )
    )


if __name__ == "__main__":
    with bench_run():
        main()

"""Helpers shared by test modules (``from tests.helpers import ...``): the repository root,
generated JSONL news, an embedder that counts what it embeds, and a live server for the web app.
Fixtures live in ``conftest.py``; test modules never import each other."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI

from qa.config import Settings
from qa.embed.embedder import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent  # the repository (bench/, docs/, eval/, examples/)

WORDS = (
    "the mayor said officers police harbor mission council budget storm workers bridge school "
    "ferry report million percent government election court minister troops aid flood "
    "hospital road port river village market drought rain vaccine strike union"
).split()


def write_jsonl(
    path: Path, n: int, start: int = 0, seed: int = 0, words: Sequence[str] = WORDS
) -> Path:
    """Append ``n`` invented news articles (ids ``n<start>``…) to a JSONL file."""
    rng = random.Random(seed + start)
    with path.open("a", encoding="utf-8") as fh:
        for i in range(start, start + n):
            sents = [
                " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."
                for _ in range(rng.randint(4, 30))
            ]
            row = {
                "id": f"n{i}",
                "title": f"Story {i}",
                "text": " ".join(sents),
                "source": rng.choice(["Gazette", "Times"]),
                "date": f"2025-01-{i % 28 + 1:02d}",
            }
            fh.write(json.dumps(row) + "\n")
    return path


class CountingEmbedder(HashEmbedder):
    """The hashing embedder, recording how many texts each call was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    @property
    def texts(self) -> int:
        """Texts embedded in all."""
        return sum(self.calls)

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls.append(len(texts))
        return super().encode(texts, batch_size, progress)


class LiveServer:
    """The app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, app: FastAPI, grace: float = 1) -> None:
        import uvicorn

        from qa.surfaces.web.app import ChatServer

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=grace)
        self.server = ChatServer(config, app)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()
        self.thread.join(timeout=15)
        self.sock.close()


def settings_for(tmp: Path, **kw: Any) -> Settings:
    """Web settings for a test: data under ``tmp``, small bounds, no rate limit (the rate
    limit has its own test)."""
    base: dict[str, Any] = {
        "data_dir": tmp / "data",
        "max_concurrency": 2,
        "max_queue": 4,
        "max_batch": 5,
        "embed_origins": (),
        "rate_limit": 0,
    }
    base.update(kw)
    return Settings(**base)

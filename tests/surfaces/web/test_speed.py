"""What keeps the server fast: TCP_NODELAY on accepted connections, the warm-up before serving,
and the framing headers set without a per-request middleware task."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.config import Settings
from qa.errors import QAError
from qa.pipeline import Assistant
from qa.surfaces.web.app import create_app, listen
from qa.surfaces.web.examples import example_questions


def test_accepted_connections_get_tcp_nodelay() -> None:
    """Without it a keep-alive client waited ~40 ms for every response (Nagle + delayed ACK)."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_listen_reports_a_taken_port_in_one_line() -> None:
    first = listen("127.0.0.1", 0)
    try:
        first.listen()
        with pytest.raises(QAError, match=r"cannot listen on 127\.0\.0\.1"):
            listen("127.0.0.1", first.getsockname()[1]).listen()
    finally:
        first.close()


def test_warm_up_asks_the_examples_and_caches_their_vectors(tiny_index: Path) -> None:
    assistant = Assistant.load(tiny_index)
    examples = example_questions(assistant, eval_file=None)
    assert examples
    assert not any(assistant.is_cached(q) for q in examples)
    seconds = assistant.warm_up(examples)
    assert 0.0 < seconds < 60.0
    assert all(assistant.is_cached(q) for q in examples)
    fresh = Assistant.load(tiny_index)
    fresh.warm_up()  # the default question, built from the first article's title
    assert fresh.is_cached(f"What happened: {fresh.index.articles[0].title}?")


def test_warm_up_never_raises(tiny_index: Path, caplog: pytest.LogCaptureFixture) -> None:
    assistant = Assistant.load(tiny_index)

    def broken(texts: Any, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        raise RuntimeError("no model here")

    assistant.embedder.encode = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="qa.pipeline"):
        assistant.warm_up(["How much did the repairs cost?"])
    assert "warm-up failed: no model here" in caplog.text


def test_framing_headers_on_every_kind_of_response(
    tiny_assistant: Assistant, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, embed_origins=("https://news.example.org",), rate_limit=0
    )
    client = TestClient(create_app(tiny_assistant, settings, ui=False))
    for method, path, kwargs in [
        ("post", "/api/ask", {"json": {"question": "How much did the repairs cost?"}}),
        ("post", "/api/ask", {"json": {"question": ""}}),
        ("get", "/api/health", {}),
        ("get", "/no-such-page", {}),
    ]:
        r = getattr(client, method)(path, **kwargs)
        assert r.headers["content-security-policy"] == "frame-ancestors 'self'", path
        assert r.headers["x-content-type-options"] == "nosniff"
    big = client.post("/api/ask", content=b"{}", headers={"content-length": str(2 << 20)})
    assert big.status_code == 413 and "too large" in big.json()["error"]

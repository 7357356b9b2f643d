"""Shared helpers for the benchmark scripts (they print figures; they are not tests)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"


def questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores {cpu}{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def row(name: str, value: str, goal: str = "", floor: str = "") -> str:
    return f"| {name} | {value} | {goal} | {floor} |"


HEADER = "| measure | qa | goal | floor / reference (same run) |\n| --- | --- | --- | --- |"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


@contextlib.contextmanager
def bench_run() -> Iterator[None]:
    """Print the machine and its load average before the figures, and the load average after
    them (a busy machine explains slow figures; the floors are measured in the same run)."""
    print(f"machine: {machine()}", flush=True)
    print(f"load average at start: {load_average()}\n", flush=True)
    try:
        yield
    finally:
        print(f"\nload average at end: {load_average()}", flush=True)


def encode_search_floor(
    embedder: Any, faiss_index: Any, texts: Sequence[str], k: int = 6
) -> list[float]:
    """The latency floor of one question, in ms each: encoding it with the same model plus one
    search of the same vector index (what any embedding-based answerer pays)."""
    out = []
    for text in texts:
        t = time.perf_counter()
        faiss_index.search(embedder.encode([text]), k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def plain_encode_seconds(texts: Sequence[str], batch_size: int = 64) -> float:
    """The build floor: a plain sentence-transformers ``encode`` of ``texts`` (torch, the
    goal's reference), timed after a warm-up call."""
    from qa.embed.embedder import MiniLMEmbedder

    model = MiniLMEmbedder().model
    model.encode(list(texts[:batch_size]), batch_size=batch_size, normalize_embeddings=True)
    t = time.perf_counter()
    model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
    return time.perf_counter() - t

"""Load test: N concurrent clients POST /api/ask on loopback for T seconds.

Starts `qa serve` on a free loopback port (or uses --url), drives it with N clients (tasks on one
asyncio loop, plain HTTP/1.1 keep-alive) that each send questions back to back for a bounded time, and prints throughput, latency
percentiles of answered requests, how many were turned away (429/503) and how fast, errors,
timeouts, and the server's RSS growth over the run. It only ever talks to 127.0.0.1 and stops
by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _common import ROOT, bench_run, encode_search_floor, pct, questions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(url: str, clients: int, seconds: float, timeout: float) -> dict[str, object]:
    """``clients`` concurrent clients on one asyncio loop, each on its own keep-alive
    connection, speaking plain HTTP/1.1 from pre-encoded requests: a load generator that costs
    the shared cores far less than the server it measures (a thread or an httpx client per
    client spent more CPU than the refusals they were timing)."""
    return asyncio.run(drive(url, clients, seconds, timeout))


def encode_request(host: str, question: str) -> bytes:
    body = json.dumps({"question": question}).encode("utf-8")
    head = (
        f"POST /api/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request and read its response: (status, the server closes the connection)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    await reader.readexactly(length)
    return status, close


async def drive(url: str, clients: int, seconds: float, timeout: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [encode_request(parts.netloc, str(q["question"])) for q in questions()]
    ok: list[float] = []
    refused: list[float] = []
    codes: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def client(seed: int) -> None:
        rnd = random.Random(seed)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < deadline:
            t = time.perf_counter()
            close = True
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                status, close = await asyncio.wait_for(
                    exchange(*conn, rnd.choice(requests)), timeout
                )
                code = str(status)
            except TimeoutError:
                code = "timeout"
            except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                code = type(err).__name__
            ms = (time.perf_counter() - t) * 1000
            if close and conn is not None:
                conn[1].close()
                conn = None
            codes[code] += 1
            if code == "200":
                ok.append(ms)
            elif code in ("429", "503"):
                refused.append(ms)
                await asyncio.sleep(0.05 + rnd.random() * 0.1)  # a polite client backs off
        if conn is not None:
            conn[1].close()

    t0 = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - t0
    errors = sum(n for c, n in codes.items() if c not in ("200", "429", "503"))
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "answered": len(ok),
        "throughput_qps": len(ok) / elapsed,
        "p50_ms": pct(ok, 50),
        "p95_ms": pct(ok, 95),
        "p99_ms": pct(ok, 99),
        "refused": len(refused),
        "refused_p95_ms": pct(refused, 95) if refused else float("nan"),
        "errors": errors,
        "codes": dict(codes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 200])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="client timeout per request")
    ap.add_argument("--url", default="", help="an already running server (default: start one)")
    args = ap.parse_args()
    if args.seconds > 600 or max(args.clients) > 1000:
        sys.exit("refusing: keep runs bounded (≤ 600 s, ≤ 1000 clients)")

    proc = None
    url = args.url
    if not url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "qa"), "serve", "--port", str(port), "-q"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            proc.kill()
            sys.exit("server did not start")
    try:
        with httpx.Client(base_url=url, timeout=30) as http:  # warm-up
            for q in questions()[:20]:
                http.post("/api/ask", json={"question": q["question"]})
        print_floor()
        print(
            "| clients | s | answered | q/s | p50 ms | p95 ms | p99 ms | refused (429/503) | refused p95 ms | errors+timeouts | server RSS start → end |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n in args.clients:
            before = rss_mb(proc.pid) if proc else float("nan")
            r = run(url, n, args.seconds, args.timeout)
            after = rss_mb(proc.pid) if proc else float("nan")
            print(
                f"| {n} | {r['seconds']} | {r['answered']} | {r['throughput_qps']:.1f} | "
                f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['refused']} | "
                f"{r['refused_p95_ms']:.0f} | {r['errors']} | {before:.0f} → {after:.0f} MB "
                f"(+{after - before:.0f}) |",
                flush=True,
            )
            if r["errors"]:
                print(f"  status codes: {r['codes']}", flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)


def print_floor() -> None:
    """The floor, same run: one question encoded and searched in this process (no HTTP, no
    reader), on the bundled index."""
    from qa.config import BUNDLED_CORPUS, BUNDLED_INDEX
    from qa.pipeline import Assistant

    assistant = Assistant.ensure([BUNDLED_CORPUS], BUNDLED_INDEX, progress=False)
    qs = [str(q["question"]) for q in questions()]
    floor = encode_search_floor(assistant.embedder, assistant.index.faiss_index, qs)
    print(
        f"floor (in-process encode + search of one question, {len(qs)} questions): "
        f"p50 {pct(floor, 50):.1f} ms, p95 {pct(floor, 95):.1f} ms\n"
    )


if __name__ == "__main__":
    with bench_run():
        main()

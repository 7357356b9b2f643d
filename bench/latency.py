"""Warm `ask` latency, batch throughput and peak memory on the bundled corpus.

Floor, measured in the same run: encoding one question with the same model plus one FAISS
search, which any embedding-based answerer must pay.
"""

from __future__ import annotations

import argparse
import resource
import time

from _common import HEADER, ROOT, bench_run, encode_search_floor, pct, questions, row

from qa.config import BUNDLED_CORPUS, BUNDLED_INDEX
from qa.pipeline import Assistant

FOLLOW_UPS = ROOT / "eval" / "followups.jsonl"
# distinct variants of each question for the batch measure without repeats
DISTINCT_PREFIXES = ("", "Tell me: ", "Question: ", "Please say: ", "I wonder: ")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the question list")
    args = ap.parse_args()

    with bench_run():
        measure(args.rounds)


def measure(rounds: int) -> None:
    assistant = Assistant.ensure([BUNDLED_CORPUS], BUNDLED_INDEX, progress=False, query_cache=0)
    qs = [str(q["question"]) for q in questions()]
    for q in qs[:10]:  # warm-up: model, allocator, caches of the reader
        assistant.ask(q)

    index = assistant.index.faiss_index
    floor = encode_search_floor(assistant.embedder, index, qs * rounds)
    encode: list[float] = []
    for q in qs * rounds:
        t = time.perf_counter()
        assistant.embedder.encode([q])
        encode.append((time.perf_counter() - t) * 1000)

    lat: list[float] = []
    for q in qs * rounds:
        t = time.perf_counter()
        assistant.ask(q)
        lat.append((time.perf_counter() - t) * 1000)

    # follow-ups (eval/followups.jsonl) with the earlier questions as history: judged as asked
    # and in context, each is encoded twice and its sentences read twice
    follow_ups = [(str(q["question"]), list(q["history"])) for q in questions(FOLLOW_UPS)]
    follow: list[float] = []
    for question, history in follow_ups * rounds:
        t = time.perf_counter()
        assistant.ask(question, history)
        follow.append((time.perf_counter() - t) * 1000)

    many = qs * rounds * 2
    t = time.perf_counter()
    assistant.ask_many(many)
    batch_qps = len(many) / (time.perf_counter() - t)
    # ask_many encodes each distinct question once, and `many` repeats each question
    # 2 x rounds times: the same number of distinct questions shows what reading costs
    distinct = [f"{p}{q}" for p in DISTINCT_PREFIXES for q in qs]
    t = time.perf_counter()
    assistant.ask_many(distinct)
    distinct_qps = len(distinct) / (time.perf_counter() - t)
    t = time.perf_counter()
    vecs = assistant.embedder.encode(many, batch_size=64)
    index.search(vecs, 6)
    floor_qps = len(many) / (time.perf_counter() - t)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    backend = getattr(assistant.embedder, "backend_in_use", assistant.embedder.name)
    print(f"questions: {len(qs)} x {rounds} rounds, query cache off, encoder: {backend}\n")
    print(HEADER)
    print(
        row(
            "question encode p50 / p95",
            f"{pct(encode, 50):.1f} / {pct(encode, 95):.1f} ms",
            "",
            "",
        )
    )
    print(
        row(
            "warm ask p50",
            f"{pct(lat, 50):.1f} ms (+{pct(lat, 50) - pct(floor, 50):.1f} over the floor)",
            "≤ 20 ms",
            f"encode+search {pct(floor, 50):.1f} ms",
        )
    )
    print(
        row(
            "warm ask p95",
            f"{pct(lat, 95):.1f} ms",
            "≤ 40 ms",
            f"encode+search {pct(floor, 95):.1f} ms",
        )
    )
    print(
        row(
            f"follow-up ask p50 / p95 ({len(follow_ups)} with history)",
            f"{pct(follow, 50):.1f} / {pct(follow, 95):.1f} ms",
            "",
            "",
        )
    )
    print(
        row(
            "batch throughput",
            f"{batch_qps:.0f} q/s",
            "",
            f"batch encode+search {floor_qps:.0f} q/s",
        )
    )
    print(
        row(
            f"batch throughput, {len(distinct)} distinct questions",
            f"{distinct_qps:.0f} q/s",
            "≥ 200 q/s",
            "",
        )
    )
    print(row("peak RSS", f"{rss_mb:.0f} MB", "≤ 600 MB", ""))


if __name__ == "__main__":
    main()

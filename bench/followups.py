"""Follow-up resolution on CANARD dev (3,430 follow-ups from 490 QuAC dialogues).

CANARD does not ship QuAC's passages, so retrieval is measured over the dialogues' topics: one
document per dialogue (its Wikipedia article and section title). For each follow-up, is its
dialogue's topic the top-1 document (MiniLM cosine) when searching with

* the follow-up as asked (the floor: no context at all),
* the question as `qa` resolves it from the conversation (earlier questions and answers as
  role/content messages, as the chat sends them),
* the human rewrite (the ceiling).

Usage: python bench/followups.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import bench_run

from qa.config import Settings
from qa.embed.embedder import make_embedder
from qa.questions import analyze_question


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    path = Settings().shared_dir / "datasets" / "canard-dev" / "dev.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    if args.limit:
        rows = rows[: args.limit]
    topics: dict[str, int] = {}
    docs: list[str] = []
    for r in rows:
        key = f"{r['History'][0]} — {r['History'][1]}"
        if key not in topics:
            topics[key] = len(docs)
            docs.append(key)
    asked, resolved, rewrites, gold = [], [], [], []
    for r in rows:
        turns = r["History"][2:]
        history = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": t}
            for i, t in enumerate(turns)
        ]
        info = analyze_question(r["Question"], history or None)
        asked.append(r["Question"])
        resolved.append(info.query)
        rewrites.append(r["Rewrite"])
        gold.append(topics[f"{r['History'][0]} — {r['History'][1]}"])
    emb = make_embedder("minilm")
    t0 = time.perf_counter()
    dvec = emb.encode(docs)
    target = np.array(gold)
    print(f"{len(rows)} follow-ups, {len(docs)} dialogue topics")
    print("| query | retrieval top-1 |\n|---|---|")
    for name, texts in (
        ("as asked", asked),
        ("qa's resolution", resolved),
        ("human rewrite", rewrites),
    ):
        top = np.argmax(emb.encode(texts) @ dvec.T, axis=1)
        print(f"| {name} | {float((top == target).mean()):.3f} |")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    with bench_run():
        main()

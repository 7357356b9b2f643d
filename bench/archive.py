"""The archive benchmark: squad2-dev-5's questions asked of a 20,000-paragraph archive of real
text, beside the same questions asked of their own five articles (the closed setting).

The archive is every article of SQuAD 1.1 train (442 Wikipedia articles, 18,896 paragraphs)
together with the articles of squad2-dev-5 and squad2-test-10. The closed setting is the index
`qa eval --set squad2-dev-5` uses; both are built and read by the same code
(:func:`qa.evaluation.eval_assistant`). Reported for each: sentence P@1, answered right,
unanswerables abstained, short-answer F1, warm latency p50/p95 of first-time questions (query
cache off) beside the encode + search floor, batch q/s; for the archive also its build time, a
from-nothing build of its first articles against a plain sentence-transformers encode of their
sentences (same run; sentences/s), its size on disk, the peak RSS of a process that loads it
and answers the questions, and the time to add one article to it and to remove it again.

    python bench/archive.py                  # build (or resume, or reuse) and measure
    python bench/archive.py --rebuild        # time a complete build from nothing
    python bench/archive.py --test           # also squad2-test-10 (the test set: run it once)

The archive index lives in QA_DATA_DIR/eval-index/archive-minilm (outside the repository; the
build is resumable: a killed run continues from its finished shards).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    HEADER,
    ROOT,
    bench_run,
    encode_search_floor,
    pct,
    plain_encode_seconds,
    row,
)

from qa.config import BUNDLED_CORPUS, Settings
from qa.evaluation import eval_assistant, evaluate, load_eval_set, resolve_set, squad_json_to_set
from qa.index.build import build_index
from qa.index.format import current_build
from qa.index.shards import iter_articles
from qa.index.store import load_index
from qa.pipeline import Assistant
from qa.types import Article

SHARD_SIZE = 50  # articles per shard: a killed build loses at most this much work
EXTRA = BUNDLED_CORPUS / "ruto-kenya-remain-haiti.md"  # a news article the archive lacks


def sources(settings: Settings) -> list[str]:
    train = squad_json_to_set(
        settings.shared_dir / "datasets" / "squad-v1.1-train" / "train-v1.1.json.gz",
        settings.data_dir / "eval-sets" / "squad-v1.1-train",
    )
    bench = settings.shared_dir / "benchmarks"
    return [
        str(train / "corpus.jsonl"),
        str(bench / "squad2-dev-5" / "corpus.jsonl"),
        str(bench / "squad2-test-10" / "corpus.jsonl"),
    ]


def build(target: Path, inputs: list[str], rebuild: bool) -> dict[str, Any]:
    """Build (resuming finished shards) or refresh the archive; time it."""
    t = time.perf_counter()
    report = build_index(
        None,
        target,
        inputs=inputs,
        rebuild=rebuild,
        resume=not rebuild,
        shard_size=SHARD_SIZE,
        progress=sys.stderr.isatty(),
    )
    return {
        "seconds": time.perf_counter() - t,
        "unchanged": report.unchanged,
        "complete": report.embedded_articles == report.articles,  # nothing resumed or reused
        "articles": report.articles,
        "passages": report.passages,
        "sentences": report.sentences,
    }


def sample_build(inputs: list[str], n_articles: int) -> dict[str, Any]:
    """A complete build of the archive's first ``n_articles`` articles, from nothing, and its
    floor in the same run: a plain sentence-transformers encode of exactly its sentences."""
    articles = []
    for _, item in iter_articles(inputs):
        if isinstance(item, Article):
            articles.append(item)
        if len(articles) == n_articles:
            break
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        report = build_index(articles, tmp, rebuild=True, progress=False)
        seconds = time.perf_counter() - t
        texts = [s.text for s in load_index(tmp).sentences]
    return {
        "articles": len(articles),
        "passages": report.passages,
        "sentences": len(texts),
        "seconds": seconds,
        "floor_seconds": plain_encode_seconds(texts),
    }


def measure(assistant: Assistant, items: list[Any]) -> dict[str, Any]:
    """Quality and speed of one setting: every question asked once (first-time questions:
    the assistant's query cache is off), then all of them as one batch."""
    for item in items[:10]:  # warm-up: ONNX Runtime's first runs, allocator
        assistant.ask(item.question)
    summary = evaluate(assistant, items).summary()
    questions = [i.question for i in items]
    t = time.perf_counter()
    assistant.ask_many(questions)
    summary["batch_qps"] = len(questions) / (time.perf_counter() - t)
    floor = encode_search_floor(assistant.embedder, assistant.index.faiss_index, questions[:300])
    summary["floor_p50_ms"] = pct(floor, 50)
    summary["floor_p95_ms"] = pct(floor, 95)
    return summary


def serving_rss_mb(target: Path, questions_path: Path) -> float:
    """Peak RSS of a fresh process that loads the archive and answers as a server does: 400 of
    the set's questions one at a time, then batches of 100 (the HTTP API's limit)."""
    code = (
        "import sys\n"
        "from qa.evaluation import load_eval_set\n"
        "from qa.pipeline import Assistant\n"
        "a = Assistant.load(sys.argv[1], stale='ignore', query_cache=0)\n"
        "qs = [i.question for i in load_eval_set(sys.argv[2])]\n"
        "for q in qs[:400]:\n"
        "    a.ask(q)\n"
        "for lo in range(400, len(qs), 100):\n"
        "    a.ask_many(qs[lo : lo + 100])\n"
        # VmHWM, not ru_maxrss: Linux carries the parent's peak over fork and exec into that
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
        "print(int(hwm.split()[1]) / 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(target), str(questions_path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def size_mb(build: Path) -> float:
    return sum(f.stat().st_size for f in build.rglob("*") if f.is_file()) / 1e6


def add_and_remove(target: Path, inputs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Add one article to the archive, then remove it: the ingestion API (build_index), each
    timed; the archive ends as it began."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / EXTRA.name
        extra.write_bytes(EXTRA.read_bytes())
        t = time.perf_counter()
        added = build_index(None, target, inputs=[*inputs, str(extra)], progress=False)
        add = {"seconds": time.perf_counter() - t, "embedded": added.embedded_articles}
    t = time.perf_counter()
    removed = build_index(None, target, inputs=inputs, progress=False)
    remove = {"seconds": time.perf_counter() - t, "removed": removed.removed_articles}
    return add, remove


def quality_rows(name: str, closed: dict[str, Any], archive: dict[str, Any]) -> None:
    print(f"\n{name}: closed setting (its own articles) vs the archive\n")
    print("| measure | closed | archive | goal |\n| --- | --- | --- | --- |")
    for label, key, fmt, goal in (
        ("questions", "n", "{:.0f}", ""),
        ("sentence P@1", "p_at_1", "{:.3f}", ""),
        ("answered right", "answered_right", "{:.3f}", "archive ≥ closed − 0.05"),
        ("unanswerables abstained", "abstain_recall", "{:.3f}", ""),
        ("short-answer F1", "f1", "{:.3f}", ""),
        ("warm p50 (first-time questions)", "latency_p50_ms", "{:.1f} ms", "archive ≤ 2 × closed"),
        ("warm p95", "latency_p95_ms", "{:.1f} ms", ""),
        ("floor: encode + search p50", "floor_p50_ms", "{:.1f} ms", ""),
        ("floor: encode + search p95", "floor_p95_ms", "{:.1f} ms", ""),
        ("batch", "batch_qps", "{:.1f} q/s", ""),
    ):
        cells = ["–" if s.get(key) is None else fmt.format(s[key]) for s in (closed, archive)]
        print(f"| {label} | {cells[0]} | {cells[1]} | {goal} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index-dir", type=Path, default=None)
    ap.add_argument("--rebuild", action="store_true", help="time a complete build from nothing")
    ap.add_argument("--test", action="store_true", help="also squad2-test-10 (run it once)")
    ap.add_argument(
        "--sample-articles", type=int, default=20, help="articles of the timed sample build"
    )
    args = ap.parse_args()
    settings = Settings()
    target = args.index_dir or settings.data_dir / "eval-index" / "archive-minilm"
    inputs = sources(settings)

    built = build(target, inputs, args.rebuild)
    part = sample_build(inputs, args.sample_articles)
    floor_rate = part["sentences"] / part["floor_seconds"]

    sets = ["squad2-dev-5", *(["squad2-test-10"] if args.test else [])]
    results: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name in sets:
        path = resolve_set(
            name, ROOT / "eval", settings.shared_dir, settings.data_dir / "eval-sets"
        )
        items = load_eval_set(path)
        closed = eval_assistant(path, (), settings.data_dir, query_cache=0)
        archive = eval_assistant(path, inputs, settings.data_dir, index_dir=target, query_cache=0)
        assert closed is not None and archive is not None
        results[name] = (measure(closed, items), measure(archive, items))
        del closed, archive

    dev_path = resolve_set(
        "squad2-dev-5", ROOT / "eval", settings.shared_dir, settings.data_dir / "eval-sets"
    )
    rss = serving_rss_mb(target, dev_path)
    disk = size_mb(current_build(target))
    add, remove = add_and_remove(target, inputs)

    print(
        f"archive: {built['articles']} articles, {built['passages']} passages, "
        f"{built['sentences']} sentences, in {target}\n"
    )
    print(HEADER)
    print(
        row(
            f"build of {part['articles']} archive articles from nothing "
            f"({part['sentences']} sentences, {part['passages']} passages)",
            f"{part['seconds']:.1f} s, {part['sentences'] / part['seconds']:.0f} sentences/s "
            f"({part['seconds'] / part['floor_seconds']:.2f} × the floor)",
            "≤ 1.25 × plain encode",
            f"plain encode of its sentences {part['floor_seconds']:.1f} s, "
            f"{floor_rate:.0f} sentences/s",
        )
    )
    if built["unchanged"] or not built["complete"]:
        how = "up to date, reused" if built["unchanged"] else "resumed or updated"
        print(row("archive build", f"{how} ({built['seconds']:.1f} s; --rebuild times one)"))
    else:
        rate = built["sentences"] / built["seconds"]
        print(
            row(
                "archive build",
                f"{built['seconds']:.0f} s, {rate:.0f} sentences/s ({floor_rate / rate:.2f} × the floor's time)",
                "≤ 1.25 × plain encode",
                f"plain encode {floor_rate:.0f} sentences/s (the sample's)",
            )
        )
    print(row("index on disk", f"{disk:.0f} MB"))
    print(row("peak RSS serving the archive", f"{rss:.0f} MB", "≤ 2 GB"))
    print(
        row(
            "add one article",
            f"{add['seconds']:.2f} s ({add['embedded']} embedded)",
            "≤ 5 s, embeds only it",
        )
    )
    print(
        row(
            "remove it again",
            f"{remove['seconds']:.2f} s (removed {', '.join(remove['removed'])})",
            "≤ 5 s",
        )
    )
    print(
        row(
            "this process's peak RSS",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
        )
    )
    for name, (closed_s, archive_s) in results.items():
        quality_rows(name, closed_s, archive_s)
    print("\n" + json.dumps({"build": built, "sample_build": part}, default=str))


if __name__ == "__main__":
    with bench_run():
        main()

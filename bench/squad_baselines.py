"""Answer-sentence P@1 on a SQuAD-style set: BM25 only, MiniLM only, and the full reader.

All three rank the sentences of the same index. BM25 and MiniLM rank every sentence of the
collection on their own; the reader ranks the sentences of the passages that hybrid retrieval
returns (what ``qa eval`` measures). A question counts at rank 1 when the top sentence lies in the
gold paragraph and holds a gold answer string.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/squad_baselines.py \\
        /work/shared/benchmarks/squad2-dev-5 [--index-dir data/eval-index/squad2-dev-5-minilm]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import bench_run

from qa.evaluation import _contains, evaluate, load_eval_set
from qa.ingest.text import analyze, normalize_article_text
from qa.pipeline import Assistant


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("questions", type=Path)
    ap.add_argument("--index-dir", type=Path, default=None)
    args = ap.parse_args()
    folder = args.questions if args.questions.is_dir() else args.questions.parent
    index_dir = args.index_dir or Path("data/eval-index") / f"{folder.name}-minilm"
    assistant = Assistant.load(index_dir, stale="ignore")
    index = assistant.index
    items = load_eval_set(args.questions)
    answerable = [i for i in items if i.answerable]

    import bm25s

    sent_tokens = [analyze(s.text) or [""] for s in index.sentences]
    bm25 = bm25s.BM25()
    bm25.index(sent_tokens, show_progress=False)
    vocab = bm25.vocab_dict

    spans: dict[str, tuple[str, int, int]] = {}
    for it in answerable:
        aid = it.article_ids[0]
        text = index.article(aid).text
        ptext = normalize_article_text(it.paragraph)
        at = text.find(ptext[:200])
        spans[it.id] = (aid, at, at + len(ptext)) if at >= 0 else (aid, -1, -1)

    def is_gold(it, sid: int) -> bool:  # type: ignore[no-untyped-def]
        s = index.sentences[sid]
        aid, lo, hi = spans[it.id]
        return (
            s.article_id == aid
            and lo <= s.start < hi
            and any(_contains(s.text, g) for g in it.answers)
        )

    hits = {"bm25": 0, "minilm": 0}
    qvecs = assistant._encode([it.question for it in answerable])
    for it, qv in zip(answerable, qvecs, strict=True):
        toks = [t for t in analyze(it.question) if t in vocab]
        if toks:
            scores = bm25.get_scores(toks)
            hits["bm25"] += is_gold(it, int(np.argmax(scores)))
        dense = index.sentence_vectors @ qv
        hits["minilm"] += is_gold(it, int(np.argmax(dense)))

    t0 = time.perf_counter()
    report = evaluate(assistant, items)
    secs = time.perf_counter() - t0
    summary = report.summary()
    by_kind = report.by("kind")
    n = len(answerable)
    print(f"questions: {len(items)} ({n} answerable), sentences: {len(index.sentences)}")
    print(f"{'ranker':<22} {'P@1':>6}")
    print(f"{'BM25 (sentences)':<22} {hits['bm25'] / n:>6.3f}")
    print(f"{'MiniLM (sentences)':<22} {hits['minilm'] / n:>6.3f}")
    print(f"{'qa reader':<22} {summary['p_at_1']:>6.3f}")
    ans = by_kind.get("squad", summary)
    una = by_kind.get("squad-unanswerable", {})
    print(
        f"reader: EM {ans['em']:.3f}  F1 {ans['f1']:.3f}  answered-correct {ans['correct']:.3f}  "
        f"abstained on unanswerable {una.get('abstain_recall') or 0:.3f}  "
        f"wrongly abstained on answerable "
        f"{sum(r.answer.abstained for r in report.records if r.item.answerable) / n:.3f}  "
        f"({secs:.0f} s)"
    )


if __name__ == "__main__":
    with bench_run():
        main()

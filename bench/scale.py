"""Scale benchmark: approximate vector search, BM25 and build throughput at newsroom sizes.

    .venv/bin/python bench/scale.py search --sizes 100000 1000000   # recall@10, p50/p95, bytes
    .venv/bin/python bench/scale.py bm25 --size 1000000              # BM25 latency at 1M passages
    .venv/bin/python bench/scale.py build                            # local vs Ray, MiniLM
    .venv/bin/python bench/scale.py memory                           # peak RSS of streaming builds

Results are printed as Markdown rows and appended to ``--out`` (JSON lines). See docs/scale.md.
Floors, same run: exact (flat) search for ``search``; a plain sentence-transformers encode of a
sample of the build's sentences for ``build`` (``floor_sentences_per_s``).

Synthetic vectors (search): drawn to resemble real all-MiniLM-L6-v2 passage embeddings. The
mean vector and covariance are estimated from the real MiniLM vectors of the indexes on this
machine (the bundled corpus and the SQuAD evaluation index: ~1,200 passage and sentence vectors),
shrunk 10% towards isotropic. Vectors are a three-level mixture in that shape - topic (one per
2,000 passages) + article (one per 8 passages, contiguous like a real index) + passage - with
weights chosen so that cosines match what real news embeddings show: ~0.10 between unrelated
passages, ~0.30 within a topic, ~0.47 within an article (measured on the real vectors: 0.475).
Queries are passages plus noise in the same shape so that cos(query, its source passage) ~ 0.6,
as measured between the benchmark questions and their best passage (0.59). Exact top-10 by brute
force over float16 vectors (as stored) is the ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DIM = 384


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# synthetic MiniLM-like vectors


def real_minilm_vectors() -> np.ndarray:
    from qa.index.store import load_index

    out = []
    for d in [ROOT / "index", *sorted((ROOT / "data" / "eval-index").glob("*minilm*"))]:
        try:
            ix = load_index(d, check_model=False)
        except Exception:
            continue
        if ix.manifest["model"]["name"] == "all-MiniLM-L6-v2":
            out += [np.asarray(ix.passage_vectors, np.float32)]
            out += [np.asarray(ix.sentence_vectors, np.float32)]
    if not out:
        raise SystemExit("no MiniLM index here to calibrate on: run `qa index` first")
    return np.vstack(out)


class Generator:
    # weights (fractions of the real spread) giving the cosines in the module docstring
    W_TOPIC, W_ARTICLE, W_PASSAGE = 0.172, 0.146, 0.455
    QUERY_NOISE = 1.78  # cos(query, source) = 1 / sqrt(1 + 1.78) = 0.6

    def __init__(self, real: np.ndarray, seed: int = 0) -> None:
        self.mu = real.mean(0)
        cov = np.cov((real - self.mu).T)
        cov = 0.9 * cov + 0.1 * np.trace(cov) / DIM * np.eye(DIM)
        self.v = float(np.trace(cov))
        vals, vecs = np.linalg.eigh(cov)
        self.a = (vecs * np.sqrt(np.clip(vals, 0, None))).astype(np.float32)  # a @ a.T = cov
        self.seed = seed
        self.n_real = len(real)

    def shaped(self, rng: np.random.Generator, n: int, frac: float) -> np.ndarray:
        """Gaussian rows shaped like the real spread, with ``frac`` times its total variance."""
        z = rng.standard_normal((n, DIM), dtype=np.float32)
        return (z @ self.a.T) * np.float32(np.sqrt(frac))

    def passages(self, n: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        n_topics = max(20, n // 2000)
        n_articles = max(1, n // 8)
        topics = self.shaped(rng, n_topics, self.W_TOPIC)
        art_topic = rng.integers(n_topics, size=n_articles)
        out = np.empty((n, DIM), dtype=np.float32)
        owner = np.sort(rng.integers(n_articles, size=n))
        for lo in range(0, n_articles, 50_000):
            hi = min(n_articles, lo + 50_000)
            arts = topics[art_topic[lo:hi]] + self.shaped(rng, hi - lo, self.W_ARTICLE)
            a, b = np.searchsorted(owner, [lo, hi])
            x = self.mu + arts[owner[a:b] - lo] + self.shaped(rng, b - a, self.W_PASSAGE)
            out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def queries(self, base: np.ndarray, n: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed + 1)
        src = base[rng.choice(len(base), size=n, replace=False)].astype(np.float32)
        q = src + self.shaped(rng, n, self.QUERY_NOISE / self.v)
        return np.asarray(q / np.linalg.norm(q, axis=1, keepdims=True), dtype=np.float32)


def describe_cosines(x: np.ndarray) -> dict[str, float]:
    rng = np.random.default_rng(5)
    i = rng.integers(len(x), size=2000)
    j = rng.integers(len(x), size=2000)
    rand = float(np.mean(np.sum(x[i] * x[j], axis=1)))
    nxt = float(np.mean(np.sum(x[i[i < len(x) - 1]] * x[i[i < len(x) - 1] + 1], axis=1)))
    return {"random_pair": round(rand, 3), "next_passage": round(nxt, 3)}


# ---------------------------------------------------------------------------------------------
# search


def exact_topk(base16: np.ndarray, q: np.ndarray, k: int = 10) -> np.ndarray:
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), k), dtype=np.int64)
    for lo in range(0, len(base16), 200_000):
        s = q @ np.asarray(base16[lo : lo + 200_000], dtype=np.float32).T
        idx = np.argpartition(-s, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, idx, 1)], axis=1)
        cand_i = np.concatenate([best_i, idx + lo], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_i


def time_queries(index: Any, q: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    ids = np.zeros((len(q), k), dtype=np.int64)
    ms = []
    for i in range(len(q)):
        t = time.perf_counter()
        _, got = index.search(q[i : i + 1], k)
        ms.append((time.perf_counter() - t) * 1000)
        ids[i] = got[0]
    return ids, ms


def recall(truth: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(truth, got, strict=True)]))


def pct(ms: list[float], p: float) -> float:
    return float(np.percentile(ms, p))


def bench_search(args: argparse.Namespace) -> list[dict[str, Any]]:
    import faiss

    from qa.index.ann import DenseIndex, build_vector_index

    faiss.omp_set_num_threads(args.threads)
    gen = Generator(real_minilm_vectors())
    rows = []
    for n in args.sizes:
        t = time.perf_counter()
        base = gen.passages(n)
        q = gen.queries(base, args.queries)
        log(f"n={n}: generated in {time.perf_counter() - t:.0f}s; cosines {describe_cosines(base)}")
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            path = Path(tmp) / "passage_vectors.npy"
            np.save(path, base.astype(np.float16))
            del base
            vecs = np.load(path, mmap_mode="r")  # as a large index loads them
            t = time.perf_counter()
            truth = exact_topk(vecs, q)
            log(f"  ground truth in {time.perf_counter() - t:.0f}s")
            configs: list[tuple[str, dict[str, Any], list[dict[str, int]]]] = []
            if "flat" in args.kinds:
                configs.append(("flat", {}, [{}]))
            if "hnsw" in args.kinds and n <= args.hnsw_max:
                configs.append(
                    (
                        "hnsw",
                        {"M": 32, "efConstruction": 80},
                        [{"efSearch": 32}, {"efSearch": 64}, {"efSearch": 128}, {"efSearch": 256}],
                    )
                )
            if "ivfpq" in args.kinds:
                for m in args.pq_m:
                    configs.append(
                        (
                            "ivfpq",
                            {"m": m, "fastscan": args.fastscan},
                            [{}]  # the defaults: nprobe = nlist / 16, refine = 20
                            + [
                                {"nprobe": p, "refine": r}
                                for p, r in (
                                    (16, 1),
                                    (32, 4),
                                    (64, 10),
                                    (128, 10),
                                    (128, 20),
                                    (256, 20),
                                )
                            ],
                        )
                    )
            for kind, params, knob_list in configs:
                faiss.omp_set_num_threads(os.cpu_count() or 1)  # building may use both cores
                t = time.perf_counter()
                index, info = build_vector_index(vecs, kind, params)
                build_s = time.perf_counter() - t
                faiss.omp_set_num_threads(args.threads)
                nbytes = len(faiss.serialize_index(index))
                log(f"  {kind} built in {build_s:.0f}s, {nbytes / n:.0f} B/passage, {info}")
                for knobs in knob_list:
                    dense = DenseIndex(index, kind, vecs, knobs)
                    qs = q[: args.flat_queries] if kind == "flat" else q
                    time_queries(dense, q[:20])  # warm-up (page cache, allocations)
                    got, ms = time_queries(dense, qs)
                    row = {
                        "bench": "search",
                        "n": n,
                        "kind": kind,
                        "knobs": knobs,
                        "params": info["params"],
                        "recall@10": round(recall(truth[: len(qs)], got), 4),
                        "p50_ms": round(pct(ms, 50), 3),
                        "p95_ms": round(pct(ms, 95), 3),
                        "index_bytes_per_passage": round(nbytes / n, 1),
                        "build_s": round(build_s, 1),
                        "queries": len(qs),
                        "threads": args.threads,
                    }
                    rows.append(row)
                    log("  ", row)
                del index
    return rows


# ---------------------------------------------------------------------------------------------
# BM25


def bench_bm25(args: argparse.Namespace) -> list[dict[str, Any]]:
    import bm25s

    from qa.index.shards import write_bm25

    n, vocab_n = args.size, 200_000
    rng = np.random.default_rng(0)
    # Zipf-distributed stemmed terms, passage lengths like real ones (~60 terms after stop words)
    ranks = np.arange(1, vocab_n + 1)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp_dir = Path(tmp)
        parts = 0
        t = time.perf_counter()
        for lo in range(0, n, 100_000):
            m = min(100_000, n - lo)
            lens = np.clip(rng.normal(60, 18, size=m).astype(np.int64), 5, 150)
            ids = rng.choice(vocab_n, size=int(lens.sum()), p=p).astype(np.int32)
            np.save(tmp_dir / f"{parts}.ids.npy", ids)
            np.save(tmp_dir / f"{parts}.lens.npy", lens)
            parts += 1
        table, offsets = [], [np.zeros(1, np.int64)]
        for part in range(parts):  # each passage's (term, count) rows, as a build keeps them
            lens = np.load(tmp_dir / f"{part}.lens.npy")
            doc = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
            pairs, tf = np.unique(
                doc * vocab_n + np.load(tmp_dir / f"{part}.ids.npy"), return_counts=True
            )
            table.append(np.stack([pairs % vocab_n, tf], axis=1).astype(np.int32))
            per_doc = np.bincount(pairs // vocab_n, minlength=len(lens))
            offsets.append(offsets[-1][-1] + np.cumsum(per_doc))
        write_bm25(
            tmp_dir / "bm25",
            np.concatenate(table),
            np.concatenate(offsets),
            [f"t{i}" for i in range(vocab_n)],
        )
        build_s = time.perf_counter() - t
        retriever = bm25s.BM25.load(str(tmp_dir / "bm25"), mmap=False)
        nbytes = sum(f.stat().st_size for f in (tmp_dir / "bm25").glob("*.npy"))
        log(f"bm25 n={n} built in {build_s:.0f}s, {nbytes / n:.0f} B/passage")
        ms = []
        for i in range(args.queries + 10):
            # a question's content words: mostly mid-frequency terms
            terms = [f"t{int(t)}" for t in rng.integers(50, 20_000, size=rng.integers(3, 7))]
            t0 = time.perf_counter()
            scores = retriever.get_scores(terms)
            top = np.argpartition(-scores, 40)[:40]
            _ = scores[top].max()
            if i >= 10:
                ms.append((time.perf_counter() - t0) * 1000)
    row = {
        "bench": "bm25",
        "n": n,
        "p50_ms": round(pct(ms, 50), 2),
        "p95_ms": round(pct(ms, 95), 2),
        "bytes_per_passage": round(nbytes / n, 1),
        "build_s": round(build_s, 1),
    }
    log(row)
    return [row]


# ---------------------------------------------------------------------------------------------
# build throughput: local vs Ray on the same texts (MiniLM)


def bench_build(args: argparse.Namespace) -> list[dict[str, Any]]:
    from qa.index.build import build_index
    from qa.index.store import load_index

    rows_in = []
    for d in [ROOT / "index", *sorted((ROOT / "data" / "eval-index").glob("*"))]:
        try:
            ix = load_index(d, check_model=False)
        except Exception:
            continue
        rows_in += [{**a.meta(), "text": a.text} for a in ix.articles]
    out = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        with (src / "articles.jsonl").open("w", encoding="utf-8") as fh:
            for copy in range(args.copies):
                for r in rows_in:
                    fh.write(json.dumps({**r, "id": f"{r['id']}-{copy}"}) + "\n")
        for label, ray_address in (("local", None), ("ray (local instance)", "local")):
            t = time.perf_counter()
            rep = build_index(
                None,
                Path(tmp) / label.split()[0],
                inputs=[src],
                model="minilm",
                progress=False,
                ray_address=ray_address,
                rebuild=True,
            )
            s = time.perf_counter() - t
            texts = rep.passages + rep.sentences
            floor = floor_sentences_per_s(Path(tmp) / label.split()[0])
            row = {
                "bench": "build",
                "path": label,
                "articles": rep.articles,
                "passages": rep.passages,
                "sentences": rep.sentences,
                "seconds": round(s, 1),
                "texts_per_s": round(texts / s, 1),
                "passages_per_s": round(rep.passages / s, 1),
                "sentences_per_s": round(rep.sentences / s, 1),
                "floor_sentences_per_s": round(floor, 1),
            }
            log(row)
            out.append(row)
    return out


def floor_sentences_per_s(index_dir: Path, sample: int = 2000) -> float:
    """Sentences per second of a plain sentence-transformers encode of (a sample of) the
    index's sentences: the build's floor."""
    from _common import plain_encode_seconds

    from qa.index.store import load_index

    sents = load_index(index_dir, check_model=False).sentences
    step = max(1, len(sents) // sample)
    texts = [sents[i].text for i in range(0, len(sents), step)]
    return len(texts) / plain_encode_seconds(texts)


# ---------------------------------------------------------------------------------------------
# peak memory of streaming builds at two corpus sizes


def bench_memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    from qa.index.store import load_index
    from tests.helpers import write_jsonl

    out = []
    for n in args.articles:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            write_jsonl(src / "news.jsonl", n)
            cmd = [
                sys.executable,
                "-m",
                "qa.surfaces.cli",
                "index",
                str(src),
                "--index-dir",
                str(Path(tmp) / "ix"),
                "--model",
                "hash",
                "-q",
                "--shard-size",
                "1000",
                "--faiss",
                "flat",
            ]
            t = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
            peak = {"RssAnon": 0, "VmHWM": 0}
            while proc.poll() is None:
                try:
                    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                        key = line.split(":")[0]
                        if key in peak:
                            peak[key] = max(peak[key], int(line.split()[1]))
                except OSError:
                    pass
                time.sleep(0.02)
            if proc.returncode:
                raise SystemExit(f"qa index failed ({proc.returncode})")
            s = time.perf_counter() - t
            size = sum(f.stat().st_size for f in (Path(tmp) / "ix").rglob("*") if f.is_file())
            row = {
                "bench": "memory",
                "articles": n,
                "passages": load_index(Path(tmp) / "ix").manifest["counts"]["passages"],
                "peak_anon_mb": round(peak["RssAnon"] / 1024),
                "peak_rss_mb": round(peak["VmHWM"] / 1024),
                "index_mb": round(size / 2**20),
                "seconds": round(s, 1),
            }
            log(row)
            out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["search", "bm25", "build", "memory"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--kinds", default="flat,hnsw,ivfpq")
    ap.add_argument("--hnsw-max", type=int, default=1_000_000, help="largest n to build HNSW for")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--flat-queries", type=int, default=100, help="queries timed on exact search")
    ap.add_argument("--pq-m", type=int, nargs="+", default=[48], help="PQ sub-quantisers")
    ap.add_argument("--fastscan", action="store_true", help="IVF-PQ with 4-bit fast-scan codes")
    ap.add_argument("--threads", type=int, default=1, help="FAISS threads while searching")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--copies", type=int, default=2, help="copies of the real articles (build)")
    ap.add_argument("--articles", type=int, nargs="+", default=[2000, 10000, 30000])
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "scale-results.jsonl"))
    args = ap.parse_args()
    args.kinds = args.kinds.split(",")
    fn = {"search": bench_search, "bm25": bench_bm25, "build": bench_build, "memory": bench_memory}[
        args.what
    ]
    from _common import bench_run

    with bench_run():
        rows = fn(args)
    with open(args.out, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({**r, "date": time.strftime("%Y-%m-%d")}) + "\n")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()

"""Distributed embedding on Ray (``pip install 'qa[ray]'``; ``qa index --ray [ADDRESS]``).

Ray Data reads the articles (JSONL line by line with ``read_text``, other files one task each),
chunks them with the same code as the local build (tasks), and embeds the chunks with an actor
pool of embedding models (``map_batches`` with ``concurrency``); the driver receives the
embedded articles in order and writes the same shards as the local build, so the same merge
step (``_write_build`` in :mod:`qa.index.build`) turns them into the index.

Only the data flows back to the driver; the cluster needs no shared file system, but every node
needs the same ``qa`` and model package installed (see docs/scale.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import QAError
from qa.index.shards import (
    ArticleStream,
    Prepared,
    PreviousBuild,
    Progress,
    embed_prepared,
    iter_articles,
    prepare,
    write_shard,
)
from qa.ingest.chunking import ChunkParams
from qa.ingest.corpus import article_fingerprint, iter_files, parse_jsonl_line
from qa.types import Article

EMBED_BATCH = 256  # articles per actor call


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise QAError("--ray needs Ray: install the extra with `pip install 'qa[ray]'`") from err
    return ray


def connect(address: str, num_cpus: int | None = None) -> bool:
    """Connect to Ray: "local" starts one here, "auto" joins this machine's cluster or starts a
    local one, anything else (``ray://host:10001``, ``host:6379``) is a cluster address.
    Returns True when this call started a local instance (the caller shuts it down)."""
    import logging

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
    ray = _import_ray()
    logging.getLogger("ray").setLevel(logging.WARNING)
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address == "local":
        ray.init(num_cpus=num_cpus or os.cpu_count(), **quiet)
        return True
    if address == "auto":
        try:
            ray.init(address="auto", log_to_driver=False, configure_logging=False)
            return False
        except (ConnectionError, RuntimeError):
            ray.init(num_cpus=num_cpus or os.cpu_count(), **quiet)
            return True
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as err:
        raise QAError(f"cannot connect to the Ray cluster at {address}: {err}") from err
    return False


def _article_row(article: Article, fingerprint: str) -> str:
    row = {**article.meta(), "path": article.path, "fingerprint": fingerprint, "text": article.text}
    return json.dumps(row, ensure_ascii=False)


def _row_article(line: str) -> tuple[Article, str]:
    row = json.loads(line)
    fp = row.pop("fingerprint")
    return Article(**row), str(fp)


def _articles_in(batch: dict[str, Any]) -> Iterator[Article]:
    """The articles of a batch whose rows are, each, an article given in memory ("article"), a
    JSONL line ("text", with its file in "path"), or a file to load ("path" alone). Batches can
    mix rows from several sources (a union), so each row is looked at on its own."""
    n = len(next(iter(batch.values()))) if batch else 0
    col = {k: batch.get(k, [None] * n) for k in ("article", "text", "path")}
    for row, text, path in zip(col["article"], col["text"], col["path"], strict=True):
        if isinstance(row, str) and row:
            yield _row_article(row)[0]
        elif isinstance(text, str):
            item = parse_jsonl_line(text, str(path or ""))
            if isinstance(item, Article):
                yield item
        elif isinstance(path, str) and path:
            for _, art in iter_articles([path]):
                if isinstance(art, Article):
                    yield art


def chunk_batch(
    batch: dict[str, Any], *, chunk: ChunkParams, prints: dict[str, str], skip: set[str]
) -> dict[str, Any]:
    """Ray task: articles → chunked rows (the stored article row, sentence and passage spans)."""
    from qa.ingest.tokenizer import count_tokens

    rows, sents, passes = [], [], []
    for article in _articles_in(batch):
        fp = article_fingerprint(article)
        if article.id in skip or prints.get(article.id) != fp:
            continue  # invalid, duplicate, already in a finished shard, or reused locally
        p = prepare(article, fp, chunk, count_tokens)
        rows.append(_article_row(article, fp))
        sents.append(p.sents.tobytes())
        passes.append(p.passes.tobytes())
    return {
        "row": np.array(rows, dtype=object),
        "sents": np.array(sents, dtype=object),
        "passes": np.array(passes, dtype=object),
    }


def _prepared(batch: dict[str, Any], i: int) -> Prepared:
    article, fp = _row_article(str(batch["row"][i]))
    sents = np.frombuffer(batch["sents"][i], dtype=np.int64).reshape(-1, 2)
    passes = np.frombuffer(batch["passes"][i], dtype=np.int64).reshape(-1, 3)
    return Prepared(article, fp, sents, passes)


class Embed:
    """Ray actor: one embedding model, loaded once, embedding batches of chunked articles."""

    def __init__(self, model: str, threads: int = 1) -> None:
        from qa.embed.embedder import make_embedder

        self.embedder = make_embedder(model)
        if threads and hasattr(self.embedder, "threads"):
            self.embedder.threads = threads  # ONNX Runtime (or torch) threads per actor

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [_prepared(batch, i) for i in range(len(batch["row"]))]
        embed_prepared(items, self.embedder)
        batch["sv"] = np.array([p.sv.tobytes() for p in items if p.sv is not None], dtype=object)
        batch["pv"] = np.array([p.pv.tobytes() for p in items if p.pv is not None], dtype=object)
        return batch


def _dataset(ray: Any, stream: ArticleStream, inputs: Sequence[str | Path] | None) -> Any:
    """Ray Data source: files and JSONL lines when building from paths, else the articles."""
    if inputs is None:
        items = [{"article": _article_row(a, "")} for _, a in stream() if isinstance(a, Article)]
        return ray.data.from_items(items)
    files = [p for p, problem in iter_files(inputs) if problem is None]
    jsonl = [str(p) for p in files if p.suffix.lower() == ".jsonl"]
    other = [{"path": str(p)} for p in files if p.suffix.lower() != ".jsonl"]
    parts = []
    if other:
        parts.append(ray.data.from_items(other))
    if jsonl:
        parts.append(ray.data.read_text(jsonl, include_paths=True))
    if not parts:
        raise QAError("no article files to index")
    return parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])


def ray_shards(
    stream: ArticleStream,
    work: Path,
    *,
    done: set[str],
    prints: dict[str, str],
    previous: PreviousBuild | None,
    embedder: Any,
    model: str,
    chunk: ChunkParams,
    shard_size: int,
    first_number: int,
    address: str,
    options: dict[str, Any],
    progress: bool,
    inputs: Sequence[str | Path] | None = None,
) -> list[Path]:
    """Write the shards of every article not in ``done``: unchanged articles reuse the previous
    build's vectors here on the driver; the rest are read, chunked and embedded on Ray."""
    ray = _import_ray()
    dim = int(embedder.dimension)
    out: list[Path] = []
    bar = Progress(len(prints), len(done), progress, desc="indexing (ray)")
    skip = set(done)
    try:
        # unchanged articles: vectors from the previous build, no embedding
        if previous is not None:
            batch: list[Prepared] = []
            for _, item in stream():
                if isinstance(item, str) or item.id in skip:
                    continue
                p = previous.take(item, prints[item.id])
                if p is None:
                    continue
                skip.add(item.id)
                batch.append(p)
                if len(batch) >= shard_size:
                    out.append(write_shard(work, first_number + len(out), batch, dim))
                    bar.update(len(batch), 0)
                    batch = []
            if batch:
                out.append(write_shard(work, first_number + len(out), batch, dim))
                bar.update(len(batch), 0)
        if len(skip) >= len(prints):
            return out
        started = connect(address, options.get("num_cpus"))
        try:
            import logging

            logging.getLogger("ray.data").setLevel(logging.WARNING)
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            cpus = int(ray.cluster_resources().get("CPU", 1))
            # one CPU stays free for the read and chunk tasks (an actor pool that holds every
            # CPU starves them); each actor's torch uses its share of the cores
            actors = int(options.get("actors") or max(1, cpus - 1))
            threads = int(options.get("threads") or max(1, cpus // actors))
            ds = _dataset(ray, stream, inputs)
            ds = ds.map_batches(
                chunk_batch,
                fn_kwargs={"chunk": chunk, "prints": prints, "skip": skip},
                batch_size=int(options.get("read_batch", 64)),
                batch_format="numpy",
            )
            ds = ds.map_batches(
                Embed,
                fn_constructor_kwargs={"model": model, "threads": threads},
                concurrency=actors,
                num_cpus=1,
                batch_size=int(options.get("embed_batch", EMBED_BATCH)),
                batch_format="numpy",
            )
            seen: set[str] = set(skip)
            pending: list[Prepared] = []
            for rows in ds.iter_batches(batch_size=shard_size, batch_format="numpy"):
                for i in range(len(rows["row"])):
                    p = _prepared(rows, i)
                    if p.article.id in seen:
                        continue
                    seen.add(p.article.id)
                    p.sv = np.frombuffer(rows["sv"][i], dtype=np.float16).reshape(-1, dim)
                    p.pv = np.frombuffer(rows["pv"][i], dtype=np.float16).reshape(-1, dim)
                    pending.append(p)
                while len(pending) >= shard_size:
                    part, pending = pending[:shard_size], pending[shard_size:]
                    out.append(write_shard(work, first_number + len(out), part, dim))
                    bar.update(len(part), sum(len(p.passes) for p in part))
            if pending:
                out.append(write_shard(work, first_number + len(out), pending, dim))
                bar.update(len(pending), sum(len(p.passes) for p in pending))
            missing = [a for a in prints if a not in seen]
            if missing:
                raise QAError(
                    f"the Ray build lost {len(missing)} article(s) (e.g. {missing[:3]}); "
                    "rerun with --resume to retry them"
                )
        finally:
            if started:
                ray.shutdown()
    finally:
        bar.close()
    return out

"""Building an index: one writer per folder (``build_lock``), the articles streamed into shards
(``.work/``, see :mod:`qa.index.shards`; on Ray, :mod:`qa.index.distributed`), the vectors of
unchanged articles reused from the previous build, the shards merged into ``.tmp-*`` with the
vector index, BM25 and a manifest, renamed into place, and ``CURRENT`` swapped with
``os.replace``: readers see the old index or the new one, never a torn one. Debris of killed
builds is removed by the next one.

May import: the other ``qa.index`` modules but the updater (which imports this one),
``qa.ingest``, ``qa.embed``, ``qa.hashing``, ``qa.errors``, ``qa.types``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.embedder import Embedder, make_embedder
from qa.errors import BuildBusyError, CorpusError, IndexLoadError, QAError
from qa.hashing import file_sha256
from qa.index.ann import build_vector_index, faiss_kind
from qa.index.format import (
    FORMAT,
    FORMAT_VERSION,
    REUSED_FILES,
    current_build,
    fsync_dir,
    read_current,
    read_manifest,
    rewrite_manifest,
    swap_current,
    write_json,
)
from qa.index.shards import (
    SHARD_SIZE,
    WORK,
    ArticleStream,
    Prepared,
    PreviousBuild,
    Progress,
    drop_work,
    embed_prepared,
    iter_articles,
    list_stream,
    merge_tables,
    open_work,
    prepare,
    scan,
    shard_meta,
    work_key,
    write_passage_terms_and_bm25,
    write_shard,
)
from qa.index.stale import source_files
from qa.index.verify import check_files, is_complete
from qa.ingest.chunking import ChunkParams
from qa.types import Article


@dataclass
class BuildReport:
    path: Path
    articles: int
    passages: int
    sentences: int
    embedded_articles: int  # new or changed since the previous build
    reused_articles: int
    removed_articles: list[str]
    seconds: float
    unchanged: bool = False
    retrained: str = ""  # why the approximate index was retrained, if it was
    problems: list[tuple[str, str]] = field(default_factory=list)  # skipped (where, why)


def _faiss_kind(kind: str, n: int) -> str:
    return faiss_kind(kind, n)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder (a second one fails at once with a clear message).
    A folder this build created is removed again when the build fails before writing anything
    (a bad input leaves nothing behind); finished shards of an interrupted first build stay, for
    ``--resume``."""
    created = not index_dir.exists()
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = (index_dir / ".lock").open("a+")
    locked = False
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BuildBusyError(
                f"another `qa index` is already building {index_dir}; wait for it"
            ) from err
        locked = True
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    except BaseException:
        if created and locked and {p.name for p in index_dir.iterdir()} <= {".lock", ".work"}:
            work = index_dir / ".work"
            if not work.exists() or not any(work.iterdir()):
                shutil.rmtree(index_dir, ignore_errors=True)
        raise
    finally:
        fh.close()


def clean_debris(index_dir: Path) -> list[str]:
    """Remove temp folders left by killed builds and builds no longer current (all but the
    most recently replaced one)."""
    removed: list[str] = []
    if not index_dir.is_dir():
        return removed
    try:
        current, known = read_current(index_dir), True
    except IndexLoadError:
        current, known = None, False  # unreadable CURRENT: keep every build
    # the newest replaced build stays one round, so a server that read CURRENT just before a
    # swap can still finish loading it; older ones go
    olds = sorted(
        (c for c in index_dir.iterdir() if c.name.startswith("build-") and c.name != current),
        key=lambda c: c.stat().st_mtime_ns,
    )
    keep = {olds[-1].name} if olds else set()
    for child in index_dir.iterdir():
        stale_tmp = child.name.startswith(".tmp-")
        old_build = known and child.name.startswith("build-") and child.name not in (current, *keep)
        if child.is_dir() and (stale_tmp or old_build):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
        elif child.name.startswith(".CURRENT.") and child.is_file():
            child.unlink(missing_ok=True)
            removed.append(child.name)
    if current and (index_dir / current).is_dir():  # a killed manifest refresh
        for tmp in (index_dir / current).glob(".manifest.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(f"{current}/{tmp.name}")
    return removed


def build_index(
    articles: Sequence[Article] | None,
    index_dir: str | Path,
    *,
    inputs: Sequence[str | Path] = (),
    embedder: Embedder | None = None,
    model: str = "minilm",
    chunk: ChunkParams | None = None,
    faiss_kind: str = "auto",
    faiss_params: dict[str, Any] | None = None,
    rebuild: bool = False,
    progress: bool = True,
    count_tokens: Callable[[str], int] | None = None,
    resume: bool = False,
    shard_size: int = SHARD_SIZE,
    skip_invalid: bool = False,
    ray_address: str | None = None,
    ray_options: dict[str, Any] | None = None,
) -> BuildReport:
    """Build (or update) the index in ``index_dir`` from ``articles``, or, when ``articles`` is
    None, by streaming the article files under ``inputs``.

    Articles are chunked and embedded ``shard_size`` at a time and written as shards under
    ``<index_dir>/.work``; a merge turns the shards into a build folder that replaces the current
    build atomically. Unless ``rebuild`` is set, vectors of articles whose fingerprint did not
    change are taken from the current build (memory-mapped), so only new or changed articles
    are embedded; deleted articles drop out. ``resume`` reuses the finished shards of an
    interrupted build. ``ray_address`` ("auto", "local" or ``ray://host:port``) embeds on a Ray
    cluster instead (see :mod:`qa.index.distributed`); the merge is the same.
    """
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    chunk = chunk or ChunkParams()
    if count_tokens is None:
        from qa.ingest.tokenizer import count_tokens as _count

        count_tokens = _count
    if articles is not None and not articles:
        raise QAError("no articles to index")
    stream = list_stream(articles) if articles is not None else (lambda: iter_articles(inputs))
    if shard_size < 1:
        raise QAError("shard size must be at least 1 article")

    with build_lock(index_dir):
        clean_debris(index_dir)
        found = scan(stream)
        if found.problems and not skip_invalid:
            raise CorpusError(found.problems)
        prints = found.prints
        if not prints:
            raise QAError("no valid articles to index")
        prev_build: Path | None = None
        prev_manifest: dict[str, Any] | None = None
        if not rebuild:
            with contextlib.suppress(IndexLoadError):  # a broken current build is not reused
                build = current_build(index_dir)
                manifest = read_manifest(build)
                check_files(build, manifest, verify_hashes=False, required=REUSED_FILES)
                prev_build, prev_manifest = build, manifest
        embedder = embedder or make_embedder(model)
        identity = embedder.identity()
        chunking = _chunk_manifest(chunk)
        reusable = (
            prev_manifest is not None
            and prev_manifest["model"].get("name") == identity["name"]
            and prev_manifest["model"].get("weights_sha256") == identity.get("weights_sha256")
            and prev_manifest["model"].get("precision") == identity.get("precision")
            and prev_manifest["chunking"] == chunking
        )
        sources = {
            "inputs": [str(Path(p).resolve()) for p in inputs],
            "files": source_files(inputs),
        }
        params = dict(faiss_params or {})
        if reusable and prev_build is not None and prev_manifest is not None:
            old = prev_manifest["faiss"]
            n_prev = int(prev_manifest["counts"]["passages"])
            structural = {k: v for k, v in params.items() if k not in _KNOB_NAMES}
            same = (
                is_complete(prev_build, prev_manifest)
                and prints == prev_manifest["articles"]
                and _faiss_kind(faiss_kind, n_prev) == old["kind"]
                and all(old.get("params", {}).get(k) == v for k, v in structural.items())
            )
            if same:
                # refresh the staleness record (files touched but unchanged) and search knobs
                prev_manifest["sources"] = sources
                prev_manifest["indexed_at"] = indexed_at(prints, prev_manifest)
                knob = {k: v for k, v in params.items() if k in _KNOB_NAMES}
                if knob:
                    old["params"] = {**old.get("params", {}), **knob}
                rewrite_manifest(prev_build, prev_manifest)
                counts = prev_manifest["counts"]
                return BuildReport(
                    prev_build,
                    len(prints),
                    int(counts["passages"]),
                    int(counts["sentences"]),
                    0,
                    len(prints),
                    [],
                    time.perf_counter() - t0,
                    unchanged=True,
                    problems=found.problems,
                )
        previous = (
            PreviousBuild(prev_build, prev_manifest)
            if reusable and prev_build is not None and prev_manifest is not None
            else None
        )
        dim = int(identity["dimension"])

        # --- chunk and embed into shards (resuming from finished ones)
        shards = open_work(index_dir, work_key(identity, chunking), prints, resume)
        done: set[str] = set()
        for shard in shards:
            done.update(shard_meta(shard)["articles"])
        if ray_address is not None:
            from qa.index.distributed import ray_shards

            shards += ray_shards(
                stream,
                index_dir / WORK,
                done=done,
                prints=prints,
                previous=previous,
                embedder=embedder,
                model=str(identity["name"]),
                inputs=None if articles is not None else inputs,
                chunk=chunk,
                shard_size=shard_size,
                first_number=len(shards),
                address=ray_address,
                options=ray_options or {},
                progress=progress,
            )
        else:
            shards += _local_shards(
                stream,
                index_dir / WORK,
                done=done,
                prints=prints,
                previous=previous,
                embedder=embedder,
                chunk=chunk,
                count_tokens=count_tokens,
                shard_size=shard_size,
                first_number=len(shards),
                progress=progress,
            )
        embedded = reused = 0
        for shard in shards:
            meta = shard_meta(shard)
            embedded += int(meta["embedded"])
            reused += int(meta["reused"])

        # --- merge into a temp folder, swap
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        tmp = index_dir / f".tmp-{stamp}"
        final = index_dir / f"build-{stamp}"
        tmp.mkdir(parents=True)
        try:
            counts = _write_build(
                tmp,
                shards,
                dim,
                faiss_kind,
                params,
                previous=previous if previous is not None else None,
                manifest_extra={
                    "model": identity,
                    "tokenizer": {"name": "cl100k_base", "sha256": _tokenizer_hash()},
                    "chunking": chunking,
                    "sources": sources,
                    "indexed_at": indexed_at(prints, prev_manifest),
                },
                progress=progress,
            )
            os.rename(tmp, final)
            swap_current(index_dir, final.name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        drop_work(index_dir)
        clean_debris(index_dir)
        removed = sorted(set(prev_manifest["articles"]) - set(prints)) if prev_manifest else []
        return BuildReport(
            final,
            len(prints),
            counts["passages"],
            counts["sentences"],
            embedded,
            reused,
            removed,
            time.perf_counter() - t0,
            retrained=counts.get("retrained", ""),
            problems=found.problems,
        )


_KNOB_NAMES = ("efSearch", "nprobe", "refine")


def indexed_at(prints: dict[str, str], previous: dict[str, Any] | None) -> dict[str, str]:
    """When each article's current version (fingerprint) was first indexed: carried over from the
    previous build's manifest for unchanged articles (its build time for builds from before this
    record), now for new or changed ones."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    old_prints = previous["articles"] if previous else {}
    old_times = (previous or {}).get("indexed_at") or {}
    fallback = str((previous or {}).get("created") or now)
    return {
        aid: str(old_times.get(aid, fallback)) if old_prints.get(aid) == fp else now
        for aid, fp in prints.items()
    }


def _local_shards(
    stream: ArticleStream,
    work: Path,
    *,
    done: set[str],
    prints: dict[str, str],
    previous: PreviousBuild | None,
    embedder: Embedder,
    chunk: ChunkParams,
    count_tokens: Callable[[str], int],
    shard_size: int,
    first_number: int,
    progress: bool,
) -> list[Path]:
    """Read, chunk and embed the articles not in ``done``, ``shard_size`` at a time."""
    dim = int(embedder.dimension)
    bar = Progress(len(prints), len(done), progress)
    out: list[Path] = []
    batch: list[Prepared] = []
    seen: set[str] = set(done)

    def flush() -> None:
        embed_prepared(batch, embedder)
        out.append(write_shard(work, first_number + len(out), batch, dim))
        bar.update(len(batch), sum(len(p.passes) for p in batch if not p.reused))
        batch.clear()

    try:
        for _, item in stream():
            if isinstance(item, str) or item.id in seen:
                continue
            seen.add(item.id)
            fp = prints[item.id]
            prepared = previous.take(item, fp) if previous is not None else None
            batch.append(prepared or prepare(item, fp, chunk, count_tokens))
            if len(batch) >= shard_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
    return out


def _tokenizer_hash() -> str:
    from qa.ingest.tokenizer import SHA256

    return SHA256


def _chunk_manifest(chunk: ChunkParams) -> dict[str, Any]:
    return {
        "max_tokens": chunk.max_tokens,
        "overlap_sentences": chunk.overlap_sentences,
        "tokenizer": "cl100k_base",
        "sentence_splitter": "qa.text/1",
    }


def _write_build(
    folder: Path,
    shards: Sequence[Path],
    dim: int,
    faiss_kind: str,
    params: dict[str, Any],
    *,
    previous: PreviousBuild | None,
    manifest_extra: dict[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """Merge finished shards into a complete build in ``folder`` (tables, vectors, FAISS, BM25,
    term frequencies, manifest). Memory is bounded by a shard, apart from the vector index and
    the BM25 matrix themselves."""
    import faiss

    n_a, n_s, n_p = merge_tables(folder, shards, dim)
    pv = np.load(folder / "passage_vectors.npy", mmap_mode="r")
    kind = _faiss_kind(faiss_kind, n_p)
    prev_index = prev_info = None
    keep_prefix = 0
    if previous is not None and previous.manifest["faiss"].get("kind") == kind and kind != "flat":
        prev_info = previous.manifest["faiss"]
        keep_prefix = _shared_prefix(previous, folder)
        if kind == "ivfpq" or keep_prefix:
            prev_index = faiss.read_index(str(previous.path / "passages.faiss"))
    faiss_index, faiss_info = build_vector_index(
        pv, kind, params, previous=prev_index, previous_info=prev_info, keep_prefix=keep_prefix
    )
    del pv
    faiss.write_index(faiss_index, str(folder / "passages.faiss"))
    del faiss_index
    write_passage_terms_and_bm25(folder, shards, write_json, previous)
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            files[str(p.relative_to(folder))] = {
                "bytes": p.stat().st_size,
                "sha256": file_sha256(p),
            }
    prints: dict[str, str] = {}
    for shard in shards:
        prints.update(shard_meta(shard)["articles"])
    counts = {"articles": n_a, "passages": n_p, "sentences": n_s}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **manifest_extra,
        "faiss": faiss_info,
        "counts": counts,
        "articles": prints,
        "files": files,
    }
    write_json(folder / "manifest.json", manifest)
    fsync_dir(folder)
    return {**counts, "retrained": faiss_info.get("training", {}).get("retrained", "")}


def _shared_prefix(previous: PreviousBuild, folder: Path) -> int:
    """How many leading passages the new build shares with the previous one (same articles in
    the same order, unchanged): their vector-index entries can be kept as they are."""
    new_order = []
    with (folder / "articles.jsonl").open(encoding="utf-8") as fh:
        for line, _ in zip(fh, range(len(previous.order) + 1), strict=False):
            row = json.loads(line)
            new_order.append((row["id"], row["fingerprint"]))
    k = 0
    for (aid, fp), old in zip(new_order, previous.order, strict=False):
        if aid != old or previous.prints[old] != fp:
            break
        k += 1
    if k == 0:
        return 0
    return int(np.searchsorted(previous.passage_articles, k))

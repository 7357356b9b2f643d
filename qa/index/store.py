"""The on-disk index: passages, sentences, their vectors (FAISS), BM25, and a manifest.

Layout of an index folder::

    index/
      CURRENT              name of the active build (replaced atomically)
      .lock                held while a build runs
      build-<stamp>/       one complete build
        manifest.json      describes everything below (format, model, tokenizer, counts, hashes)
        articles.jsonl     article metadata, fingerprints and stored text
        sentences.npy      int64 rows: article, start, end
        passages.npy       int64 rows: article, first sentence, last sentence + 1, tokens
        passage_vectors.npy / sentence_vectors.npy   float16 embeddings (reused by updates)
        passages.faiss     the FAISS index over passage vectors
        bm25/              bm25s index over passages

A build streams the articles into shards (``.work/``, see :mod:`qa.index.shards`), merges them into
``.tmp-*`` and renames that into place, then ``CURRENT`` is swapped with ``os.replace``: readers
see the old index or the new one, never a torn one.
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
from typing import Any, TypeVar

import numpy as np

from qa.config import Settings
from qa.embed.embedder import Embedder, make_embedder
from qa.errors import BuildBusyError, CorpusError, IndexLoadError, QAError, StaleIndexError
from qa.hashing import file_sha256
from qa.index.ann import APPROX_THRESHOLD as APPROX_THRESHOLD
from qa.index.ann import FAISS_KINDS as FAISS_KINDS
from qa.index.ann import DenseIndex, build_vector_index, faiss_kind, knobs
from qa.index.ann import make_faiss_index as make_faiss_index
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
from qa.ingest.chunking import ChunkParams
from qa.ingest.corpus import iter_files
from qa.types import Article, Passage, Sentence

_T = TypeVar("_T")
FORMAT = "qa-index"
# 2: clause vectors; 3: accent-free BM25 terms (qa.ingest.text.fold); 4: no clause vectors
FORMAT_VERSION = 4
MMAP_PASSAGES = 200_000  # indexes this large keep their float16 vectors memory-mapped
_REBUILD_HINT = "run `qa index --rebuild PATH...` to rebuild it"


def _progress(iterable: Any = None, **kw: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


# ---------------------------------------------------------------------------------------------
# In-memory index


@dataclass
class Index:
    """A loaded index. Read-only once built; safe to share between threads."""

    path: Path
    manifest: dict[str, Any]
    articles: list[Article]
    sentences: Sequence[Sentence]  # a list, or built on access for large indexes
    passages: Sequence[Passage]
    sentence_vectors: np.ndarray  # float32, normalised, one row per sentence
    passage_vectors: np.ndarray  # float32, normalised, one row per passage
    faiss_index: Any
    bm25: Any
    sentence_passage: np.ndarray  # sentence -> first passage holding it
    article_pos: dict[str, int] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    _slices: dict[int, tuple[tuple[int, int], tuple[int, int]]] | None = field(
        default=None, repr=False
    )

    def __post_init__(self) -> None:
        self.article_pos = {a.id: i for i, a in enumerate(self.articles)}

    @property
    def model_name(self) -> str:
        return str(self.manifest["model"]["name"])

    def article_slices(self, pos: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(sentence range, passage range) of the article at ``pos``; both are contiguous."""
        if self._slices is None:
            slices: dict[int, list[int]] = {}
            for sid, s in enumerate(self.sentences):
                r = slices.setdefault(self.article_pos[s.article_id], [sid, sid, -1, -1])
                r[1] = sid + 1
            for p in self.passages:
                r = slices[self.article_pos[p.article_id]]
                r[2] = p.id if r[2] < 0 else r[2]
                r[3] = p.id + 1
            self._slices = {k: ((v[0], v[1]), (v[2], v[3])) for k, v in slices.items()}
        return self._slices.get(pos, ((0, 0), (0, 0)))

    def article(self, article_id: str) -> Article:
        return self.articles[self.article_pos[article_id]]

    def indexed_at(self, article_id: str) -> str:
        """When the indexed version of the article was first indexed (ISO time, UTC)."""
        times = self.manifest.get("indexed_at") or {}
        return str(times.get(article_id) or self.manifest.get("created") or "")

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "path": str(self.path),
            "build": self.path.name,
            "created": m.get("created"),
            "model": m["model"]["name"],
            "dimension": m["model"]["dimension"],
            "faiss": m["faiss"],
            "chunking": m["chunking"],
            **m["counts"],
        }


# ---------------------------------------------------------------------------------------------
# Building


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


def source_files(inputs: Sequence[str | Path]) -> dict[str, dict[str, int]]:
    """Size and mtime of every article file under ``inputs`` (for staleness checks)."""
    out: dict[str, dict[str, int]] = {}
    for path, problem in iter_files(inputs):
        if problem is None:
            st = path.stat()
            out[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


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
        current, known = _read_current(index_dir), True
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, obj: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, arr)
        fh.flush()
        os.fsync(fh.fileno())


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
                _check_files(build, manifest, verify_hashes=False, required=_REUSED_FILES)
                prev_build, prev_manifest = build, manifest
        embedder = embedder or make_embedder(model)
        identity = embedder.identity()
        chunking = _chunk_manifest(chunk)
        reusable = (
            prev_manifest is not None
            and prev_manifest["model"].get("name") == identity["name"]
            and prev_manifest["model"].get("weights_sha256") == identity.get("weights_sha256")
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
                _complete(prev_build, prev_manifest)
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
                _rewrite_manifest(prev_build, prev_manifest)
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
            _swap_current(index_dir, final.name)
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
    write_passage_terms_and_bm25(folder, shards, _write_json, previous)
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
    _write_json(folder / "manifest.json", manifest)
    _fsync_dir(folder)
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


def _rewrite_manifest(build: Path, manifest: dict[str, Any]) -> None:
    tmp = build / f".manifest.{uuid.uuid4().hex[:8]}.tmp"
    _write_json(tmp, manifest)
    os.replace(tmp, build / "manifest.json")


def _read_current(index_dir: Path) -> str | None:
    path = index_dir / "CURRENT"
    try:
        name = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise IndexLoadError(f"{path} is unreadable ({err}); {_REBUILD_HINT}") from err
    if not name:
        raise IndexLoadError(f"{path} is empty; {_REBUILD_HINT}")
    return name


def _swap_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex[:8]}"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)


# ---------------------------------------------------------------------------------------------
# Loading


def current_build(index_dir: str | Path) -> Path:
    index_dir = Path(index_dir)
    name = _read_current(index_dir)
    if name is None:
        if (index_dir / "manifest.json").is_file():  # a bare build folder given directly
            return index_dir
        raise IndexLoadError(
            f"no index in {index_dir} (missing {index_dir / 'CURRENT'}): "
            "run `qa index PATH...` to build one"
        )
    build = index_dir / name
    if "/" in name or "\0" in name or name in (".", "..") or not build.is_dir():
        raise IndexLoadError(
            f"{index_dir / 'CURRENT'} points to {name!r}, which does not exist; {_REBUILD_HINT}"
        )
    return build


def read_manifest(build: Path) -> dict[str, Any]:
    path = build / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise IndexLoadError(f"{path} is missing; {_REBUILD_HINT}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexLoadError(f"{path} is not valid JSON ({err}); {_REBUILD_HINT}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexLoadError(f"{path} is not a qa index manifest; {_REBUILD_HINT}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        older = isinstance(version, int) and version < FORMAT_VERSION
        by = "an older" if older and not isinstance(version, bool) else "another"
        raise IndexLoadError(
            f"{path} has index format version {version!r}, this qa reads version "
            f"{FORMAT_VERSION} (the index was built by {by} qa); {_REBUILD_HINT}"
        )
    for key in ("model", "counts", "files", "articles", "chunking", "faiss"):
        if not isinstance(manifest.get(key), dict):
            raise IndexLoadError(f"{path} lacks {key!r} (or it is not an object); {_REBUILD_HINT}")
    model, counts = manifest["model"], manifest["counts"]
    if not isinstance(model.get("name"), str) or not _is_int(model.get("dimension")):
        raise IndexLoadError(f"{path}: 'model' needs a name and a dimension; {_REBUILD_HINT}")
    for key in ("articles", "sentences", "passages"):
        if not _is_int(counts.get(key)):
            raise IndexLoadError(f"{path}: counts.{key} is not a number; {_REBUILD_HINT}")
    for rel, info in manifest["files"].items():
        if not isinstance(info, dict) or not _is_int(info.get("bytes")):
            raise IndexLoadError(f"{path}: the entry for {rel!r} is malformed; {_REBUILD_HINT}")
    if not isinstance(manifest["faiss"].get("kind"), str):
        raise IndexLoadError(f"{path}: faiss.kind is missing; {_REBUILD_HINT}")
    return manifest


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_REQUIRED_FILES = (
    "articles.jsonl",
    "sentences.npy",
    "passages.npy",
    "sentence_vectors.npy",
    "passage_vectors.npy",
    "passages.faiss",
    "passage_terms.npy",
    "passage_terms_offsets.npy",
    "terms.json",
)


# what an update takes from the current build (the rest it can make again)
_REUSED_FILES = (
    "articles.jsonl",
    "sentences.npy",
    "passages.npy",
    "sentence_vectors.npy",
    "passage_vectors.npy",
)


def _complete(build: Path, manifest: dict[str, Any]) -> bool:
    try:
        _check_files(build, manifest, verify_hashes=False)
    except IndexLoadError:
        return False
    return True


def _check_files(
    build: Path,
    manifest: dict[str, Any],
    verify_hashes: bool,
    required: Sequence[str] = (*_REQUIRED_FILES, "bm25/"),
) -> None:
    listed = manifest["files"]
    for rel in required:
        if not any(k == rel or (rel.endswith("/") and k.startswith(rel)) for k in listed):
            raise IndexLoadError(
                f"{build / 'manifest.json'} does not list {rel} (edited?); {_REBUILD_HINT}"
            )
    for rel, info in listed.items():
        path = build / rel
        if not path.is_file():
            raise IndexLoadError(f"{path} is missing; {_REBUILD_HINT}")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise IndexLoadError(
                f"{path} is {size} bytes but the manifest says {info.get('bytes')} "
                f"(truncated or modified); {_REBUILD_HINT}"
            )
        if verify_hashes and file_sha256(path) != info.get("sha256"):
            raise IndexLoadError(
                f"{path} does not match its SHA-256 in the manifest (corrupted); {_REBUILD_HINT}"
            )


def _load_npy(path: Path, dtype: Any, cols: int | None = None, mmap: bool = False) -> np.ndarray:
    """Load a table; with ``mmap`` the array stays on disk in its stored dtype (float16
    vectors: 768 bytes per 384-d row, paged in on demand)."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Exception as err:  # OSError, ValueError, EOFError, tokenize.TokenError (bad header)
        raise IndexLoadError(f"{path} is unreadable ({err}); {_REBUILD_HINT}") from err
    if cols is not None and (arr.ndim != 2 or arr.shape[1] != cols):
        raise IndexLoadError(f"{path} has shape {arr.shape}, expected (n, {cols}); {_REBUILD_HINT}")
    if mmap:
        return np.asarray(arr)  # still the memory map (np.memmap is an ndarray)
    return np.ascontiguousarray(arr, dtype=dtype)


def load_index(
    index_dir: str | Path,
    *,
    check_model: bool = True,
    verify_hashes: bool | None = None,
    mmap: bool | None = None,
    search_params: dict[str, int] | None = None,
) -> Index:
    """Load and validate an index. Raises :class:`IndexLoadError` naming the broken file.

    File sizes are always checked against the manifest; SHA-256 hashes are checked too for
    indexes under 64 MB (or when ``verify_hashes`` is set). Vectors of large indexes (or with
    ``mmap``, or ``QA_MMAP=1``) stay memory-mapped as float16. ``search_params`` overrides the
    approximate index's knobs (``efSearch``, ``nprobe``, ``refine``).
    """
    import bm25s
    import faiss

    build = current_build(index_dir)
    manifest = read_manifest(build)
    total = sum(int(f.get("bytes", 0)) for f in manifest["files"].values())
    _check_files(build, manifest, verify_hashes if verify_hashes is not None else total < 64 << 20)
    if check_model:
        _check_model(build, manifest)

    articles: list[Article] = []
    prints: dict[str, str] = {}
    path = build / "articles.jsonl"
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                fp = row.pop("fingerprint")
                art = Article(**row)
                if not all(isinstance(v, str) for v in (fp, *vars(art).values())):
                    raise ValueError("a field is not text")
                prints[art.id] = fp
                articles.append(art)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise IndexLoadError(f"{path} is corrupt ({err}); {_REBUILD_HINT}") from err

    srows = _load_npy(build / "sentences.npy", np.int64, 3)
    prows = _load_npy(build / "passages.npy", np.int64, 4)
    big = int(manifest["counts"].get("passages", 0)) >= MMAP_PASSAGES
    if mmap is None:
        mmap = big or Settings().mmap
    sv = _load_npy(build / "sentence_vectors.npy", np.float32, mmap=mmap)
    pv = _load_npy(build / "passage_vectors.npy", np.float32, mmap=mmap)
    counts = manifest["counts"]
    dim = int(manifest["model"]["dimension"])
    expect = {
        "articles.jsonl": (len(articles), counts["articles"], "articles"),
        "sentences.npy": (len(srows), counts["sentences"], "sentences"),
        "passages.npy": (len(prows), counts["passages"], "passages"),
        "sentence_vectors.npy": (len(sv), counts["sentences"], "sentence vectors"),
        "passage_vectors.npy": (len(pv), counts["passages"], "passage vectors"),
    }
    for name, (got, want, what) in expect.items():
        if got != want:
            raise IndexLoadError(
                f"{build / name} holds {got} {what} but {build / 'manifest.json'} says {want} "
                f"(count mismatch); {_REBUILD_HINT}"
            )
    _check_rows(build, articles, srows, prows)
    for name, arr in (("sentence_vectors.npy", sv), ("passage_vectors.npy", pv)):
        if arr.ndim != 2 or (len(arr) and arr.shape[1] != dim):
            raise IndexLoadError(
                f"{build / name} has shape {arr.shape}, model dimension is {dim}; {_REBUILD_HINT}"
            )
        if not mmap and not np.isfinite(arr).all():  # (memory-mapped ones are not scanned)
            raise IndexLoadError(f"{build / name} holds NaN or infinite values; {_REBUILD_HINT}")
    try:
        faiss_index: Any = faiss.read_index(str(build / "passages.faiss"))
    except RuntimeError as err:
        raise IndexLoadError(
            f"{build / 'passages.faiss'} is unreadable (truncated or corrupt); {_REBUILD_HINT}"
        ) from err
    if faiss_index.ntotal != len(prows) or faiss_index.d != dim:
        raise IndexLoadError(
            f"{build / 'passages.faiss'} holds {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}, expected {len(prows)} of {dim}; {_REBUILD_HINT}"
        )
    kind = str(manifest["faiss"]["kind"])
    settings = knobs(kind, manifest["faiss"].get("params", {}))
    if search_params:
        settings.update({k: int(v) for k, v in search_params.items()})
    faiss_index = DenseIndex(faiss_index, kind, pv, settings)
    try:
        bm25 = bm25s.BM25.load(str(build / "bm25"), mmap=False)
    except Exception as err:  # bm25s raises assorted errors on broken files
        raise IndexLoadError(f"{build / 'bm25'} is unreadable ({err}); {_REBUILD_HINT}") from err

    try:
        sentences: Sequence[Sentence]
        passages: Sequence[Passage]
        if mmap:  # large: build records on access instead of millions of objects up front
            if len(prows) and (
                prows[:, 0].max() >= len(articles) or prows[:, 2].max() > len(srows)
            ):
                raise IndexError("passage rows out of range")
            sentences = LazySentences(srows, articles)
            passages = LazyPassages(prows, srows, articles)
        else:
            sentences = [
                Sentence(articles[a].id, int(s), int(e), articles[a].text[s:e]) for a, s, e in srows
            ]
            passages = [
                Passage(
                    pid,
                    articles[a].id,
                    int(srows[first][1]),
                    int(srows[last - 1][2]),
                    articles[a].text[int(srows[first][1]) : int(srows[last - 1][2])],
                    tuple(range(int(first), int(last))),
                    int(ntok),
                )
                for pid, (a, first, last, ntok) in enumerate(prows)
            ]
        sentence_passage = _sentence_passage(prows, len(srows))
    except IndexError as err:
        raise IndexLoadError(
            f"{build}: passages point outside the article table; {_REBUILD_HINT}"
        ) from err
    index = Index(
        build,
        manifest,
        articles,
        sentences,
        passages,
        sv,
        pv,
        faiss_index,
        bm25,
        sentence_passage,
    )
    index.fingerprints = prints
    return index


def _sentence_passage(prows: np.ndarray, n_sentences: int) -> np.ndarray:
    """For each sentence, the first passage holding it (-1 if none). Passage sentence ranges
    are non-decreasing, so that is the first passage whose range ends after the sentence."""
    sids = np.arange(n_sentences, dtype=np.int64)
    if not len(prows):
        return np.full(n_sentences, -1, dtype=np.int64)
    pid = np.searchsorted(np.asarray(prows[:, 2]), sids, side="right")
    ok = pid < len(prows)
    ok[ok] &= np.asarray(prows[:, 1])[pid[ok]] <= sids[ok]
    return np.where(ok, pid, -1).astype(np.int64)


class _LazyTable(Sequence[_T]):
    """A table of a large index whose rows become records only when they are read."""

    def __init__(self, rows: np.ndarray, articles: Sequence[Article]) -> None:
        self.rows = rows
        self.articles = articles

    def __len__(self) -> int:
        return len(self.rows)

    def _one(self, i: int) -> _T:
        raise NotImplementedError

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._one(j) for j in range(*i.indices(len(self)))]
        return self._one(int(i) + len(self) if int(i) < 0 else int(i))

    def __iter__(self) -> Iterator[_T]:
        for i in range(len(self)):
            yield self._one(i)


class LazySentences(_LazyTable[Sentence]):
    """The sentence table of a large index: a :class:`Sentence` is made when it is read."""

    def _one(self, i: int) -> Sentence:
        a, s, e = (int(x) for x in self.rows[i])
        art = self.articles[a]
        return Sentence(art.id, s, e, art.text[s:e])


class LazyPassages(_LazyTable[Passage]):
    """The passage table of a large index: a :class:`Passage` is made when it is read."""

    def __init__(self, rows: np.ndarray, srows: np.ndarray, articles: Sequence[Article]) -> None:
        super().__init__(rows, articles)
        self.srows = srows

    def _one(self, pid: int) -> Passage:
        a, first, last, ntok = (int(x) for x in self.rows[pid])
        start, end = int(self.srows[first][1]), int(self.srows[last - 1][2])
        art = self.articles[a]
        return Passage(
            pid, art.id, start, end, art.text[start:end], tuple(range(first, last)), ntok
        )


def _check_rows(build: Path, articles: list[Article], srows: np.ndarray, prows: np.ndarray) -> None:
    """Every sentence lies inside its article; every passage is a non-empty run of sentences of
    its own article (so a bad table fails here rather than quoting the wrong text)."""
    n_art = len(articles)
    lengths = np.array([len(a.text) for a in articles] or [0], dtype=np.int64)
    a, s, e = srows.reshape(-1, 3).T
    ok = (a >= 0) & (a < n_art) & (s >= 0) & (s <= e)
    ok &= e <= lengths[np.clip(a, 0, len(lengths) - 1)]
    if not ok.all():
        raise IndexLoadError(
            f"{build / 'sentences.npy'}: sentence {int(np.argmin(ok))} lies outside its "
            f"article; {_REBUILD_HINT}"
        )
    pa, first, last = prows.reshape(-1, 4)[:, :3].T
    ok = (pa >= 0) & (pa < n_art) & (first >= 0) & (first < last) & (last <= len(srows))
    if ok.all() and len(prows):
        ok &= (a[first] == pa) & (a[last - 1] == pa)
    if not ok.all():
        raise IndexLoadError(
            f"{build / 'passages.npy'}: passage {int(np.argmin(ok))} does not match the sentence "
            f"table; {_REBUILD_HINT}"
        )


def _check_model(build: Path, manifest: dict[str, Any]) -> None:
    stored = manifest["model"]
    try:
        embedder = make_embedder(str(stored.get("name")))
    except (QAError, ValueError) as err:
        raise IndexLoadError(
            f"{build / 'manifest.json'}: the index was built with model {stored.get('name')!r}, "
            f"which cannot be used here ({err}); {_REBUILD_HINT}"
        ) from err
    current = embedder.quick_identity() if hasattr(embedder, "quick_identity") else {}
    for key, value in current.items():
        if key in stored and stored[key] != value:
            raise IndexLoadError(
                f"{build / 'manifest.json'}: the index was built with model {stored.get('name')} "
                f"({key}={stored[key]}), but the installed model has {key}={value}; "
                f"{_REBUILD_HINT}"
            )


def check_stale(index: Index) -> list[str]:
    """What changed in the indexed folders since the build (empty when up to date)."""
    sources = index.manifest.get("sources") or {}
    inputs = sources.get("inputs") or []
    if not inputs:
        return []
    recorded: dict[str, dict[str, int]] = sources.get("files", {})
    now = source_files(inputs)
    changes = [f"new: {p}" for p in sorted(set(now) - set(recorded))]
    changes += [f"deleted: {p}" for p in sorted(set(recorded) - set(now))]
    changes += [
        f"changed: {p}"
        for p in sorted(set(now) & set(recorded))
        if now[p]["size"] != recorded[p]["size"] or now[p]["mtime_ns"] != recorded[p]["mtime_ns"]
    ]
    return changes


def ensure_fresh(index: Index) -> None:
    changes = check_stale(index)
    if changes:
        listing = "; ".join(changes[:5]) + (
            f"; … {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        raise StaleIndexError(
            f"the index at {index.path.parent} is stale: articles changed since it was built "
            f"({listing}). Run `qa index {' '.join(index.manifest['sources']['inputs'])}` "
            "to update it."
        )

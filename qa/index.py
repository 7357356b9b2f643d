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

A build is written into ``.tmp-*`` and renamed into place, then ``CURRENT`` is swapped with
``os.replace``: readers see the old index or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import ChunkParams, chunk_article
from qa.corpus import article_fingerprint, iter_files
from qa.embedding import Embedder, make_embedder
from qa.errors import IndexLoadError, QAError, StaleIndexError
from qa.text import analyze
from qa.types import Article, Passage, Sentence

FORMAT = "qa-index"
FORMAT_VERSION = 1
FAISS_KINDS = ("auto", "flat", "hnsw", "ivfpq")
APPROX_THRESHOLD = 200_000  # passages; above this "auto" picks an approximate index
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
    sentences: list[Sentence]
    passages: list[Passage]
    sentence_vectors: np.ndarray  # float32, normalised, one row per sentence
    passage_vectors: np.ndarray  # float32, normalised, one row per passage
    faiss_index: Any
    bm25: Any
    sentence_passage: np.ndarray  # sentence -> first passage holding it
    term_df: dict[str, int] = field(default_factory=dict)  # sentence document frequencies
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


def _faiss_kind(kind: str, n: int) -> str:
    if kind not in FAISS_KINDS:
        raise QAError(f"unknown FAISS index kind {kind!r}; use one of {', '.join(FAISS_KINDS)}")
    if kind == "auto":
        return "flat" if n < APPROX_THRESHOLD else "hnsw"
    return kind


def make_faiss_index(vectors: np.ndarray, kind: str, params: dict[str, Any]) -> Any:
    """Build a FAISS inner-product index (vectors are normalised, so this is cosine)."""
    import faiss

    dim = vectors.shape[1]
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(params.get("M", 32)), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params.get("efConstruction", 80))
        index.hnsw.efSearch = int(params.get("efSearch", 64))
    elif kind == "ivfpq":
        n = len(vectors)
        nlist = int(params.get("nlist", max(1, min(4096, int(4 * np.sqrt(max(n, 1)))))))
        m = int(params.get("m", 48 if dim % 48 == 0 else 32))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(n, size=min(n, max(nlist * 39, 10_000)), replace=False)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = int(params.get("nprobe", 16))
    else:  # pragma: no cover - checked by _faiss_kind
        raise QAError(f"unknown FAISS index kind {kind!r}")
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _passage_input(article: Article, text: str) -> str:
    return f"{article.title}. {text}" if article.title else text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """One build at a time per index folder (a second one fails at once with a clear message)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = (index_dir / ".lock").open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise QAError(
                f"another `qa index` is already building {index_dir}; wait for it"
            ) from err
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def clean_debris(index_dir: Path) -> list[str]:
    """Remove temp folders left by killed builds and builds no longer current."""
    removed: list[str] = []
    if not index_dir.is_dir():
        return removed
    current = _read_current(index_dir)
    for child in index_dir.iterdir():
        stale_tmp = child.name.startswith(".tmp-")
        old_build = child.name.startswith("build-") and child.name != current
        if child.is_dir() and (stale_tmp or old_build):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child.name)
        elif child.name.startswith(".CURRENT.") and child.is_file():
            child.unlink(missing_ok=True)
            removed.append(child.name)
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
    articles: Sequence[Article],
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
) -> BuildReport:
    """Build (or update) the index in ``index_dir`` from ``articles``.

    Unless ``rebuild`` is set, vectors of articles whose fingerprint did not change are taken
    from the current build, so only new or changed articles are embedded; deleted articles drop
    out. The result replaces the current build atomically.
    """
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    chunk = chunk or ChunkParams()
    if count_tokens is None:
        from qa.tokenizer import count_tokens as _count

        count_tokens = _count
    if not articles:
        raise QAError("no articles to index")

    with build_lock(index_dir):
        clean_debris(index_dir)
        previous = None
        if not rebuild:
            with contextlib.suppress(IndexLoadError):
                previous = load_index(index_dir, check_model=False)
        embedder = embedder or make_embedder(model)
        identity = embedder.identity()
        reusable = (
            previous is not None
            and previous.manifest["model"].get("name") == identity["name"]
            and previous.manifest["model"].get("weights_sha256") == identity.get("weights_sha256")
            and previous.manifest["chunking"] == _chunk_manifest(chunk)
        )
        prints = {a.id: article_fingerprint(a) for a in articles}
        if reusable and previous is not None and not rebuild:
            same = prints == previous.fingerprints and (
                _faiss_kind(faiss_kind, len(previous.passages))
                == previous.manifest["faiss"]["kind"]
            )
            if same:
                previous.manifest["sources"] = {
                    "inputs": [str(Path(p).resolve()) for p in inputs],
                    "files": source_files(inputs),
                }
                # refresh the staleness record only (files touched but unchanged)
                _rewrite_manifest(previous.path, previous.manifest)
                return BuildReport(
                    previous.path,
                    len(articles),
                    len(previous.passages),
                    len(previous.sentences),
                    0,
                    len(articles),
                    [],
                    time.perf_counter() - t0,
                    unchanged=True,
                )

        # --- chunk every article (cheap) and collect what needs embedding
        sent_rows: list[tuple[int, int, int]] = []
        pass_rows: list[tuple[int, int, int, int]] = []
        sent_vecs: list[np.ndarray | None] = []
        pass_vecs: list[np.ndarray | None] = []
        to_embed: list[str] = []
        slots: list[tuple[str, int]] = []  # ("s"|"p", position) for each text to embed
        reused = 0
        for a_idx, article in enumerate(
            _progress(articles, desc="chunking", unit="article", disable=not progress, leave=False)
        ):
            old_slice = None
            if reusable and previous is not None:
                pos = previous.article_pos.get(article.id)
                if pos is not None and previous.fingerprints.get(article.id) == prints[article.id]:
                    old_slice = previous.article_slices(pos)
            if old_slice is not None and previous is not None:
                reused += 1
                (s_lo, s_hi), (p_lo, p_hi) = old_slice
                base = len(sent_rows)
                for s in previous.sentences[s_lo:s_hi]:
                    sent_rows.append((a_idx, s.start, s.end))
                sent_vecs.extend(previous.sentence_vectors[s_lo:s_hi])
                for p in previous.passages[p_lo:p_hi]:
                    first = p.sentences[0] - s_lo + base
                    pass_rows.append((a_idx, first, first + len(p.sentences), p.n_tokens))
                pass_vecs.extend(previous.passage_vectors[p_lo:p_hi])
                continue
            chunks = chunk_article(article, chunk, count_tokens)
            base = len(sent_rows)
            index_of: dict[tuple[int, int], int] = {}
            for ch in chunks:
                for span in ch.sentences:
                    if span not in index_of:
                        index_of[span] = len(sent_rows)
                        sent_rows.append((a_idx, span[0], span[1]))
                        sent_vecs.append(None)
                        slots.append(("s", len(sent_vecs) - 1))
                        to_embed.append(article.text[span[0] : span[1]])
            for ch in chunks:
                first = index_of[ch.sentences[0]]
                pass_rows.append((a_idx, first, first + len(ch.sentences), ch.n_tokens))
                pass_vecs.append(None)
                slots.append(("p", len(pass_vecs) - 1))
                to_embed.append(_passage_input(article, article.text[ch.start : ch.end]))
            del base

        # --- embed everything new in one call (sentence-transformers sorts by length)
        if to_embed:
            vecs = embedder.encode(to_embed, batch_size=64, progress=progress)
            for (kind, pos), vec in zip(slots, vecs, strict=True):
                (sent_vecs if kind == "s" else pass_vecs)[pos] = vec
        dim = int(identity["dimension"])
        sv = _stack(sent_vecs, dim)
        pv = _stack(pass_vecs, dim)

        # --- assemble, write into a temp folder, swap
        kind = _faiss_kind(faiss_kind, len(pass_rows))
        params = dict(faiss_params or {})
        faiss_index = make_faiss_index(pv, kind, params)
        tokens = [
            analyze(
                _passage_input(
                    articles[a], articles[a].text[sent_rows[f][1] : sent_rows[last - 1][2]]
                )
            )
            for a, f, last, _ in pass_rows
        ]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        tmp = index_dir / f".tmp-{stamp}"
        final = index_dir / f"build-{stamp}"
        tmp.mkdir(parents=True)
        try:
            _write_build(
                tmp,
                articles,
                prints,
                sent_rows,
                pass_rows,
                sv,
                pv,
                faiss_index,
                tokens,
                manifest_extra={
                    "model": identity,
                    "tokenizer": {"name": "cl100k_base", "sha256": _tokenizer_hash()},
                    "chunking": _chunk_manifest(chunk),
                    "faiss": {"kind": kind, "params": _faiss_params(faiss_index, kind, params)},
                    "sources": {
                        "inputs": [str(Path(p).resolve()) for p in inputs],
                        "files": source_files(inputs),
                    },
                },
            )
            os.rename(tmp, final)
            _swap_current(index_dir, final.name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        clean_debris(index_dir)
        removed = sorted(set(previous.fingerprints) - set(prints)) if previous else []
        return BuildReport(
            final,
            len(articles),
            len(pass_rows),
            len(sent_rows),
            len(articles) - reused,
            reused,
            removed,
            time.perf_counter() - t0,
        )


def _tokenizer_hash() -> str:
    from qa.tokenizer import SHA256

    return SHA256


def _chunk_manifest(chunk: ChunkParams) -> dict[str, Any]:
    return {
        "max_tokens": chunk.max_tokens,
        "overlap_sentences": chunk.overlap_sentences,
        "tokenizer": "cl100k_base",
        "sentence_splitter": "qa.text/1",
    }


def _faiss_params(index: Any, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    if kind == "hnsw":
        return {
            "M": index.hnsw.nb_neighbors(1),
            "efConstruction": index.hnsw.efConstruction,
            "efSearch": index.hnsw.efSearch,
        }
    if kind == "ivfpq":
        return {
            "nlist": index.nlist,
            "m": index.pq.M,
            "nbits": index.pq.nbits,
            "nprobe": index.nprobe,
        }
    return {}


def _stack(rows: list[np.ndarray | None], dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.vstack([r for r in rows if r is not None]), dtype=np.float32)


def _write_build(
    folder: Path,
    articles: Sequence[Article],
    prints: dict[str, str],
    sent_rows: list[tuple[int, int, int]],
    pass_rows: list[tuple[int, int, int, int]],
    sv: np.ndarray,
    pv: np.ndarray,
    faiss_index: Any,
    tokens: list[list[str]],
    manifest_extra: dict[str, Any],
) -> None:
    import bm25s
    import faiss

    with (folder / "articles.jsonl").open("w", encoding="utf-8") as fh:
        for a in articles:
            row = {**a.meta(), "path": a.path, "fingerprint": prints[a.id], "text": a.text}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    _save_npy(folder / "sentences.npy", np.asarray(sent_rows, dtype=np.int64).reshape(-1, 3))
    _save_npy(folder / "passages.npy", np.asarray(pass_rows, dtype=np.int64).reshape(-1, 4))
    _save_npy(folder / "sentence_vectors.npy", sv.astype(np.float16))
    _save_npy(folder / "passage_vectors.npy", pv.astype(np.float16))
    faiss.write_index(faiss_index, str(folder / "passages.faiss"))
    df: Counter[str] = Counter()
    for a_pos, start, end in sent_rows:
        df.update(set(analyze(articles[a_pos].text[start:end])))
    _write_json(folder / "term_df.json", {"sentences": len(sent_rows), "df": dict(df)})
    retriever = bm25s.BM25()
    retriever.index([t or [""] for t in tokens], show_progress=False)
    retriever.save(str(folder / "bm25"))
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            files[str(p.relative_to(folder))] = {"bytes": p.stat().st_size, "sha256": _sha256(p)}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **manifest_extra,
        "counts": {
            "articles": len(articles),
            "passages": len(pass_rows),
            "sentences": len(sent_rows),
        },
        "articles": prints,
        "files": files,
    }
    _write_json(folder / "manifest.json", manifest)
    _fsync_dir(folder)


def _rewrite_manifest(build: Path, manifest: dict[str, Any]) -> None:
    tmp = build / f".manifest.{uuid.uuid4().hex[:8]}.tmp"
    _write_json(tmp, manifest)
    os.replace(tmp, build / "manifest.json")


def _read_current(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


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
    if not build.is_dir() or "/" in name:
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
        raise IndexLoadError(
            f"{path} has index format version {version!r}, this qa reads version "
            f"{FORMAT_VERSION}; {_REBUILD_HINT}"
        )
    for key in ("model", "counts", "files", "articles", "chunking", "faiss"):
        if key not in manifest:
            raise IndexLoadError(f"{path} lacks {key!r}; {_REBUILD_HINT}")
    return manifest


def _check_files(build: Path, manifest: dict[str, Any], verify_hashes: bool) -> None:
    for rel, info in manifest["files"].items():
        path = build / rel
        if not path.is_file():
            raise IndexLoadError(f"{path} is missing; {_REBUILD_HINT}")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise IndexLoadError(
                f"{path} is {size} bytes but the manifest says {info.get('bytes')} "
                f"(truncated or modified); {_REBUILD_HINT}"
            )
        if verify_hashes and _sha256(path) != info.get("sha256"):
            raise IndexLoadError(
                f"{path} does not match its SHA-256 in the manifest (corrupted); {_REBUILD_HINT}"
            )


def _load_npy(path: Path, dtype: Any, cols: int | None = None) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise IndexLoadError(f"{path} is unreadable ({err}); {_REBUILD_HINT}") from err
    if cols is not None and (arr.ndim != 2 or arr.shape[1] != cols):
        raise IndexLoadError(f"{path} has shape {arr.shape}, expected (n, {cols}); {_REBUILD_HINT}")
    return np.ascontiguousarray(arr, dtype=dtype)


def load_index(
    index_dir: str | Path, *, check_model: bool = True, verify_hashes: bool | None = None
) -> Index:
    """Load and validate an index. Raises :class:`IndexLoadError` naming the broken file.

    File sizes are always checked against the manifest; SHA-256 hashes are checked too for
    indexes under 64 MB (or when ``verify_hashes`` is set).
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
                prints[art.id] = fp
                articles.append(art)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise IndexLoadError(f"{path} is corrupt ({err}); {_REBUILD_HINT}") from err

    srows = _load_npy(build / "sentences.npy", np.int64, 3)
    prows = _load_npy(build / "passages.npy", np.int64, 4)
    sv = _load_npy(build / "sentence_vectors.npy", np.float32)
    pv = _load_npy(build / "passage_vectors.npy", np.float32)
    counts = manifest["counts"]
    dim = int(manifest["model"]["dimension"])
    expect = {
        "articles": (len(articles), counts.get("articles")),
        "sentences": (len(srows), counts.get("sentences")),
        "passages": (len(prows), counts.get("passages")),
        "sentence vectors": (len(sv), counts.get("sentences")),
        "passage vectors": (len(pv), counts.get("passages")),
    }
    for what, (got, want) in expect.items():
        if got != want:
            raise IndexLoadError(
                f"{build}: {got} {what} but the manifest says {want} (count mismatch); "
                f"{_REBUILD_HINT}"
            )
    for name, arr in (("sentence_vectors.npy", sv), ("passage_vectors.npy", pv)):
        if arr.ndim != 2 or (len(arr) and arr.shape[1] != dim):
            raise IndexLoadError(
                f"{build / name} has shape {arr.shape}, model dimension is {dim}; {_REBUILD_HINT}"
            )
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
    knobs = manifest["faiss"].get("params", {})
    if manifest["faiss"]["kind"] == "hnsw" and "efSearch" in knobs:
        faiss_index.hnsw.efSearch = int(knobs["efSearch"])
    if manifest["faiss"]["kind"] == "ivfpq" and "nprobe" in knobs:
        faiss_index.nprobe = int(knobs["nprobe"])
    try:
        bm25 = bm25s.BM25.load(str(build / "bm25"), mmap=False)
    except Exception as err:  # bm25s raises assorted errors on broken files
        raise IndexLoadError(f"{build / 'bm25'} is unreadable ({err}); {_REBUILD_HINT}") from err

    try:
        sentences = [
            Sentence(articles[a].id, int(s), int(e), articles[a].text[s:e]) for a, s, e in srows
        ]
        passages = []
        sentence_passage = np.full(len(sentences), -1, dtype=np.int64)
        for pid, (a, first, last, ntok) in enumerate(prows):
            start, end = int(srows[first][1]), int(srows[last - 1][2])
            sent_ids = tuple(range(int(first), int(last)))
            passages.append(
                Passage(
                    pid,
                    articles[a].id,
                    start,
                    end,
                    articles[a].text[start:end],
                    sent_ids,
                    int(ntok),
                )
            )
            for sid in sent_ids:
                if sentence_passage[sid] < 0:
                    sentence_passage[sid] = pid
    except IndexError as err:
        raise IndexLoadError(
            f"{build}: passages point outside the article table; {_REBUILD_HINT}"
        ) from err
    try:
        term_df = json.loads((build / "term_df.json").read_text(encoding="utf-8"))["df"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise IndexLoadError(
            f"{build / 'term_df.json'} is corrupt ({err}); {_REBUILD_HINT}"
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
        term_df,
    )
    index.fingerprints = prints
    return index


def _check_model(build: Path, manifest: dict[str, Any]) -> None:
    stored = manifest["model"]
    embedder = make_embedder(str(stored.get("name")))
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

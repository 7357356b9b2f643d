"""Streaming builds: articles are read, chunked and embedded in batches and written as shards;
a merge step turns the shards into one index build (see :func:`qa.index.build.build_index`).

Memory stays bounded by the shard size, not the corpus: articles are streamed from the input
files (JSONL line by line), each shard holds ``shard_size`` articles, and the merge copies shard
arrays into memory-mapped ``.npy`` files. The only structures that grow with the corpus at merge
time are the BM25 score matrix (about 12 bytes per distinct term of each passage, the size of the
BM25 index itself) and the vector index being built.

Shards live in ``<index>/.work/`` until the build is swapped in. A finished shard is a folder
renamed into place after its files are synced, so ``qa index --resume`` after a crash or Ctrl-C
reuses every finished shard and embeds only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.ingest.chunking import ChunkParams, chunk_article
from qa.ingest.corpus import (
    ArticleProblem,
    article_fingerprint,
    iter_files,
    load_html,
    load_markdown,
    load_txt,
    parse_jsonl_line,
)
from qa.ingest.text import analyze
from qa.types import Article

WORK = ".work"
SHARD_SIZE = 2000  # articles per shard (about 15-20k texts to embed)


# ---------------------------------------------------------------------------------------------
# Reading articles as a stream


def _iter_jsonl(path: Path) -> Iterator[tuple[str, Article | str]]:
    """One article (or problem) per line, reading the file line by line."""
    seen_any = False
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                seen_any = True
                where = f"{path}:{lineno}"
                yield where, parse_jsonl_line(line, where)
    except UnicodeDecodeError as err:
        yield str(path), f"not valid UTF-8 (offset {err.start}); re-save the file as UTF-8"
        return
    except OSError as err:
        yield str(path), f"cannot read file: {err.strerror or err}"
        return
    if not seen_any:
        yield str(path), "file is empty"


def iter_articles(inputs: Iterable[str | Path]) -> Iterator[tuple[str, Article | str]]:
    """Every article under ``inputs`` as ``(where, article)``, or ``(where, problem)``; the same
    checks as :func:`qa.ingest.corpus.load_corpus` (duplicate ids included), without holding the
    corpus in memory."""
    seen: dict[str, str] = {}
    any_file = False
    for path, problem in iter_files(inputs):
        any_file = True
        if problem:
            yield str(path), problem
            continue
        suffix = path.suffix.lower()
        items: Iterable[tuple[str, Article | str]]
        if suffix == ".jsonl":
            items = _iter_jsonl(path)
        else:
            loader = {".txt": load_txt, ".html": load_html, ".htm": load_html}.get(
                suffix, load_markdown
            )
            try:
                items = [(str(path), a) for a in loader(path)]
            except ArticleProblem as err:
                items = [(str(path), str(err))]
        for where, item in items:
            if isinstance(item, Article):
                if item.id in seen:
                    yield where, f"duplicate id {item.id!r} (also in {seen[item.id]})"
                    continue
                seen[item.id] = where
            yield where, item
    if not any_file:
        yield "(input)", "no article files given"


ArticleStream = Callable[[], Iterator[tuple[str, Article | str]]]


def list_stream(articles: Sequence[Article]) -> ArticleStream:
    return lambda: ((a.path or a.id, a) for a in articles)


@dataclass
class Scan:
    """First pass over the input: fingerprints by id (in order) and the problems found."""

    prints: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)


def scan(stream: ArticleStream) -> Scan:
    out = Scan()
    for where, item in stream():
        if isinstance(item, str):
            out.problems.append((where, item))
        elif item.id not in out.prints:
            out.prints[item.id] = article_fingerprint(item)
    return out


# ---------------------------------------------------------------------------------------------
# Chunked (and embedded) articles


@dataclass
class Prepared:
    """One article chunked: sentence spans, passages over them, and (once embedded) vectors."""

    article: Article
    fingerprint: str
    sents: np.ndarray  # (n, 2) int64: start, end
    passes: np.ndarray  # (m, 3) int64: first sentence, last sentence + 1 (local), tokens
    sv: np.ndarray | None = None  # (n, d) float16
    pv: np.ndarray | None = None  # (m, d) float16
    reused: bool = False

    def texts(self) -> list[str]:
        """What to embed: each sentence, then each passage (prefixed with the title)."""
        text = self.article.text
        out = [text[s:e] for s, e in self.sents]
        for first, last, _ in self.passes:
            out.append(
                passage_input(self.article, text[self.sents[first][0] : self.sents[last - 1][1]])
            )
        return out


def passage_input(article: Article, text: str) -> str:
    return f"{article.title}. {text}" if article.title else text


def prepare(
    article: Article, fingerprint: str, chunk: ChunkParams, count_tokens: Callable[[str], int]
) -> Prepared:
    """Chunk one article into its sentence table and passages (what the index stores)."""
    chunks = chunk_article(article, chunk, count_tokens)
    index_of: dict[tuple[int, int], int] = {}
    spans: list[tuple[int, int]] = []
    for ch in chunks:
        for span in ch.sentences:
            if span not in index_of:
                index_of[span] = len(spans)
                spans.append(span)
    passes = []
    for ch in chunks:
        first = index_of[ch.sentences[0]]
        passes.append((first, first + len(ch.sentences), ch.n_tokens))
    return Prepared(
        article,
        fingerprint,
        np.asarray(spans, dtype=np.int64).reshape(-1, 2),
        np.asarray(passes, dtype=np.int64).reshape(-1, 3),
    )


def embed_prepared(
    items: Sequence[Prepared], embedder: Any, *, batch_size: int = 64, progress: bool = False
) -> None:
    """Embed every item without vectors, in one call (sentence-transformers sorts by length)."""
    todo = [p for p in items if p.sv is None]
    texts: list[str] = []
    for p in todo:
        texts.extend(p.texts())
    if not texts:
        return
    vecs = embedder.encode(texts, batch_size=batch_size, progress=progress)
    at = 0
    for p in todo:
        n, m = len(p.sents), len(p.passes)
        p.sv = np.asarray(vecs[at : at + n], dtype=np.float16)
        p.pv = np.asarray(vecs[at + n : at + n + m], dtype=np.float16)
        at += n + m


class PreviousBuild:
    """The current build's tables and vectors, memory-mapped, for reusing unchanged articles."""

    def __init__(self, build: Path, manifest: dict[str, Any]) -> None:
        self.path = build
        self.manifest = manifest
        self.prints: dict[str, str] = dict(manifest["articles"])
        self.order = list(self.prints)
        self.pos = {a: i for i, a in enumerate(self.order)}
        self.srows = np.load(build / "sentences.npy", mmap_mode="r")
        self.prows = np.load(build / "passages.npy", mmap_mode="r")
        self.sv = np.load(build / "sentence_vectors.npy", mmap_mode="r")
        self.pv = np.load(build / "passage_vectors.npy", mmap_mode="r")
        self._s_art = np.asarray(self.srows[:, 0]) if len(self.srows) else np.zeros(0, np.int64)
        self.passage_articles = (
            np.asarray(self.prows[:, 0]) if len(self.prows) else np.zeros(0, np.int64)
        )
        self._terms: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        self._terms_read = False

    def passage_terms(self) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """The build's analysed passage terms: (rows, offsets, vocabulary); None when they
        cannot be read (then every article's terms are analysed again)."""
        if not self._terms_read:
            self._terms_read = True
            try:
                rows = np.load(self.path / TERMS, mmap_mode="r")
                offsets = np.load(self.path / TERM_OFFSETS)
                vocab = json.loads((self.path / VOCAB).read_text(encoding="utf-8"))["terms"]
                ok = rows.ndim == 2 and len(offsets) == len(self.prows) + 1
                ok = ok and int(offsets[-1]) == len(rows)
                ok = ok and (not len(rows) or int(np.asarray(rows[:, 0]).max()) < len(vocab))
                if ok:
                    self._terms = (rows, offsets, [str(t) for t in vocab])
            except (OSError, ValueError, KeyError, TypeError):
                self._terms = None
        return self._terms

    def terms_of(
        self, article_id: str, fingerprint: str, n_passages: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The (term id, count) rows of an unchanged article's passages and the rows per
        passage, as the previous build stored them; None when it changed or is new."""
        pos = self.pos.get(article_id)
        terms = self.passage_terms()
        if pos is None or terms is None or self.prints.get(article_id) != fingerprint:
            return None
        rows, offsets, _ = terms
        p_lo, p_hi = np.searchsorted(self.passage_articles, [pos, pos + 1])
        if p_hi - p_lo != n_passages:
            return None
        return np.array(rows[offsets[p_lo] : offsets[p_hi]]), np.diff(offsets[p_lo : p_hi + 1])

    def take(self, article: Article, fingerprint: str) -> Prepared | None:
        pos = self.pos.get(article.id)
        if pos is None or self.prints.get(article.id) != fingerprint:
            return None
        s_lo, s_hi = np.searchsorted(self._s_art, [pos, pos + 1])
        p_lo, p_hi = np.searchsorted(self.passage_articles, [pos, pos + 1])
        sents = np.array(self.srows[s_lo:s_hi, 1:3], dtype=np.int64)
        passes = np.array(self.prows[p_lo:p_hi, 1:4], dtype=np.int64)
        passes[:, :2] -= s_lo
        return Prepared(
            article,
            fingerprint,
            sents,
            passes,
            np.array(self.sv[s_lo:s_hi], dtype=np.float16),
            np.array(self.pv[p_lo:p_hi], dtype=np.float16),
            reused=True,
        )


# ---------------------------------------------------------------------------------------------
# Shards on disk


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def write_shard(work: Path, number: int, items: Sequence[Prepared], dim: int) -> Path:
    """Write one shard atomically (temp folder, fsync, rename) and return its folder."""
    tmp = work / f".shard-tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    srows, prows = [], []
    s_base = 0
    with (tmp / "articles.jsonl").open("w", encoding="utf-8") as fh:
        for a_idx, p in enumerate(items):
            a = p.article
            row = {**a.meta(), "path": a.path, "fingerprint": p.fingerprint, "text": a.text}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            s = np.empty((len(p.sents), 3), dtype=np.int64)
            s[:, 0] = a_idx
            s[:, 1:] = p.sents
            q = np.empty((len(p.passes), 4), dtype=np.int64)
            q[:, 0] = a_idx
            q[:, 1:3] = p.passes[:, :2] + s_base
            q[:, 3] = p.passes[:, 2]
            srows.append(s)
            prows.append(q)
            s_base += len(p.sents)
    empty = np.zeros((0, dim), dtype=np.float16)
    arrays = {
        "sentences.npy": np.concatenate(srows) if srows else np.zeros((0, 3), np.int64),
        "passages.npy": np.concatenate(prows) if prows else np.zeros((0, 4), np.int64),
        "sentence_vectors.npy": np.concatenate(
            [p.sv for p in items if p.sv is not None] or [empty]
        ),
        "passage_vectors.npy": np.concatenate([p.pv for p in items if p.pv is not None] or [empty]),
    }
    for name, arr in arrays.items():
        np.save(tmp / name, arr)
    meta = {
        "articles": {p.article.id: p.fingerprint for p in items},
        "sentences": len(arrays["sentences.npy"]),
        "passages": len(arrays["passages.npy"]),
        "embedded": sum(1 for p in items if not p.reused),
        "reused": sum(1 for p in items if p.reused),
    }
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    for f in tmp.iterdir():
        _fsync_file(f)
    final = work / f"shard-{number:06d}"
    os.rename(tmp, final)
    return final


def shard_meta(shard: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((shard / "meta.json").read_text(encoding="utf-8"))
    return meta


def work_key(identity: dict[str, Any], chunking: dict[str, Any]) -> str:
    """What finished shards must share with this build to be reused by --resume."""
    payload = json.dumps([identity, chunking], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def open_work(index_dir: Path, key: str, prints: dict[str, str], resume: bool) -> list[Path]:
    """The work folder's finished shards that can be reused (all their articles still present and
    unchanged); everything else in it is removed. Without ``resume`` it starts empty."""
    work = index_dir / WORK
    key_file = work / "key"
    if not resume or not key_file.is_file() or key_file.read_text().strip() != key:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    keep: list[Path] = []
    for child in sorted(work.iterdir()):
        if child.name.startswith(".shard-tmp-"):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith("shard-"):
            try:
                meta = shard_meta(child)
            except (OSError, ValueError):
                shutil.rmtree(child, ignore_errors=True)
                continue
            if all(prints.get(a) == fp for a, fp in meta["articles"].items()):
                keep.append(child)
            else:
                shutil.rmtree(child, ignore_errors=True)
    return keep


def drop_work(index_dir: Path) -> None:
    shutil.rmtree(index_dir / WORK, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Articles done, with rate and ETA (tqdm), and passages per second in the postfix."""

    def __init__(self, total: int, done: int, enabled: bool, desc: str = "indexing") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total, initial=done, desc=desc, unit="article", disable=not enabled, leave=False
        )
        self.t0 = time.perf_counter()
        self.passages = 0

    def update(self, articles: int, passages: int) -> None:
        self.passages += passages
        rate = self.passages / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.set_postfix_str(f"{rate:.0f} passages/s", refresh=False)
        self.bar.update(articles)

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------------------------
# Merging shards into a build folder


def merge_tables(folder: Path, shards: Sequence[Path], dim: int) -> tuple[int, int, int]:
    """articles.jsonl, sentences.npy, passages.npy and the two vector files, copied shard by
    shard into memory-mapped outputs. Returns (articles, sentences, passages)."""
    metas = [shard_meta(s) for s in shards]
    n_a = sum(len(m["articles"]) for m in metas)
    n_s = sum(int(m["sentences"]) for m in metas)
    n_p = sum(int(m["passages"]) for m in metas)
    fmt = np.lib.format
    srows = fmt.open_memmap(folder / "sentences.npy", "w+", np.int64, (n_s, 3))
    prows = fmt.open_memmap(folder / "passages.npy", "w+", np.int64, (n_p, 4))
    sv = fmt.open_memmap(folder / "sentence_vectors.npy", "w+", np.float16, (n_s, dim))
    pv = fmt.open_memmap(folder / "passage_vectors.npy", "w+", np.float16, (n_p, dim))
    a_off = s_off = p_off = 0
    with (folder / "articles.jsonl").open("wb") as out:
        for shard, meta in zip(shards, metas, strict=True):
            with (shard / "articles.jsonl").open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
            s = np.load(shard / "sentences.npy")
            p = np.load(shard / "passages.npy")
            ns, np_ = len(s), len(p)
            srows[s_off : s_off + ns] = s
            srows[s_off : s_off + ns, 0] += a_off
            prows[p_off : p_off + np_] = p
            prows[p_off : p_off + np_, 0] += a_off
            prows[p_off : p_off + np_, 1:3] += s_off
            sv[s_off : s_off + ns] = np.load(shard / "sentence_vectors.npy")
            pv[p_off : p_off + np_] = np.load(shard / "passage_vectors.npy")
            a_off += len(meta["articles"])
            s_off += ns
            p_off += np_
        out.flush()
        os.fsync(out.fileno())
    for arr in (srows, prows, sv, pv):
        arr.flush()
        del arr
    for name in ("sentences.npy", "passages.npy", "sentence_vectors.npy", "passage_vectors.npy"):
        _fsync_file(folder / name)
    return n_a, n_s, n_p


# ---------------------------------------------------------------------------------------------
# BM25 over passages, from analysed terms kept in the build

TERMS = "passage_terms.npy"  # int32 rows (term id, count): each passage's distinct terms
TERM_OFFSETS = "passage_terms_offsets.npy"  # int64: passage i's rows are [off[i], off[i + 1])
VOCAB = "terms.json"  # {"terms": [...]}: term id -> term


@dataclass
class PassageTerms:
    """Analysed passage terms, in (term id, count) rows with per-passage row counts."""

    vocab: list[str]
    ids: dict[str, int]

    def add(self, text: str) -> np.ndarray:
        """The (term id, count) rows of one passage input (``[""]`` when it has no term)."""
        counts: dict[int, int] = {}
        for term in analyze(text) or [""]:
            tid = self.ids.get(term)
            if tid is None:
                tid = self.ids[term] = len(self.vocab)
                self.vocab.append(term)
            counts[tid] = counts.get(tid, 0) + 1
        return np.asarray(list(counts.items()), dtype=np.int32).reshape(-1, 2)


def _shard_articles(shard: Path) -> list[tuple[Article, str]]:
    out = []
    with (shard / "articles.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            fp = row.pop("fingerprint")
            out.append((Article(**row), fp))
    return out


def write_passage_terms_and_bm25(
    folder: Path,
    shards: Sequence[Path],
    write_json: Callable[[Path, Any], None],
    previous: PreviousBuild | None = None,
) -> None:
    """The analysed terms of every passage (``passage_terms.npy``, its offsets, ``terms.json``)
    and the BM25 index over passages computed from them (``bm25/``). Articles unchanged since
    ``previous`` take their passages' terms from it; only new or changed ones are analysed, so
    adding or removing one article does not re-read the archive's text. Memory is bounded by a
    shard, apart from the term table and the BM25 matrix themselves."""
    old = previous.passage_terms() if previous is not None else None
    terms = PassageTerms(list(old[2]) if old else [], {})
    terms.ids = {t: i for i, t in enumerate(terms.vocab)}
    tmp_dir = folder / ".terms-tmp"
    tmp_dir.mkdir()
    n_rows = n_docs = 0
    for part, shard in enumerate(shards):
        s = np.load(shard / "sentences.npy")
        p = np.load(shard / "passages.npy")
        p_art = p[:, 0]
        rows: list[np.ndarray] = []
        per_doc: list[np.ndarray] = []
        for a_idx, (art, fp) in enumerate(_shard_articles(shard)):
            lo, hi = np.searchsorted(p_art, [a_idx, a_idx + 1])
            reused = previous.terms_of(art.id, fp, int(hi - lo)) if previous is not None else None
            if reused is not None:
                rows.append(reused[0])
                per_doc.append(reused[1])
                continue
            for _, first, last, _ in p[lo:hi]:
                text = passage_input(art, art.text[s[first][1] : s[last - 1][2]])
                got = terms.add(text)
                rows.append(got)
                per_doc.append(np.asarray([len(got)], dtype=np.int64))
        part_rows = np.concatenate(rows) if rows else np.zeros((0, 2), np.int32)
        part_docs = np.concatenate(per_doc) if per_doc else np.zeros(0, np.int64)
        np.save(tmp_dir / f"{part}.rows.npy", part_rows)
        np.save(tmp_dir / f"{part}.docs.npy", part_docs)
        n_rows += len(part_rows)
        n_docs += len(part_docs)
    fmt = np.lib.format
    table = fmt.open_memmap(folder / TERMS, "w+", np.int32, (n_rows, 2))
    counts = np.zeros(n_docs, dtype=np.int64)
    r = d = 0
    for part in range(len(shards)):
        part_rows = np.load(tmp_dir / f"{part}.rows.npy")
        part_docs = np.load(tmp_dir / f"{part}.docs.npy")
        table[r : r + len(part_rows)] = part_rows
        counts[d : d + len(part_docs)] = part_docs
        r += len(part_rows)
        d += len(part_docs)
    shutil.rmtree(tmp_dir)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    # terms no passage holds any more (removed articles) leave the vocabulary
    df = np.bincount(table[:, 0], minlength=len(terms.vocab)) if n_rows else np.zeros(0, np.int64)
    live = df > 0
    if not live.all():
        new_id = np.cumsum(live) - 1
        table[:, 0] = new_id[table[:, 0]].astype(np.int32)
        terms.vocab = [t for t, keep in zip(terms.vocab, live, strict=True) if keep]
    table.flush()
    np.save(folder / TERM_OFFSETS, offsets)
    write_json(folder / VOCAB, {"terms": terms.vocab})
    write_bm25(folder / "bm25", table, offsets, terms.vocab)
    del table


def write_bm25(
    out: Path,
    table: np.ndarray,
    offsets: np.ndarray,
    vocab: Sequence[str],
    k1: float = 1.5,
    b: float = 0.75,
) -> None:
    """The BM25 index in bm25s's own format (lucene idf, ``k1``, ``b``), so that
    ``bm25s.BM25.load`` reads it, from each document's (term id, count) rows: document ``i``
    has rows ``table[offsets[i]:offsets[i + 1]]``, term ids index ``vocab``."""
    import bm25s
    import scipy.sparse as sp

    n_docs = len(offsets) - 1
    n_vocab = len(vocab)
    ids = np.asarray(table[:, 0], dtype=np.int32)
    tf = np.asarray(table[:, 1], dtype=np.float32)
    rows = np.repeat(np.arange(n_docs, dtype=np.int32), np.diff(offsets))
    cum = np.zeros(len(tf) + 1, dtype=np.float64)
    np.cumsum(tf, out=cum[1:])
    lens = cum[offsets[1:]] - cum[offsets[:-1]]  # tokens per document
    avg = np.float64(lens.mean()) if n_docs else np.float64(0.0)
    dfs = np.bincount(ids, minlength=n_vocab)
    idf = np.zeros(n_vocab, dtype=np.float32)
    nz = dfs > 0
    idf[nz] = np.log(1 + (n_docs - dfs[nz] + 0.5) / (dfs[nz] + 0.5))
    l_d = lens[rows].astype(np.float32)
    data = (idf[ids] * (tf / (k1 * ((1 - b) + b * l_d / np.float32(avg)) + tf))).astype(np.float32)
    del tf, l_d
    matrix = sp.csc_matrix((data, (rows, ids)), shape=(n_docs, n_vocab), dtype=np.float32)
    del data, rows, ids
    retriever = bm25s.BM25()
    retriever.scores = {
        "data": matrix.data,
        "indices": matrix.indices,
        "indptr": matrix.indptr,
        "num_docs": n_docs,
    }
    full_vocab = {t: i for i, t in enumerate(vocab)}
    if "" not in full_vocab:
        full_vocab[""] = n_vocab
    retriever.vocab_dict = full_vocab
    retriever.nonoccurrence_array = None
    retriever.save(str(out), show_progress=False)

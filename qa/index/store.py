"""A loaded index: :func:`load_index` reads a build (through :mod:`qa.index.format`), checks it
(:mod:`qa.index.verify`) and returns an :class:`Index` holding the articles, the sentence and
passage tables, their vectors, the vector index and BM25. Tables of large indexes stay
memory-mapped and make their records only when read (``LazySentences``, ``LazyPassages``).
Building is :mod:`qa.index.build`; staleness is :mod:`qa.index.stale`.

May import: ``qa.index.format``, ``qa.index.verify``, ``qa.index.ann``, ``qa.config``,
``qa.errors``, ``qa.types``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.config import Settings
from qa.errors import IndexLoadError
from qa.index.ann import DenseIndex, knobs
from qa.index.format import REBUILD_HINT, current_build, load_npy, read_manifest
from qa.index.verify import check_embedding_model, check_files, check_rows
from qa.types import Article, Passage, Sentence

_T = TypeVar("_T")
MMAP_PASSAGES = 200_000  # indexes this large keep their float16 vectors memory-mapped


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
    check_files(build, manifest, verify_hashes if verify_hashes is not None else total < 64 << 20)
    if check_model:
        check_embedding_model(build, manifest)

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
        raise IndexLoadError(f"{path} is corrupt ({err}); {REBUILD_HINT}") from err

    srows = load_npy(build / "sentences.npy", np.int64, 3)
    prows = load_npy(build / "passages.npy", np.int64, 4)
    big = int(manifest["counts"].get("passages", 0)) >= MMAP_PASSAGES
    if mmap is None:
        mmap = big or Settings().mmap
    sv = load_npy(build / "sentence_vectors.npy", np.float32, mmap=mmap)
    pv = load_npy(build / "passage_vectors.npy", np.float32, mmap=mmap)
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
                f"(count mismatch); {REBUILD_HINT}"
            )
    check_rows(build, articles, srows, prows)
    for name, arr in (("sentence_vectors.npy", sv), ("passage_vectors.npy", pv)):
        if arr.ndim != 2 or (len(arr) and arr.shape[1] != dim):
            raise IndexLoadError(
                f"{build / name} has shape {arr.shape}, model dimension is {dim}; {REBUILD_HINT}"
            )
        if not mmap and not np.isfinite(arr).all():  # (memory-mapped ones are not scanned)
            raise IndexLoadError(f"{build / name} holds NaN or infinite values; {REBUILD_HINT}")
    try:
        faiss_index: Any = faiss.read_index(str(build / "passages.faiss"))
    except RuntimeError as err:
        raise IndexLoadError(
            f"{build / 'passages.faiss'} is unreadable (truncated or corrupt); {REBUILD_HINT}"
        ) from err
    if faiss_index.ntotal != len(prows) or faiss_index.d != dim:
        raise IndexLoadError(
            f"{build / 'passages.faiss'} holds {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}, expected {len(prows)} of {dim}; {REBUILD_HINT}"
        )
    kind = str(manifest["faiss"]["kind"])
    settings = knobs(kind, manifest["faiss"].get("params", {}))
    if search_params:
        settings.update({k: int(v) for k, v in search_params.items()})
    faiss_index = DenseIndex(faiss_index, kind, pv, settings)
    try:
        bm25 = bm25s.BM25.load(str(build / "bm25"), mmap=False)
    except Exception as err:  # bm25s raises assorted errors on broken files
        raise IndexLoadError(f"{build / 'bm25'} is unreadable ({err}); {REBUILD_HINT}") from err

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
            f"{build}: passages point outside the article table; {REBUILD_HINT}"
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

"""Hybrid passage retrieval: dense (FAISS over MiniLM vectors) and BM25 (bm25s), fused."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from qa.index.store import Index
from qa.ingest.text import analyze

MASK_CACHE = 256  # filter masks kept (a story page's scope is one)


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some articles (by outlet, date range or id)."""

    sources: tuple[str, ...] = ()
    date_from: str = ""
    date_to: str = ""
    article_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to or self.article_ids)

    def allows(self, meta: dict[str, str]) -> bool:
        if self.article_ids and meta["id"] not in self.article_ids:
            return False
        if self.sources and meta["source"].lower() not in {s.lower() for s in self.sources}:
            return False
        date = meta["date"]
        if (self.date_from or self.date_to) and not date:
            return False
        if self.date_from and date < self.date_from:
            return False
        return not (self.date_to and date > self.date_to)


@dataclass(frozen=True)
class Hit:
    passage: int
    score: float  # fused, in [0, 1]-ish
    dense: float  # cosine similarity
    lexical: float  # BM25 normalised by the best BM25 score of this query


class HybridRetriever:
    """Dense and BM25 candidates, merged with a convex combination of their scores.

    Dense scores are cosines (comparable across queries); BM25 scores are divided by the best
    BM25 score among the query's candidates, so both live in [0, 1].
    """

    # depth: candidates from each side; 100 rather than 40 lets a passage that is fair on both
    # sides reach the top in a large archive (squad2-dev-5 in the 40,000-passage archive:
    # answered right 0.736 -> 0.745 with 20 passages read; unchanged on its own articles)
    def __init__(self, index: Index, dense_weight: float = 0.6, depth: int = 100) -> None:
        self.index = index
        self.dense_weight = dense_weight
        self.depth = depth
        # filters -> passage mask; bounded, since every story page's widget asks with its own
        self._allowed_cache: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _allowed(self, filters: Filters) -> np.ndarray:
        with self._lock:
            mask = self._allowed_cache.get(filters)
            if mask is not None:
                self._allowed_cache.move_to_end(filters)
                return mask
        ok_articles = {a.id for a in self.index.articles if filters.allows(a.meta())}
        mask = np.array([p.article_id in ok_articles for p in self.index.passages], dtype=bool)
        with self._lock:
            self._allowed_cache[filters] = mask
            if len(self._allowed_cache) > MASK_CACHE:
                self._allowed_cache.popitem(last=False)
        return mask

    def search(
        self, query: str, qvec: np.ndarray, k: int = 8, filters: Filters | None = None
    ) -> list[Hit]:
        n = len(self.index.passages)
        if n == 0:
            return []
        depth = min(n, max(self.depth, k))
        mask = self._allowed(filters) if filters else None
        if mask is not None and not mask.any():
            return []

        dense: dict[int, float] = {}
        if mask is None:
            scores, ids = self.index.faiss_index.search(qvec.reshape(1, -1), depth)
        else:
            import faiss

            allowed = np.flatnonzero(mask).astype(np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))  # type: ignore[call-arg]
            scores, ids = self.index.faiss_index.search(
                qvec.reshape(1, -1), min(depth, len(allowed)), params=params
            )
        for pid, score in zip(ids[0], scores[0], strict=True):
            if pid >= 0:
                dense[int(pid)] = float(score)

        lexical: dict[int, float] = {}
        tokens = [t for t in analyze(query) if t in self.index.bm25.vocab_dict]
        if tokens:
            bm = self.index.bm25.get_scores(tokens)
            if mask is not None:
                bm = np.where(mask, bm, 0.0)
            top = np.argpartition(-bm, min(depth, n) - 1)[:depth]
            best = float(bm[top].max()) if len(top) else 0.0
            if best > 0:
                for pid in top:
                    if bm[pid] > 0:
                        lexical[int(pid)] = float(bm[pid]) / best

        # dense scores for lexical-only candidates, straight from the stored vectors
        missing = [p for p in lexical if p not in dense]
        if missing:
            sims = self.index.passage_vectors[missing] @ qvec.reshape(-1)
            dense.update({p: float(s) for p, s in zip(missing, sims, strict=True)})

        w = self.dense_weight
        hits = [
            Hit(
                pid,
                w * dense[pid] + (1 - w) * lexical.get(pid, 0.0),
                dense[pid],
                lexical.get(pid, 0.0),
            )
            for pid in dense
        ]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

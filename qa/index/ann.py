"""The passage vector index: exact (flat) or approximate (HNSW, or IVF with product quantisation).

* ``flat`` — exact inner product (cosine: vectors are normalised). The default below
  :data:`APPROX_THRESHOLD` passages, so small corpora (the bundled one) stay exact.
* ``hnsw`` — ``IndexHNSWFlat`` (M=32): a graph over the full vectors; fast and accurate, ~1.8 kB
  per passage in RAM at 384 dimensions (vectors + links). The default above the threshold.
* ``ivfpq`` — IVF lists plus product-quantised codes, trained on a sample: by default
  ``IndexIVFPQFastScan`` with ``dim / 2`` four-bit codes (96 bytes a passage at 384-d);
  ``fastscan=False`` gives the classic 8-bit ``IndexIVFPQ``. The top ``k * refine`` candidates
  are re-scored exactly against the stored float16 vectors (memory-mapped), which restores
  recall at a small cost.

Search-time knobs (``efSearch``, ``nprobe``, ``refine``) are stored in the manifest, can be set by
``qa index --ef-search/--nprobe/--refine`` without rebuilding, and overridden at load time by the
environment variables ``QA_EF_SEARCH``, ``QA_NPROBE`` and ``QA_REFINE``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import QAError

FAISS_KINDS = ("auto", "flat", "hnsw", "ivfpq")
APPROX_THRESHOLD = 200_000  # passages; above this "auto" picks an approximate index
KNOBS = {"hnsw": ("efSearch",), "ivfpq": ("nprobe", "refine")}
ADD_BATCH = 65_536
DRIFT_LIMIT = 0.05  # retrain IVF when new vectors fit the centroids this much worse (cosine)
GROWTH_LIMIT = 4.0  # ... or when the index has grown this many times since training
REFINE = 20  # IVF-PQ: candidates re-scored exactly, as a multiple of k
FASTSCAN = True  # IVF-PQ default: 4-bit fast-scan PQ (True) or classic 8-bit PQ (False)


def faiss_kind(kind: str, n: int) -> str:
    if kind not in FAISS_KINDS:
        raise QAError(f"unknown FAISS index kind {kind!r}; use one of {', '.join(FAISS_KINDS)}")
    if kind == "auto":
        return "flat" if n < APPROX_THRESHOLD else "hnsw"
    return kind


def _f32(rows: Any) -> np.ndarray:
    return np.ascontiguousarray(rows, dtype=np.float32)


def _sample(vectors: Any, size: int, seed: int = 0) -> np.ndarray:
    n = len(vectors)
    if n <= size:
        return _f32(vectors[:])
    idx = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return _f32(vectors[idx])


def _add(index: Any, vectors: Any, start: int = 0) -> None:
    for lo in range(start, len(vectors), ADD_BATCH):
        index.add(_f32(vectors[lo : lo + ADD_BATCH]))


def ivf_fit(index: Any, sample: np.ndarray) -> float:
    """Mean cosine of vectors to their nearest IVF centroid: how well the training still fits."""
    if not len(sample):
        return 1.0
    scores, _ = index.quantizer.search(_f32(sample), 1)
    return float(scores[:, 0].mean())


def new_index(dim: int, n: int, kind: str, params: dict[str, Any]) -> Any:
    """An empty (untrained) FAISS index of ``kind`` for about ``n`` vectors."""
    import faiss

    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    index: Any
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(params.get("M", 32)), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params.get("efConstruction", 80))
        index.hnsw.efSearch = int(params.get("efSearch", 128))
        return index
    if kind == "ivfpq":
        nlist = int(params.get("nlist", max(1, min(16_384, int(4 * np.sqrt(max(n, 1)))))))
        nlist = max(1, min(nlist, n // 39 or 1))
        fastscan = bool(params.get("fastscan", FASTSCAN))
        # fast scan: dim / 2 four-bit codes (96 bytes at 384-d); classic: 48 eight-bit codes
        default_m = dim // 2 if fastscan else (48 if dim % 48 == 0 else 32)
        m = int(params.get("m", default_m))
        if dim % m:
            raise QAError(f"PQ sub-quantisers m={m} must divide the dimension {dim}")
        quantizer = faiss.IndexFlatIP(dim)
        if fastscan:
            # 4-bit codes scanned with SIMD lookups ("fast scan"): m / 2 bytes a vector
            index = faiss.IndexIVFPQFastScan(
                quantizer, dim, nlist, m, 4, faiss.METRIC_INNER_PRODUCT
            )
        else:
            # 8-bit codebooks want 39 * 256 training vectors; small corpora get smaller ones
            auto_bits = max(4, min(8, int(np.log2(max(n, 16) / 39)) if n < 256 * 39 else 8))
            nbits = int(params.get("nbits", auto_bits))
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = int(params.get("nprobe", min(nlist, max(16, nlist // 16))))
        index.cp.min_points_per_centroid = 1  # small corpora: no "too few points" warnings
        index.pq.cp.min_points_per_centroid = 1
        return index
    raise QAError(f"unknown FAISS index kind {kind!r}")  # pragma: no cover


def make_faiss_index(vectors: np.ndarray, kind: str, params: dict[str, Any]) -> Any:
    """Build a FAISS inner-product index over ``vectors`` (trained on a sample if needed)."""
    index, _ = build_vector_index(vectors, kind, params)
    return index


def build_vector_index(
    vectors: Any,
    kind: str,
    params: dict[str, Any],
    *,
    previous: Any = None,
    previous_info: dict[str, Any] | None = None,
    keep_prefix: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """The vector index over ``vectors`` (an array or a float16 memmap, added in batches) and
    its manifest record. ``previous`` (same kind) is reused: its first ``keep_prefix`` vectors
    are still the first ones here, so only the rest is added; an IVF-PQ index keeps its trained
    centroids and codebooks unless the new vectors drifted (then it is retrained, and says so).
    """
    n, dim = len(vectors), vectors.shape[1]
    training: dict[str, Any] = {}
    prev_training = (previous_info or {}).get("training", {})
    index = None
    if previous is not None and previous.d == dim:
        if kind == "ivfpq":
            sample = _sample(vectors, 20_000, seed=1)
            fit = ivf_fit(previous, sample)
            trained_fit = float(prev_training.get("fit", fit))
            trained_n = int(prev_training.get("vectors", previous.ntotal) or 1)
            if trained_fit - fit > DRIFT_LIMIT:
                training["retrained"] = (
                    f"vectors drifted: centroid fit {fit:.3f} vs {trained_fit:.3f} at training"
                )
            elif n > GROWTH_LIMIT * trained_n:
                training["retrained"] = f"index grew from {trained_n} to {n} vectors"
            else:
                index = previous
                training = {**prev_training, "reused": True, "fit_now": round(fit, 4)}
        elif kind in ("hnsw", "flat") and keep_prefix:
            index = previous
        if index is not None:
            if keep_prefix and index.ntotal >= keep_prefix:
                if index.ntotal > keep_prefix:
                    if kind == "hnsw":  # a graph cannot drop nodes: rebuild it
                        index = None
                    else:
                        index.remove_ids(np.arange(keep_prefix, index.ntotal, dtype=np.int64))
                if index is not None:
                    _add(index, vectors, keep_prefix)
            elif kind == "ivfpq":
                index.reset()  # keeps centroids and codebooks
                _add(index, vectors)
            else:
                index = None
    if index is None:
        index = new_index(dim, n, kind, params)
        if kind == "ivfpq":
            size = max(index.nlist * 39, 256 * 39, int(params.get("train_size", 0)))
            sample = _sample(vectors, min(n, size))
            index.train(sample)
            training.update(
                vectors=n, sample=len(sample), fit=round(ivf_fit(index, sample[:20_000]), 4)
            )
        _add(index, vectors)
    if kind == "ivfpq":
        for knob in ("nprobe",):
            if knob in params:
                index.nprobe = int(params[knob])
    if kind == "hnsw" and "efSearch" in params:
        index.hnsw.efSearch = int(params["efSearch"])
    info = {"kind": kind, "params": describe(index, kind, params)}
    if training:
        info["training"] = training
    return index, info


def describe(index: Any, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    if kind == "hnsw":
        return {
            "M": int(params.get("M", 32)),
            "efConstruction": index.hnsw.efConstruction,
            "efSearch": index.hnsw.efSearch,
        }
    if kind == "ivfpq":
        return {
            "nlist": index.nlist,
            "m": index.pq.M,
            "nbits": index.pq.nbits,
            "fastscan": "FastScan" in type(index).__name__,
            "nprobe": index.nprobe,
            "refine": int(params.get("refine", REFINE)),
        }
    return {}


def knobs(kind: str, params: dict[str, Any]) -> dict[str, int]:
    """The search-time knobs in force: the manifest's, overridden by the environment."""
    out = {k: int(params[k]) for k in KNOBS.get(kind, ()) if k in params}
    try:
        settings = Settings()
    except ValueError as err:  # a knob that is not a whole number
        raise QAError(str(err)) from err
    forced = {"efSearch": settings.ef_search, "nprobe": settings.nprobe, "refine": settings.refine}
    for k in KNOBS.get(kind, ()):
        if forced[k]:
            out[k] = forced[k]
    return out


class DenseIndex:
    """A FAISS index as the retriever uses it, for any kind: ``search(x, k, params=)`` accepts a
    plain ``faiss.SearchParameters(sel=...)`` (ID filtering) and turns it into the HNSW or IVF
    parameters the index needs, keeping its efSearch/nprobe. For IVF-PQ the candidates are
    re-scored exactly against the stored vectors. Other attributes pass through to FAISS."""

    def __init__(
        self,
        index: Any,
        kind: str,
        vectors: Any = None,
        knobs: dict[str, int] | None = None,
    ) -> None:
        self.index = index
        self.kind = kind
        self.vectors = vectors
        knobs = knobs or {}
        if kind == "hnsw" and "efSearch" in knobs:
            index.hnsw.efSearch = knobs["efSearch"]
        if kind == "ivfpq" and "nprobe" in knobs:
            index.nprobe = knobs["nprobe"]
        self.refine = int(knobs.get("refine", REFINE)) if kind == "ivfpq" else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)

    def _params(self, params: Any, k: int) -> Any:
        import faiss

        if params is None or self.kind == "flat":
            return params
        sel = getattr(params, "sel", None)
        p: Any
        if self.kind == "hnsw":
            p = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            p.efSearch = max(int(self.index.hnsw.efSearch), k)
        else:
            p = faiss.SearchParametersIVF()
            p.nprobe = int(self.index.nprobe)
        if sel is not None:
            p.sel = sel
        return p

    def search(self, x: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        x = _f32(x).reshape(-1, self.index.d)
        depth = k * self.refine if self.refine > 1 and self.vectors is not None else k
        depth = max(1, min(depth, self.index.ntotal))
        p = self._params(params, depth)
        if p is None:
            scores, ids = self.index.search(x, depth)
        else:
            scores, ids = self.index.search(x, depth, params=p)
        if depth == k or self.vectors is None:
            return scores, ids
        out_s = np.full((len(x), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(x), k), -1, dtype=np.int64)
        for row in range(len(x)):
            cand = ids[row][ids[row] >= 0]
            if not len(cand):
                continue
            order = np.argsort(cand)  # sorted reads from the memory map
            exact = _f32(self.vectors[cand[order]]) @ x[row]
            best = np.argsort(-exact)[:k]
            out_s[row, : len(best)] = exact[best]
            out_i[row, : len(best)] = cand[order][best]
        return out_s, out_i

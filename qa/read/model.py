"""The trained reader model on ONNX Runtime: for each (question, sentence) pair, a relevance
logit and the best short answer inside the sentence.

The model's files ship inside the package (``qa/read/models/reader/``) with a manifest of their
SHA-256 hashes, checked when the model is loaded. See that folder's ``README.md`` (the model
card) and :mod:`qa.training.reader` for how it is made.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import QAError
from qa.hashing import file_sha256
from qa.read.encoding import encode_pairs, load_tokenizer

MAX_ANSWER_TOKENS = 30  # the longest short answer considered, in word pieces


class ModelFileError(QAError):
    """A shipped model file is missing or does not match its recorded hash."""


def model_dir() -> Path:
    """Where the shipped reader model lives (package data)."""
    return Path(str(resources.files("qa.read") / "models" / "reader"))


@dataclass(frozen=True)
class Reading:
    """The model's reading of one sentence for one question."""

    relevance: float  # logit: this sentence answers the question
    span_score: float  # start + end logit of the best short answer
    start: int  # character offsets of the short answer in the sentence (-1: none)
    end: int


class ReaderModel:
    """Loads the ONNX model once; :meth:`read` scores a batch of pairs. Thread-safe."""

    def __init__(
        self, folder: Path | None = None, threads: int | None = None, verify: bool = True
    ) -> None:
        import onnxruntime as ort

        self.folder = folder or model_dir()
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file():
            raise ModelFileError(f"the reader model is missing: no {manifest_path}")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        for name, digest in self.manifest["files"].items():
            path = self.folder / name
            if not path.is_file():
                raise ModelFileError(f"the reader model file {path} is missing")
            if verify and file_sha256(path) != digest:
                raise ModelFileError(
                    f"the reader model file {path} does not match its recorded SHA-256; "
                    "reinstall the package or retrain with `qa train reader`"
                )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or Settings().reader_threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.folder / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = load_tokenizer(self.folder / "tokenizer.json")
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "reader"))

    def read(self, question: str, titles: list[str], sentences: list[str]) -> list[Reading]:
        """Score each sentence (with its article's title) against ``question``."""
        if not sentences:
            return []
        with self._lock:
            batch = encode_pairs(self.tokenizer, [question] * len(sentences), titles, sentences)
        start, end, rel = self.session.run(
            None,
            {
                "input_ids": batch.input_ids,
                "attention_mask": batch.attention_mask,
                "token_type_ids": batch.token_type_ids,
            },
        )
        return [
            _best_span(start[i], end[i], batch.offsets[i], float(rel[i]))
            for i in range(len(sentences))
        ]


@functools.cache
def default_model() -> ReaderModel:
    """The shipped model, loaded once per process (every index's reader shares it)."""
    return ReaderModel()


def _best_span(start: np.ndarray, end: np.ndarray, offsets: np.ndarray, rel: float) -> Reading:
    """The highest-scoring (start ≤ end, at most MAX_ANSWER_TOKENS long) span among the
    sentence's own tokens."""
    ok = np.flatnonzero(offsets[:, 0] >= 0)
    if not len(ok):
        return Reading(rel, float("-inf"), -1, -1)
    s = start[ok]
    e = end[ok]
    n = len(ok)
    grid = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    grid = np.where((j >= i) & (j - i < MAX_ANSWER_TOKENS), grid, -np.inf)
    a, b = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return Reading(rel, float(grid[a, b]), int(offsets[ok[a], 0]), int(offsets[ok[b], 1]))

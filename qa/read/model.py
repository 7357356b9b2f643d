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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import QAError
from qa.hashing import first_bad_file
from qa.read.encoding import Batch, encode_pairs, load_tokenizer

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


def blend(as_asked: Reading, in_context: Reading) -> Reading:
    """One sentence's reading for a follow-up read twice: its relevance the mean of the two
    readings', its short answer the one read as asked (what the follow-up itself asks for)."""
    relevance = (as_asked.relevance + in_context.relevance) / 2
    return Reading(relevance, as_asked.span_score, as_asked.start, as_asked.end)


class ReaderModel:
    """Loads the ONNX model once; :meth:`read` scores pairs. Thread-safe.

    Each pair runs alone (no padding), on one thread, ``threads`` pairs at a time (one pool of
    threads for all callers): the int8 model quantises activations with one scale per call, so a
    pair read beside others would get a relevance up to ~0.7 logit (0.19 on average) different
    from the same pair read alone, and which sentences happen to be read together would change
    the answer. Alone, a pair's reading depends on nothing but the pair, as in training and
    calibration."""

    def __init__(
        self, folder: Path | None = None, threads: int | None = None, verify: bool = True
    ) -> None:
        import onnxruntime as ort

        self.folder = folder or model_dir()
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file():
            raise ModelFileError(f"the reader model is missing: no {manifest_path}")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        bad = first_bad_file(self.folder, self.manifest["files"], verify)
        if bad is not None and bad[1] == "missing":
            raise ModelFileError(f"the reader model file {bad[0]} is missing")
        if bad is not None:
            raise ModelFileError(
                f"the reader model file {bad[0]} does not match its recorded SHA-256; "
                "reinstall the package or retrain with `qa train reader`"
            )
        self.workers = max(1, threads or Settings().reader_threads)
        # one pool for every caller: questions answered at once share these threads instead of
        # each bringing its own, so the model never runs on more threads than ``threads``
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qa-reader")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
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
        if len(sentences) == 1:
            return [self._read_one(batch, 0)]
        return list(self._pool.map(lambda i: self._read_one(batch, i), range(len(sentences))))

    def logits(self, batch: Batch) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Each pair's start and end logits (over its own tokens, without padding) and its
        relevance logit, every pair read alone: what a smaller reader learns from in
        distillation (:mod:`qa.training.reader`)."""
        return list(self._pool.map(lambda i: self._run(batch, i), range(len(batch.input_ids))))

    def _run(self, batch: Batch, i: int) -> tuple[np.ndarray, np.ndarray, float]:
        n = int(batch.attention_mask[i].sum())  # the pair's own tokens, without padding
        start, end, rel = self.session.run(
            None,
            {
                "input_ids": batch.input_ids[i : i + 1, :n],
                "attention_mask": batch.attention_mask[i : i + 1, :n],
                "token_type_ids": batch.token_type_ids[i : i + 1, :n],
            },
        )
        return start[0], end[0], float(rel[0])

    def _read_one(self, batch: Batch, i: int) -> Reading:
        start, end, rel = self._run(batch, i)
        return _best_span(start, end, batch.offsets[i, : len(start)], rel)


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

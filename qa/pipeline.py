"""The pipeline: question → (follow-up resolution) → hybrid retrieval → reader → Answer.

:class:`Assistant` is the Python API. The CLI, the batch runner, the HTTP API and the chat all
call it, so they all return the same :class:`~qa.types.Answer`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.embedder import Embedder, make_embedder
from qa.errors import IndexLoadError, QAError
from qa.index.build import BuildReport, build_index
from qa.index.stale import check_stale, ensure_fresh
from qa.index.store import Index, load_index
from qa.ingest.corpus import load_corpus
from qa.ingest.text import fold
from qa.questions import (
    QuestionInfo,
    analyze_question,
    is_name,
    person_asked_about,
    refers_to_answer,
)
from qa.read import LearnedReader, ReaderParams
from qa.retrieve.hybrid import Filters, HybridRetriever
from qa.types import Answer

log = logging.getLogger(__name__)

# questions of one ``ask_many`` answered at a time: while some questions' sentences are read
# (ONNX Runtime, outside the GIL), the others' search and candidates run, so the reader's two
# threads always have pairs to read. One question alone left a core idle (51 -> 66 distinct
# questions/s with 2, when every question read 3 sentences); since most questions read one or
# two (the read gap), 3 at a time keep the cores busier than 2 (1.89 cores against 1.80; 196-201
# against 184-191 distinct q/s on the bundled corpus, four alternating rounds; 4: 195-198)
ASK_MANY_AT_ONCE = 3


class Assistant:
    """Answers questions from one index. Thread-safe; load once, ask many times."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder | None = None,
        top_k: int = 6,
        query_cache: int = 2048,
        reader_params: ReaderParams | None = None,
        min_confidence: float | None = None,
    ) -> None:
        """``min_confidence`` replaces the reader's abstention threshold (chosen on validation,
        see docs/reader.md): the assistant answers only at that confidence or above."""
        self.index = index
        self.query_cache = query_cache  # how many question vectors to remember (0: none)
        self.embedder = embedder or make_embedder(index.model_name)
        if self.embedder.name != index.model_name:
            raise IndexLoadError(
                f"the index at {index.path} was built with {index.model_name}, "
                f"not {self.embedder.name}; rebuild it with `qa index --rebuild`"
            )
        self.retriever = HybridRetriever(index)
        if min_confidence is not None:
            if not 0.0 <= min_confidence <= 1.0:
                raise QAError(f"min_confidence must be from 0 to 1, got {min_confidence}")
            params = reader_params or ReaderParams.load()
            reader_params = replace(params, threshold=float(min_confidence))
        self.min_confidence = min_confidence
        self.reader = LearnedReader(index, params=reader_params)
        fitted_on = self.reader.params.fitted.get("models", {}).get("embedder")
        if fitted_on and fitted_on != index.model_name and not index.model_name.startswith("hash"):
            # an index from before the shipped embedder, say: it works, but the first stage and
            # the confidence were fitted on other cosines
            log.warning(
                "the index at %s was built with %s, but the reader's parameters were fitted on "
                "the vectors of %s: rebuild it with `qa index` for the answers and confidences "
                "they were measured with",
                index.path,
                index.model_name,
                fitted_on,
            )
        self.top_k = top_k
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def load(cls, index_dir: str | Path, *, stale: str = "error", **kwargs: Any) -> Assistant:
        """Load an index. ``stale``: "error" raises when articles changed since the build,
        "ignore" does not check."""
        index = load_index(index_dir)
        if stale == "error":
            ensure_fresh(index)
        return cls(index, **kwargs)

    @classmethod
    def ensure(
        cls,
        corpus: Sequence[str | Path],
        index_dir: str | Path,
        *,
        model: str = "minilm",
        progress: bool = True,
        **kwargs: Any,
    ) -> Assistant:
        """Load the index for ``corpus``, building or refreshing it first when it is missing,
        stale or built with another embedding model than ``model`` (the bundled corpus's
        first-use path)."""
        try:
            index = load_index(index_dir)
            if index.model_name == make_embedder(model).name and not check_stale(index):
                return cls(index, **kwargs)
        except IndexLoadError:
            pass
        refresh(corpus, index_dir, model=model, progress=progress)
        return cls(load_index(index_dir), **kwargs)

    # -- asking -----------------------------------------------------------------------------------
    def is_cached(self, query: str) -> bool:
        """Whether the vector of ``query`` is in the question-vector cache."""
        with self._cache_lock:
            return query in self._cache

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out: list[np.ndarray | None] = []
        todo: list[int] = []
        with self._cache_lock:
            for i, t in enumerate(texts):
                vec = self._cache.get(t)
                if vec is not None:
                    self._cache.move_to_end(t)
                else:
                    todo.append(i)
                out.append(vec)
        if todo:
            vecs = self.embedder.encode([texts[i] for i in todo])
            with self._cache_lock:
                for i, vec in zip(todo, vecs, strict=True):
                    out[i] = vec
                    if self.query_cache > 0:
                        self._cache[texts[i]] = vec
                        if len(self._cache) > self.query_cache:
                            self._cache.popitem(last=False)
        return np.vstack([v for v in out if v is not None])

    def ask(
        self,
        question: str,
        history: Any = None,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        prefer: Sequence[str] = (),
        id: str = "",
    ) -> Answer:
        """Answer one question. ``history`` is a list of earlier questions or of
        ``{"role", "content"}`` messages. ``prefer``: article ids whose answer comes first (a
        story page), then the rest's; each citation says which (``in_story``). Raises
        :class:`~qa.errors.QuestionError` for an empty or over-long question."""
        t0 = time.perf_counter()
        info = self._analyze(question, history, filters)
        qvec = self._encode([info.query])[0]
        return self._finish(info, qvec, top_k, filters, id, t0, frozenset(prefer))

    def _analyze(self, question: Any, history: Any, filters: Filters | None = None) -> QuestionInfo:
        """The question read with its history. When a follow-up's "he" or "she" stands for
        the answer to the previous question ("Which prime minister did Ruto meet?" / "How
        many people did he say are displaced?"), that question is answered here to learn
        who: the person the chat showed (or the history's reply names), not Ruto."""
        info = analyze_question(question, history)
        if not (info.followup and refers_to_answer(info.text, info.previous)):
            return info
        named = person_asked_about(info.previous)
        if named:  # "Who is Garry Conille?": its answer describes him; "he" is the name
            return analyze_question(question, history, named)
        earlier = [{"role": r, "content": c} for r, c in info.earlier]
        try:
            # one level: the previous question is read with its own history as given
            prev_info = analyze_question(info.previous, earlier)
        except QAError:
            return info  # a broken earlier question only loses its help
        qvec = self._encode([prev_info.query])[0]
        prev = self._finish(prev_info, qvec, None, filters, "", time.perf_counter())
        name = prev.short_answer.strip(" ,.;:")
        if prev.abstained or not is_name(name):
            return info  # no one to put in its place: read in context
        if info.reply and fold(name) not in fold(info.reply):
            return info  # the conversation showed another answer
        return analyze_question(question, history, name)

    def _finish(
        self,
        info: Any,
        qvec: np.ndarray,
        top_k: int | None,
        filters: Filters | None,
        answer_id: str,
        t0: float,
        prefer: frozenset[str] = frozenset(),
    ) -> Answer:
        # the reader reads at least its own number of passages (settings.passages)
        k = max(1, min(50, top_k or self.top_k), self.reader.passages)
        hits = self.retriever.search(info.query, qvec, k=k, filters=filters)
        if prefer:  # the preferred articles' best passages first, then the rest's
            ids = tuple(sorted(prefer))
            story = replace(filters, article_ids=ids) if filters else Filters(article_ids=ids)
            if not (filters and filters.article_ids):
                first = self.retriever.search(info.query, qvec, k=k, filters=story)
                seen = {h.passage for h in first}
                hits = first + [h for h in hits if h.passage not in seen]
        # a follow-up read in context is also scored as asked (LearnedReader.candidates)
        asked_vec = self._encode([info.text])[0] if info.in_context else None
        answer = self.reader.read(
            info, qvec, hits, answer_id=answer_id, prefer=prefer, asked_vec=asked_vec
        )
        return _with_timing(answer, t0)

    def ask_many(
        self,
        questions: Iterable[str | dict[str, Any]],
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        prefer: Sequence[str] = (),
        batch_size: int = 64,
    ) -> list[Answer]:
        """Answer many questions; the twin of :meth:`ask` (``ask(q, **opts)`` equals
        ``ask_many([q], **opts)[0]`` but for the timing). Items are question strings or
        ``{"id", "question", "history"}`` dicts. A bad item gives an Answer with ``error`` set
        instead of stopping the run.

        Each distinct query is encoded once. The encoding runs ahead in a background thread
        (ONNX Runtime releases the GIL), so the next batch is encoded while the current questions
        are read, ``ASK_MANY_AT_ONCE`` of them at a time; answers come back in order."""
        prepared: list[tuple[str, str, Any]] = []
        for n, item in enumerate(questions, start=1):
            qid, history = str(n), None
            raw: Any = item
            if isinstance(item, dict):
                qid = str(item.get("id") or qid)
                raw, history = item.get("question"), item.get("history")
            try:
                prepared.append((qid, str(raw or ""), self._analyze(raw, history, filters)))
            except QAError as err:
                prepared.append((qid, str(raw or ""), err))
        slot: dict[str, int] = {}  # query text -> its row among the distinct queries
        for _, _, info in prepared:
            if not isinstance(info, QAError):
                slot.setdefault(info.query, len(slot))
        with _Vectors(self, list(slot), max(1, batch_size)) as vectors:

            def answer(item: tuple[str, str, QuestionInfo | QAError]) -> Answer:
                qid, raw, info = item
                if isinstance(info, QAError):
                    return error_answer(qid, raw, str(info))
                vec, share = vectors.get(slot[info.query])
                t1 = time.perf_counter() - share
                return self._finish(info, vec, top_k, filters, qid, t1, frozenset(prefer))

            if len(prepared) <= 1:
                return [answer(item) for item in prepared]
            with ThreadPoolExecutor(ASK_MANY_AT_ONCE, thread_name_prefix="qa-ask-many") as pool:
                return list(pool.map(answer, prepared))

    def warm_up(self, questions: Sequence[str] = ()) -> float:
        """Answer ``questions`` once (default: one built from the first article's title) so
        that ONNX Runtime's first run (~0.4 s) and the reader's first look at those articles
        are paid now, not by the first visitor of a server. Returns the seconds taken. Never
        raises: a failure is logged, the real questions will report it."""
        t0 = time.perf_counter()
        texts = [str(q) for q in questions if str(q).strip()]
        if not texts and self.index.articles:
            texts = [f"What happened: {self.index.articles[0].title}?"]
        try:
            for text in texts:
                self.ask(text)
        except Exception as err:  # a warm-up must not stop a server from starting
            log.warning("warm-up failed: %s", err)
        return time.perf_counter() - t0

    def describe(self) -> dict[str, Any]:
        return self.index.describe()


class _Vectors:
    """Question vectors for :meth:`Assistant.ask_many`, encoded in batches of ``batch_size``
    texts, in order, by one background thread (the first batch too, so reading starts as soon as
    it is done). ``get(i)`` waits for the batch holding text ``i`` and returns the vector and
    that batch's encode time per text. The thread stops at the first failure (``get`` raises
    it) and when the ``with`` block is left."""

    def __init__(self, assistant: Assistant, texts: list[str], batch_size: int) -> None:
        self._size = batch_size
        self._jobs: list[Future[tuple[np.ndarray, float]]] = [
            Future() for _ in range(0, len(texts), batch_size)
        ]
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        if len(self._jobs) <= 1:  # one batch: nothing to overlap it with
            for job in self._jobs:
                job.set_result(_timed(assistant, texts))
            return
        self._thread = threading.Thread(
            target=self._work, args=(assistant, texts), name="qa-encode", daemon=True
        )
        self._thread.start()

    def _work(self, assistant: Assistant, texts: list[str]) -> None:
        for n, job in enumerate(self._jobs):
            if self._stop.is_set():
                break
            lo = n * self._size
            try:
                job.set_result(_timed(assistant, texts[lo : lo + self._size]))
            except BaseException as err:  # handed to the reader of this batch
                job.set_exception(err)
                break
        for job in self._jobs:  # batches not encoded (a failure before them, or stopped)
            if not job.done():
                job.set_exception(RuntimeError("question encoding stopped"))

    def get(self, i: int) -> tuple[np.ndarray, float]:
        vecs, share = self._jobs[i // self._size].result()
        return vecs[i % self._size], share

    def __enter__(self) -> _Vectors:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


def _timed(assistant: Assistant, texts: list[str]) -> tuple[np.ndarray, float]:
    """The texts' vectors and the encode time per text (seconds)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0.0
    t0 = time.perf_counter()
    vecs = assistant._encode(texts)
    return vecs, (time.perf_counter() - t0) / len(texts)


def _with_timing(answer: Answer, t0: float) -> Answer:
    return replace(answer, timing_ms=(time.perf_counter() - t0) * 1000.0)


def error_answer(qid: str, question: str, error: str) -> Answer:
    return Answer(
        id=qid,
        question=question,
        answer="",
        short_answer="",
        abstained=True,
        confidence=0.0,
        error=error,
    )


def refresh(
    corpus: Sequence[str | Path],
    index_dir: str | Path,
    *,
    model: str = "minilm",
    skip_invalid: bool = False,
    rebuild: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> BuildReport:
    """Load the articles under ``corpus`` and build or update the index in ``index_dir``."""
    loaded = load_corpus(corpus, skip_invalid=skip_invalid)
    return build_index(
        loaded.articles,
        index_dir,
        inputs=list(corpus),
        model=model,
        rebuild=rebuild,
        progress=progress,
        **kwargs,
    )

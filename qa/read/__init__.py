"""The reader stage: given a question and the passages retrieval found, pick the sentence that
answers, decide whether the articles answer at all (a calibrated probability), and mark the
short answer. Learned from data: a MiniLM cross-encoder with a relevance and a span head
(:mod:`qa.read.model`), and two fitted linear scorers (:mod:`qa.read.scorer`).

May import: ``qa.types``, ``qa.errors``, ``qa.ingest.text``, ``qa.index.store``, ``qa.retrieve.hybrid``,
``qa.questions``. Never the pipeline or a surface.
"""

from qa.read.reader import LearnedReader, ReaderParams

__all__ = ["LearnedReader", "ReaderParams"]

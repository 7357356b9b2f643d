"""Ingestion: articles from files (Markdown, text, HTML, JSONL) to clean stored text, sentences
and passages. Owns the text clean-up and sentence splitter (:mod:`qa.ingest.text`), the loaders
(:mod:`qa.ingest.corpus`), chunking into passages and the token counter.

May import: ``qa.types``, ``qa.errors``, ``qa.config``. Nothing else of ``qa``.
"""

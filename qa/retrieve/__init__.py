"""Retrieval: dense (FAISS) and BM25 passage candidates for a question, fused, with filters by
outlet, date and article.

May import: ``qa.index``, ``qa.ingest``, ``qa.types``.
"""

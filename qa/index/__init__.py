"""The index: building it from articles (streamed in shards, optionally on Ray), its on-disk
format with a manifest that describes it, loading and verifying it, staleness, and the
approximate FAISS indexes for large collections.

May import: ``qa.ingest``, ``qa.embed``, ``qa.types``, ``qa.errors``, ``qa.config``.
"""

"""The index: building it from articles (streamed in shards, optionally on Ray), its on-disk
format with a manifest that describes it, loading and verifying it, staleness, and the
approximate FAISS indexes for large collections.

Modules, each importing only those above it:

- ``ann``: the FAISS index kinds (flat, HNSW, IVF-PQ), their training and knobs;
- ``format``: file names, the manifest, ``CURRENT``, durable writes and reading arrays;
- ``verify``: a build's integrity (files, sizes, hashes, tables, model);
- ``store``: :class:`~qa.index.store.Index` and :func:`~qa.index.store.load_index`;
- ``stale``: which article files changed since a build;
- ``shards``, ``distributed``: chunking and embedding into shards, locally or on Ray;
- ``build``: :func:`~qa.index.build.build_index`, the lock, the merge and the atomic swap;
- ``updater``: one queued writer applying pushed changes to a live index.

May import: ``qa.ingest``, ``qa.embed``, ``qa.types``, ``qa.errors``, ``qa.config``.
"""

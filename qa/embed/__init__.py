"""Embedding: all-MiniLM-L6-v2 on ONNX Runtime with int8 weights (exported once from the
packaged torch weights and checked against them), a torch fallback, and a fast hashing embedder
for tests.

May import: ``qa.errors``, ``qa.config``.
"""

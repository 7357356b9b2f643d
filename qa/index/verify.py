"""Verification of a build's integrity: every file the manifest lists is there with its size
(and, when asked, its SHA-256), the sentence and passage tables stay inside their articles, and
the installed embedding model is the one the index was built with. Each failure is an
:class:`~qa.errors.IndexLoadError` naming the broken file. Staleness against the article files
is :mod:`qa.index.stale`.

May import: ``qa.index.format``, ``qa.embed``, ``qa.hashing``, ``qa.errors``, ``qa.types``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.embedder import make_embedder
from qa.errors import IndexLoadError, QAError
from qa.hashing import file_sha256
from qa.index.format import REBUILD_HINT, REQUIRED_FILES
from qa.types import Article


def check_files(
    build: Path,
    manifest: dict[str, Any],
    verify_hashes: bool,
    required: Sequence[str] = (*REQUIRED_FILES, "bm25/"),
) -> None:
    listed = manifest["files"]
    for rel in required:
        if not any(k == rel or (rel.endswith("/") and k.startswith(rel)) for k in listed):
            raise IndexLoadError(
                f"{build / 'manifest.json'} does not list {rel} (edited?); {REBUILD_HINT}"
            )
    for rel, info in listed.items():
        path = build / rel
        if not path.is_file():
            raise IndexLoadError(f"{path} is missing; {REBUILD_HINT}")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise IndexLoadError(
                f"{path} is {size} bytes but the manifest says {info.get('bytes')} "
                f"(truncated or modified); {REBUILD_HINT}"
            )
        if verify_hashes and file_sha256(path) != info.get("sha256"):
            raise IndexLoadError(
                f"{path} does not match its SHA-256 in the manifest (corrupted); {REBUILD_HINT}"
            )


def is_complete(build: Path, manifest: dict[str, Any]) -> bool:
    try:
        check_files(build, manifest, verify_hashes=False)
    except IndexLoadError:
        return False
    return True


def check_rows(build: Path, articles: list[Article], srows: np.ndarray, prows: np.ndarray) -> None:
    """Every sentence lies inside its article; every passage is a non-empty run of sentences of
    its own article (so a bad table fails here rather than quoting the wrong text)."""
    n_art = len(articles)
    lengths = np.array([len(a.text) for a in articles] or [0], dtype=np.int64)
    a, s, e = srows.reshape(-1, 3).T
    ok = (a >= 0) & (a < n_art) & (s >= 0) & (s <= e)
    ok &= e <= lengths[np.clip(a, 0, len(lengths) - 1)]
    if not ok.all():
        raise IndexLoadError(
            f"{build / 'sentences.npy'}: sentence {int(np.argmin(ok))} lies outside its "
            f"article; {REBUILD_HINT}"
        )
    pa, first, last = prows.reshape(-1, 4)[:, :3].T
    ok = (pa >= 0) & (pa < n_art) & (first >= 0) & (first < last) & (last <= len(srows))
    if ok.all() and len(prows):
        ok &= (a[first] == pa) & (a[last - 1] == pa)
    if not ok.all():
        raise IndexLoadError(
            f"{build / 'passages.npy'}: passage {int(np.argmin(ok))} does not match the sentence "
            f"table; {REBUILD_HINT}"
        )


def check_embedding_model(build: Path, manifest: dict[str, Any]) -> None:
    stored = manifest["model"]
    try:
        embedder = make_embedder(str(stored.get("name")))
    except (QAError, ValueError) as err:
        raise IndexLoadError(
            f"{build / 'manifest.json'}: the index was built with model {stored.get('name')!r}, "
            f"which cannot be used here ({err}); {REBUILD_HINT}"
        ) from err
    current = embedder.quick_identity() if hasattr(embedder, "quick_identity") else {}
    for key, value in current.items():
        # an index from before "precision" was recorded was built in float32
        had = stored.get(key, "float32" if key == "precision" else value)
        if had != value:
            raise IndexLoadError(
                f"{build / 'manifest.json'}: the index was built with model {stored.get('name')} "
                f"({key}={had}), but the installed model has {key}={value}; "
                f"{REBUILD_HINT}"
            )

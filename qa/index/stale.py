"""Staleness: the size and modification time of every article file a build read (recorded in
its manifest under ``sources``), and what changed in those folders since.

May import: ``qa.index.store`` (the loaded :class:`~qa.index.store.Index`), ``qa.ingest``,
``qa.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qa.errors import StaleIndexError
from qa.index.store import Index
from qa.ingest.corpus import iter_files


def source_files(inputs: Sequence[str | Path]) -> dict[str, dict[str, int]]:
    """Size and mtime of every article file under ``inputs`` (for staleness checks)."""
    out: dict[str, dict[str, int]] = {}
    for path, problem in iter_files(inputs):
        if problem is None:
            st = path.stat()
            out[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


def check_stale(index: Index) -> list[str]:
    """What changed in the indexed folders since the build (empty when up to date)."""
    sources = index.manifest.get("sources") or {}
    inputs = sources.get("inputs") or []
    if not inputs:
        return []
    recorded: dict[str, dict[str, int]] = sources.get("files", {})
    now = source_files(inputs)
    changes = [f"new: {p}" for p in sorted(set(now) - set(recorded))]
    changes += [f"deleted: {p}" for p in sorted(set(recorded) - set(now))]
    changes += [
        f"changed: {p}"
        for p in sorted(set(now) & set(recorded))
        if now[p]["size"] != recorded[p]["size"] or now[p]["mtime_ns"] != recorded[p]["mtime_ns"]
    ]
    return changes


def ensure_fresh(index: Index) -> None:
    changes = check_stale(index)
    if changes:
        listing = "; ".join(changes[:5]) + (
            f"; … {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        raise StaleIndexError(
            f"the index at {index.path.parent} is stale: articles changed since it was built "
            f"({listing}). Run `qa index {' '.join(index.manifest['sources']['inputs'])}` "
            "to update it."
        )

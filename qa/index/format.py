"""The on-disk format of an index: file names, the manifest, ``CURRENT``, and writing and
reading the files themselves (durably: fsync, then rename).

Layout of an index folder::

    index/
      CURRENT              name of the active build (replaced atomically)
      .lock                held while a build runs
      build-<stamp>/       one complete build
        manifest.json      describes everything below (format, model, tokenizer, counts, hashes)
        articles.jsonl     article metadata, fingerprints and stored text
        sentences.npy      int64 rows: article, start, end
        passages.npy       int64 rows: article, first sentence, last sentence + 1, tokens
        passage_vectors.npy / sentence_vectors.npy   float16 embeddings (reused by updates)
        passages.faiss     the FAISS index over passage vectors
        passage_terms*.npy, terms.json   analysed passage terms (updates reuse them)
        bm25/              bm25s index over passages

This module owns the names and the manifest's shape; it knows nothing of building, checking
contents or searching. May import: ``qa.errors`` only (no other ``qa.index`` module).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexLoadError

FORMAT = "qa-index"
# 2: clause vectors; 3: accent-free BM25 terms (qa.ingest.text.fold); 4: no clause vectors
FORMAT_VERSION = 4
REBUILD_HINT = "run `qa index --rebuild PATH...` to rebuild it"


REQUIRED_FILES = (
    "articles.jsonl",
    "sentences.npy",
    "passages.npy",
    "sentence_vectors.npy",
    "passage_vectors.npy",
    "passages.faiss",
    "passage_terms.npy",
    "passage_terms_offsets.npy",
    "terms.json",
)


# what an update takes from the current build (the rest it can make again)
REUSED_FILES = (
    "articles.jsonl",
    "sentences.npy",
    "passages.npy",
    "sentence_vectors.npy",
    "passage_vectors.npy",
)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def rewrite_manifest(build: Path, manifest: dict[str, Any]) -> None:
    tmp = build / f".manifest.{uuid.uuid4().hex[:8]}.tmp"
    write_json(tmp, manifest)
    os.replace(tmp, build / "manifest.json")


def read_current(index_dir: Path) -> str | None:
    path = index_dir / "CURRENT"
    try:
        name = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise IndexLoadError(f"{path} is unreadable ({err}); {REBUILD_HINT}") from err
    if not name:
        raise IndexLoadError(f"{path} is empty; {REBUILD_HINT}")
    return name


def swap_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex[:8]}"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / "CURRENT")
    fsync_dir(index_dir)


def current_build(index_dir: str | Path) -> Path:
    index_dir = Path(index_dir)
    name = read_current(index_dir)
    if name is None:
        if (index_dir / "manifest.json").is_file():  # a bare build folder given directly
            return index_dir
        raise IndexLoadError(
            f"no index in {index_dir} (missing {index_dir / 'CURRENT'}): "
            "run `qa index PATH...` to build one"
        )
    build = index_dir / name
    if "/" in name or "\0" in name or name in (".", "..") or not build.is_dir():
        raise IndexLoadError(
            f"{index_dir / 'CURRENT'} points to {name!r}, which does not exist; {REBUILD_HINT}"
        )
    return build


def read_manifest(build: Path) -> dict[str, Any]:
    path = build / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise IndexLoadError(f"{path} is missing; {REBUILD_HINT}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexLoadError(f"{path} is not valid JSON ({err}); {REBUILD_HINT}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexLoadError(f"{path} is not a qa index manifest; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        older = isinstance(version, int) and version < FORMAT_VERSION
        by = "an older" if older and not isinstance(version, bool) else "another"
        raise IndexLoadError(
            f"{path} has index format version {version!r}, this qa reads version "
            f"{FORMAT_VERSION} (the index was built by {by} qa); {REBUILD_HINT}"
        )
    for key in ("model", "counts", "files", "articles", "chunking", "faiss"):
        if not isinstance(manifest.get(key), dict):
            raise IndexLoadError(f"{path} lacks {key!r} (or it is not an object); {REBUILD_HINT}")
    model, counts = manifest["model"], manifest["counts"]
    if not isinstance(model.get("name"), str) or not _is_int(model.get("dimension")):
        raise IndexLoadError(f"{path}: 'model' needs a name and a dimension; {REBUILD_HINT}")
    for key in ("articles", "sentences", "passages"):
        if not _is_int(counts.get(key)):
            raise IndexLoadError(f"{path}: counts.{key} is not a number; {REBUILD_HINT}")
    for rel, info in manifest["files"].items():
        if not isinstance(info, dict) or not _is_int(info.get("bytes")):
            raise IndexLoadError(f"{path}: the entry for {rel!r} is malformed; {REBUILD_HINT}")
    if not isinstance(manifest["faiss"].get("kind"), str):
        raise IndexLoadError(f"{path}: faiss.kind is missing; {REBUILD_HINT}")
    return manifest


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_npy(path: Path, dtype: Any, cols: int | None = None, mmap: bool = False) -> np.ndarray:
    """Load a table; with ``mmap`` the array stays on disk in its stored dtype (float16
    vectors: 768 bytes per 384-d row, paged in on demand)."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Exception as err:  # OSError, ValueError, EOFError, tokenize.TokenError (bad header)
        raise IndexLoadError(f"{path} is unreadable ({err}); {REBUILD_HINT}") from err
    if cols is not None and (arr.ndim != 2 or arr.shape[1] != cols):
        raise IndexLoadError(f"{path} has shape {arr.shape}, expected (n, {cols}); {REBUILD_HINT}")
    if mmap:
        return np.asarray(arr)  # still the memory map (np.memmap is an ndarray)
    return np.ascontiguousarray(arr, dtype=dtype)

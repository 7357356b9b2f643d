"""SHA-256 of files, for the manifests that let an index and the shipped models check
themselves."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_bad_file(
    folder: Path, files: dict[str, str], verify: bool = True
) -> tuple[Path, str] | None:
    """The first of ``files`` (name → SHA-256, as a manifest records them) under ``folder`` that
    is "missing" or (with ``verify``) "altered", with which; None when all are as recorded."""
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return path, "missing"
        if verify and file_sha256(path) != digest:
            return path, "altered"
    return None

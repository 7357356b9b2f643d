"""Articles pushed to an index through the ingestion API (or removed with ``qa remove``).

Each pushed article is one JSONL file in the index folder's ``articles/`` (written to a temp file
and renamed, so a reader sees the old version or the new one), and the index build reads that
folder like any other article folder. qa owns these files; articles loaded from other files are
the newsroom's own and are changed there.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote, unquote

from qa.ingest.corpus import article_from_dict, article_to_json, parse_jsonl_line
from qa.types import Article

INBOX = "articles"  # the folder, inside an index folder


class Inbox:
    """The pushed articles of the index in ``index_dir``."""

    def __init__(self, index_dir: str | Path) -> None:
        self.folder = Path(index_dir) / INBOX
        self._lock = threading.Lock()

    def path(self, article_id: str) -> Path:
        # any id is a safe file name: percent-encoded, and never hidden (the loader skips those)
        name = quote(article_id, safe="")
        if name.startswith("."):
            name = "%2E" + name[1:]
        return self.folder / f"{name}.jsonl"

    def holds(self, article_id: str) -> bool:
        return self.path(article_id).is_file()

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(unquote(p.stem) for p in self.folder.glob("*.jsonl"))

    def get(self, article_id: str) -> Article | None:
        try:
            line = self.path(article_id).read_text(encoding="utf-8")
        except OSError:
            return None
        got = parse_jsonl_line(line, str(self.path(article_id)))
        return got if isinstance(got, Article) else None

    def put(self, article: Article) -> bool:
        """Store ``article`` (replacing the stored version); True when it replaced one."""
        # read back exactly as the build will read it (a malformed article never gets here)
        article_from_dict({**article.meta(), "text": article.text}, "(check)")
        target = self.path(article.id)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            existed = target.is_file()
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".put-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(article_to_json(article) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return existed

    def remove(self, article_id: str) -> bool:
        """Delete the stored article; False when there was none."""
        with self._lock:
            try:
                self.path(article_id).unlink()
            except FileNotFoundError:
                return False
        return True

    def inputs(self) -> list[str]:
        """The folder as a build input, when it holds articles (an empty folder is no input)."""
        return [str(self.folder)] if self.ids() else []


__all__ = ["INBOX", "Inbox"]

"""The assistant a server answers with, reloaded when `qa index` swaps the build: the new
build is loaded and warmed up completely in the background, then swapped in, so no request
sees a half-loaded index; and the bound on questions computed at once."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.errors import IndexLoadError
from qa.pipeline import Assistant
from qa.surfaces.web.examples import example_questions
from qa.types import Answer

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 1.0


class LiveAssistant:
    """Holds the serving :class:`Assistant` and swaps it for a new one when ``index_dir/CURRENT``
    names another build (checked at most every ``check_every`` seconds, on request).

    The new assistant is loaded completely in a background thread while the old one keeps
    answering; only then is the reference swapped, so no request sees a half-loaded index.
    ``max_concurrency`` bounds how many questions are computed at once, across every surface.
    """

    def __init__(
        self,
        assistant: Assistant,
        index_dir: str | Path | None = None,
        *,
        max_concurrency: int = 4,
        check_every: float = RELOAD_CHECK_SECONDS,
    ) -> None:
        self._assistant = assistant
        self.index_dir = Path(index_dir) if index_dir else _index_dir_of(assistant)
        self.check_every = check_every
        self.compute = threading.BoundedSemaphore(max(1, max_concurrency))
        self.loaded_at = time.time()
        self.reloads = 0
        self.last_error = ""
        self._build = assistant.index.path.name
        self._lock = threading.Lock()
        self._loading = False
        self._failed: tuple[str, int] | None = None
        self._last_check = time.monotonic()

    # the assistant to use for one request (never changes under it)
    @property
    def assistant(self) -> Assistant:
        self.maybe_reload()
        return self._assistant

    @property
    def build(self) -> str:
        return self._build

    def _current(self) -> tuple[str, int] | None:
        if self.index_dir is None:
            return None
        path = self.index_dir / "CURRENT"
        try:
            name = path.read_text(encoding="utf-8").strip()
            return (name, path.stat().st_mtime_ns) if name else None
        except OSError:
            return None

    def maybe_reload(self) -> None:
        """Start loading the new build in the background if CURRENT changed (rate-limited)."""
        now = time.monotonic()
        if self.index_dir is None or now - self._last_check < self.check_every:
            return
        with self._lock:
            if self._loading or now - self._last_check < self.check_every:
                return
            self._last_check = now
            current = self._current()
            if current is None or current[0] == self._build or current == self._failed:
                return
            self._loading = True
        threading.Thread(target=self._reload_in_background, args=(current,), daemon=True).start()

    def _reload_in_background(self, current: tuple[str, int]) -> None:
        try:
            self._swap(self._load())
        except Exception as err:  # keep serving the old index; retry when CURRENT changes
            self._failed = current
            self.last_error = f"reloading {current[0]} failed: {err}"
            log.warning(self.last_error)
        finally:
            with self._lock:
                self._loading = False

    def _load(self) -> Assistant:
        from qa.index.store import load_index

        if self.index_dir is None:
            raise IndexLoadError("this server was started without an index folder to reload")
        index = load_index(self.index_dir)
        old = self._assistant
        embedder = old.embedder if old.embedder.name == index.model_name else None
        new = Assistant(
            index,
            embedder=embedder,
            top_k=old.top_k,
            query_cache=old.query_cache,
            min_confidence=old.min_confidence,
        )
        new.warm_up(example_questions(new))  # before it serves, like the first build
        return new

    def _swap(self, new: Assistant) -> None:
        with self._lock:
            changed = new.index.path.name != self._build
            self._assistant = new
            self._build = new.index.path.name
            self._failed = None
            self.last_error = ""
            if changed:
                self.reloads += 1
                self.loaded_at = time.time()
                log.info("now serving %s", new.index.path)

    def reload(self) -> bool:
        """Load the current build now (blocking) and swap to it; True when it changed."""
        before = self._build
        self._swap(self._load())
        return self._build != before

    # -- asking (bounded) ----------------------------------------------------------------------
    def ask(self, question: str, history: Any = None, **kwargs: Any) -> Answer:
        assistant = self.assistant
        with self.compute:
            return assistant.ask(question, history, **kwargs)

    def ask_many(self, items: Sequence[str | dict[str, Any]], **kwargs: Any) -> list[Answer]:
        assistant = self.assistant
        with self.compute:
            return assistant.ask_many(items, **kwargs)

    def health(self) -> dict[str, Any]:
        from qa.index.stale import check_stale

        assistant = self.assistant
        info = assistant.describe()
        changes = check_stale(assistant.index)
        return {
            "status": "ok",
            "articles": info.get("articles"),
            "passages": info.get("passages"),
            "sentences": info.get("sentences"),
            "model": info.get("model"),
            "reader": assistant.reader.model.name,
            "min_confidence": assistant.reader.params.threshold,  # abstains below it
            "build": info.get("build"),
            "built_at": info.get("created"),
            "stale": bool(changes),
            "stale_changes": changes[:10],
            "index_dir": str(self.index_dir or assistant.index.path),
            "loaded_at": _iso(self.loaded_at),
            "reloads": self.reloads,
            "reload_error": self.last_error,
        }


def _index_dir_of(assistant: Assistant) -> Path | None:
    build = Path(assistant.index.path)
    return build.parent if (build.parent / "CURRENT").is_file() else None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")

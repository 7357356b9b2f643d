"""Applying article changes to a live index, one writer at a time.

The ingestion API (and ``qa remove``) first change the article files (:mod:`qa.ingest.inbox`),
then ask an :class:`IndexUpdater` for a build. One background thread runs the same incremental
build as ``qa index`` (only new or changed articles are embedded; the new build replaces the old
one atomically); changes that arrive while a build runs are applied together by the next one.
A caller waits for the build that covers its change, with a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.embed.embedder import Embedder
from qa.errors import (
    ArticleConflictError,
    ArticleNotFoundError,
    BuildBusyError,
    IndexLoadError,
    QAError,
)
from qa.index.build import BuildReport, build_index
from qa.index.format import current_build, read_manifest
from qa.index.store import Index
from qa.ingest.inbox import Inbox

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.5  # another builder (a `qa index` in a terminal) holds the lock


def build_inputs(index_dir: str | Path) -> list[str]:
    """What a build of ``index_dir`` reads: the inputs its current build recorded, and the
    pushed articles. Raises :class:`QAError` for an index built from articles in memory (no
    files to rebuild it from)."""
    inbox = Inbox(index_dir)
    try:
        manifest = read_manifest(current_build(Path(index_dir)))
    except IndexLoadError:
        return inbox.inputs()
    recorded = [p for p in (manifest.get("sources") or {}).get("inputs") or []]
    own = str(inbox.folder.resolve())
    inputs = [p for p in recorded if str(Path(p).resolve()) != own]
    if not inputs and set(manifest.get("articles") or {}) - set(inbox.ids()):
        raise QAError(
            f"the index at {index_dir} was not built from article files, so it cannot be "
            "updated article by article; build it with `qa index PATH...` first"
        )
    return inputs + inbox.inputs()


def check_pushed(index: Index | None, inbox: Inbox, article_id: str, *, must_exist: bool) -> None:
    """Whether ``article_id`` may be changed through qa: :class:`ArticleConflictError` when it
    comes from the newsroom's own files (changed there, not here), and, with ``must_exist``,
    :class:`ArticleNotFoundError` when qa holds no pushed article of that id."""
    if inbox.holds(article_id):
        return
    if index is not None and article_id in index.article_pos:
        raise ArticleConflictError(
            f"article {article_id!r} comes from {index.article(article_id).path}, which qa does "
            "not manage; change or delete that file and run `qa index`"
        )
    if must_exist:
        raise ArticleNotFoundError(f"no article {article_id!r}")


@dataclass(frozen=True)
class Outcome:
    """How the build that covered a change ended: its report, or the error."""

    report: BuildReport | None
    error: str = ""


class IndexUpdater:
    """Queues build requests for ``index_dir`` and runs them on one thread.

    ``on_build`` is called with each finished build's report (a server swaps to the new build
    there) before the waiting callers are released.
    """

    def __init__(
        self,
        index_dir: str | Path,
        embedder: Embedder,
        on_build: Callable[[BuildReport], None] | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self.on_build = on_build
        self._cond = threading.Condition()
        self._requested = 0  # tickets handed out
        self._built = 0  # every ticket up to this one is covered by a finished build
        self._outcomes: deque[tuple[int, Outcome]] = deque(maxlen=256)
        self._thread: threading.Thread | None = None
        self.builds = 0

    def request(self) -> int:
        """Ask for a build that includes every change made so far; returns a ticket."""
        with self._cond:
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="qa-index", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._requested

    def wait(self, ticket: int, timeout: float | None = None) -> Outcome | None:
        """The outcome of the build that covered ``ticket``; None if not done in time."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._built >= ticket, timeout):
                return None
            return next(o for t, o in self._outcomes if t >= ticket)

    def apply(self, timeout: float | None = None) -> Outcome | None:
        """Request a build and wait for it."""
        return self.wait(self.request(), timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._requested > self._built)
                target = self._requested
            outcome = self._build()
            with self._cond:
                self._outcomes.append((target, outcome))
                self._built = target
                self._cond.notify_all()

    def _build(self) -> Outcome:
        while True:
            try:
                report = build_index(
                    None,
                    self.index_dir,
                    inputs=build_inputs(self.index_dir),
                    embedder=self.embedder,
                    model=self.embedder.name,
                    progress=False,
                    skip_invalid=True,  # a broken file elsewhere must not block every change
                )
            except BuildBusyError:
                time.sleep(BUSY_RETRY_SECONDS)
                continue
            except Exception as err:
                log.exception("index update of %s failed", self.index_dir)
                return Outcome(None, str(err))
            for where, why in report.problems:
                log.warning("index update skipped %s: %s", where, why)
            self.builds += 1
            if self.on_build is not None:
                try:
                    self.on_build(report)
                except Exception as err:
                    log.exception("after the index update of %s", self.index_dir)
                    return Outcome(report, f"built, but not served yet: {err}")
            return Outcome(report)


__all__ = ["IndexUpdater", "Outcome", "build_inputs", "check_pushed"]

"""What readers asked and rated, and what editors changed, kept in SQLite for the editors' page.

One file, ``QA_DATA_DIR/qa.sqlite3`` (WAL, so the page reads while the server writes). Nothing
leaves the machine. With ``log_questions=False`` (``QA_LOG_QUESTIONS=0``) no question or answer
text is stored, only the counts (by day, surface and outcome). A ``feedback.jsonl`` from earlier
versions is imported once, then renamed ``feedback.jsonl.imported``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.types import Answer

DB_NAME = "qa.sqlite3"
LEGACY_FEEDBACK = "feedback.jsonl"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS asked (
    time TEXT NOT NULL, day TEXT NOT NULL, surface TEXT NOT NULL,
    question TEXT, abstained INTEGER NOT NULL, confidence REAL NOT NULL, answer TEXT,
    story TEXT
);
CREATE INDEX IF NOT EXISTS asked_day ON asked(day);
CREATE TABLE IF NOT EXISTS ratings (
    time TEXT NOT NULL, day TEXT NOT NULL, surface TEXT NOT NULL, rating TEXT NOT NULL,
    question TEXT, answer TEXT, short_answer TEXT, abstained INTEGER NOT NULL, citations TEXT
);
CREATE INDEX IF NOT EXISTS ratings_day ON ratings(day);
CREATE TABLE IF NOT EXISTS audit (
    time TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, article_id TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""

# the editors' reports: name -> (title, columns, SQL); each reads the last `days` days
REPORTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "daily": (
        "By day",
        ("day", "asked", "not found", "thumbs up", "thumbs down"),
        """SELECT day, SUM(asked), SUM(abstained), SUM(up), SUM(down) FROM (
             SELECT day, 1 AS asked, abstained, 0 AS up, 0 AS down FROM asked WHERE day >= :since
             UNION ALL
             SELECT day, 0, 0, rating = 'up', rating = 'down' FROM ratings WHERE day >= :since
           ) GROUP BY day ORDER BY day DESC""",
    ),
    "unanswered": (
        "Questions the articles could not answer",
        ("question", "times asked", "last asked"),
        """SELECT MIN(question), COUNT(*), MAX(time) FROM asked
           WHERE abstained = 1 AND question IS NOT NULL AND day >= :since
           GROUP BY LOWER(TRIM(question)) ORDER BY COUNT(*) DESC, MAX(time) DESC LIMIT :limit""",
    ),
    "disliked": (
        "Answers marked wrong",
        ("time", "question", "answer", "short answer", "sources", "surface"),
        """SELECT time, question, answer, short_answer, citations, surface FROM ratings
           WHERE rating = 'down' AND day >= :since ORDER BY rowid DESC LIMIT :limit""",
    ),
    "most_asked": (
        "Most asked",
        ("question", "times asked", "not found", "last asked"),
        """SELECT MIN(question), COUNT(*), SUM(abstained), MAX(time) FROM asked
           WHERE question IS NOT NULL AND day >= :since
           GROUP BY LOWER(TRIM(question)) ORDER BY COUNT(*) DESC, MAX(time) DESC LIMIT :limit""",
    ),
    "changes": (
        "Article changes",
        ("time", "who", "action", "article", "outcome"),
        """SELECT time, who, action, article_id, outcome FROM audit
           WHERE time >= :since ORDER BY rowid DESC LIMIT :limit""",
    ),
}


def _rating_row(row: dict[str, Any], day: str) -> tuple[Any, ...]:
    """A ``ratings`` table row from a rating record (as :meth:`Activity.record_rating` makes)."""
    cites = row.get("citations")
    return (
        str(row.get("time", "")),
        day,
        str(row.get("surface", "")),
        row["rating"],
        row.get("question"),
        row.get("answer"),
        row.get("short_answer"),
        int(bool(row.get("abstained"))),
        None if cites is None else json.dumps(cites, ensure_ascii=False),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.isoformat(timespec="seconds")


class Activity:
    """The activity store. Thread-safe: one connection behind a lock (writes are tiny)."""

    def __init__(self, data_dir: str | Path, *, log_questions: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.log_questions = log_questions
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        # opened on first use, so a server whose data folder is read-only still answers
        if self._db is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
            self._import_legacy(db)
        return self._db

    def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            try:
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _text(self, value: Any) -> str | None:
        return str(value) if self.log_questions else None

    # -- recording ---------------------------------------------------------------------------
    def record_answers(self, answers: Sequence[Answer], surface: str, story: str = "") -> None:
        """Questions asked and whether they were answered (errors are not questions)."""
        when = _now()
        rows = [
            (
                _stamp(when),
                when.date().isoformat(),
                surface,
                self._text(a.question),
                int(a.abstained),
                float(a.confidence),
                self._text(a.answer),
                story or None,
            )
            for a in answers
            if not a.error
        ]
        if rows:
            self._write("INSERT INTO asked VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def record_rating(self, answer: dict[str, Any], rating: str, surface: str) -> dict[str, Any]:
        """A thumbs up or down on an answer record (the answer contract)."""
        when = _now()
        row = {
            "time": _stamp(when),
            "rating": rating,
            "question": self._text(answer.get("question", "")),
            "answer": self._text(answer.get("answer", "")),
            "short_answer": self._text(answer.get("short_answer", "")),
            "abstained": bool(answer.get("abstained", False)),
            "citations": answer.get("citations", []) if self.log_questions else None,
            "surface": surface,
        }
        self._insert_rating(row, when.date().isoformat())
        return row

    def _insert_rating(self, row: dict[str, Any], day: str) -> None:
        self._write(
            "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [_rating_row(row, day)]
        )

    def record_change(self, who: str, action: str, article_id: str, outcome: str) -> None:
        """An audit line for a change to the articles (who, when, which id, what came of it)."""
        self._write(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
            [(_stamp(_now()), who, action, article_id, outcome)],
        )

    def _import_legacy(self, db: sqlite3.Connection) -> None:
        legacy = self.data_dir / LEGACY_FEEDBACK
        if not legacy.is_file():
            return
        rows = []
        for line in legacy.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed write
            if isinstance(rec, dict) and rec.get("rating") in ("up", "down"):
                rows.append(rec)
        db.execute("BEGIN")
        for rec in rows:
            if not self.log_questions:
                for key in ("question", "answer", "short_answer", "citations"):
                    rec[key] = None
            day = str(rec.get("time", ""))[:10]
            db.execute(
                "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _rating_row(rec, day)
            )
        db.execute("COMMIT")
        legacy.rename(legacy.with_name(LEGACY_FEEDBACK + ".imported"))

    # -- reports -------------------------------------------------------------------------------
    def report(self, name: str, days: int = 30, limit: int = 200) -> list[tuple[Any, ...]]:
        """Rows of one of :data:`REPORTS` over the last ``days`` days."""
        _, _, sql = REPORTS[name]
        since = (_now() - dt.timedelta(days=max(0, days - 1))).date().isoformat()
        with self._lock:
            rows = self._conn().execute(sql, {"since": since, "limit": limit}).fetchall()
        return [tuple(r) for r in rows]

    def csv(self, name: str, days: int = 30, limit: int = 100_000) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(REPORTS[name][1])
        for row in self.report(name, days, limit):
            # a cell starting with = + - @ would run as a formula in a spreadsheet
            writer.writerow(
                ["'" + c if isinstance(c, str) and c[:1] in "=+-@\t\r" else c for c in row]
            )
        return out.getvalue()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


__all__ = ["REPORTS", "Activity"]

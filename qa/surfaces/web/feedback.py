"""Thumbs up/down from the chat and the API, kept one JSON line per rating."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any


class FeedbackLog:
    """Appends one JSON line per rating to ``data_dir/feedback.jsonl`` (flushed and fsynced)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "feedback.jsonl"
        self._lock = threading.Lock()

    def record(self, answer: dict[str, Any], rating: str, surface: str = "chat") -> dict[str, Any]:
        row = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "rating": rating,
            "question": answer.get("question", ""),
            "answer": answer.get("answer", ""),
            "short_answer": answer.get("short_answer", ""),
            "abstained": answer.get("abstained", False),
            "citations": answer.get("citations", []),
            "surface": surface,
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return row


def rating_of(liked: Any) -> str:
    if liked is True or str(liked).lower() in ("like", "up", "true"):
        return "up"
    if liked is False or str(liked).lower() in ("dislike", "down", "false"):
        return "down"
    return "none" if liked in (None, "") else str(liked)

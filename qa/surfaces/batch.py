"""Batch answering: read question lists (.txt, .csv, .jsonl), write answers (.jsonl, .csv).

A bad line becomes an output record with ``error`` set; it never stops the run. Output files are
written to a temporary file beside the target and renamed into place, so a killed run never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qa.errors import InputFileError
from qa.types import Answer

FORMATS = ("jsonl", "csv")
CSV_FIELDS = [
    "id",
    "question",
    "answer",
    "short_answer",
    "abstained",
    "confidence",
    "conflict",
    "message",
    "citations",
    "timing_ms",
    "error",
]


@dataclass(frozen=True)
class BatchItem:
    id: str
    question: str
    history: Any = None
    error: str = ""  # set when the line itself is unusable


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise InputFileError(f"{path}: is a folder, expected a .txt, .csv or .jsonl file") from err
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not valid UTF-8 text (byte {err.start})") from err
    except OSError as err:
        raise InputFileError(f"{path}: cannot read ({err.strerror})") from err


def read_questions(path: str | Path) -> list[BatchItem]:
    """Questions from ``path``: .txt (one a line), .csv (``question`` column, optional ``id``),
    .jsonl (``id``, ``question``, optional ``history``; other fields ignored)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv", ".jsonl"):
        raise InputFileError(
            f"{path}: unsupported input type {suffix or '(none)'!r}; use .txt, .csv or .jsonl"
        )
    text = _read(path)
    if suffix == ".txt":
        return [
            BatchItem(str(n), line.strip())
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    if suffix == ".csv":
        return _read_csv(path, text)
    return _read_jsonl(text)


def _read_csv(path: Path, text: str) -> list[BatchItem]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "question" not in fields:
        raise InputFileError(
            f"{path}: the CSV needs a 'question' column (found: {', '.join(fields) or 'no header'})"
        )
    reader.fieldnames = fields
    items = []
    try:
        for n, row in enumerate(reader, 1):
            qid = (row.get("id") or "").strip() or str(n)
            question = row.get("question")
            if None in row:  # more cells than header columns
                items.append(
                    BatchItem(qid, question or "", error="row has more cells than the header")
                )
            else:
                items.append(BatchItem(qid, (question or "").strip()))
    except csv.Error as err:
        raise InputFileError(f"{path}: malformed CSV ({err})") from err
    return items


def _read_jsonl(text: str) -> list[BatchItem]:
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            items.append(BatchItem(f"line-{n}", "", error=f"line {n}: invalid JSON ({err.msg})"))
            continue
        if not isinstance(obj, dict):
            items.append(BatchItem(f"line-{n}", "", error=f"line {n}: expected a JSON object"))
            continue
        if _SURROGATE.search(line) and _has_surrogate(obj):
            items.append(
                BatchItem(
                    f"line-{n}",
                    "",
                    error=f"line {n}: invalid Unicode escape (a lone surrogate such as \\ud800)",
                )
            )
            continue
        qid = str(obj["id"]) if obj.get("id") not in (None, "") else f"line-{n}"
        question = obj.get("question")
        if not isinstance(question, str):
            items.append(BatchItem(qid, "", error=f"line {n}: missing 'question' text"))
            continue
        items.append(BatchItem(qid, question, obj.get("history")))
    return items


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_surrogate(obj: Any) -> bool:
    """Whether any string in ``obj`` (keys included) holds a lone surrogate."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- writing ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Write a text file via a temp file in the same folder, renamed into place on success."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder; give an output file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"{folder}: output folder does not exist")
    _remove_dead_temps(folder, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove_dead_temps(folder: Path, name: str) -> None:
    """Remove temp files that killed writers (SIGKILL, power loss) left beside ``name``.

    Temp names carry the writer's pid; a file is removed only when that process is gone, so a
    run writing the same file concurrently keeps its temp file.
    """
    for tmp in folder.glob(f".{glob.escape(name)}.*.tmp"):
        pid = tmp.name[len(name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                tmp.unlink()
        except OSError:  # alive but not ours (EPERM), or an odd pid: leave it
            continue


def answer_row(answer: Answer) -> dict[str, Any]:
    d = answer.to_dict()
    d["citations"] = json.dumps(d["citations"], ensure_ascii=False)
    d.setdefault("error", "")
    return {k: d.get(k, "") for k in CSV_FIELDS}


def write_answers(answers: Sequence[Answer], fh: IO[str], fmt: str) -> None:
    if fmt == "jsonl":
        for a in answers:
            fh.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for a in answers:
            writer.writerow(answer_row(a))
    else:
        raise InputFileError(f"unknown output format {fmt!r}; use jsonl or csv")


def run_batch(
    ask_many: Callable[[list[dict[str, Any]]], list[Answer]],
    items: Sequence[BatchItem],
    *,
    chunk: int = 256,
    on_progress: Callable[[int], None] | None = None,
) -> list[Answer]:
    """Answer items in order; unusable lines become error records. ``ask_many`` gets
    ``chunk`` items at a time (progress is reported per chunk): several of its encode batches,
    so it can encode the next batch while reading the current one."""
    from qa.pipeline import error_answer

    out: list[Answer] = []
    for lo in range(0, len(items), chunk):
        part = items[lo : lo + chunk]
        good = [it for it in part if not it.error]
        answered = iter(
            ask_many([{"id": it.id, "question": it.question, "history": it.history} for it in good])
        )
        for it in part:
            out.append(error_answer(it.id, it.question, it.error) if it.error else next(answered))
        if on_progress:
            on_progress(len(part))
    return out

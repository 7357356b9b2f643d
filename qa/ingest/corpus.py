"""Loading articles from files and folders: Markdown with front matter, plain text, HTML, JSONL.

Every problem is collected with the file (and line) it came from, so one run reports all bad
files at once. By default any problem aborts the load (:class:`~qa.errors.CorpusError`);
``skip_invalid=True`` keeps the good articles and returns the problems.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qa.errors import CorpusError
from qa.ingest.text import normalize_article_text
from qa.types import Article

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl")
_META_FIELDS = ("title", "source", "author", "date", "url")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)
_ID_OK = re.compile(r"^[^\s/\\]{1,200}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ArticleProblem(ValueError):
    """A single file or line that cannot become an article."""


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


def article_fingerprint(article: Article) -> str:
    """A hash of everything about an article that ends up in the index."""
    payload = json.dumps([article.meta(), article.text], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """Files to load, with a problem string for paths that cannot be used."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.name.lower() not in ("readme.md", "readme.txt")
            )
            if not found:
                yield path, f"no article files ({', '.join(SUFFIXES)}) in this folder"
            for p in found:
                yield p, None
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                yield (
                    path,
                    f"unsupported file type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}",
                )
            else:
                yield path, None
        elif path.exists():
            yield path, "not a regular file"
        else:
            yield path, "no such file or folder"


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ArticleProblem(f"cannot read file: {err.strerror or err}") from err
    if not data.strip():
        raise ArticleProblem("file is empty")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ArticleProblem("binary file (contains NUL bytes), not text")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ArticleProblem(
            f"not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "re-save the file as UTF-8"
        ) from err


def _clean_field(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return " ".join(normalize_article_text(str(value)).split())
    if isinstance(value, list) and name == "author":
        return ", ".join(_clean_field(v, name) for v in value if v)
    raise ArticleProblem(f"field {name!r} must be text, got {type(value).__name__}")


def make_article(meta: dict[str, Any], text: str, default_id: str, path: str) -> Article:
    """Validate metadata and text and build an :class:`Article` (text is normalised)."""
    body = normalize_article_text(text)
    if not body.strip():
        raise ArticleProblem("article has no text")
    art_id = _clean_field(meta.get("id"), "id") or default_id
    if not _ID_OK.match(art_id):
        raise ArticleProblem(f"invalid id {art_id!r}: no spaces or slashes, at most 200 characters")
    fields = {name: _clean_field(meta.get(name), name) for name in _META_FIELDS}
    if not fields["source"]:
        fields["source"] = _clean_field(meta.get("outlet") or meta.get("sitename"), "source")
    for name, value in (("id", art_id), ("text", body), *fields.items()):
        if _SURROGATE.search(value):
            raise ArticleProblem(
                f"field {name!r} holds an invalid character (a lone surrogate such as a "
                "'\\ud800' escape), which cannot be stored as UTF-8"
            )
    return Article(id=art_id, text=body, path=path, **fields)


def load_markdown(path: Path) -> list[Article]:
    raw = _read_text(path).replace("\r\n", "\n")
    meta: dict[str, Any] = {}
    body = raw
    if raw.startswith("---"):
        m = _FRONT_MATTER.match(raw)
        if not m:
            raise ArticleProblem("broken front matter: no closing '---' line")
        try:
            loaded = yaml.safe_load(m.group(1) or "") or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 2})" if mark is not None else ""
            problem = getattr(err, "problem", None) or "invalid YAML"
            raise ArticleProblem(f"broken front matter{where}: {problem}") from err
        if not isinstance(loaded, dict):
            raise ArticleProblem("broken front matter: expected 'key: value' lines")
        meta = loaded
        body = raw[m.end() :]
    return [make_article(meta, body, path.stem, str(path))]


def load_txt(path: Path) -> list[Article]:
    raw = normalize_article_text(_read_text(path))
    title, _, body = raw.partition("\n")
    return [make_article({"title": title.strip()}, body, path.stem, str(path))]


def load_html(path: Path) -> list[Article]:
    return [article_from_html(_read_text(path), path.stem, str(path))]


def article_from_html(raw: str, default_id: str, where: str) -> Article:
    """The article in a web page (menus, ads and comments left out, by trafilatura)."""
    try:
        import trafilatura  # lazy: heavy import, only needed for HTML
    except ImportError as err:  # pragma: no cover - it is a dependency
        raise ArticleProblem(f"HTML needs trafilatura: {err}") from err
    # trafilatura's balanced setting: favor_precision drops links wrapped in an element of their
    # own (``<span class="link"><a>Joe Biden</a></span>``) and leaves "especially high for ."
    # in the sentence (docs/benchmarks.md, "Ten real news pages")
    doc = trafilatura.bare_extraction(
        raw, with_metadata=True, include_comments=False, include_tables=False
    )
    if doc is None:
        raise ArticleProblem("no article text found in the HTML")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = data.get("text") or ""
    meta = {
        "title": data.get("title"),
        "source": data.get("sitename"),
        "author": data.get("author"),
        "date": data.get("date"),
        "url": data.get("url"),
    }
    return make_article(meta, text, default_id, where)


def article_from_dict(obj: Any, where: str, default_id: str = "") -> Article:
    """An article from a JSON object with ``text`` and ``id`` (or ``default_id``) and the
    optional ``title``, ``source``, ``author``, ``date``, ``url``."""
    if not isinstance(obj, dict):
        raise ArticleProblem("an article must be a JSON object with id, title and text")
    if not (obj.get("id") or default_id):
        raise ArticleProblem("missing 'id'")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ArticleProblem("missing 'text'")
    return make_article(obj, text, default_id, where)


def article_to_json(article: Article) -> str:
    """One JSONL line that :func:`article_from_dict` reads back as the same article."""
    return json.dumps({**article.meta(), "text": article.text}, ensure_ascii=False)


def parse_jsonl_line(line: str, where: str) -> Article | str:
    """One JSONL line as an article, or the problem with it."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        return f"invalid JSON: {err.msg} (column {err.colno})"
    try:
        return article_from_dict(obj, where)
    except ArticleProblem as err:
        return str(err)


def _load_jsonl(path: Path) -> Iterator[tuple[str, Article | str]]:
    """Yields (where, article-or-problem) per line so one bad line doesn't hide the others."""
    raw = _read_text(path)
    seen_any = False
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        seen_any = True
        where = f"{path}:{lineno}"
        yield where, parse_jsonl_line(line, where)
    if not seen_any:
        yield str(path), "file has no articles"


def load_corpus(paths: Iterable[str | Path], skip_invalid: bool = False) -> LoadResult:
    """Load every article under ``paths`` (files or folders).

    Raises :class:`CorpusError` listing every problem unless ``skip_invalid`` is set, in which
    case the problems are returned beside the articles that loaded.
    """
    result = LoadResult()
    seen: dict[str, str] = {}

    def add(where: str, item: Article | str) -> None:
        if isinstance(item, str):
            result.problems.append((where, item))
        elif item.id in seen:
            result.problems.append((where, f"duplicate id {item.id!r} (also in {seen[item.id]})"))
        else:
            seen[item.id] = where
            result.articles.append(item)

    for path, problem in iter_files(paths):
        if problem:
            result.problems.append((str(path), problem))
            continue
        suffix = path.suffix.lower()
        try:
            if suffix == ".jsonl":
                for where, item in _load_jsonl(path):
                    add(where, item)
                continue
            loader = {".txt": load_txt, ".html": load_html, ".htm": load_html}.get(
                suffix, load_markdown
            )
            for article in loader(path):
                add(str(path), article)
        except ArticleProblem as err:
            result.problems.append((str(path), str(err)))
    if not result.articles and not result.problems:
        result.problems.append(("(input)", "no article files given"))
    if result.problems and not skip_invalid:
        raise CorpusError(result.problems)
    return result

"""The web server: the JSON HTTP API, the Gradio chat (``/``) and the embeddable widget
(``/embed``), all on one FastAPI app, fully offline.

``create_app(assistant_or_index_dir, settings)`` builds the app (tests inject a small assistant);
``serve()`` runs it with uvicorn. The Gradio pages live in :mod:`qa.webui`; this module holds
everything they share: the live-reloading assistant, answer rendering (safe HTML), the feedback
log, example questions, admission control and the API routes.
"""

from __future__ import annotations

import os

# Gradio reads some of these at import time: no analytics, no node SSR server, no hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_SSR_MODE", "False")

import asyncio
import datetime as dt
import html
import json
import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.config import PROJECT_ROOT, Settings
from qa.errors import IndexLoadError, QAError, QuestionError
from qa.pipeline import Assistant
from qa.questions import MAX_QUESTION_CHARS
from qa.retrieval import Filters
from qa.types import NOT_FOUND_MESSAGE, Answer

log = logging.getLogger("qa.web")

MAX_BODY_BYTES = 1 << 20  # API request bodies; a question is capped far below this anyway
RELOAD_CHECK_SECONDS = 1.0
LOOPBACK_ORIGIN_RE = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
LOOPBACK_FRAME_SOURCES = ("http://localhost:*", "http://127.0.0.1:*")


# -- the assistant, reloaded when `qa index` swaps the build ----------------------------------------


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
        from qa.index import load_index

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
            reader_kind=old.reader_kind,
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

    def ask_many(self, items: Sequence[str | dict[str, Any]]) -> list[Answer]:
        assistant = self.assistant
        with self.compute:
            return assistant.ask_many(items)

    def health(self) -> dict[str, Any]:
        from qa.index import check_stale

        assistant = self.assistant
        info = assistant.describe()
        changes = check_stale(assistant.index)
        return {
            "status": "ok",
            "articles": info.get("articles"),
            "passages": info.get("passages"),
            "sentences": info.get("sentences"),
            "model": info.get("model"),
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


# -- rendering an answer as safe HTML ----------------------------------------------------------------

# Every character that HTML or Markdown could interpret becomes an entity, so article text, titles
# and questions always show as text (the chat renders Markdown around our HTML).
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'`*_[]()$\\~|#{}!=+:"} | {
    ord("\n"): " ",
    ord("\r"): " ",
}


def esc(text: str) -> str:
    return str(text).translate(_ESCAPES)


def safe_url(url: str) -> str:
    """The URL if it is a plain http(s) link, else ""."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return html.escape(url, quote=True)


def _marker(c: Any) -> str:
    url = safe_url(c.url)
    label = f"[{c.n}]"
    if url:
        title = esc(c.title or c.article_id)
        return (
            f'<sup class="qa-cite"><a href="{url}" target="_blank" rel="noopener noreferrer" '
            f'title="{title}">{label}</a></sup>'
        )
    return f'<sup class="qa-cite">{label}</sup>'


def _quote_html(c: Any) -> str:
    quote = c.quote
    if c.short_start is not None and c.short_end is not None:
        a = max(0, min(len(quote), c.short_start - c.start))
        b = max(a, min(len(quote), c.short_end - c.start))
        if b > a:
            return f"{esc(quote[:a])}<mark>{esc(quote[a:b])}</mark>{esc(quote[b:])}"
    return esc(quote)


def answer_html(answer: Answer) -> str:
    """The chat's rendering of an answer: each quoted sentence with its short answer in
    ``<mark>`` and a numbered marker (a link when the article has a URL), then a collapsible
    Sources block. Only our own tags; every piece of text is escaped."""
    if answer.error:
        return f'<div class="qa-answer qa-error"><p>{esc(answer.error)}</p></div>'
    if answer.abstained or not answer.citations:
        note = esc(answer.message or NOT_FOUND_MESSAGE)
        return f'<div class="qa-answer qa-abstain"><p>{note}</p></div>'
    parts = ['<div class="qa-answer">']
    if answer.resolved_question:
        parts.append(f'<p class="qa-resolved">Read as: {esc(answer.resolved_question)}</p>')
    if answer.message:
        parts.append(f'<p class="qa-note">{esc(answer.message)}</p>')
    if answer.short_answer and not answer.conflict:
        parts.append(f'<p class="qa-short"><strong>{esc(answer.short_answer)}</strong></p>')
    for c in answer.citations:
        parts.append(f'<blockquote class="qa-quote">“{_quote_html(c)}” {_marker(c)}</blockquote>')
    items = []
    for c in answer.citations:
        title = esc(c.title or c.article_id)
        url = safe_url(c.url)
        if url:
            title = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{title}</a>'
        meta = " · ".join(esc(x) for x in (c.source, c.author, c.date) if x)
        items.append(
            f'<li class="qa-source"><span class="qa-n">[{c.n}]</span> <strong>{title}</strong>'
            + (f' <span class="qa-meta">{meta}</span>' if meta else "")
            + f'<br><q class="qa-source-quote">{_quote_html(c)}</q></li>'
        )
    parts.append(
        f'<details class="qa-sources"><summary>Sources ({len(answer.citations)})</summary>'
        f'<ol class="qa-source-list">{"".join(items)}</ol></details>'
    )
    parts.append(f'<p class="qa-confidence">confidence {answer.confidence:.2f}</p></div>')
    return "".join(parts)


def question_html(question: str, limit: int = 300) -> str:
    text = " ".join(str(question).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return f'<span class="qa-question">{esc(text)}</span>'


def message_html(message: str) -> str:
    return f'<div class="qa-answer qa-error"><p>{esc(message)}</p></div>'


# -- feedback --------------------------------------------------------------------------------------


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


# -- example questions ---------------------------------------------------------------------------------

EVAL_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"


def example_questions(
    assistant: Assistant, limit: int = 4, eval_file: Path | None = EVAL_QUESTIONS
) -> list[str]:
    """Example questions for the chat, drawn from what is indexed: benchmark questions whose
    articles are all in this index (one per kind, when ``eval_file`` exists), else questions built
    from article titles."""
    ids = {a.id for a in assistant.index.articles}
    out: list[str] = []
    kinds: set[str] = set()
    if eval_file is not None and eval_file.is_file():
        try:
            rows = [json.loads(x) for x in eval_file.read_text(encoding="utf-8").splitlines() if x]
        except (OSError, ValueError):
            rows = []
        for row in rows:
            arts = set(row.get("article_ids") or [])
            q = str(row.get("question") or "")
            if not (row.get("answerable") and q and arts and arts <= ids) or row.get("history"):
                continue
            if len(q) > 90 or row.get("kind") in kinds:
                continue
            kinds.add(str(row.get("kind")))
            out.append(q)
            if len(out) >= limit:
                return out
    for article in assistant.index.articles:
        if len(out) >= limit:
            break
        title = " ".join(article.title.split()).rstrip(".?!")
        if title and len(title) <= 80:
            out.append(f"What happened: {title}?")
    return out


# -- the HTTP API ------------------------------------------------------------------------------------


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question (at most 1000 characters).")
    history: list[Any] | None = Field(
        default=None,
        description="Earlier conversation: questions, {role, content} messages, or "
        "[user, assistant] pairs.",
    )
    top_k: int | None = Field(default=None, ge=1, le=50, description="Passages to read.")
    sources: list[str] = Field(default_factory=list, description="Only these outlets.")
    date_from: str = Field(default="", pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$")
    date_to: str = Field(default="", pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$")
    article_ids: list[str] = Field(default_factory=list, description="Only these articles.")

    def filters(self) -> Filters | None:
        f = Filters(
            sources=tuple(self.sources),
            date_from=self.date_from,
            date_to=self.date_to,
            article_ids=tuple(self.article_ids),
        )
        return f or None


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    question: str
    history: list[Any] | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: list[str | BatchItem] = Field(description="Questions, or {id, question, history}.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: dict[str, Any] = Field(description="The answer record that is rated.")
    rating: str = Field(pattern=r"^(up|down)$")


class Admission:
    """Bounds the API: ``running`` questions computed at once plus ``waiting`` queued; past that
    a request is refused at once (503 with Retry-After) instead of hanging."""

    def __init__(self, running: int, waiting: int) -> None:
        self.limit = max(1, running) + max(0, waiting)
        self.in_flight = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _question_error(err: QAError) -> JSONResponse:
    return error(413 if "too long" in str(err) else 400, str(err))


def _check_question(question: str) -> None:
    n = len(" ".join(question.split()))
    if n > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({n} characters; the limit is {MAX_QUESTION_CHARS})"
        )


def _check_text(payload: Any) -> None:
    """Reject text that is not valid Unicode (a lone surrogate from a "\\ud800" JSON escape): the
    answer could not be sent back as UTF-8. (qa/questions.py lets it through for now.)"""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise QuestionError("the request contains text that is not valid Unicode") from err


def _validation_message(err: RequestValidationError) -> tuple[int, str]:
    problems = []
    for e in err.errors():
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            return 400, f"malformed JSON in the request body ({ctx.get('error', 'cannot parse')})"
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        problems.append(f"{loc}: {e.get('msg', 'invalid')}")
    return 422, "invalid request: " + "; ".join(problems)


def _frame_ancestors(settings: Settings) -> str:
    origins = settings.embed_origins
    if "*" in origins:
        return "frame-ancestors *"
    sources = ["'self'", *(origins or LOOPBACK_FRAME_SOURCES)]
    return "frame-ancestors " + " ".join(sources)


class _Guard:
    """Pure ASGI middleware: refuses over-large API bodies (413) and sets the framing policy
    (CSP ``frame-ancestors``: the embedding origins for ``/embed``, ``'self'`` elsewhere) and
    ``nosniff`` on every response. Not ``@app.middleware("http")``: that wraps each request in
    extra tasks and streams, which cost a few per cent of a cached question's time."""

    def __init__(self, app: Any, frame_ancestors: str) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/api/") and scope["method"] == "POST":
            size = Headers(scope=scope).get("content-length")
            if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
                refused = error(
                    413, f"the request body is too large (limit {MAX_BODY_BYTES} bytes)"
                )
                await refused(scope, receive, send)
                return
        embed = path == "/embed" or path.startswith("/embed/")
        policy = self.frame_ancestors if embed else "frame-ancestors 'self'"

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    assistant_or_index_dir: Assistant | LiveAssistant | str | Path,
    settings: Settings | None = None,
    *,
    ui: bool = True,
) -> FastAPI:
    """The whole server as one FastAPI app: API routes, ``/embed`` widget, ``/`` chat."""
    settings = settings or Settings()
    live = _live(assistant_or_index_dir, settings)
    feedback = FeedbackLog(settings.data_dir)
    admission = Admission(settings.max_concurrency, settings.max_queue)

    app = FastAPI(
        title="qa — answers quoted from news articles",
        version="1",
        description="Ask questions about the indexed articles; every answer is a verbatim quote "
        "with numbered citations (the answer contract of `qa.types.Answer.to_dict()`).",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.live = live
    app.state.feedback = feedback
    app.state.settings = settings
    app.state.admission = admission

    # CORS for the widget script and the API: the configured embedding origins (default: the
    # loopback origins, for local demos). Gradio's own CORS middleware steps aside for this one.
    cors: dict[str, Any] = {"allow_origins": ["*"]} if "*" in settings.embed_origins else {}
    if not cors:
        cors = {"allow_origins": list(settings.embed_origins)}
        if not settings.embed_origins:
            cors["allow_origin_regex"] = LOOPBACK_ORIGIN_RE
    app.add_middleware(
        CORSMiddleware,
        allow_credentials=False,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        **cors,
    )
    app.add_middleware(_Guard, frame_ancestors=_frame_ancestors(settings))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, err: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(err)
        if status == 422 and request.method == "POST":
            body = await request.body()
            try:
                json.loads(body)
            except ValueError as bad:
                why = "the body is empty" if not body.strip() else str(bad)
                return error(400, f"the request body must be a JSON object ({why})")
        return error(status, message)

    @app.exception_handler(QAError)
    async def on_qa_error(request: Request, err: QAError) -> JSONResponse:
        return _question_error(err)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, err: StarletteHTTPException) -> Response:
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, err)
        message = err.detail if isinstance(err.detail, str) else "bad request"
        if message == "There was an error parsing the body":  # FastAPI's words for bad bytes
            message = "the request body must be JSON in UTF-8 (it could not be decoded)"
        return error(err.status_code, message)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal error; the server log has the details")

    async def run_bounded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not admission.try_enter():
            return error(503, "the server is busy; retry in a moment")
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        finally:
            admission.leave()

    @app.post("/api/ask", tags=["api"], summary="Answer one question")
    async def api_ask(body: AskRequest) -> Any:
        """Returns the answer contract (`Answer.to_dict()`). 400: empty question or bad history;
        413: question over 1000 characters; 422: invalid fields; 503: busy."""
        _check_question(body.question)
        _check_text(body.model_dump())
        result = await run_bounded(
            live.ask, body.question, body.history, top_k=body.top_k, filters=body.filters()
        )
        return result.to_dict() if isinstance(result, Answer) else result

    @app.post("/api/batch", tags=["api"], summary="Answer a bounded list of questions")
    async def api_batch(body: BatchRequest) -> Any:
        """Answers in order, one record per question (a bad item gets `error` set)."""
        if len(body.questions) > settings.max_batch:
            return error(
                413,
                f"too many questions ({len(body.questions)}; the limit is {settings.max_batch})",
            )
        _check_text(body.model_dump())
        items: list[str | dict[str, Any]] = [
            q if isinstance(q, str) else q.model_dump(exclude_none=True) for q in body.questions
        ]
        result = await run_bounded(live.ask_many, items)
        if isinstance(result, Response):
            return result
        return {"answers": [a.to_dict() for a in result]}

    @app.get("/api/health", tags=["api"], summary="Index and server status")
    async def api_health() -> dict[str, Any]:
        out = await asyncio.to_thread(live.health)
        out["in_flight"] = admission.in_flight
        return out

    @app.post("/api/reload", tags=["api"], summary="Switch to the index's current build now")
    async def api_reload() -> Any:
        try:
            changed = await asyncio.to_thread(live.reload)
        except IndexLoadError as err:
            return error(503, f"could not load the new index: {err}")
        return {"reloaded": changed, "build": live.build}

    @app.post("/api/feedback", tags=["api"], summary="Record a thumbs up/down on an answer")
    async def api_feedback(body: FeedbackRequest) -> dict[str, Any]:
        await asyncio.to_thread(feedback.record, body.answer, body.rating, "api")
        return {"ok": True}

    if ui:
        _mount_ui(app, live, feedback, settings)
    return app


def _live(obj: Assistant | LiveAssistant | str | Path, settings: Settings) -> LiveAssistant:
    if isinstance(obj, LiveAssistant):
        return obj
    if isinstance(obj, Assistant):
        return LiveAssistant(obj, max_concurrency=settings.max_concurrency)
    assistant = Assistant.load(obj, stale="ignore", top_k=settings.top_k)
    return LiveAssistant(assistant, obj, max_concurrency=settings.max_concurrency)


def _mount_ui(app: FastAPI, live: LiveAssistant, feedback: FeedbackLog, settings: Settings) -> None:
    import gradio as gr

    from qa.webui import COPY_JS, CSS, EMBED_CSS, THEME, build_chat

    frontend = Path(gr.__file__).parent / "templates" / "frontend"

    @app.get("/embed", include_in_schema=False)
    async def embed_redirect() -> RedirectResponse:
        return RedirectResponse("/embed/")

    # The web component's loader, served here instead of a CDN: it imports ./assets/index-….js,
    # which resolves under /embed/ and is served by the widget's Gradio mount.
    @app.get("/embed/gradio.js", include_in_schema=False)
    async def gradio_js() -> FileResponse:
        return FileResponse(
            frontend / "gradio.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    common: dict[str, Any] = {
        "theme": THEME,
        "js": COPY_JS,
        "ssr_mode": False,
        "pwa": False,
        "mcp_server": False,
        "show_error": True,
    }
    # mount order: the more specific /embed before /, which would swallow everything after it
    gr.mount_gradio_app(
        app,
        build_chat(live, feedback, settings, compact=True),
        path="/embed",
        footer_links=[],
        css=EMBED_CSS,
        **common,
    )
    gr.mount_gradio_app(
        app,
        build_chat(live, feedback, settings, compact=False),
        path="/",
        footer_links=["api"],
        css=CSS,
        **common,
    )


# -- running ---------------------------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (so "address in use" is our one-line error)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted connections whose socket
    # does, and without it a keep-alive client waits ~40 ms per response (Nagle's algorithm
    # holding the body back until the delayed ACK of the headers)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise QAError(f"cannot listen on {host}:{port} ({err.strerror or err})") from err
    sock.set_inheritable(True)
    return sock


def serve(
    assistant: Assistant | LiveAssistant,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    settings: Settings | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the app with uvicorn until interrupted."""
    import uvicorn

    sock = _listen(host, port)
    app = create_app(assistant, settings)
    # the first question would otherwise pay ONNX Runtime's first run and the reader's first
    # look at the articles (~0.4-0.8 s); the chat's example questions are asked now instead
    live: LiveAssistant = app.state.live
    seconds = live.assistant.warm_up(example_questions(live.assistant))
    log.info("warmed up in %.2f s", seconds)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"Serving the chat on http://{shown}:{port}/  (widget: /embed/, API docs: /docs)",
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
    server.run(sockets=[sock])


__all__ = [
    "FeedbackLog",
    "LiveAssistant",
    "answer_html",
    "create_app",
    "esc",
    "example_questions",
    "safe_url",
    "serve",
]

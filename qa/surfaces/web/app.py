"""The web server: the JSON HTTP API, the Gradio chat (``/``) and the embeddable widget
(``/embed``), all on one FastAPI app, fully offline.

``create_app(assistant_or_index_dir, settings)`` builds the app (tests inject a small assistant);
``serve()`` runs it with uvicorn. The Gradio pages live in :mod:`qa.surfaces.web.ui`, the
live-reloading assistant in :mod:`~qa.surfaces.web.live`, safe HTML in
:mod:`~qa.surfaces.web.render`, ratings in :mod:`~qa.surfaces.web.feedback`; this module holds
admission control, the API routes and serving.
"""

from __future__ import annotations

import os

# Gradio reads some of these at import time: no analytics, no node SSR server, no hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_SSR_MODE", "False")

import asyncio
import json
import logging
import socket
from importlib.resources import files
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from qa.config import Settings
from qa.errors import (
    ArticleConflictError,
    ArticleNotFoundError,
    IndexLoadError,
    InvalidArticleError,
    QAError,
    QuestionError,
    QuestionTooLongError,
)
from qa.index.build import BuildReport
from qa.index.updater import IndexUpdater
from qa.pipeline import Assistant
from qa.questions import validate_question
from qa.retrieve.hybrid import Filters
from qa.surfaces.activity import Activity
from qa.surfaces.web.admin import admin_routes
from qa.surfaces.web.articles import article_routes
from qa.surfaces.web.auth import AdminAuth
from qa.surfaces.web.examples import example_questions
from qa.surfaces.web.limits import Admission, RateLimiter
from qa.surfaces.web.live import LiveAssistant

log = logging.getLogger("qa.surfaces.web.app")

MAX_BODY_BYTES = 1 << 20  # API request bodies; a question is capped far below this anyway
LOOPBACK_ORIGIN_RE = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
LOOPBACK_FRAME_SOURCES = ("http://localhost:*", "http://127.0.0.1:*")


# -- the HTTP API ------------------------------------------------------------------------------------


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    question: str
    history: list[Any] | None = None


class Scope(BaseModel):
    """What /api/ask and /api/batch share: how many passages to read and which articles."""

    top_k: int | None = Field(default=None, ge=1, le=50, description="Passages to read.")
    sources: list[str] = Field(default_factory=list, description="Only these outlets.")
    date_from: str = Field(default="", pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$")
    date_to: str = Field(default="", pattern=r"^(\d{4}(-\d{2}(-\d{2})?)?)?$")
    article_ids: list[str] = Field(default_factory=list, description="Only these articles.")
    prefer_article_ids: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Answer from these articles first (a story page), then from the rest; "
        "each citation says which (`in_story`).",
    )

    def filters(self) -> Filters | None:
        f = Filters(
            sources=tuple(self.sources),
            date_from=self.date_from,
            date_to=self.date_to,
            article_ids=tuple(self.article_ids),
        )
        return f or None


class BatchRequest(Scope):
    model_config = ConfigDict(extra="forbid")

    questions: list[str | BatchItem] = Field(description="Questions, or {id, question, history}.")


class AskRequest(Scope):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question (at most 1000 characters).")
    history: list[Any] | None = Field(
        default=None,
        description="Earlier conversation: questions, {role, content} messages, or "
        "[user, assistant] pairs.",
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: dict[str, Any] = Field(description="The answer record that is rated.")
    rating: str = Field(pattern=r"^(up|down)$")


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


# typed domain errors decide the HTTP status (most specific first); any other QAError is a 400
_STATUS: tuple[tuple[type[QAError], int], ...] = (
    (QuestionTooLongError, 413),
    (InvalidArticleError, 422),
    (ArticleNotFoundError, 404),
    (ArticleConflictError, 409),
)


def _domain_error(err: QAError) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 400)
    return error(status, str(err))


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


COMPUTE_PATHS = ("/api/ask", "/api/batch")  # the routes that answer questions


class _Guard:
    """Pure ASGI middleware, the server's edge: before a body is read it refuses over-large API
    bodies (413), a client over its rate (429) and questions past the admission bound (503),
    so a refusal costs microseconds even when every worker is busy; it sets the framing policy
    (CSP ``frame-ancestors``: the embedding origins for ``/embed``, ``'self'`` elsewhere) and
    ``nosniff`` on every response. Not ``@app.middleware("http")``: that wraps each request in
    extra tasks and streams, which cost a few per cent of a cached question's time."""

    def __init__(
        self, app: Any, frame_ancestors: str, admission: Admission, limiter: RateLimiter
    ) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors
        self.admission = admission
        self.limiter = limiter

    async def _refuse(self, scope: Any) -> JSONResponse | None:
        if scope["method"] != "POST" or not scope["path"].startswith("/api/"):
            return None
        size = Headers(scope=scope).get("content-length")
        if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
            return error(413, f"the request body is too large (limit {MAX_BODY_BYTES} bytes)")
        if scope["path"] not in COMPUTE_PATHS:
            return None
        client = scope.get("client")
        wait = self.limiter.take(client[0] if client else "")
        if wait > 0:
            return JSONResponse(
                {"error": "too many requests from this client; retry later"},
                status_code=429,
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        if not self.admission.try_enter():
            return error(503, "the server is busy; retry in a moment")
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        refused = await self._refuse(scope)
        if refused is not None:
            await refused(scope, receive, self._with_headers(path, send))
            return
        admitted = scope["method"] == "POST" and path in COMPUTE_PATHS
        try:
            await self.app(scope, receive, self._with_headers(path, send))
        finally:
            if admitted:
                self.admission.leave()

    def _with_headers(self, path: str, send: Any) -> Any:
        embed = path == "/embed" or path.startswith("/embed/")
        policy = self.frame_ancestors if embed else "frame-ancestors 'self'"

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        return send_with_headers


def create_app(
    assistant_or_index_dir: Assistant | LiveAssistant | str | Path,
    settings: Settings | None = None,
    *,
    ui: bool = True,
) -> FastAPI:
    """The whole server as one FastAPI app: API routes, ``/embed`` widget, ``/`` chat."""
    settings = settings or Settings()
    live = _live(assistant_or_index_dir, settings)
    activity = Activity(settings.data_dir, log_questions=settings.log_questions)
    admission = Admission(
        settings.max_concurrency, settings.max_queue, max_latency=settings.max_latency_ms / 1000
    )
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    auth = AdminAuth(settings.admin_token)

    app = FastAPI(
        title="qa — answers quoted from news articles",
        version="1",
        description="Ask questions about the indexed articles; every answer is a verbatim quote "
        "with numbered citations (the answer contract of `qa.types.Answer.to_dict()`).",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.live = live
    app.state.activity = activity
    app.state.settings = settings
    app.state.admission = admission
    app.state.limiter = limiter

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
    app.add_middleware(
        _Guard, frame_ancestors=_frame_ancestors(settings), admission=admission, limiter=limiter
    )

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
        return _domain_error(err)

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

    @app.post("/api/ask", tags=["api"], summary="Answer one question")
    async def api_ask(body: AskRequest) -> Any:
        """Returns the answer contract (`Answer.to_dict()`). 400: empty question or bad history;
        413: question over 1000 characters; 422: invalid fields; 429: this client asked too
        often; 503: busy."""
        _check_text(body.model_dump())
        validate_question(body.question)
        answer = await asyncio.to_thread(
            live.ask,
            body.question,
            body.history,
            top_k=body.top_k,
            filters=body.filters(),
            prefer=body.prefer_article_ids,
        )
        await asyncio.to_thread(activity.record_answers, [answer], "api", _story(body))
        return answer.to_dict()

    @app.post("/api/batch", tags=["api"], summary="Answer a bounded list of questions")
    async def api_batch(body: BatchRequest) -> Any:
        """Answers in order, one record per question (a bad item gets `error` set). Takes the
        same `top_k`, filters and `prefer_article_ids` as /api/ask, applied to every question."""
        if len(body.questions) > settings.max_batch:
            return error(
                413,
                f"too many questions ({len(body.questions)}; the limit is {settings.max_batch})",
            )
        _check_text(body.model_dump())
        items: list[str | dict[str, Any]] = [
            q if isinstance(q, str) else q.model_dump(exclude_none=True) for q in body.questions
        ]
        answers = await asyncio.to_thread(
            live.ask_many,
            items,
            top_k=body.top_k,
            filters=body.filters(),
            prefer=body.prefer_article_ids,
        )
        await asyncio.to_thread(activity.record_answers, answers, "batch", _story(body))
        return {"answers": [a.to_dict() for a in answers]}

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
        await asyncio.to_thread(activity.record_rating, body.answer, body.rating, "api")
        return {"ok": True}

    if live.index_dir is not None:

        def serve_new_build(_report: BuildReport) -> None:
            live.reload()  # loaded and warmed up before the change's request returns

        updater = IndexUpdater(live.index_dir, live.assistant.embedder, on_build=serve_new_build)
        app.state.updater = updater
        app.include_router(
            article_routes(live, updater, auth, activity, float(settings.update_wait))
        )
    app.include_router(admin_routes(auth, activity))
    if ui:
        _mount_ui(app, live, activity, settings)
    return app


def _story(body: Scope) -> str:
    return ",".join(body.prefer_article_ids)


def _live(obj: Assistant | LiveAssistant | str | Path, settings: Settings) -> LiveAssistant:
    if isinstance(obj, LiveAssistant):
        return obj
    if isinstance(obj, Assistant):
        return LiveAssistant(obj, max_concurrency=settings.max_concurrency)
    assistant = Assistant.load(
        obj, stale="ignore", top_k=settings.top_k, min_confidence=settings.min_confidence
    )
    return LiveAssistant(assistant, obj, max_concurrency=settings.max_concurrency)


def _mount_ui(app: FastAPI, live: LiveAssistant, activity: Activity, settings: Settings) -> None:
    import gradio as gr

    from qa.surfaces.web.ui import COPY_JS, CSS, EMBED_CSS, THEME, build_chat

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

    # the snippet's loader: turns <div data-qa-widget data-article=…> into the widget
    @app.get("/embed/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        script = files("qa.surfaces.web").joinpath("static/widget.js").read_text(encoding="utf-8")
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
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
        build_chat(live, activity, settings, compact=True),
        path="/embed",
        footer_links=[],
        css=EMBED_CSS,
        **common,
    )
    gr.mount_gradio_app(
        app,
        build_chat(live, activity, settings, compact=False),
        path="/",
        footer_links=["api"],
        css=CSS,
        **common,
    )


# -- running ---------------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
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


SHUTDOWN_GRACE_S = 3  # the longest a stop waits for requests in flight


def _stop_events(app: FastAPI) -> list[Any]:
    """The stop events of the mounted Gradio apps (each open chat tab holds an event stream
    that ends when its app's event is set)."""
    return [
        r.app.stop_event
        for r in app.routes
        if isinstance(r, Mount) and hasattr(r.app, "stop_event")
    ]


class ChatServer(uvicorn.Server):
    """uvicorn's server that, on a stop, first ends the chat tabs' event streams (otherwise an
    open tab holds the stop ~15 s, or until the grace period); answers in flight still finish."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.events = _stop_events(app)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def end_streams(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():  # closed: the server has stopped
            for event in self.events:
                loop.call_soon_threadsafe(event.set)

    def stop(self) -> None:
        """Stop from any thread."""
        self.end_streams()
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.end_streams()
        super().handle_exit(sig, frame)


def serve(
    assistant: Assistant | LiveAssistant,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    settings: Settings | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the app with uvicorn until interrupted."""
    sock = listen(host, port)
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
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    ChatServer(config, app).run(sockets=[sock])


__all__ = ["ChatServer", "create_app", "listen", "serve"]

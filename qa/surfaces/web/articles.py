"""The ingestion API: a newsroom's CMS pushes stories in (``PUT``), takes them down
(``DELETE``) and checks them (``GET``) at ``/api/articles/{id}``, with the editors' bearer token.

A change is validated first (a bad article gets 422 and changes nothing), written to the index's
pushed articles (:mod:`qa.ingest.inbox`), then applied by the one index writer
(:class:`~qa.index.updater.IndexUpdater`: the same incremental build as ``qa index``, queued, an
atomic swap) and served before the request returns; past ``QA_UPDATE_WAIT`` seconds it answers
202 and the change lands when the build ends. Every change leaves an audit line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qa.errors import (
    ArticleConflictError,
    ArticleNotFoundError,
    InvalidArticleError,
    QAError,
)
from qa.index.updater import IndexUpdater, Outcome, build_inputs, check_pushed
from qa.ingest.corpus import (
    ArticleProblem,
    article_fingerprint,
    article_from_dict,
    article_from_html,
)
from qa.ingest.inbox import Inbox
from qa.surfaces.activity import Activity
from qa.surfaces.web.auth import AdminAuth
from qa.surfaces.web.live import LiveAssistant
from qa.types import Article

log = logging.getLogger("qa.audit")

MAX_ARTICLE_BYTES = 5 << 20  # a story page with its markup; the text itself is far smaller


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (:class:`BodyTooLarge`) as soon as it passes ``limit`` bytes,
    whether or not a Content-Length was sent."""
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > limit:
        raise BodyTooLarge
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_article(article_id: str, body: bytes, content_type: str) -> Article:
    """The pushed article: JSON (``title``, ``text``, optional ``source``, ``author``, ``date``,
    ``url``; an ``id``, if given, must be the one in the path) or an HTML page."""
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidArticleError("the body is not UTF-8 text") from err
    where = f"api:{article_id}"
    try:
        if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            return article_from_html(raw, article_id, where)
        try:
            obj = json.loads(raw)
        except ValueError as err:
            raise InvalidArticleError(f"the body is not valid JSON ({err})") from err
        if isinstance(obj, dict) and obj.get("id") not in (None, "", article_id):
            raise InvalidArticleError(
                f"the body's id {obj.get('id')!r} is not the id in the path {article_id!r}"
            )
        if isinstance(obj, dict):
            obj = {**obj, "id": article_id}
        return article_from_dict(obj, where)
    except ArticleProblem as err:
        raise InvalidArticleError(str(err)) from err


def _who(request: Request) -> str:
    client = request.client.host if request.client else "unknown"
    editor = request.headers.get("x-qa-editor", "").strip()[:100]
    return f"{editor} ({client})" if editor else client


def article_routes(
    live: LiveAssistant,
    updater: IndexUpdater,
    auth: AdminAuth,
    activity: Activity,
    wait_seconds: float,
) -> APIRouter:
    router = APIRouter(prefix="/api/articles", tags=["articles"])
    inbox = Inbox(updater.index_dir)

    def refuse(request: Request) -> JSONResponse | None:
        if not auth.enabled:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not auth.bearer_ok(request.headers.get("authorization")):
            return JSONResponse(
                {"error": "a valid editors' token is required (Authorization: Bearer …)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    def check_updatable() -> None:
        """An index built from articles in memory has no files to rebuild it from (409)."""
        try:
            build_inputs(updater.index_dir)
        except QAError as err:
            raise ArticleConflictError(str(err)) from err

    def audit(request: Request, action: str, article_id: str, outcome: str) -> None:
        who = _who(request)
        log.info("%s %s %s: %s", who, action, article_id, outcome)
        activity.record_change(who, action, article_id, outcome)

    async def apply(request: Request, action: str, article_id: str) -> Outcome | None:
        outcome = await asyncio.to_thread(updater.apply, wait_seconds)
        result = "queued" if outcome is None else (outcome.error or "served")
        audit(request, action, article_id, result)
        return outcome

    def state(article_id: str) -> dict[str, Any]:
        index = live.assistant.index
        if article_id not in index.article_pos:
            return {"id": article_id, "status": "queued"}
        art = index.article(article_id)
        pushed = inbox.get(article_id)
        pending = pushed is not None and article_fingerprint(pushed) != index.fingerprints.get(
            article_id, article_fingerprint(art)
        )
        return {
            **art.meta(),
            "status": "pending" if pending else "indexed",
            "indexed_at": index.indexed_at(article_id),
            "build": index.path.name,
            "pushed": pushed is not None,
        }

    def undo(article_id: str, previous: Article | None) -> None:
        """Put the stored version back after a failed build, so a failure changes nothing."""
        if previous is not None:
            inbox.put(previous)
        else:
            inbox.remove(article_id)

    def failed(outcome: Outcome) -> JSONResponse:
        return JSONResponse(
            {"error": f"the index update failed, nothing was changed: {outcome.error}"},
            status_code=500,
        )

    @router.put("/{article_id}", summary="Create or replace an article")
    async def put_article(article_id: str, request: Request) -> Response:
        """JSON (`title`, `text`, optional `source`, `author`, `date`, `url`) or an HTML page
        (`Content-Type: text/html`). 201 created, 200 replaced (both once served), 202 still
        being indexed, 401 bad token, 404 the API is off, 409 the id belongs to a file qa does
        not manage, 413 body over 5 MiB, 422 not a valid article (nothing changed)."""
        if denied := refuse(request):
            return denied
        try:
            body = await read_body(request, MAX_ARTICLE_BYTES)
        except BodyTooLarge:
            return JSONResponse(
                {"error": f"the article is too large (limit {MAX_ARTICLE_BYTES} bytes)"},
                status_code=413,
            )
        article = parse_article(article_id, body, request.headers.get("content-type", ""))
        check_pushed(live.assistant.index, inbox, article_id, must_exist=False)
        check_updatable()
        previous = inbox.get(article_id)
        await asyncio.to_thread(inbox.put, article)
        outcome = await apply(request, "create" if previous is None else "replace", article_id)
        if outcome is None:
            return JSONResponse({"id": article_id, "status": "queued"}, status_code=202)
        if outcome.report is None:
            await asyncio.to_thread(undo, article_id, previous)
            return failed(outcome)
        return JSONResponse(state(article_id), status_code=201 if previous is None else 200)

    @router.delete("/{article_id}", summary="Remove an article")
    async def delete_article(article_id: str, request: Request) -> Response:
        """200 removed (and no longer served), 202 still being applied, 401, 404 unknown id,
        409 the article comes from a file qa does not manage."""
        if denied := refuse(request):
            return denied
        check_pushed(live.assistant.index, inbox, article_id, must_exist=True)
        check_updatable()
        previous = inbox.get(article_id)
        await asyncio.to_thread(inbox.remove, article_id)
        outcome = await apply(request, "delete", article_id)
        if outcome is None:
            return JSONResponse({"id": article_id, "status": "queued"}, status_code=202)
        if outcome.report is None:
            await asyncio.to_thread(undo, article_id, previous)
            return failed(outcome)
        return JSONResponse({"id": article_id, "status": "removed"})

    @router.get("/{article_id}", summary="An article's metadata and when it was indexed")
    async def get_article(article_id: str, request: Request) -> Response:
        if denied := refuse(request):
            return denied
        if article_id not in live.assistant.index.article_pos and not inbox.holds(article_id):
            raise ArticleNotFoundError(f"no article {article_id!r}")
        return JSONResponse(state(article_id))

    return router


__all__ = ["MAX_ARTICLE_BYTES", "article_routes", "parse_article", "read_body"]

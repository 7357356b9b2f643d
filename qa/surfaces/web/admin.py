"""The editors' page, ``/admin``: what readers asked that the articles could not answer, the
answers they marked wrong, the most asked questions and the changes made, by day, with CSV
export: a list of stories to write and fixes to make.

Behind the editors' token (off, 404, while ``QA_ADMIN_TOKEN`` is unset): a login form sets a
signed session cookie (HttpOnly, SameSite=Strict); the forms carry a CSRF value and are refused
from another origin. Plain server-rendered HTML with every value escaped; no script.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qa.surfaces.activity import REPORTS, Activity
from qa.surfaces.web.auth import SESSION_COOKIE, SESSION_SECONDS, AdminAuth

PERIODS = (1, 7, 30, 365)  # days a report can cover
SHOWN_ROWS = 50  # rows per table on the page (the CSV has them all)

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2937; background: #f9fafb; }
header { background: #111827; color: #fff; padding: .7rem 1.2rem; display: flex;
         align-items: center; justify-content: space-between; }
header h1 { font-size: 1.1rem; margin: 0; }
header form { margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
nav.periods a { margin-right: .6rem; }
nav.periods a.on { font-weight: 700; text-decoration: none; color: #111827; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: .8rem 1rem;
          margin: 1rem 0; }
section h2 { font-size: 1rem; margin: 0 0 .5rem; display: flex; justify-content: space-between; }
section h2 a { font-size: .8rem; font-weight: 400; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-top: 1px solid #f3f4f6;
         vertical-align: top; }
th { font-weight: 600; color: #4b5563; border-top: none; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
p.empty { color: #6b7280; margin: .2rem 0; }
form.login { max-width: 340px; margin: 4rem auto; background: #fff; padding: 1.2rem;
             border: 1px solid #e5e7eb; border-radius: 8px; }
form.login input[type=password] { width: 100%; padding: .4rem; margin: .4rem 0 .8rem;
                                   box-sizing: border-box; }
button { padding: .35rem .9rem; cursor: pointer; }
p.error { color: #b91c1c; }
"""

# the columns that hold counts (right-aligned)
_COUNTS = {"asked", "not found", "thumbs up", "thumbs down", "times asked"}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"},
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return html.escape(str(value))


def _table(name: str, rows: list[tuple[Any, ...]], days: int) -> str:
    title, columns, _ = REPORTS[name]
    head = "".join(
        f'<th class="n">{html.escape(c)}</th>' if c in _COUNTS else f"<th>{html.escape(c)}</th>"
        for c in columns
    )
    if not rows:
        body = '<p class="empty">Nothing in this period.</p>'
    else:
        lines = []
        for row in rows[:SHOWN_ROWS]:
            cells = "".join(
                f'<td class="n">{_cell(v)}</td>' if c in _COUNTS else f"<td>{_cell(v)}</td>"
                for c, v in zip(columns, row, strict=True)
            )
            lines.append(f"<tr>{cells}</tr>")
        body = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    return (
        f'<section id="{name}"><h2>{html.escape(title)}'
        f'<a href="/admin/export/{name}.csv?days={days}">CSV</a></h2>{body}</section>'
    )


def _same_origin(request: Request) -> bool:
    """A form post from this site: its Origin (or, without one, Referer) names this host."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if not source:
        return True  # not a browser form (browsers send Origin on POST)
    return urlsplit(source).netloc == request.headers.get("host", "")


def admin_routes(auth: AdminAuth, activity: Activity) -> APIRouter:
    router = APIRouter(prefix="/admin", include_in_schema=False)

    def not_found() -> HTMLResponse:
        return HTMLResponse("Not found", status_code=404)

    def login_page(message: str = "", status: int = 200) -> HTMLResponse:
        note = f'<p class="error">{html.escape(message)}</p>' if message else ""
        page = _page(
            "Editors' sign-in",
            '<form class="login" method="post" action="/admin/login">'
            "<h1>Editors' page</h1>"
            f'{note}<label for="token">Editors\' token</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password" '
            "required autofocus>"
            '<button type="submit">Sign in</button></form>',
        )
        page.status_code = status
        return page

    @router.get("")
    async def admin_page(request: Request, days: int = 30) -> Response:
        if not auth.enabled:
            return not_found()
        session = request.cookies.get(SESSION_COOKIE)
        if not auth.session_ok(session):
            return login_page()
        days = days if days in PERIODS else 30
        reports = {}
        for name in ("daily", "unanswered", "disliked", "most_asked", "changes"):
            reports[name] = await asyncio.to_thread(activity.report, name, days)
        periods = " ".join(
            f'<a href="/admin?days={d}"{" class=on" if d == days else ""}>'
            f"{'today' if d == 1 else f'{d} days'}</a>"
            for d in PERIODS
        )
        privacy = (
            ""
            if activity.log_questions
            else '<p class="empty">QA_LOG_QUESTIONS=0: only counts are kept, no question text.</p>'
        )
        tables = "".join(_table(name, rows, days) for name, rows in reports.items())
        return _page(
            "Editors' page",
            "<header><h1>qa · editors' page</h1>"
            '<form method="post" action="/admin/logout">'
            f'<input type="hidden" name="csrf" value="{auth.csrf(session or "")}">'
            '<button type="submit">Sign out</button></form></header>'
            f'<main><nav class="periods">Period: {periods}</nav>{privacy}'
            f"{tables}</main>",
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not auth.enabled:
            return not_found()
        if not _same_origin(request):
            return login_page("This form was sent from another site.", 403)
        form = await request.form()
        if not auth.token_ok(str(form.get("token", ""))):
            return login_page("That is not the editors' token.", 401)
        out = RedirectResponse("/admin", status_code=303)
        out.set_cookie(
            SESSION_COOKIE,
            auth.new_session(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/admin",
        )
        return out

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if not auth.enabled:
            return not_found()
        form = await request.form()
        session = request.cookies.get(SESSION_COOKIE)
        if not _same_origin(request) or not auth.csrf_ok(session, str(form.get("csrf", ""))):
            return HTMLResponse("Forbidden", status_code=403)
        out = RedirectResponse("/admin", status_code=303)
        out.delete_cookie(SESSION_COOKIE, path="/admin")
        return out

    @router.get("/export/{name}.csv")
    async def export(name: str, request: Request, days: int = 30) -> Response:
        if not auth.enabled or name not in REPORTS:
            return not_found()
        signed_in = auth.session_ok(request.cookies.get(SESSION_COOKIE))
        if not (signed_in or auth.bearer_ok(request.headers.get("authorization"))):
            return RedirectResponse("/admin", status_code=303)
        days = days if days in PERIODS else 30
        text = await asyncio.to_thread(activity.csv, name, days)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="qa-{name}-{days}d.csv"',
                "Cache-Control": "no-store",
            },
        )

    return router


__all__ = ["admin_routes"]

"""The editors' page: sign-in with the token, a signed HttpOnly SameSite=Strict cookie, CSRF-safe
forms, the reports and their CSV export, and article text that stays inert."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.config import Settings
from qa.surfaces.activity import Activity
from qa.surfaces.web.app import create_app
from qa.surfaces.web.auth import SESSION_COOKIE, SESSION_SECONDS, AdminAuth
from qa.types import Answer

TOKEN = "editors-token-123"


@pytest.fixture()
def admin(tiny_assistant: Any, tmp_path: Path) -> Any:
    settings = Settings(data_dir=tmp_path / "data", admin_token=TOKEN, rate_limit=0)
    with TestClient(create_app(tiny_assistant, settings, ui=False)) as client:
        yield client, Activity(settings.data_dir)


def sign_in(client: TestClient) -> None:
    r = client.post("/admin/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie


def answer(question: str, abstained: bool, text: str = "") -> Answer:
    return Answer("1", question, text, "", abstained, 0.5)


def test_sign_in_is_required_and_the_page_shows_what_readers_asked(admin: Any) -> None:
    client, activity = admin
    activity.record_answers([answer("Who runs the <b>port</b>?", True)] * 2, "widget")
    activity.record_answers([answer("Who is the principal?", False, "Tomas Berg")], "chat")
    activity.record_rating(
        {"question": "Who is the principal?", "answer": "<script>alert(1)</script>"}, "down", "chat"
    )
    page = client.get("/admin")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert "Who runs" not in page.text
    bad = client.post("/admin/login", data={"token": "wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    sign_in(client)
    page = client.get("/admin")
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert "Questions the articles could not answer" in text
    assert "Who runs the &lt;b&gt;port&lt;/b&gt;?" in text and "<b>port" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "Answers marked wrong" in text and "Most asked" in text


def test_csv_export_has_every_row_and_defuses_formulas(admin: Any) -> None:
    client, activity = admin
    activity.record_answers([answer("=HYPERLINK(1)", True), answer("Plain?", True)], "api")
    assert client.get("/admin/export/unanswered.csv", follow_redirects=False).status_code == 303
    sign_in(client)
    r = client.get("/admin/export/unanswered.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["question", "times asked", "last asked"]
    assert sorted(row[0] for row in rows[1:]) == ["'=HYPERLINK(1)", "Plain?"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    client.cookies.clear()
    assert client.get("/admin/export/daily.csv", headers=bearer).status_code == 200
    assert client.get("/admin/export/nothing.csv", headers=bearer).status_code == 404


def test_forms_from_another_site_are_refused(admin: Any) -> None:
    client, _ = admin
    evil = {"Origin": "https://evil.example"}
    r = client.post("/admin/login", data={"token": TOKEN}, headers=evil, follow_redirects=False)
    assert r.status_code == 403
    sign_in(client)
    # sign-out needs the page's CSRF value, not just the cookie
    assert client.post("/admin/logout", data={"csrf": "guess"}).status_code == 403
    page = client.get("/admin").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/admin/logout", data={"csrf": csrf}, headers=evil)
    assert r.status_code == 403
    r = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303


def test_the_page_is_off_without_a_token(tiny_assistant: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token="", rate_limit=0)
    with TestClient(create_app(tiny_assistant, settings, ui=False)) as client:
        assert client.get("/admin").status_code == 404
        assert client.post("/admin/login", data={"token": ""}).status_code == 404
        assert client.get("/admin/export/daily.csv").status_code == 404


def test_sessions_expire_and_die_with_the_token() -> None:
    auth = AdminAuth(TOKEN)
    cookie = auth.new_session(now=1000.0)
    assert auth.session_ok(cookie, now=1000.0 + SESSION_SECONDS - 1)
    assert not auth.session_ok(cookie, now=1000.0 + SESSION_SECONDS + 1)
    assert not AdminAuth("another-token").session_ok(cookie, now=1001.0)
    assert not auth.session_ok(cookie.replace(".", ".0"), now=1001.0)
    assert not AdminAuth("").session_ok(AdminAuth("").new_session(), now=time.time())

"""The HTTP API (FastAPI TestClient), answer rendering, feedback, live reload, and one
gradio_client call against a live server on loopback."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.embed.embedder import HashEmbedder
from qa.embed.trained import TRAINED
from qa.index.build import build_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant
from qa.read import ReaderParams
from qa.read.model import default_model
from qa.surfaces.cli import render_answer
from qa.surfaces.web.app import create_app
from qa.surfaces.web.examples import example_questions
from qa.surfaces.web.live import LiveAssistant
from qa.surfaces.web.render import answer_html, esc, safe_url
from qa.types import Answer, Citation
from tests.helpers import LiveServer, settings_for


@pytest.fixture(scope="module")
def web(tiny_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("web")
    app = create_app(tiny_assistant, settings_for(tmp))
    with TestClient(app) as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client


QUESTION = "How many classrooms does the school have?"


# -- /api/ask -----------------------------------------------------------------------------------------


def test_ask_returns_the_answer_contract(web: TestClient, tiny_assistant: Assistant) -> None:
    r = web.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    got = r.json()
    want = tiny_assistant.ask(QUESTION).to_dict()
    assert set(got) == set(want)
    got.pop("timing_ms")
    want.pop("timing_ms")
    assert got == want
    assert got["short_answer"] == "14"
    assert got["citations"][0]["article_id"] == "school"


def test_ask_follow_up_uses_history(web: TestClient) -> None:
    r = web.post("/api/ask", json={"question": "And how many pupils?", "history": [QUESTION]})
    assert r.status_code == 200
    body = r.json()
    assert "400 pupils" in body["answer"]
    assert "resolved_question" in body
    pairs = web.post(
        "/api/ask",
        json={"question": "And how many pupils?", "history": [[QUESTION, "14 classrooms"]]},
    )
    assert "400 pupils" in pairs.json()["answer"]


def test_an_elliptical_follow_up_marks_its_own_short_answer(web: TestClient) -> None:
    r = web.post("/api/ask", json={"question": "And how many pupils?", "history": [QUESTION]})
    assert r.json()["short_answer"] == "400"


def test_ask_filters_and_top_k(web: TestClient) -> None:
    q = "How many workers rebuilt the main pier?"
    both = web.post("/api/ask", json={"question": q}).json()
    assert {c["article_id"] for c in both["citations"]} == {"harbor", "ferry"}
    only = web.post("/api/ask", json={"question": q, "sources": ["Island Times"], "top_k": 3})
    assert {c["article_id"] for c in only.json()["citations"]} == {"ferry"}
    dated = web.post("/api/ask", json={"question": q, "date_to": "2025-03-03"}).json()
    assert {c["article_id"] for c in dated["citations"]} == {"harbor"}
    none = web.post("/api/ask", json={"question": q, "article_ids": ["school"]}).json()
    assert all(c["article_id"] == "school" for c in none["citations"])


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"question": ""}, 400, "empty"),
        ({"question": "   "}, 400, "empty"),
        ({"question": "x " * 1200}, 413, "too long"),
        ({"question": QUESTION, "top_k": 0}, 422, "top_k"),
        ({"question": QUESTION, "top_k": "many"}, 422, "top_k"),
        ({"question": 42}, 422, "question"),
        ({}, 422, "question"),
        ({"question": QUESTION, "filters": {}}, 422, "filters"),
        ({"question": QUESTION, "date_from": "yesterday"}, 422, "date_from"),
        ({"question": QUESTION, "history": "not a list"}, 422, "history"),
        ({"question": QUESTION, "history": [42]}, 400, "history"),
    ],
)
def test_ask_rejects_bad_input_with_a_json_error(
    web: TestClient, body: dict[str, Any], status: int, needle: str
) -> None:
    r = web.post("/api/ask", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert needle in err
    assert "Traceback" not in r.text


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1, 2", b"\xff\xfe"])
def test_malformed_json_is_a_400(web: TestClient, raw: bytes) -> None:
    r = web.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "JSON" in r.json()["error"]
    r = web.post("/api/ask", content=raw)  # no content type at all
    assert r.status_code == 400, r.text


def test_invalid_unicode_is_a_400_not_a_crash(web: TestClient) -> None:
    raw = b'{"question": "How many \\ud800 classrooms?"}'
    r = web.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "Unicode" in r.json()["error"]
    raw = b'{"questions": ["ok?", "bad \\udfff"]}'
    r = web.post("/api/batch", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_oversized_body_is_a_413(web: TestClient) -> None:
    r = web.post("/api/ask", json={"question": "x" * (2 << 20)})
    assert r.status_code == 413
    assert "too large" in r.json()["error"]


def test_busy_server_answers_503_at_once(web: TestClient) -> None:
    admission = web.app_state.admission  # type: ignore[attr-defined]
    saved = admission.in_flight
    admission.in_flight = admission.limit
    try:
        t0 = time.perf_counter()
        r = web.post("/api/ask", json={"question": QUESTION})
        assert time.perf_counter() - t0 < 2
        assert r.status_code == 503
        assert r.headers["retry-after"]
        assert "busy" in r.json()["error"]
        assert web.post("/api/batch", json={"questions": [QUESTION]}).status_code == 503
    finally:
        admission.in_flight = saved
    assert web.post("/api/ask", json={"question": QUESTION}).status_code == 200


# -- /api/batch, /api/health, /api/feedback, docs --------------------------------------------------


def test_batch_answers_in_order_with_errors_per_item(web: TestClient) -> None:
    r = web.post(
        "/api/batch",
        json={
            "questions": [
                QUESTION,
                {"id": "b", "question": "And how many pupils?", "history": [QUESTION]},
                {"id": "c", "question": ""},
            ]
        },
    )
    assert r.status_code == 200
    answers = r.json()["answers"]
    assert [a["id"] for a in answers] == ["1", "b", "c"]
    assert answers[0]["short_answer"] == "14"
    assert "400 pupils" in answers[1]["answer"]
    assert "empty" in answers[2]["error"]


def test_batch_takes_the_same_filters_as_ask(web: TestClient) -> None:
    q = "How many workers rebuilt the main pier?"
    for scope in ({"sources": ["Island Times"], "top_k": 3}, {"date_to": "2025-03-03"}):
        one = web.post("/api/ask", json={"question": q, **scope}).json()
        [many] = web.post("/api/batch", json={"questions": [q], **scope}).json()["answers"]
        assert many["citations"] == one["citations"] and many["answer"] == one["answer"]
    r = web.post("/api/batch", json={"questions": [q], "date_to": "03/2025"})
    assert r.status_code == 422


def test_batch_is_bounded(web: TestClient) -> None:
    r = web.post("/api/batch", json={"questions": [QUESTION] * 6})
    assert r.status_code == 413
    assert "limit is 5" in r.json()["error"]
    assert web.post("/api/batch", json={"questions": "nope"}).status_code == 422


def test_health(web: TestClient) -> None:
    h = web.get("/api/health").json()
    assert h["articles"] == 3
    assert h["passages"] >= 3
    assert h["model"] == TRAINED
    assert h["reader"] == default_model().name and h["reader"].startswith("qa-reader-")
    assert h["min_confidence"] == ReaderParams.load().threshold  # the shipped one
    assert h["built_at"]
    assert h["stale"] is False


def test_feedback_endpoint_records_the_rating(web: TestClient) -> None:
    answer = web.post("/api/ask", json={"question": QUESTION}).json()
    r = web.post("/api/feedback", json={"answer": answer, "rating": "down"})
    assert r.status_code == 200
    activity = web.app_state.activity  # type: ignore[attr-defined]
    time_, question, quoted, _, cites, surface = activity.report("disliked")[0]
    assert (question, quoted, surface) == (QUESTION, answer["answer"], "api")
    assert json.loads(cites)[0]["article_id"] == "school"
    assert time_
    bad = web.post("/api/feedback", json={"answer": answer, "rating": "meh"})
    assert bad.status_code == 422


def test_openapi_docs(web: TestClient) -> None:
    spec = web.get("/openapi.json").json()
    for route in ("/api/ask", "/api/batch", "/api/health", "/api/reload"):
        assert route in spec["paths"]
    assert web.get("/docs").status_code == 200


# -- pages, widget, CORS and CSP ----------------------------------------------------------------------


def test_pages_and_widget_routes(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
    embed = web.get("/embed/")
    assert embed.status_code == 200
    assert "http://localhost:*" in embed.headers["content-security-policy"]
    redirect = web.get("/embed", follow_redirects=False)
    assert redirect.status_code in (302, 307)
    assert redirect.headers["location"].endswith("/embed/")
    js = web.get("/embed/gradio.js", headers={"Origin": "http://localhost:8000"})
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert js.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert 'import("./assets/' in js.text
    asset = js.text.split('import("./', 1)[1].split('"', 1)[0]
    assert web.get(f"/embed/{asset}").status_code == 200


def test_cors_allows_only_the_configured_origins(tiny_assistant: Assistant, tmp_path: Path) -> None:
    app = create_app(
        tiny_assistant,
        settings_for(tmp_path, embed_origins=("https://news.example.org",)),
        ui=False,
    )
    client = TestClient(app)
    pre = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    ok = client.options("/api/ask", headers={"Origin": "https://news.example.org", **pre})
    assert ok.headers.get("access-control-allow-origin") == "https://news.example.org"
    no = client.options("/api/ask", headers={"Origin": "https://evil.example.com", **pre})
    assert "access-control-allow-origin" not in no.headers
    loop = client.options("/api/ask", headers={"Origin": "http://localhost:8000", **pre})
    assert "access-control-allow-origin" not in loop.headers
    r = client.get("/api/health", headers={"Origin": "https://news.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://news.example.org"
    csp = client.get("/embed/", follow_redirects=False).headers["content-security-policy"]
    assert csp == "frame-ancestors 'self' https://news.example.org"


# -- rendering ---------------------------------------------------------------------------------------------


def _evil_answer() -> Answer:
    text = 'Crowd of <img src=x onerror="alert(1)"> 5000 <script>alert(2)</script> [x](y) **b**'
    c = Citation(
        n=1,
        article_id="evil",
        title="<script>alert(3)</script>Title",
        source="<b>Outlet</b>",
        author="",
        date="2025-01-01",
        url="javascript:alert(4)",
        quote=text,
        start=0,
        end=len(text),
        short_start=text.index("5000"),
        short_end=text.index("5000") + 4,
    )
    return Answer(
        id="1",
        question="q",
        answer=text,
        short_answer="5000",
        abstained=False,
        confidence=0.9,
        citations=(c,),
    )


def test_answer_html_escapes_everything_and_marks_the_short_answer() -> None:
    out = answer_html(_evil_answer())
    assert "<script" not in out
    assert "<img" not in out
    assert "<b>" not in out
    assert "javascript:" not in out
    assert "<mark>5000</mark>" in out
    assert "<details" in out and "<summary>Sources (1)</summary>" in out
    assert "&#42;&#42;b&#42;&#42;" in out  # Markdown is neutralised too
    linked = replace(
        _evil_answer(),
        citations=(replace(_evil_answer().citations[0], url="https://example.org/a?b=1&c=2"),),
    )
    html_out = answer_html(linked)
    assert '<a href="https://example.org/a?b=1&amp;c=2" target="_blank" rel="noopener' in html_out


def test_answer_html_abstention_and_escaping_helpers() -> None:
    abstained = Answer(
        id="1",
        question="q",
        answer="",
        short_answer="",
        abstained=True,
        confidence=0.1,
        message="Not found in these articles.",
    )
    assert "Not found in these articles." in answer_html(abstained)
    assert "qa-abstain" in answer_html(abstained)
    assert esc("<a href='x'>") == "&#60;a href&#61;&#39;x&#39;&#62;"
    assert safe_url("data:text/html,hi") == ""
    assert safe_url("https://ok.example/") == "https://ok.example/"


def _quoted(quote: str, short: str) -> Answer:
    at = quote.index(short)
    c = Citation(1, "a", "T", "", "", "", "", quote, 0, len(quote), at, at + len(short))
    return Answer(
        id="1",
        question="q",
        answer=quote,
        short_answer=short,
        abstained=False,
        confidence=0.9,
        citations=(c,),
    )


def test_a_quote_with_its_own_quotation_marks_is_not_wrapped_in_more() -> None:
    speech = answer_html(_quoted("“Gangs have been driven from the airport,” he said.", "airport"))
    assert "““" not in speech and "””" not in speech
    assert speech.count("“Gangs") == 2  # the blockquote and the source list, each once
    plain = answer_html(_quoted("The airport reopened in May.", "May"))
    assert plain.count("“The airport reopened in <mark>May</mark>.”") == 2
    assert "<q" not in plain  # a <q> would add the browser's marks too
    assert render_answer(_quoted("“We won,” she said.", "won")).startswith(
        "“We **won**,” she said."
    )
    assert render_answer(_quoted("We won.", "won")).startswith("“We **won**.”")


def test_examples(tiny_assistant: Assistant, tmp_path: Path) -> None:
    generic = example_questions(tiny_assistant, eval_file=None)
    assert len(generic) == 3 and all(q.endswith("?") for q in generic)
    eval_file = tmp_path / "questions.jsonl"
    rows_in = [
        {"question": "Q school?", "answerable": True, "article_ids": ["school"], "kind": "figure"},
        {"question": "Q other?", "answerable": True, "article_ids": ["elsewhere"], "kind": "x"},
    ]
    eval_file.write_text("\n".join(json.dumps(r) for r in rows_in), encoding="utf-8")
    picked = example_questions(tiny_assistant, eval_file=eval_file)
    assert picked[0] == "Q school?"
    assert "Q other?" not in picked


# -- live reload ---------------------------------------------------------------------------------------

CORPUS_B = {
    "bridge.md": """---
id: bridge
title: "Bridge opens in Harlow"
source: "Valley News"
date: 2025-04-01
---
The new bridge in Harlow opened on Tuesday.
The bridge is 340 metres long and took three years to build.
""",
}


def _build(folder: Path, files: dict[str, str], index_dir: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    articles = load_corpus([folder]).articles
    build_index(articles, index_dir, inputs=[folder], embedder=HashEmbedder(), progress=False)


def test_live_reload_switches_builds_without_a_failed_request(
    tiny_dir: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    articles = load_corpus([tiny_dir]).articles
    build_index(articles, index_dir, inputs=[tiny_dir], embedder=HashEmbedder(), progress=False)
    live = LiveAssistant(Assistant.load(index_dir), index_dir, check_every=0.05)
    app = create_app(live, settings_for(tmp_path, max_queue=64), ui=False)
    client = TestClient(app)
    statuses: list[int] = []
    seen: list[set[str]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.post("/api/ask", json={"question": "How long is the bridge?"})
            statuses.append(r.status_code)
            if r.status_code == 200:
                seen.append({c["article_id"] for c in r.json()["citations"]})

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.3)
        old_build = live.build
        _build(tmp_path / "corpus-b", CORPUS_B, index_dir)  # what `qa index` does
        deadline = time.monotonic() + 30
        while live.build == old_build and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    assert live.build != old_build, live.last_error
    assert statuses and all(s == 200 for s in statuses), statuses
    assert "bridge" not in set().union(*seen[:3])  # answered from the old index first
    after = client.post("/api/ask", json={"question": "How long is the bridge?"}).json()
    assert after["short_answer"].startswith("340")
    h = client.get("/api/health").json()
    assert h["reloads"] == 1 and h["articles"] == 1
    # an explicit reload when nothing changed is a no-op
    assert client.post("/api/reload").json() == {"reloaded": False, "build": live.build}


# -- gradio_client against a live server --------------------------------------------------------------


def test_gradio_client_and_queue_bound(tiny_assistant: Assistant, tmp_path: Path) -> None:
    from gradio_client import Client

    app = create_app(tiny_assistant, settings_for(tmp_path))
    with LiveServer(app) as server:
        client = Client(server.url + "/", analytics_enabled=False, verbose=False)
        try:
            out = client.predict(QUESTION, None, api_name="/ask")
        finally:
            client.close()
        assert out["short_answer"] == "14"
        assert out["citations"][0]["article_id"] == "school"
        # the Gradio API cannot bypass the queue (api_open=False)
        direct = httpx.post(f"{server.url}/gradio_api/run/ask", json={"data": [QUESTION, None]})
        assert direct.status_code >= 400
        # the JSON API over real HTTP
        r = httpx.post(f"{server.url}/api/ask", json={"question": QUESTION}, timeout=30)
        assert r.json()["short_answer"] == "14"


def test_a_stop_ends_open_chat_streams_at_once(tiny_assistant: Assistant, tmp_path: Path) -> None:
    """An open chat tab holds Gradio's heartbeat stream; a stop ends it instead of waiting out
    the grace period (here 60 s) for it."""
    app = create_app(tiny_assistant, settings_for(tmp_path))
    server = LiveServer(app, grace=60)
    with server:
        got: list[str] = []

        def listen() -> None:
            with httpx.stream("GET", f"{server.url}/gradio_api/heartbeat/t1", timeout=90) as r:
                for chunk in r.iter_text():
                    got.append(chunk)

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        for _ in range(200):
            if got:
                break
            time.sleep(0.05)
        assert got and "ALIVE" in got[0]
        server.server.stop()
        server.thread.join(timeout=20)
        assert not server.thread.is_alive()
        reader.join(timeout=5)
        assert not reader.is_alive()


def test_a_server_answers_at_its_min_confidence(tiny_index: Path, tmp_path: Path) -> None:
    app = create_app(tiny_index, settings_for(tmp_path, min_confidence=1.0), ui=False)
    with TestClient(app) as client:
        res = client.post("/api/ask", json={"question": "How much did the repairs cost?"})
        assert res.status_code == 200 and res.json()["abstained"] is True
        assert client.get("/api/health").json()["min_confidence"] == 1.0
    live = app.state.live
    live.reload()  # a reload keeps it
    assert live.assistant.reader.params.threshold == 1.0

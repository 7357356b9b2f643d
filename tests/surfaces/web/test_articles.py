"""The ingestion API (PUT/GET/DELETE /api/articles/{id}), `qa remove`, story-scoped answers,
related passages and the per-client rate limit, on a small index built from files with the
hashing embedder."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from qa.config import Settings
from qa.embed.embedder import HashEmbedder
from qa.embed.trained import TrainedEmbedder
from qa.index.build import build_index
from qa.index.store import load_index
from qa.ingest.inbox import Inbox
from qa.surfaces.activity import Activity
from qa.surfaces.cli import main
from qa.surfaces.web.app import create_app

TOKEN = "s3cret-editors-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

FILES = {
    "museum.md": """---
id: museum
title: "Linden museum doubles its visitors"
source: "Coast Gazette"
date: 2025-03-09
---
The maritime museum in Linden welcomed 52,000 visitors last year, twice as many as in 2023.
Its director, Ines Mora, credits the new shipwreck gallery.
""",
    "library.md": """---
id: library
title: "Marrow opens its first public library"
source: "Marrow Post"
date: 2025-02-20
---
The town of Marrow opened its first public library on Friday, in the old railway station.
The librarian, Tomas Berg, welcomed the first readers with a reading of local poems.
""",
}

BRIDGE = {
    "title": "Bridge opens in Harlow",
    "source": "Valley News",
    "date": "2025-04-01",
    "url": "https://valley.example/bridge",
    "text": "The new bridge in Harlow opened on Tuesday.\n"
    "The bridge is 340 metres long and took three years to build.\n",
}


def make_site(tmp: Path, **settings: Any) -> tuple[TestClient, Path, Settings]:
    corpus = tmp / "corpus"
    corpus.mkdir(parents=True)
    for name, text in FILES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index_dir = tmp / "index"
    build_index(None, index_dir, inputs=[corpus], embedder=TrainedEmbedder(), progress=False)
    opts: dict[str, Any] = {
        "data_dir": tmp / "data",
        "index_dir": index_dir,
        "admin_token": TOKEN,
        "rate_limit": 0,
        "embed_origins": (),
    }
    opts.update(settings)
    cfg = Settings(**opts)
    return TestClient(create_app(index_dir, cfg, ui=False)), index_dir, cfg


@pytest.fixture()
def site(tmp_path: Path) -> Any:
    client, index_dir, cfg = make_site(tmp_path)
    with client:
        yield client, index_dir, cfg


def ask(client: TestClient, question: str, **kw: Any) -> dict[str, Any]:
    r = client.post("/api/ask", json={"question": question, **kw})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_pushed_story_is_answered_from_as_soon_as_the_put_returns(site: Any) -> None:
    client, index_dir, _ = site
    q = "How long is the new bridge in Harlow?"
    assert ask(client, q)["abstained"]
    r = client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "indexed" and body["pushed"] and body["indexed_at"]
    answer = ask(client, q)
    assert not answer["abstained"]
    assert answer["citations"][0]["article_id"] == "bridge"
    assert "340 metres" in answer["answer"]
    # the same story again changes nothing; a correction replaces it (200)
    assert client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH).status_code == 200
    fixed = {**BRIDGE, "text": BRIDGE["text"].replace("340", "360")}
    r = client.put("/api/articles/bridge", json=fixed, headers=AUTH)
    assert r.status_code == 200 and r.json()["indexed_at"] >= body["indexed_at"]
    assert "360 metres" in ask(client, q)["answer"]
    got = client.get("/api/articles/bridge", headers=AUTH).json()
    assert (got["title"], got["source"], got["status"]) == (
        BRIDGE["title"],
        "Valley News",
        "indexed",
    )
    # `qa index` of the same folder keeps the pushed story (it is one of the index's inputs)
    assert "bridge" in {a.id for a in load_index(index_dir).articles}


def test_html_pages_are_read_like_the_html_loader(site: Any) -> None:
    client, _, _ = site
    page = (
        "<html><head><title>Ferry back in April</title></head><body><nav>Home | Sports</nav>"
        "<article><h1>Ferry back in April</h1><p>Ferry operators confirmed that service to the "
        "islands resumes in April after the storm repairs.</p><p>Tickets will cost the same as "
        "last year, the operators said on Wednesday.</p></article></body></html>"
    )
    r = client.put(
        "/api/articles/ferry", content=page, headers={**AUTH, "Content-Type": "text/html"}
    )
    assert r.status_code == 201, r.text
    assert "April" in ask(client, "When does the ferry service to the islands resume?")["answer"]


def test_delete_takes_a_story_down(site: Any) -> None:
    client, index_dir, _ = site
    client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH)
    r = client.delete("/api/articles/bridge", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert client.get("/api/articles/bridge", headers=AUTH).status_code == 404
    assert ask(client, "How long is the new bridge in Harlow?")["abstained"]
    assert client.delete("/api/articles/bridge", headers=AUTH).status_code == 404
    # stories from the newsroom's own files are changed there, not through the API
    r = client.delete("/api/articles/library", headers=AUTH)
    assert r.status_code == 409 and "library.md" in r.json()["error"]
    assert client.put("/api/articles/library", json=BRIDGE, headers=AUTH).status_code == 409
    assert {a.id for a in load_index(index_dir).articles} == {"museum", "library"}
    changes = Activity(site[2].data_dir).report("changes")
    assert [(c[2], c[3]) for c in changes][:2] == [("delete", "bridge"), ("create", "bridge")]
    assert all(c[1] for c in changes)  # who


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        ({"title": "No text"}, {}, "missing 'text'"),
        ({**BRIDGE, "id": "other"}, {}, "not the id in the path"),
        ({**BRIDGE, "title": ["a", "list"]}, {}, "must be text"),
        ("[1, 2]", {}, "JSON object"),
        ("{not json", {}, "not valid JSON"),
        ("<html><body></body></html>", {"Content-Type": "text/html"}, "no article text"),
    ],
)
def test_a_bad_article_is_a_422_and_changes_nothing(
    site: Any, body: Any, headers: dict[str, str], why: str
) -> None:
    client, index_dir, _ = site
    before = load_index(index_dir).path
    kw: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
    r = client.put("/api/articles/bridge", headers={**AUTH, **headers}, **kw)
    assert r.status_code == 422, r.text
    assert why in r.json()["error"]
    assert load_index(index_dir).path == before
    assert not Inbox(index_dir).ids()


def test_tokens_and_limits(site: Any, tmp_path: Path) -> None:
    client, _, _ = site
    assert client.put("/api/articles/bridge", json=BRIDGE).status_code == 401
    r = client.put("/api/articles/bridge", json=BRIDGE, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/articles/library", headers={"Authorization": TOKEN}).status_code == 401
    huge = {**BRIDGE, "text": "word " * (1_100_000)}
    assert client.put("/api/articles/bridge", json=huge, headers=AUTH).status_code == 413
    # no token configured: the API is off, not open
    off, _, _ = make_site(tmp_path / "off", admin_token="")
    with off:
        assert off.put("/api/articles/bridge", json=BRIDGE, headers=AUTH).status_code == 404
        assert off.get("/api/articles/library").status_code == 404


def test_concurrent_puts_of_one_story_leave_exactly_one_version(site: Any) -> None:
    client, index_dir, _ = site
    versions = [
        {**BRIDGE, "text": f"The bridge in Harlow is {300 + i} metres long."} for i in range(6)
    ]

    def put(v: dict[str, str]) -> int:
        return client.put("/api/articles/bridge", json=v, headers=AUTH).status_code

    with cf.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(put, versions))
    assert sorted(codes)[0] in (200, 201) and set(codes) <= {200, 201}
    index = load_index(index_dir)
    served = [a for a in index.articles if a.id == "bridge"]
    assert len(served) == 1
    stored = Inbox(index_dir).get("bridge")
    assert stored is not None and served[0].text == stored.text
    assert served[0].text in [v["text"] for v in versions]


def test_qa_remove_takes_a_pushed_story_down(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, index_dir, _ = site
    client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH)
    monkeypatch.setenv("QA_INDEX_DIR", str(index_dir))
    runner = CliRunner()
    result = runner.invoke(main, ["remove", "bridge", "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert "Removed bridge" in result.output
    assert "bridge" not in {a.id for a in load_index(index_dir).articles}
    again = runner.invoke(main, ["remove", "bridge", "--index-dir", str(index_dir)])
    assert again.exit_code != 0 and "no article 'bridge'" in again.output
    own = runner.invoke(main, ["remove", "library", "--index-dir", str(index_dir)])
    assert own.exit_code != 0 and "library.md" in own.output


def test_a_story_page_answers_from_its_story_first(site: Any) -> None:
    client, _, _ = site
    client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH)
    q = "What opened in Harlow?"
    answer = ask(client, q, prefer_article_ids=["bridge"])
    assert answer["citations"][0]["article_id"] == "bridge"
    assert answer["citations"][0]["in_story"] is True
    many = client.post("/api/batch", json={"questions": [q], "prefer_article_ids": ["bridge"]})
    assert many.json()["answers"][0]["citations"] == answer["citations"]
    elsewhere = ask(
        client, "Who welcomed the first readers at the library?", prefer_article_ids=["bridge"]
    )
    assert [(c["article_id"], c["in_story"]) for c in elsewhere["citations"]] == [
        ("library", False)
    ]


def test_not_found_comes_with_the_closest_passages(site: Any) -> None:
    client, _, _ = site
    answer = ask(client, "How many moons does Jupiter have?")
    assert answer["abstained"] and answer["citations"] == []
    assert 1 <= len(answer["related"]) <= 3
    assert all(r["short_start"] is None for r in answer["related"])


def test_questions_are_counted_and_kept_only_when_allowed(tmp_path: Path) -> None:
    client, _, cfg = make_site(tmp_path, log_questions=False)
    with client:
        ask(client, "How many moons does Jupiter have?")
        ask(client, "Who welcomed the first readers at the library?")
    activity = Activity(cfg.data_dir)
    day = activity.report("daily")[0]
    assert day[1:3] == (2, 1)  # asked, not found
    assert activity.report("most_asked") == [] and activity.report("unanswered") == []
    with activity._conn() as db:
        assert db.execute("SELECT COUNT(*) FROM asked WHERE question IS NOT NULL").fetchone() == (
            0,
        )


def test_a_client_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    client, _, _ = make_site(tmp_path, rate_limit=60, rate_burst=3)
    with client:
        codes = [
            client.post(
                "/api/ask", json={"question": "Who is the librarian in Marrow?"}
            ).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = client.post("/api/batch", json={"questions": ["Who?"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert client.get("/api/health").status_code == 200  # only questions are limited
        assert client.app.state.admission.in_flight == 0  # type: ignore[attr-defined]


def test_a_legacy_feedback_file_is_imported_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"time": "2026-11-30T10:00:00+00:00", "rating": "down", "question": "Q1?", "answer": "A"},
        {"time": "2026-12-01T10:00:00+00:00", "rating": "up", "question": "Q2?", "answer": "B"},
    ]
    (data / "feedback.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{torn")
    activity = Activity(data)
    assert [r[1] for r in activity.report("disliked", days=365)] == ["Q1?"]
    assert not (data / "feedback.jsonl").exists()
    assert (data / "feedback.jsonl.imported").exists()
    assert len(Activity(data).report("disliked", days=365)) == 1  # not twice


def test_readers_see_no_failed_request_while_stories_are_pushed(site: Any) -> None:
    client, _, _ = site
    codes: list[int] = []
    stop = False

    def reader() -> None:
        while not stop:
            codes.append(
                client.post(
                    "/api/ask", json={"question": "Who is the librarian in Marrow?"}
                ).status_code
            )

    with cf.ThreadPoolExecutor(2) as pool:
        readers = [pool.submit(reader) for _ in range(2)]
        for i in range(3):
            story = {**BRIDGE, "text": f"The bridge in Harlow is {300 + i} metres long."}
            assert client.put(f"/api/articles/b{i}", json=story, headers=AUTH).status_code == 201
        stop = True
        for f in readers:
            f.result()
    assert codes and set(codes) == {200}
    assert client.get("/api/health").json()["articles"] == 5


def test_a_failed_update_changes_nothing(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, index_dir, _ = site
    assert client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH).status_code == 201

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr("qa.index.updater.build_index", broken)
    fixed = {**BRIDGE, "text": "The bridge in Harlow is 999 metres long."}
    r = client.put("/api/articles/bridge", json=fixed, headers=AUTH)
    assert r.status_code == 500 and "nothing was changed" in r.json()["error"]
    assert client.put("/api/articles/new", json=BRIDGE, headers=AUTH).status_code == 500
    assert client.delete("/api/articles/bridge", headers=AUTH).status_code == 500
    stored = Inbox(index_dir).get("bridge")
    assert stored is not None and "340" in stored.text
    assert Inbox(index_dir).ids() == ["bridge"]


def test_an_index_built_from_memory_cannot_take_stories(tmp_path: Path) -> None:
    from qa.ingest.corpus import article_from_dict

    index_dir = tmp_path / "index"
    story = article_from_dict({**BRIDGE, "id": "old"}, "memory")
    build_index([story], index_dir, embedder=HashEmbedder(), progress=False)
    cfg = Settings(data_dir=tmp_path / "data", admin_token=TOKEN, rate_limit=0)
    with TestClient(create_app(index_dir, cfg, ui=False)) as client:
        r = client.put("/api/articles/bridge", json=BRIDGE, headers=AUTH)
        assert r.status_code == 409 and "not built from article files" in r.json()["error"]
    assert not Inbox(index_dir).ids()

"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): the chat, a
follow-up, the embedded widget on examples/cms-page.html, an XSS article, an oversized question,
and every request the pages make staying on the local servers. The test against the bundled
corpus with the real model also saves the README's screenshots into docs/screenshots/."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from qa.index.build import build_index
from qa.ingest.corpus import load_corpus
from qa.pipeline import Assistant
from qa.surfaces.activity import Activity
from qa.surfaces.web.app import create_app
from tests.helpers import ROOT, LiveServer, settings_for

# each test drives Chromium through the Gradio pages: seconds apiece
pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT = 60_000  # ms; the machine may be busy

XSS_ARTICLE = """---
id: festival
title: "<script>window.__xss=1</script>Lake <img src=x onerror=window.__xss=2> festival"
source: "Lake <b>Herald</b>"
date: 2025-05-01
url: "javascript:window.__xss=5"
---
The lake festival drew <img src=x onerror="window.__xss=3"> 5000 visitors on Saturday.
Organisers said <script>window.__xss=4</script> the festival would return next summer.
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `apt-get install -y chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class StaticServer:
    """A stand-in for the newsroom's site: serves a folder on another loopback origin."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://localhost:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(  # type: ignore[no-untyped-def]
    tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory, minilm
) -> Iterator[dict[str, Any]]:
    """The server over the tiny corpus plus an XSS article, and the demo CMS page on another
    origin pointing at it."""
    tmp = tmp_path_factory.mktemp("e2e")
    corpus = tmp / "corpus"
    shutil.copytree(tiny_dir, corpus)
    (corpus / "festival.md").write_text(XSS_ARTICLE, encoding="utf-8")
    index_dir = tmp / "index"
    articles = load_corpus([corpus]).articles
    build_index(articles, index_dir, inputs=[corpus], embedder=minilm, progress=False)
    settings = settings_for(tmp, admin_token=ADMIN_TOKEN)
    app = create_app(Assistant.load(index_dir, embedder=minilm), settings)
    with LiveServer(app) as server:
        page_dir = tmp / "cms"
        page_dir.mkdir()
        (page_dir / "cms-page.html").write_text(
            cms_page(server.url, story="school"), encoding="utf-8"
        )
        with StaticServer(page_dir) as cms:
            yield {"server": server.url, "cms": cms.url, "feedback": settings.data_dir}


ADMIN_TOKEN = "e2e-editors-token"


def cms_page(server: str, story: str) -> str:
    """examples/cms-page.html pointing at ``server``, its widget on story ``story``."""
    html = (ROOT / "examples" / "cms-page.html").read_text(encoding="utf-8")
    assert "http://127.0.0.1:7860" in html and 'data-article="ruto-kenya-remain-haiti"' in html
    html = html.replace('data-article="ruto-kenya-remain-haiti"', f'data-article="{story}"')
    return html.replace("http://127.0.0.1:7860", server)


class Recorder:
    """Every request a browser context makes, every dialog, every page error."""

    def __init__(self, context: Any) -> None:
        self.urls: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda r: self.urls.append(r.url))

    def watch(self, page: Any) -> None:
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or urlsplit(u).scheme for u in self.urls}

    def assert_local(self) -> None:
        assert self.urls
        foreign = [u for u in self.urls if urlsplit(u).hostname not in LOCAL_HOSTS]
        assert not foreign, f"requests to other hosts: {foreign[:5]}"


def new_page(browser: Any, width: int = 1280, height: int = 900) -> tuple[Any, Any, Recorder]:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT)
    recorder = Recorder(context)
    page = context.new_page()
    recorder.watch(page)
    return context, page, recorder


def ask(root: Any, question: str, n: int) -> Any:
    """Type a question into the chat under ``root`` and wait for the ``n``-th bot message."""
    box = root.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    bot = root.locator("[data-testid='bot']").nth(n - 1)
    bot.locator(".qa-answer").wait_for()
    return bot


def test_chat_answers_with_a_citation_and_follows_up(browser: Any, site: dict[str, Any]) -> None:
    context, page, rec = new_page(browser)
    page.goto(site["server"] + "/")
    first = ask(page, "How many workers rebuilt the main pier in Linden?", 1)
    assert first.locator("mark").first.inner_text() in {"120", "95"}
    link = first.locator("sup.qa-cite a").first
    assert link.get_attribute("href") == "https://example.org/harbor"
    assert link.get_attribute("target") == "_blank"
    first.locator("details.qa-sources summary").click()
    assert "Coast Gazette" in first.locator("details.qa-sources").inner_text()

    ask(page, "How many classrooms does the school have?", 2)
    follow = ask(page, "And how many pupils?", 3)
    # the quote answers the follow-up (its short answer: see the strict xfail in test_web_api)
    assert "400 pupils" in follow.locator("blockquote.qa-quote").first.inner_text()
    assert follow.locator("mark").count() >= 1
    assert "following up" in follow.inner_text()

    # thumbs up on the last answer lands in the activity store (the editors' page reads it)
    page.get_by_role("button", name="Like", exact=True).last.click()
    activity = Activity(site["feedback"])
    rows: list[Any] = []
    for _ in range(50):
        rows = activity.report("daily")
        if rows and rows[0][3]:
            break
        page.wait_for_timeout(100)
    assert rows and rows[0][3] == 1  # one thumbs up today
    assert "And how many pupils?" in [r[0] for r in activity.report("most_asked")]

    rec.assert_local()
    assert not rec.errors
    context.close()


def test_xss_article_executes_nothing(browser: Any, site: dict[str, Any]) -> None:
    context, page, rec = new_page(browser)
    page.goto(site["server"] + "/")
    question = "How many visitors did the lake festival draw? <img src=x onerror=window.__xss=true>"
    bot = ask(page, question, 1)
    bot.locator("details.qa-sources summary").click()
    text = bot.inner_text()
    assert "<script>" in text or "<img" in text  # shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("[data-testid='bot'] img, [data-testid='bot'] script").count() == 0
    assert page.locator("[data-testid='user'] img").count() == 0
    assert bot.locator("a[href^='javascript']").count() == 0
    assert not rec.dialogs and not rec.errors
    rec.assert_local()
    context.close()


def test_oversized_question_shows_the_message(browser: Any, site: dict[str, Any]) -> None:
    context, page, _ = new_page(browser)
    page.goto(site["server"] + "/")
    bot = ask(page, "Why " + "really " * 250 + "?", 1)
    assert "too long" in bot.inner_text()
    assert "1000" in bot.inner_text()
    context.close()


def test_cms_page_embeds_the_widget(browser: Any, site: dict[str, Any]) -> None:
    context, page, rec = new_page(browser)
    page.goto(site["cms"] + "/cms-page.html")
    frame = page.frame_locator("#qa-widget iframe")
    # the story's widget answers from its story, and says so
    bot = ask(frame, "How many classrooms does the school have?", 1)
    assert bot.locator("mark").first.inner_text() == "14"
    bot.locator("details.qa-sources summary").click()
    assert "(this story)" in bot.locator("details.qa-sources").inner_text()
    # then from the rest of the archive, marked as such
    bot = ask(frame, "How much did the repairs of the harbor cost?", 2)
    bot.locator("details.qa-sources summary").click()
    assert "(elsewhere in the archive)" in bot.locator("details.qa-sources").inner_text()
    component = page.locator("#qa-component")
    bot = ask(component, "How many pupils does the school have room for?", 1)
    assert "400" in bot.inner_text()
    rec.assert_local()
    assert {urlsplit(site["cms"]).port, urlsplit(site["server"]).port} == {
        urlsplit(u).port for u in rec.urls
    }
    assert not rec.errors
    context.close()


def test_not_found_shows_the_closest_passages_collapsed(browser: Any, site: dict[str, Any]) -> None:
    context, page, rec = new_page(browser)
    page.goto(site["server"] + "/")
    bot = ask(page, "How many moons does Jupiter have?", 1)
    assert "Not found in these articles." in bot.inner_text()
    related = bot.locator("details.qa-related")
    assert "Closest passages" in related.locator("summary").inner_text()
    assert not related.locator("ol").is_visible()  # collapsed until opened
    related.locator("summary").click()
    assert related.locator("li.qa-source").count() >= 1
    assert not rec.errors
    context.close()


def test_editors_page_shows_what_readers_asked_and_stays_inert(
    browser: Any, site: dict[str, Any]
) -> None:
    import httpx

    server = site["server"]
    # a reader asks about the article with markup in it and marks the answer wrong
    answer = httpx.post(
        server + "/api/ask", json={"question": "How many visitors did the lake festival draw?"}
    ).json()
    assert "<img" in answer["answer"]
    httpx.post(server + "/api/feedback", json={"answer": answer, "rating": "down"})
    httpx.post(server + "/api/ask", json={"question": "Where is the <b>ice rink</b>?"})
    context, page, rec = new_page(browser)
    page.goto(server + "/admin")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "not the editors' token" in page.inner_text("body")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#unanswered")
    assert "Where is the <b>ice rink</b>?" in page.inner_text("#unanswered")
    disliked = page.inner_text("#disliked")
    assert "lake festival" in disliked and "<img" in disliked  # shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img, main script, main b").count() == 0
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["qa_admin"]["httpOnly"] and cookies["qa_admin"]["sameSite"] == "Strict"
    assert not rec.dialogs and not rec.errors
    rec.assert_local()
    context.close()


def test_bundled_corpus_in_the_browser_and_screenshots(
    browser: Any, bundled_assistant: Assistant, tmp_path: Path
) -> None:
    """The real model over the bundled corpus; saves the README's screenshots."""
    app = create_app(bundled_assistant, settings_for(tmp_path, admin_token=ADMIN_TOKEN))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(app) as server:
        context, page, rec = new_page(browser, 1280, 960)
        page.goto(server.url + "/")
        bot = ask(page, "How many officers has Kenya provided?", 1)
        assert "735" in bot.locator("mark").first.inner_text()
        bot.locator("details.qa-sources summary").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "chat-desktop.png"))
        # judged only with the earlier question, every such follow-up got its answer, "735"
        follow = ask(page, "And how many troops were pledged?", 2)
        assert "following up" in follow.inner_text()
        assert "2,500" in follow.locator("mark").first.inner_text()
        rec.assert_local()
        context.close()

        context, page, rec = new_page(browser, 1280, 760)
        page.goto(server.url + "/")
        bot = ask(page, "How many schools has the mission rebuilt in Port-au-Prince?", 1)
        assert "Not found in these articles." in bot.inner_text()
        bot.locator("details.qa-related summary").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "chat-not-found.png"))
        rec.assert_local()
        context.close()

        context, page, rec = new_page(browser, 390, 844)
        page.goto(server.url + "/")
        bot = ask(page, "Who is the Haitian Prime Minister who held talks with Ruto?", 1)
        bot.locator("details.qa-sources summary").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "chat-phone.png"))
        rec.assert_local()
        context.close()

        site = tmp_path / "cms"
        site.mkdir()
        (site / "cms-page.html").write_text(cms_page(server.url, "ruto-kenya-remain-haiti"))
        with StaticServer(site) as cms:
            context, page, rec = new_page(browser, 1280, 1000)
            page.goto(cms.url + "/cms-page.html")
            frame = page.frame_locator("#qa-widget iframe")
            bot = ask(frame, "How many officers has Kenya provided?", 1)
            assert "735" in bot.inner_text()
            bot.locator("details.qa-sources summary").click()
            assert "(this story)" in bot.locator("details.qa-sources").inner_text()
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOTS / "embed-demo.png"))
            rec.assert_local()
            context.close()

        context, page, rec = new_page(browser, 1280, 900)
        page.goto(server.url + "/admin")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("#unanswered")
        assert "How many schools has the mission rebuilt" in page.inner_text("#unanswered")
        page.screenshot(path=str(SCREENSHOTS / "editors-page.png"))
        rec.assert_local()
        context.close()

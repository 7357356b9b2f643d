from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import CorpusError
from qa.ingest.corpus import load_corpus


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_markdown_front_matter_and_verbatim_body(tmp_path: Path) -> None:
    write(
        tmp_path / "a.md",
        '---\nid: a1\ntitle: "T: one"\nsource: Daily\ndate: 2025-01-02\n---\nBody line one.\nBody line two.\n',
    )
    (art,) = load_corpus([tmp_path]).articles
    assert (art.id, art.title, art.source, art.date) == ("a1", "T: one", "Daily", "2025-01-02")
    assert art.text == "Body line one.\nBody line two."
    assert art.author == "" and art.url == ""  # unknown stays empty


def test_txt_first_line_is_title(tmp_path: Path) -> None:
    write(tmp_path / "story.txt", "The Title\r\nFirst sen\u00adtence here.\r\n")
    (art,) = load_corpus([tmp_path / "story.txt"]).articles
    assert art.id == "story" and art.title == "The Title"
    assert art.text == "First sentence here."


def test_html_uses_main_text_not_menus(tmp_path: Path) -> None:
    html = """<html><head><title>Harbor reopens | Gazette</title>
    <meta property="og:site_name" content="Coast Gazette"></head><body>
    <nav><a href="/">Home</a> <a href="/sports">Sports</a> <a href="/subscribe">Subscribe</a></nav>
    <article><h1>Harbor reopens</h1>
    <p>The harbor of Linden reopened on Monday after a week of repairs by the port&nbsp;authority.</p>
    <p>Mayor Clara Voss said 120 workers rebuilt the main pier during the long week of work.</p>
    <p>Ferries to the islands will resume next month, the operators told reporters on Tuesday.</p>
    </article><div class="ad">Buy now! Advertisement</div>
    <footer>Copyright Gazette. All rights reserved.</footer></body></html>"""
    write(tmp_path / "page.html", html)
    (art,) = load_corpus([tmp_path]).articles
    assert "120 workers rebuilt the main pier" in art.text
    assert "Sports" not in art.text and "Buy now" not in art.text
    assert art.title.startswith("Harbor reopens")


def test_html_keeps_the_words_of_links_inside_sentences(tmp_path: Path) -> None:
    # as a CBS News page marks them up: with trafilatura's favor_precision these sentences
    # lost their links' words ("especially high for .")
    html = """<html><head><title>Primary nears | Gazette</title></head><body>
    <nav><a href="/">Home</a> <a href="/sports">Sports</a></nav>
    <article><h1>Primary nears</h1>
    <p>The stakes are high for all of the candidates ahead of Tuesday's debate in Linden,
    co-hosted by the Gazette. But they're especially high for <span class="link"><a
    href="https://example.org/news/clara-voss-profile">Clara Voss</a></span>.</p>
    <p>The former mayor had a substantial lead in the county, but <span class="link"><a
    href="https://example.org/news/poll-voss-drop">has dropped in recent polls</a></span>,
    notably among the county's younger voters who make up about 40% of the electorate.</p>
    <p>Volunteers said the race remains wide open with three weeks to go before the vote.</p>
    </article><footer>Copyright Gazette.</footer></body></html>"""
    write(tmp_path / "page.html", html)
    (art,) = load_corpus([tmp_path]).articles
    assert "especially high for Clara Voss." in art.text
    assert "but has dropped in recent polls, notably" in art.text
    assert "Sports" not in art.text and "Copyright" not in art.text


def test_jsonl_one_article_per_line(tmp_path: Path) -> None:
    rows = [
        {"id": "x", "title": "X", "text": "Alpha beta gamma.", "url": "https://e.org/x"},
        {"id": "y", "title": "Y", "text": "Delta epsilon.", "author": "Bo"},
    ]
    write(tmp_path / "arts.jsonl", "\n".join(json.dumps(r) for r in rows))
    arts = load_corpus([tmp_path / "arts.jsonl"]).articles
    assert [a.id for a in arts] == ["x", "y"] and arts[0].url == "https://e.org/x"


BAD_FILES = [
    ("empty.md", b"", "file is empty"),
    ("latin1.txt", "Title\nCaf\xe9 cr\xe8me.".encode("latin-1"), "not valid UTF-8"),
    ("broken.md", "---\ntitle: [unclosed\n---\nText.\n", "broken front matter"),
    ("unclosed.md", "---\ntitle: x\nText without closing.\n", "no closing '---'"),
    ("notext.md", "---\ntitle: Only a title\n---\n\n", "article has no text"),
    ("nul.txt", b"Title\n\x00\x01\x02binary", "binary file"),
    ("lines.jsonl", '{"id": "a", "title": "A"}\nnot json\n', "missing 'text'"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_FILES)
def test_bad_file_is_named_with_its_reason(
    tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    write(tmp_path / "good.md", "---\nid: good\n---\nFine text.\n")
    bad = write(tmp_path / name, content)
    with pytest.raises(CorpusError) as info:
        load_corpus([tmp_path])
    message = str(info.value)
    assert str(bad) in message and reason in message
    result = load_corpus([tmp_path], skip_invalid=True)
    assert [a.id for a in result.articles] == ["good"]
    assert any(reason in why for _, why in result.problems)


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\nid: same\n---\nOne.\n")
    write(tmp_path / "b.md", "---\nid: same\n---\nTwo.\n")
    with pytest.raises(CorpusError, match="duplicate id 'same'"):
        load_corpus([tmp_path])


def test_unreadable_and_missing_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "locked.md", "---\nid: l\n---\nText.\n")
    real = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(CorpusError, match="cannot read file: Permission denied"):
        load_corpus([target])
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus([tmp_path / "missing.md"])

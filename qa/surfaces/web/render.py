"""Answers rendered as safe HTML for the chat and the widget: every piece of article text,
title and question is escaped, so an article containing ``<script>`` shows it as text."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from qa.types import NOT_FOUND_MESSAGE, Answer, Citation

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


def _quote_html(c: Citation) -> str:
    """The quote, its short answer in ``<mark>``, inside quotation marks unless it has its
    own."""
    before, short, after = c.quote_parts()
    text = f"{esc(before)}<mark>{esc(short)}</mark>{esc(after)}" if short else esc(c.quote)
    return c.in_marks(text)


def answer_html(answer: Answer) -> str:
    """The chat's rendering of an answer: each quoted sentence with its short answer in
    ``<mark>`` and a numbered marker (a link when the article has a URL), then a collapsible
    Sources block. Only our own tags; every piece of text is escaped."""
    if answer.error:
        return f'<div class="qa-answer qa-error"><p>{esc(answer.error)}</p></div>'
    if answer.abstained or not answer.citations:
        note = esc(answer.message or NOT_FOUND_MESSAGE)
        related = ""
        if answer.related:
            related = (
                f'<details class="qa-related"><summary>Closest passages ({len(answer.related)})'
                f' — not an answer</summary><ol class="qa-source-list">'
                f"{''.join(_source_item(c) for c in answer.related)}</ol></details>"
            )
        return f'<div class="qa-answer qa-abstain"><p>{note}</p>{related}</div>'
    parts = ['<div class="qa-answer">']
    if answer.resolved_question:
        parts.append(f'<p class="qa-resolved">Read as: {esc(answer.resolved_question)}</p>')
    if answer.message:
        parts.append(f'<p class="qa-note">{esc(answer.message)}</p>')
    if answer.short_answer and not answer.conflict:
        parts.append(f'<p class="qa-short"><strong>{esc(answer.short_answer)}</strong></p>')
    for c in answer.citations:
        parts.append(f'<blockquote class="qa-quote">{_quote_html(c)} {_marker(c)}</blockquote>')
    items = [_source_item(c) for c in answer.citations]
    parts.append(
        f'<details class="qa-sources"><summary>Sources ({len(answer.citations)})</summary>'
        f'<ol class="qa-source-list">{"".join(items)}</ol></details>'
    )
    parts.append(f'<p class="qa-confidence">confidence {answer.confidence:.2f}</p></div>')
    return "".join(parts)


def _source_item(c: Citation) -> str:
    title = esc(c.title or c.article_id)
    url = safe_url(c.url)
    if url:
        title = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{title}</a>'
    meta = " · ".join(esc(x) for x in (c.source, c.author, c.date) if x)
    where = ""
    if c.in_story is not None:
        label = "this story" if c.in_story else "elsewhere in the archive"
        where = f' <span class="qa-where">({label})</span>'
    return (
        f'<li class="qa-source"><span class="qa-n">[{c.n}]</span> <strong>{title}</strong>'
        + (f' <span class="qa-meta">{meta}</span>' if meta else "")
        + where
        + f'<br><span class="qa-source-quote">{_quote_html(c)}</span></li>'
    )


def question_html(question: str, limit: int = 300) -> str:
    text = " ".join(str(question).split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return f'<span class="qa-question">{esc(text)}</span>'


def message_html(message: str) -> str:
    return f'<div class="qa-answer qa-error"><p>{esc(message)}</p></div>'

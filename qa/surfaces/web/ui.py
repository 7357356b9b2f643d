"""The Gradio pages: the chat at ``/`` and the compact widget at ``/embed`` (one builder).

Answers are rendered to safe HTML by :func:`qa.surfaces.web.render.answer_html` (every piece of text escaped,
only our own tags) and Gradio's ``sanitize_html`` stays on as a second line of defence. The theme
uses system fonts only, so the pages load nothing from any other host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from qa.config import Settings
from qa.errors import QAError
from qa.retrieve.hybrid import Filters
from qa.surfaces.activity import Activity
from qa.surfaces.web.examples import example_questions
from qa.surfaces.web.live import LiveAssistant
from qa.surfaces.web.render import answer_html, message_html, question_html

THEME = gr.themes.Default(
    primary_hue="blue",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.qa-answer p { margin: 0 0 .4em 0; }
.qa-answer .qa-short { font-size: 1.05em; }
.qa-answer .qa-resolved, .qa-answer .qa-confidence { color: #6b7280; font-size: .85em; }
.qa-answer .qa-note { font-weight: 600; }
.qa-answer blockquote.qa-quote {
  margin: .3em 0 .5em 0; padding: .2em .8em; border-left: 3px solid #93c5fd;
  font-style: normal;
}
.qa-answer mark { background: #fde68a; color: inherit; padding: 0 .15em; border-radius: 3px; }
.qa-answer sup.qa-cite { font-weight: 600; margin-left: .1em; }
.qa-answer details.qa-sources { margin: .3em 0; }
.qa-answer details.qa-sources summary { cursor: pointer; font-weight: 600; }
.qa-answer ol.qa-source-list { list-style: none; padding-left: 0; margin: .4em 0; }
.qa-answer li.qa-source { margin: .4em 0; }
.qa-answer .qa-meta { color: #6b7280; font-size: .9em; }
.qa-answer .qa-source-quote { display: block; font-size: .92em; margin-top: .15em; }
.qa-abstain p { font-style: italic; }
.qa-error p { color: #b91c1c; }
#qa-title h1 { margin: .2em 0 0 0; font-size: 1.5em; }
#qa-title p { margin: .2em 0 .4em 0; color: #4b5563; }
"""

EMBED_CSS = (
    CSS
    + """
footer { display: none !important; }
.gradio-container { padding: 0 !important; }
.gradio-container .main.fillable { padding: 6px 8px !important; }
"""
)


# The chat's copy buttons would copy a message's HTML source; copy readable text instead (the
# quotes, then the numbered sources with their links). Runs on page load, also in the widget.
COPY_JS = r"""
() => {
  if (window.__qaCopyText) return;
  window.__qaCopyText = true;
  const answerText = (a) => {
    const out = [];
    for (const el of a.children) {
      if (el.matches("p.qa-confidence")) continue;
      if (el.matches("details.qa-sources")) {
        out.push("", "Sources:");
        for (const li of el.querySelectorAll("li.qa-source")) {
          const n = li.querySelector(".qa-n")?.textContent || "";
          const title = li.querySelector("strong")?.textContent || "";
          const meta = li.querySelector(".qa-meta")?.textContent || "";
          const link = li.querySelector("strong a")?.href || "";
          out.push([n, title].join(" ") + (meta ? " — " + meta : "") + (link ? " <" + link + ">" : ""));
        }
      } else {
        out.push(el.textContent.trim());
      }
    }
    return out.join("\n").trim();
  };
  const messageText = (box) => {
    const a = box.querySelector(".qa-answer");
    return a ? answerText(a) : (box.querySelector(".message-content") || box).textContent.trim();
  };
  const copy = (text) => navigator.clipboard && navigator.clipboard.writeText(text);
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest && ev.target.closest("button[aria-label]");
    if (!btn) return;
    const label = btn.getAttribute("aria-label");
    if (label === "Copy message") {
      let box = btn.parentElement;
      while (box && !box.querySelector(".message-content")) box = box.parentElement;
      if (!box) return;
      ev.stopImmediatePropagation(); ev.preventDefault();
      copy(messageText(box));
    } else if (label === "Copy conversation") {
      const chat = btn.closest(".block") || document;
      const rows = chat.querySelectorAll("[data-testid='user'], [data-testid='bot']");
      if (!rows.length) return;
      ev.stopImmediatePropagation(); ev.preventDefault();
      copy(Array.from(rows, (r) =>
        (r.dataset.testid === "user" ? "Q: " : "A: ") + messageText(r)).join("\n\n"));
    }
  }, true);
}
"""


def _history(records: list[dict[str, Any] | None]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for rec in records:
        if rec and not rec.get("error"):
            out.append({"role": "user", "content": str(rec.get("question", ""))})
            out.append({"role": "assistant", "content": str(rec.get("answer", ""))})
    return out


def _empty() -> dict[str, Any]:
    return {"messages": [], "records": []}


def rating_of(liked: Any) -> str:
    if liked is True or str(liked).lower() in ("like", "up", "true"):
        return "up"
    if liked is False or str(liked).lower() in ("dislike", "down", "false"):
        return "down"
    return "none" if liked in (None, "") else str(liked)


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class PageScope:
    """What the page a widget sits on asks for, from the widget URL's query
    (``/embed/?article=ID&topic=…&since=YYYY-MM-DD``; the snippet's ``data-article``,
    ``data-topic`` and ``data-since``): that story's answers first, the topic read as the start
    of the conversation, only articles since a date."""

    article: str = ""
    topic: str = ""
    since: str = ""

    @classmethod
    def of(cls, request: gr.Request | None) -> PageScope:
        params = dict(getattr(request, "query_params", None) or {}) if request else {}
        since = str(params.get("since", "")).strip()
        return cls(
            article=str(params.get("article", "")).strip()[:200],
            topic=" ".join(str(params.get("topic", "")).split())[:200],
            since=since if _DATE.match(since) else "",
        )

    def prefer(self) -> tuple[str, ...]:
        return (self.article,) if self.article else ()

    def filters(self) -> Filters | None:
        return Filters(date_from=self.since) if self.since else None

    def history(self, earlier: list[dict[str, str]]) -> list[dict[str, str]]:
        return ([{"role": "user", "content": self.topic}] if self.topic else []) + earlier


def build_chat(
    live: LiveAssistant, activity: Activity, settings: Settings, *, compact: bool
) -> gr.Blocks:
    """The chat page (``compact=False``) or the widget for a fixed-height iframe."""
    examples = example_questions(live.assistant)
    surface = "widget" if compact else "chat"

    with gr.Blocks(title="Ask the articles", analytics_enabled=False, fill_height=compact) as demo:
        if not compact:
            gr.HTML(
                "<h1>Ask the articles</h1><p>Answers are quoted word for word from the indexed "
                "news articles, with numbered sources. When the articles don't say, it tells "
                "you.</p>",
                elem_id="qa-title",
            )
        chatbot = gr.Chatbot(
            label="Answers",
            show_label=False,
            height=None if compact else 520,
            scale=1 if compact else None,
            min_height=200 if compact else None,
            buttons=["copy", "copy_all"],
            feedback_options=("Like", "Dislike"),
            sanitize_html=True,
            render_markdown=True,
            latex_delimiters=[],
            layout="panel",
            placeholder="Ask a question about the articles." if not compact else None,
            examples=[{"text": q} for q in examples] if compact else None,
            group_consecutive_messages=False,
            elem_id="qa-chat",
        )
        state = gr.State(_empty())
        with gr.Row(equal_height=True):
            box = gr.Textbox(
                show_label=False,
                placeholder="Ask about the articles…",
                scale=8,
                lines=1,
                max_lines=4,
                autofocus=not compact,
                elem_id="qa-question",
            )
            ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="qa-ask")
        if not compact and examples:
            gr.Examples(examples=[[q] for q in examples], inputs=[box], label="Example questions")

        def respond(
            message: str, conv: dict[str, Any], request: gr.Request
        ) -> tuple[str, list[Any], dict[str, Any]]:
            scope = PageScope.of(request)
            conv = {
                "messages": list((conv or {}).get("messages", [])),
                "records": list((conv or {}).get("records", [])),
            }
            question = message or ""
            conv["messages"].append({"role": "user", "content": question_html(question)})
            conv["records"].append(None)
            try:
                answer = live.ask(
                    question,
                    scope.history(_history(conv["records"])),
                    top_k=settings.top_k,
                    filters=scope.filters(),
                    prefer=scope.prefer(),
                )
                activity.record_answers([answer], surface, scope.article)
                rec: dict[str, Any] | None = answer.to_dict()
                content = answer_html(answer)
            except QAError as err:
                text = str(err)
                rec, content = None, message_html(text[:1].upper() + text[1:] + ".")
            conv["messages"].append({"role": "assistant", "content": content})
            conv["records"].append(rec)
            return "", conv["messages"], conv

        def on_example(evt: gr.SelectData, conv: dict[str, Any], request: gr.Request) -> Any:
            value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
            return respond(str(value.get("text", "")), conv, request)

        def on_like(evt: gr.LikeData, conv: dict[str, Any]) -> None:
            records = (conv or {}).get("records", [])
            idx = evt.index if isinstance(evt.index, int) else evt.index[0]
            rec = records[idx] if 0 <= idx < len(records) else None
            if rec:
                activity.record_rating(rec, rating_of(evt.liked), surface)

        def reset() -> tuple[list[Any], dict[str, Any], str]:
            return [], _empty(), ""

        ui_event: dict[str, Any] = {"api_visibility": "private", "concurrency_id": "qa"}
        box.submit(respond, [box, state], [box, chatbot, state], **ui_event)
        ask_btn.click(respond, [box, state], [box, chatbot, state], **ui_event)
        chatbot.example_select(on_example, [state], [box, chatbot, state], **ui_event)
        chatbot.like(on_like, [state], None, api_visibility="private", queue=False)
        chatbot.clear(reset, None, [chatbot, state, box], api_visibility="private", queue=False)

        if not compact:

            def ask(question: str, history: list[Any] | None = None) -> dict[str, Any]:
                """Answer a question from the indexed articles; returns the answer contract."""
                try:
                    return live.ask(question, history or None, top_k=settings.top_k).to_dict()
                except QAError as err:
                    raise gr.Error(str(err)) from err

            gr.api(ask, api_name="ask", concurrency_id="qa")  # type: ignore[attr-defined]

    # api_open=False: the Gradio API cannot bypass the queue; past max_size it answers 503 at once
    demo.queue(
        max_size=settings.max_queue,
        api_open=False,
        default_concurrency_limit=settings.max_concurrency,
    )
    blocks: gr.Blocks = demo
    return blocks

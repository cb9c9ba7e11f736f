"""The Gradio chat, mounted at ``/chat`` beside the JSON API.

Answers stream in as the engine produces them. Citations render as numbered links
``[n](#cite/ARTICLE/START/END)``; a small script in the page turns a click on one into the article
in the side panel with the cited sentence highlighted and scrolled into view. Article text reaches
the page only as text: in messages it is HTML- and Markdown-escaped, and the side panel builds its
DOM with ``textContent``, so an article containing ``<script>`` or ``<img onerror=...>`` shows as text.
"""

from __future__ import annotations

import html
import logging
import os
import re
from typing import Callable, Iterator
from urllib.parse import quote

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.engine import ANSWER_FAILED, Engine  # noqa: E402
from rag.types import STANCES, Citation, DeltaEvent, DoneEvent, NoticeEvent, StatementEvent  # noqa: E402

log = logging.getLogger("whosaid.chat")

EXAMPLES = [
    "Who denied what?",
    "Who confirmed the meeting, and to whom?",
    "What did TNA quote?",
    "Who ruled out water rationing?",
]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def escape(text: str) -> str:
    """Plain text for a Markdown message: HTML entities for <>&, backslashes for Markdown syntax."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def cite_link(c: Citation) -> str:
    return f"[\\[{c.marker}\\]](#cite/{quote(c.article_id, safe='')}/{c.start}/{c.end})"


def render_answer(text: str, citations: list[Citation], notice: str | None = None) -> str:
    """The final answer as Markdown: escaped text, markers as citation links, then the sources."""
    by_marker = {c.marker: c for c in citations}
    parts = re.split(r"(\[\d+\])", text)
    out = []
    for part in parts:
        m = re.fullmatch(r"\[(\d+)\]", part)
        if m and int(m.group(1)) in by_marker:
            out.append(cite_link(by_marker[int(m.group(1))]))
        elif not m:
            out.append(escape(part))
    body = "".join(out)
    if notice:
        body = f"*{escape(notice)}*\n\n{body}"
    if citations:
        body += "\n\n" + "\n".join(
            f"- {cite_link(c)} {escape(c.title)}: “{escape(c.quote)}”" for c in citations
        )
    return body


def build_chat(engine_for: Callable[[str | None], Engine], max_chars: int) -> gr.Blocks:
    """The chat UI; ``engine_for(collection)`` returns the collection's engine, which serves many
    threads at once (the queue's concurrency is set by the server: WHOSAID_WORKERS)."""

    def respond(question: str, history: list[dict]) -> Iterator[tuple[list[dict], str]]:
        question = (question or "").strip()
        if not question:
            yield history, ""
            return
        history = history + [{"role": "user", "content": escape(question)}]
        if len(question) > max_chars:
            history.append({"role": "assistant", "content": f"The question is too long ({len(question)} characters; the limit is {max_chars})."})
            yield history, ""
            return
        turns = [(m["role"], m["content"]) for m in history[:-1] if isinstance(m.get("content"), str)]
        engine = engine_for(None)
        history.append({"role": "assistant", "content": ""})
        shown = ""
        try:
            for event in engine.stream(question, None, turns[-6:]):
                if isinstance(event, DeltaEvent):
                    shown += escape(event.text)
                elif isinstance(event, StatementEvent) and event.supported:  # a dropped one shows nothing
                    shown += "".join(cite_link(c) for c in event.citations) + " "
                elif isinstance(event, NoticeEvent) and event.reset:
                    shown = ""
                elif isinstance(event, DoneEvent):
                    a = event.answer
                    shown = render_answer(a.text, a.citations, a.notice)
                history[-1] = {"role": "assistant", "content": shown}
                yield history, ""
        except Exception:  # noqa: BLE001 - a message in the conversation, never an error badge
            log.exception("answering %r failed", question[:100])
            history[-1] = {"role": "assistant", "content": escape(ANSWER_FAILED)}
            yield history, ""

    def ledger(stance: str, speaker: str) -> list[list[str]]:
        """The ledger grouped by canonical speaker (rows of one speaker together, most claims first), with
        how each article wrote them ("he", "the minister")."""
        engine = engine_for(None)
        directory = engine.attribution.directory()
        rows = engine.store.catalogue.claims(
            engine.store.space, stance=None if stance in ("", "any") else stance, speaker=(speaker or "").strip() or None
        )
        return [
            [g.name, c.speaker_mention, c.reads, c.cue, c.content, c.article_id, ", ".join(map(str, c.sentence_indexes))]
            for g in directory.groups(rows) for c in g.claims
        ][:500]

    with gr.Blocks(title="whosaid", analytics_enabled=False) as demo:
        gr.Markdown("## whosaid\nAsk about the articles; every answer cites the sentences it rests on. Click a [n] to read it in context.")
        with gr.Tabs():
            with gr.Tab("Ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Answers", elem_id="whosaid-chat", height=520, sanitize_html=True, allow_tags=False,
                            feedback_options=None, buttons=["copy"],
                        )
                        box = gr.Textbox(
                            placeholder="Who denied what?", show_label=False, elem_id="whosaid-question", max_length=max_chars,
                            submit_btn=True,
                        )
                        gr.Examples(EXAMPLES, inputs=box)
                    with gr.Column(scale=2):
                        gr.HTML('<div id="whosaid-article" class="whosaid-article"><p class="hint">Click a citation to see the sentence in its article.</p></div>')
                box.submit(respond, [box, chatbot], [chatbot, box])
            with gr.Tab("Who said what"):
                with gr.Row():
                    stance = gr.Dropdown(["any", *STANCES], value="deny", label="Stance", elem_id="whosaid-stance")
                    speaker = gr.Textbox(label="Speaker contains", elem_id="whosaid-speaker")
                    go = gr.Button("Show", elem_id="whosaid-ledger-show")
                table = gr.Dataframe(
                    headers=["speaker", "as written", "stance", "cue", "content", "article", "sentences"], interactive=False, wrap=True,
                    elem_id="whosaid-ledger",
                )
                go.click(ledger, [stance, speaker], table)
                demo.load(ledger, [stance, speaker], table)
    return demo


#: Runs in the page: citation links open the article in the side panel, built with textContent only.
CHAT_JS = r"""
() => {
  const base = window.location.pathname.replace(/\/chat\/?.*$/, "");
  async function show(articleId, start, end) {
    const panel = document.getElementById("whosaid-article");
    if (!panel) return;
    const r = await fetch(`${base}/api/articles/${encodeURIComponent(articleId)}`, {credentials: "same-origin"});
    panel.replaceChildren();
    if (!r.ok) { panel.textContent = `Could not load the article (${r.status}).`; return; }
    const a = await r.json();
    const h = document.createElement("h3"); h.textContent = a.title; panel.appendChild(h);
    if (a.source || a.published) {
      const meta = document.createElement("p"); meta.className = "meta";
      meta.textContent = [a.source, a.published].filter(Boolean).join(" · "); panel.appendChild(meta);
    }
    const body = document.createElement("div"); body.className = "text";
    body.appendChild(document.createTextNode(a.text.slice(0, start)));
    const mark = document.createElement("mark"); mark.id = "whosaid-highlight";
    mark.textContent = a.text.slice(start, end); body.appendChild(mark);
    body.appendChild(document.createTextNode(a.text.slice(end)));
    panel.appendChild(body);
    mark.scrollIntoView({block: "center"});
  }
  document.addEventListener("click", (e) => {
    const link = e.target.closest && e.target.closest('a[href^="#cite/"]');
    if (!link) return;
    e.preventDefault();
    const [, id, start, end] = link.getAttribute("href").split("/");
    show(decodeURIComponent(id), Number(start), Number(end));
  }, true);
}
"""

CHAT_CSS = """
.whosaid-article { max-height: 600px; overflow-y: auto; white-space: pre-wrap; font-size: 0.95em; }
.whosaid-article mark { background: #ffe58a; padding: 0 2px; }
.whosaid-article .meta, .whosaid-article .hint { color: #666; }
"""

"""The Gradio chat, mounted at ``/chat`` beside the JSON API.

Answers stream in as the engine produces them. Citations render as numbered links
``[n](#cite/ARTICLE/START/END)``; a small script in the page turns a click on one into the article
in the side panel with the cited sentence highlighted; the panel scrolls itself to the sentence, never
the conversation or the page. Attribution answers are grouped by speaker and article, each article
with its source, date and original link; the "Who said what" ledger is an HTML table whose rows open
their sentence the same way. Article text reaches the page only as text: messages are HTML- and
Markdown-escaped and the ledger HTML-escaped (``ui/chat_render.py``), and the side panel builds its
DOM with ``textContent``, so an article containing ``<script>`` or ``<img onerror=...>`` shows as text.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Iterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from rag.engine import ANSWER_FAILED, Engine  # noqa: E402
from rag.filters import FilterError, Filters, articles_meta, ledger as filtered_ledger  # noqa: E402
from rag.types import STANCES, Answer, DeltaEvent, DoneEvent, NoticeEvent, StatementEvent  # noqa: E402
from ui.chat_desk import Exports, article_choices, filters_from, ledger_downloads, source_choices  # noqa: E402
from ui.chat_speakers import speakers_tab  # noqa: E402
from ui.chat_render import LedgerRow, cite_link, escape, h, ledger_html, render_answer  # noqa: E402,F401 - re-exported

log = logging.getLogger("whosaid.chat")

EXAMPLES = [
    "Who denied what?",
    "Who confirmed the meeting, and to whom?",
    "What did TNA quote?",
    "Who ruled out water rationing?",
]
#: Rows the ledger tab shows at most (its download, the CLI and the API give all of them).
LEDGER_ROWS = 500


def articles_by_id(engine: Engine, ids: Iterable[str]) -> dict[str, Any]:
    """Title, source, date and URL of each of these articles (``rag.filters.ArticleMeta``, read by id). A
    failed read shows the answer without the metadata rather than no answer."""
    try:
        return articles_meta(engine.store, ids)
    except Exception:  # noqa: BLE001
        log.exception("reading article metadata failed")
        return {}


def ledger_view(engine: Engine, stance: str | None, filters: Filters | None, limit: int = LEDGER_ROWS) -> tuple[str, int]:
    """The filtered ledger grouped by canonical speaker (most claims first), as the escaped HTML table of
    :func:`ui.chat_render.ledger_html` (at most ``limit`` rows, each linked to its sentences), and how
    many claims it holds."""
    directory = engine.attribution.directory()
    groups = directory.groups(filtered_ledger(engine.store, filters, stance or None, engine.filters))
    total = sum(len(g.claims) for g in groups)
    picked, budget = [], limit
    for g in groups:
        if budget <= 0:
            break
        picked.append((g, g.claims[:budget]))
        budget -= len(picked[-1][1])
    windows = [(c.article_id, i, i) for _, claims in picked for c in claims for i in c.sentence_indexes]
    found = engine.store.catalogue.window_sentences(engine.store.space, windows, engine.store.embedder.dim) if windows else []
    by_key = {(s.article_id, s.index): s for s, *_ in found}
    shown = [
        (g.name, g.roles, [LedgerRow(c, [by_key[(c.article_id, i)] for i in c.sentence_indexes if (c.article_id, i) in by_key]) for c in claims])
        for g, claims in picked
    ]
    articles = articles_by_id(engine, (c.article_id for _, claims in picked for c in claims))
    return ledger_html(shown, articles, total, sum(len(r) for _, _, r in shown)), total


def _hidden() -> tuple[Any, Any]:
    return gr.DownloadButton(visible=False), gr.DownloadButton(visible=False)


def build_chat(engine_for: Callable[[str | None], Engine], max_chars: int) -> gr.Blocks:
    """The chat UI; ``engine_for(collection)`` returns the collection's engine, which serves many
    threads at once (the queue's concurrency is set by the server: WHOSAID_WORKERS)."""
    exports = Exports()

    def respond(
        question: str, history: list[dict], sources: list[str] | None = None, since: str = "", until: str = "",
        articles: list[str] | None = None, speaker: str = "",
    ) -> Iterator[tuple[list[dict], str, Answer | None]]:
        """The answer as it streams, under the filters beside the question; the complete Answer goes to a
        State (not part of the chat's API: ``predict(question, history)`` still returns the history and
        the box) from which :func:`answer_files` makes the downloads."""
        question = (question or "").strip()
        if not question:
            yield history, "", None
            return
        history = history + [{"role": "user", "content": escape(question)}]
        if len(question) > max_chars:
            history.append({"role": "assistant", "content": f"The question is too long ({len(question)} characters; the limit is {max_chars})."})
            yield history, "", None
            return
        try:
            filters = filters_from(sources, since, until, articles, speaker)
        except FilterError as e:
            history.append({"role": "assistant", "content": escape(f"The filters could not be read: {e}.")})
            yield history, question, None  # the question stays in the box, to ask again once they are fixed
            return
        turns = [(m["role"], m["content"]) for m in history[:-1] if isinstance(m.get("content"), str)]
        engine = engine_for(None)
        history.append({"role": "assistant", "content": ""})
        shown, answer = "", None
        try:
            for event in engine.stream(question, None, turns[-6:], filters=filters if filters.active else None):
                if isinstance(event, DeltaEvent):
                    shown += escape(event.text)
                elif isinstance(event, StatementEvent) and event.supported:  # a dropped one shows nothing
                    shown += "".join(cite_link(c) for c in event.citations) + " "
                elif isinstance(event, NoticeEvent) and event.reset:
                    shown = ""
                elif isinstance(event, DoneEvent):
                    answer = event.answer
                    meta = articles_by_id(engine, (c.article_id for c in answer.claims))
                    shown = render_answer(answer.text, answer.citations, answer.notice, answer.claims, meta, answer.mode)
                history[-1] = {"role": "assistant", "content": shown}
                yield history, "", answer
        except Exception:  # noqa: BLE001 - a message in the conversation, never an error badge
            log.exception("answering %r failed", question[:100])
            history[-1] = {"role": "assistant", "content": escape(ANSWER_FAILED)}
            yield history, "", None

    def answer_files(answer: Answer | None) -> tuple[Any, Any]:
        """The last answer as CSV and JSON Lines (rag.export, as ``whosaid ask --csv``), or no buttons."""
        if answer is None:
            return _hidden()
        engine = engine_for(None)
        csv, jsonl = exports.answer(answer, articles_by_id(engine, (c.article_id for c in answer.citations)))
        return gr.DownloadButton(value=csv, visible=True), gr.DownloadButton(value=jsonl, visible=True)

    def ledger(stance: str, speaker: str, sources: list[str] | None = None, since: str = "", until: str = "",
               articles: list[str] | None = None) -> tuple[str, str]:
        """The ledger under the tab's filters, and links that download all of it (not only the rows
        shown) from the API's export: nothing is written until a reader asks for it."""
        try:
            filters = filters_from(sources, since, until, articles, speaker)
        except FilterError as e:
            return f'<p class="whosaid-empty">The filters could not be read: {h(str(e))}.</p>', ""
        stance = None if stance in ("", "any") else stance
        html, shown = ledger_view(engine_for(None), stance, filters)
        return html, ledger_downloads(stance, filters) if shown else ""

    def pickers() -> tuple[Any, ...]:
        """The pickers' choices, read when the page loads (a collection grows between visits)."""
        engine = engine_for(None)
        sources, articles = source_choices(engine), article_choices(engine)
        return gr.Dropdown(choices=sources), gr.Dropdown(choices=articles), gr.Dropdown(choices=sources), gr.Dropdown(choices=articles)

    with gr.Blocks(title="whosaid", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("## whosaid\nAsk about the articles; every answer cites the sentences it rests on. Click a [n] to read it in context.")
        with gr.Tabs():
            with gr.Tab("Ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        chatbot = gr.Chatbot(
                            label="Answers", show_label=False, elem_id="whosaid-chat", height=520, sanitize_html=True, allow_tags=False,
                            feedback_options=None, buttons=["copy"],
                        )
                        box = gr.Textbox(
                            placeholder="Who denied what?", show_label=False, elem_id="whosaid-question", max_length=max_chars,
                            submit_btn=True,
                        )
                        ask_filters = filter_controls("whosaid-f")
                        with gr.Row(elem_classes=["whosaid-downloads"]):
                            answer_csv = gr.DownloadButton("Answer as CSV", visible=False, elem_id="whosaid-answer-csv", size="sm")
                            answer_jsonl = gr.DownloadButton("Answer as JSON Lines", visible=False, elem_id="whosaid-answer-jsonl", size="sm")
                        gr.Examples(EXAMPLES, inputs=box)
                    with gr.Column(scale=2, min_width=280, elem_classes=["whosaid-side"]):
                        gr.HTML(PANEL.format(id="whosaid-article"))
                last = gr.State(None)
                box.submit(respond, [box, chatbot, *ask_filters], [chatbot, box, last]).then(
                    answer_files, last, [answer_csv, answer_jsonl], api_visibility="private")
            with gr.Tab("Who said what"):
                with gr.Row():
                    stance = gr.Dropdown(["any", *STANCES], value="deny", label="Stance", elem_id="whosaid-stance", min_width=120)
                    speaker = gr.Textbox("", label="Speaker", placeholder="Reyland", elem_id="whosaid-speaker", min_width=160,
                                         max_lines=1)
                    go = gr.Button("Show", elem_id="whosaid-ledger-show", min_width=100, interactive=False)
                ledger_filters = filter_controls("whosaid-l", speaker=False)
                downloads = gr.HTML(elem_id="whosaid-ledger-downloads")
                with gr.Row(equal_height=False):  # under ~900 px the panel wraps below the table and opens as a sheet
                    with gr.Column(scale=3, min_width=560):
                        table = gr.HTML(elem_id="whosaid-ledger", elem_classes=["whosaid-ledger"])
                    with gr.Column(scale=2, min_width=300, elem_classes=["whosaid-side"]):
                        gr.HTML(PANEL.format(id="whosaid-ledger-article"))
                ledger_inputs = [stance, speaker, *ledger_filters]
                # The button is off while a ledger is being read, the page's first one included: a slow
                # unfiltered read finishing after a quick filtered one would otherwise overwrite it.
                busy, ready = (lambda: gr.Button(interactive=False)), (lambda: gr.Button(interactive=True))
                go.click(busy, None, go, queue=False, api_visibility="private").then(
                    ledger, ledger_inputs, [table, downloads]).then(ready, None, go, queue=False, api_visibility="private")
                demo.load(ledger, ledger_inputs, [table, downloads]).then(ready, None, go, queue=False, api_visibility="private")
            with gr.Tab("Speakers"):
                speaker_outputs, load_speakers = speakers_tab(engine_for, PANEL.format(id="whosaid-timeline-article"))
        demo.load(pickers, None, [ask_filters[0], ask_filters[3], ledger_filters[0], ledger_filters[3]])
        demo.load(load_speakers, None, speaker_outputs)
    return demo


def filter_controls(prefix: str, speaker: bool = True) -> list[Any]:
    """Source and article pickers in one row, since, until (and speaker) in the next; their values go to
    :func:`ui.chat_desk.filters_from` in the order returned: source, since, until, article, speaker."""
    with gr.Group(elem_classes=["whosaid-filters"]):
        with gr.Row():
            source = gr.Dropdown([], value=[], multiselect=True, label="Source", elem_id=f"{prefix}-source", min_width=200)
            article = gr.Dropdown([], value=[], multiselect=True, label="Article", elem_id=f"{prefix}-article", min_width=200)
        with gr.Row():
            since = gr.Textbox("", label="Since", placeholder="YYYY-MM-DD", elem_id=f"{prefix}-since", min_width=130, max_length=10, max_lines=1)
            until = gr.Textbox("", label="Until", placeholder="YYYY-MM-DD", elem_id=f"{prefix}-until", min_width=130, max_length=10, max_lines=1)
            who = [gr.Textbox("", label="Speaker", placeholder="Reyland", elem_id=f"{prefix}-speaker", min_width=130, max_lines=1)] if speaker else []
    return [source, since, until, article, *who]


PANEL = '<div id="{id}" class="whosaid-article"><p class="hint">Click a citation or a row to see the sentence in its article.</p></div>'

#: Runs in the page: citation links (in answers, and rows of the ledger) open the article in the side
#: panel of their tab, built with textContent only. The panel scrolls itself (its scrollTop) to the
#: sentence: scrollIntoView would also scroll the conversation and the page.
CHAT_JS = r"""
() => {
  const base = window.location.pathname.replace(/\/chat\/?.*$/, "");
  let shown = 0;  // a later click wins over an earlier fetch still under way
  function panelFor(el) {
    const inLedger = el.closest && el.closest("#whosaid-ledger");
    const inSpeakers = el.closest && el.closest("#whosaid-timeline");
    return document.getElementById(inLedger ? "whosaid-ledger-article" : inSpeakers ? "whosaid-timeline-article" : "whosaid-article");
  }
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function showDate(d) {  // as ui/chat_render.show_date: "3 Mar 2026" for an ISO day, else as given
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec((d || "").trim());
    return m && +m[2] >= 1 && +m[2] <= 12 ? `${+m[3]} ${months[+m[2] - 1]} ${m[1]}` : d;
  }
  function webLink(url) {
    try { const u = new URL(url); return (u.protocol === "http:" || u.protocol === "https:") && u.host ? u.href : null; }
    catch (e) { return null; }
  }
  async function show(panel, articleId, start, end) {
    if (!panel) return;
    const ticket = ++shown;
    const r = await fetch(`${base}/api/articles/${encodeURIComponent(articleId)}`, {credentials: "same-origin"});
    if (ticket !== shown) return;
    panel.replaceChildren();
    if (!r.ok) { panel.textContent = `Could not load the article (${r.status}).`; return; }
    const a = await r.json();
    if (ticket !== shown) return;
    const head = document.createElement("div"); head.className = "head";
    const close = document.createElement("button"); close.type = "button"; close.className = "close";
    close.setAttribute("aria-label", "Close"); close.textContent = "×";
    close.addEventListener("click", () => panel.classList.remove("sheet"));
    head.appendChild(close);
    const h = document.createElement("h3"); h.textContent = a.title; head.appendChild(h);
    // a PDF's page ranges, [{start, end, page}]: the page the sentence starts on
    const page = (a.pages || []).find((p) => p.start <= start && start < p.end);
    const facts = [a.source, showDate(a.published), page ? `page ${page.page}` : ""].filter(Boolean);
    const url = a.url ? webLink(a.url) : null;
    if (facts.length || url) {
      const meta = document.createElement("p"); meta.className = "meta";
      meta.textContent = facts.join(" · ");
      if (url) {
        if (facts.length) meta.appendChild(document.createTextNode(" · "));
        const link = document.createElement("a"); link.href = url; link.target = "_blank"; link.rel = "noopener noreferrer";
        link.className = "original"; link.textContent = "original ↗"; meta.appendChild(link);
      }
      head.appendChild(meta);
    }
    panel.appendChild(head);
    const body = document.createElement("div"); body.className = "text";
    body.appendChild(document.createTextNode(a.text.slice(0, start)));
    for (const old of document.querySelectorAll("#whosaid-highlight")) old.removeAttribute("id");
    const mark = document.createElement("mark"); mark.id = "whosaid-highlight";
    mark.textContent = a.text.slice(start, end); body.appendChild(mark);
    body.appendChild(document.createTextNode(a.text.slice(end)));
    panel.appendChild(body);
    // a panel off screen (its column wrapped below a narrow table) opens as a sheet over the page instead
    const box = panel.getBoundingClientRect();
    if (!panel.classList.contains("sheet") && (box.top > window.innerHeight - 160 || box.bottom < 80)) panel.classList.add("sheet");
    const offset = mark.getBoundingClientRect().top - panel.getBoundingClientRect().top + panel.scrollTop;
    const room = panel.clientHeight - head.offsetHeight;
    panel.scrollTop = Math.max(0, offset - head.offsetHeight - room / 3);
  }
  function open(el, href) {
    const [, id, start, end] = href.split("/");
    show(panelFor(el), decodeURIComponent(id), Number(start), Number(end));
  }
  document.addEventListener("click", (e) => {
    if (!e.target.closest) return;
    const api = e.target.closest("a[data-api]");  // a download from the API, under the page's own prefix
    if (api) { api.href = `${base}/api/${api.getAttribute("data-api")}`; return; }
    const link = e.target.closest('a[href^="#cite/"]');
    if (link) { e.preventDefault(); open(link, link.getAttribute("href")); return; }
    const row = e.target.closest("tr[data-cite]");
    if (row && !e.target.closest("a")) open(row, row.getAttribute("data-cite"));
  }, true);
  document.addEventListener("keydown", (e) => {
    const row = e.key === "Enter" && e.target.closest && e.target.closest("tr[data-cite]");
    if (row) { e.preventDefault(); open(row, row.getAttribute("data-cite")); }
  }, true);
}
"""

CHAT_CSS = """
.whosaid-article { max-height: max(240px, min(600px, calc(100vh - 170px))); overflow-y: auto; font-size: 0.95em;
  overflow-wrap: break-word; background: var(--background-fill-primary, #fff); }
.whosaid-article .text { white-space: pre-wrap; }
.whosaid-article .head { position: sticky; top: 0; background: var(--background-fill-primary, #fff); padding-bottom: 4px; }
.whosaid-article h3 { margin: 0 0 4px 0; }
.whosaid-article mark { background: #ffe58a; padding: 0 2px; }
.whosaid-article .meta, .whosaid-article .hint { color: #666; margin: 0 0 6px 0; }
.whosaid-article .close { display: none; }
.whosaid-article.sheet { position: fixed; left: 12px; right: 12px; bottom: 12px; max-height: 50vh; z-index: 1000; padding: 0 16px 12px;
  border: 1px solid #ccc; border-radius: 8px; box-shadow: 0 -4px 24px rgba(0, 0, 0, 0.18); }
.whosaid-article.sheet .head { padding-top: 10px; }
.whosaid-article.sheet .close { display: block; float: right; font-size: 1.4em; line-height: 1; padding: 0 4px; cursor: pointer; }
.whosaid-side { position: sticky; top: 8px; align-self: flex-start; z-index: 5; }  /* above the tables' sticky headers: the sheet lives in here */
#whosaid-ledger, #whosaid-timeline { max-height: max(300px, calc(100vh - 260px)); overflow: auto; }
.whosaid-ledger table.whosaid-ledger-table { width: 100%; border-collapse: collapse; font-size: 0.92em; line-height: 1.35; margin: 0; }
.whosaid-ledger table.whosaid-ledger-table th, .whosaid-ledger table.whosaid-ledger-table td { text-align: left; vertical-align: top;
  padding: 6px 8px; border: none; border-bottom: 1px solid #e5e7eb; word-break: normal; overflow-wrap: break-word; hyphens: manual; }
.whosaid-ledger table.whosaid-ledger-table thead th { position: sticky; top: 0; background: #f7f7f8; white-space: nowrap; z-index: 1; }
.whosaid-ledger col.c-mention { width: 19%; }
.whosaid-ledger col.c-stance { width: 11%; }
.whosaid-ledger col.c-content { width: 40%; }
.whosaid-ledger col.c-article { width: 30%; }
.whosaid-ledger td.stance, .whosaid-ledger .date { white-space: nowrap; }
.whosaid-ledger tr.speaker th { background: #eef2ff; font-weight: 600; padding-top: 8px; }
.whosaid-ledger tr.speaker .roles, .whosaid-ledger tr.speaker .count { font-weight: normal; color: #555; margin-left: 0.5em; }
.whosaid-ledger tr.claim { cursor: pointer; }
.whosaid-ledger tr.claim:hover, .whosaid-ledger tr.claim:focus { background: #fffbe6; outline: none; }
.whosaid-ledger .cue, .whosaid-ledger .party, .whosaid-ledger .meta { display: block; color: #666; font-size: 0.92em; }
.whosaid-ledger td.article .headline { display: block; text-align: left; }
.whosaid-ledger table.whosaid-ledger-table, .whosaid-ledger table.whosaid-ledger-table tr { border: none; }
.whosaid-ledger col.c-date { width: 12%; }
.whosaid-ledger col.c-links { width: 22%; }
.whosaid-timeline-table col.c-article { width: 22%; }
.whosaid-timeline-table col.c-content { width: 34%; }
.whosaid-ledger td.links .link { display: block; margin-bottom: 4px; }
.whosaid-ledger td.links .kind { color: #666; white-space: nowrap; }
.whosaid-ledger td.n { text-align: right; }
.whosaid-ledger td.content .mention { color: #666; }
.whosaid-downloads { gap: 8px; }
#whosaid-ledger-downloads { display: flex; gap: 8px; }
a.whosaid-download { display: inline-block; padding: 4px 12px; border: 1px solid #d4d4d8; border-radius: 6px; font-size: 0.85em;
  text-decoration: none; color: inherit; background: #f4f4f5; }
a.whosaid-download:hover { background: #e4e4e7; }
.whosaid-downloads button, .whosaid-downloads a { flex: 0 0 auto !important; width: auto !important; }
.whosaid-ledger a { padding: 0; margin: 0; }
"""

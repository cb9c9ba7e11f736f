"""The chat's speaker view: the collection's named speakers, and one speaker's claims in date order with
their dates, sources and the cross-article links that answer them or that they make, every claim and
link a ``#cite/`` link that opens the sentence in the tab's side panel. Reads
:mod:`rag.attribution.timeline`; everything shown is escaped HTML, as the ledger (``ui/chat_render.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import gradio as gr

from rag.attribution.timeline import SpeakerSummary, speakers, timeline
from rag.types import Sentence
from ui.chat_render import cite_href, h, safe_url, show_date

if TYPE_CHECKING:
    from rag.engine import Engine

#: Speakers the speaker view lists at most (most claims first).
SPEAKER_CHOICES = 500
LINK_WORDS = {"denies": ("denies", "denied by"), "responds": ("responds to", "answered by"),
              "contradicts": ("contradicts", "contradicted by")}


def speakers_tab(engine_for: Callable[[str | None], "Engine"], panel: str) -> tuple[list[Any], Callable[[], tuple[Any, Any]]]:
    """The Speakers tab's components, built inside the caller's ``gr.Tab``: a speaker picker, the list of
    speakers, one speaker's timeline and its side panel (``panel``: the HTML of an empty panel with id
    ``whosaid-timeline-article``). Returns what the page's load event fills, and the function that fills it."""
    pick = gr.Dropdown([], label="Speaker", elem_id="whosaid-speaker-pick", filterable=True)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=560):
            line = gr.HTML(elem_id="whosaid-timeline", elem_classes=["whosaid-ledger"])
            people = gr.HTML(elem_id="whosaid-speakers", elem_classes=["whosaid-ledger"])
        with gr.Column(scale=2, min_width=300, elem_classes=["whosaid-side"]):
            gr.HTML(panel)
    pick.change(lambda key: timeline_html(engine_for(None), key or ""), pick, line)

    def load() -> tuple[Any, Any]:
        summaries = speaker_list(engine_for(None))
        return gr.Dropdown(choices=speaker_choices(summaries)), speakers_html(summaries)

    return [pick, people], load


def speaker_list(engine: "Engine", limit: int = SPEAKER_CHOICES) -> list[SpeakerSummary]:
    return speakers(engine.store, limit=limit)


def speaker_choices(summaries: Sequence[SpeakerSummary]) -> list[tuple[str, str]]:
    return [(f"{s.name} — {s.claims} claim{'s' if s.claims != 1 else ''}, {s.articles} article{'s' if s.articles != 1 else ''}", s.key)
            for s in summaries]


def speakers_html(summaries: Sequence[SpeakerSummary]) -> str:
    """The collection's named speakers, most claims first, with the span of dates they were reported."""
    if not summaries:
        return '<p class="whosaid-empty">No named speakers yet.</p>'
    rows = "".join(
        f'<tr><td class="name">{h(s.name)}</td><td class="n">{s.claims}</td><td class="n">{s.articles}</td>'
        f'<td class="date">{h(show_date(s.first))}</td><td class="date">{h(show_date(s.last))}</td></tr>' for s in summaries)
    return ('<table class="whosaid-ledger-table whosaid-speakers-table"><thead><tr><th scope="col">Speaker</th><th scope="col">Claims</th>'
            f'<th scope="col">Articles</th><th scope="col">First</th><th scope="col">Last</th></tr></thead><tbody>{rows}</tbody></table>')


def timeline_html(engine: "Engine", key: str) -> str:
    """One speaker's claims in date order: date, source and article, what was said, and the links that
    answer it or that it makes (each a ``#cite/`` link to the other article's sentence)."""
    entries = timeline(engine.store, key) if key else []
    if not entries:
        return '<p class="whosaid-empty">Choose a speaker to see what they said over time.</p>'
    wanted = {(e.claim.article_id, i) for e in entries for i in e.claim.sentence_indexes[:1]}
    for e in entries:
        for link in e.links:
            wanted |= {(link.from_article, link.from_sentence), (link.to_article, link.to_sentence)}
    rows = engine.store.catalogue.window_sentences(engine.store.space, [(a, i, i) for a, i in sorted(wanted)], engine.store.embedder.dim)
    found: dict[tuple[str, int], Sentence] = {(s.article_id, s.index): s for s, *_ in rows}
    out = ['<table class="whosaid-ledger-table whosaid-timeline-table"><colgroup><col class="c-date"><col class="c-article">'
           '<col class="c-stance"><col class="c-content"><col class="c-links"></colgroup><thead><tr><th scope="col">Date</th>'
           '<th scope="col">Article</th><th scope="col">Stance</th><th scope="col">What was said</th><th scope="col">Links</th></tr></thead><tbody>']
    for e in entries:
        c = e.claim
        cue = found.get((c.article_id, c.sentence_indexes[0])) if c.sentence_indexes else None
        href = cite_href(c.article_id, cue.start, cue.end) if cue else ""
        title = f'<a class="headline" href="{h(href)}">{h(e.title or c.article_id)}</a>' if href else f'<span class="headline">{h(e.title)}</span>'
        url = safe_url(e.url)
        meta = h(e.source) + (f' · <a class="original" href="{h(url)}" target="_blank" rel="noopener noreferrer">original ↗</a>' if url else "")
        links = "".join(_link_html(link, c.article_id, e.seq, found) for link in e.links)
        attrs = f' data-cite="{h(href)}" tabindex="0"' if href else ""
        cue_text = "" if c.cue.lower() == c.reads else f'<span class="cue">{h(c.cue)}</span>'
        out.append(f'<tr class="claim"{attrs}><td class="date">{h(show_date(e.published)) or "undated"}</td>'
                   f'<td class="article">{title}<span class="meta">{meta}</span></td>'
                   f'<td class="stance"><span class="reads">{h(c.reads)}</span>{cue_text}</td>'
                   f'<td class="content"><span class="mention">{h(c.speaker_mention)}:</span> {h(c.content)}</td>'
                   f'<td class="links">{links}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _link_html(link, article_id: str, seq: int, found: Mapping[tuple[str, int], Sentence]) -> str:
    """One link of a timeline entry, seen from the entry: "denies → Title (Source)" or "denied by ← ..."."""
    outgoing = link.from_article == article_id and link.from_seq == seq
    forward, backward = LINK_WORDS.get(link.kind, (link.kind, link.kind))
    if outgoing:
        other, idx, title, source, published, text = (link.to_article, link.to_sentence, link.to_title, link.to_source,
                                                      link.to_published, link.to_text)
        words = f"{forward} →"
    else:
        other, idx, title, source, published, text = (link.from_article, link.from_sentence, link.from_title, link.from_source,
                                                      link.from_published, link.from_text)
        words = f"← {backward}"
    s = found.get((other, idx))
    said = ", ".join(h(x) for x in (source, show_date(published)) if x)
    target = f'<a href="{h(cite_href(other, s.start, s.end))}" title="{h(text)}">{h(title or other)}</a>' if s else h(title or other)
    return f'<span class="link {h(link.kind)}"><span class="kind">{h(words)}</span> {target}{f" ({said})" if said else ""}</span>'


__all__ = ["speaker_choices", "speaker_list", "speakers_html", "timeline_html"]

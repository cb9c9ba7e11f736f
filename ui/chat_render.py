"""What the chat shows, as text: answers as escaped Markdown, the ledger as escaped HTML.

Kept apart from the Gradio wiring (``ui/chat.py``) so it can be tested without a browser. Every
string that comes from an article (title, source, date, speaker, content, id, URL) passes through
:func:`escape` (Markdown) or :func:`html.escape` (HTML) here; an article's URL becomes a link only
when it is an ``http``/``https`` address (:func:`safe_url`), so a ``javascript:`` URL stays text.
Citation links have one form, ``#cite/ARTICLE/START/END``, which the page script turns into the
article in a side panel with the sentence highlighted.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from rag.attribution.render import said_phrase
from rag.types import Article, Citation, Claim, Sentence

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_MARKER = re.compile(r"\[(\d+)\]")
#: Characters an article URL keeps as they are in a link; everything else is percent-encoded, so the
#: URL cannot close the Markdown link or the HTML attribute it sits in (no ``( ) < > " ' [ ] \`` or space).
_URL_SAFE = "/:?#=&%+,@!$~-._"


def escape(text: str) -> str:
    """Plain text for a Markdown message: HTML entities for <>&, backslashes for Markdown syntax."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def cite_href(article_id: str, start: int, end: int) -> str:
    return f"#cite/{quote(article_id, safe='')}/{start}/{end}"


def cite_link(c: Citation) -> str:
    return f"[\\[{c.marker}\\]]({cite_href(c.article_id, c.start, c.end)})"


def safe_url(url: str) -> str | None:
    """An article's URL as a link target, or None: only absolute ``http``/``https`` URLs with a host
    (a ``javascript:``, ``data:`` or relative URL never becomes a link), percent-encoded so that it is
    inert inside Markdown and HTML attributes."""
    url = (url or "").strip()
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def show_date(published: str) -> str:
    """An ISO day as the page shows it, "3 Mar 2026": a narrow column breaks it between words, never
    inside "2026-03-03" at a hyphen. Any other date is shown as given."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", (published or "").strip())
    if m and 1 <= int(m.group(2)) <= 12:
        return f"{int(m.group(3))} {MONTHS[int(m.group(2)) - 1]} {m.group(1)}"
    return published


def article_line(article: Article | None, article_id: str) -> str:
    """``*Title*``, then ``Source · 3 Mar 2026 · [original ↗](https://...)`` on a line of its own, for
    an attribution answer."""
    if article is None:
        return f"*{escape(article_id)}*"
    parts = [escape(x) for x in (article.source, show_date(article.published)) if x]
    url = safe_url(article.url)
    if url:
        parts.append(f"[original ↗]({url})")
    title = f"*{escape(article.title or article_id)}*"
    return f"{title}  \n{' · '.join(parts)}" if parts else title


def render_answer(
    text: str, citations: list[Citation], notice: str | None = None,
    claims: Sequence[Claim] = (), articles: Mapping[str, Article] | None = None, mode: str = "extractive",
) -> str:
    """The final answer as Markdown. A plain answer: escaped text, markers as citation links, then the
    sources. An attribution answer (``claims``): its claims grouped by speaker and then by article, each
    article with its title, source, date and a link to the original (see :func:`render_attribution`)."""
    if claims:
        return render_attribution(text, citations, claims, articles or {}, notice, mode)
    body = linked(text, citations)
    if notice:
        body = f"*{escape(notice)}*\n\n{body}"
    if citations:
        body += "\n\n" + sources(citations)
    return body


def linked(text: str, citations: Iterable[Citation]) -> str:
    """Escaped text with its ``[n]`` markers as citation links (unknown markers dropped)."""
    by_marker = {c.marker: c for c in citations}
    out = []
    for part in re.split(r"(\[\d+\])", text):
        m = re.fullmatch(r"\[(\d+)\]", part)
        if m and int(m.group(1)) in by_marker:
            out.append(cite_link(by_marker[int(m.group(1))]))
        elif not m:
            out.append(escape(part))
    return "".join(out)


def sources(citations: Iterable[Citation]) -> str:
    """The cited sentences under an answer: "[1] Title, page 3: “...”" (the page for a PDF's sentence)."""
    return "\n".join(f"- {cite_link(c)} {escape(c.title)}{on_page(c)}: “{escape(c.quote)}”" for c in citations)


def on_page(c: Citation) -> str:
    return f", page {c.page}" if c.page else ""


def distinct_roles(roles: Sequence[str]) -> list[str]:
    """Roles without those another one contains: "harbour minister" is left out beside "Valdoria's
    harbour minister"."""
    return [r for r in roles if not any(r != o and r.lower() in o.lower() for o in roles)]


def render_attribution(
    text: str, citations: list[Citation], claims: Sequence[Claim], articles: Mapping[str, Article],
    notice: str | None = None, mode: str = "extractive",
) -> str:
    """Claims grouped by speaker (in the answer's order), then by article: the article's title, source,
    date and original link, then each claim as "stance (cue) — content [n]". The ledger's answer text
    is one line per claim, so only its other lines ("No.") are kept above the groups; a model's prose
    (``mode='llm'``) is kept whole, with its sources below the groups."""
    by_sentence: dict[str, list[Citation]] = {}
    for c in citations:
        by_sentence.setdefault(c.sentence_id, []).append(c)
    if mode == "llm":
        lead = linked(text, citations)
    else:
        lead = "\n\n".join(escape(line) for line in text.splitlines() if line.strip() and not _MARKER.search(line))
    speakers: dict[str, dict[str, list[Claim]]] = {}
    names: dict[str, str] = {}
    roles: dict[str, list[str]] = {}
    for claim in claims:
        key = claim.speaker_key or claim.speaker.lower()
        names.setdefault(key, claim.speaker or "An unnamed source")
        if claim.speaker_role and claim.speaker_role.lower() not in names[key].lower():
            roles.setdefault(key, [])
            if claim.speaker_role not in roles[key]:
                roles[key].append(claim.speaker_role)
        speakers.setdefault(key, {}).setdefault(claim.article_id, []).append(claim)
    blocks = []
    for key, by_article in speakers.items():
        head = f"**{escape(names[key])}**"
        said = distinct_roles(roles.get(key, []))
        if said:
            head += " — " + escape("; ".join(said))
        lines = [head]
        for article_id, said in by_article.items():
            lines.append("")
            lines.append(article_line(articles.get(article_id), article_id))
            for claim in said:
                cites = {c.marker: c for sid in claim.sentence_ids for c in by_sentence.get(sid, [])}
                markers = "".join(cite_link(c) for c in cites.values())
                pages = sorted({c.page for c in cites.values() if c.page})
                where = f" (page{'s' if len(pages) > 1 else ''} {', '.join(map(str, pages))})" if pages else ""
                lines.append(f"- {escape(said_phrase(claim))} {markers}{where}".rstrip())
        blocks.append("\n".join(lines))
    body = "\n\n".join(x for x in [lead, *blocks] if x)
    if notice:
        body = f"*{escape(notice)}*\n\n{body}"
    if mode == "llm" and citations:
        body += "\n\n" + sources(citations)
    return body


# ------------------------------------------------------------------------------------ the ledger


@dataclass
class LedgerRow:
    """One claim of the ledger table with what it links to."""

    claim: Claim
    sentences: list[Sentence]  # the claim's sentences that were found, cue sentence first


def h(text: str) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape(text or "", quote=True)


def ledger_html(
    groups: Sequence[tuple[str, list[str], list[LedgerRow]]], articles: Mapping[str, Article], total: int, shown: int
) -> str:
    """The "Who said what" ledger as an HTML table, everything escaped: one header row per canonical
    speaker (``(name, roles, rows)``), then a row per claim. A row opens its cue sentence in the side
    panel (``data-cite``); the article cell links each of the claim's sentences the same way."""
    if not groups:
        return '<p class="whosaid-empty">No claims match.</p>'
    out = ['<table class="whosaid-ledger-table">',
           '<colgroup><col class="c-mention"><col class="c-stance"><col class="c-content"><col class="c-article"></colgroup>',
           '<thead><tr><th scope="col">As written</th><th scope="col">Stance</th><th scope="col">What was said</th>'
           '<th scope="col">Article</th></tr></thead>']
    for name, roles, rows in groups:
        articles_n = len({r.claim.article_id for r in rows})
        count = f"{len(rows)} claim{'s' if len(rows) != 1 else ''} · {articles_n} article{'s' if articles_n != 1 else ''}"
        roles = distinct_roles(roles)
        role = f' <span class="roles">{h("; ".join(roles))}</span>' if roles else ""
        out.append(f'<tbody><tr class="speaker"><th colspan="4" scope="rowgroup"><span class="name">{h(name)}</span>{role}'
                   f' <span class="count">{count}</span></th></tr>')
        for row in rows:
            c = row.claim
            a = articles.get(c.article_id)
            first = row.sentences[0] if row.sentences else None
            href = cite_href(c.article_id, first.start, first.end) if first else ""
            cue = "" if c.cue.lower() == c.reads else f'<span class="cue">{h(c.cue)}</span>'
            party = f'<span class="party">{"quoting " if c.stance == "quote" else "to "}{h(c.other_party)}</span>' if c.other_party else ""
            title = (a.title if a else "") or c.article_id
            meta = [h(a.source)] if a and a.source else []
            meta += [f'<span class="date">{h(show_date(a.published))}</span>'] if a and a.published else []
            links = ", ".join(f'<a href="{h(cite_href(s.article_id, s.start, s.end))}">{s.index}</a>' for s in row.sentences)
            meta += [f'<span class="sents">sentence{"s" if len(row.sentences) != 1 else ""} {links}</span>'] if links else []
            article_cell = (f'<a class="headline" href="{h(href)}">{h(title)}</a>' if href else f'<span class="headline">{h(title)}</span>')
            article_cell += f'<span class="meta">{" · ".join(meta)}</span>' if meta else ""
            attrs = f' data-cite="{h(href)}" tabindex="0"' if href else ""
            out.append(f'<tr class="claim"{attrs}><td class="mention">{h(c.speaker_mention or c.speaker)}</td>'
                       f'<td class="stance"><span class="reads">{h(c.reads)}</span>{cue}</td>'
                       f'<td class="content">{h(c.content)}{party}</td><td class="article">{article_cell}</td></tr>')
        out.append("</tbody>")
    out.append("</table>")
    if shown < total:
        out.append(f'<p class="whosaid-more">Showing the first {shown} of {total} claims; narrow the filters to see the rest.</p>')
    return "".join(out)

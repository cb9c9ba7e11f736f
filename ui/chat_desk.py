"""The chat's desk tools: filters beside the question and on the ledger, and downloads (CSV and JSON
Lines) of the last answer and of the filtered ledger.

The filters are :class:`rag.filters.Filters`, read with :func:`rag.filters.make_filters` as the CLI and
the API read theirs; the files are written by :mod:`rag.export`, the same rows ``whosaid ask --csv``
and ``GET /api/claims?format=csv`` give.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from heapq import nlargest
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence
from urllib.parse import urlencode

from rag import export
from rag.filters import Filters, make_filters
from rag.types import Answer
from ui.chat_render import h, show_date

if TYPE_CHECKING:
    from rag.engine import Engine

#: Articles the article pickers offer at most (newest first); the CLI and the API take any id.
ARTICLE_CHOICES = 1000


def filters_from(sources: Sequence[str] | None, since: str | None, until: str | None, articles: Sequence[str] | None,
                 speaker: str | None) -> Filters:
    """The controls' values as Filters; raises :class:`rag.filters.FilterError` (one line naming the
    control) for a date it cannot read."""
    return make_filters(list(sources or []), (since or "").strip() or None, (until or "").strip() or None,
                        list(articles or []), (speaker or "").strip() or None)


def source_choices(engine: "Engine") -> list[str]:
    return engine.filters.sources()


def article_choices(engine: "Engine", limit: int = ARTICLE_CHOICES) -> list[tuple[str, str]]:
    """``(label, id)`` for the article pickers: "Title — Source, 3 Mar 2026", newest first."""
    out = []
    for m in nlargest(limit, engine.filters.articles().values(), key=lambda m: (m.day or "", m.id)):
        said = ", ".join(x for x in (m.source, show_date(m.published)) if x)
        out.append((f"{m.title} — {said}" if said else m.title or m.id, m.id))
    return out


def ledger_downloads(stance: str | None, filters: Filters) -> str:
    """Links that download the filtered ledger from ``GET /api/claims?format=csv|jsonl`` (rag.export, the
    rows ``whosaid claims --csv`` gives): the file is made when a reader asks for it, not with every view.
    ``data-api`` is the path under the API; the page script puts the page's own prefix before it."""
    params: list[tuple[str, str]] = [("stance", stance)] if stance else []
    params += [("source", x) for x in filters.sources] + [("article", x) for x in filters.articles]
    params += [(k, v) for k, v in (("since", filters.since), ("until", filters.until), ("speaker", filters.speaker)) if v]
    links = []
    for fmt, label in (("csv", "Ledger as CSV"), ("jsonl", "Ledger as JSON Lines")):
        path = "claims?" + urlencode([*params, ("format", fmt)])
        links.append(f'<a class="whosaid-download" id="whosaid-ledger-{fmt}" href="../api/{h(path)}" data-api="{h(path)}" '
                     f'download>{label}</a>')
    return "".join(links)


class Exports:
    """Files for the download buttons, in a directory of this chat's own (Gradio copies a returned
    file into its cache and serves it from there). A file is named by its content, so asking again
    writes nothing new."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="whosaid-exports-"))
        weakref.finalize(self, shutil.rmtree, self.dir, True)  # gone with the chat (and at exit)

    def write(self, stem: str, text: str, ext: str) -> str:
        path = self.dir / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.{ext}"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        return str(path)

    def answer(self, answer: Answer, meta: Mapping) -> tuple[str, str]:
        return (self.write("whosaid-answer", export.answer_csv(answer, dict(meta)), "csv"),
                self.write("whosaid-answer", export.answer_jsonl(answer, dict(meta)), "jsonl"))



__all__ = ["Exports", "article_choices", "filters_from", "ledger_downloads", "source_choices"]

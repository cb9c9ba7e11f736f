"""The chat's desk tools: filters beside the question and on the ledger, and downloads (CSV and JSON
Lines) of the last answer and of the filtered ledger.

The filters are :class:`rag.filters.Filters`, read with :func:`rag.filters.make_filters` as the CLI and
the API read theirs; the files are written by :mod:`rag.export`, the same rows ``whosaid ask --csv``
and ``GET /api/claims?format=csv`` give.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from rag import export
from rag.filters import Filters, make_filters
from rag.types import Answer, Claim
from ui.chat_render import show_date

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
    table = list(engine.filters.articles().values())
    table.sort(key=lambda m: (m.day or "", m.id), reverse=True)
    out = []
    for m in table[:limit]:
        said = ", ".join(x for x in (m.source, show_date(m.published)) if x)
        out.append((f"{m.title} — {said}" if said else m.title or m.id, m.id))
    return out


class Exports:
    """Files for the download buttons, in a directory of this chat's own (Gradio copies a returned
    file into its cache and serves it from there). A file is named by its content, so asking again
    writes nothing new."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="whosaid-exports-"))

    def write(self, stem: str, text: str, ext: str) -> str:
        path = self.dir / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.{ext}"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        return str(path)

    def answer(self, answer: Answer, meta: Mapping) -> tuple[str, str]:
        return (self.write("whosaid-answer", export.answer_csv(answer, dict(meta)), "csv"),
                self.write("whosaid-answer", export.answer_jsonl(answer, dict(meta)), "jsonl"))

    def ledger(self, engine: "Engine", claims: Sequence[Claim]) -> tuple[str, str]:
        rows = export.ledger_rows(engine.store, list(claims), engine.filters.articles())
        return self.write("whosaid-claims", export.claims_csv(rows), "csv"), self.write("whosaid-claims", export.claims_jsonl(rows), "jsonl")


__all__ = ["Exports", "article_choices", "filters_from", "source_choices"]

"""Citation markers: ``[n]`` parsed by one regex and checked against the sentences shown.

A marker that does not point at a shown sentence is removed from the text; it never becomes a
citation. This is the only place markers are turned into :class:`Citation` objects.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.types import Candidate, Citation

MARKER = re.compile(r"\[(\d{1,4})\]")


def resolve(text: str, shown: Sequence[Candidate]) -> tuple[str, list[Citation]]:
    """Drop out-of-range markers from ``text``; return it with the citations of the valid ones."""
    citations: dict[int, Citation] = {}
    removed = False

    def keep(match: re.Match[str]) -> str:
        nonlocal removed
        n = int(match.group(1))
        if not 1 <= n <= len(shown):
            removed = True
            return ""
        if n not in citations:
            c = shown[n - 1]
            citations[n] = Citation(
                marker=n,
                sentence_id=c.sentence.id,
                article_id=c.sentence.article_id,
                title=c.title,
                quote=c.sentence.text,
                sentence_index=c.sentence.index,
                start=c.sentence.start,
                end=c.sentence.end,
                url=c.url,
            )
        return match.group(0)

    cleaned = MARKER.sub(keep, text)
    if removed:  # close the gaps the removed markers left
        cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned))
    cleaned = cleaned.strip()
    return cleaned, sorted(citations.values(), key=lambda c: c.marker)

"""Verification by code of an LLM's statements: markers must point at shown sentences, each cited
sentence set must actually contain the statement's content (a cheap lexical support check), and
links or images that do not point at a cited article are removed before anything is rendered.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.citations import marker_numbers, resolve, strip_markers
from rag.lexical import LexicalIndex
from rag.types import Candidate, Citation, StatementResult

#: Share of the statement's IDF-weighted terms that must appear in its cited sentences.
MIN_SUPPORT = 0.3

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]*)[^)]*\)")
_HTML_TAG = re.compile(r"<\s*(?:a|img|iframe|script|link)\b[^>]*>|</\s*(?:a|iframe|script)\s*>", re.I)
_URL = re.compile(r"\b(?:https?|ftp|javascript|data):[^\s)\]>\"']+", re.I)


def strip_links(text: str, allowed: set[str]) -> str:
    """Remove images, links, HTML tags and bare URLs unless the URL is a cited article's."""
    text = _MD_IMAGE.sub(lambda m: m.group(0) if m.group(2) in allowed else "", text)
    text = _MD_LINK.sub(lambda m: m.group(0) if m.group(2) in allowed else m.group(1), text)
    text = _HTML_TAG.sub("", text)
    text = _URL.sub(lambda m: m.group(0) if m.group(0) in allowed else "", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def verify_statement(
    text: str, markers: Sequence[int], shown: Sequence[Candidate], lexical: LexicalIndex
) -> tuple[StatementResult, list[Citation]]:
    """Keep only markers that resolve to shown sentences and score the statement's support.

    Markers the model wrote inside the text (``"... rationing [2] [99]"``) are taken out of it and
    checked like the listed ones: only verified citations are ever rendered, in every path."""
    numbers = list(dict.fromkeys([*markers, *marker_numbers(text)]))
    _, citations = resolve("".join(f"[{m}]" for m in numbers), shown)
    allowed = {c.url for c in citations if c.url}
    clean = strip_links(strip_markers(text), allowed)
    support = lexical.coverage(lexical.terms(clean), " ".join(c.quote for c in citations)) if citations else 0.0
    result = StatementResult(
        text=clean, citations=[c.marker for c in citations], supported=bool(citations) and support >= MIN_SUPPORT, support=round(support, 3)
    )
    return result, citations

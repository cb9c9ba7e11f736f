"""Verification by code of an LLM's statements, before anything is rendered or streamed:

* markers must point at shown sentences (every marker-like bracket in the text is checked and removed);
* the text is made plain by parsing, not by patterns: an HTML sanitiser (nh3, Ammonia) removes tags
  and the content of ``<script>``/``<style>``, a Markdown parser (markdown-it) drops images and keeps
  only the words of links, whatever their nesting or scheme ("![a [b] c](//evil.example/x.png)");
* every sentence of a statement must be supported by the sentences it cites (a cheap lexical check):
  one that is not ("HAHA PWNED") is dropped, and a statement with no supported sentence is unsupported.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Sequence

import nh3

from rag.citations import marker_numbers, resolve, strip_markers
from rag.lexical import Lexical
from rag.types import Candidate, Citation, StatementResult

#: Share of a sentence's IDF-weighted terms that must appear in the statement's cited sentences.
MIN_SUPPORT = 0.3

_URL = re.compile(r"(?:\b(?:https?|ftp|javascript|data|file|vbscript):|(?<![\w/])//)[^\s)\]>\"']+", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def plain_text(text: str) -> str:
    """The words of model output, and nothing a renderer could turn into markup: no HTML (tags, and
    the content of script and style), no Markdown image, no link but its words, no bare URL.

    Each layer can hide the next (``&lt;script&gt;`` is a tag once decoded; a ``javascript:`` link the
    Markdown parser refuses stays text whose remains form a new link), so the passes repeat until the
    text no longer changes; anything still tag-like after that loses its angle bracket."""
    for _ in range(_PASSES):
        cleaned = _plain_once(text)
        if cleaned == text:
            break
        text = cleaned
    return re.sub(r"\s{2,}", " ", _TAG_START.sub("", text)).strip()


_PASSES = 6
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _plain_once(text: str) -> str:
    for _ in range(_PASSES):  # entities decoded into tags are sanitised again before Markdown sees them
        decoded = html.unescape(nh3.clean(text, tags=set()))
        if decoded == text:
            break
        text = decoded
    out: list[str] = []
    for block in _markdown().parseInline(text):
        for tok in block.children or []:
            if tok.type in ("text", "code_inline"):
                out.append(tok.content)
            elif tok.type in ("softbreak", "hardbreak"):
                out.append(" ")
            # image, html_inline, link_open/close, emphasis marks: nothing of them is kept
    return re.sub(r"\s{2,}", " ", _URL.sub("", "".join(out))).strip()


def verify_statement(
    text: str, markers: Sequence[int], shown: Sequence[Candidate], lexical: Lexical
) -> tuple[StatementResult, list[Citation]]:
    """Keep only markers that resolve to shown sentences, make the text plain, and keep only the
    sentences its citations support.

    Markers the model wrote inside the text (``"... rationing [2] [99]"``) are taken out of it and
    checked like the listed ones: only verified citations are ever rendered, in every path."""
    numbers = list(dict.fromkeys([*markers, *marker_numbers(text)]))
    _, citations = resolve("".join(f"[{m}]" for m in numbers), shown)
    clean = strip_markers(plain_text(strip_markers(text)))  # parsing can leave a "[1]" of a reference link
    if not citations or not clean:  # nothing of an unverified statement is passed on, not even its text
        return StatementResult(text="", citations=[], supported=False, support=0.0), []
    cited = " ".join(c.quote for c in citations)
    kept, scores = [], []
    for sentence in _SENTENCE_END.split(clean):
        terms = lexical.terms(sentence)
        score = lexical.coverage(terms, cited) if terms else 1.0  # "Yes." carries no claim of its own
        if score >= MIN_SUPPORT:
            kept.append(sentence)
            scores.append(score)
    if not kept:
        return StatementResult(text="", citations=[], supported=False, support=0.0), []
    result = StatementResult(text=" ".join(kept), citations=[c.marker for c in citations], supported=True, support=round(min(scores), 3))
    return result, citations

"""Sentence splitting with exact character offsets.

pysbd (rule-based, handles abbreviations such as "U.S." and "Maj.", quotes and numbers) splits
each line; line breaks always end a sentence, so headlines and "Read Also:" teaser lines stand
alone. Offsets are found by locating each segment in the line, so ``text[start:end]`` is the
sentence by construction, and any text the splitter skipped becomes a sentence of its own.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CLOSE_QUOTE = ("\"", "”", "’", "'", "»")
_TERMINAL = ".!?…"


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def _segments(line: str) -> list[str]:
    try:
        return [s for s in _segmenter().segment(line) if s.strip()]
    except Exception:  # pysbd has crashed on odd inputs; a whole line is still a valid sentence
        return [line]


def _ends_open_quote(sentence: str) -> bool:
    """A quotation closed without terminal punctuation ("... signs" WHO said) continues the sentence."""
    s = sentence.rstrip()
    return len(s) > 1 and s[-1] in _CLOSE_QUOTE and s[-2] not in _TERMINAL


def split_line(line: str, offset: int = 0) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for seg in _segments(line):
        piece = seg.strip()
        at = line.find(piece, cursor)
        if at < 0:  # the splitter changed the text: keep the rest of the line as one sentence
            break
        if line[cursor:at].strip():
            gap = line[cursor:at]
            lead = len(gap) - len(gap.lstrip())
            spans.append((cursor + lead, cursor + len(gap.rstrip())))
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    rest = line[cursor:]
    if rest.strip():
        lead = len(rest) - len(rest.lstrip())
        spans.append((cursor + lead, cursor + len(rest.rstrip())))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and _ends_open_quote(line[merged[-1][0] : merged[-1][1]]):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s + offset, e + offset) for s, e in merged]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every sentence in ``text``, in order, never overlapping."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n]+", text):
        if m.group().strip():
            spans.extend(split_line(m.group(), m.start()))
    return spans

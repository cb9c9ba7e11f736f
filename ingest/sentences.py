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


#: pysbd's time grows with the square of a line's length (a 512 KB one-line file did not finish in 15
#: minutes), so a longer line is split one window of this size at a time.
PIECE_CHARS = 2000


def split_line(line: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of one line (no line breaks inside).

    A long line is read in windows: the splitter's own sentences of each window are kept but the last
    (which the window may have cut), and the next window starts where that one began, so every kept
    boundary was decided with the text that follows it and the total work stays linear. A window
    holding a single sentence-less run is cut at its last space."""
    spans: list[tuple[int, int]] = []
    start = 0
    while len(line) - start > PIECE_CHARS:
        window = _split_piece(line[start : start + PIECE_CHARS], start)
        if len(window) > 1 and window[-1][0] > start:
            spans.extend(window[:-1])
            start = window[-1][0]
            continue
        text = line[start : start + PIECE_CHARS]
        cut = text.rstrip().rfind(" ") + 1 or PIECE_CHARS
        spans.extend(_split_piece(text[:cut], start))
        start += cut
    spans.extend(_split_piece(line[start:], start))
    return [(s + offset, e + offset) for s, e in spans]


def _split_piece(line: str, offset: int = 0) -> list[tuple[int, int]]:
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

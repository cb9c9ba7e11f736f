"""Citation markers: ``[n]`` parsed by one regex and checked against the sentences shown.

A marker that does not point at a shown sentence is removed from the text; it never becomes a
citation. This is the only place markers are turned into :class:`Citation` objects.
"""

from __future__ import annotations

import re
from typing import Sequence

from rag.types import Candidate, Citation

MARKER = re.compile(r"\[(\d{1,4})\]")
#: Anything a model may write as a citation inside its text: ``[3]``, ``[3, 4]``, ``[3-5]``, ``[^3]``,
#: ``【3】``. Model text never keeps one: the numbers are checked like any other citation and the
#: markers are rendered from the verified citations only.
MARKER_LIKE = re.compile(r"[\[【]\s*\^?\d{1,6}(?:\s*[,;–-]\s*\^?\d{1,6})*\s*[\]】]")
_NUMBER = re.compile(r"\d{1,6}")


def marker_numbers(text: str) -> list[int]:
    """Every number written inside marker-like brackets, in order (``[3-5]`` gives 3, 4, 5)."""
    out: list[int] = []
    for m in MARKER_LIKE.finditer(text):
        body = m.group(0)
        nums = [int(n) for n in _NUMBER.findall(body)]
        if len(nums) == 2 and re.search(r"\d\s*[–-]\s*\^?\d", body) and 0 <= nums[1] - nums[0] <= 10:
            nums = list(range(nums[0], nums[1] + 1))
        out += [n for n in nums if n not in out]
    return out


def strip_markers(text: str) -> str:
    """The text without any marker-like brackets, spaces tidied where one was removed."""
    if not MARKER_LIKE.search(text):
        return text
    cleaned = MARKER_LIKE.sub("", text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()


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
                page=c.sentence.page,
            )
        return match.group(0)

    cleaned = MARKER.sub(keep, text)
    if removed:  # close the gaps the removed markers left
        cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned))
    cleaned = cleaned.strip()
    return cleaned, sorted(citations.values(), key=lambda c: c.marker)

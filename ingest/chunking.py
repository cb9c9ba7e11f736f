"""Sentence windows (chunks) and the spans of each sentence inside the chunk text."""

from __future__ import annotations

import hashlib
from typing import Sequence

from rag.settings import ChunkingSettings
from rag.types import Chunk, Sentence


def chunk_id(article_id: str, first: int, last: int, text: str) -> str:
    """Content-hashed: a changed article gets new ids, an unchanged one the same ids."""
    return hashlib.sha256(f"{article_id}\x1f{first}\x1f{last}\x1f{text}".encode()).hexdigest()[:24]


def make_chunks(
    article_id: str, title: str, sentences: Sequence[Sentence], settings: ChunkingSettings
) -> list[tuple[Chunk, list[tuple[int, int]]]]:
    """Overlapping windows of whole sentences, each prefixed by the article title.

    Returns each chunk with the character spans of its sentences inside ``chunk.text``, which
    the embedder pools into per-sentence vectors.
    """
    out: list[tuple[Chunk, list[tuple[int, int]]]] = []
    n = len(sentences)
    prefix = f"{title.strip()}\n" if title.strip() else ""
    i = 0
    while i < n:
        j = i
        size = len(sentences[i].text)
        while j + 1 < n and j + 1 - i < settings.window and size + 1 + len(sentences[j + 1].text) <= settings.max_chars:
            j += 1
            size += 1 + len(sentences[j].text)
        text, spans = prefix, []
        for s in sentences[i : j + 1]:
            if len(text) > len(prefix):
                text += " "
            spans.append((len(text), len(text) + len(s.text)))
            text += s.text
        out.append((Chunk(id=chunk_id(article_id, i, j, text), article_id=article_id, first=i, last=j, text=text), spans))
        if j == n - 1:
            break
        i = max(i + 1, j + 1 - settings.overlap)
    return out

"""Lexical retrieval: one tokenizer (bm25s's word splitting and stopword list, PyStemmer's Snowball
stemmer) for documents and questions alike, BM25 search run by the catalogue's own full-text
index (SQLite FTS5 embedded, PostgreSQL ``tsvector`` + GIN on a server), and the IDF-weighted term
coverage used to score single sentences.

The catalogue indexes the *stemmed terms* of each chunk, not its raw text, so every engine ranks
the same tokens; the index is updated in the transaction that writes the article, so it is always
current and never rebuilt per ingest.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, AbstractSet, Collection, Sequence

if TYPE_CHECKING:
    from rag.store.protocols import Catalogue

_SPLIT = re.compile(r"(?u)\b\w\w+\b").findall  # bm25s's default splitter


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    # The longer list drops question words ("what", "who", "did") that would otherwise dilute a
    # question's term coverage.
    return frozenset(STOPWORDS_EN_PLUS)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def words(text: str) -> list[tuple[str, str]]:
    """(word as written, lower-cased; its term) for every content word."""
    stop = _stopwords()
    return [(w, stem(w)) for w in _SPLIT(text.lower()) if w not in stop]


def term_set(text: str) -> frozenset[str]:
    """The distinct terms of a text (as ``set(terms(text))``, each word stemmed once)."""
    return frozenset(map(stem, set(_SPLIT(text.lower())) - _stopwords()))


def terms(text: str) -> list[str]:
    """Stemmed content terms, in order; empty for a question of stopwords only ("Who?"). Nothing is
    remembered between calls, so a stream of questions never grows a vocabulary."""
    return [t for _, t in words(text)]


class Lexical:
    """BM25 search and IDF weights over one space's chunks, read from the catalogue. Cheap to make:
    one per question, so its document frequencies are those of the moment it was asked."""

    def __init__(self, catalogue: "Catalogue", space: str) -> None:
        self._catalogue = catalogue
        self._space = space
        self._n: int | None = None
        self._df: dict[str, int] = {}
        self._weights: dict[frozenset[str], tuple[dict[str, float], float]] = {}

    terms = staticmethod(terms)
    words = staticmethod(words)

    #: A term in more than this share of the chunks is left out of the search (it still weighs in
    #: :meth:`coverage`): its IDF adds almost nothing to BM25's order, while scoring every chunk it
    #: is in made search grow with the archive (234 ms at 10^5 sentences, against 10 ms at 10^4).
    COMMON = 0.05
    #: At most this many terms are searched, the rarest first.
    MOST_TERMS = 8
    #: The rarest terms, while they are in at most this many chunks between them, each make a chunk a
    #: match on its own; a chunk with none of them must hold two of the other terms searched. The
    #: full-text index scores every match (about 1.5 us each), so without it a question's cost grew
    #: with the archive (8 terms in up to 5% of 4.8x10^5 chunks each: up to 190k chunks scored,
    #: 100-230 ms). A chunk with one common term and nothing else scores too little to reach the first
    #: ``n`` unless few chunks share two terms; every match is still scored on all the terms. It bites
    #: only past about 5x10^4 chunks (8 terms x 5%).
    MOST_POSTINGS = 20_000

    def search(self, query: str, n: int, articles: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``n`` best chunks for the query (with ``articles``, of those articles only; the terms'
        weights stay the collection's)."""
        q = list(dict.fromkeys(terms(query)))
        if not q or n <= 0:
            return []
        self._stats(q)
        found = sorted((t for t in q if self._df[t] > 0), key=lambda t: (self._df[t], q.index(t)))
        if not found:
            return []
        cap = max(1, int(self.COMMON * (self._n or 0)))
        rare = [t for t in found if self._df[t] <= cap] or found[:1]  # a question of common words only: its rarest
        rare = rare[: self.MOST_TERMS]
        alone, postings = 1, self._df[rare[0]]
        while alone < len(rare) and postings + self._df[rare[alone]] <= self.MOST_POSTINGS:
            postings += self._df[rare[alone]]
            alone += 1
        alone_ = alone if alone < len(rare) else None
        if articles is None:
            return self._catalogue.search_chunks(self._space, rare, n, alone_)
        return self._catalogue.search_chunks(self._space, rare, n, alone_, articles=articles)

    def _stats(self, wanted: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(wanted) if t not in self._df]
        if missing or self._n is None:
            n, df = self._catalogue.term_stats(self._space, missing)
            self._n = n
            self._df.update({t: df.get(t, 0) for t in missing})

    def idf(self, term: str) -> float:
        """Smoothed IDF; a term the corpus never uses weighs as much as the rarest one."""
        self._stats([term])
        n, df = max(self._n or 0, 1), self._df[term]
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def coverage(self, query_terms: Sequence[str], text: str) -> float:
        """Share of the question's IDF mass that the text contains (0..1)."""
        return self.coverage_of(query_terms, term_set(text))

    def coverage_of(self, query_terms: Sequence[str], present: AbstractSet[str]) -> float:
        """:meth:`coverage` of a text given by its :func:`term_set`: sentence scoring tokenizes an
        article's title once, not once per sentence, and weighs the question's terms once."""
        q = frozenset(query_terms)
        if not q:
            return 0.0
        weights = self._weights.get(q)
        if weights is None:
            self._stats(sorted(q))
            idf = {t: self.idf(t) for t in q}
            weights = self._weights[q] = (idf, sum(idf.values()))
        idf, total = weights
        return float(sum(idf[t] for t in q & present) / total) if total else 0.0


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ranked id lists, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


__all__ = ["Lexical", "rrf", "stem", "term_set", "terms", "words"]

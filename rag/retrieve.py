"""Hybrid retrieval: dense (Chroma) and lexical (BM25) over chunks, fused by reciprocal rank,
then every sentence of the best chunks scored on its own (dense similarity of its pooled vector
plus IDF-weighted coverage of the question's terms). A second hop reads the articles whose titles
the best chunks mention; the best articles are read whole; the final order favours ledes, articles
the question names and linked articles, and keeps the best sentence of the two best articles.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Collection, Sequence

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.lexical import rrf, term_set
from rag.settings import RetrievalSettings
from rag.store import Store
from rag.types import Candidate


class HybridSearch:
    """Question in, ranked candidate sentences out; holds nothing but its store and a table of titles (rebuilt when the collection changes)."""

    def __init__(self, store: Store, settings: RetrievalSettings | None = None) -> None:
        self.store = store
        self.settings = settings or store.settings.retrieval
        self._titles: _Titles | None = None

    #: A filter matching at most this many articles has every sentence of them scored; a larger one
    #: restricts the dense and lexical searches to its articles (a Chroma ``where``, an SQL condition).
    WHOLE_ARTICLES = 32

    def candidates(
        self, question: str, k: int | None = None, timings: dict[str, float] | None = None, articles: Sequence[str] | None = None,
        within: Collection[str] | None = None,
    ) -> list[Candidate]:
        """The ``k`` best sentences for the question; with ``articles``, only sentences of those articles
        (every one of them is scored: the filter applies before ranking, not after). ``within`` (the
        articles a filter matches) restricts everything to those articles, also before ranking: a small
        set is scored whole, a larger one restricts both searches, so the best sentences inside the
        filter are found however few articles it leaves."""
        k = k or self.settings.k
        s = self.settings
        if within is not None:
            if articles is not None:
                articles = [a for a in articles if a in within]
            elif len(within) <= self.WHOLE_ARTICLES:
                articles = sorted(within)
        t0 = time.perf_counter()
        qv = self.store.embedder.embed_query(question)
        t1 = time.perf_counter()
        if articles is not None:
            lexical = self.store.lexical()
            terms = lexical.terms(question)
            out = self._rank(question, self._score(qv, terms, [(a, 0, 1 << 30) for a in articles], lexical), [], k, terms, lexical)
            if timings is not None:
                timings.update(embed_query=(t1 - t0) * 1000, sentences=(time.perf_counter() - t1) * 1000)
            return out[:k]
        dense = [i for i, _ in (self.store.nearest(qv, s.fetch) if within is None else self.store.nearest(qv, s.fetch, within))]
        t2 = time.perf_counter()
        lexical = self.store.lexical()
        lex = [i for i, _ in (lexical.search(question, s.fetch) if within is None else lexical.search(question, s.fetch, within))]
        t3 = time.perf_counter()
        fused = [i for i, _ in rrf([dense, lex], s.rrf_k)]
        # Rank fusion under-rates a chunk that only one retriever finds, however strongly, so
        # each retriever's own best few chunks are kept beside the fused best.
        head = max(1, s.chunks // 4)
        wanted = list(dict.fromkeys(fused[: s.chunks] + dense[:head] + lex[:head]))
        # Only chunks the catalogue knows count: a vector left by a killed ingest is never shown.
        chunks = self.store.catalogue.chunks(self.store.space, wanted)
        windows = [(c.article_id, c.first, c.last) for c in chunks]
        linked = self._linked(chunks, {c.article_id for c in chunks}, within=within)
        # a linked article is read whole: the fact the question hops to may sit anywhere in it
        windows += [(aid, 0, 1 << 30) for aid in linked]
        terms = lexical.terms(question)
        out = self._score(qv, terms, windows, lexical)
        # the best few articles are read whole too, so a fact outside the retrieved chunk can still rank
        best = list(dict.fromkeys(c.sentence.article_id for c in out))[: s.expand_articles]
        extra = [(aid, 0, 1 << 30) for aid in best if aid not in linked]
        seen = {(c.sentence.article_id, c.sentence.index) for c in out}
        out += [c for c in self._score(qv, terms, extra, lexical) if (c.sentence.article_id, c.sentence.index) not in seen]
        out = self._rank(question, out, linked, k, terms, lexical)
        t4 = time.perf_counter()
        if timings is not None:
            timings.update(
                embed_query=(t1 - t0) * 1000, dense=(t2 - t1) * 1000, lexical=(t3 - t2) * 1000, sentences=(t4 - t3) * 1000
            )
        return out[:k]

    def _score(self, qv: np.ndarray, terms, windows: list[tuple[str, int, int]], lexical) -> list[Candidate]:
        """Each sentence on its own: dense similarity of its vector, and IDF-weighted coverage of
        the question's terms by title plus sentence (the title stands in for what the sentence
        leaves implicit: "It was founded in 1844")."""
        s = self.settings
        rows = self.store.catalogue.window_sentences(self.store.space, windows, self.store.embedder.dim)
        if not rows:
            return []
        dense_scores = np.stack([r[3] for r in rows]) @ qv
        out = []
        title_terms: dict[str, frozenset[str]] = {}
        for (sentence, title, url, _), d in zip(rows, dense_scores):
            if title not in title_terms:
                title_terms[title] = term_set(title)
            lx = lexical.coverage_of(terms, title_terms[title] | term_set(sentence.text))
            score = s.dense_weight * float(d) + (1 - s.dense_weight) * lx
            out.append(Candidate(sentence=sentence, title=title, url=url, score=score, dense=float(d), lexical=lx))
        out.sort(key=lambda c: -c.score)
        return out

    def _rank(self, question: str, pool: list[Candidate], linked: list[str], k: int, terms, lexical) -> list[Candidate]:
        """Final order: a bonus for an article's opening sentence (a lede or an encyclopedia
        definition says what the article is about), for an article the question names, and for one
        the best chunks link to (the second hop of a two-part question)."""
        s = self.settings
        q = f" {_norm(question)} "
        named = {c.sentence.article_id for c in pool if len(t := _norm(c.title)) > 3 and f" {t} " in q}
        for c in pool:
            # an opening sentence earns its bonus only when it shares a word with the question itself
            # (or when the best chunks link to its article: it then introduces the linked entity)
            lede = c.sentence.index == 0 and (c.sentence.article_id in linked or lexical.coverage(terms, c.sentence.text) > 0)
            c.score += (s.lead_bonus if lede else 0.0) + (s.title_bonus if c.sentence.article_id in named else 0.0)
            if c.sentence.article_id in linked:
                c.score += s.link_bonus
        pool.sort(key=lambda c: -c.score)
        # the best sentence of each of the best few articles is kept among the first k, so one long
        # article cannot crowd out the other half of a two-part question; the rest go by score
        spread: dict[str, Candidate] = {}
        for c in pool:
            if len(spread) >= min(s.spread, k):
                break
            spread.setdefault(c.sentence.article_id, c)
        reserved = {id(c) for c in spread.values()}
        others = [c for c in pool if id(c) not in reserved]
        kept = reserved | {id(c) for c in others[: k - len(reserved)]}
        return [c for c in pool if id(c) in kept] + [c for c in pool if id(c) not in kept]

    def _linked(self, chunks: list, seen: set[str], most: int = 6, within: Collection[str] | None = None) -> list[str]:
        """Second hop: articles whose title the best chunks mention ("... directed by Jane Doe"
        brings in the article "Jane Doe"). The chunks' word sequences are looked up in a table of
        titles, so a question costs the same whatever the number of articles."""
        titles = self._title_table()
        bodies = [c.text.split("\n", 1)[-1] for c in chunks]  # a chunk's text opens with its title line
        words = _norm(" ".join(bodies)).split()
        found: set[tuple[int, str]] = set()
        for i, word in enumerate(words):
            # only the lengths of the titles that open with this word are looked up
            for n in titles.lengths.get(word, ()):
                if i + n > len(words):
                    break
                found.update(titles.ids.get(" ".join(words[i : i + n]), ()))
        # in the catalogue's title order, as before: the cut at ``most`` keeps the same articles
        # (a filter's articles only: the second hop stays inside it)
        return [aid for _, aid in sorted(found) if aid not in seen and (within is None or aid in within)][:most]

    def _title_table(self) -> "_Titles":
        """Normalised title -> (position, article id), rebuilt when the collection changes."""
        generation = self.store.catalogue.generation(self.store.space)
        cached = self._titles
        if cached is None or cached.generation != generation:
            ids: dict[str, list[tuple[int, str]]] = {}
            # "Mark Robson (film director)" is mentioned as "Mark Robson": match without the bracket
            for n, (title, aid) in enumerate(self.store.catalogue.titles(self.store.space).items()):
                if len(t := _norm(title)) > 3:
                    ids.setdefault(t, []).append((n, aid))
            lengths: dict[str, set[int]] = {}
            for t in ids:
                first, *rest = t.split()
                lengths.setdefault(first, set()).add(1 + len(rest))
            cached = self._titles = _Titles(generation, ids, {w: tuple(sorted(ns)) for w, ns in lengths.items()})
        return cached


@dataclass(frozen=True)
class _Titles:
    generation: int
    ids: dict[str, list[tuple[int, str]]]
    #: first word of a title -> the word counts of the titles opening with it, shortest first
    lengths: dict[str, tuple[int, ...]]


@lru_cache(maxsize=1 << 16)
def _norm(text: str) -> str:
    """Lower-case words without brackets or punctuation, for matching titles inside text."""
    return " ".join(re.sub(r"[^\w']+", " ", re.sub(r"\([^)]*\)", " ", text.lower()).replace("’", "'")).split()) if text else ""


class HybridRetriever(BaseRetriever):
    """LangChain face of :class:`HybridSearch`: one ``Document`` per candidate sentence."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    search: Any
    k: int = 10

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=c.sentence.text,
                id=c.sentence.id,
                metadata={
                    "article_id": c.sentence.article_id,
                    "sentence_index": c.sentence.index,
                    "start": c.sentence.start,
                    "end": c.sentence.end,
                    "title": c.title,
                    "url": c.url,
                    "score": c.score,
                },
            )
            for c in self.search.candidates(query, self.k)
        ]

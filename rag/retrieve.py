"""Hybrid retrieval: dense (Chroma) and lexical (BM25) over chunks, fused by reciprocal rank,
then every sentence of the best chunks scored on its own (dense similarity of its pooled vector
plus IDF-weighted coverage of the question's terms).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.lexical import rrf
from rag.settings import RetrievalSettings
from rag.store import Store
from rag.types import Candidate


class HybridSearch:
    """Question in, ranked candidate sentences out; holds no state beyond its store."""

    def __init__(self, store: Store, settings: RetrievalSettings | None = None) -> None:
        self.store = store
        self.settings = settings or store.settings.retrieval

    def candidates(self, question: str, k: int | None = None, timings: dict[str, float] | None = None) -> list[Candidate]:
        k = k or self.settings.k
        s = self.settings
        t0 = time.perf_counter()
        qv = self.store.embedder.embed_query(question)
        t1 = time.perf_counter()
        dense = [i for i, _ in self.store.vectors.query(qv, s.fetch)]
        t2 = time.perf_counter()
        lexical = self.store.lexical()
        lex = [i for i, _ in lexical.search(question, s.fetch)]
        t3 = time.perf_counter()
        fused = [i for i, _ in rrf([dense, lex], s.rrf_k)]
        # Rank fusion under-rates a chunk that only one retriever finds, however strongly, so
        # each retriever's own best few chunks are kept beside the fused best.
        head = max(1, s.chunks // 4)
        wanted = list(dict.fromkeys(fused[: s.chunks] + dense[:head] + lex[:head]))
        # Only chunks the catalogue knows count: a vector left by a killed ingest is never shown.
        chunks = self.store.catalogue.chunks(self.store.space, wanted)
        chunks += self._linked(chunks, {c.article_id for c in chunks})
        rows = self.store.catalogue.window_sentences(
            self.store.space, [(c.article_id, c.first, c.last) for c in chunks], self.store.embedder.dim
        )
        terms = lexical.terms(question)
        out: list[Candidate] = []
        if rows:
            vecs = np.stack([r[3] for r in rows])
            dense_scores = vecs @ qv
            for (sentence, title, url, _), d in zip(rows, dense_scores):
                # the title stands in for what the sentence leaves implicit ("It was founded in 1844")
                lx = lexical.coverage(terms, f"{title} {sentence.text}")
                score = s.dense_weight * float(d) + (1 - s.dense_weight) * lx
                out.append(Candidate(sentence=sentence, title=title, url=url, score=score, dense=float(d), lexical=lx))
        out.sort(key=lambda c: -c.score)
        t4 = time.perf_counter()
        if timings is not None:
            timings.update(
                embed_query=(t1 - t0) * 1000, dense=(t2 - t1) * 1000, lexical=(t3 - t2) * 1000, sentences=(t4 - t3) * 1000
            )
        return out[:k]


    def _linked(self, chunks: list, seen: set[str], most: int = 6) -> list:
        """Second hop: the opening chunk of articles whose title the best chunks mention
        ("... directed by Jane Doe" brings in the article "Jane Doe")."""
        titles = self.store.catalogue.titles(self.store.space)
        text = " ".join(c.text.split("\n", 1)[-1] for c in chunks).lower()
        linked = [aid for title, aid in titles.items() if aid not in seen and len(title) > 3 and title in text][:most]
        return self.store.catalogue.first_chunks(self.store.space, linked)


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

"""Question in, cited :class:`Answer` out: retrieval, an answerer, then citation checking."""

from __future__ import annotations

import time

from langchain_core.runnables import Runnable

from rag.attribution import AttributionAnswerer
from rag.citations import resolve
from rag.embeddings import Embedder, make_embedder
from rag.extractive import ABSTAIN_TEXT, AnswerInput, Draft, extractive_answerer
from rag.retrieve import HybridSearch
from rag.settings import Settings
from rag.store import Store
from rag.types import Answer


class Engine:
    """Holds the store and answerer for one collection; build one per process and reuse it."""

    def __init__(self, store: Store, answerer: Runnable[AnswerInput, Draft] | None = None) -> None:
        self.store = store
        self.search = HybridSearch(store)
        self.attribution = AttributionAnswerer(store)
        self.answerer = answerer or extractive_answerer(store.settings.answer)

    @classmethod
    def open(cls, settings: Settings, collection: str | None = None, embedder: Embedder | None = None) -> "Engine":
        embedder = embedder or make_embedder(settings.embedder, settings.openai_api_key)
        return cls(Store(settings, embedder, collection))

    def ask(self, question: str, k: int | None = None) -> Answer:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        # Attribution questions are answered from the claims ledger; others by retrieval.
        ledger = self.attribution.answer(question)
        claims = []
        if ledger is not None:
            shown, draft, claims = ledger
            t1 = t2 = time.perf_counter()
            timings["claims"] = (t1 - t0) * 1000
        else:
            shown = self.search.candidates(question, k, timings)
            t1 = time.perf_counter()
            draft = self.answerer.invoke(AnswerInput(question=question, candidates=shown))
            t2 = time.perf_counter()
        text, citations = resolve(draft.text, shown)
        abstained = draft.abstained or not citations
        if abstained:
            text, citations, claims = ABSTAIN_TEXT, [], []
        t3 = time.perf_counter()
        timings.update(retrieve=(t1 - t0) * 1000, answer=(t2 - t1) * 1000, citations=(t3 - t2) * 1000, total=(t3 - t0) * 1000)
        return Answer(
            question=question, text=text, citations=citations, claims=claims, abstained=abstained, mode=draft.mode, timings=timings
        )

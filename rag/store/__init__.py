"""The store: a catalogue (truth, lexical index included) + a vector store (chunk vectors), for one
index space, behind the Protocols of :mod:`rag.store.protocols`. :func:`open_catalogue` and
:func:`open_vectors` are the one place that picks the implementations from the settings: SQLite
and embedded Chroma by default, PostgreSQL (``WHOSAID_CATALOGUE_URL``) and a Chroma server
(``WHOSAID_CHROMA__HOST``) for several app servers sharing one archive.

Write order makes a killed process harmless: new vectors go to the vector store first (ids carry a
content hash, so they never clash with the old version's), then the catalogue swaps the article
in one transaction, then the old version's vectors are deleted. Whatever a kill leaves behind is a
set of vector ids the catalogue does not know; :meth:`Store.reconcile` removes them and re-adds
any vector the catalogue expects but the vector store lacks. Retrieval only accepts chunk ids the
catalogue knows.

Reconciling reads every id of both sides, so it is not run at every ingest: each write that changes
vectors first sets and commits a per-space "vectors may disagree" mark in the catalogue
(:meth:`Catalogue.mark_vectors_dirty`) and clears it only when it ends with both sides agreeing; a
kill or an exception leaves it set, and the next ingest reconciles only then
(:meth:`Store.reconcile_if_marked`). The mark is one flag per space, not a journal of pending chunk
ids: a kill is rare, so one full reconcile after it costs little, while a journal would add a row
per chunk to every write and still miss vectors lost some other way, which the full diff repairs.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Sequence

import numpy as np

from rag.embeddings import Embedder
from rag.lexical import Lexical
from rag.settings import Settings
from rag.store.protocols import ArticleRow, Catalogue, CatalogueError, StoreBusy, VectorStore, VectorStoreUnavailable
from rag.types import Article, Chunk, Claim, Sentence

log = logging.getLogger(__name__)


def open_catalogue(settings: Settings) -> Catalogue:
    """The catalogue the settings name: PostgreSQL for a ``postgresql://`` URL, else SQLite in the home."""
    url = settings.catalogue_url
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise CatalogueError(f"WHOSAID_CATALOGUE_URL: expected postgresql://..., got {url.split(':', 1)[0]}:...")
        from rag.store.postgres import PostgresCatalogue

        return PostgresCatalogue(url, pool_size=settings.catalogue_pool)
    from rag.store.sqlite import SqliteCatalogue

    return SqliteCatalogue(Path(settings.home) / "catalogue.sqlite3")


def open_vectors(settings: Settings, space: str, embedder: Embedder, client: Any = None) -> VectorStore:
    """Chroma, embedded in the home unless a server host is set (or a client is handed in)."""
    from rag.store.chroma import ChromaVectors, make_chroma_client

    client = client or make_chroma_client(Path(settings.home), settings.chroma.host, settings.chroma.port)
    return ChromaVectors(client, space, embedder)


@dataclass
class ArticleWrite:
    """Everything stored for one article version."""

    article: Article
    version: str
    origin: str
    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    chunk_vecs: np.ndarray
    sentence_vecs: np.ndarray | None
    claims: Sequence[Claim] = ()


@dataclass
class ReconcileReport:
    removed: int = 0
    restored: int = 0


class Store:
    """Everything stored for one collection under one set of vector-changing settings."""

    def __init__(
        self, settings: Settings, embedder: Embedder, collection: str | None = None, client: Any = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.space = settings.space(collection)
        self.home = Path(settings.home)
        self.catalogue: Catalogue = catalogue or open_catalogue(settings)
        self._client = client
        self._vectors: VectorStore | None = None
        self._opening = threading.Lock()

    @property
    def vectors(self) -> VectorStore:
        """Opened on first use (listing or deleting from the catalogue need not start Chroma), once:
        concurrent first questions opening a client each made Chroma fail ("Could not connect to tenant")."""
        if self._vectors is None:
            with self._opening:
                if self._vectors is None:
                    self._vectors = open_vectors(self.settings, self.space, self.embedder, self._client)
        return self._vectors

    def close(self) -> None:
        self.catalogue.close()

    # -- writes -------------------------------------------------------------------------------
    def write(self, item: "ArticleWrite") -> None:
        """Store one article all or nothing (see the module docstring for the order)."""
        error = self.write_many([item])[0]
        if error is not None:
            raise error

    def write_many(self, items: Sequence["ArticleWrite"]) -> list[Exception | None]:
        """Store several articles, each all or nothing, with one vector upsert for the lot.

        Returns one entry per item: ``None`` when stored, else the error that kept it out (its new
        vectors, already upserted, are deleted again; if that fails too they are orphans, and the
        "vectors may disagree" mark stays set for :meth:`reconcile_if_marked`).
        """
        if not items:
            return []
        owned = self._mark()
        old = {it.article.id: self.catalogue.chunk_ids(self.space, it.article.id) for it in items}
        failed = self._add_vectors(items)
        results: list[Exception | None] = []
        stale: set[str] = set()
        undo: set[str] = set()
        for it in items:
            new = {c.id for c in it.chunks} - old[it.article.id]  # ids the catalogue does not hold (shared ids keep their vector)
            if it.article.id in failed:
                results.append(failed[it.article.id])
                undo |= new  # an upsert that failed may have stored some of its vectors
                continue
            try:
                self.catalogue.write_article(self.space, it.article, it.version, it.origin, it.sentences, it.chunks, it.sentence_vecs, it.claims)
            except Exception as e:  # noqa: BLE001 - one article's failure must not stop the others
                results.append(e)
                undo |= new
                continue
            results.append(None)
            stale |= old[it.article.id] - {c.id for c in it.chunks}
        if stale:
            self.vectors.delete(sorted(stale))
        agree = True
        if undo:
            try:
                self.vectors.delete(sorted(undo))
            except Exception as e:  # noqa: BLE001 - the mark stays set: the next ingest reconciles
                log.warning("could not delete the vectors of articles that were not stored (%s); the next ingest reconciles", e)
                agree = False
        if owned and agree:
            self.catalogue.clear_vectors_dirty(self.space)
        return results

    def _add_vectors(self, items: Sequence["ArticleWrite"]) -> dict[str, Exception]:
        """Upsert every item's chunk vectors, in one go when that works, else article by article so
        that a refusal keeps out only the article it concerns. Returns the errors by article id."""
        def add(part: Sequence["ArticleWrite"]) -> None:
            chunks = [c for it in part for c in it.chunks]
            if chunks:
                self.vectors.add(
                    [c.id for c in chunks],
                    np.concatenate([it.chunk_vecs for it in part if it.chunks]),
                    [{"article_id": c.article_id, "first": c.first, "last": c.last} for c in chunks],
                )

        try:
            add(items)
            return {}
        except Exception as e:  # noqa: BLE001 - find the article at fault below
            if len(items) == 1:
                return {items[0].article.id: e}
        failed: dict[str, Exception] = {}
        for it in items:
            try:
                add([it])
            except Exception as e:  # noqa: BLE001
                failed[it.article.id] = e
        return failed

    def delete(self, article_id: str) -> bool:
        with self.writing():
            owned = self._mark()
            ids = self.catalogue.delete_article(self.space, article_id)
            if ids:
                self.vectors.delete(ids)
            if owned:
                self.catalogue.clear_vectors_dirty(self.space)
            return bool(ids)

    def _mark(self) -> bool:
        """Set and commit the "vectors may disagree" mark before vectors change. True when this call
        set it, so the caller clears it once the vectors agree; False when it was already set (a run
        before was interrupted): then only a reconcile may clear it."""
        if self.catalogue.vectors_dirty(self.space):
            return False
        self.catalogue.mark_vectors_dirty(self.space)
        return True

    def reconcile(self) -> ReconcileReport:
        """Make Chroma hold exactly the chunks the catalogue lists, then clear the "vectors may
        disagree" mark. Reads every id on both sides: O(archive)."""
        report = ReconcileReport()
        known = self.catalogue.chunk_ids(self.space)
        present = self.vectors.ids()
        extra = sorted(present - known)
        if extra:
            self.vectors.delete(extra)
            report.removed = len(extra)
        missing = sorted(known - present)
        if missing:
            chunks = self.catalogue.chunks(self.space, missing)
            for b in range(0, len(chunks), 256):
                part = chunks[b : b + 256]
                vecs = self.embedder.embed([c.text for c in part])
                self.vectors.add([c.id for c in part], vecs, [{"article_id": c.article_id, "first": c.first, "last": c.last} for c in part])
            report.restored = len(chunks)
        self.catalogue.clear_vectors_dirty(self.space)
        return report

    def reconcile_if_marked(self) -> ReconcileReport | None:
        """What an ingest does first: :meth:`reconcile` when a run before it may have left the vectors
        disagreeing (the mark is set), else nothing (one read, whatever the archive's size)."""
        if not self.catalogue.vectors_dirty(self.space):
            return None
        return self.reconcile()

    # -- one writer at a time ---------------------------------------------------------------------
    def writing(self, wait: float = 0.0) -> AbstractContextManager[None]:
        """The collection's write lock, held by ingest, delete and doctor's repairs: a second
        writer's reconcile would otherwise delete the vectors the first has added but not yet
        committed. Raises :class:`StoreBusy` when it is not free within ``wait`` seconds."""
        return self.catalogue.writer(self.space, wait)

    # -- lexical index ------------------------------------------------------------------------
    def lexical(self) -> Lexical:
        """BM25 search and term weights over the space's chunks, as of now."""
        return Lexical(self.catalogue, self.space)

    def nearest(self, vector: np.ndarray, n: int, articles: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Dense search that fails safe: when the vector store cannot answer (even after its retries),
        an empty list, so the question is answered from the lexical index alone rather than not at all.
        With ``articles``, the search runs among those articles' chunks only."""
        try:
            return self.vectors.query(vector, n) if articles is None else self.vectors.query(vector, n, articles)
        except VectorStoreUnavailable as e:
            log.warning("%s; answering from the lexical index alone", e)
            return []

    def lexical_health(self) -> str | None:
        return self.catalogue.lexical_health(self.space)

    def rebuild_lexical(self) -> int:
        return self.catalogue.rebuild_lexical(self.space)


__all__ = ["ArticleRow", "ArticleWrite", "Catalogue", "CatalogueError", "ReconcileReport", "Store", "StoreBusy", "VectorStore",
           "VectorStoreUnavailable", "open_catalogue", "open_vectors"]

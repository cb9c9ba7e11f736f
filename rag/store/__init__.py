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
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

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

        Returns one entry per item: ``None`` when stored, else the error that kept it out (its
        vectors, already upserted, are orphans that :meth:`reconcile` removes).
        """
        old = {it.article.id: self.catalogue.chunk_ids(self.space, it.article.id) for it in items}
        failed = self._add_vectors(items)
        results: list[Exception | None] = []
        stale: set[str] = set()
        for it in items:
            if it.article.id in failed:
                results.append(failed[it.article.id])
                continue
            try:
                self.catalogue.write_article(self.space, it.article, it.version, it.origin, it.sentences, it.chunks, it.sentence_vecs, it.claims)
            except Exception as e:  # noqa: BLE001 - one article's failure must not stop the others
                results.append(e)
                continue
            results.append(None)
            stale |= old[it.article.id] - {c.id for c in it.chunks}
        if stale:
            self.vectors.delete(sorted(stale))
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
            ids = self.catalogue.delete_article(self.space, article_id)
            if ids:
                self.vectors.delete(ids)
                return True
            return False

    def reconcile(self) -> ReconcileReport:
        """Make Chroma hold exactly the chunks the catalogue lists."""
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
        return report

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

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Dense search that fails safe: when the vector store cannot answer (even after its retries),
        an empty list, so the question is answered from the lexical index alone rather than not at all."""
        try:
            return self.vectors.query(vector, n)
        except VectorStoreUnavailable as e:
            log.warning("%s; answering from the lexical index alone", e)
            return []

    def lexical_health(self) -> str | None:
        return self.catalogue.lexical_health(self.space)

    def rebuild_lexical(self) -> int:
        return self.catalogue.rebuild_lexical(self.space)


__all__ = ["ArticleRow", "ArticleWrite", "Catalogue", "CatalogueError", "ReconcileReport", "Store", "StoreBusy", "VectorStore",
           "VectorStoreUnavailable", "open_catalogue", "open_vectors"]

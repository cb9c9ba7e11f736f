"""The store: catalogue (truth) + Chroma (chunk vectors) + the lexical index, for one index space.

Write order makes a killed process harmless: new vectors go to Chroma first (ids carry a content
hash, so they never clash with the old version's), then the catalogue swaps the article in one
transaction, then the old version's vectors are deleted. Whatever a kill leaves behind is a set of
Chroma ids the catalogue does not know; :meth:`Store.reconcile` removes them and re-adds any vector
the catalogue expects but Chroma lacks. Retrieval only accepts chunk ids the catalogue knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from rag.catalogue import Catalogue
from rag.embeddings import Embedder
from rag.lexical import LexicalIndex
from rag.settings import Settings
from rag.types import Article, Chunk, Claim, Sentence
from rag.vectors import ChromaVectors, make_chroma_client

if TYPE_CHECKING:
    from filelock import FileLock


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


class StoreBusy(RuntimeError):
    """Another process holds the data directory's write lock."""


@dataclass
class ReconcileReport:
    removed: int = 0
    restored: int = 0


class Store:
    """Everything stored for one collection under one set of vector-changing settings."""

    def __init__(self, settings: Settings, embedder: Embedder, collection: str | None = None, client: Any = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.space = settings.space(collection)
        self.home = Path(settings.home)
        self.catalogue = Catalogue(self.home / "catalogue.sqlite3")
        self._client = client
        self._vectors: ChromaVectors | None = None
        self._lexical: tuple[int, LexicalIndex] | None = None

    @property
    def vectors(self) -> ChromaVectors:
        """Opened on first use: listing or deleting from the catalogue need not start Chroma."""
        if self._vectors is None:
            client = self._client or make_chroma_client(self.home, self.settings.chroma.host, self.settings.chroma.port)
            self._vectors = ChromaVectors(client, self.space, self.embedder)
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
    def writing(self, wait: float = 0.0) -> "FileLock":
        """The data directory's write lock, held by ingest, delete and doctor's repairs: a second
        writer's reconcile would otherwise delete the vectors the first has added but not yet
        committed. The kernel drops the lock when its holder dies (even by SIGKILL), so a crash never
        leaves it held. Raises :class:`StoreBusy` when it is not free within ``wait`` seconds."""
        from filelock import FileLock, Timeout

        self.home.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.home / "write.lock"), timeout=wait)
        try:
            lock.acquire()
        except Timeout:
            raise StoreBusy(f"{self.home}: another whosaid ingest, delete or doctor is writing here; try again when it ends") from None
        return lock

    # -- lexical index ------------------------------------------------------------------------
    def _lexical_dir(self) -> Path:
        return self.home / "lexical" / self.space

    def _lexical_built_at(self) -> str | None:
        """The catalogue generation the saved BM25 index was built at (None: no index saved)."""
        stamp = self._lexical_dir() / "generation"
        try:
            return stamp.read_text().strip()
        except OSError:
            return None

    def lexical_saved(self) -> bool:
        """The saved BM25 index is the catalogue's current one (a kill while it was being built
        leaves it missing or stale with nothing left to ingest)."""
        return self._lexical_built_at() == str(self.catalogue.generation(self.space))

    def lexical_health(self) -> str | None:
        """What is wrong with the BM25 index on disk, or None. Rebuilding is always safe: it is
        derived from the catalogue."""
        directory = self._lexical_dir()
        leftovers = list(directory.parent.glob(".tmp-*")) if directory.parent.is_dir() else []
        known = self.catalogue.chunk_ids(self.space)
        built = self._lexical_built_at()
        if built is None:
            return "missing" if known else None
        generation = self.catalogue.generation(self.space)
        if built != str(generation):
            return f"stale (built at catalogue generation {built or '?'}, catalogue now at {generation})"
        try:
            index = LexicalIndex.load(directory)
        except (OSError, ValueError, KeyError) as e:
            return f"unreadable ({type(e).__name__})"
        if len(index.ids) != len(set(index.ids)) or set(index.ids) != known:
            return f"holds {len(index.ids)} chunks, the catalogue {len(known)}"
        if leftovers:
            return f"{len(leftovers)} half-written index folder(s) left by an interrupted save"
        return None

    def remove_lexical_leftovers(self) -> int:
        """Remove the half-written index folders a killed save leaves (a reader's save that loses its
        folder meanwhile only fails, and the index is rebuilt next time)."""
        import shutil

        parent = self._lexical_dir().parent
        leftovers = list(parent.glob(".tmp-*")) if parent.is_dir() else []
        for leftover in leftovers:
            shutil.rmtree(leftover, ignore_errors=True)
        return len(leftovers)

    def rebuild_lexical(self) -> LexicalIndex:
        """Throw the on-disk index and any half-written save away and build it again."""
        directory = self._lexical_dir()
        self.remove_lexical_leftovers()
        (directory / "generation").unlink(missing_ok=True)
        self._lexical = None
        return self.lexical()

    def lexical(self) -> LexicalIndex:
        """BM25 over the space's chunks: from memory, else from disk, else rebuilt and saved."""
        generation = self.catalogue.generation(self.space)
        if self._lexical and self._lexical[0] == generation:
            return self._lexical[1]
        directory = self._lexical_dir()
        index: LexicalIndex | None = None
        stamp = directory / "generation"
        if self._lexical_built_at() == str(generation):
            try:
                index = LexicalIndex.load(directory)
            except (OSError, ValueError, KeyError):
                index = None
        if index is None:
            chunks = self.catalogue.chunks(self.space)
            index = LexicalIndex.build([c.id for c in chunks], [c.text for c in chunks])
            try:
                index.save(directory)
                stamp.write_text(str(generation))
            except OSError:
                pass  # a read-only home still answers; it just rebuilds next time
        self._lexical = (generation, index)
        return index

"""Chroma as the chunk-vector store: embedded ``PersistentClient`` by default, ``HttpClient`` when a
server is configured. Vectors are always computed by whosaid's embedder and handed to Chroma; the
collection is also given that embedder as its embedding function, because Chroma's own default
would try to download a model and fail offline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Collection, Sequence

import numpy as np

from rag.embeddings import Embedder
from rag.store.protocols import VectorStoreUnavailable

#: Tries of a vector query before it is given up (waits 0.2, 0.4, 0.8, 1.6 s in between).
QUERY_ATTEMPTS = 5


def _embedding_function(embedder: Embedder):
    """Wrap an :class:`Embedder` in Chroma's embedding-function protocol."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class WhosaidEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, inner: Embedder) -> None:
            self._inner = inner

        def __call__(self, input: Documents) -> Embeddings:
            return list(self._inner.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "whosaid"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> "WhosaidEmbeddingFunction":
            from rag.embeddings import MiniLMOnnxEmbedder

            return WhosaidEmbeddingFunction(MiniLMOnnxEmbedder())

        def default_space(self) -> str:
            return "cosine"

    return WhosaidEmbeddingFunction(embedder)


class ChromaVectors:
    """One Chroma collection of chunk vectors, named by the index space."""

    def __init__(self, client: Any, space: str, embedder: Embedder) -> None:
        self._client = client
        self._embedder = embedder
        self.space = space
        self._collection = client.get_or_create_collection(
            name=space,
            embedding_function=_embedding_function(embedder),
            configuration={"hnsw": {"space": "cosine"}},
        )

    def _batch(self) -> int:
        """Chroma refuses larger calls (5,461 records embedded); one long article can exceed that."""
        try:
            return max(1, min(int(self._client.get_max_batch_size()), 5000))
        except Exception:  # noqa: BLE001 - an older server without the call: a size every version takes
            return 1000

    def add(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict]) -> None:
        ids, metadatas, step = list(ids), list(metadatas), self._batch()
        for b in range(0, len(ids), step):
            self._collection.upsert(ids=ids[b : b + step], embeddings=vectors[b : b + step], metadatas=metadatas[b : b + step])

    def delete(self, ids: Sequence[str]) -> None:
        ids, step = list(ids), self._batch()
        for b in range(0, len(ids), step):
            self._collection.delete(ids=ids[b : b + step])

    def ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def count(self) -> int:
        return self._collection.count()

    #: Article sets up to this size go to Chroma as a ``where ... $in`` (its embedded SQLite refuses
    #: past 32,766 values, and each value costs 10-30 us); larger ones are searched by deepening.
    WHERE_IN_MOST = 4000
    #: Sets larger than this first try one unfiltered read of the nearest 4n: a set that is a large share
    #: of the collection has its nearest n among them, for less than its ``$in`` list would cost.
    TRY_DEEPENING = 128

    def query(self, vector: np.ndarray, n: int, articles: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity (1 - distance); with ``articles``, the nearest among
        those articles' chunks only. Up to :attr:`WHERE_IN_MOST` articles: a ``where`` on the
        ``article_id`` every chunk's metadata has carried since the first release, which Chroma applies
        before its nearest-neighbour search. A larger set (then at least that many articles, most often a
        large share of the collection) is searched by deepening: the nearest 4n, 16n, ... chunks of the
        collection are read until n of them lie in the set or the collection is exhausted, so the
        result is the set's own nearest n, never a cut of the collection's."""
        if n <= 0 or (articles is not None and not articles):
            return []
        if articles is not None and len(articles) > self.TRY_DEEPENING:
            found = self._deepening(vector, n, articles, once=len(articles) <= self.WHERE_IN_MOST)
            if found is not None:
                return found
        where = None if articles is None else (
            {"article_id": next(iter(articles))} if len(articles) == 1 else {"article_id": {"$in": sorted(articles)}})
        return self._query(vector, n, where)

    def _deepening(self, vector: np.ndarray, n: int, articles: Collection[str], once: bool) -> list[tuple[str, float]] | None:
        """The set's nearest n from the collection's nearest 4n, 16n, ... (each read whole, in order, so
        the first n inside the set are its nearest n); with ``once``, None when the first read falls short."""
        wanted = articles if isinstance(articles, (set, frozenset)) else set(articles)
        m = 4 * n
        while True:
            found = self._query(vector, m, None, metadatas=True)
            inside = [(i, sim) for i, sim, meta in found if (meta or {}).get("article_id") in wanted]
            if len(inside) >= n or len(found) < m:
                return inside[:n]
            if once:
                return None
            m *= 4

    def _query(self, vector: np.ndarray, n: int, where: dict | None, metadatas: bool = False) -> list:
        # no count() first: Chroma 1.x answers an empty collection, or n above its size, with what it has,
        # and the count held the GIL in the Rust binding on every question (9% of a loaded server's samples)
        for attempt in range(QUERY_ATTEMPTS):
            try:
                res = self._collection.query(query_embeddings=[vector], n_results=n, where=where,
                                             include=["distances", "metadatas"] if metadatas else ["distances"])
                if metadatas:
                    return [(i, 1.0 - float(d), m) for i, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0])]
                return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0])]
            except Exception as e:  # noqa: BLE001 - Chroma raises InternalError, ValueError, ...
                # An embedded index another process is persisting can be read half-written ("Error
                # deserializing pickle file: trailing bytes found", seen while an ingest wrote 10^5
                # chunks); a moment later it reads whole.
                if attempt + 1 == QUERY_ATTEMPTS:
                    raise VectorStoreUnavailable(f"vector search failed: {type(e).__name__}: {str(e)[:200]}") from e
                time.sleep(0.2 * 2**attempt)
        return []


def make_chroma_client(home: Path, host: str = "", port: int = 8000) -> Any:
    """Embedded client in ``home/chroma`` unless a server host is given."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
    if host:
        return chromadb.HttpClient(host=host, port=port, settings=config)
    (home / "chroma").mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(home / "chroma"), settings=config)

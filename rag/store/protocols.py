"""What whosaid needs from its storage, as Protocols: a catalogue (the source of truth: articles,
sentences with offsets and pooled vectors, chunks, claims, and the lexical index over chunks) and a
vector store (chunk vectors). Every implementation passes the same contract suite
(``tests/test_store_contract.py``), so the embedded default (SQLite + embedded Chroma) and a
deployment (PostgreSQL + a Chroma server) answer alike.

Every catalogue call names the index ``space`` it works on (a collection under one set of
vector-changing settings), so one database can hold several.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Collection, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from rag.types import Article, Chunk, Claim, Link, Sentence

#: One catalogue row as :meth:`Catalogue.window_sentences` returns it: the sentence, its article's
#: title and url, and its pooled vector.
WindowRow = tuple[Sentence, str, str, np.ndarray]


class CatalogueError(RuntimeError):
    """A catalogue this whosaid cannot use (written by a newer version, or unreachable)."""


class VectorStoreUnavailable(RuntimeError):
    """A vector search failed even after retries; callers answer from the lexical index alone."""


class StoreBusy(RuntimeError):
    """Another process (on this machine or another) is writing to the collection."""


@dataclass(frozen=True)
class ArticleRow:
    """An article as listed: metadata without the body."""

    id: str
    title: str
    source: str
    url: str
    published: str
    version: str
    origin: str
    sentences: int


@runtime_checkable
class Catalogue(Protocol):
    """Articles, sentences, chunks, claims and the lexical index, for any number of spaces.

    Writes replace an article whole in one transaction, lexical index included, so readers (any
    number at once, from any thread or process) see the old version or the new, never a mixture.
    """

    location: str
    """Where it lives, for messages (a file path, or a URL without its password)."""

    def close(self) -> None: ...

    # -- one writer per space -------------------------------------------------------------------
    def writer(self, space: str, wait: float = 0.0) -> AbstractContextManager[None]:
        """Held by ingest, delete and doctor's repairs, across processes and machines; raises
        :class:`StoreBusy` when another writer holds it for longer than ``wait`` seconds."""
        ...

    # -- writes ---------------------------------------------------------------------------------
    def write_article(
        self, space: str, article: Article, version: str, origin: str, sentences: Sequence[Sentence],
        chunks: Sequence[Chunk], sentence_vecs: np.ndarray | None, claims: Sequence[Claim] = (),
    ) -> None: ...

    def delete_article(self, space: str, article_id: str) -> list[str]:
        """Remove an article; returns the ids of the chunks it had (for the vector store)."""
        ...

    # -- the "vectors may disagree" mark ----------------------------------------------------------
    def vectors_dirty(self, space: str) -> bool:
        """Whether the space's vectors may disagree with its chunks (a run that changes vectors began
        and did not end with them agreeing); a space never seen counts as marked."""
        ...

    def mark_vectors_dirty(self, space: str) -> None:
        """Set the mark, committed before returning: done before any vector write begins."""
        ...

    def clear_vectors_dirty(self, space: str) -> None:
        """Clear the mark, once the vectors are known to agree with the chunks."""
        ...

    # -- reads ----------------------------------------------------------------------------------
    def generation(self, space: str) -> int:
        """Changes whenever the space's content changes; keys caches derived from it."""
        ...

    def version(self, space: str, article_id: str) -> str | None: ...
    def versions(self, space: str) -> dict[str, str]: ...
    def list_articles(self, space: str) -> list[ArticleRow]: ...
    def article(self, space: str, article_id: str) -> Article | None: ...
    def sentences(self, space: str, article_id: str) -> list[Sentence]: ...
    def chunk_ids(self, space: str, article_id: str | None = None) -> set[str]: ...

    def chunks(self, space: str, ids: Iterable[str] | None = None) -> list[Chunk]:
        """Chunks by id (in the order given, unknown ids skipped), or all chunks of the space."""
        ...

    def window_sentences(self, space: str, windows: Sequence[tuple[str, int, int]], dim: int) -> list[WindowRow]:
        """Sentences in ``(article_id, first, last)`` windows, each once, with title, url and vector."""
        ...

    def sentence_vectors(self, space: str, keys: Sequence[tuple[str, int]], dim: int) -> dict[tuple[str, int], np.ndarray]: ...

    def titles(self, space: str) -> dict[str, str]:
        """Lower-cased title -> article id."""
        ...

    def article_names(self, space: str) -> list[tuple[str, str, str]]:
        """``(id, title, source)`` of every article, by id: what names a document, without counting
        its sentences as :meth:`list_articles` does."""
        ...

    def article_meta(self, space: str, ids: Sequence[str] | None = None) -> list[tuple[str, str, str, str, str]]:
        """``(id, title, source, url, published)`` of every article (or of those ``ids``), by id (no body,
        no counting)."""
        ...

    def counts(self, space: str) -> dict[str, int]: ...

    def claims(
        self, space: str, *, stance: str | None = None, speaker: str | None = None, article_id: str | None = None,
        speaker_key: str | None = None, stances: Sequence[str] | None = None, article_ids: Sequence[str] | None = None,
        speaker_keys: Sequence[str] | None = None, limit: int | None = None, negated: bool | None = None,
    ) -> list[Claim]:
        """The ledger in article and sentence order, filtered through the catalogue's indexes:
        ``speaker`` is a case-insensitive substring of name, mention or role; the plural filters match
        any of their values (an empty list matches nothing); ``negated`` keeps negated claims or the
        others; ``limit`` keeps the first claims."""
        ...

    def claims_by_words(
        self, space: str, words: Sequence[str], *, stances: Sequence[str] | None = None, negated: bool | None = None,
        limit: int | None = None,
    ) -> list[Claim]:
        """Claims whose speaker is called (name, role or mention) with every one of ``words``, as
        :func:`rag.attribution.speakers.alias_words` splits them, found through an index of those words;
        in ledger order, filtered by ``stances`` and ``negated``, the first ``limit``."""
        ...

    def speaker_postings(self, space: str, words: Sequence[str], scan: int) -> list[tuple[str, int, str, str, bool]]:
        """``(article_id, seq, speaker_key, stance, negated)`` of the claims called with every one of
        ``words`` among the first ``scan`` (ledger order) called with the rarest of them."""
        ...

    def speaker_keys(self, space: str) -> list[str]:
        """Every named speaker key (none scoped to an article)."""
        ...

    def speaker_names(self, space: str, keys: Sequence[str], sample: int) -> dict[str, list[tuple[str, int, str]]]:
        """Per key, ``(article_id, seq, speaker)`` of its first ``sample`` claims of each stance and
        negation, in ledger order."""
        ...

    def ledger_places(
        self, space: str, stances: Sequence[str], limit: int, *, keys: Sequence[str] | None = None, negated: bool | None = None,
    ) -> list[tuple[str, int]]:
        """``(article_id, seq)`` of the first ``limit`` claims of ``stances`` (by the speaker ``keys``,
        ``negated``, when given), in ledger order, each read stopped at the limit."""
        ...

    def claim_places(self, space: str, stances: Sequence[str], article_ids: Sequence[str]) -> list[tuple[str, int, list[str]]]:
        """``(article_id, seq, sentence_ids)`` of the claims of ``stances`` in ``article_ids``, in ledger order."""
        ...

    def claims_at(self, space: str, places: Sequence[tuple[str, int]]) -> list[Claim]:
        """Claims by ``(article_id, seq)``, in the order given."""
        ...

    # -- cross-article links and speakers over time --------------------------------------------
    def add_links(self, space: str, links: Sequence[Link]) -> None:
        """Store links, replacing any with the same answering claim and answered sentence, in one
        transaction. (Writing or deleting an article drops its links both ways in its own transaction.)"""
        ...

    def links_dirty(self, space: str) -> bool:
        """Whether links may be missing: an ingest stored articles (:meth:`mark_links_dirty`, committed
        first) and did not get to link them (:meth:`clear_links_dirty`)."""
        ...

    def mark_links_dirty(self, space: str) -> None: ...
    def clear_links_dirty(self, space: str) -> None: ...

    def delete_links(self, space: str, article_ids: Sequence[str] | None = None) -> int:
        """Drop the links with either end in these articles, or all of the space's; returns how many."""
        ...

    def links(
        self, space: str, *, article_ids: Sequence[str] | None = None, to_articles: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None, limit: int | None = None, offset: int = 0,
    ) -> list[Link]:
        """Stored links, each with both sentences, their articles' metadata and the claims at each end."""
        ...

    def placed_claims(self, space: str, article_ids: Sequence[str], stances: Sequence[str] | None = None) -> list[tuple[int, Claim]]:
        """``(seq, claim)`` of the claims (of ``stances``) in these articles, in ledger order."""
        ...

    def speaker_counts(self, space: str, fold: dict[str, str], limit: int, offset: int = 0) -> list[tuple[str, int, int, str, str]]:
        """``(key, claims, articles, first, last)`` per named speaker, most claims first, counted in SQL."""
        ...

    def speaker_timeline(self, space: str, keys: Sequence[str], limit: int | None = None) -> list[tuple[int, Claim, str, str, str, str]]:
        """``(seq, claim, title, source, published, url)`` of these speakers' claims in date order."""
        ...

    # -- lexical index --------------------------------------------------------------------------
    def search_chunks(
        self, space: str, terms: Sequence[str], n: int, alone: int | None = None, articles: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` chunks that best match any of the (already tokenised) ``terms``, best first,
        by the engine's own full-text ranking over all of them. With ``alone``, only the first
        ``alone`` terms make a chunk a match on their own; a chunk with none of them must hold two
        of the others (:meth:`rag.lexical.Lexical.search` says why). With ``articles``, only chunks of
        those articles are matched and ranked (a filter applied before ranking, in the statement)."""
        ...

    def term_stats(self, space: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks in the space and, per term, how many of them contain it."""
        ...

    # -- health (whosaid doctor) ----------------------------------------------------------------
    def integrity(self) -> str:
        """The engine's own check: ``"ok"`` or its first complaint."""
        ...

    def orphan_rows(self, space: str) -> dict[str, int]: ...
    def delete_orphan_rows(self, space: str) -> int: ...
    def broken_articles(self, space: str) -> dict[str, str]: ...

    def lexical_health(self, space: str) -> str | None:
        """What is wrong with the lexical index, or None."""
        ...

    def rebuild_lexical(self, space: str) -> int:
        """Rebuild the lexical index from the chunks; returns the chunks indexed."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Chunk vectors of one space, searchable by cosine similarity."""

    def add(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def ids(self) -> set[str]: ...
    def count(self) -> int: ...

    def query(self, vector: np.ndarray, n: int, articles: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Nearest ids with cosine similarity (1 - distance); with ``articles``, nearest among the chunks
        of those articles only (the filter restricts the search, it does not drop results after it)."""
        ...

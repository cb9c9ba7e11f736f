"""What the SQL catalogues (:mod:`rag.store.sqlite`, :mod:`rag.store.postgres`) share: the tables'
reads and the conversion of their rows into whosaid's types, written once so that the two engines
cannot drift apart.

The SQL here is written with ``?`` placeholders (SQLite's); the PostgreSQL catalogue translates them
to ``%s`` outside string literals, so no statement here uses ``?`` as an operator (PostgreSQL's
``jsonb ?``). What differs between the engines is a small dialect each catalogue supplies: how to
borrow a connection and run a query (:meth:`SqlCatalogue._reading`), how to match a column against a
list of values (:meth:`SqlCatalogue._any`), how JSON columns come back, which LIKE ignores case, and
how text ids are ordered: by their bytes in both (SQLite's BINARY collation, PostgreSQL's ``"C"``),
so every listing comes in the same order whichever engine holds it.

Each engine keeps to itself what really differs: the schema and its migrations, transactions and
the writes, the lexical index (FTS5 or ``tsvector``), the writer lock and the integrity checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from contextlib import AbstractContextManager
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np

from rag.store.protocols import ArticleRow, WindowRow
from rag.types import Article, Chunk, Claim, Link, Sentence

#: A claim row's columns, in the order :meth:`SqlCatalogue._claim` reads them.
CLAIM_COLUMNS = ("space, article_id, seq, speaker, cue, stance, content, other_party, sentence_ids, spans, "
                 "negated, cue_lemma, speaker_mention, speaker_role, speaker_key")
_CLAIM_COLUMNS_OF_C = ", ".join("c." + column.strip() for column in CLAIM_COLUMNS.split(","))
_CHUNK_COLUMNS = "id, article_id, first, last, text"

#: Runs one statement with its arguments and returns all its rows.
Run = Callable[[str, Sequence[Any]], list[Any]]

#: The checks of :meth:`SqlCatalogue.broken_articles` that read alike in both engines; each engine
#: lists its checks, these among them, in the order their reasons are reported.
NO_SENTENCES = ("no sentences", ("SELECT a.id FROM articles a WHERE a.space=? AND NOT EXISTS "
                                 "(SELECT 1 FROM sentences s WHERE s.space=a.space AND s.article_id=a.id)"))
SENTENCE_GAPS = ("sentence numbers have gaps", ("SELECT article_id FROM sentences WHERE space=? GROUP BY article_id "
                                                "HAVING MIN(idx) != 0 OR MAX(idx) != COUNT(*) - 1"))
CHUNK_OUTSIDE = ("a chunk points outside the sentences", (
    "SELECT c.article_id FROM chunks c WHERE c.space=? AND (c.first < 0 OR c.first > c.last "
    "OR c.last >= (SELECT COUNT(*) FROM sentences s WHERE s.space=c.space AND s.article_id=c.article_id))"))
#: a claim's sentence ids read "<article id>:<index>"
CLAIM_OUTSIDE = "a claim points outside the sentences"
_ORPHAN_TABLES = ("sentences", "chunks", "claims")

#: Sets or clears a space's "vectors may disagree" mark (``spaces.vectors_dirty``), creating its row.
#: The column defaults to 1 (marked) in both engines, so a row made any other way, and every row a
#: migration to version 5 finds, starts marked: the first ingest after it reconciles once.
SET_VECTORS_DIRTY = ("INSERT INTO spaces (space, vectors_dirty) VALUES (?, ?) "
                     "ON CONFLICT (space) DO UPDATE SET vectors_dirty = excluded.vectors_dirty")


#: Sets or clears a space's "links may be missing" mark (``spaces.links_dirty``): set before an ingest
#: writes articles whose links it has yet to compute, cleared once it has; a kill in between leaves it
#: set, and the next ingest computes every link again.
SET_LINKS_DIRTY = ("INSERT INTO spaces (space, links_dirty) VALUES (?, ?) "
                   "ON CONFLICT (space) DO UPDATE SET links_dirty = excluded.links_dirty")
#: Stores a cross-article link (rag/attribution/links.py), replacing one found before for the same
#: answering claim and answered sentence. Both engines write links with this one statement.
UPSERT_LINK = ("INSERT INTO links (space, from_article, from_seq, from_sentence, to_article, to_sentence, to_seq, kind, score) "
               "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (space, from_article, from_seq, to_article, to_sentence) "
               "DO UPDATE SET from_sentence = excluded.from_sentence, to_seq = excluded.to_seq, kind = excluded.kind, score = excluded.score")
#: An article replaced or deleted takes its links with it, both ways (two statements, each on an index).
DELETE_LINKS = ("DELETE FROM links WHERE space=? AND from_article=?", "DELETE FROM links WHERE space=? AND to_article=?")
#: Links one of whose articles is gone (only damage from outside whosaid leaves them).
ORPHAN_LINKS = ("FROM links WHERE space=? AND (NOT EXISTS (SELECT 1 FROM articles a WHERE a.space=links.space AND a.id=links.from_article) "
                "OR NOT EXISTS (SELECT 1 FROM articles a WHERE a.space=links.space AND a.id=links.to_article))")


#: A publication date when it is an ISO day (``YYYY-MM-DD...``), else NULL: only ISO days sort as dates
#: ("7/21/2015" does not), so anything else is an unknown date.
ISO_DAY = "CASE WHEN {0} LIKE '____-__-__%' THEN {0} END"


def link_row(space: str, link: Link) -> tuple:
    """A link's values for :data:`UPSERT_LINK` (no claim in the answered sentence: -1)."""
    return (space, link.from_article, link.from_seq, link.from_sentence, link.to_article, link.to_sentence,
            -1 if link.to_seq is None else link.to_seq, link.kind, float(link.score))


def _vec_to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float16).tobytes()


def _blob_to_vec(b: bytes | None, dim: int) -> np.ndarray:
    if b is None:
        return np.zeros(dim, dtype=np.float32)
    return np.frombuffer(b, dtype=np.float16).astype(np.float32)


def _chunk(row: Sequence[Any]) -> Chunk:
    return Chunk(id=row[0], article_id=row[1], first=row[2], last=row[3], text=row[4])


def orphans(table: str) -> str:
    """``FROM … WHERE …`` over the rows of ``table`` in space ``?`` whose article is gone."""
    return (f"FROM {table} WHERE space=? AND NOT EXISTS "
            f"(SELECT 1 FROM articles a WHERE a.space={table}.space AND a.id={table}.article_id)")


class SqlCatalogue(ABC):
    """The reads of a catalogue over whosaid's tables, for any SQL engine that supplies the dialect."""

    #: Follows a text id in ORDER BY so that ids sort by their bytes (the engine's default may not).
    _BY_BYTES: ClassVar[str] = ""
    #: The LIKE that ignores case.
    _ILIKE: ClassVar[str] = "LIKE"
    #: Chunks by id and term statistics look up at most this many values a statement, in batches
    #: (``None``: all in one).
    _ANY_BATCH: ClassVar[int | None] = None
    #: ``broken_articles``' checks, ``(reason, query over space ?)``, the first reason found kept.
    _BROKEN_CHECKS: ClassVar[Sequence[tuple[str, str]]] = ()

    def __init__(self, location: str) -> None:
        self.location = location
        self._titles: dict[str, tuple[int, dict[str, str]]] = {}

    # -- the dialect ----------------------------------------------------------------------------
    @abstractmethod
    def _reading(self) -> AbstractContextManager[Run]:
        """A connection to read through (several statements, each seeing what was committed when it
        began), as a function that runs a ``?``-placeholder statement and returns its rows."""

    @staticmethod
    @abstractmethod
    def _any(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` equal to any of ``values`` (never empty): the SQL and its arguments."""

    @staticmethod
    @abstractmethod
    def _from_json(value: Any) -> Any:
        """A JSON column's value as the engine returns it, decoded."""

    @abstractmethod
    def _commit_one(self, sql: str, args: Sequence[Any]) -> None:
        """Run one ``?``-placeholder write statement in a transaction of its own, committed on return."""

    # -- rows into types ------------------------------------------------------------------------
    def _claim(self, row: Sequence[Any]) -> Claim:
        """A claim from its :data:`CLAIM_COLUMNS`."""
        _, aid, _, spk, cue, st, content, other, sids, spans, negated, lemma, mention, role, key = row
        cue_span, speaker_span, content_span = (tuple(s) if s else None for s in self._from_json(spans))
        return Claim(
            article_id=aid, speaker=spk, cue=cue, stance=st, content=content, other_party=other,
            sentence_ids=list(self._from_json(sids)), cue_span=cue_span, speaker_span=speaker_span, content_span=content_span,
            negated=bool(negated), cue_lemma=lemma, speaker_mention=mention, speaker_role=role, speaker_key=key,
        )

    def _batches(self, values: list[Any]) -> Iterator[list[Any]]:
        step = self._ANY_BATCH or max(1, len(values))
        for b in range(0, len(values), step):
            yield values[b : b + step]

    # -- reads ----------------------------------------------------------------------------------
    def generation(self, space: str) -> int:
        """Changes whenever the space's content changes; keys derived caches such as BM25."""
        with self._reading() as run:
            rows = run("SELECT generation FROM spaces WHERE space=?", (space,))
        return int(rows[0][0]) if rows else 0

    def version(self, space: str, article_id: str) -> str | None:
        with self._reading() as run:
            rows = run("SELECT version FROM articles WHERE space=? AND id=?", (space, article_id))
        return rows[0][0] if rows else None

    def versions(self, space: str) -> dict[str, str]:
        with self._reading() as run:
            return dict(run(f"SELECT id, version FROM articles WHERE space=? ORDER BY id{self._BY_BYTES}", (space,)))

    def list_articles(self, space: str) -> list[ArticleRow]:
        with self._reading() as run:
            rows = run(
                "SELECT a.id, a.title, a.source, a.url, a.published, a.version, a.origin, "
                "(SELECT COUNT(*) FROM sentences s WHERE s.space=a.space AND s.article_id=a.id) "
                f"FROM articles a WHERE a.space=? ORDER BY a.id{self._BY_BYTES}",
                (space,),
            )
        return [ArticleRow(*r[:7], int(r[7])) for r in rows]

    def article(self, space: str, article_id: str) -> Article | None:
        with self._reading() as run:
            rows = run("SELECT id, title, source, url, published, text, pages FROM articles WHERE space=? AND id=?", (space, article_id))
        if not rows:
            return None
        row = rows[0]
        pages = [(int(a), int(b), int(p)) for a, b, p in self._from_json(row[6]) or []]
        return Article(id=row[0], title=row[1], source=row[2], url=row[3], published=row[4], text=row[5], pages=pages)

    def sentences(self, space: str, article_id: str) -> list[Sentence]:
        with self._reading() as run:
            rows = run('SELECT idx, start, "end", text, page FROM sentences WHERE space=? AND article_id=? ORDER BY idx', (space, article_id))
        return [Sentence(article_id=article_id, index=i, start=s, end=e, text=t, page=p) for i, s, e, t, p in rows]

    def chunk_ids(self, space: str, article_id: str | None = None) -> set[str]:
        with self._reading() as run:
            if article_id is None:
                return {r[0] for r in run("SELECT id FROM chunks WHERE space=?", (space,))}
            return {r[0] for r in run("SELECT id FROM chunks WHERE space=? AND article_id=?", (space, article_id))}

    def chunks(self, space: str, ids: Iterable[str] | None = None) -> list[Chunk]:
        """Chunks by id (in the order given, unknown ids skipped), or all chunks of the space."""
        with self._reading() as run:
            if ids is None:
                rows = run(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE space=? ORDER BY article_id{self._BY_BYTES}, first", (space,))
                return [_chunk(r) for r in rows]
            ids = list(ids)
            found: dict[str, Chunk] = {}
            for part in self._batches(list(dict.fromkeys(ids))):
                where, args = self._any("id", part)
                for r in run(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE space=? AND {where}", (space, *args)):
                    found[r[0]] = _chunk(r)
        return [found[i] for i in ids if i in found]

    #: Windows (:meth:`window_sentences`) or articles (:meth:`claims_at`) read per statement.
    WINDOWS_PER_READ: ClassVar[int] = 200

    def window_sentences(self, space: str, windows: Sequence[tuple[str, int, int]], dim: int) -> list[WindowRow]:
        """Sentences in ``(article_id, first, last)`` windows, each once, in window order, with title,
        url and vector. One statement per :data:`WINDOWS_PER_READ` windows, not one per window: an
        attribution answer asks for a window per claim, and each round trip to a server costs."""
        wanted = list(dict.fromkeys(windows))
        found: dict[tuple[str, int], tuple] = {}
        with self._reading() as run:
            for b in range(0, len(wanted), self.WINDOWS_PER_READ):
                part = wanted[b : b + self.WINDOWS_PER_READ]
                where = " OR ".join(["(s.space=? AND s.article_id=? AND s.idx BETWEEN ? AND ?)"] * len(part))
                rows = run(
                    'SELECT s.article_id, s.idx, s.start, s."end", s.text, s.vec, a.title, a.url, s.page FROM sentences s '
                    f"JOIN articles a ON a.space=s.space AND a.id=s.article_id WHERE {where}",
                    tuple(x for article_id, first, last in part for x in (space, article_id, first, last)),
                )
                for row in rows:
                    found[(row[0], row[1])] = row
        by_article: dict[str, list[int]] = {}
        for article_id, idx in sorted(found):
            by_article.setdefault(article_id, []).append(idx)
        out: list[WindowRow] = []
        for article_id, first, last in wanted:  # a window may reach past the article's end (0, 2**30)
            idxs = by_article.get(article_id, [])
            for idx in idxs[bisect_left(idxs, first) : bisect_right(idxs, last)]:
                row = found.pop((article_id, idx), None)  # popped: a sentence in two windows comes once
                if row is not None:
                    _, _, start, end, text, vec, title, url, page = row
                    sentence = Sentence(article_id=article_id, index=idx, start=start, end=end, text=text, page=page)
                    out.append((sentence, title, url, _blob_to_vec(vec, dim)))
        return out

    def sentence_vectors(self, space: str, keys: Sequence[tuple[str, int]], dim: int) -> dict[tuple[str, int], np.ndarray]:
        """Pooled vectors of ``(article_id, index)`` sentences, one query per article (missing ones are zero)."""
        out = {k: np.zeros(dim, dtype=np.float32) for k in keys}
        by_article: dict[str, list[int]] = {}
        for aid, idx in keys:
            by_article.setdefault(aid, []).append(idx)
        if not by_article:
            return out
        with self._reading() as run:
            for aid, idxs in by_article.items():
                where, args = self._any("idx", sorted(set(idxs)))
                for idx, vec in run(f"SELECT idx, vec FROM sentences WHERE space=? AND article_id=? AND {where}", (space, aid, *args)):
                    out[(aid, idx)] = _blob_to_vec(vec, dim)
        return out

    def titles(self, space: str) -> dict[str, str]:
        """Lower-cased title -> article id (the last id wins a shared title), cached until the space changes."""
        generation = self.generation(space)
        cached = self._titles.get(space)
        if cached and cached[0] == generation:
            return cached[1]
        with self._reading() as run:
            rows = run(f"SELECT id, title FROM articles WHERE space=? ORDER BY id{self._BY_BYTES}", (space,))
        titles = {t.lower(): i for i, t in rows}
        self._titles[space] = (generation, titles)
        return titles

    def article_names(self, space: str) -> list[tuple[str, str, str]]:
        with self._reading() as run:
            rows = run(f"SELECT id, title, source FROM articles WHERE space=? ORDER BY id{self._BY_BYTES}", (space,))
        return [tuple(r) for r in rows]

    def article_meta(self, space: str, ids: Sequence[str] | None = None) -> list[tuple[str, str, str, str, str]]:
        """``(id, title, source, url, published)`` of every article (or of those ``ids``), by id: what
        filters and exports read of an article, without its body or a count of its sentences."""
        q = "SELECT id, title, source, url, published FROM articles WHERE space=?"
        with self._reading() as run:
            if ids is None:
                rows = run(f"{q} ORDER BY id{self._BY_BYTES}", (space,))
            else:
                rows = []
                for part in self._batches(sorted(set(ids))):
                    where, args = self._any("id", part)
                    rows += run(f"{q} AND {where}", (space, *args))
                rows.sort(key=lambda r: r[0])  # str order is UTF-8 byte order
        return [tuple(r) for r in rows]

    def counts(self, space: str) -> dict[str, int]:
        with self._reading() as run:
            return {
                table: int(run(f"SELECT COUNT(*) FROM {table} WHERE space=?", (space,))[0][0])
                for table in ("articles", "sentences", "chunks", "claims")
            }

    def claims(
        self, space: str, *, stance: str | None = None, speaker: str | None = None, article_id: str | None = None,
        speaker_key: str | None = None, stances: Sequence[str] | None = None, article_ids: Sequence[str] | None = None,
        speaker_keys: Sequence[str] | None = None, limit: int | None = None, negated: bool | None = None,
    ) -> list[Claim]:
        """The claims ledger, in article and sentence order; ``speaker`` matches the name, the mention or
        the role case-insensitively as a substring, ``speaker_key`` the canonical key exactly; the plural
        filters match any of their values (an empty list matches nothing); ``negated`` keeps the negated
        claims or the others; ``limit`` keeps the first claims (a negative one, as in SQLite, keeps them all)."""
        q = f"SELECT {CLAIM_COLUMNS} FROM claims WHERE space=?"
        args: list[Any] = [space]
        for column, one, many in (("stance", stance, stances), ("article_id", article_id, article_ids),
                                  ("speaker_key", speaker_key, speaker_keys)):
            if one:
                q += f" AND {column}=?"
                args.append(one)
            if many is not None:
                values = sorted(set(many))
                if not values:
                    return []
                if len(values) == 1:  # an equality, so an index in the ledger's order serves the limit
                    q += f" AND {column}=?"
                    args.append(values[0])
                else:
                    where, more = self._any(column, values)
                    q += f" AND {where}"
                    args += more
        if negated is not None:
            q += " AND negated=?"
            args.append(bool(negated))
        if speaker:
            like = "%" + speaker.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q += " AND (" + " OR ".join(f"{c} {self._ILIKE} ? ESCAPE '\\'" for c in ("speaker", "speaker_mention", "speaker_role")) + ")"
            args += [like, like, like]
        q += f" ORDER BY article_id{self._BY_BYTES}, seq"
        if limit is not None and limit >= 0:
            q += " LIMIT ?"
            args.append(limit)
        with self._reading() as run:
            rows = run(q, args)
        return [self._claim(row) for row in rows]

    def claims_by_words(
        self, space: str, words: Sequence[str], *, stances: Sequence[str] | None = None, negated: bool | None = None,
        limit: int | None = None,
    ) -> list[Claim]:
        """Claims whose speaker is called (by name, role or mention) with every one of ``words``
        (:func:`rag.attribution.speakers.alias_words`), through the alias-word index, in ledger order;
        ``stances`` and ``negated`` filter them, ``limit`` keeps the first (read in order from the
        postings of the rarest word, so that a limit stops the read)."""
        wanted = self._rarest_first(space, words)
        if not wanted or (stances is not None and not stances):
            return []
        q, args = self._postings(space, wanted, None)
        q = f"SELECT {_CLAIM_COLUMNS_OF_C} FROM {q}"
        if stances is not None:
            where, more = self._any("c.stance", sorted(set(stances)))
            q += f" AND {where}"
            args += more
        if negated is not None:
            q += " AND c.negated=?"
            args.append(bool(negated))
        q += f" ORDER BY w.article_id{self._BY_BYTES}, w.seq"
        if limit is not None and limit >= 0:
            q += " LIMIT ?"
            args.append(limit)
        with self._reading() as run:
            return [self._claim(row) for row in run(q, args)]

    def speaker_postings(self, space: str, words: Sequence[str], scan: int) -> list[tuple[str, int, str, str, bool]]:
        """``(article_id, seq, speaker_key, stance, negated)`` of the claims called with every one of
        ``words`` among the first ``scan`` claims (ledger order) called with the rarest of them: a
        bounded look at who a role or mention ("the minister") names, without reading their claims."""
        wanted = self._rarest_first(space, words)
        if not wanted or scan <= 0:
            return []
        q, args = self._postings(space, wanted, scan)
        with self._reading() as run:
            rows = run(f"SELECT c.article_id, c.seq, c.speaker_key, c.stance, c.negated FROM {q} "
                       f"ORDER BY w.article_id{self._BY_BYTES}, w.seq", args)
        return [(a, int(n), k, st, bool(neg)) for a, n, k, st, neg in rows]

    def _rarest_first(self, space: str, words: Sequence[str]) -> list[str]:
        """The words, the one with fewest postings (counted up to a cap, from the index alone) first."""
        wanted = sorted(set(words))
        if len(wanted) > 1:
            with self._reading() as run:
                counts = {w: int(run("SELECT COUNT(*) FROM (SELECT 1 FROM claim_words WHERE space=? AND word=? LIMIT 10000) t",
                                     (space, w))[0][0]) for w in wanted}
            wanted.sort(key=lambda w: (counts[w], w))
        return wanted

    def _postings(self, space: str, wanted: Sequence[str], scan: int | None) -> tuple[str, list[Any]]:
        """``claim_words w JOIN claims c WHERE ...``: the claims called with all ``wanted`` words, walked
        along the postings of the first (optionally only its first ``scan``)."""
        first, others = wanted[0], list(wanted[1:])
        postings = "claim_words"
        args: list[Any] = []
        if scan is not None:
            postings = (f"(SELECT space, article_id, seq FROM claim_words WHERE space=? AND word=? "
                        f"ORDER BY article_id{self._BY_BYTES}, seq LIMIT ?)")
            args += [space, first, scan]
        q = (f"{postings} w JOIN claims c ON c.space=w.space AND c.article_id=w.article_id AND c.seq=w.seq WHERE w.space=?")
        args.append(space)
        if scan is None:
            q += " AND w.word=?"
            args.append(first)
        if others:
            where, more = self._any("x.word", others)
            q += (" AND (SELECT COUNT(*) FROM claim_words x WHERE x.space=w.space AND x.article_id=w.article_id "
                  f"AND x.seq=w.seq AND {where}) = ?")
            args += [*more, len(others)]
        return q, args

    def speaker_keys(self, space: str) -> list[str]:
        """Every named speaker's key (not the article-scoped 'ARTICLE#...' of a described one), read
        from the speaker index alone: what folding a surname into a full name looks through."""
        with self._reading() as run:
            rows = run("SELECT DISTINCT speaker_key FROM claims WHERE space=? AND speaker_key != '' AND speaker_key NOT LIKE '%#%'", (space,))
        return sorted(r[0] for r in rows)  # str order is UTF-8 byte order

    def speaker_names(self, space: str, keys: Sequence[str], sample: int) -> dict[str, list[tuple[str, int, str]]]:
        """Per key, ``(article_id, seq, speaker)`` of the first ``sample`` of its claims of each stance and
        negation (all of them when it has no more), in ledger order: how a name is written, read
        without reading every claim (the stances found by stepping through the speaker index)."""
        out: dict[str, list[tuple[str, int, str]]] = {}
        with self._reading() as run:
            for key in sorted(set(keys)):
                stances = run(
                    "WITH RECURSIVE s(st) AS (SELECT MIN(stance) FROM claims WHERE space=? AND speaker_key=? UNION ALL "
                    "SELECT (SELECT MIN(c.stance) FROM claims c WHERE c.space=? AND c.speaker_key=? AND c.stance > s.st) "
                    "FROM s WHERE s.st IS NOT NULL) SELECT st FROM s WHERE st IS NOT NULL", (space, key, space, key))
                rows = []
                for (stance,) in stances:
                    for neg in (False, True):
                        rows += run(f"SELECT article_id, seq, speaker FROM claims WHERE space=? AND speaker_key=? AND stance=? "
                                    f"AND negated=? ORDER BY article_id{self._BY_BYTES}, seq LIMIT ?", (space, key, stance, neg, sample))
                out[key] = sorted((a, int(n), spk) for a, n, spk in rows)  # str order is UTF-8 byte order
        return out

    def ledger_places(
        self, space: str, stances: Sequence[str], limit: int, *, keys: Sequence[str] | None = None, negated: bool | None = None,
    ) -> list[tuple[str, int]]:
        """``(article_id, seq)`` of the first ``limit`` claims (ledger order) of ``stances`` (and of the
        speaker ``keys``, and ``negated``, when given): one ordered read of an index in the ledger's
        order per stance (per key, stance and negation), each stopped at ``limit``, merged here. One
        statement over all stances would either sort every claim of a frequent stance or walk the
        whole ledger for a rare one."""
        found: set[tuple[str, int]] = set()
        negs: tuple[bool | None, ...] = (None,) if keys is None and negated is None else (
            (False, True) if negated is None else (bool(negated),))
        with self._reading() as run:
            for key in (None,) if keys is None else sorted(set(keys)):
                for stance in sorted(set(stances)):
                    for neg in negs:
                        q, args = "SELECT article_id, seq FROM claims WHERE space=?", [space]
                        if key is not None:
                            q += " AND speaker_key=?"
                            args.append(key)
                        q += " AND stance=?"
                        args.append(stance)
                        if neg is not None:
                            q += " AND negated=?"
                            args.append(neg)
                        rows = run(f"{q} ORDER BY article_id{self._BY_BYTES}, seq LIMIT ?", (*args, limit))
                        found.update((a, int(n)) for a, n in rows)
        return sorted(found)[:limit]  # str order is code point order, which is UTF-8 byte order

    def claim_places(self, space: str, stances: Sequence[str], article_ids: Sequence[str]) -> list[tuple[str, int, list[str]]]:
        """``(article_id, seq, sentence_ids)`` of the claims of ``stances`` in ``article_ids``, in ledger
        order: where claims are, to pick some before reading them whole (:meth:`claims_at`)."""
        stances, article_ids = sorted(set(stances)), sorted(set(article_ids))
        if not stances or not article_ids:
            return []
        wanted = set(stances)
        out: list[tuple[str, int, list[str]]] = []
        with self._reading() as run:
            for part in self._batches(article_ids):
                # the stance is filtered here: in SQL it could lead the planner to the stance index,
                # which reads every claim of a frequent stance to find a few articles'
                aw, aargs = self._any("article_id", part)
                rows = run(f"SELECT article_id, seq, stance, sentence_ids FROM claims WHERE space=? AND {aw}", (space, *aargs))
                out += [(a, int(n), list(self._from_json(ids))) for a, n, st, ids in rows if st in wanted]
        return sorted(out, key=lambda r: (r[0], r[1]))  # str order is UTF-8 byte order

    def claims_at(self, space: str, places: Sequence[tuple[str, int]]) -> list[Claim]:
        """Claims by their ``(article_id, seq)``, in the order given (unknown places skipped)."""
        found = dict(self._placed_claims(space, places))
        return [found[p] for p in places if p in found]

    def links(
        self, space: str, *, article_ids: Sequence[str] | None = None, to_articles: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None, limit: int | None = None, offset: int = 0,
    ) -> list[Link]:
        """Stored links with both sentences, their articles' title, source, date and url, and the claims
        at each end, ordered by answering claim then answered sentence. ``article_ids``: links with either
        end in these articles; ``to_articles``: answering these articles; ``kinds``: of these kinds."""
        q = ("SELECT l.from_article, l.from_seq, l.from_sentence, l.to_article, l.to_sentence, l.to_seq, l.kind, l.score, "
             "s1.text, s2.text, a1.title, a2.title, a1.source, a2.source, a1.published, a2.published, a1.url, a2.url "
             "FROM links l JOIN sentences s1 ON s1.space=l.space AND s1.article_id=l.from_article AND s1.idx=l.from_sentence "
             "JOIN sentences s2 ON s2.space=l.space AND s2.article_id=l.to_article AND s2.idx=l.to_sentence "
             "JOIN articles a1 ON a1.space=l.space AND a1.id=l.from_article JOIN articles a2 ON a2.space=l.space AND a2.id=l.to_article "
             "WHERE l.space=?")
        args: list[Any] = [space]
        for values, columns in ((article_ids, ("l.from_article", "l.to_article")), (to_articles, ("l.to_article",)), (kinds, ("l.kind",))):
            if values is None:
                continue
            values = sorted(set(values))
            if not values:
                return []
            parts = []
            for column in columns:
                where, more = self._any(column, values)
                parts.append(where)
                args += more
            q += " AND (" + " OR ".join(parts) + ")"
        q += f" ORDER BY l.from_article{self._BY_BYTES}, l.from_seq, l.to_article{self._BY_BYTES}, l.to_sentence"
        if limit is not None and limit >= 0:
            q += " LIMIT ? OFFSET ?"
            args += [limit, max(0, offset)]
        with self._reading() as run:
            rows = run(q, args)
        links = [Link(from_article=r[0], from_seq=int(r[1]), from_sentence=int(r[2]), to_article=r[3], to_sentence=int(r[4]),
                      to_seq=None if int(r[5]) < 0 else int(r[5]), kind=r[6], score=float(r[7]), from_text=r[8], to_text=r[9],
                      from_title=r[10], to_title=r[11], from_source=r[12], to_source=r[13], from_published=r[14],
                      to_published=r[15], from_url=r[16], to_url=r[17]) for r in rows]
        places = list(dict.fromkeys([(x.from_article, x.from_seq) for x in links] +
                                    [(x.to_article, x.to_seq) for x in links if x.to_seq is not None]))
        claims = dict(zip(places, self._claims_by_place(space, places)))
        for x in links:
            x.from_claim = claims.get((x.from_article, x.from_seq))
            x.to_claim = None if x.to_seq is None else claims.get((x.to_article, x.to_seq))
        return links

    def _claims_by_place(self, space: str, places: Sequence[tuple[str, int]]) -> list[Claim | None]:
        found = {(c_place[0], c_place[1]): c for c_place, c in self._placed_claims(space, places)}
        return [found.get(p) for p in places]

    def _placed_claims(self, space: str, places: Sequence[tuple[str, int]]) -> list[tuple[tuple[str, int], Claim]]:
        """``((article_id, seq), claim)`` for these places (as :meth:`claims_at`, keeping the place)."""
        by_article: dict[str, list[int]] = {}
        for a, n in places:
            by_article.setdefault(a, []).append(n)
        out: list[tuple[tuple[str, int], Claim]] = []
        articles = list(by_article.items())
        with self._reading() as run:
            # up to WINDOWS_PER_READ articles per statement, as window_sentences: a topic question
            # picks claims in many articles, and on a server each statement is a round trip
            for b in range(0, len(articles), self.WINDOWS_PER_READ):
                clauses, args = [], []
                for a, seqs in articles[b : b + self.WINDOWS_PER_READ]:
                    where, more = self._any("seq", sorted(set(seqs)))
                    clauses.append(f"(space=? AND article_id=? AND {where})")
                    args += [space, a, *more]
                out += [((row[1], int(row[2])), self._claim(row)) for row in
                        run(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE {' OR '.join(clauses)}", args)]
        return out

    def placed_claims(self, space: str, article_ids: Sequence[str], stances: Sequence[str] | None = None) -> list[tuple[int, Claim]]:
        """``(seq, claim)`` of the claims (of ``stances``, default all) in these articles, in ledger order."""
        ids = sorted(set(article_ids))
        if not ids or (stances is not None and not stances):
            return []
        out: list[tuple[str, int, Claim]] = []
        wanted = None if stances is None else set(stances)
        with self._reading() as run:
            for part in self._batches(ids):
                where, args = self._any("article_id", part)
                for row in run(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE space=? AND {where}", (space, *args)):
                    if wanted is None or row[5] in wanted:
                        out.append((row[1], int(row[2]), self._claim(row)))
        out.sort(key=lambda r: (r[0], r[1]))  # str order is UTF-8 byte order
        return [(n, c) for _, n, c in out]

    def speaker_counts(
        self, space: str, fold: dict[str, str], limit: int, offset: int = 0,
    ) -> list[tuple[str, int, int, str, str]]:
        """``(key, claims, articles, first, last)`` per named speaker, most claims first (then by key),
        counted by the engine (GROUP BY over the speaker index, no claim read here), with the keys of
        ``fold`` counted under the key each maps to (a surname under the one full name ending with
        it); ``first`` and ``last`` are the earliest and latest ISO publication days ('' if none)."""
        key = "c.speaker_key"
        args: list[Any] = []
        if fold:
            key = "CASE c.speaker_key " + " ".join("WHEN ? THEN ?" for _ in fold) + " ELSE c.speaker_key END"
            args += [x for k, v in sorted(fold.items()) for x in (k, v)]
        q = (f"SELECT k, COUNT(*), COUNT(DISTINCT article_id), MIN(pub), MAX(pub) FROM (SELECT {key} AS k, c.article_id, "
             f"{ISO_DAY.format('a.published')} AS pub FROM claims c JOIN articles a ON a.space=c.space AND a.id=c.article_id "
             "WHERE c.space=? AND c.speaker_key != '' AND c.speaker_key NOT LIKE '%#%') t "
             f"GROUP BY k ORDER BY COUNT(*) DESC, k{self._BY_BYTES} LIMIT ? OFFSET ?")
        with self._reading() as run:
            rows = run(q, (*args, space, max(0, limit), max(0, offset)))
        return [(k, int(n), int(a), first or "", last or "") for k, n, a, first, last in rows]

    def speaker_timeline(self, space: str, keys: Sequence[str], limit: int | None = None) -> list[tuple[int, Claim, str, str, str, str]]:
        """``(seq, claim, title, source, published, url)`` of every claim by these speaker keys, in date
        order: by the article's publication date (unknown dates, and dates that are no ISO day, last),
        then in ledger order."""
        keys = sorted(set(keys))
        if not keys:
            return []
        where, args = self._any("c.speaker_key", keys)
        q = (f"SELECT {_CLAIM_COLUMNS_OF_C}, a.title, a.source, a.published, a.url FROM claims c JOIN articles a "
             f"ON a.space=c.space AND a.id=c.article_id WHERE c.space=? AND {where} "
             f"ORDER BY {ISO_DAY.format('a.published')}{self._BY_BYTES} NULLS LAST, c.article_id{self._BY_BYTES}, c.seq")
        qargs: list[Any] = [space, *args]
        if limit is not None and limit >= 0:
            q += " LIMIT ?"
            qargs.append(limit)
        with self._reading() as run:
            rows = run(q, qargs)
        n = len(CLAIM_COLUMNS.split(","))
        return [(int(r[2]), self._claim(r[:n]), r[n], r[n + 1], r[n + 2], r[n + 3]) for r in rows]

    def term_stats(self, space: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks in the space and, per term, how many of them contain it."""
        df: dict[str, int] = {}
        with self._reading() as run:
            rows = run("SELECT chunks FROM spaces WHERE space=?", (space,))
            for part in self._batches(list(dict.fromkeys(terms))):
                where, args = self._any("term", part)
                df.update((t, int(d)) for t, d in run(f"SELECT term, df FROM terms WHERE space=? AND {where}", (space, *args)))
        return (int(rows[0][0]) if rows else 0), df

    # -- the "vectors may disagree" mark ----------------------------------------------------------
    def vectors_dirty(self, space: str) -> bool:
        """Whether the space's vectors may disagree with its chunks; a space without a row counts as
        marked (fail safe: its vector collection may hold what a run killed before any commit left)."""
        with self._reading() as run:
            rows = run("SELECT vectors_dirty FROM spaces WHERE space=?", (space,))
        return not rows or bool(rows[0][0])

    def links_dirty(self, space: str) -> bool:
        """Whether links may be missing (an ingest stored articles and did not get to link them)."""
        with self._reading() as run:
            rows = run("SELECT links_dirty FROM spaces WHERE space=?", (space,))
        return bool(rows and rows[0][0])

    def mark_links_dirty(self, space: str) -> None:
        self._commit_one(SET_LINKS_DIRTY, (space, 1))

    def clear_links_dirty(self, space: str) -> None:
        self._commit_one(SET_LINKS_DIRTY, (space, 0))

    def mark_vectors_dirty(self, space: str) -> None:
        self._commit_one(SET_VECTORS_DIRTY, (space, 1))

    def clear_vectors_dirty(self, space: str) -> None:
        self._commit_one(SET_VECTORS_DIRTY, (space, 0))

    # -- health (whosaid doctor) ----------------------------------------------------------------
    def _lexical_verdict(self, space: str, chunks: int, indexed: int, stray: int = 0) -> str | None:
        """:meth:`lexical_health`'s answer from the counts an engine takes of its index: the space's
        chunks, those indexed, and index rows beyond those (an index kept apart from the chunks'
        rows may have them); the count of chunks the document frequencies were taken over is read here."""
        recorded = self.term_stats(space, [])[0]
        if indexed != chunks:
            return f"{chunks - indexed} of {chunks} chunks missing from the lexical index"
        if stray:
            return f"{stray} lexical index rows belong to no chunk"
        if recorded != chunks:
            return f"the lexical index counts {recorded} chunks, the catalogue holds {chunks}"
        return None

    def orphan_rows(self, space: str) -> dict[str, int]:
        """Rows whose article is gone, per table (one transaction writes an article, so only damage
        from outside whosaid leaves these)."""
        with self._reading() as run:
            found = {t: int(run(f"SELECT COUNT(*) {orphans(t)}", (space,))[0][0]) for t in _ORPHAN_TABLES}
            found["links"] = int(run(f"SELECT COUNT(*) {ORPHAN_LINKS}", (space,))[0][0])
        return found

    def broken_articles(self, space: str) -> dict[str, str]:
        """Articles whose stored rows do not fit together, with the first reason found: no sentences,
        sentence numbers with gaps, offsets that do not reproduce the sentence, chunks or claims that
        point outside the article's sentences."""
        found: dict[str, str] = {}
        with self._reading() as run:
            for reason, q in self._BROKEN_CHECKS:
                for (article_id,) in run(q, (space,)):
                    found.setdefault(article_id, reason)
        return found


__all__ = ["CLAIM_COLUMNS", "DELETE_LINKS", "ORPHAN_LINKS", "SET_LINKS_DIRTY", "SET_VECTORS_DIRTY", "UPSERT_LINK", "Run", "SqlCatalogue", "link_row", "orphans"]

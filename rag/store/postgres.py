"""The PostgreSQL catalogue, for several app servers (or machines) sharing one archive: the same
tables as the SQLite catalogue (:mod:`rag.store.sqlite`), and the lexical index as a ``tsvector``
column over each chunk's stemmed terms with a GIN index, plus the table of document frequencies.

Every call borrows a connection from a pool (autocommit), so any number of threads read at once;
a write is one transaction, so readers (PostgreSQL's READ COMMITTED: each statement sees what was
committed when it began) see an article's old version or its new one, never a mixture. The one
writer per space is a session-level advisory lock, which PostgreSQL drops when its holder's
connection ends, even if the process is killed.

The reads are :class:`rag.store.sql.SqlCatalogue`'s, shared with the SQLite catalogue (their ``?``
placeholders translated here); this module holds what is PostgreSQL's own: the schema, the writes,
the ``tsvector`` index and the advisory locks.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Collection, Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from rag.attribution.speakers import alias_words
from rag.lexical import terms as lexical_terms
from rag.store.protocols import CatalogueError, StoreBusy
from rag.store.sql import (
    CHUNK_OUTSIDE, CLAIM_COLUMNS, CLAIM_OUTSIDE, DELETE_LINKS, NO_SENTENCES, ORPHAN_LINKS, SENTENCE_GAPS, UPSERT_LINK, Run, SqlCatalogue,
    _vec_to_blob, link_row, orphans,
)
from rag.types import Article, Chunk, Claim, Link, Sentence

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS whosaid_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS articles (
        space TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
        version TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '', ingested_at DOUBLE PRECISION NOT NULL,
        pages JSONB NOT NULL DEFAULT '[]',
        PRIMARY KEY (space, id))""",
    """CREATE TABLE IF NOT EXISTS sentences (
        space TEXT NOT NULL, article_id TEXT NOT NULL, idx INTEGER NOT NULL,
        start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL, vec BYTEA, page INTEGER,
        PRIMARY KEY (space, article_id, idx))""",
    # the lexical index: each chunk's stemmed terms as written (so taking a chunk out subtracts exactly
    # what adding it counted) and their tsvector
    """CREATE TABLE IF NOT EXISTS chunks (
        space TEXT NOT NULL, id TEXT NOT NULL, article_id TEXT NOT NULL,
        first INTEGER NOT NULL, last INTEGER NOT NULL, text TEXT NOT NULL, terms TEXT, tsv TSVECTOR,
        PRIMARY KEY (space, id))""",
    "CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (space, article_id)",
    "CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING GIN (tsv)",
    """CREATE TABLE IF NOT EXISTS claims (
        space TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
        speaker TEXT NOT NULL, cue TEXT NOT NULL, stance TEXT NOT NULL, content TEXT NOT NULL,
        other_party TEXT NOT NULL DEFAULT '', sentence_ids JSONB NOT NULL, spans JSONB NOT NULL,
        negated BOOLEAN NOT NULL DEFAULT FALSE, cue_lemma TEXT NOT NULL DEFAULT '', speaker_mention TEXT NOT NULL DEFAULT '',
        speaker_role TEXT NOT NULL DEFAULT '', speaker_key TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (space, article_id, seq))""",
    # in the ledger's order, so a stance filter with a limit reads only the first matching entries
    'CREATE INDEX IF NOT EXISTS claims_by_stance ON claims (space, stance, article_id COLLATE "C", seq)',
    "CREATE INDEX IF NOT EXISTS claims_by_speaker ON claims (space, speaker_key)",
    # a speaker's claims of one stance in the ledger's order: "what did X deny?" reads the first few, never all of X's
    'CREATE INDEX IF NOT EXISTS claims_by_speaker_stance ON claims (space, speaker_key, stance, negated, article_id COLLATE "C", seq)',
    # every word a claim's speaker is called by (name, role, mention): speaker questions read only their claims
    """CREATE TABLE IF NOT EXISTS claim_words (
        space TEXT NOT NULL, word TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (space, word, article_id, seq))""",
    "CREATE INDEX IF NOT EXISTS claim_words_by_article ON claim_words (space, article_id)",
    """CREATE TABLE IF NOT EXISTS spaces (
        space TEXT PRIMARY KEY, generation BIGINT NOT NULL DEFAULT 0, chunks BIGINT NOT NULL DEFAULT 0,
        vectors_dirty INTEGER NOT NULL DEFAULT 1, links_dirty INTEGER NOT NULL DEFAULT 0)""",
    "CREATE TABLE IF NOT EXISTS terms (space TEXT NOT NULL, term TEXT NOT NULL, df BIGINT NOT NULL, PRIMARY KEY (space, term))",
    # a claim in one article answering a sentence of another (rag/attribution/links.py); to_seq -1: no claim there
    """CREATE TABLE IF NOT EXISTS links (
        space TEXT NOT NULL, from_article TEXT NOT NULL, from_seq INTEGER NOT NULL, from_sentence INTEGER NOT NULL,
        to_article TEXT NOT NULL, to_sentence INTEGER NOT NULL, to_seq INTEGER NOT NULL DEFAULT -1,
        kind TEXT NOT NULL, score DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (space, from_article, from_seq, to_article, to_sentence))""",
    "CREATE INDEX IF NOT EXISTS links_by_target ON links (space, to_article, to_sentence)",
]

#: The catalogue's schema version (``whosaid_meta.schema_version``), numbered like SQLite's: the first
#: PostgreSQL schema is version 3. Each step of :data:`MIGRATIONS` brings a catalogue written by an
#: older whosaid up to the next version, in the transaction that holds the schema lock.
SCHEMA_VERSION = 8
MIGRATIONS: dict[int, list[str]] = {
    # 3 -> 4: the alias-word index of claims (filled from the stored claims by ``_migrate``), and the
    # stance index in the ledger's order
    4: [
        "DROP INDEX IF EXISTS claims_by_stance",
        'CREATE INDEX claims_by_stance ON claims (space, stance, article_id COLLATE "C", seq)',
        """CREATE TABLE IF NOT EXISTS claim_words (
            space TEXT NOT NULL, word TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (space, word, article_id, seq))""",
        "CREATE INDEX IF NOT EXISTS claim_words_by_article ON claim_words (space, article_id)",
    ],
    # 4 -> 5: the "vectors may disagree" mark; every existing space comes out marked, so its first
    # ingest reconciles once (an older whosaid reconciled at every start and kept no mark)
    5: ["ALTER TABLE spaces ADD COLUMN IF NOT EXISTS vectors_dirty INTEGER NOT NULL DEFAULT 1"],
    # 5 -> 6: claims by speaker, stance and negation in the ledger's order
    6: ['CREATE INDEX IF NOT EXISTS claims_by_speaker_stance ON claims (space, speaker_key, stance, negated, article_id COLLATE "C", seq)'],
    # 6 -> 7 (issue 13): a PDF's page map per article and the page of each sentence (as SQLite's)
    7: [
        "ALTER TABLE articles ADD COLUMN IF NOT EXISTS pages JSONB NOT NULL DEFAULT '[]'",
        "ALTER TABLE sentences ADD COLUMN IF NOT EXISTS page INTEGER",
    ],
    # 7 -> 8 (issue 13): cross-article links, empty until `whosaid links --rebuild` or the next ingest fills them
    8: [*(s for s in SCHEMA if "links" in s and "spaces" not in s),
        "ALTER TABLE spaces ADD COLUMN IF NOT EXISTS links_dirty INTEGER NOT NULL DEFAULT 0"],
}

def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (the first 8 bytes of its BLAKE2b)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


_SCHEMA_LOCK = _lock_key("whosaid:schema")


def _without_password(url: str) -> str:
    """The URL for messages: its password (in the authority or as a parameter) left out."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            netloc = userinfo.split(":", 1)[0] + "@" + hostport
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url.split("://", 1)[0] + "://..."


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@lru_cache(maxsize=1024)
def _pyformat(sql: str) -> str:
    """A statement written with ``?`` placeholders (:mod:`rag.store.sql`) in psycopg's ``%s`` style:
    ``?`` outside string literals becomes ``%s``, and every ``%`` (in literals too) ``%%``."""
    parts = sql.split("'")  # even parts are outside literals ('' inside one splits it into two odd parts)
    return "'".join(p.replace("%", "%%").replace("?", "%s") if i % 2 == 0 else p.replace("%", "%%") for i, p in enumerate(parts))


class PostgresCatalogue(SqlCatalogue):
    """PostgreSQL storage shared by any number of processes; every call names the index ``space``."""

    _BY_BYTES = ' COLLATE "C"'
    _ILIKE = "ILIKE"
    # written so that damaged values (an end before its start, a sentence id that is not a number)
    # are reported, never raise
    _BROKEN_CHECKS = (
        NO_SENTENCES,
        SENTENCE_GAPS,
        ("a sentence's offsets do not reproduce its text", ('SELECT s.article_id FROM sentences s JOIN articles a '
         'ON a.space=s.space AND a.id=s.article_id WHERE s.space=? AND CASE WHEN s."end" < s.start THEN TRUE '
         'ELSE substr(a.text, s.start + 1, s."end" - s.start) != s.text END')),
        CHUNK_OUTSIDE,
        (CLAIM_OUTSIDE, "SELECT c.article_id FROM claims c WHERE c.space=? AND jsonb_typeof(c.sentence_ids) != 'array'"),
        (CLAIM_OUTSIDE, ("SELECT c.article_id FROM claims c CROSS JOIN LATERAL jsonb_array_elements_text("
         "CASE WHEN jsonb_typeof(c.sentence_ids) = 'array' THEN c.sentence_ids ELSE '[]'::jsonb END) AS j(value) WHERE c.space=? AND "
         "CASE WHEN j.value IS NULL OR substr(j.value, 1, length(c.article_id) + 1) != (c.article_id || ':') "
         "OR substr(j.value, length(c.article_id) + 2) !~ '^[0-9]{1,9}$' THEN TRUE "
         "ELSE NOT EXISTS (SELECT 1 FROM sentences s WHERE s.space=c.space AND s.article_id=c.article_id "
         "AND s.idx = CAST(substr(j.value, length(c.article_id) + 2) AS INTEGER)) END")),
    )

    def __init__(self, url: str, pool_size: int = 16) -> None:
        super().__init__(_without_password(url))
        self._url = url
        self._connect_kwargs: dict[str, Any] = {"autocommit": True}
        try:
            if "connect_timeout" not in conninfo_to_dict(url):
                self._connect_kwargs["connect_timeout"] = 30
            with psycopg.connect(url, **self._connect_kwargs) as conn:
                self._migrate(conn)
        except CatalogueError:
            raise
        except psycopg.Error as e:
            raise CatalogueError(f"{self.location}: cannot use the PostgreSQL catalogue: {_one_line(e).replace(url, self.location)}") from None
        self._pool: ConnectionPool = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), open=True, kwargs=self._connect_kwargs,
            check=ConnectionPool.check_connection, name="whosaid-catalogue",
        )

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in autocommit mode: each statement sees what was committed when it began."""
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[Run]:
        with self._conn() as conn:
            yield lambda sql, args: conn.execute(_pyformat(sql), args).fetchall()

    @staticmethod
    def _any(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """One array parameter, whatever the number of values."""
        return f"{column} = ANY(?)", [list(values)]

    @staticmethod
    def _from_json(value: Any) -> Any:
        """JSONB comes back decoded."""
        return value

    def _commit_one(self, sql: str, args: Sequence[Any]) -> None:
        with self._transaction() as conn:
            conn.execute(_pyformat(sql), tuple(args))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One write transaction: committed whole, or rolled back on any error (and PostgreSQL rolls back
        the transaction of a connection that dies), so readers see the old state or the new."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    # -- schema -------------------------------------------------------------------------------
    @staticmethod
    def _schema_version(conn: psycopg.Connection) -> int:
        if conn.execute("SELECT to_regclass('whosaid_meta')").fetchone()[0] is None:
            return 0
        row = conn.execute("SELECT value FROM whosaid_meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise CatalogueError(
                f"{self.location}: catalogue schema version {version} is newer than this whosaid's ({SCHEMA_VERSION}); upgrade whosaid"
            )

    def _migrate(self, conn: psycopg.Connection) -> None:
        """Create the schema, or bring an older catalogue up to :data:`SCHEMA_VERSION`. A current schema
        is only read (DDL, even ``IF NOT EXISTS``, would lock tables against running readers and
        writers); otherwise the work runs under a transaction-level advisory lock, so processes
        starting at once create it once."""
        version = self._schema_version(conn)
        self._check_version(version)
        if version == SCHEMA_VERSION:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            version = self._schema_version(conn)  # another process may have done it meanwhile
            self._check_version(version)
            if version == SCHEMA_VERSION:
                return
            if version == 0:
                for statement in SCHEMA:
                    conn.execute(statement)
            else:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS.get(step, []):
                        conn.execute(statement)
                if version < 4:
                    self._backfill_claim_words(conn)
            conn.execute(
                "INSERT INTO whosaid_meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    # -- one writer per space -----------------------------------------------------------------
    @contextmanager
    def writer(self, space: str, wait: float = 0.0) -> Iterator[None]:
        """The space's write lock: a session-level advisory lock on a connection of its own (not the
        pool's, so the writes made under it never wait for it), dropped by PostgreSQL when that
        connection ends, even if this process is killed."""
        key = _lock_key(f"whosaid:writer:{space}")
        try:
            conn = psycopg.connect(self._url, **self._connect_kwargs)
        except psycopg.Error as e:
            raise CatalogueError(f"{self.location}: cannot use the PostgreSQL catalogue: {_one_line(e).replace(self._url, self.location)}") from None
        try:
            deadline = time.monotonic() + max(0.0, wait)
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreBusy(
                        f"{self.location} ({space}): another whosaid ingest, delete or doctor is writing to this collection; "
                        "try again when it ends"
                    )
                time.sleep(min(0.2, left))
            try:
                yield
            finally:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except psycopg.Error:
                    pass  # the connection is gone, and the lock with it
        finally:
            conn.close()

    # -- writes -------------------------------------------------------------------------------
    def write_article(
        self,
        space: str,
        article: Article,
        version: str,
        origin: str,
        sentences: Sequence[Sentence],
        chunks: Sequence[Chunk],
        sentence_vecs: np.ndarray | None,
        claims: Sequence[Claim] = (),
    ) -> None:
        """Replace the article, its sentences, chunks and claims in one transaction."""
        with self._transaction() as conn:
            self._delete_rows(conn, space, article.id)
            conn.execute(
                "INSERT INTO articles (space, id, title, source, url, published, text, version, origin, ingested_at, pages) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (space, article.id, article.title, article.source, article.url, article.published,
                 article.text, version, origin, time.time(), Jsonb([list(p) for p in article.pages])),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    'INSERT INTO sentences (space, article_id, idx, start, "end", text, vec, page) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)',
                    [
                        (space, s.article_id, s.index, s.start, s.end, s.text,
                         None if sentence_vecs is None else _vec_to_blob(sentence_vecs[i]), s.page)
                        for i, s in enumerate(sentences)
                    ],
                )
                self._add_chunks(conn, space, chunks)
                cur.executemany(
                    f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({','.join(['%s'] * 15)})",
                    [
                        (space, article.id, n, c.speaker, c.cue, c.stance, c.content, c.other_party, Jsonb(c.sentence_ids),
                         Jsonb([c.cue_span, c.speaker_span, c.content_span]), bool(c.negated), c.cue_lemma, c.speaker_mention,
                         c.speaker_role, c.speaker_key)
                        for n, c in enumerate(claims)
                    ],
                )
            self._add_claim_words(conn, [(space, n, c) for n, c in enumerate(claims)])
            self._bump(conn, space)

    def delete_article(self, space: str, article_id: str) -> list[str]:
        """Remove an article; returns the ids of the chunks it had (for the vector store)."""
        with self._transaction() as conn:
            ids = sorted(r[0] for r in conn.execute("SELECT id FROM chunks WHERE space=%s AND article_id=%s", (space, article_id)))
            found = conn.execute("SELECT 1 FROM articles WHERE space=%s AND id=%s", (space, article_id)).fetchone()
            self._delete_rows(conn, space, article_id)
            if found:
                self._bump(conn, space)
        return ids if found else []

    def _delete_rows(self, conn: psycopg.Connection, space: str, article_id: str) -> None:
        self._unindex(conn, space, "c.article_id=%s", (article_id,))
        for table, col in (("articles", "id"), ("sentences", "article_id"), ("chunks", "article_id"), ("claims", "article_id"),
                           ("claim_words", "article_id")):
            conn.execute(f"DELETE FROM {table} WHERE space=%s AND {col}=%s", (space, article_id))
        for statement in DELETE_LINKS:
            conn.execute(_pyformat(statement), (space, article_id))

    def add_links(self, space: str, links: Sequence[Link]) -> None:
        """Store links (replacing those with the same ends) in one transaction. The caller holds the
        write lock, so the articles it read them from are still there."""
        with self._transaction() as conn:
            with conn.cursor() as cur:
                # in key order, so that two transactions upserting the same links lock them in the same order
                cur.executemany(_pyformat(UPSERT_LINK), sorted(link_row(space, x) for x in links))

    def delete_links(self, space: str, article_ids: Sequence[str] | None = None) -> int:
        """Drop the links with either end in these articles (all the space's links without ids)."""
        with self._transaction() as conn:
            if article_ids is None:
                return conn.execute("DELETE FROM links WHERE space=%s", (space,)).rowcount
            gone = 0
            for article_id in sorted(set(article_ids)):
                for statement in DELETE_LINKS:
                    gone += conn.execute(_pyformat(statement), (space, article_id)).rowcount
            return gone

    @staticmethod
    def _add_claim_words(conn: psycopg.Connection, claims: Sequence[tuple[str, int, Claim]]) -> None:
        """Index each ``(space, seq, claim)`` under every word its speaker is called by."""
        rows = [(space, w, c.article_id, seq) for space, seq, c in claims for w in sorted(alias_words(c))]
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO claim_words (space, word, article_id, seq) VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING", rows
                )

    def _backfill_claim_words(self, conn: psycopg.Connection, batch: int = 5000) -> None:
        """Index the claims an older whosaid stored (the migration to version 4), a batch at a time
        through a server-side cursor, inside the migration's transaction."""
        with conn.cursor(name="whosaid_claim_words_backfill") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {CLAIM_COLUMNS} FROM claims")
            while rows := cur.fetchmany(batch):
                self._add_claim_words(conn, [(r[0], r[2], self._claim(r)) for r in rows])

    # -- the lexical index, kept in step with the chunks inside the same transaction ---------------
    def _add_chunks(self, conn: psycopg.Connection, space: str, chunks: Sequence[Chunk]) -> None:
        df: Counter[str] = Counter()
        rows = []
        for c in chunks:
            words = " ".join(lexical_terms(c.text))
            df.update(set(words.split()))
            rows.append((space, c.id, c.article_id, c.first, c.last, c.text, words, words))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO chunks (space, id, article_id, first, last, text, terms, tsv) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,to_tsvector('simple', %s))",
                rows,
            )
        self._count(conn, space, df, len(chunks))

    def _unindex(self, conn: psycopg.Connection, space: str, where: str, args: tuple) -> None:
        """Take the chunks matching ``where`` (over ``chunks c``) out of the document frequencies (their
        tsvectors go with their rows)."""
        rows = conn.execute(
            f"SELECT c.terms FROM chunks c WHERE c.space=%s AND c.terms IS NOT NULL AND c.tsv IS NOT NULL AND {where}", (space, *args)
        ).fetchall()
        if not rows:
            return
        df = Counter(t for (words,) in rows for t in set(words.split()))
        self._count(conn, space, Counter({t: -n for t, n in df.items()}), -len(rows))
        conn.execute("DELETE FROM terms WHERE space=%s AND term = ANY(%s) AND df <= 0", (space, sorted(df)))

    def _count(self, conn: psycopg.Connection, space: str, df: Counter[str], chunks: int) -> None:
        with conn.cursor() as cur:
            # in sorted order, so that two transactions touching the same terms lock them in the same order
            cur.executemany(
                "INSERT INTO terms (space, term, df) VALUES (%s,%s,%s) "
                "ON CONFLICT (space, term) DO UPDATE SET df = terms.df + excluded.df",
                [(space, t, n) for t, n in sorted(df.items())],
            )
        conn.execute(
            "INSERT INTO spaces (space, chunks) VALUES (%s, %s) "
            "ON CONFLICT (space) DO UPDATE SET chunks = spaces.chunks + excluded.chunks",
            (space, chunks),
        )

    def _reindex(self, conn: psycopg.Connection, space: str) -> int:
        """Index every chunk of the space afresh from its text (doctor's repair)."""
        conn.execute("DELETE FROM terms WHERE space=%s", (space,))
        conn.execute("UPDATE spaces SET chunks = 0 WHERE space=%s", (space,))
        df: Counter[str] = Counter()
        rows = []
        for cid, text in conn.execute("SELECT id, text FROM chunks WHERE space=%s", (space,)).fetchall():
            words = " ".join(lexical_terms(text))
            df.update(set(words.split()))
            rows.append((words, words, space, cid))
        with conn.cursor() as cur:
            cur.executemany("UPDATE chunks SET terms=%s, tsv=to_tsvector('simple', %s) WHERE space=%s AND id=%s", rows)
        self._count(conn, space, df, len(rows))
        return len(rows)

    def search_chunks(
        self, space: str, terms: Sequence[str], n: int, alone: int | None = None, articles: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """``ts_rank`` over the terms, any of which may match. Each term is a bound parameter turned into
        lexemes by ``plainto_tsquery`` (which reads no operators), so a term is data, never query syntax.
        With ``alone``, the GIN index finds the chunks holding one of the first ``alone`` terms or two
        of the others, and only those are ranked (over all the terms). With ``articles``, only those
        articles' chunks are matched and ranked (one array parameter)."""
        terms = list(dict.fromkeys(terms))
        if not terms or n <= 0 or (articles is not None and not articles):
            return []
        within, within_args = ("", []) if articles is None else (" AND article_id = ANY(%s)", [sorted(articles)])
        one = "plainto_tsquery('simple', %s)"
        q = "(" + " || ".join([one] * len(terms)) + ")"
        match, match_args = q, list(terms)
        if alone is not None and alone < len(terms):
            rest = terms[alone:]
            either = [f"({one} && ({' || '.join([one] * (len(rest) - i - 1))}))" for i in range(len(rest) - 1)]
            match = "(" + " || ".join([one] * alone + either) + ")"
            match_args = list(terms[:alone]) + [t for i, a in enumerate(rest[:-1]) for t in (a, *rest[i + 1 :])]
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT id, ts_rank(tsv, {q}) AS rank FROM chunks WHERE space=%s{within} AND tsv @@ {match} "
                'ORDER BY rank DESC, article_id COLLATE "C", first LIMIT %s',
                (*terms, space, *within_args, *match_args, n),
            ).fetchall()
        return [(cid, float(score)) for cid, score in rows]

    def lexical_health(self, space: str) -> str | None:
        with self._conn() as conn:
            chunks, indexed = conn.execute(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE terms IS NOT NULL AND tsv IS NOT NULL) FROM chunks WHERE space=%s", (space,)
            ).fetchone()
        return self._lexical_verdict(space, chunks, indexed)

    def rebuild_lexical(self, space: str) -> int:
        with self._transaction() as conn:
            n = self._reindex(conn, space)
            self._bump(conn, space)
        return n

    @staticmethod
    def _bump(conn: psycopg.Connection, space: str) -> None:
        conn.execute(
            "INSERT INTO spaces (space, generation) VALUES (%s, 1) "
            "ON CONFLICT (space) DO UPDATE SET generation = spaces.generation + 1",
            (space,),
        )

    # -- health (whosaid doctor) -----------------------------------------------------------------
    def integrity(self) -> str:
        """Whether the server answers: ``"ok"`` or its error (PostgreSQL checks its own pages)."""
        try:
            with self._conn() as conn:
                conn.execute("SELECT 1").fetchone()
        except Exception as e:  # noqa: BLE001 - reported, not raised
            return _one_line(e)
        return "ok"

    def delete_orphan_rows(self, space: str) -> int:
        with self._transaction() as conn:
            self._unindex(conn, space, "NOT EXISTS (SELECT 1 FROM articles a WHERE a.space=c.space AND a.id=c.article_id)", ())
            gone = sum(conn.execute(_pyformat(f"DELETE {orphans(t)}"), (space,)).rowcount for t in ("sentences", "chunks", "claims"))
            conn.execute(_pyformat(f"DELETE {orphans('claim_words')}"), (space,))
            gone += conn.execute(_pyformat(f"DELETE {ORPHAN_LINKS}"), (space,)).rowcount
            if gone:
                self._bump(conn, space)
        return gone


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresCatalogue"]

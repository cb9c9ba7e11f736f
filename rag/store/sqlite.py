"""The SQLite catalogue, the embedded default: articles, sentences (with offsets and pooled
vectors), chunks, claims, and the lexical index (FTS5 over each chunk's stemmed terms, with a
table of document frequencies), all in one file.

The catalogue is the source of truth. An article is replaced in one transaction, lexical index
included, so a killed process leaves either the old version or the new one, never a mixture.
Chroma is reconciled against it (see :mod:`rag.store`). Each thread reads through its own
connection (WAL mode), so readers never wait for each other, and never for a writer.

The reads are :class:`rag.store.sql.SqlCatalogue`'s, shared with the PostgreSQL catalogue; this
module holds what is SQLite's own: the schema, the writes, FTS5 and the file lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Collection, Iterator, Sequence

import numpy as np

from rag.attribution.speakers import alias_words
from rag.lexical import terms as lexical_terms
from rag.store.protocols import CatalogueError, StoreBusy
from rag.store.sql import (
    CHUNK_OUTSIDE, CLAIM_COLUMNS, CLAIM_OUTSIDE, DELETE_LINKS, NO_SENTENCES, ORPHAN_LINKS, SENTENCE_GAPS, UPSERT_LINK, Run, SqlCatalogue,
    _vec_to_blob, link_row, orphans,
)
from rag.types import Article, Chunk, Claim, Link, Sentence

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    space TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
    version TEXT NOT NULL, origin TEXT NOT NULL DEFAULT '', ingested_at REAL NOT NULL,
    pages TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (space, id)
);
CREATE TABLE IF NOT EXISTS sentences (
    space TEXT NOT NULL, article_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL, vec BLOB, page INTEGER,
    PRIMARY KEY (space, article_id, idx)
);
CREATE TABLE IF NOT EXISTS chunks (
    space TEXT NOT NULL, id TEXT NOT NULL, article_id TEXT NOT NULL,
    first INTEGER NOT NULL, last INTEGER NOT NULL, text TEXT NOT NULL, fts INTEGER,
    PRIMARY KEY (space, id)
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (space, article_id);
CREATE TABLE IF NOT EXISTS claims (
    space TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
    speaker TEXT NOT NULL, cue TEXT NOT NULL, stance TEXT NOT NULL, content TEXT NOT NULL,
    other_party TEXT NOT NULL DEFAULT '', sentence_ids TEXT NOT NULL, spans TEXT NOT NULL,
    negated INTEGER NOT NULL DEFAULT 0, cue_lemma TEXT NOT NULL DEFAULT '', speaker_mention TEXT NOT NULL DEFAULT '',
    speaker_role TEXT NOT NULL DEFAULT '', speaker_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (space, article_id, seq)
);
-- in the ledger's order, so a stance's first claims are read without reading (or sorting) all of them
CREATE INDEX IF NOT EXISTS claims_by_stance ON claims (space, stance, article_id, seq);
-- every word a claim's speaker is called by (name, role, mention): speaker questions read only their claims
CREATE TABLE IF NOT EXISTS claim_words (
    space TEXT NOT NULL, word TEXT NOT NULL, article_id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (space, word, article_id, seq)
);
CREATE INDEX IF NOT EXISTS claim_words_by_article ON claim_words (space, article_id);
CREATE TABLE IF NOT EXISTS spaces (
    space TEXT PRIMARY KEY, generation INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0,
    vectors_dirty INTEGER NOT NULL DEFAULT 1, links_dirty INTEGER NOT NULL DEFAULT 0
);
-- the lexical index: each chunk's stemmed terms (rowid = chunks.fts), and per-space document frequencies
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    terms, space UNINDEXED, id UNINDEXED, tokenize = 'unicode61 remove_diacritics 0 tokenchars _'
);
CREATE TABLE IF NOT EXISTS terms (space TEXT NOT NULL, term TEXT NOT NULL, df INTEGER NOT NULL, PRIMARY KEY (space, term));
-- a claim in one article answering a sentence of another (rag/attribution/links.py), to_seq -1 when no claim is there
CREATE TABLE IF NOT EXISTS links (
    space TEXT NOT NULL, from_article TEXT NOT NULL, from_seq INTEGER NOT NULL, from_sentence INTEGER NOT NULL,
    to_article TEXT NOT NULL, to_sentence INTEGER NOT NULL, to_seq INTEGER NOT NULL DEFAULT -1,
    kind TEXT NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (space, from_article, from_seq, to_article, to_sentence)
);
CREATE INDEX IF NOT EXISTS links_by_target ON links (space, to_article, to_sentence);
"""

#: The catalogue's schema version (``PRAGMA user_version``). Each step of :data:`MIGRATIONS` brings
#: a catalogue written by an older whosaid up to the next version, in one transaction.
SCHEMA_VERSION = 8
MIGRATIONS: dict[int, list[str]] = {
    # 1 -> 2: claims carry negation, the cue's lemma and the resolved speaker (issue 10)
    2: [
        "ALTER TABLE claims ADD COLUMN negated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE claims ADD COLUMN cue_lemma TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE claims ADD COLUMN speaker_mention TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE claims ADD COLUMN speaker_role TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE claims ADD COLUMN speaker_key TEXT NOT NULL DEFAULT ''",
    ],
    # 2 -> 3: the lexical index moves into the catalogue (issue 12); chunks are indexed after the steps
    3: [
        "ALTER TABLE chunks ADD COLUMN fts INTEGER",
        "ALTER TABLE spaces ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0",
    ],
    # 3 -> 4: the alias-word index of claim speakers (issue 12); filled after the steps
    4: [],
    # 4 -> 5: the "vectors may disagree" mark (issue 12); every existing space comes out marked, so its
    # first ingest reconciles once (an older whosaid reconciled at every start and kept no mark)
    5: ["ALTER TABLE spaces ADD COLUMN vectors_dirty INTEGER NOT NULL DEFAULT 1"],
    # 5 -> 6 (issue 12): the stance index in the ledger's order (as PostgreSQL's), and claims by speaker,
    # stance and negation in the ledger's order (in POST_SCHEMA)
    6: ["DROP INDEX IF EXISTS claims_by_stance", "CREATE INDEX claims_by_stance ON claims (space, stance, article_id, seq)"],
    # 6 -> 7 (issue 13): a PDF's page map per article (JSON ``[[start, end, page], ...]``) and the page of
    # each sentence; older articles have neither (their inputs had no pages, or a PDF's were not kept:
    # its version hash changes, so the next ingest stores them)
    7: [
        "ALTER TABLE articles ADD COLUMN pages TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE sentences ADD COLUMN page INTEGER",
    ],
    # 7 -> 8 (issue 13): cross-article links; the table and its index are in SCHEMA (IF NOT EXISTS), so an
    # older catalogue gains them empty, and `whosaid links --rebuild` fills them; the "links may be missing" mark
    8: ["ALTER TABLE spaces ADD COLUMN links_dirty INTEGER NOT NULL DEFAULT 0"],
}
#: Indexes over columns that older schemas' migrations add: created after the steps.
POST_SCHEMA = [
    "CREATE INDEX IF NOT EXISTS claims_by_speaker ON claims (space, speaker_key)",
    # a speaker's claims of one stance in the ledger's order: "what did X deny?" reads the first few, never all of X's
    "CREATE INDEX IF NOT EXISTS claims_by_speaker_stance ON claims (space, speaker_key, stance, negated, article_id, seq)",
]


class SqliteCatalogue(SqlCatalogue):
    """SQLite storage for one data directory; every call names the index ``space`` it works on."""

    #: SQLite binds at most 999 variables a statement in older builds: longer id lists are split
    _ANY_BATCH = 500
    _BROKEN_CHECKS = (
        NO_SENTENCES,
        SENTENCE_GAPS,
        ("a sentence's offsets do not reproduce its text", ('SELECT s.article_id FROM sentences s JOIN articles a '
         'ON a.space=s.space AND a.id=s.article_id WHERE s.space=? AND substr(a.text, s.start + 1, s."end" - s.start) != s.text')),
        CHUNK_OUTSIDE,
        (CLAIM_OUTSIDE, ("SELECT c.article_id FROM claims c, json_each(c.sentence_ids) j WHERE c.space=? AND "
         "(substr(j.value, 1, length(c.article_id) + 1) != c.article_id || ':' OR NOT EXISTS (SELECT 1 FROM sentences s "
         "WHERE s.space=c.space AND s.article_id=c.article_id AND s.idx = CAST(substr(j.value, length(c.article_id) + 2) AS INTEGER)))")),
    )
    #: claims' sentence ids and spans are stored as JSON text
    _from_json = staticmethod(json.loads)

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._migrate()

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection: SQLite connections are not for sharing across threads, and one
        per thread lets any number of readers run at once beside the one writer (WAL mode)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._opened_lock:
                self._opened.append(db)
        return db

    @contextmanager
    def _reading(self) -> Iterator[Run]:
        db = self._db
        yield lambda sql, args: db.execute(sql, args).fetchall()

    @staticmethod
    def _any(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if len(values) > 500:  # a filter's article set may hold 10^5 ids: one JSON parameter, not a variable each
            return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(list(values))]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()

    @contextmanager
    def writer(self, space: str, wait: float = 0.0) -> Iterator[None]:
        """The data directory's write lock (a file lock: the kernel drops it when its holder dies,
        even by SIGKILL, so a crash never leaves it held)."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path.parent / "write.lock"), timeout=wait)
        try:
            lock.acquire()
        except Timeout:
            raise StoreBusy(f"{self.path.parent}: another whosaid ingest, delete or doctor is writing here; try again when it ends") from None
        try:
            yield
        finally:
            lock.release()

    def _commit_one(self, sql: str, args: Sequence[Any]) -> None:
        with self._transaction():
            self._db.execute(sql, tuple(args))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed whole, or rolled back on any error (and a killed process
        leaves SQLite's journal to roll it back), so readers see the old state or the new."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        """Create the schema, or bring an older catalogue up to :data:`SCHEMA_VERSION`."""
        db = self._db
        with self._transaction():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            existed = db.execute("SELECT 1 FROM sqlite_master WHERE name='articles'").fetchone() is not None
            if version > SCHEMA_VERSION:
                raise CatalogueError(
                    f"{self.path}: catalogue schema version {version} is newer than this whosaid's ({SCHEMA_VERSION}); upgrade whosaid"
                )
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if existed:
                for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS.get(step, []):
                        table, _, rest = statement.removeprefix("ALTER TABLE ").partition(" ADD COLUMN ")
                        columns = {r[1] for r in db.execute(f"PRAGMA table_info({table})")} if rest else set()
                        if not rest or rest.split()[0] not in columns:
                            db.execute(statement)
                if version < 3:
                    for (space,) in db.execute("SELECT DISTINCT space FROM chunks").fetchall():
                        self._reindex(space)
                if version < 4:
                    rows = db.execute(f"SELECT {CLAIM_COLUMNS} FROM claims").fetchall()
                    self._add_claim_words([(r[0], r[2], self._claim(r)) for r in rows])
            for statement in POST_SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
        db = self._db
        with self._transaction():
            self._delete_rows(space, article.id)
            db.execute(
                "INSERT INTO articles (space, id, title, source, url, published, text, version, origin, ingested_at, pages) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (space, article.id, article.title, article.source, article.url, article.published,
                 article.text, version, origin, time.time(), json.dumps([list(p) for p in article.pages])),
            )
            db.executemany(
                'INSERT INTO sentences (space, article_id, idx, start, "end", text, vec, page) VALUES (?,?,?,?,?,?,?,?)',
                [
                    (space, s.article_id, s.index, s.start, s.end, s.text,
                     None if sentence_vecs is None else _vec_to_blob(sentence_vecs[i]), s.page)
                    for i, s in enumerate(sentences)
                ],
            )
            self._add_chunks(space, chunks)
            self._add_claim_words([(space, n, c) for n, c in enumerate(claims)])
            db.executemany(
                f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({','.join('?' * 15)})",
                [
                    (space, article.id, n, c.speaker, c.cue, c.stance, c.content, c.other_party, json.dumps(c.sentence_ids),
                     json.dumps([c.cue_span, c.speaker_span, c.content_span]), int(c.negated), c.cue_lemma, c.speaker_mention,
                     c.speaker_role, c.speaker_key)
                    for n, c in enumerate(claims)
                ],
            )
            self._bump(space)

    def delete_article(self, space: str, article_id: str) -> list[str]:
        """Remove an article; returns the ids of the chunks it had (for the vector store)."""
        db = self._db
        with self._transaction():
            ids = sorted(self.chunk_ids(space, article_id))
            found = db.execute("SELECT 1 FROM articles WHERE space=? AND id=?", (space, article_id)).fetchone()
            self._delete_rows(space, article_id)
            if found:
                self._bump(space)
        return ids if found else []

    def _delete_rows(self, space: str, article_id: str) -> None:
        self._unindex(space, "c.article_id=?", (article_id,))
        for table, col in (("articles", "id"), ("sentences", "article_id"), ("chunks", "article_id"), ("claims", "article_id"),
                           ("claim_words", "article_id")):
            self._db.execute(f"DELETE FROM {table} WHERE space=? AND {col}=?", (space, article_id))
        for statement in DELETE_LINKS:
            self._db.execute(statement, (space, article_id))

    def add_links(self, space: str, links: Sequence[Link]) -> None:
        """Store links (replacing those with the same ends) in one transaction. The caller holds the
        write lock, so the articles it read them from are still there."""
        with self._transaction():
            self._db.executemany(UPSERT_LINK, [link_row(space, x) for x in links])

    def delete_links(self, space: str, article_ids: Sequence[str] | None = None) -> int:
        """Drop the links with either end in these articles (all the space's links without ids)."""
        with self._transaction():
            if article_ids is None:
                return self._db.execute("DELETE FROM links WHERE space=?", (space,)).rowcount
            gone = 0
            for article_id in sorted(set(article_ids)):
                for statement in DELETE_LINKS:
                    gone += self._db.execute(statement, (space, article_id)).rowcount
            return gone

    def _add_claim_words(self, claims: Sequence[tuple[str, int, Claim]]) -> None:
        """Index each ``(space, seq, claim)`` under every word its speaker is called by."""
        self._db.executemany(
            "INSERT OR IGNORE INTO claim_words (space, word, article_id, seq) VALUES (?,?,?,?)",
            [(space, w, c.article_id, seq) for space, seq, c in claims for w in alias_words(c)],
        )

    # -- the lexical index, kept in step with the chunks inside the same transaction ---------------
    def _add_chunks(self, space: str, chunks: Sequence[Chunk]) -> None:
        db = self._db
        df: Counter[str] = Counter()
        for c in chunks:
            words = lexical_terms(c.text)
            df.update(set(words))
            rowid = db.execute("INSERT INTO chunks_fts (terms, space, id) VALUES (?,?,?)", (" ".join(words), space, c.id)).lastrowid
            db.execute("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", (space, c.id, c.article_id, c.first, c.last, c.text, rowid))
        self._count(space, df, len(chunks))

    def _unindex(self, space: str, where: str, args: tuple) -> None:
        """Take the chunks matching ``where`` (over ``chunks c``) out of the lexical index."""
        db = self._db
        rows = db.execute(
            f"SELECT f.rowid, f.terms FROM chunks c JOIN chunks_fts f ON f.rowid = c.fts WHERE c.space=? AND {where}", (space, *args)
        ).fetchall()
        if not rows:
            return
        db.executemany("DELETE FROM chunks_fts WHERE rowid=?", [(r[0],) for r in rows])
        df = Counter(t for _, words in rows for t in set(words.split()))
        self._count(space, Counter({t: -n for t, n in df.items()}), -len(rows))
        db.executemany("DELETE FROM terms WHERE space=? AND term=? AND df <= 0", [(space, t) for t in df])

    def _count(self, space: str, df: Counter[str], chunks: int) -> None:
        db = self._db
        db.executemany(
            "INSERT INTO terms (space, term, df) VALUES (?,?,?) ON CONFLICT(space, term) DO UPDATE SET df = df + excluded.df",
            [(space, t, n) for t, n in df.items()],
        )
        db.execute(
            "INSERT INTO spaces (space, chunks) VALUES (?, ?) ON CONFLICT(space) DO UPDATE SET chunks = chunks + excluded.chunks",
            (space, chunks),
        )

    def _reindex(self, space: str) -> int:
        """Index every chunk of the space afresh (schema migration, doctor's repair)."""
        db = self._db
        db.execute("DELETE FROM chunks_fts WHERE space=?", (space,))
        db.execute("DELETE FROM terms WHERE space=?", (space,))
        db.execute("UPDATE spaces SET chunks = 0 WHERE space=?", (space,))
        chunks = [Chunk(id=r[0], article_id=r[1], first=r[2], last=r[3], text=r[4]) for r in db.execute(
            "SELECT id, article_id, first, last, text FROM chunks WHERE space=?", (space,)).fetchall()]
        db.execute("DELETE FROM chunks WHERE space=?", (space,))
        self._add_chunks(space, chunks)
        return len(chunks)

    def search_chunks(
        self, space: str, terms: Sequence[str], n: int, alone: int | None = None, articles: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """FTS5's BM25 over the terms, any of which may match (each quoted: a term is data, never
        query syntax); with ``alone``, BM25 is computed only for the chunks that FTS5 finds for the
        first ``alone`` terms or any two others (a list of row ids, cheap to collect), so the cost of
        scoring follows those rather than every chunk that holds a common term. With ``articles``, the
        matches are restricted to those articles' chunks (their row ids, read through the chunks'
        article index; the ids go in as one JSON parameter, whatever their number) before ranking."""
        terms = list(dict.fromkeys(terms))
        if not terms or n <= 0:
            return []
        if articles is not None and not articles:
            return []
        quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
        query = " OR ".join(quoted)
        within, within_args = "", ()
        if articles is not None:
            within = " AND +rowid IN (SELECT fts FROM chunks WHERE space=? AND article_id IN (SELECT value FROM json_each(?)))"
            within_args = (space, json.dumps(sorted(articles)))
        if alone is None or alone >= len(quoted):
            rows = self._db.execute(
                f"SELECT id, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? AND space=?{within} ORDER BY rank LIMIT ?",
                (query, space, *within_args, n),
            ).fetchall()
            return [(cid, -float(score)) for cid, score in rows]
        rest = quoted[alone:]
        either = [f"({a} AND ({' OR '.join(rest[i + 1 :])}))" for i, a in enumerate(rest[:-1])]
        candidates = " OR ".join(quoted[:alone] + either)
        # the space is read from each row's stored columns: skipped when no other space has chunks
        other = self._db.execute("SELECT 1 FROM spaces WHERE space != ? AND chunks > 0 LIMIT 1", (space,)).fetchone()
        rows = self._db.execute(
            "SELECT f.id, m.score FROM (SELECT rowid, bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ? "
            # the unary + keeps the row-id list a filter: as a constraint FTS5 would run the query once per id
            f"AND +rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?){' AND space=?' if other else ''}{within} "
            "ORDER BY score LIMIT ?) m JOIN chunks_fts f ON f.rowid = m.rowid ORDER BY m.score",
            (query, candidates, *((space,) if other else ()), *within_args, n),
        ).fetchall()
        return [(cid, -float(score)) for cid, score in rows]

    def lexical_health(self, space: str) -> str | None:
        db = self._db
        chunks = db.execute("SELECT COUNT(*) FROM chunks WHERE space=?", (space,)).fetchone()[0]
        indexed = db.execute(
            "SELECT COUNT(*) FROM chunks c JOIN chunks_fts f ON f.rowid = c.fts WHERE c.space=? AND f.id = c.id", (space,)
        ).fetchone()[0]
        rows = db.execute("SELECT COUNT(*) FROM chunks_fts WHERE space=?", (space,)).fetchone()[0]
        return self._lexical_verdict(space, chunks, indexed, stray=rows - indexed)

    def rebuild_lexical(self, space: str) -> int:
        with self._transaction():
            n = self._reindex(space)
            self._bump(space)
        return n

    def _bump(self, space: str) -> None:
        self._db.execute(
            "INSERT INTO spaces (space, generation) VALUES (?, 1) "
            "ON CONFLICT(space) DO UPDATE SET generation = generation + 1",
            (space,),
        )

    # -- health (whosaid doctor) -----------------------------------------------------------------
    def integrity(self) -> str:
        """SQLite's own page-level check: ``"ok"`` or its first complaint."""
        return str(self._db.execute("PRAGMA quick_check").fetchone()[0])

    def delete_orphan_rows(self, space: str) -> int:
        db = self._db
        with self._transaction():
            self._unindex(space, "NOT EXISTS (SELECT 1 FROM articles a WHERE a.space=c.space AND a.id=c.article_id)", ())
            gone = sum(db.execute(f"DELETE {orphans(t)}", (space,)).rowcount for t in ("sentences", "chunks", "claims"))
            db.execute(f"DELETE {orphans('claim_words')}", (space,))
            gone += db.execute(f"DELETE {ORPHAN_LINKS}", (space,)).rowcount
            if gone:
                self._bump(space)
        return gone

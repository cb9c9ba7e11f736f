"""One contract suite, run against every catalogue whosaid supports: SQLite in a temporary home and
PostgreSQL started for real on 127.0.0.1 (``initdb`` + ``pg_ctl``; skipped with the reason when the
binaries are missing). Each test works in a space of its own, so one server serves the suite."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

from deploy.stack import ServerUnavailable, start_postgres
from rag.lexical import Lexical, terms
from rag.store.postgres import SCHEMA_VERSION as PG_SCHEMA
from rag.store.protocols import Catalogue, StoreBusy
from rag.store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA
from rag.types import Article, Chunk, Claim, Link, Sentence

DIM = 8


@pytest.fixture(scope="session")
def postgres_url():
    # not pytest's tmp_path: it sits under a 0700 directory the ``postgres`` account cannot reach when we run as root
    root = Path(tempfile.mkdtemp(prefix="whosaid-catalogue-"))
    root.chmod(0o755)
    try:
        try:
            server = start_postgres(root)
        except ServerUnavailable as e:
            pytest.skip(str(e))
        with server:
            yield server.url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def open_catalogue(kind: str, home: Path, request) -> Catalogue:
    if kind == "postgres":
        from rag.store.postgres import PostgresCatalogue

        return PostgresCatalogue(request.getfixturevalue("postgres_url"), pool_size=4)
    from rag.store.sqlite import SqliteCatalogue

    return SqliteCatalogue(home / "catalogue.sqlite3")


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def cat(kind, tmp_path, request):
    catalogue = open_catalogue(kind, tmp_path, request)
    yield catalogue
    catalogue.close()


@pytest.fixture
def space() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def make(article_id: str, title: str, sentences: list[str], *, source: str = "Wire", claims: list[Claim] | None = None):
    """An article whose text is its sentences joined by spaces, chunks of two sentences overlapping by one."""
    text, spans, at = "", [], 0
    for s in sentences:
        spans.append((at, at + len(s)))
        text += s + " "
        at = len(text)
    article = Article(id=article_id, title=title, source=source, url=f"https://news.example/{article_id}", published="2026-03-01", text=text.rstrip())
    sents = [Sentence(article_id=article_id, index=i, start=a, end=b, text=s) for i, ((a, b), s) in enumerate(zip(spans, sentences))]
    chunks = [Chunk(id=f"{article_id}-c{i}-{abs(hash(title)) % 997}", article_id=article_id, first=i, last=min(i + 1, len(sents) - 1),
                    text=f"{title}\n" + " ".join(s.text for s in sents[i : i + 2])) for i in range(max(1, len(sents) - 1))]
    vecs = np.stack([np.eye(DIM, dtype=np.float32)[i % DIM] for i in range(len(sents))])
    return article, sents, chunks, vecs, claims or []


def claim(article_id: str, speaker: str, stance: str, content: str, key: str, index: int = 0, negated: bool = False) -> Claim:
    return Claim(article_id=article_id, speaker=speaker, cue=stance + "d", stance=stance, content=content,
                 sentence_ids=[f"{article_id}:{index}"], negated=negated, cue_lemma=stance, speaker_key=key, speaker_mention=speaker)


def write(cat: Catalogue, space: str, parts, version: str = "v1") -> None:
    article, sents, chunks, vecs, claims = parts
    cat.write_article(space, article, version, f"/in/{article.id}.txt", sents, chunks, vecs, claims)


PORT = make("port", "Port sale denied", ["The minister denied the port sale.", "Unions warned of job losses.", "Talks continue."],
            claims=[claim("port", "Tomas Reyland", "deny", "the port sale", "tomas reyland"),
                    claim("port", "the unions", "say", "job losses", "port#unions", 1)])
RAIL = make("rail", "Rail strike confirmed", ["NordRail confirmed the strike.", "Trains will stop on Monday."], source="Ledger",
            claims=[claim("rail", "NordRail", "confirm", "the strike", "nordrail")])


def test_is_a_catalogue(cat) -> None:
    assert isinstance(cat, Catalogue) and cat.location


def test_write_then_read_everything_back(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    article, sents, chunks, vecs, claims = PORT
    assert cat.article(space, "port") == article
    assert cat.sentences(space, "port") == sents
    assert [r.id for r in cat.list_articles(space)] == ["port", "rail"]
    assert cat.article_names(space) == [("port", "Port sale denied", "Wire"), ("rail", "Rail strike confirmed", "Ledger")]
    row = cat.list_articles(space)[0]
    assert (row.title, row.source, row.version, row.origin, row.sentences) == ("Port sale denied", "Wire", "v1", "/in/port.txt", 3)
    assert cat.chunk_ids(space, "port") == {c.id for c in chunks}
    assert cat.chunk_ids(space) == {c.id for c in chunks} | {c.id for c in RAIL[2]}
    wanted = [chunks[1].id, "unknown", chunks[0].id]
    assert cat.chunks(space, wanted) == [chunks[1], chunks[0]]
    assert cat.version(space, "port") == "v1" and cat.version(space, "nope") is None
    assert cat.versions(space) == {"port": "v1", "rail": "v1"}
    assert cat.counts(space) == {"articles": 2, "sentences": 5, "chunks": 3, "claims": 3}
    assert cat.titles(space) == {"port sale denied": "port", "rail strike confirmed": "rail"}
    assert cat.claims(space, article_id="port") == claims
    rows = cat.window_sentences(space, [("port", 1, 2), ("port", 2, 2), ("rail", 0, 0)], DIM)
    assert [(r[0], r[1], r[2]) for r in rows] == [(sents[1], article.title, article.url), (sents[2], article.title, article.url),
                                                  (RAIL[1][0], "Rail strike confirmed", RAIL[0].url)]
    assert np.allclose(rows[0][3], vecs[1])
    # a whole article (a window past its end), windows in the order asked, and more windows than one statement reads
    whole = cat.window_sentences(space, [("rail", 0, 1 << 30), ("port", 2, 2), ("port", 0, 1 << 30)], DIM)
    assert [(r[0].article_id, r[0].index) for r in whole] == [("rail", 0), ("rail", 1), ("port", 2), ("port", 0), ("port", 1)]
    many = [("port", i % 3, 3 + i) for i in range(type(cat).WINDOWS_PER_READ + 5)] + [("rail", 1, 1)]  # all distinct
    assert [(r[0].article_id, r[0].index) for r in cat.window_sentences(space, many, DIM)] == [("port", 0), ("port", 1), ("port", 2), ("rail", 1)]
    got = cat.sentence_vectors(space, [("port", 2), ("rail", 1), ("port", 9)], DIM)
    assert np.allclose(got[("port", 2)], vecs[2]) and np.allclose(got[("rail", 1)], RAIL[3][1]) and not got[("port", 9)].any()


def test_claims_filters(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    assert [c.speaker for c in cat.claims(space, stance="deny")] == ["Tomas Reyland"]
    assert [c.speaker for c in cat.claims(space, speaker="reyland")] == ["Tomas Reyland"]
    assert cat.claims(space, speaker="100%_") == []  # LIKE's wildcards are literal
    assert [c.article_id for c in cat.claims(space, speaker_key="nordrail")] == ["rail"]
    assert [c.stance for c in cat.claims(space)] == ["deny", "say", "confirm"]  # article, then sentence order


def test_replacing_and_deleting_an_article(cat, space) -> None:
    write(cat, space, PORT)
    g = cat.generation(space)
    new = make("port", "Port sale confirmed", ["The minister confirmed the port sale."])
    write(cat, space, new, version="v2")
    assert cat.generation(space) > g
    assert cat.sentences(space, "port") == new[1] and cat.claims(space) == []
    assert cat.chunk_ids(space, "port") == {c.id for c in new[2]} and cat.version(space, "port") == "v2"
    g = cat.generation(space)
    assert sorted(cat.delete_article(space, "port")) == sorted(c.id for c in new[2])
    assert cat.generation(space) > g and cat.article(space, "port") is None
    assert cat.delete_article(space, "port") == []
    assert cat.counts(space) == {"articles": 0, "sentences": 0, "chunks": 0, "claims": 0}


def test_spaces_do_not_see_each_other(cat, space) -> None:
    other = space + "-other"
    write(cat, space, PORT)
    assert cat.list_articles(other) == [] and cat.chunk_ids(other) == set() and cat.generation(other) == 0
    assert cat.search_chunks(other, ["port"], 5) == [] and cat.term_stats(other, ["port"]) == (0, {})


def test_lexical_search_ranks_by_the_terms(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    found = cat.search_chunks(space, terms("Who confirmed the rail strike?"), 5)
    assert found and found[0][0] in {c.id for c in RAIL[2]} and all(s > 0 for _, s in found)
    assert {i for i, _ in cat.search_chunks(space, terms("job losses unions"), 5)} == {c.id for c in PORT[2]}
    assert cat.search_chunks(space, ["zzzunknown"], 5) == []
    # terms are data, never query syntax
    for odd in (['"'], ["OR"], ["NEAR(a b)"], ["port*"], ["a'b"], ["\\"], ["-port"], ["port:"], ["!"], ["&|"]):
        assert isinstance(cat.search_chunks(space, odd, 5), list)
    assert len(cat.search_chunks(space, terms("port sale strike minister"), 1)) == 1


def test_lexical_search_ranks_only_chunks_with_a_rare_term_or_two_others(cat, space) -> None:
    """With ``alone``, a chunk holding one of the later terms and nothing else is no match, one holding
    two of them is, and the matches rank and score as they do without ``alone``; another space's
    chunks never come back, whether or not the catalogue holds other spaces."""
    for parts in (make("a", "Alpha", ["Zebra crossing closed."]), make("b", "Beta", ["Harbour crane and quay."]),
                  make("c", "Gamma", ["Harbour quiet today."]), make("d", "Delta", ["Zebra harbour crane."]),
                  *(make(f"f{i}", f"Filler {i}", ["Nothing to see here."]) for i in range(6))):
        write(cat, space, parts)
    chunk = {aid: next(iter(cat.chunk_ids(space, aid))) for aid in "abcd"}
    wanted = ["zebra", "harbour", "crane"]

    def check() -> None:
        every = cat.search_chunks(space, wanted, 10)
        paired = cat.search_chunks(space, wanted, 10, alone=1)
        assert {i for i, _ in every} == {chunk[a] for a in "abcd"}
        assert [i for i, _ in paired] == [i for i, _ in every if i != chunk["c"]]
        assert dict(paired) == pytest.approx({i: s for i, s in every if i != chunk["c"]})
        assert paired[0][0] == chunk["d"]  # all three terms
        assert cat.search_chunks(space, wanted, 10, alone=3) == every and cat.search_chunks(space, wanted, 1, alone=1) == paired[:1]
        # the rarest term is searched alone and the rest in pairs once they are in too many chunks
        small = type("Small", (Lexical,), {"MOST_POSTINGS": 1, "COMMON": 1.0})(cat, space)
        assert small.search("harbour crane zebra", 10) == cat.search_chunks(space, ["crane", "zebra", "harbour"], 10, alone=1)

    check()
    write(cat, space + "-other", make("o", "Other", ["Zebra harbour crane crane zebra harbour."]))
    check()


def test_term_statistics_follow_every_write(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    n, df = cat.term_stats(space, ["port", "strike", "minist", "nowher"])
    assert n == 3 and df == {"port": 2, "strike": 1, "minist": 1}
    write(cat, space, make("rail", "Rail strike called off", ["The strike was called off.", "NordRail said so.", "Port trains run."]))
    n, df = cat.term_stats(space, ["port", "strike", "nordrail"])
    assert n == 4 and df == {"port": 3, "strike": 2, "nordrail": 2}
    cat.delete_article(space, "port")
    assert cat.term_stats(space, ["port", "minist"]) == (2, {"port": 1})
    assert cat.lexical_health(space) is None


def test_health_checks_pass_on_a_sound_catalogue_and_rebuild_is_idempotent(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    assert cat.integrity() == "ok"
    assert cat.orphan_rows(space) == {"sentences": 0, "chunks": 0, "claims": 0, "links": 0} and cat.delete_orphan_rows(space) == 0
    assert cat.broken_articles(space) == {}
    before = (cat.term_stats(space, ["port", "strike"]), cat.search_chunks(space, ["strike"], 5))
    assert cat.rebuild_lexical(space) == 3
    assert (cat.term_stats(space, ["port", "strike"]), cat.search_chunks(space, ["strike"], 5)) == before
    assert cat.lexical_health(space) is None


def test_one_writer_at_a_time_across_processes(cat, kind, space, tmp_path, request) -> None:
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else str(tmp_path / "catalogue.sqlite3")
    probe = f"""
import sys
from pathlib import Path
from rag.store.protocols import StoreBusy
if {kind!r} == "postgres":
    from rag.store.postgres import PostgresCatalogue
    cat = PostgresCatalogue({url!r}, pool_size=1)
else:
    from rag.store.sqlite import SqliteCatalogue
    cat = SqliteCatalogue(Path({url!r}))
try:
    with cat.writer({space!r}):
        print("acquired")
except StoreBusy as e:
    print("busy:", e)
"""
    with cat.writer(space):
        with pytest.raises(StoreBusy):
            with cat.writer(space):
                pass
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
        assert out.stdout.startswith("busy: ") and "Traceback" not in out.stderr, out.stderr
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "acquired", out.stderr


def test_readers_in_threads_see_whole_articles_while_one_writes(cat, space) -> None:
    """Real threads: readers never wait for the writer, and never see half an article."""
    write(cat, space, PORT)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                sents = cat.sentences(space, "port")
                chunks = cat.chunk_ids(space, "port")
                seen.append((len(sents), len(chunks)))
                assert cat.search_chunks(space, ["port"], 3)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(6)]
    for t in readers:
        t.start()
    long = make("port", "Port sale denied", [f"Port sentence number {i}." for i in range(12)])
    for n in range(20):
        write(cat, space, long if n % 2 else PORT, version=f"v{n}")
    stop.set()
    for t in readers:
        t.join(timeout=600)
    assert not errors, errors[0]
    # every read saw one version or the other (3 sentences in 2 chunks, or 12 in 11), never a mixture
    sentence_counts = {s for s, _ in seen}
    assert sentence_counts <= {3, 12} and len(seen) > 0


def test_titles_follow_writes_and_a_waiting_writer_gets_the_lock_when_it_is_freed(cat, space) -> None:
    write(cat, space, PORT)
    assert cat.titles(space) == {"port sale denied": "port"}
    write(cat, space, make("port", "Port sale confirmed", ["The minister confirmed the port sale."]), version="v2")
    assert cat.titles(space) == {"port sale confirmed": "port"}  # the cache follows the generation
    held, release, got = threading.Event(), threading.Event(), []

    def hold() -> None:
        with cat.writer(space):
            held.set()
            release.wait(600)

    def wait_for_it() -> None:
        with cat.writer(space, wait=600):
            got.append(True)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(600)
    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    threading.Event().wait(0.3)  # let the waiter find the lock taken (not asserted: it gets it either way)
    release.set()
    holder.join(600)
    waiter.join(600)
    assert got == [True]


def test_claims_through_the_indexes(cat, space) -> None:
    """The plural filters, the limit and the alias-word index speaker questions read."""
    write(cat, space, PORT)
    write(cat, space, RAIL)
    assert [c.stance for c in cat.claims(space, stances=["deny", "confirm"])] == ["deny", "confirm"]
    assert cat.claims(space, stances=[]) == [] and cat.claims(space, speaker_keys=[]) == []
    assert [c.article_id for c in cat.claims(space, article_ids=["rail", "nope"])] == ["rail"]
    assert [c.speaker for c in cat.claims(space, speaker_keys=["nordrail", "tomas reyland"])] == ["Tomas Reyland", "NordRail"]
    assert [c.stance for c in cat.claims(space, limit=2)] == ["deny", "say"]
    assert [c.speaker for c in cat.claims_by_words(space, ["reyland"])] == ["Tomas Reyland"]
    assert [c.speaker for c in cat.claims_by_words(space, ["reyland", "tomas"])] == ["Tomas Reyland"]
    assert cat.claims_by_words(space, ["reyland", "nordrail"]) == [] and cat.claims_by_words(space, []) == []
    write(cat, space, make("port", "Port sale denied", ["Nobody spoke."]))  # the rewrite drops the old words
    assert cat.claims_by_words(space, ["reyland"]) == []
    cat.delete_article(space, "rail")
    assert cat.claims_by_words(space, ["nordrail"]) == []


def test_the_vectors_mark_is_set_read_cleared_per_space_and_seen_by_a_new_connection(cat, kind, space, tmp_path, request) -> None:
    """The "vectors may disagree" mark (the store's, around every run that changes vectors): a space
    never seen counts as marked (fail safe), the catalogue's own writes leave it alone, and it is per
    space and committed when set."""
    other = space + "-other"
    assert cat.vectors_dirty(space) and cat.vectors_dirty(other)  # never seen
    write(cat, other, RAIL)
    assert cat.vectors_dirty(other)  # a space first made by a write starts marked too
    cat.clear_vectors_dirty(space)
    assert not cat.vectors_dirty(space)
    write(cat, space, PORT)
    write(cat, space, PORT, version="v2")
    cat.delete_article(space, "port")
    cat.rebuild_lexical(space)
    assert not cat.vectors_dirty(space)
    cat.mark_vectors_dirty(space)
    cat.mark_vectors_dirty(space)  # idempotent
    cat.clear_vectors_dirty(other)
    assert cat.vectors_dirty(space) and not cat.vectors_dirty(other)
    again = open_catalogue(kind, tmp_path, request)
    try:
        assert again.vectors_dirty(space) and not again.vectors_dirty(other)
        again.clear_vectors_dirty(space)
    finally:
        again.close()
    assert not cat.vectors_dirty(space)


def test_a_version_4_catalogue_comes_out_of_the_migration_marked(cat, kind, space, tmp_path, request) -> None:
    """A catalogue an older whosaid wrote (which reconciled at every ingest and kept no mark) is
    migrated with every space marked, so its first ingest reconciles once."""
    write(cat, space, PORT)
    cat.clear_vectors_dirty(space)
    # back to version 4: the spaces table without the mark
    if kind == "sqlite":
        cat.close()
        con = sqlite3.connect(str(tmp_path / "catalogue.sqlite3"))
        con.execute("ALTER TABLE spaces DROP COLUMN vectors_dirty")
        con.execute("PRAGMA user_version = 4")
        con.commit()
        con.close()
    else:
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
            conn.execute("ALTER TABLE spaces DROP COLUMN vectors_dirty")
            conn.execute("UPDATE whosaid_meta SET value = '4' WHERE key = 'schema_version'")
    migrated = open_catalogue(kind, tmp_path, request)
    try:
        assert migrated.vectors_dirty(space)
        assert migrated.versions(space) == {"port": "v1"} and migrated.chunk_ids(space) == {c.id for c in PORT[2]}
        migrated.clear_vectors_dirty(space)
        assert not migrated.vectors_dirty(space)
        if kind == "sqlite":
            con = sqlite3.connect(str(tmp_path / "catalogue.sqlite3"))
            assert con.execute("PRAGMA user_version").fetchone()[0] == SQLITE_SCHEMA
            con.close()
        else:
            import psycopg

            with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
                assert conn.execute("SELECT value FROM whosaid_meta WHERE key = 'schema_version'").fetchone()[0] == str(PG_SCHEMA)
    finally:
        migrated.close()


def test_a_speaker_s_first_claims_through_the_indexes(cat, space) -> None:
    """The bounded reads of speaker questions: each in the ledger's order (ids by their bytes), cut
    at the limit, filtered by stance and negation alike in both engines."""
    many = [claim("z-port", "Tomas Reyland", ("deny", "say")[n % 2], f"point {n}", "tomas reyland", n % 3, negated=n == 3) for n in range(6)]
    write(cat, space, PORT)
    write(cat, space, RAIL)
    write(cat, space, make("z-port", "More port news", ["One.", "Two.", "Three."], claims=many))
    write(cat, space, make("Port-B", "Reyland again", ["Reyland denied it."], claims=[claim("Port-B", "Reyland", "deny", "it", "reyland")]))
    assert cat.speaker_keys(space) == ["nordrail", "reyland", "tomas reyland"]
    assert cat.ledger_places(space, ["deny"], 3, keys=["tomas reyland", "reyland"]) == [("Port-B", 0), ("port", 0), ("z-port", 0)]
    assert cat.ledger_places(space, ["deny", "say"], 10, keys=["tomas reyland"], negated=False) == [
        ("port", 0), *(("z-port", n) for n in (0, 1, 2, 4, 5))]
    assert cat.ledger_places(space, ["say"], 10, keys=["tomas reyland"], negated=True) == [("z-port", 3)]
    assert cat.ledger_places(space, ["say"], 10, keys=["nobody"]) == []
    assert cat.ledger_places(space, ["say", "confirm"], 4) == [("port", 1), ("rail", 0), ("z-port", 1), ("z-port", 3)]
    assert cat.ledger_places(space, ["say"], 10, negated=True) == [("z-port", 3)] and cat.ledger_places(space, [], 10) == []
    assert [c.content for c in cat.claims_at(space, [("z-port", 4), ("port", 0), ("port", 9)])] == ["point 4", "the port sale"]
    posted = cat.speaker_postings(space, ["reyland", "tomas"], 100)
    assert [(a, n, k, st, neg) for a, n, k, st, neg in posted][:2] == [("port", 0, "tomas reyland", "deny", False), ("z-port", 0, "tomas reyland", "deny", False)]
    assert len(posted) == 7 and posted[4] == ("z-port", 3, "tomas reyland", "say", True)
    assert len(cat.speaker_postings(space, ["reyland"], 2)) == 2  # the scan stops early
    assert [c.content for c in cat.claims_by_words(space, ["reyland"], stances=["say"], negated=False, limit=2)] == ["point 1", "point 5"]
    assert [c.content for c in cat.claims(space, speaker_keys=["tomas reyland"], negated=True)] == ["point 3"]
    names = cat.speaker_names(space, ["tomas reyland", "reyland"], 2)
    assert names["reyland"] == [("Port-B", 0, "Reyland")]
    # deny: port 0, z-port 0 (two of three); say: z-port 1, 5; negated say: z-port 3
    assert [n for _, n, _ in names["tomas reyland"]] == [0, 0, 1, 3, 5] and {a for a, _, _ in names["tomas reyland"]} == {"port", "z-port"}
    assert cat.claim_places(space, ["say", "confirm"], ["z-port", "rail", "port"]) == [
        ("port", 1, ["port:1"]), ("rail", 0, ["rail:0"]), *((("z-port", n, [f"z-port:{n % 3}"]) for n in (1, 3, 5)))]
    assert cat.claim_places(space, [], ["port"]) == [] and cat.claim_places(space, ["say"], []) == []


def test_a_schema_4_catalogue_gains_the_ledger_order_indexes(cat, kind, space, tmp_path, request) -> None:
    """Opening a catalogue an older whosaid wrote (schema 4) builds the indexes speaker and stance
    questions read in the ledger's order, and keeps every claim (and is marked, see above)."""
    write(cat, space, PORT)
    cat.close()
    if kind == "sqlite":
        import sqlite3

        db = sqlite3.connect(tmp_path / "catalogue.sqlite3")
        db.executescript("DROP INDEX claims_by_speaker_stance; DROP INDEX claims_by_stance; "
                         "CREATE INDEX claims_by_stance ON claims (space, stance); "
                         "ALTER TABLE spaces DROP COLUMN vectors_dirty; PRAGMA user_version = 4;")
        db.close()
        query = "SELECT name, sql FROM sqlite_master WHERE name LIKE 'claims_by_%'"
    else:
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
            conn.execute("DROP INDEX claims_by_speaker_stance")
            conn.execute("ALTER TABLE spaces DROP COLUMN vectors_dirty")
            conn.execute("UPDATE whosaid_meta SET value = '4' WHERE key = 'schema_version'")
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'claims_by_%'"
    again = open_catalogue(kind, tmp_path, request)
    try:
        with again._reading() as run:
            indexes = {name: sql for name, sql in run(query, ())}
        assert "speaker_key, stance, negated, article_id" in indexes["claims_by_speaker_stance"]
        assert "stance, article_id" in indexes["claims_by_stance"]
        assert again.ledger_places(space, ["deny"], 5, keys=["tomas reyland"]) == [("port", 0)]
        assert again.vectors_dirty(space)
    finally:
        again.close()


def paged() -> tuple:
    """A PDF-like article: three sentences on pages 1, 1 and 2, its page map stored with it."""
    article, sents, chunks, vecs, claims = make("report", "Port report", ["Page one opens.", "It goes on.", "Page two ends."])
    pages = [(0, 27, 1), (28, len(article.text), 2)]
    article = article.model_copy(update={"pages": pages})
    sents = [s.model_copy(update={"page": article.page_of(s.start)}) for s in sents]
    return article, sents, chunks, vecs, claims


def test_pages_are_stored_per_sentence_and_per_article(cat, space) -> None:
    """Schema 7: a PDF's page map comes back with its article, each sentence's page with the sentence
    and in the windows retrieval reads (what a citation's "page 3" is made of); other articles have none."""
    parts = paged()
    write(cat, space, parts)
    write(cat, space, RAIL)
    article, sents = parts[0], parts[1]
    assert [s.page for s in sents] == [1, 1, 2]
    assert cat.article(space, "report") == article and cat.article(space, "report").pages == [(0, 27, 1), (28, len(article.text), 2)]
    assert cat.sentences(space, "report") == sents
    assert [r[0].page for r in cat.window_sentences(space, [("report", 0, 2), ("rail", 0, 0)], DIM)] == [1, 1, 2, None]
    assert cat.article(space, "rail").pages == [] and [s.page for s in cat.sentences(space, "rail")] == [None, None]


# -- cross-article links and speakers over time (issue 13) ------------------------------------------

def dated(parts, published: str, source: str = "Wire"):
    article, *rest = parts
    return (article.model_copy(update={"published": published, "source": source}), *rest)


LATER = dated(make("later", "Reyland admits sale talks", ["Reyland confirmed the port sale talks.", "He spoke in Kessel."],
                   claims=[claim("later", "Reyland", "confirm", "the port sale talks", "reyland")]), "2026-03-09", "Ledger")


def test_links_are_stored_read_with_both_sentences_and_dropped_with_either_article(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, LATER)
    write(cat, space, RAIL)
    link = Link(kind="contradicts", score=0.7, from_article="later", from_seq=0, from_sentence=0, to_article="port", to_sentence=0, to_seq=0)
    other = Link(kind="responds", score=0.5, from_article="rail", from_seq=0, from_sentence=0, to_article="port", to_sentence=1)
    cat.add_links(space, [link, other])
    got = cat.links(space)
    assert [(x.from_article, x.to_article, x.kind) for x in got] == [("later", "port", "contradicts"), ("rail", "port", "responds")]
    x = got[0]
    assert (x.from_text, x.to_text) == ("Reyland confirmed the port sale talks.", "The minister denied the port sale.")
    assert (x.from_source, x.from_published, x.to_source, x.to_published, x.to_title) == ("Ledger", "2026-03-09", "Wire", "2026-03-01", "Port sale denied")
    assert x.from_claim.stance == "confirm" and x.to_claim.speaker == "Tomas Reyland" and got[1].to_claim is None and got[1].to_seq is None
    assert [y.kind for y in cat.links(space, kinds=["responds"])] == ["responds"]
    assert [y.from_article for y in cat.links(space, article_ids=["rail"])] == ["rail"]
    assert len(cat.links(space, to_articles=["port"])) == 2 and cat.links(space, to_articles=["later"]) == []
    assert [y.from_article for y in cat.links(space, limit=1, offset=1)] == ["rail"]
    assert cat.links(space, kinds=[]) == [] and cat.links(f"{space}-other") == []
    cat.add_links(space, [link.model_copy(update={"score": 0.9, "kind": "denies"})])  # the same ends: replaced
    assert [(y.kind, round(y.score, 2)) for y in cat.links(space, article_ids=["later"])] == [("denies", 0.9)]
    write(cat, space, PORT, version="v2")  # the answered article rewritten: every link to it goes
    assert cat.links(space) == []
    cat.add_links(space, [link, other])
    assert cat.delete_article(space, "rail")  # the answering article deleted: its links go
    assert [y.from_article for y in cat.links(space)] == ["later"]
    assert cat.delete_links(space, ["port"]) == 1 and cat.links(space) == []
    cat.add_links(space, [link])
    assert cat.delete_links(space) == 1 and cat.orphan_rows(space)["links"] == 0


def test_speaker_counts_timeline_and_placed_claims(cat, space) -> None:
    write(cat, space, dated(PORT, "2026-03-01"))
    write(cat, space, LATER)
    write(cat, space, dated(make("undated", "Reyland again", ["Reyland denied the sale again."],
                                 claims=[claim("undated", "Tomas Reyland", "deny", "the sale", "tomas reyland")]), ""))
    write(cat, space, dated(make("american", "Reyland once more", ["Reyland denied it once more."],
                                 claims=[claim("american", "Tomas Reyland", "deny", "the sale once more", "tomas reyland")]), "1/2/2027"))
    write(cat, space, RAIL)
    assert cat.speaker_counts(space, {}, 10) == [("tomas reyland", 3, 3, "2026-03-01", "2026-03-01"), ("nordrail", 1, 1, "2026-03-01", "2026-03-01"),
                                                 ("reyland", 1, 1, "2026-03-09", "2026-03-09")]  # "1/2/2027" is no ISO day: not a date here
    folded = cat.speaker_counts(space, {"reyland": "tomas reyland"}, 10)
    assert folded == [("tomas reyland", 4, 4, "2026-03-01", "2026-03-09"), ("nordrail", 1, 1, "2026-03-01", "2026-03-01")]
    assert cat.speaker_counts(space, {"reyland": "tomas reyland"}, 1, offset=1) == folded[1:]
    rows = cat.speaker_timeline(space, ["tomas reyland", "reyland"])
    assert [(c.article_id, seq, published) for seq, c, _, _, published, _ in rows] == [
        ("port", 0, "2026-03-01"), ("later", 0, "2026-03-09"), ("american", 0, "1/2/2027"), ("undated", 0, "")]  # unknown dates last
    assert rows[1][2:4] == ("Reyland admits sale talks", "Ledger") and len(cat.speaker_timeline(space, ["tomas reyland"], limit=1)) == 1
    assert cat.speaker_timeline(space, []) == []
    assert [(n, c.stance) for n, c in cat.placed_claims(space, ["port", "rail"])] == [(0, "deny"), (1, "say"), (0, "confirm")]
    assert [(n, c.article_id) for n, c in cat.placed_claims(space, ["port", "rail"], stances=["say"])] == [(1, "port")]
    assert {i: (src, pub) for i, _, src, _, pub in cat.article_meta(space, ["port", "later", "nope"])} == {"port": ("Wire", "2026-03-01"), "later": ("Ledger", "2026-03-09")}


def test_a_schema_6_catalogue_gains_pages_and_links_and_keeps_its_articles(cat, kind, space, tmp_path, request) -> None:
    """An older catalogue (no page columns, no links table, no links mark) migrates to 8: its articles
    read back unchanged, without pages; a PDF written after the migration keeps them; links can be stored."""
    write(cat, space, PORT)
    cat.close()
    if kind == "sqlite":
        db = sqlite3.connect(tmp_path / "catalogue.sqlite3")
        db.executescript(
            "ALTER TABLE articles DROP COLUMN pages; ALTER TABLE sentences DROP COLUMN page; DROP TABLE links; "
            "ALTER TABLE spaces DROP COLUMN links_dirty; PRAGMA user_version = 6;"
        )
        db.close()
    else:
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
            for statement in ("ALTER TABLE articles DROP COLUMN pages", "ALTER TABLE sentences DROP COLUMN page", "DROP TABLE links",
                              "ALTER TABLE spaces DROP COLUMN links_dirty", "UPDATE whosaid_meta SET value = '6' WHERE key = 'schema_version'"):
                conn.execute(statement)
    again = open_catalogue(kind, tmp_path, request)
    try:
        assert again.article(space, "port") == PORT[0] and again.sentences(space, "port") == PORT[1]
        write(again, space, paged())
        assert [s.page for s in again.sentences(space, "report")] == [1, 1, 2] and again.article(space, "report").pages
        write(again, space, LATER)
        again.add_links(space, [Link(kind="contradicts", score=0.7, from_article="later", from_seq=0, from_sentence=0,
                                     to_article="port", to_sentence=0, to_seq=0)])
        assert [x.kind for x in again.links(space)] == ["contradicts"] and not again.links_dirty(space)
    finally:
        again.close()


def test_the_links_mark_is_set_read_and_cleared_per_space(cat, space) -> None:
    assert not cat.links_dirty(space)  # a space never seen has nothing to relink
    cat.mark_links_dirty(space)
    assert cat.links_dirty(space) and not cat.links_dirty(f"{space}-other")
    cat.clear_links_dirty(space)
    assert not cat.links_dirty(space)

"""Filters (source, dates, article, speaker) on questions and on the ledger: parsed, resolved, applied
before ranking in retrieval (both paths: a small set scored whole, a large one restricting the dense
and lexical searches), in the catalogue (SQLite and PostgreSQL), the engine, the API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from rag.engine import Engine
from rag.filters import FilterError, Filters, FilterResolver, iso_day, ledger, make_filters
from rag.lexical import terms
from rag.retrieve import HybridSearch
from rag.settings import Settings
from rag.store import Store
from tests.test_catalogue_contract import PORT, RAIL, cat, kind, make, postgres_url, space, write  # noqa: F401 - fixtures
from ui.server import create_app

PORT_SALE = "01-harbour-minister-denies-port-sale"
WATER = "10-water-authority-rules-out-rationing"


# -- parsing ------------------------------------------------------------------------------------------
def test_dates_take_a_year_a_month_or_a_day_and_become_inclusive_iso_days() -> None:
    f = make_filters(since="2017", until="2017-02")
    assert (f.since, f.until) == ("2017-01-01", "2017-02-28")
    assert make_filters(since="2016-02", until="2016-02").until == "2016-02-29"
    assert make_filters(since="2026-04-02", until="2026-04-02").since == "2026-04-02"
    assert Filters(since="2024", until="2024").until == "2024-12-31"
    assert not Filters().active and Filters(sources=[" ", ""]).sources == [] and not Filters(sources=[" "]).active


@pytest.mark.parametrize("since,until,message", [
    ("March 2017", None, "since: expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got 'March 2017'"),
    ("2017-13", None, "since: '2017-13' is not a calendar date"),
    (None, "2017-02-30", "until: '2017-02-30' is not a calendar date"),
    ("2018", "2017", "since (2018) is after until (2017)"),
])
def test_a_bad_date_is_one_line_naming_the_option(since, until, message) -> None:
    with pytest.raises(FilterError) as e:
        make_filters(since=since, until=until)
    assert str(e.value) == message
    with pytest.raises(ValidationError):
        Filters(since=since or "", until=until or "")


def test_published_dates_as_sources_write_them_are_read_into_iso_days() -> None:
    assert iso_day("2026-04-02") == iso_day("April 2, 2026") == iso_day("2026-04-02T09:30:00Z") == "2026-04-02"
    assert iso_day("4/5/2017") == "2017-04-05"  # FA-KES writes month first
    assert iso_day("Wed, 05 Apr 2017 10:00:00 GMT") == "2017-04-05"  # RSS
    for unreadable in ("", "2017", "2017-04", "Monday", "5 April", "last week", "2017-02-30"):
        assert iso_day(unreadable) == "", unreadable


# -- the catalogue: lexical search restricted before ranking, in both engines -------------------------------
def test_lexical_search_inside_articles_ranks_only_their_chunks(cat, space) -> None:
    write(cat, space, PORT)
    write(cat, space, RAIL)
    wanted = terms("Who confirmed the strike at the port?")
    assert cat.search_chunks(space, wanted, 1)[0][0] in {c.id for c in RAIL[2]}
    inside = cat.search_chunks(space, wanted, 5, articles={"port"})
    # the port article's chunks still come back (the rail chunks outrank them, yet they are not what is dropped)
    assert inside and {i for i, _ in inside} <= {c.id for c in PORT[2]}
    assert cat.search_chunks(space, wanted, 5, articles=set()) == []
    assert cat.search_chunks(space, wanted, 5, alone=1, articles={"port"}) == cat.search_chunks(space, wanted, 5, alone=1, articles=["port"])
    assert {i for i, _ in cat.search_chunks(space, wanted, 5, alone=1, articles={"port"})} <= {c.id for c in PORT[2]}
    # a set past the statement-variable batch: one parameter, whatever the size
    many = {f"x{i}" for i in range(3000)} | {"rail"}
    assert {i for i, _ in cat.search_chunks(space, wanted, 5, articles=many)} <= {c.id for c in RAIL[2]}
    assert [c.article_id for c in cat.claims(space, article_ids=sorted(many))] == ["rail"]
    assert [r[0] for r in cat.article_meta(space)] == ["port", "rail"]
    assert cat.article_meta(space)[1] == ("rail", "Rail strike confirmed", "Ledger", "https://news.example/rail", "2026-03-01")
    assert cat.article_meta(space, ["rail", "nope"]) == cat.article_meta(space)[1:] and cat.article_meta(space, []) == []
    assert [r[0] for r in cat.article_meta(space, sorted(many))] == ["rail"]


# -- resolution and retrieval over the sample articles -------------------------------------------------------
@pytest.fixture(scope="module")
def engine(sample_store: Store) -> Engine:
    return Engine(sample_store)


def test_filters_resolve_to_the_articles_that_match_every_one(engine: Engine) -> None:
    resolver = FilterResolver(engine.store)
    scope = resolver.resolve(Filters(sources=["northern wire service"]))
    assert PORT_SALE in scope.articles and len(scope.articles) == 7
    june = resolver.resolve(Filters(since="2026-06", until="2026-07"))
    assert len(june.articles) == 3 and all(resolver.articles()[a].day[:7] in ("2026-06", "2026-07") for a in june.articles)
    both = resolver.resolve(Filters(sources=["Northern Wire Service"], since="2026-04-01", until="2026-04-30"))
    assert len(both.articles) == 2
    assert resolver.resolve(Filters(articles=[PORT_SALE, "no-such-article"])).articles == {PORT_SALE}
    reyland = resolver.resolve(Filters(speaker="Reyland"))
    assert PORT_SALE in reyland.articles and {c.speaker for c in reyland.speaker_claims} == {"Tomas Reyland", "Reyland"}
    assert resolver.resolve(Filters(speaker="tomas reyland")).articles == reyland.articles
    assert resolver.resolve(Filters(sources=["Nobody"])).empty
    assert resolver.sources() == ["Coastal Broadcasting", "Meridian Press", "Northern Wire Service", "Southern Courier Agency",
                                  "Southern Press Agency", "Sportwire", "TechDesk News Service"]
    assert resolver.date_range() == ("2025-08-20", "2026-07-22")


def test_articles_without_a_readable_date_are_left_out_by_any_date_filter(settings, hash_embedder, tmp_path) -> None:
    from ingest.pipeline import ingest

    d = tmp_path / "in"
    d.mkdir()
    (d / "dated.txt").write_text("Dated\n\nKESSEL, April 2, 2026 (Valdoria Ledger) — The mayor said the bridge will reopen.\n")
    (d / "undated.txt").write_text("Undated\n\nThe mayor said the bridge will reopen on Monday.\n")
    (d / "fakes.jsonl").write_text(json.dumps({"id": "fk", "title": "FA-KES style", "text": "The governor said the road is open.",
                                               "publisher": "sana", "date": "4/5/2017"}) + "\n")
    store = Store(settings, hash_embedder)
    ingest([d], store, progress=False)
    resolver = FilterResolver(store)
    assert resolver.resolve(Filters(since="1900")).articles == {"dated", "fk"}
    assert resolver.resolve(Filters(until="2017-04-05")).articles == {"fk"}
    assert resolver.resolve(Filters(sources=["SANA"], since="2017-04", until="2017-04")).articles == {"fk"}
    assert resolver.resolve(Filters(sources=["valdoria ledger"])).articles == {"dated"}
    assert resolver.resolve(Filters(sources=["Valdoria"])).empty  # exact names, not words of them
    answer = Engine(store).ask("Will the bridge reopen?", filters=Filters(since="2026"))
    assert {c.article_id for c in answer.citations} <= {"dated"}
    store.close()


def test_retrieval_applies_the_filter_before_ranking_on_both_paths(engine: Engine, monkeypatch) -> None:
    question = "How many containers did the port handle last year?"
    search = HybridSearch(engine.store)
    best = search.candidates(question, 5)[0].sentence.article_id
    others = [a for a in engine.filters.articles() if a != best]
    far = WATER  # an article about water rationing: nowhere near the top for this question
    assert far != best and far not in {c.sentence.article_id for c in search.candidates(question, 10)}
    # a small set is scored whole: the far article's best sentences come back, nothing else
    got = search.candidates(question, 5, within={far})
    assert got and {c.sentence.article_id for c in got} == {far}
    scored = search.candidates(question, 5, articles=[far])
    assert [c.sentence.id for c in got] == [c.sentence.id for c in scored]
    # a large set restricts the dense and lexical searches themselves (the path for sets above WHOLE_ARTICLES)
    monkeypatch.setattr(HybridSearch, "WHOLE_ARTICLES", 0)
    assert {c.sentence.article_id for c in search.candidates(question, 5, within={far})} == {far}
    rest = search.candidates(question, 10, within=set(others))
    assert len(rest) == 10 and best not in {c.sentence.article_id for c in rest}
    qv = engine.store.embedder.embed_query(question)
    near = engine.store.nearest(qv, 3, {far})
    assert near and {c.article_id for c in engine.store.catalogue.chunks(engine.store.space, [i for i, _ in near])} == {far}
    # the dense search's three ways (Chroma's where, one read of the nearest 4n falling back to the where,
    # deepening past the where-list size) give the same nearest chunks, for a small set and a large one
    from rag.store.chroma import ChromaVectors

    for wanted in ({far}, set(others)):
        results = []
        for try_deepening, where_in_most in ((10**9, 10**9), (0, 10**9), (0, 0)):
            monkeypatch.setattr(ChromaVectors, "TRY_DEEPENING", try_deepening)
            monkeypatch.setattr(ChromaVectors, "WHERE_IN_MOST", where_in_most)
            results.append([i for i, _ in engine.store.nearest(qv, 8, wanted)])
        chunks = engine.store.catalogue.chunks(engine.store.space, results[0])
        assert results[0] and results[0] == results[1] == results[2] and {c.article_id for c in chunks} <= wanted


def test_a_filtered_question_answers_from_inside_the_filter(engine: Engine) -> None:
    """The best sentence overall lies outside the filter: the answer quotes the best one inside it."""
    free = engine.ask("What was agreed?")
    assert free.citations[0].article_id == "02-foreign-minister-confirms-envoy-talks"
    for source, article in (("Sportwire", "06-club-denies-striker-transfer"), ("northern wire service", "08-generals-meet-at-border-crossing")):
        inside = engine.ask("What was agreed?", filters=Filters(sources=[source]))
        assert not inside.abstained and {c.article_id for c in inside.citations} == {article}


def test_a_filter_that_matches_nothing_abstains_and_never_answers_unfiltered(engine: Engine) -> None:
    for question in ("Who denied what?", "How many containers did the port handle last year?"):
        answer = engine.ask(question, filters=Filters(sources=["Nobody"], since="2026"))
        assert answer.abstained and not answer.citations and not answer.claims
        assert answer.text == "No articles match the filters (source: Nobody; since 2026-01-01)."
    events = list(engine.stream("Who denied what?", filters=Filters(until="1990")))
    assert events[-1].answer.text == "No articles match the filters (until 1990-12-31)."


@pytest.mark.parametrize("few", [32, 0], ids=["claims-of-few-articles-read-whole", "reads-restricted-by-speaker-topic-or-article"])
def test_attribution_answers_keep_to_the_filters(engine: Engine, few: int, monkeypatch) -> None:
    from rag.attribution.answer import AttributionAnswerer

    monkeypatch.setattr(AttributionAnswerer, "SCOPED_ARTICLES", few)
    monkeypatch.setattr(HybridSearch, "WHOLE_ARTICLES", few)
    dates = {a: m.day for a, m in engine.filters.articles().items()}
    free = engine.ask("Who denied what?")
    assert len({c.article_id for c in free.claims}) > 2
    may = engine.ask("Who denied what?", filters=Filters(since="2026-05"))
    assert may.claims and all(dates[c.article_id] >= "2026-05-01" for c in may.claims)
    assert all(dates[c.article_id] >= "2026-05-01" for c in may.citations)
    one = engine.ask("Who denied what?", filters=Filters(articles=[PORT_SALE]))
    assert one.claims and {c.article_id for c in one.claims} == {PORT_SALE}
    by = engine.ask("Who denied what?", filters=Filters(speaker="Reyland"))
    assert by.claims and {c.speaker for c in by.claims} == {"Tomas Reyland"}
    # the asked speaker outside the filter: not reported there, said so with the filters
    out = engine.ask("What did Reyland deny?", filters=Filters(articles=[WATER]))
    assert out.abstained and "Filters: article: " + WATER in out.text and not out.claims
    # a topic inside the filters, and the asked speaker with a filtered speaker who is someone else
    topic = engine.ask("Who denied the port sale?", filters=Filters(sources=["Northern Wire Service"], until="2026-03"))
    assert topic.claims and {c.article_id for c in topic.claims} <= {PORT_SALE, "14-port-lease-talks-resume"}
    assert {c.speaker for c in topic.claims} == {"Tomas Reyland"}
    assert engine.ask("What did Reyland deny?", filters=Filters(speaker="Greta Marsh")).abstained


def test_the_ledger_under_filters(sample_store: Store) -> None:
    everything = ledger(sample_store, None)
    assert ledger(sample_store, Filters()) == everything
    reyland = ledger(sample_store, Filters(speaker="Reyland"))
    assert reyland and {c.speaker_key for c in reyland} == {"tomas reyland", "reyland"}
    assert ledger(sample_store, Filters(speaker="Reyland"), stance="deny") == [c for c in reyland if c.stance == "deny"]
    wire = ledger(sample_store, Filters(sources=["Northern Wire Service"]))
    ids = FilterResolver(sample_store).resolve(Filters(sources=["Northern Wire Service"])).articles
    assert wire == [c for c in everything if c.article_id in ids]
    assert ledger(sample_store, Filters(sources=["Nobody"])) == []


# -- the API ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(sample_store: Store) -> TestClient:
    settings = Settings(home=sample_store.home)
    return TestClient(create_app(settings, engine_factory=lambda s, name: Engine(sample_store), chat=False))


def test_the_api_takes_filters_in_the_ask_body_and_on_the_ledger(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "Who denied what?", "filters": {"articles": [PORT_SALE]}})
    assert r.status_code == 200 and {c["article_id"] for c in r.json()["claims"]} == {PORT_SALE}
    r = client.post("/api/ask", json={"question": "Who denied what?", "filters": {"sources": ["Nobody"]}})
    assert r.json()["abstained"] and r.json()["answer"].startswith("No articles match the filters")
    r = client.post("/api/ask", json={"question": "Who denied what?", "filters": {"since": "March 2026"}})
    assert r.status_code == 422 and "since: expected a date" in json.dumps(r.json())
    with client.stream("POST", "/api/ask/stream", json={"question": "Who denied what?", "filters": {"speaker": "Reyland"}}) as s:
        events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
    assert {c["speaker"] for c in events[-1]["answer"]["claims"]} == {"Tomas Reyland"}
    rows = client.get("/api/claims", params={"source": "northern wire service", "since": "2026-04"}).json()
    assert rows
    dates = client.app.state.engines.get(None).filters.articles()
    assert all(dates[r["article_id"]].day >= "2026-04-01" and dates[r["article_id"]].source == "Northern Wire Service" for r in rows)
    both = client.get("/api/claims", params=[("article", PORT_SALE), ("article", WATER)]).json()
    assert {r["article_id"] for r in both} == {PORT_SALE, WATER}
    assert {r["speaker_key"] for r in client.get("/api/claims", params={"speaker": "reyland"}).json()} == {"tomas reyland"}
    assert client.get("/api/claims", params={"source": "Nobody"}).json() == []
    r = client.get("/api/claims", params={"until": "2026-02-30"})
    assert r.status_code == 422 and r.json()["detail"] == "until: '2026-02-30' is not a calendar date"


# -- the CLI --------------------------------------------------------------------------------------------------
def _cli(sample_store: Store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(sample_store.home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_ask_and_claims_take_the_filters(sample_store: Store) -> None:
    out = json.loads(_cli(sample_store, "ask", "Who denied what?", "--article", PORT_SALE, "--json").stdout)
    assert out["claims"] and {c["article_id"] for c in out["claims"]} == {PORT_SALE}
    r = _cli(sample_store, "ask", "Who denied what?", "--source", "Nobody", "--since", "2026-03")
    assert r.returncode == 0 and r.stdout.strip() == "No articles match the filters (source: Nobody; since 2026-03-01)."
    r = _cli(sample_store, "ask", "Who denied what?", "--since", "03/2026")
    assert r.returncode == 2 and r.stderr.strip() == "whosaid: --since: expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got '03/2026'"
    r = _cli(sample_store, "claims", "--until", "2026-13-01")
    assert r.returncode == 2 and r.stderr.strip() == "whosaid: --until: '2026-13-01' is not a calendar date"
    rows = [json.loads(line) for line in _cli(sample_store, "claims", "--speaker", "Reyland", "--source", "Northern Wire Service",
                                                "--json").stdout.splitlines()]
    assert rows and {r["speaker_key"] for r in rows} == {"tomas reyland"}
    r = _cli(sample_store, "claims", "--article", PORT_SALE, "--article", WATER)
    assert r.returncode == 0 and f"({PORT_SALE}:" in r.stdout and f"({WATER}:" in r.stdout

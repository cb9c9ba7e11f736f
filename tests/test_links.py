"""Cross-article links (rag/attribution/links.py), the speaker timeline, their CLI commands and API
routes, the "Who denied what the Valdoria Ledger reported?" answer, and the links eval, on a tiny
handwritten corpus in a real SQLite catalogue and Chroma on disk with the real embedder (meaning
similarity is what the links rest on, so the hashing fake would test nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evals.links import GoldLink, evaluate, is_links_suite, load_links_suite, score
from ingest.pipeline import ingest
from rag.attribution.links import date_ok, rebuild_links
from rag.attribution.timeline import resolve_speaker, speakers, timeline
from rag.engine import Engine
from rag.settings import LinksSettings, Settings
from rag.store import Store
from rag.types import Link
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parents[1]

#: A report (the Valdoria Ledger, March 2), its denial (March 4), the same speaker confirming it
#: (March 10), and a denial published before the report (February 20), which answers nothing in it.
CORPUS = {
    "01-ledger-quota.txt": """Ledger Finds Cod Quota Sold to Foreign Fleet

KESSEL, March 2, 2026 (Valdoria Ledger) — The fisheries ministry sold half of the northern cod quota to a foreign trawler fleet for 12 million valdors, according to contracts seen by the Valdoria Ledger.

The contracts were signed in January, the newspaper found. Local fishermen said they had never been consulted.
""",
    "02-minister-denies-quota-sale.txt": """Fisheries Minister Denies Selling Cod Quota

VALDORIA CITY, March 4, 2026 (Northern Wire Service) — Fisheries minister Lena Horvath on Wednesday denied that her ministry had sold half of the northern cod quota to a foreign trawler fleet.

Horvath said the spring season would open on time. The harbour was busy on Wednesday.
""",
    "03-horvath-confirms-quota-deal.txt": """Horvath Confirms Quota Deal With Foreign Fleet

KESSEL, March 10, 2026 (Meridian Press) — Fisheries minister Lena Horvath confirmed on Monday that her ministry had sold half of the northern cod quota to a foreign trawler fleet.

Opposition lawmakers called for an inquiry.
""",
    "04-earlier-denial.txt": """Ministry Rejects Rumours About Cod Quota

KESSEL, February 20, 2026 (Coastline Review) — Fisheries ministry spokesman Ivo Brandt rejected rumours that half of the northern cod quota would be sold to a foreign trawler fleet.

Trawlers stayed in port because of storms.
""",
}
REPORT, DENIAL, CONFIRMATION, EARLIER = (name.removesuffix(".txt") for name in CORPUS)


def write_corpus(folder: Path, names=tuple(CORPUS)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(CORPUS[name], encoding="utf-8")
    return folder


@pytest.fixture
def store(tmp_path: Path, minilm):
    s = Store(Settings(home=tmp_path / "home"), minilm)
    yield s
    s.close()


def ends(links: list[Link]) -> set[tuple[str, str, int, str, int]]:
    return {(x.kind, x.from_article, x.from_sentence, x.to_article, x.to_sentence) for x in links}


EXPECTED = {
    ("denies", DENIAL, 0, REPORT, 0),
    ("responds", CONFIRMATION, 0, REPORT, 0),
    ("contradicts", CONFIRMATION, 0, DENIAL, 0),
}


def test_ingest_links_a_denial_a_response_and_a_contradiction_and_nothing_across_dates_out_of_order(store, tmp_path) -> None:
    report = ingest([write_corpus(tmp_path / "in")], store, progress=False)
    assert report.added == 4 and report.links == 3
    links = store.catalogue.links(store.space)
    assert ends(links) == EXPECTED  # the February denial precedes the report: no link from it
    denial = next(x for x in links if x.kind == "denies")
    assert "denied that her ministry had sold half" in denial.from_text and "sold half of the northern cod quota" in denial.to_text
    assert (denial.from_source, denial.from_published, denial.to_source, denial.to_published) == (
        "Northern Wire Service", "2026-03-04", "Valdoria Ledger", "2026-03-02")
    assert denial.from_claim is not None and denial.from_claim.speaker == "Lena Horvath" and denial.from_claim.stance == "deny"
    contradiction = next(x for x in links if x.kind == "contradicts")
    assert contradiction.to_claim is not None and contradiction.to_claim.stance == "deny"  # the claim it takes back


def test_links_are_found_both_ways_whatever_order_articles_arrive_in(store, tmp_path) -> None:
    """The denial first, the report it answers later (dated earlier): the report's ingest finds it."""
    ingest([write_corpus(tmp_path / "a", (DENIAL + ".txt",))], store, progress=False)
    assert store.catalogue.links(store.space) == []
    ingest([write_corpus(tmp_path / "b", (REPORT + ".txt",))], store, progress=False)
    assert ends(store.catalogue.links(store.space)) == {("denies", DENIAL, 0, REPORT, 0)}


def test_deleting_or_replacing_an_article_drops_its_links_both_ways(store, tmp_path) -> None:
    folder = write_corpus(tmp_path / "in")
    ingest([folder], store, progress=False)
    assert store.delete(REPORT)
    assert ends(store.catalogue.links(store.space)) == {("contradicts", CONFIRMATION, 0, DENIAL, 0)}
    ingest([folder], store, progress=False)  # the report again: its links come back
    assert ends(store.catalogue.links(store.space)) == EXPECTED
    # the denial rewritten to deny something else: its old links go with its old rows, none is found anew
    (folder / (DENIAL + ".txt")).write_text(CORPUS[DENIAL + ".txt"].replace(
        "denied that her ministry had sold half of the northern cod quota to a foreign trawler fleet",
        "denied that the spring season would be delayed by the storms"), encoding="utf-8")
    report = ingest([folder], store, progress=False)
    assert report.updated == 1
    assert ends(store.catalogue.links(store.space)) == {("responds", CONFIRMATION, 0, REPORT, 0)}


def test_links_a_failed_run_left_out_are_computed_by_the_next_ingest(store, tmp_path, monkeypatch) -> None:
    import rag.attribution.links as links_module

    def broken(*args, **kwargs):
        raise RuntimeError("vector store gone")

    folder = write_corpus(tmp_path / "in")
    monkeypatch.setattr(links_module, "link_articles", broken)
    report = ingest([folder], store, progress=False)
    assert report.added == 4 and any("could not link 4 articles" in n for n in report.notices)
    assert store.catalogue.links(store.space) == [] and store.catalogue.links_dirty(store.space)
    monkeypatch.undo()
    again = ingest([folder], store, progress=False)  # nothing changed, yet the mark makes it link everything
    assert again.unchanged == 4 and ends(store.catalogue.links(store.space)) == EXPECTED
    assert not store.catalogue.links_dirty(store.space)


def test_rebuild_recomputes_every_link(store, tmp_path) -> None:
    store.settings.links.enabled = False
    ingest([write_corpus(tmp_path / "in")], store, progress=False)
    assert store.catalogue.links(store.space) == []
    seen = []
    with store.writing():
        assert rebuild_links(store, progress=seen.append) == 3
    assert len(seen) == 4 and ends(store.catalogue.links(store.space)) == EXPECTED


def test_an_unknown_date_links_only_when_the_similarity_is_very_high(store, tmp_path) -> None:
    assert date_ok("2026-03-02", "2026-03-04", 0.1, LinksSettings()) and not date_ok("2026-03-05", "2026-03-04", 0.99, LinksSettings())
    assert not date_ok("", "2026-03-04", 0.5, LinksSettings(unknown_date=0.6)) and date_ok("", "2026-03-04", 0.7, LinksSettings(unknown_date=0.6))
    # "4/13/2017" sorts before "4/4/2017" as text: a date that is no ISO day counts as unknown
    assert not date_ok("4/13/2017", "4/4/2017", 0.5, LinksSettings(unknown_date=0.6))
    undated = CORPUS[DENIAL + ".txt"].replace("VALDORIA CITY, March 4, 2026 (Northern Wire Service) — ", "")
    folder = write_corpus(tmp_path / "in", (REPORT + ".txt",))
    (folder / "undated.txt").write_text(undated, encoding="utf-8")
    store.settings.links.unknown_date = 1.01  # nothing is that similar: the order cannot be checked, so no link
    ingest([folder], store, progress=False)
    assert store.catalogue.links(store.space) == []
    store.settings.links.unknown_date = 0.6
    with store.writing():
        rebuild_links(store)
    assert ends(store.catalogue.links(store.space)) == {("denies", "undated", 0, REPORT, 0)}


def test_the_sample_articles_hold_one_link_at_the_tuned_threshold(sample_store) -> None:
    """samples/articles (checked at the threshold tuned on samples/desk): Atlas Maritime confirming
    the lease talks the Coastline Review had reported (01 and 14 are one port story). Reyland's
    "has denied that the port is for sale" in 14 repeats his own "not for sale" of 01: no link."""
    with sample_store.writing():
        rebuild_links(sample_store)
    links = sample_store.catalogue.links(sample_store.space)
    assert ends(links) == {("responds", "14-port-lease-talks-resume", 1, "01-harbour-minister-denies-port-sale", 2)}
    assert "Coastline Review reported" in links[0].to_text and "Atlas Maritime Group confirmed" in links[0].from_text


def test_speakers_and_a_timeline_in_date_order_with_links(store, tmp_path) -> None:
    ingest([write_corpus(tmp_path / "in")], store, progress=False)
    listed = speakers(store, limit=10)
    assert listed[0].key == "lena horvath" and (listed[0].claims, listed[0].articles, listed[0].first, listed[0].last) == (3, 2, "2026-03-04", "2026-03-10")
    assert listed[0].name == "Lena Horvath"
    assert [s.key for s in listed] == ["lena horvath", "ivo brandt"]
    assert [s.key for s in speakers(store, limit=1, offset=1)] == ["ivo brandt"]  # paged
    assert resolve_speaker(store, "Horvath") == resolve_speaker(store, "Lena Horvath") == resolve_speaker(store, "lena horvath") == "lena horvath"
    assert resolve_speaker(store, "Nobody Here") is None
    entries = timeline(store, "lena horvath")
    assert [(e.published, e.claim.stance) for e in entries] == [("2026-03-04", "deny"), ("2026-03-04", "say"), ("2026-03-10", "confirm")]
    assert (entries[0].source, entries[0].title) == ("Northern Wire Service", "Fisheries Minister Denies Selling Cod Quota")
    assert {x.kind for x in entries[0].links} == {"denies", "contradicts"}  # the one it makes, the one that answers it
    assert entries[1].links == [] and {x.kind for x in entries[2].links} == {"responds", "contradicts"}


def test_who_denied_what_the_valdoria_ledger_reported(store, tmp_path) -> None:
    ingest([write_corpus(tmp_path / "in")], store, progress=False)
    engine = Engine(store)
    answer = engine.ask("Who denied what the Valdoria Ledger reported?")
    assert not answer.abstained
    assert answer.text.splitlines()[0] == "Lena Horvath (Fisheries minister):"
    quotes = {c.marker: (c.article_id, c.sentence_index) for c in answer.citations}
    assert quotes == {1: (DENIAL, 0), 2: (REPORT, 0)}  # the denying sentence and the reported one
    assert "denied [1]" in answer.text and "answering [2] (Valdoria Ledger" in answer.text
    assert [c.speaker for c in answer.claims] == ["Lena Horvath"]
    # a speaker's report: the answered sentence must be that speaker's claim
    own = engine.ask("Who confirmed what Lena Horvath denied?")
    assert not own.abstained and "confirmed [1]" in own.text and "contradicting what they said [2]" in own.text
    assert {c.marker: (c.article_id, c.sentence_index) for c in own.citations} == {1: (CONFIRMATION, 0), 2: (DENIAL, 0)}
    # a report nobody denied, an outlet nobody quotes: "The articles do not say", never a guess
    for question in ("Who denied what the Meridian Press reported?", "Who denied what the Kessel Gazette reported?"):
        none = engine.ask(question)
        assert none.abstained and none.citations == [] and none.text.startswith("The articles do not say that anyone denied")


def test_a_speaker_turning_is_answered_from_the_contradictions(store, tmp_path) -> None:
    ingest([write_corpus(tmp_path / "in")], store, progress=False)
    engine = Engine(store)
    for question in ("What did Lena Horvath deny and later confirm?", "What did Horvath deny in March and confirm in March 2026?",
                     "Who denied that her ministry had sold the cod quota and later confirmed it?"):
        answer = engine.ask(question)
        assert not answer.abstained, question
        assert answer.text == ("Lena Horvath (Fisheries minister): denied [1] (Northern Wire Service, 2026-03-04), "
                               "then confirmed [2] (Meridian Press, 2026-03-10)"), question
        assert [(c.marker, c.article_id) for c in answer.citations] == [(1, DENIAL), (2, CONFIRMATION)]
    for question in ("What did Lena Horvath deny in February and confirm in March?", "What did Lena Horvath confirm and later deny?",
                     "Who denied the port sale and later confirmed it?"):
        answer = engine.ask(question)
        assert answer.abstained and answer.citations == [] and answer.text.startswith("The articles do not say that"), question


def test_questions_about_what_an_outlet_or_speaker_reported_are_told_from_topics() -> None:
    from rag.attribution.lexicon import load_lexicon
    from rag.attribution.questions import parse

    lexicon = load_lexicon()
    for question, reporter in (("Who denied what the Valdoria Ledger reported?", "Valdoria Ledger"),
                               ("Who rejected what Coastline Review reported?", "Coastline Review"),
                               ("Who denied the Valdoria Ledger's report?", "Valdoria Ledger"),
                               ("Who denied what Reyland said?", "Reyland")):
        q = parse(question, lexicon)
        assert q is not None and (q.reporter, q.stance) == (reporter, "deny"), question
    # "leak" is a verb of the lexicon, yet this asks about a topic, not about what "the data" leaked
    q = parse("Who denied what about the data leak?", lexicon)
    assert q is not None and (q.reporter, q.topic) == ("", "the data leak")


def test_cli_timeline_and_links(store, tmp_path) -> None:
    folder = write_corpus(tmp_path / "in")
    home = store.settings.home
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WHOSAID_HOME": str(home)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ui.cli", *a], capture_output=True, text=True, env=env, timeout=600)  # noqa: E731
    assert run("ingest", str(folder)).returncode == 0
    out = run("claims", "--speaker", "Horvath", "--timeline")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Lena Horvath (Fisheries minister) · 3 claims, in date order"
    assert lines[1].startswith("2026-03-04  Northern Wire Service   deny") and f"({DENIAL}:0)" in lines[1]
    assert any(line.strip().startswith("denies -> Valdoria Ledger, 2026-03-02") for line in lines)
    assert any(line.strip().startswith("<- contradicts by Lena Horvath Meridian Press, 2026-03-10") for line in lines)
    rows = [json.loads(line) for line in run("claims", "--speaker", "lena horvath", "--timeline", "--json").stdout.splitlines()]
    assert [r["published"] for r in rows] == ["2026-03-04", "2026-03-04", "2026-03-10"] and rows[0]["links"][0]["to"]["source"]
    assert run("claims", "--speaker", "Nobody", "--timeline").returncode == 1
    speakers = [json.loads(line) for line in run("speakers", "--json").stdout.splitlines()]
    assert speakers[0] == {"key": "lena horvath", "name": "Lena Horvath", "claims": 3, "articles": 2, "first": "2026-03-04", "last": "2026-03-10"}
    assert [json.loads(line) for line in run("speakers", "--json", "--offset", "1").stdout.splitlines()] == speakers[1:]
    assert run("speakers").stdout.splitlines()[0].startswith("Lena Horvath") and "[lena horvath]" in run("speakers").stdout
    listed = [json.loads(line) for line in run("links", "--json").stdout.splitlines()]
    assert {(x["kind"], x["from"]["article_id"], x["to"]["article_id"]) for x in listed} == {(k, a, b) for k, a, _, b, _ in EXPECTED}
    rebuilt = run("links", "--rebuild")
    assert rebuilt.returncode == 0 and rebuilt.stdout.strip() == "3 links over 4 articles"
    assert "contradicts (0." in run("links", "--kind", "contradicts").stdout
    assert run("links", "--kind", "agrees").returncode == 2


def test_api_speakers_claims_and_links(store, tmp_path) -> None:
    from ui.server import create_app

    ingest([write_corpus(tmp_path / "in")], store, progress=False)
    client = TestClient(create_app(store.settings, engine_factory=lambda s, name: Engine(store), chat=False))
    listed = client.get("/api/speakers", params={"limit": 2}).json()
    assert len(listed) == 2 and listed[0] == {"key": "lena horvath", "name": "Lena Horvath", "claims": 3, "articles": 2,
                                              "first": "2026-03-04", "last": "2026-03-10"}
    assert client.get("/api/speakers", params={"limit": 1, "offset": 1}).json() == listed[1:]
    body = client.get("/api/speakers/lena horvath/claims").json()
    assert body["key"] == "lena horvath" and [c["stance"] for c in body["claims"]] == ["deny", "say", "confirm"]
    assert body["claims"][0]["links"][0]["from"]["text"] and body["claims"][0]["title"] == "Fisheries Minister Denies Selling Cod Quota"
    assert client.get("/api/speakers/nobody/claims").status_code == 404
    links = client.get("/api/links").json()
    assert {(x["kind"], x["from"]["article_id"], x["from"]["sentence_index"], x["to"]["article_id"], x["to"]["sentence_index"])
            for x in links} == EXPECTED
    assert [x["kind"] for x in client.get("/api/links", params={"kind": "denies"}).json()] == ["denies"]
    assert len(client.get("/api/links", params={"article": EARLIER}).json()) == 0
    assert client.get("/api/links", params={"kind": "agrees"}).status_code == 422


def test_scoring_matches_by_article_and_sentence_and_reports_kinds_apart() -> None:
    gold = [GoldLink("L1", "denies", "b", "denied the sale", "a", "sold the port"),
            GoldLink("L2", "contradicts", "c", "confirmed", "b", "denied")]
    right = Link(kind="responds", score=0.9, from_article="b", from_seq=0, from_sentence=0, to_article="a", to_sentence=3,
                 from_text="X denied the sale.", to_text="They sold the port.")
    wrong = right.model_copy(update={"to_article": "z"})
    m = score([right, wrong], gold, {})
    assert (m["precision"], m["recall"], m["matched"]) == (0.5, 0.5, 1)  # the kind is ignored here ...
    assert m["denies"]["recall"] == 0.0 and m["responds"]["precision"] == 0.0  # ... and checked per kind
    assert score([], gold, {})["recall"] == 0.0


def test_the_links_eval_against_the_desk_gold(tmp_path, minilm) -> None:
    """The linker against samples/desk's 36 hand-made gold links (the threshold was tuned on them),
    and `whosaid eval` recognising a links suite and writing its report."""
    path = ROOT / "evals" / "suites" / "desk_links.jsonl"
    assert is_links_suite(path) and not is_links_suite(ROOT / "evals" / "suites" / "samples.jsonl")
    suite = load_links_suite(path)
    assert len(suite.gold) >= 30
    store = Store(Settings(home=tmp_path / "home"), minilm)
    try:
        results = evaluate(store, suite)
    finally:
        store.close()
    m = results["metrics"]
    assert m["precision"] >= 0.75 and m["recall"] >= 0.7, m
    assert [r["threshold"] for r in results["sweep"]] == sorted(r["threshold"] for r in results["sweep"])
    low, high = results["sweep"][0], results["sweep"][-1]
    assert low["recall"] >= high["recall"] and high["precision"] >= low["precision"]

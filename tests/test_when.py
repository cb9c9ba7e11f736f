"""Time in an attribution question: "since May 1, 2026", "in April", "before the Ledger reported it was
cracked". Parsed off the topic, read into days by rag.filters (the one home of dates), resolved into
the articles published then, and never widened: an event not found, or a window with no article,
abstains and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.attribution.answer import _in_month
from rag.attribution.lexicon import load_lexicon
from rag.attribution.questions import parse
from rag.engine import Engine
from rag.filters import Filters, day_bounds, day_window, in_range
from rag.settings import Settings
from rag.store import Store

DESK = Path(__file__).resolve().parents[1] / "samples" / "desk"
CRACKED = "08-ledger-breakwater-cracked-during-dredging"  # Valdoria Ledger, 2026-04-28
GOSSIP = "04-deputy-minister-says-storms-forced-quick-deal"  # Kessel Evening Post, 2026-04-14


# -- reading a date ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,window", [
    ("May 1, 2026", ("2026-05-01", "2026-05-01")),
    ("1 May 2026", ("2026-05-01", "2026-05-01")),
    ("3rd of May 2026", ("2026-05-03", "2026-05-03")),
    ("April 2026", ("2026-04-01", "2026-04-30")),
    ("Feb 2024", ("2024-02-01", "2024-02-29")),
    ("2026", ("2026-01-01", "2026-12-31")),
    ("2026-04", ("2026-04-01", "2026-04-30")),
    ("2026-04-28", ("2026-04-28", "2026-04-28")),
    # no year: the latest one that began on or before the anchor (the collection's last day)
    ("March", ("2026-03-01", "2026-03-31")),
    ("June", ("2026-06-01", "2026-06-30")),
    ("July", ("2025-07-01", "2025-07-31")),
    ("June 20", ("2025-06-20", "2025-06-20")),
    ("Feb 30, 2026", None), ("2026-13", None), ("the vote", None), ("", None),
])
def test_a_date_as_a_question_writes_it_becomes_its_first_and_last_day(text: str, window) -> None:
    assert day_window(text, anchor="2026-06-10") == window


def test_before_and_after_exclude_the_day_since_and_until_include_it() -> None:
    assert day_bounds("before", "2026-04-28", "2026-04-28") == ("", "2026-04-27")
    assert day_bounds("after", "2026-04-01", "2026-04-30") == ("2026-05-01", "")
    assert day_bounds("since", "2026-05-01", "2026-05-31") == ("2026-05-01", "")
    assert day_bounds("until", "2026-05-01", "2026-05-31") == ("", "2026-05-31")
    assert day_bounds("in", "2026-05-01", "2026-05-31") == ("2026-05-01", "2026-05-31")
    assert in_range("2026-05-01", "2026-05-01", "") and not in_range("2026-04-30", "2026-05-01", "")
    assert not in_range("", "", "")  # a day that cannot be read is in no range


def test_a_month_of_a_turned_question_is_its_own_years_month_when_no_year_is_given() -> None:
    assert _in_month("2026-04-10", "April") and _in_month("April 10, 2026", "April 2026")
    assert not _in_month("2026-05-10", "April") and not _in_month("2025-04-10", "April 2026") and not _in_month("", "April")


# -- parsing ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon(Settings().claims.lexicon)


@pytest.mark.parametrize("question,speaker,topic,when,event", [
    ("What has Tomas Reyland said about the dredging contract since May 1, 2026?", "Tomas Reyland", "the dredging contract",
     ("since", "May 1, 2026"), ("", "")),
    ("What did Reyland deny in April?", "Reyland", "", ("in", "April"), ("", "")),
    ("Who confirmed the meeting in May 2026, and to whom?", "", "the meeting", ("in", "May 2026"), ("", "")),
    ("What did the Harbour Authority say about the breakwater before the Ledger reported it was cracked?", "Harbour Authority",
     "the breakwater", ("before", "the Ledger reported it was cracked"), ("the Ledger", "it was cracked")),
    ("List the denials by Reyland until 2026-04-30", "Reyland", "", ("until", "2026-04-30"), ("", "")),
    # no date, no reporting clause: the words stay the topic
    ("What did Reyland say in the port?", "Reyland", "the port", ("", ""), ("", "")),
    ("Who denied the report before the vote?", "", "the report before the vote", ("", ""), ("", "")),
    # a content clause's time is what was said: "visited in February", not articles of February
    ("Who did not deny that Atlas Maritime representatives had visited the Port of Kessel in February?", "",
     "that Atlas Maritime representatives had visited the Port of Kessel in February", ("", ""), ("", "")),
    ("Did Reyland deny that prices had risen since March?", "Reyland", "that prices had risen since March", ("", ""), ("", "")),
])
def test_a_trailing_time_comes_off_the_topic(lexicon, question: str, speaker: str, topic: str, when, event) -> None:
    q = parse(question, lexicon)
    assert q is not None and (q.speaker, q.topic, q.when, q.event) == (speaker, topic, when, event)


def test_to_whom_survives_a_date(lexicon) -> None:
    q = parse("Who confirmed the meeting in May 2026, and to whom?", lexicon)
    assert q is not None and q.to_whom


# -- answers over samples/desk -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, minilm):
    from ingest.pipeline import ingest

    store = Store(Settings(home=tmp_path_factory.mktemp("home")), minilm)
    ingest([DESK], store, progress=False)
    yield Engine(store)
    store.close()


def _days(engine: Engine, ids) -> set[str]:
    table = engine.filters.articles()
    return {table[a].day for a in ids}


def test_since_a_day_answers_only_from_articles_published_on_or_after_it(desk: Engine) -> None:
    free = desk.ask("What has Tomas Reyland denied?")
    assert min(_days(desk, (c.article_id for c in free.claims))) < "2026-05-01"  # the question has earlier answers
    since = desk.ask("What has Tomas Reyland said about the dredging contract since May 1, 2026?")
    assert not since.abstained and since.claims and {c.speaker for c in since.claims} == {"Tomas Reyland"}
    assert min(_days(desk, {c.article_id for c in since.claims} | {c.article_id for c in since.citations})) >= "2026-05-01"
    assert since.text.splitlines()[0] == "From articles published on or after 2026-05-01:"


def test_in_a_month_answers_from_that_month(desk: Engine) -> None:
    april = desk.ask("What did Tomas Reyland say about the dredging contract in April 2026?")
    assert april.claims and _days(desk, (c.article_id for c in april.claims)) <= {f"2026-04-{d:02d}" for d in range(1, 31)}
    assert april.text.startswith("From articles published from 2026-04-01 to 2026-04-30:")
    assert desk.ask("What did Tomas Reyland say about the dredging contract in April?").claims == april.claims  # the archive's April


def test_before_a_reported_event_answers_from_earlier_articles_and_names_the_event(desk: Engine) -> None:
    """Without the time, the Harbour Authority's breakwater claims include the engineering report the
    Ledger revealed; before that report, only the authority's "harbour gossip" denial."""
    free = desk.ask("What did the Harbour Authority say about the breakwater?")
    assert CRACKED in {c.article_id for c in free.claims}
    before = desk.ask("What did the Harbour Authority say about the breakwater before the Ledger reported it was cracked?")
    assert not before.abstained and {c.article_id for c in before.claims} == {GOSSIP}
    assert {c.article_id for c in before.citations} == {GOSSIP} and "harbour gossip" in before.claims[0].content
    assert before.text.splitlines()[0] == ("From articles published on or before 2026-04-27 (first reported on 2026-04-28, in "
                                           "“Kessel Breakwater Cracked During Dredging, Internal Report Shows”, Valdoria Ledger):")


@pytest.mark.parametrize("question,text", [
    ("What did the Harbour Authority say about the breakwater before the Ledger reported it was painted?",
     "The articles do not say when the Ledger reported it was painted, so nothing can be placed before it."),
    ("What did the Harbour Authority say about the breakwater before Sportwire reported it was cracked?",
     "The articles do not say when Sportwire reported it was cracked, so nothing can be placed before it."),
    ("Who denied what in 2025?", "The articles do not report that anyone denied anything in 2025."),
    ("What did Reyland deny before April 2026?", "The articles do not report that Reyland denied anything before April 2026."),
])
def test_an_event_not_found_or_an_empty_window_abstains_and_says_so(desk: Engine, question: str, text: str) -> None:
    answer = desk.ask(question)
    assert answer.abstained and not answer.citations and not answer.claims
    assert answer.text == text


def test_a_time_in_the_question_narrows_the_filters_and_never_widens_them(desk: Engine) -> None:
    ledger = Filters(sources=["Meridian Press"])  # articles of 2026-04-24 and 2026-05-29
    both = desk.ask("Who denied what since May 2026?", filters=ledger)
    table = desk.filters.articles()
    assert both.claims and all(table[c.article_id].source == "Meridian Press" and table[c.article_id].day >= "2026-05-01"
                               for c in both.claims)
    # a window outside the filters' days: nothing, said so with the filters
    none = desk.ask("Who denied what in March 2026?", filters=Filters(since="2026-05"))
    assert none.abstained and none.text.endswith("(Filters: since 2026-05-01.)")


def test_a_yes_no_question_with_a_time_keeps_its_answer_after_the_window_line(desk: Engine) -> None:
    yes = desk.ask("Did Reyland deny meeting Hallin before May?")
    assert yes.text.splitlines()[:2] == ["From articles published on or before 2026-04-30:", "Yes."]
    assert desk.ask("Did Reyland deny meeting Hallin after June 2026?").abstained


def test_an_article_without_a_readable_date_is_outside_every_time(settings, hash_embedder, tmp_path) -> None:
    from ingest.pipeline import ingest

    d = tmp_path / "in"
    d.mkdir()
    (d / "dated.txt").write_text("Dated\n\nKESSEL, April 2, 2026 (Valdoria Ledger) — Mayor Ana Ruiz denied that the bridge was closed.\n")
    (d / "undated.txt").write_text("Undated\n\nMayor Ana Ruiz denied that the ferry was cancelled.\n")
    store = Store(settings, hash_embedder)
    try:
        ingest([d], store, progress=False)
        engine = Engine(store)
        assert {c.article_id for c in engine.ask("What did Ana Ruiz deny?").claims} == {"dated", "undated"}
        assert {c.article_id for c in engine.ask("What did Ana Ruiz deny since 2000?").claims} == {"dated"}
        assert engine.ask("What did Ana Ruiz deny before 2026?").abstained
    finally:
        store.close()


def test_the_chat_shows_the_days_used_above_the_speakers(desk: Engine) -> None:
    from ui.chat_render import render_answer

    answer = desk.ask("What did the Harbour Authority say about the breakwater before the Ledger reported it was cracked?")
    shown = render_answer(answer.text, answer.citations, answer.notice, answer.claims, {}, answer.mode)
    head, _, groups = shown.replace("\\", "").partition("**Harbour Authority**")  # Markdown escapes out
    assert "2026-04-27" in head and "Kessel Breakwater Cracked During Dredging" in head and "harbour gossip" in groups


def test_an_event_a_speaker_reported_is_dated_by_their_claim(desk: Engine) -> None:
    """No outlet is called Reyland: the event is found among his claims' articles (he stepped aside on 2026-06-02)."""
    answer = desk.ask("What did Karel Dunmore deny before Reyland said he would step aside?")
    assert answer.text.splitlines()[0].startswith("From articles published on or before 2026-06-01 (first reported on 2026-06-02, "
                                                  "in “Valdoria's Harbour Minister Steps Aside")
    assert answer.claims and {c.speaker for c in answer.claims} == {"Karel Dunmore"}
    assert max(_days(desk, (c.article_id for c in answer.claims))) <= "2026-06-01"

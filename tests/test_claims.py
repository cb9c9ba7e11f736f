"""Claim extraction per construction (real spaCy pipeline), the ledger in the catalogue, and
attribution questions answered from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.claims import ClaimExtractor
from ingest.pipeline import ingest
from ingest.sentences import split_sentences
from rag.attribution.lexicon import load_lexicon
from rag.attribution.questions import parse
from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store
from rag.types import Claim, Sentence
from tests.conftest import SAMPLE_ARTICLE, need_shared


@pytest.fixture(scope="module")
def extractor() -> ClaimExtractor:
    return ClaimExtractor()


def claims_of(extractor: ClaimExtractor, text: str) -> list[Claim]:
    sentences = [Sentence(article_id="t", index=i, text=text[s:e], start=s, end=e) for i, (s, e) in enumerate(split_sentences(text))]
    return extractor.extract("t", sentences, text)


def only(claims: list[Claim], stance: str) -> Claim:
    found = [c for c in claims if c.stance == stance]
    assert len(found) == 1, claims
    return found[0]


def test_active_denial(extractor) -> None:
    c = only(claims_of(extractor, "The harbour minister denied that the port would be sold."), "deny")
    assert (c.speaker, c.cue, c.content) == ("The harbour minister", "denied", "that the port would be sold")
    assert c.sentence_ids == ["t:0"]


def test_passive_denial_by_agent(extractor) -> None:
    text = "The claim that the minutes were classified was denied by the Harbour Authority, which said the files were public."
    c = only(claims_of(extractor, text), "deny")
    assert (c.speaker, c.speaker_mention, c.speaker_key) == ("Harbour Authority", "the Harbour Authority", "harbour authority")
    assert c.content == "The claim that the minutes were classified"


def test_inverted_attribution(extractor) -> None:
    claims = claims_of(extractor, "A recount would take at least ten days, said commission spokeswoman Nadia Orlov.")
    c = only(claims, "say")
    assert (c.speaker, c.speaker_role, c.speaker_mention) == ("Nadia Orlov", "commission spokeswoman", "commission spokeswoman Nadia Orlov")
    assert c.content == "A recount would take at least ten days"


def test_quotation_with_inverted_speaker(extractor) -> None:
    c = only(claims_of(extractor, "“The port is not for sale,” the minister told reporters."), "say")
    assert (c.speaker, c.content, c.other_party) == ("the minister", "The port is not for sale", "reporters")


def test_according_to(extractor) -> None:
    c = only(claims_of(extractor, "According to the ministry, 1.1 million doses have already been delivered."), "report")
    assert c.cue == "According to" and c.speaker == "the ministry"
    assert c.content == "1.1 million doses have already been delivered"


def test_agency_quote(extractor) -> None:
    text = ("The Russian news agency Sputnik quoted a Syrian officer, Major Haidara Jawad, as saying that the two "
            "sides had agreed on several items.")
    c = only(claims_of(extractor, text), "quote")
    assert (c.speaker, c.speaker_role) == ("Sputnik", "Russian news agency")
    assert c.cue == "quoted ... as saying"
    assert c.content == "that the two sides had agreed on several items"
    assert "Jawad" in c.other_party
    assert [x for x in claims_of(extractor, text) if x.cue == "saying"] == []


def test_confirmed_to_names_the_addressee(extractor) -> None:
    c = only(claims_of(extractor, "A party source confirmed to al-Modon that Moscow hosted the meeting."), "confirm")
    assert (c.cue, c.other_party, c.content) == ("confirmed to", "al-Modon", "that Moscow hosted the meeting")


def test_addressee_after_the_object(extractor) -> None:
    text = "Maj. Gen. Anton Weller, commander of the northern district, confirmed the meeting to the regional broadcaster Radio Nord."
    c = only(claims_of(extractor, text), "confirm")
    assert (c.content, c.other_party, c.cue) == ("the meeting", "the regional broadcaster Radio Nord", "confirmed ... to")


def test_ruled_out(extractor) -> None:
    c = only(claims_of(extractor, "Finance Minister Sofia Brandt ruled out a tax increase."), "rule_out")
    assert (c.speaker, c.speaker_role, c.cue, c.cue_lemma, c.content) == ("Sofia Brandt", "Finance Minister", "ruled out", "rule out", "a tax increase")


def test_headline_and_teaser_lines(extractor) -> None:
    text = "Read Also: Meslet Denies Turkey’s Intention to Dialogue with Syrian Regime\nThe talks went on."
    c = only(claims_of(extractor, text), "deny")
    assert (c.speaker, c.cue, c.content) == ("Meslet", "Denies", "Turkey’s Intention to Dialogue with Syrian Regime")
    assert text[c.cue_span[0] : c.cue_span[1]] == "Denies"


def test_colon_headline_and_colon_after_a_verb(extractor) -> None:
    c = only(claims_of(extractor, "Graham: Trump’s Rhetoric Is Destroying the Party\nThe vote is today."), "say")
    assert (c.speaker, c.cue, c.content) == ("Graham", ":", "Trump’s Rhetoric Is Destroying the Party")
    c = only(claims_of(extractor, "The source added: “Now is not the time to open new fronts.”"), "say")
    assert (c.speaker, c.cue) == ("The source", "added")


def test_anaphora_points_back_to_previous_sentence(extractor) -> None:
    text = ("Turkish media revealed discussions in Ankara about a dialogue with Damascus. Syria denied this.")
    claims = claims_of(extractor, text)
    c = only(claims, "deny")
    assert c.speaker == "Syria"
    assert c.sentence_ids == ["t:1", "t:0"]
    assert "discussions in Ankara" in c.content


def test_denied_the_report_resolves_to_the_report(extractor) -> None:
    text = ("The weekly Coastline Review reported that officials held talks about a lease. "
            "The minister denied the report.")
    c = only(claims_of(extractor, text), "deny")
    assert c.sentence_ids == ["t:1", "t:0"] and c.content == "that officials held talks about a lease"


def test_negated_denial_reads_as_a_negation(extractor) -> None:
    claims = claims_of(extractor, "The minister did not deny that Atlas representatives had visited the port.")
    c = only(claims, "deny")
    assert c.negated and c.cue == "did not deny" and c.cue_lemma == "deny" and c.reads == "did not deny"
    assert c.content == "that Atlas representatives had visited the port"
    # the cue's lemma is the verb's, not the cue's last word ("did not rule out" -> "rule out", not "out")
    c = only(claims_of(extractor, "Weller did not rule out a second meeting."), "rule_out")
    assert (c.negated, c.cue_lemma, c.reads) == (True, "rule out", "did not rule out")


def test_speech_inside_a_quotation_is_not_a_separate_claim(extractor) -> None:
    claims = claims_of(extractor, "“I think the talks will fail,” the envoy said.")
    assert [(c.speaker, c.cue) for c in claims] == [("the envoy", "said")]


def test_quotation_signed_with_a_dash(extractor) -> None:
    text = "Letters of the week.\n“He represents our greatest shame.” ― Sonya Herridge\n“We deserve better.” — Tom de Wit"
    claims = claims_of(extractor, text)
    assert [(c.speaker, c.cue, c.content) for c in claims] == [
        ("Sonya Herridge", "―", "He represents our greatest shame"),
        ("Tom de Wit", "—", "We deserve better"),
    ]
    assert text[claims[0].speaker_span[0] : claims[0].speaker_span[1]] == "Sonya Herridge"


def test_transcript_speaker_labels(extractor) -> None:
    text = ('Partial transcript as follows:\n\n"WALLACE: Let’s start with the debate.\n\n'
            '"PENCE: Well, look, the campaign is doing fine.')
    labelled = [(c.speaker, c.cue) for c in claims_of(extractor, text) if c.cue == ":"]
    assert labelled == [("WALLACE", ":"), ("PENCE", ":")]
    # a transcript line's quotation stays open to the paragraph's end: speech inside it is Pence's
    text += " I think the campaign said it would win.\n\nThe debate is on Tuesday."
    assert [(c.speaker, c.cue) for c in claims_of(extractor, text)] == [("WALLACE", ":"), ("PENCE", ":")]


def test_relative_clause_speaker_is_the_noun_and_the_span_the_pronoun(extractor) -> None:
    text = "The mayor thanked an architect who said the bridge was safe."
    c = next(c for c in claims_of(extractor, text) if c.cue == "said")
    assert c.speaker == "an architect"
    assert text[c.speaker_span[0] : c.speaker_span[1]] == "who"


def test_a_document_as_it_speaks(extractor) -> None:
    text = "The city sent a letter on Thursday. It says the campaign violated the law."
    c = next(c for c in claims_of(extractor, text) if c.cue == "says")
    assert (c.speaker, c.content) == ("It", "the campaign violated the law")
    assert [c for c in claims_of(extractor, "It seems that the vote will be close.") if c.speaker] == []


def test_nested_speech_in_anothers_content_is_kept(extractor) -> None:
    text = "Merrill says Machado promised to keep campaigning and said she would stand up to the attacks."
    cues = {c.cue: c.speaker for c in claims_of(extractor, text)}
    assert cues.get("says") == "Merrill" and cues.get("said") == "Machado"


def test_speaker_climbs_to_the_verb_with_a_subject(extractor) -> None:
    text = "The senator praised the report but stopped short of calling the deal a failure."
    c = next(c for c in claims_of(extractor, text) if c.cue == "calling")
    assert c.speaker == "The senator"


def test_light_verb_with_a_speech_noun(extractor) -> None:
    c = next(c for c in claims_of(extractor, "The union made the case that wages must rise.") if c.cue == "made")
    assert (c.speaker, c.stance) == ("The union", "say") and "wages must rise" in c.content


def test_attitude_adjective_with_a_complement(extractor) -> None:
    text = "The governor was confident that the bridge would open in May."
    c = next(c for c in claims_of(extractor, text) if "confident" in c.cue)
    assert (c.speaker, c.stance, c.content) == ("The governor", "other", "that the bridge would open in May")
    assert text[c.cue_span[0] : c.cue_span[1]] == "was confident"
    assert claims_of(extractor, "The governor was confident.") == []


def test_lemmatizer_slips_are_mended(extractor) -> None:
    # the small English model lemmatizes "hopes" as "hop"
    c = next(c for c in claims_of(extractor, "Bivens hopes Democrats do not make the same mistake.") if c.cue == "hopes")
    assert c.speaker == "Bivens" and c.content == "Democrats do not make the same mistake"


def test_a_passive_in_a_relative_clause_has_no_speaker(extractor) -> None:
    text = "Shares fell. The stock also dropped on a U.S. exchange where it is listed."
    assert [c for c in claims_of(extractor, text) if c.cue == "listed"] == []


@pytest.mark.parametrize("text", [
    "''We said the talks would fail,'' the envoy said.",   # two apostrophes as quotation marks
    "“We said the talks would fail,“ the envoy said.",     # an opening mark used to close
])
def test_quotation_marks_as_typeset_in_the_wild(extractor, text: str) -> None:
    assert [(c.speaker, c.cue) for c in claims_of(extractor, text)] == [("the envoy", "said")]


def test_a_time_is_not_part_of_the_speaker(extractor) -> None:
    c = only(claims_of(extractor, "FC Marstadt on Wednesday denied reports that the striker had signed."), "deny")
    assert c.speaker == "FC Marstadt"


def test_a_denied_accusation_reads_as_the_accusation(extractor) -> None:
    text = "The foreign ministry accused Valdoria of rehearsing a blockade. Navy spokesman Henrik Solberg denied the accusation."
    c = only(claims_of(extractor, text), "deny")
    assert c.content == "The foreign ministry accused Valdoria of rehearsing a blockade"
    assert c.sentence_ids == ["t:1", "t:0"]


def test_spans_index_the_article_text(extractor) -> None:
    text = "Prices rose.\nThe bank denied that rates would rise, said spokesman Karel Fitz."
    for c in claims_of(extractor, text):
        for span in (c.cue_span, c.speaker_span, c.content_span):
            assert span is not None and 0 <= span[0] < span[1] <= len(text)
        assert text[c.cue_span[0] : c.cue_span[1]] in c.cue


@pytest.mark.parametrize(
    "question, stance, speaker, topic, negated, to_whom",
    [
        ("Who denied what?", "deny", "", "", False, False),
        ("What did Syria deny?", "deny", "Syria", "", False, False),
        ("Who confirmed the meeting, and to whom?", "confirm", "", "the meeting", False, True),
        ("What did Sputnik quote?", "quote", "Sputnik", "", False, False),
        ("Who ruled out a tax increase?", "rule_out", "", "a tax increase", False, False),
        ("What did the harbour minister not deny?", "deny", "harbour minister", "", True, False),
        ("list all denials", "deny", "", "", False, False),
        ("Who acknowledged the delay?", "confirm", "", "the delay", False, False),  # as extraction stores it
        ("Who rejected the fraud claims?", "deny", "", "the fraud claims", False, False),
    ],
)
def test_attribution_questions_are_recognised(question, stance, speaker, topic, negated, to_whom) -> None:
    q = parse(question, load_lexicon())
    assert (q.stance, q.speaker, q.topic, q.negated, q.to_whom) == (stance, speaker, topic, negated, to_whom)


@pytest.mark.parametrize("question", ["What is the capital of Mongolia?", "How many doses were delivered?", "Who is the minister?",
                                      "Who continued the talks?", "Who attacked the convoy?"])
def test_other_questions_are_not_attribution(question: str) -> None:
    assert parse(question, load_lexicon()) is None


# -- end to end on the sample article ---------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_engine(tmp_path_factory: pytest.TempPathFactory, minilm) -> Engine:
    d = tmp_path_factory.mktemp("sample")
    shutil.copy(need_shared(SAMPLE_ARTICLE), d / SAMPLE_ARTICLE.name)
    store = Store(Settings(home=tmp_path_factory.mktemp("home")), minilm)
    ingest([d], store, progress=False)
    return Engine(store)


def test_who_denied_what_on_the_sample_article(sample_engine: Engine) -> None:
    answer = sample_engine.ask("Who denied what?")
    assert not answer.abstained
    quotes = {c.marker: c.quote for c in answer.citations}
    by_speaker = {c.speaker: c for c in answer.claims}
    turkish = by_speaker["the Turkish source"]
    syria = by_speaker["Syria"]
    cited = lambda claim: {quotes[int(m)] for line in answer.text.splitlines() if line.startswith(claim.speaker + " ")  # noqa: E731
                            for m in __import__("re").findall(r"\[(\d+)\]", line)}
    assert any(q.startswith("However, the Turkish source denied this") for q in cited(turkish))
    assert any("expel U.S. agents (SDF)" in q for q in cited(turkish))
    assert "Syria denied this." in cited(syria)
    assert any(q.startswith("In early April, Turkish media revealed discussions in Ankara") for q in cited(syria))
    assert all(c.stance == "deny" for c in answer.claims)


def test_sputnik_quote_and_confirmation(sample_engine: Engine) -> None:
    answer = sample_engine.ask("What did Sputnik quote?")
    assert [c.stance for c in answer.claims] == ["quote"]
    assert "the two sides had agreed" in answer.text
    answer = sample_engine.ask("Who confirmed that Moscow hosted the meeting, and to whom?")
    assert answer.citations[0].quote.startswith("A source from Turkey’s ruling Justice and Development Party (AKP) confirmed to al-Modon")
    assert "al-Modon" in answer.text and answer.claims[0].other_party == "al-Modon"


def test_non_attribution_question_uses_retrieval(sample_engine: Engine) -> None:
    answer = sample_engine.ask("Which war caused fears of spillover into Syria?")
    assert answer.claims == [] and not answer.abstained and "Ukraine" in answer.text


# -- the ledger follows the article -----------------------------------------------------------------

def test_ledger_rebuilt_on_update_and_emptied_on_delete(tmp_path: Path, settings: Settings, hash_embedder, extractor) -> None:
    store = Store(settings, hash_embedder)
    f = tmp_path / "port.txt"
    f.write_text("Port row\n\nThe minister denied that the port was sold.\n")
    ingest([f], store, progress=False, extractor=extractor)
    assert [(c.speaker, c.stance) for c in store.catalogue.claims(store.space)] == [("The minister", "deny")]
    f.write_text("Port row\n\nThe minister confirmed that the port was sold. The union warned of strikes.\n")
    report = ingest([f], store, progress=False, extractor=extractor)
    assert report.updated == 1
    assert sorted((c.speaker, c.stance) for c in store.catalogue.claims(store.space)) == [("The minister", "confirm"), ("The union", "warn")]
    assert store.catalogue.claims(store.space, stance="deny") == []
    store.delete("port")
    assert store.catalogue.claims(store.space) == []


def _ledger_store(tmp_path: Path, settings: Settings, embedder, extractor, articles: list[dict]) -> Store:
    (tmp_path / "news.json").write_text(json.dumps(articles))
    store = Store(settings, embedder)
    ingest([tmp_path / "news.json"], store, progress=False, extractor=extractor)
    return store


def test_topic_after_what_about_and_the_title_place_the_claim(tmp_path: Path, settings: Settings, minilm, extractor) -> None:
    assert parse("Who denied what about the data leak?", load_lexicon()).topic == "the data leak"
    store = _ledger_store(tmp_path, settings, minilm, extractor, [
        {"id": "leak", "title": "Tech Firm Confirms Data Leak", "text": "A researcher claimed that passwords were exposed. Nimbra denied that."},
        {"id": "port", "title": "Minister Denies Port Sale", "text": "The minister denied that the port was sold to investors."},
    ])
    answer = Engine(store).ask("Who denied what about the data leak?")
    assert [c.speaker for c in answer.claims] == ["Nimbra"]


def test_asked_speaker_found_behind_an_anaphoric_subject(tmp_path: Path, settings: Settings, minilm, extractor) -> None:
    store = _ledger_store(tmp_path, settings, minilm, extractor, [
        {"id": "leak", "title": "Data Leak", "text": "Nimbra Systems confirmed a breach. The company did not deny that it knew for weeks."},
        {"id": "bank", "title": "Rates", "text": "The bank did not deny that rates would rise."},
    ])
    answer = Engine(store).ask("What did Nimbra Systems not deny?")
    assert [(c.speaker, c.speaker_mention, c.cue, c.article_id) for c in answer.claims] == [
        ("Nimbra Systems", "The company", "did not deny", "leak")]


def test_cli_claims_and_ask_json(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(need_shared(SAMPLE_ARTICLE), d / SAMPLE_ARTICLE.name)
    env = {**os.environ, "WHOSAID_HOME": str(tmp_path / "home")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ui.cli", *a], capture_output=True, text=True, env=env, timeout=300)  # noqa: E731
    assert run("ingest", str(d)).returncode == 0
    r = run("claims", "--stance", "deny", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["speaker"] for row in rows} >= {"the Turkish source", "Syria", "Meslet"}
    assert all(set(row) >= {"speaker", "speaker_key", "speaker_mention", "cue", "stance", "negated", "content", "article_id",
                            "sentence_indexes"} for row in rows)
    r = run("claims", "--speaker", "sputnik")
    assert "quoted ... as saying" in r.stdout and r.stdout.strip().endswith("1 claims, 1 speakers")
    r = run("claims", "--stance", "nonsense")
    assert r.returncode == 2 and "unknown stance" in r.stderr
    out = json.loads(run("ask", "What did Syria deny?", "--json").stdout)
    assert out["claims"][0]["speaker"] == "Syria" and out["claims"][0]["sentence_indexes"] == [12, 11]
    assert {c["sentence_index"] for c in out["citations"]} == {11, 12}


def _prepared_samples() -> list:
    """The shipped sample articles as ingest prepares them (split, chunked)."""
    from ingest.loaders import load_file
    from ingest.pipeline import prepare

    root = Path(__file__).resolve().parents[1] / "samples" / "articles"
    chunking = Settings().chunking
    return [prepare(r, "v", chunking) for f in sorted(root.glob("*.txt")) for r in load_file(f)]


def test_a_batch_parse_gives_each_article_the_claims_it_gets_alone(extractor) -> None:
    """Ingest parses a whole batch's sentences in one nlp.pipe call; the claims must be those of
    one article at a time (docs are matched back by sentence text, repeated sentences included)."""
    from ingest.pipeline import _extract_each

    prepared = _prepared_samples()
    prepared += prepared[:2]  # the same sentences twice in one batch
    alone = [extractor.extract(p.loaded.article.id, p.sentences, p.loaded.article.text) for p in prepared]
    batched = _extract_each(extractor, prepared)
    assert sum(map(len, alone)) > 50
    assert batched == alone
    assert not extractor._parsed  # nothing left behind for the next batch


def test_a_failing_batch_parse_falls_back_to_one_article_at_a_time(extractor, monkeypatch) -> None:
    """If the batch parse breaks, every article is still extracted (alone), and one article whose
    own parse breaks fails alone with its error line."""
    from ingest.pipeline import _extract_each

    prepared = _prepared_samples()[:3]
    expected = [extractor.extract(p.loaded.article.id, p.sentences, p.loaded.article.text) for p in prepared]

    def broken_ahead(articles) -> None:
        extractor._parsed["left over"] = ["doc"]  # a half-filled cache must not leak into the next batch
        raise RuntimeError("parser crashed")

    monkeypatch.setattr(extractor, "parse_ahead", broken_ahead)
    assert _extract_each(extractor, prepared) == expected
    assert not extractor._parsed

    real = extractor.extract

    def extract(article_id, sentences, text=None):
        if article_id == prepared[1].loaded.article.id:
            raise ValueError("bad sentence")
        return real(article_id, sentences, text)

    monkeypatch.setattr(extractor, "extract", extract)
    out = _extract_each(extractor, prepared)
    assert out[0] == expected[0] and out[2] == expected[2]
    assert out[1] == "could not extract claims: ValueError: bad sentence"

"""Attribution answers over the bundled samples (real embedder, real ledger): no misattribution by
construction. A question naming a speaker, a stance or a topic is answered only from claims that
match all three, negations read as negations, yes/no questions answer yes / no / not reported, and
an abstention says what was not found."""

from __future__ import annotations

import pytest

from rag.engine import Engine
from rag.store import Store
from tests.fakes import ScriptedChatModel


@pytest.fixture(scope="module")
def engine(sample_store: Store) -> Engine:
    return Engine(sample_store)


def speakers(answer) -> set[str]:
    return {c.speaker for c in answer.claims}


def test_a_near_miss_topic_is_not_answered_with_someone_elses_claim(engine: Engine) -> None:
    answer = engine.ask("Who ruled out a fuel price increase?")  # only a TAX increase was ruled out
    assert answer.abstained and answer.claims == [] and answer.citations == []
    assert answer.text == "The articles do not report that anyone ruled out a fuel price increase."
    assert not engine.ask("Who ruled out a tax increase?").abstained


def test_one_word_of_a_place_name_is_no_topic_match(engine: Engine) -> None:
    answer = engine.ask("Who denied the port sale?")
    assert speakers(answer) == {"Tomas Reyland"}  # not the electoral commission of *Port* Elsin
    assert engine.ask("Who denied that the Port of Elsin is for sale?").abstained


def test_a_pronoun_speaker_answers_by_name(engine: Engine) -> None:
    answer = engine.ask("What did Marsh say about safety checks?")
    assert speakers(answer) == {"Greta Marsh"} and "Every train" in answer.text
    assert [c.speaker_mention for c in answer.claims] == ["she"]
    # the other Marsh, at the defence ministry, never spoke of safety checks
    assert "Lena Marsh" not in answer.text


def test_aliases_and_other_articles_group_under_one_speaker(engine: Engine) -> None:
    answer = engine.ask("What did Reyland deny?")
    assert speakers(answer) == {"Tomas Reyland"}
    assert {c.article_id for c in answer.claims} == {"01-harbour-minister-denies-port-sale", "14-port-lease-talks-resume"}
    assert engine.ask("What did the harbour minister not rule out?").claims[0].speaker == "Tomas Reyland"


def test_a_negated_claim_answers_as_a_negation(engine: Engine) -> None:
    answer = engine.ask("What did the harbour minister not deny?")
    assert answer.claims and all(c.negated for c in answer.claims)
    assert "did not deny" in answer.text and " — deny " not in answer.text
    answer = engine.ask("Who denied that Atlas representatives visited the port?")
    assert not answer.abstained and answer.text.startswith("The articles do not report that anyone denied")
    assert [c.negated for c in answer.claims] == [True] and "did not deny" in answer.text


@pytest.mark.parametrize("question, lead, speaker, reads", [
    ("Did Reyland deny the port sale?", "Yes.", "Tomas Reyland", "deny"),
    ("Did Weller rule out a second meeting?", "No.", "Anton Weller", "did not rule out"),
    ("Did Sorel deny the talks?", "No.", "Alina Sorel", "confirm"),  # she confirmed them
])
def test_yes_no_questions(engine: Engine, question: str, lead: str, speaker: str, reads: str) -> None:
    answer = engine.ask(question)
    assert answer.text.splitlines()[0] == lead and answer.citations
    assert {c.speaker for c in answer.claims} == {speaker} and {c.reads for c in answer.claims} == {reads}


@pytest.mark.parametrize("question, text", [
    ("Did Putin deny the port sale?", "Not reported: The articles do not report that Putin denied the port sale."),
    ("What did Putin deny?", "The articles do not report that Putin denied anything."),
    ("What did Marchetti deny?", "The articles do not report that Marchetti denied anything."),  # he only ruled out and said
    ("What did the finance minister deny?", "The articles do not report that finance minister denied anything."),  # the ministry did
    ("What did Anton Brandt rule out?", "The articles do not report that Anton Brandt ruled out anything."),
])
def test_absent_speakers_and_stances_abstain_and_say_what_is_missing(engine: Engine, question: str, text: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained and answer.claims == [] and answer.citations == [] and answer.text == text


def test_the_stance_family_answers_a_synonym_and_nothing_else(engine: Engine) -> None:
    answer = engine.ask("Who rejected the fraud claims?")
    assert {c.stance for c in answer.claims} == {"deny"} and speakers(answer) == {"The electoral commission of Port Elsin"}
    said = engine.ask("What did Greta Marsh say?")  # "say" is answered from anything she said, denied or confirmed
    assert {c.stance for c in said.claims} >= {"say", "deny"}


def test_every_answer_line_cites_the_sentences_of_its_claim(engine: Engine) -> None:
    answer = engine.ask("Who denied what?")
    assert len(answer.claims) > 5
    cited = {c.sentence_id for c in answer.citations}
    for c in answer.claims:
        assert set(c.sentence_ids) <= cited


def test_the_llm_reads_negated_claims_as_negations(sample_store: Store) -> None:
    model = ScriptedChatModel(replies=["The minister did not deny it [1]."], supports_tools=False)
    Engine(sample_store, chat_model=model).ask("What did the harbour minister not deny?")
    prompt = model.calls[0][-1].content
    assert " — did not deny — " in prompt and " — deny " not in prompt


@pytest.mark.parametrize("question, speaker", [("What did Marsh say about safety checks?", "Greta Marsh"),
                                               ("Who denied the port sale?", "Tomas Reyland")])
def test_a_ledger_too_large_to_read_answers_from_the_nearest_passages(engine: Engine, monkeypatch, question: str, speaker: str) -> None:
    """Past the shortlist a topic question reads only the claims in the passages nearest the topic
    (the samples stand in for a large ledger with a shortlist of two, one passage by meaning and one by words): the same speaker, never another."""
    full = engine.ask(question)
    monkeypatch.setattr(engine.attribution.topics, "PREFILTER", 2)
    near = engine.ask(question)
    assert speakers(full) == speakers(near) == {speaker}
    assert {c.content for c in near.claims} <= {c.content for c in full.claims} and near.claims

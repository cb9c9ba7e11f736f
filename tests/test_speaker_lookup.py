"""Speaker questions read only the named speaker's claims (the catalogue's alias-word and
speaker-key indexes) yet answer exactly as the whole-ledger :class:`SpeakerDirectory` does: checked
on hand-made ledgers with the hard cases (a folded surname, two people sharing one, descriptions
scoped to their article) and on every speaker word of the bundled samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.pipeline import ingest
from rag.attribution.speakers import SpeakerDirectory, SpeakerLookup, asked_words, alias_words
from rag.settings import Settings
from rag.store import Store
from rag.store.sqlite import SqliteCatalogue
from rag.types import Article, Chunk, Claim, Sentence

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "articles"


def _claim(article: str, speaker: str, key: str, stance: str = "deny", role: str = "", mention: str = "", index: int = 0) -> Claim:
    return Claim(article_id=article, speaker=speaker, speaker_key=key, speaker_role=role, speaker_mention=mention or speaker,
                 cue=stance + "d", stance=stance, content="x", sentence_ids=[f"{article}:{index}"])


def _store_ledger(tmp_path: Path, claims: list[Claim]) -> SqliteCatalogue:
    cat = SqliteCatalogue(tmp_path / "catalogue.sqlite3")
    for aid in dict.fromkeys(c.article_id for c in claims):
        mine = [c for c in claims if c.article_id == aid]
        text = " ".join(f"Sentence {i}." for i in range(4))
        sents = [Sentence(article_id=aid, index=i, start=12 * i, end=12 * i + 11, text=f"Sentence {i}.") for i in range(4)]
        cat.write_article("s", Article(id=aid, title=aid, text=text), "v", "", sents, [Chunk(id=f"{aid}-0", article_id=aid, first=0, last=3, text=text)],
                          np.zeros((4, 8), np.float32), mine)
    return cat


def _agree(directory: SpeakerDirectory, lookup: SpeakerLookup, asked: str, stances: list[str] | None) -> list[Claim]:
    pool = [c for c in directory.claims if stances is None or c.stance in stances]
    expected = directory.matching(asked, pool)
    got = lookup.matching(asked, stances)
    assert got == expected, asked
    assert lookup.display(got) == [directory.display(c) for c in expected], asked
    # what a question reads when it can show only the first few: the same claims, cut short
    assert lookup.exists(asked) == bool(directory.matching(asked)), asked
    assert lookup.among(asked, pool) == expected, asked
    if stances is not None:
        for negated in (None, False, True):
            kept = [c for c in expected if negated is None or c.negated == negated]
            for limit in (1, 2, 1000):
                assert lookup.matching(asked, stances, limit=limit, negated=negated) == kept[:limit], (asked, negated, limit)
    return got


LEDGER = [
    _claim("a", "Tomas Reyland", "tomas reyland", role="harbour minister"),
    _claim("b", "Reyland", "reyland", stance="confirm"),
    _claim("b", "the minister", "b#minister", index=1),
    _claim("c", "Lena Marsh", "lena marsh", role="spokeswoman of Valdoria's defence ministry"),
    _claim("d", "Greta Marsh", "greta marsh"),
    _claim("e", "Marsh", "marsh", mention="she"),
    _claim("e", "officials", "e#officials", index=2),
    _claim("f", "officials", "f#officials", stance="say"),
    _claim("f", "NordRail", "nordrail", stance="say", index=1),
]


@pytest.mark.parametrize("asked", ["Reyland", "Tomas Reyland", "the harbour minister", "the minister", "Marsh", "Lena Marsh",
                                   "Greta Marsh", "officials", "the spokeswoman for Valdoria's defence ministry", "NordRail",
                                   "Putin", "he", "the"])
@pytest.mark.parametrize("stances", [None, ["deny"], ["confirm", "say"], []])
def test_the_lookup_answers_as_the_directory_on_the_hard_cases(tmp_path: Path, asked: str, stances) -> None:
    cat = _store_ledger(tmp_path, LEDGER)
    try:
        _agree(SpeakerDirectory(cat.claims("s")), SpeakerLookup(cat, "s"), asked, stances)
    finally:
        cat.close()


def _negated(claim: Claim) -> Claim:
    return claim.model_copy(update={"negated": True})


#: the hard cases with negated claims between the others, and one speaker with more claims than a limit
NEGATED_LEDGER = [
    *LEDGER[:2], _negated(_claim("b", "Reyland", "reyland", index=2)), *LEDGER[2:6],
    _negated(_claim("e", "Marsh", "marsh", mention="she", index=3)), *LEDGER[6:],
    *(_claim(f"g{n}", "Tomas Reyland", "tomas reyland", stance=("deny", "confirm")[n % 2], index=n % 4) for n in range(5)),
    *(_negated(_claim(f"h{n}", "the harbour minister", f"h{n}#harbour minister", index=1)) for n in range(3)),
]


@pytest.mark.parametrize("asked", ["Reyland", "Tomas Reyland", "the harbour minister", "the minister", "Marsh", "Lena Marsh", "officials"])
@pytest.mark.parametrize("stances", [None, ["deny"], ["confirm", "deny"]])
def test_the_first_claims_of_a_speaker_are_the_directory_s_first(tmp_path: Path, asked: str, stances) -> None:
    """A limited read (the first few, negated or not) keeps exactly the whole-ledger answer's first."""
    cat = _store_ledger(tmp_path, NEGATED_LEDGER)
    try:
        assert any(c.negated for c in _agree(SpeakerDirectory(cat.claims("s")), SpeakerLookup(cat, "s"), asked, stances)) or asked in (
            "Lena Marsh", "officials")
    finally:
        cat.close()


def test_a_folded_surname_and_a_shared_one(tmp_path: Path) -> None:
    """The cases the equality above rests on, stated: "Tomas Reyland" takes the surname-only claim;
    "Lena Marsh" never takes the bare "Marsh" two people could be."""
    cat = _store_ledger(tmp_path, LEDGER)
    try:
        lookup = SpeakerLookup(cat, "s")
        assert [(c.article_id, c.stance) for c in lookup.matching("Tomas Reyland")] == [("a", "deny"), ("b", "confirm")]
        assert lookup.display(lookup.matching("Tomas Reyland", ["confirm"]))[0].speaker == "Tomas Reyland"
        assert [c.article_id for c in lookup.matching("Lena Marsh")] == ["c"]
        assert sorted(c.article_id for c in lookup.matching("Marsh")) == ["c", "d", "e"]
    finally:
        cat.close()


def test_every_speaker_word_of_the_samples(tmp_path: Path, hash_embedder) -> None:
    """Every name, role and mention word in the bundled ledger, alone and in pairs, asked of both."""
    store = Store(Settings(home=tmp_path / "home"), hash_embedder)
    try:
        ingest([SAMPLES], store, progress=False)
        claims = store.catalogue.claims(store.space)
        directory, lookup = SpeakerDirectory(claims), SpeakerLookup(store.catalogue, store.space)
        asked = sorted({w for c in claims for w in alias_words(c)})
        phrases = {a for c in claims for a in (c.speaker, c.speaker_role, c.speaker_mention) if a and asked_words(a)}
        assert len(asked) > 50 and len(phrases) > 50  # a real ledger, not an empty one
        matched = sum(bool(_agree(directory, lookup, a, None)) for a in [*asked, *sorted(phrases)])
        for stance in ("deny", "confirm", "say"):
            for a in sorted(phrases):
                _agree(directory, lookup, a, [stance])
        assert matched > 50
    finally:
        store.close()

"""The attribution lexicon: one table for extraction and questions, refused when it conflicts, and a
change to it re-extracts stored articles on the next ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ingest.claims import ClaimExtractor, extraction_version
from ingest.pipeline import ingest
from ingest.sentences import split_sentences
from rag.attribution.lexicon import DEFAULT_PATH, LexiconError, load_lexicon, parse_lexicon
from rag.attribution.questions import parse
from rag.settings import Settings
from rag.store import Store
from rag.types import STANCES, Sentence


@pytest.fixture(scope="module")
def extractor() -> ClaimExtractor:
    return ClaimExtractor()


def claims_of(extractor: ClaimExtractor, text: str):
    sentences = [Sentence(article_id="t", index=i, text=text[s:e], start=s, end=e) for i, (s, e) in enumerate(split_sentences(text))]
    return extractor.extract("t", sentences, text)


def bundled() -> dict:
    return tomllib.loads(DEFAULT_PATH.read_text())


def test_the_bundled_lexicon_covers_every_stance() -> None:
    lx = load_lexicon()
    assert set(lx.descriptions) == set(STANCES)
    assert lx.family("deny") >= {"deny", "reject", "dismiss", "refute"}
    assert lx.accepted("say") >= {"say", "deny", "confirm", "quote"} and lx.accepted("deny") == {"deny"}


@pytest.mark.parametrize("word, stance", [("acknowledged", "confirm"), ("insisted", "claim"), ("rejected", "deny"), ("ruled out", "rule_out")])
def test_extraction_and_questions_agree_on_every_stance(extractor: ClaimExtractor, word: str, stance: str) -> None:
    """'acknowledge' was stored as say but asked as confirm; one table makes that impossible."""
    stored = {c.stance for c in claims_of(extractor, f"The minister {word} that the port had been sold.")}
    asked = parse(f"Who {word} that the port was sold?", load_lexicon())
    assert stored == {stance} and asked is not None and asked.stance == stance


def test_a_headline_verb_has_the_stance_of_the_same_verb_in_a_sentence(extractor: ClaimExtractor) -> None:
    headline = claims_of(extractor, "Minister Insists Budget Is Balanced\nThe vote is today.")
    sentence = claims_of(extractor, "The minister insisted that the budget was balanced.")
    assert [c.stance for c in headline] == [c.stance for c in sentence] == ["claim"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["stances"]["say"]["speech"].append("deny"), "'deny' is listed twice: as speech in [stances.deny] and as speech in [stances.say]"),
    (lambda d: d["stances"]["other"]["attitude"].append("acknowledge"), "'acknowledge' is listed twice"),
    (lambda d: d["stances"].__setitem__("boast", {"speech": ["boast2"]}), "unknown stance 'boast'"),
    (lambda d: d["stances"].pop("warn"), "stance 'warn' has no [stances.warn] table"),
    (lambda d: d["stances"]["deny"].__setitem__("speach", ["deny"]), "[stances.deny] has an unknown key 'speach'"),
    (lambda d: d["stances"]["deny"]["headline"].append("say"), "headline lists 'say', which is not a verb of this stance"),
    (lambda d: d["stances"]["deny"]["phrasal"].append("play it down"), "phrasal 'play it down' must be a verb and one particle"),
    (lambda d: d["irregular"].__setitem__("flew", "fly"), "[irregular] flew = 'fly', which is no verb of the lexicon"),
    (lambda d: d["stances"]["deny"].__setitem__("opposite", "deny"), "opposite must be another stance"),
])
def test_a_conflicting_lexicon_is_refused_with_the_file_and_the_word(tmp_path: Path, edit, message: str) -> None:
    data = bundled()
    edit(data)
    path = tmp_path / "lexicon.toml"
    with pytest.raises(LexiconError) as e:
        parse_lexicon(data, path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_an_unreadable_lexicon_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[stances.deny\nspeech = ")
    with pytest.raises(LexiconError, match=f"^{bad}: not a valid TOML file"):
        load_lexicon(bad)
    with pytest.raises(LexiconError, match="cannot read the lexicon"):
        load_lexicon(tmp_path / "missing.toml")


def test_two_verbs_sharing_an_inflected_form_are_refused(tmp_path: Path) -> None:
    data = bundled()
    data["stances"]["say"]["speech"] += ["bless"]  # "blessed"...
    data["stances"]["other"]["attitude"] += ["blesse"]  # ... and "blessed" again
    with pytest.raises(LexiconError, match="is a form of both"):
        parse_lexicon(data, tmp_path / "x.toml")


def test_the_extraction_version_follows_the_lexicon(tmp_path: Path) -> None:
    data = bundled()
    data["stances"]["say"]["speech"].append("muse")
    changed = parse_lexicon(data, tmp_path / "changed.toml")
    assert extraction_version(changed) != extraction_version(load_lexicon())
    assert extraction_version(parse_lexicon(bundled(), tmp_path / "same.toml")) == extraction_version(load_lexicon())


ARTICLE = "Harbour row\n\nThe harbour minister mused that the port might be sold. The union denied it.\n"


def test_a_changed_lexicon_re_extracts_stored_articles(tmp_path: Path, hash_embedder) -> None:
    """End to end: add a verb to a copy of the lexicon, point the settings at it, ingest again: the
    unchanged article is re-extracted and the new claim is in the ledger."""
    source = tmp_path / "in" / "row.txt"
    source.parent.mkdir()
    source.write_text(ARTICLE)
    home = tmp_path / "home"
    store = Store(Settings(home=home), hash_embedder)
    assert ingest([source], store, progress=False).added == 1
    assert ingest([source], store, progress=False).unchanged == 1
    assert [c.cue for c in store.catalogue.claims(store.space)] == ["denied"]
    store.close()

    lexicon = tmp_path / "lexicon.toml"
    lexicon.write_text(DEFAULT_PATH.read_text().replace('speech = [\n    "say", "tell",', 'speech = [\n    "muse", "say", "tell",', 1))
    store = Store(Settings(home=home, claims={"lexicon": lexicon}), hash_embedder)
    report = ingest([source], store, progress=False)
    assert report.updated == 1 and report.unchanged == 0
    assert sorted(c.cue for c in store.catalogue.claims(store.space)) == ["denied", "mused"]
    store.close()


def test_the_cli_names_a_broken_lexicon_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "row.txt"
    source.write_text(ARTICLE)
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_PATH.read_text().replace('speech = [\n    "say", "tell",', 'speech = [\n    "deny", "say", "tell",', 1))
    env = {**os.environ, "WHOSAID_HOME": str(tmp_path / "home"), "WHOSAID_CLAIMS__LEXICON": str(bad)}
    r = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(source)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"whosaid: {bad}: 'deny' is listed twice: as speech in [stances.deny] and as speech in [stances.say]"

"""Every extraction construction in the registry has an example, and every example holds: the
construction's test is its example (a newcomer adding a construction adds the example with it)."""

from __future__ import annotations

import pytest

from ingest.claims import ClaimExtractor
from ingest.claims.constructions import REGISTRY, Example, construction
from ingest.sentences import split_sentences
from rag.types import Sentence


@pytest.fixture(scope="module")
def extractor() -> ClaimExtractor:
    return ClaimExtractor()


def drafts(extractor: ClaimExtractor, text: str):
    sentences = [Sentence(article_id="t", index=i, text=text[s:e], start=s, end=e) for i, (s, e) in enumerate(split_sentences(text))]
    return extractor.drafts(sentences, text)


def _fits(d, ex: Example) -> bool:
    return all(getattr(d, name) == want for name, want in
               (("speaker", ex.speaker), ("cue", ex.cue), ("content", ex.content), ("stance", ex.stance),
                ("negated", ex.negated), ("other_party", ex.other_party)) if want is not None)


def test_every_construction_has_an_example_and_a_docstring() -> None:
    assert len({c.name for c in REGISTRY}) == len(REGISTRY)
    for c in REGISTRY:
        assert c.examples, f"construction {c.name} has no example"
        assert c.doc, f"construction {c.name} has no docstring"
    levels = [c.level for c in REGISTRY]
    assert {"line", "cue", "content", "token", "article", "pass"} <= set(levels)


@pytest.mark.parametrize(
    "name, example",
    [(c.name, ex) for c in REGISTRY for ex in c.examples],
    ids=[f"{c.name}-{n}" for c in REGISTRY for n, _ in enumerate(c.examples)],
)
def test_construction_example(extractor: ClaimExtractor, name: str, example: Example) -> None:
    found = drafts(extractor, example.text)
    level = next(c.level for c in REGISTRY if c.name == name)
    # a pass shapes every claim; any other construction must be named by the claim it produced
    by_it = found if level == "pass" else [d for d in found if name in d.via]
    matching = [d for d in by_it if _fits(d, example)]
    if example.absent:
        assert matching == [], [(d.speaker, d.cue, d.content, d.via) for d in by_it]
    else:
        assert matching, [(d.speaker, d.cue, d.content, d.stance, d.negated, d.other_party, d.via) for d in found]


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        construction("cue", Example("x"))(next(c.fn for c in REGISTRY if c.name == "speech_verb"))

"""Does a claim match the topic a question names? By meaning *and* by words, on the claim's own
evidence; a word of the speaker's name, a dateline, or one word of a place name is never evidence.
See :class:`TopicMatcher`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rag.attribution.lexicon import Lexicon
from rag.attribution.speakers import speaker_matches
from rag.settings import AttributionSettings
from rag.store import Store
from rag.types import Claim


#: Words whose near neighbours in meaning are their opposites or siblings ("Saturday" ~ "Sunday",
#: "northern" ~ "southern"): never matched through a similar word, only as written.
CONTRASTS = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    "north", "south", "east", "west", "northern", "southern", "eastern", "western", "upper", "lower", "left", "right",
    "first", "second", "third", "last", "next", "previous", "before", "after", "more", "less", "most", "least",
    "increase", "decrease", "rise", "fall", "raise", "cut", "higher", "lower", "up", "down", "open", "close", "closed",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand", "million", "billion",
    "yes", "no", "import", "export", "ban", "allow", "accept", "reject",
})


@dataclass
class Scored:
    """A claim against a topic: ``coverage`` of the topic's term weight by the claim's evidence,
    ``missing`` the largest share of one term it lacks, ``dense`` the similarity of its sentences."""

    score: float
    coverage: float
    missing: float
    dense: float
    claim: Claim
    evidence: list[tuple[str, str]] = field(repr=False)
    context: set[str] = field(default_factory=set, repr=False)


_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’-]*)*")


@dataclass
class TopicTerms:
    """A topic's terms with their IDF weights; a name in the topic ("the Port of Elsin") counts
    only when all of it is found: one word of a name is never evidence."""

    wanted: list[tuple[str, str]]
    weight: dict[str, float]
    names: list[set[str]]
    proper: set[str]  # terms of capitalised words: names of places, people, organisations

    @classmethod
    def of(cls, topic: str, lexical, exclude: Sequence[str] = ()) -> "TopicTerms":
        skip = {stem for _, stem in lexical.words(" ".join(exclude))}
        wanted = list(dict.fromkeys((w, t) for w, t in lexical.words(topic) if t not in skip))
        names, proper = [], set()
        for m in _NAME.finditer(topic):
            if m.start() == 0 and " " not in m.group(0):
                continue  # a capital at the start of the topic is not a name
            group = {t for _, t in lexical.words(m.group(0))} & {t for _, t in wanted}
            proper |= group
            if len(group) > 1:
                names.append(group)
        return cls(wanted, {t: lexical.idf(t) for _, t in wanted}, names, proper)

    def coverage(self, found: set[str], synonyms: set[str] = frozenset(), context: set[str] = frozenset()) -> tuple[float, float]:
        """(share of the term weight found, largest share of one term not found). Names may be found in
        the article's ``context`` (headline and lede say where and who a story is about); other words
        only in the claim's own evidence. When the topic has words besides names, the share is the
        smaller of the whole topic's and those words' own: "the Port of Elsin is for sale" is not
        covered by a text that names Port Elsin but no sale."""
        named = found | (context & self.proper)
        have = found | synonyms | named
        for group in self.names:  # a name counts whole or not at all, and never through a synonym
            if not group <= named:
                have = have - group
        total = sum(self.weight.values())
        got = sum(w for t, w in self.weight.items() if t in have) / total
        plain = {t: w for t, w in self.weight.items() if t not in self.proper}
        if plain and len(plain) < len(self.weight):
            got = min(got, sum(w for t, w in plain.items() if t in have) / sum(plain.values()))
        missing = max((w for t, w in self.weight.items() if t not in have), default=0.0)
        return got, missing / total


class TopicMatcher:
    """Does a claim match a topic? By meaning *and* by words, on the claim's own evidence.

    * meaning: the dense similarity of the topic to the claim's sentences (``dense``);
    * words: the IDF-weighted share of the topic's words found in the claim's content, other party and
      sentences with the speaker's mention blanked out (a word of a name is no evidence), and, for a
      claim in the article's lede, the headline (which speaks for the lede). A word missing as written
      counts when a word of the evidence with the same first letter means nearly the same (embedding
      similarity at least ``word_similarity``: "winning" ~ "won", "rationing" ~ "rationed"); never
      for words whose neighbours are their opposites or siblings (:data:`CONTRASTS`: days, months,
      directions, numbers, "increase" ~ "decrease").

    A claim passes when its words cover ``coverage`` of the topic, lack no term carrying more than
    ``missing`` of the topic's weight, its sentences are ``dense`` similar, and the mean of coverage and
    similarity reaches ``score``; or when its sentences alone are ``strong`` similar. So "a fuel price increase" does not
    pass on "a tax increase", "cancer drugs" not on "flu vaccine", and "the Port of Elsin" not on "the
    Port of Kessel" (a name counts whole or not at all)."""

    #: claims whose words are matched one by one (the best by a first, cheaper score)
    SHORTLIST = 40
    #: above this many claims of the asked stance, only the nearest in meaning are read word by word
    PREFILTER = 300

    def __init__(self, store: Store, lexicon: Lexicon, settings: AttributionSettings) -> None:
        self.store = store
        self.lexicon = lexicon
        self.settings = settings
        self._word_vectors: dict[str, np.ndarray] = {}

    def scores(
        self, topic: str, claims: Sequence[Claim], exclude: Sequence[str] = (), article_level: bool = False
    ) -> list[Scored]:
        """Every claim scored against the topic, best first; ``exclude``: words that never count (the
        asked speaker's). With ``article_level`` ("who denied what *about* the meeting?") the article's
        headline and lede count as evidence for every claim in it."""
        if not claims:
            return []
        store = self.store
        lexical = store.lexical()
        terms = TopicTerms.of(topic, lexical, exclude)
        if not terms.wanted:
            return []
        qv = store.embedder.embed_query(topic)
        if len(claims) > self.PREFILTER:
            # a large ledger: read the words of the claims nearest in meaning only (vectors are cheap)
            vecs = store.catalogue.sentence_vectors(
                store.space, list(dict.fromkeys((c.article_id, i) for c in claims for i in c.sentence_indexes)), store.embedder.dim
            )
            near = sorted(claims, key=lambda c: -max(float(np.dot(vecs[(c.article_id, i)], qv)) for i in c.sentence_indexes))
            claims = near[: self.PREFILTER]
        keys = list(dict.fromkeys((c.article_id, i) for c in claims for i in c.sentence_indexes))
        windows = [(a, i, i) for a, i in keys]
        if article_level or terms.proper:  # the ledes, and for names the sentence before each claim's
            windows += [(a, 0, 1) for a in dict.fromkeys(c.article_id for c in claims)]
        if terms.proper:
            windows += [(a, i - 1, i - 1) for a, i in keys if i > 0]
        rows: dict[tuple[str, int], tuple] = {}
        titles: dict[str, str] = {}  # the claims' articles only: never every title of the collection
        for s, title, _, vec in store.catalogue.window_sentences(store.space, windows, store.embedder.dim):
            rows[(s.article_id, s.index)] = (s, vec)
            titles[s.article_id] = title
        first = []
        for c in claims:
            found = [rows[(c.article_id, i)] for i in c.sentence_indexes if (c.article_id, i) in rows]
            parts = [c.content, c.other_party, *(_without_speaker(s.text, s.start, c) for s, _ in found)]
            if article_level:
                lede = [rows[(c.article_id, i)] for i in (0, 1) if (c.article_id, i) in rows]
                found += lede
                parts += [s.text for s, _ in lede]
            dense = max((float(np.dot(vec, qv)) for _, vec in found), default=0.0)
            if article_level or self._headline_speaks_for(c, titles.get(c.article_id, "")):
                parts.append(titles.get(c.article_id, ""))
            evidence = lexical.words(" ".join(parts))
            context = self._context(c, rows, titles, lexical) if terms.proper else set()
            cov, missing = terms.coverage({t for _, t in evidence}, context=context)
            first.append(Scored(0.5 * dense + 0.5 * cov, cov, missing, dense, c, evidence, context))
        first.sort(key=lambda x: -x.score)
        for scored in first[: self.SHORTLIST]:  # words missing as written: look for near-synonyms
            if scored.coverage < 1.0:
                found = {t for _, t in scored.evidence}
                scored.coverage, scored.missing = terms.coverage(found, self._synonyms(terms, scored.evidence), scored.context)
                scored.score = 0.5 * scored.dense + 0.5 * scored.coverage
        return sorted(first, key=lambda x: -x.score)

    @staticmethod
    def _context(claim: Claim, rows: dict, titles: dict[str, str], lexical) -> set[str]:
        """Terms of the article's headline and lede (dateline and all) and of the sentence before the
        claim's: where and who the story is about ("the visit" after "Atlas Maritime ... visited")."""
        near = sorted({0, 1} | {i - 1 for i in claim.sentence_indexes if i > 0})
        texts = [rows[(claim.article_id, i)][0].text for i in near if (claim.article_id, i) in rows]
        return {t for _, t in lexical.words(" ".join([titles.get(claim.article_id, ""), *texts]))}

    def _synonyms(self, terms: "TopicTerms", evidence: list[tuple[str, str]]) -> set[str]:
        """Topic terms missing as written that a word of the evidence means nearly the same as."""
        stems = {t for _, t in evidence}
        missing = [(w, t) for w, t in terms.wanted if t not in stems]
        if not missing or not evidence:
            return set()
        words = list(dict.fromkeys(w for w, _ in evidence))
        vectors = self._vectors([w for w, _ in missing] + words)
        ev = np.stack([vectors[w] for w in words])
        near = set()
        for w, t in missing:
            if w in CONTRASTS:
                continue
            sims = ev @ vectors[w]
            if any(float(sim) >= self.settings.word_similarity and v[:1] == w[:1] and v not in CONTRASTS for v, sim in zip(words, sims)):
                near.add(t)
        return near

    def _headline_speaks_for(self, claim: Claim, title: str) -> bool:
        """A headline summarises its article's lede, and the claim it names: "Navy Denies Exercise Is
        Aimed at Neighbour" is evidence for the navy spokesman's denial, not for anyone else's."""
        if not title or claim.negated:
            return False
        if min(claim.sentence_indexes, default=99) <= 1:
            return True
        m = self.lexicon.headline(title)
        if m is None:
            return False
        entry = self.lexicon.headline_forms.get(" ".join(m.group("cue").lower().split()))
        return entry is not None and entry.stance == claim.stance and speaker_matches(m.group("speaker"), claim)

    def _vectors(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        """Word vectors from the embedder, cached (the vocabulary of questions and claims is bounded)."""
        new = [w for w in dict.fromkeys(words) if w not in self._word_vectors]
        if new:
            if len(self._word_vectors) > 100_000:
                self._word_vectors.clear()
            for w, v in zip(new, self.store.embedder.embed(new)):
                self._word_vectors[w] = v
        return self._word_vectors

    def select(self, topic: str, claims: Sequence[Claim], exclude: Sequence[str] = (), article_level: bool = False) -> list[Claim]:
        s = self.settings
        passed = [
            (x.score, x.claim) for x in self.scores(topic, claims, exclude, article_level)
            if (x.coverage >= s.topic_coverage and x.dense >= s.topic_dense and x.missing <= s.topic_missing
                and x.score >= s.topic_score) or x.dense >= s.topic_strong
        ]
        if not passed:
            return []
        best = passed[0][0]
        return [c for score, c in passed if score >= s.topic_relative * best][: s.max_claims]


DATELINE = re.compile(r"^\s*[A-Z][A-Z .'’-]+,\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2},\s+\d{4}\s*(?:\([^)]{1,60}\))?\s*[—–-]+\s*")


def _without_speaker(text: str, start: int, claim: Claim) -> str:
    """The sentence with the speaker's mention and a dateline ("PORT ELSIN, Feb. 18, 2026 (...) —")
    blanked out: neither the speaker's name nor where the story was filed is evidence of a topic."""
    span = claim.speaker_span
    if span and start <= span[0] < span[1] <= start + len(text):
        text = text[: span[0] - start] + " " * (span[1] - span[0]) + text[span[1] - start :]
    return DATELINE.sub(" ", text)

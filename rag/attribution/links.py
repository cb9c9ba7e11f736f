"""Cross-article links: a claim in one article that answers a sentence of another.

* ``denies`` — a denial ("denied", "rejected", "ruled out"; not negated) whose content means what a
  sentence of an earlier article reported;
* ``responds`` — another answer to it (a confirmation, an accusation: ``links.respond_stances``);
* ``contradicts`` — the same canonical speaker confirms in one article what they deny in another.

A link joins an answering claim (article, ledger place, cue sentence) to the answered sentence (and
the claim whose cue it is, if any). Its score is the similarity by meaning of the claim's content
(embedded on its own) and the sentence's pooled vector from the catalogue; it must reach
``links.threshold``. The answered article must be published on or before the answering one: when
either date is unknown the order cannot be checked, and the link is kept only when the similarity
reaches the higher ``links.unknown_date`` (fail safe: a wrong link is worse than a missing one).

What is never a link: two sentences of one article; a denial "answering" a sentence that is itself a
denial (the same denial reported twice, or two parties denying the same thing); a speaker answering
themself, except a confirmation against a denial (``contradicts``). Each answering claim links to at
most one sentence per other article, its best.

Links are computed at ingest for the new articles, both ways — their answering claims against the
sentences of other articles, and the answering claims of other articles against their sentences —
from bounded reads: the chunks nearest each claim's content (vector store and lexical index) and
the chunks nearest each of the new article's chunks, never a scan of the collection. Writing or
deleting an article drops its links both ways in the same transaction; the ingest then computes
them again. ``whosaid links --rebuild`` recomputes every link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from rag.attribution.lexicon import ASIDE_PREFIX, load_lexicon
from rag.attribution.speakers import SpeakerLookup
from rag.lexical import term_set
from rag.settings import LinksSettings
from rag.types import Claim, Link

if TYPE_CHECKING:
    from rag.store import Store

#: Stances whose claims deny what they answer.
DENY_STANCES = frozenset({"deny", "rule_out"})
#: An answering claim's content needs this many distinct terms to be matched: with fewer ("the
#: meeting"), any sentence holding them covers it all.
MIN_TERMS = 3
#: Sentences scored with their pooled vectors this far below the threshold are still embedded ...
SCREEN_MARGIN = 0.05
#: ... at most this many per answering claim and article (the best by the pooled score).
SCREEN_PER_ARTICLE = 2
#: Articles linked per batch by :func:`rebuild_links`.
REBUILD_BATCH = 64
#: Lines that point to other stories.
_ASIDE = re.compile(rf"^\s*{ASIDE_PREFIX}", re.I)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
#: The last sentence index of an article, as a window's end.
_END = 2**30


@dataclass
class _Answer:
    """An answering claim, with its content's vector."""

    article: str
    seq: int
    claim: Claim
    vec: np.ndarray
    text: str = ""  # its cue sentence
    terms: list[str] | None = None  # its content's terms, once scored


@dataclass
class _Target:
    """A sentence that may be answered, with its pooled vector."""

    article: str
    index: int
    vec: np.ndarray
    text: str = ""


def answering_stances(settings: LinksSettings) -> frozenset[str]:
    return DENY_STANCES | frozenset(settings.respond_stances)


def date_ok(answered: str, answering: str, score: float, settings: LinksSettings) -> bool:
    """Is the answered article published on or before the answering one? ISO days compare as text;
    when either is unknown, or not an ISO day ("7/21/2015" as some data sets write it, whose text order
    is no date order), only a link of similarity ``unknown_date`` or more is kept."""
    if _ISO_DAY.match(answered) and _ISO_DAY.match(answering):
        return answered[:10] <= answering[:10]
    return score >= settings.unknown_date


def needed(kind: str, threshold: float, settings: LinksSettings) -> float:
    """The least score a link of this kind needs: a contradiction (the same speaker, the opposite
    stance) ``contradicts_margin`` less than the others."""
    return threshold - settings.contradicts_margin if kind == "contradicts" else threshold


class Linker:
    """Finds the links touching some articles of one store, reading only their neighbourhood."""

    def __init__(self, store: "Store", settings: LinksSettings, threshold: float | None = None) -> None:
        self.store = store
        self.settings = settings
        self.threshold = settings.threshold if threshold is None else threshold
        self.stances = answering_stances(settings)
        self._speakers = SpeakerLookup(store.catalogue, store.space)
        self._lexical = store.lexical()
        self._negations = load_lexicon(store.settings.claims.lexicon).negations
        self._vectors: dict[str, np.ndarray] = {}
        self._term_sets: dict[str, frozenset[str]] = {}
        self._claims: dict[str, list[tuple[int, Claim]]] = {}
        self._meta: dict[str, tuple[str, str]] = {}

    # -- bounded reads ------------------------------------------------------------------------------
    def _placed(self, article_ids: Iterable[str]) -> None:
        """Read (once) the claims of these articles."""
        missing = sorted(set(article_ids) - set(self._claims))
        if missing:
            for a in missing:
                self._claims[a] = []
            cat = self.store.catalogue
            for seq, c in cat.placed_claims(self.store.space, missing):
                self._claims[c.article_id].append((seq, c))
            self._meta.update((i, (source, published)) for i, _, source, _, published in cat.article_meta(self.store.space, missing))

    def _neighbour_windows(self, vectors: Sequence[np.ndarray], texts: Sequence[str], exclude: str) -> list[dict[str, list[tuple[int, int]]]]:
        """Per query, the ``(first, last)`` windows of the nearest chunks (by meaning, and by words when a
        text is given) in articles other than ``exclude``."""
        store, n = self.store, self.settings.neighbours
        hits: list[list[str]] = []
        for vec, text in zip(vectors, texts):
            ids = [i for i, _ in store.nearest(vec, n)]
            if text:
                ids += [i for i, _ in self._lexical.search(text, n)]
            hits.append(list(dict.fromkeys(ids)))
        chunks = {c.id: c for c in store.catalogue.chunks(store.space, sorted({i for h in hits for i in h}))}
        out = []
        for h in hits:
            windows: dict[str, list[tuple[int, int]]] = {}
            for i in h:
                c = chunks.get(i)
                if c is not None and c.article_id != exclude:
                    windows.setdefault(c.article_id, []).append((c.first, c.last))
            out.append(windows)
        return out

    def _sentences(self, windows: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
        """``(article, index) -> (text, pooled vector)`` of the sentences in these windows (one read)."""
        rows = self.store.catalogue.window_sentences(self.store.space, sorted(set(windows)), self.store.embedder.dim)
        return {(s.article_id, s.index): (s.text, vec) for s, _, _, vec in rows}

    def _embed(self, claims: Sequence[Claim]) -> np.ndarray:
        """The claims' contents embedded (each text once per linker: a neighbour's claims come up again
        for every article near it)."""
        if not claims:
            return np.zeros((0, self.store.embedder.dim), dtype=np.float32)
        self._embed_texts([c.content for c in claims])
        return np.stack([self._vectors[c.content] for c in claims])

    def _answering(self, article: str) -> list[tuple[int, Claim]]:
        """The article's claims that may answer another's report: of the answering stances, not negated,
        and saying enough to be matched (:data:`MIN_TERMS`; "denied it" says nothing of what)."""
        return [(seq, c) for seq, c in self._claims.get(article, []) if c.stance in self.stances and not c.negated
                and len(set(self._lexical.terms(c.content))) >= MIN_TERMS]

    # -- the search, both ways ------------------------------------------------------------------------
    def find(self, article_ids: Sequence[str], progress: Callable[[int], None] | None = None) -> list[Link]:
        """Every link with an end in these articles (each article's both ways), best first per key."""
        found: dict[tuple[str, int, str, int], Link] = {}
        for article in dict.fromkeys(article_ids):
            for link in self._forward(article) + self._backward(article):
                old = found.get(link.key)
                if old is None or link.score > old.score:
                    found[link.key] = link
            if progress:
                progress(1)
        return sorted(found.values(), key=lambda x: x.key)

    def _forward(self, article: str) -> list[Link]:
        """This article's answering claims against the sentences of the articles nearest them."""
        self._placed([article])
        answers = self._answering(article)
        if not answers:
            return []
        own = self._sentences([(article, 0, _END)])
        vecs = self._embed([c for _, c in answers])
        windows = self._neighbour_windows(list(vecs), [c.content for _, c in answers], article)
        sentences = self._sentences((a, f, l) for w in windows for a, spans in w.items() for f, l in spans)
        pairs = []
        for (seq, claim), vec, near in zip(answers, vecs, windows):
            answer = _Answer(article, seq, claim, vec, own.get((article, claim.sentence_indexes[0]), ("", None))[0])
            targets = [_Target(a, i, v, text) for (a, i), (text, v) in sentences.items()
                       if a in near and any(f <= i <= l for f, l in near[a])]
            pairs.append((answer, targets))
        return self._links(pairs)

    def _backward(self, article: str) -> list[Link]:
        """The answering claims of the articles nearest this one's chunks against this one's sentences."""
        store = self.store
        own = self._sentences([(article, 0, _END)])
        chunks = store.catalogue.chunks(store.space, sorted(store.catalogue.chunk_ids(store.space, article)))
        queries = []
        for c in chunks:
            vs = [own[(article, i)][1] for i in range(c.first, c.last + 1) if (article, i) in own]
            if vs:
                q = np.mean(vs, axis=0)
                queries.append(q / max(float(np.linalg.norm(q)), 1e-12))
        if not queries:
            return []
        windows: dict[str, list[tuple[int, int]]] = {}
        for w in self._neighbour_windows(queries, [""] * len(queries), article):
            for a, spans in w.items():
                windows.setdefault(a, []).extend(spans)
        self._placed(windows)
        answers = [(a, seq, c) for a in sorted(windows) for seq, c in self._answering(a)
                   if any(f <= c.sentence_indexes[0] <= l for f, l in windows[a])]
        if not answers:
            return []
        cues = self._sentences((a, c.sentence_indexes[0], c.sentence_indexes[0]) for a, _, c in answers)
        vecs = self._embed([c for _, _, c in answers])
        targets = [_Target(article, i, v, text) for (_, i), (text, v) in sorted(own.items())]
        return self._links([(_Answer(a, seq, c, vec, cues.get((a, c.sentence_indexes[0]), ("", None))[0]), targets)
                            for (a, seq, c), vec in zip(answers, vecs)])

    # -- which pairs are links --------------------------------------------------------------------------
    def _links(self, pairs: Sequence[tuple[_Answer, Sequence[_Target]]]) -> list[Link]:
        """Per answering claim and other article, the best sentence that makes a link (in score order:
        the first whose dates are in order and whose kind is not ruled out), if it reaches the threshold."""
        floor = min(self.threshold - self.settings.contradicts_margin, self.settings.unknown_date)
        pairs = [(a, self._shortlist(a, [t for t in ts if t.article != a.article and not self._aside(t.text)], floor))
                 for a, ts in pairs if not self._aside(a.text)]
        self._placed({t.article for _, ts in pairs for t in ts})
        self._embed_texts([t.text for _, ts in pairs for t in ts])
        out = []
        for answer, targets in pairs:
            scored = sorted(((self._score(answer, t), t) for t in targets), key=lambda st: (-st[0], st[1].article, st[1].index))
            chosen: dict[str, Link] = {}
            for score, t in scored:
                if score < floor:
                    break
                if t.article in chosen:
                    continue
                answered_date, answering_date = self._meta.get(t.article, ("", ""))[1], self._meta.get(answer.article, ("", ""))[1]
                if not date_ok(answered_date, answering_date, score, self.settings):
                    continue
                there = [(n, c) for n, c in self._claims.get(t.article, []) if c.sentence_indexes[0] == t.index]
                kind, to_seq = self._kind(answer.claim, there)
                if kind is None or score < needed(kind, self.threshold, self.settings):
                    continue
                chosen[t.article] = Link(
                    kind=kind, score=score, from_article=answer.article, from_seq=answer.seq, from_sentence=answer.claim.sentence_indexes[0],
                    to_article=t.article, to_sentence=t.index, to_seq=to_seq, from_text=answer.text, to_text=t.text)
            out += chosen.values()
        return out

    def _shortlist(self, answer: _Answer, targets: Sequence[_Target], floor: float) -> list[_Target]:
        """The targets worth embedding: scored first with the catalogue's pooled sentence vectors (free,
        but blurred by their chunk's context), those within :data:`SCREEN_MARGIN` of the floor, at
        most :data:`SCREEN_PER_ARTICLE` per article. Embedding every sentence near a claim was 85% of
        the step's time."""
        if answer.terms is None:
            answer.terms = self._lexical.terms(answer.claim.content)
        cheap = []
        for t in targets:
            if t.text not in self._term_sets:
                self._term_sets[t.text] = term_set(t.text)
            score = (float(np.dot(answer.vec, t.vec)) + self._lexical.coverage_of(answer.terms, self._term_sets[t.text])) / 2
            if score >= floor - SCREEN_MARGIN:
                cheap.append((score, t))
        kept: dict[str, int] = {}
        out = []
        for _, t in sorted(cheap, key=lambda st: (-st[0], st[1].article, st[1].index)):
            if kept.get(t.article, 0) < SCREEN_PER_ARTICLE:
                kept[t.article] = kept.get(t.article, 0) + 1
                out.append(t)
        return out

    def _embed_texts(self, texts: Sequence[str]) -> None:
        """Embed (once per linker) the sentences that may be answered: a sentence embedded on its own
        tells one fact from another better than its pooled vector, which carries its chunk's context."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vecs = np.asarray(self.store.embedder.embed(missing), dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            self._vectors.update(zip(missing, vecs))

    def _score(self, answer: _Answer, target: _Target) -> float:
        """The mean of the similarity by meaning of the claim's content and the sentence (each embedded
        on its own), and the share of the content's IDF-weighted terms the sentence holds: as topics
        are matched (rag/attribution/topics.py), meaning and words must both agree."""
        if answer.terms is None:
            answer.terms = self._lexical.terms(answer.claim.content)
        if target.text not in self._term_sets:
            self._term_sets[target.text] = term_set(target.text)
        dense = float(np.dot(answer.vec, self._vectors[target.text]))
        return (dense + self._lexical.coverage_of(answer.terms, self._term_sets[target.text])) / 2

    def _aside(self, text: str) -> bool:
        """A line pointing to another article ("Read Also: Minister Confirms ..."): another story's
        headline, neither a report of this one nor an answer to anything."""
        return bool(_ASIDE.match(text))

    def _negative(self, text: str) -> bool:
        """Does the text hold a negation of the lexicon's ("not", "n't", "never", ...)?"""
        lowered = f" {text.lower().replace('’', chr(39))} "
        return any((f" {n} " in lowered) if n.isalpha() or " " in n else (n in lowered) for n in self._negations)

    def _key(self, claim: Claim) -> str:
        """The claim's canonical named speaker ('' for one the article only describes)."""
        key = self._speakers.key(claim)
        return "" if "#" in key else key

    def _kind(self, claim: Claim, there: Sequence[tuple[int, Claim]]) -> tuple[str | None, int | None]:
        """The link's kind for an answering claim and the claims whose cue is the answered sentence
        (None: no link), and the answered claim's place. A denial of what the same speaker confirmed,
        or a confirmation of what they denied, contradicts; a denial of a sentence that is itself a
        denial (or a "did not deny"), or of what its speaker had already denied, is no answer; nor is a
        confirmation of what its speaker had confirmed, or had not denied. What the speaker had said in
        negative words ("The port is not for sale", he said) is a denial already: a later one repeats it."""
        me = self._key(claim)
        own = [(n, c) for n, c in there if me and self._key(c) == me]
        denials = [(n, c) for n, c in there if c.stance in DENY_STANCES]
        if claim.stance in DENY_STANCES:
            confirmed = [(n, c) for n, c in own if c.stance == "confirm" and not c.negated]
            if confirmed:
                return "contradicts", confirmed[0][0]
            if denials or any(c.stance == "confirm" or self._negative(c.content) for _, c in own):
                return None, None
            return "denies", there[0][0] if there else None
        if claim.stance == "confirm":
            denied = [(n, c) for n, c in own if c.stance in DENY_STANCES and not c.negated]
            if denied:
                return "contradicts", denied[0][0]
        if own or denials:
            return None, None
        return "responds", there[0][0] if there else None


def link_articles(store: "Store", article_ids: Sequence[str], settings: LinksSettings | None = None,
                  progress: Callable[[int], None] | None = None) -> list[Link]:
    """Find and store the links touching these (newly stored) articles; returns them. The caller
    holds the write lock."""
    settings = settings or store.settings.links
    links = Linker(store, settings).find(article_ids, progress)
    if links:
        store.catalogue.add_links(store.space, links)
    return links


def rebuild_links(store: "Store", settings: LinksSettings | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Drop every link of the collection and compute them all again (article by article, each
    neighbourhood read as at ingest), then clear the "links may be missing" mark; returns the number
    stored. The caller holds the write lock."""
    settings = settings or store.settings.links
    store.catalogue.delete_links(store.space)
    ids = [aid for aid, _, _ in store.catalogue.article_names(store.space)]
    stored = 0
    for b in range(0, len(ids), REBUILD_BATCH):  # a fresh linker per batch: what it caches stays bounded
        links = Linker(store, settings).find(ids[b : b + REBUILD_BATCH], progress)
        if links:
            store.catalogue.add_links(store.space, links)
        stored += len(links)
    store.catalogue.clear_links_dirty(store.space)  # every link is there now
    return len(store.catalogue.links(store.space, limit=None)) if stored else 0


__all__ = ["DENY_STANCES", "Linker", "answering_stances", "date_ok", "link_articles", "needed", "rebuild_links"]

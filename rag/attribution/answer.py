"""Attribution answers from the claims ledger, built so that they cannot misattribute.

A recognised question (:mod:`rag.attribution.questions`) is answered only from claims that pass
every constraint it names:

* **speaker** — the claim is by the asked speaker (name, alias, role or resolved pronoun; see
  :func:`rag.attribution.speakers.speaker_matches`), never by someone who merely shares a word;
* **stance** — the claim's stance is in the asked stance's family ("who rejected ..." is answered
  from denials; "what did X say?" from anything X said, denied or confirmed);
* **topic** — the claim, or the article it is in, matches the topic by meaning *and* by its words
  (:class:`TopicMatcher`); a word of the speaker's name never counts ("Port Elsin" is no port sale).

Negated claims answer as negations ("did not deny"). Yes/no questions answer yes, no (a negated
claim, or the opposite stance) or "not reported". When nothing passes, the answer abstains and
says what was not found ("The articles do not report that anyone ruled out a fuel price
increase."); it never falls back to free retrieval, which could quote someone else's claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from rag.attribution.lexicon import Lexicon
from rag.attribution.questions import AttributionQuery, parse
from rag.attribution.render import claim_line, speaker_phrase
from rag.attribution.speakers import SpeakerDirectory, SpeakerLookup, party_matches, speaker_matches, words
from rag.attribution.topics import TopicMatcher
from rag.citations import strip_markers
from rag.filters import ArticleMeta, FilterResolver, Filters, Scope, day_bounds, day_window, in_range, iso_day
from rag.settings import AttributionSettings
from rag.store import Store
from rag.types import STANCES, Candidate, Claim, Link, sentence_index
from rag.verify import plain_text


#: Words that name a document rather than who wrote it ("the Reuters article").
DOCUMENT_WORDS = frozenset({"article", "articles", "report", "story", "piece", "bulletin", "statement", "release", "page", "text"})


@dataclass
class LedgerAnswer:
    """An attribution answer before citation checking: the sentences shown (numbered [1..n]), the
    text with markers, the claims it rests on, or an abstention that says what was not found."""

    query: AttributionQuery
    shown: list[Candidate] = field(default_factory=list)
    text: str = ""
    claims: list[Claim] = field(default_factory=list)
    abstained: bool = False
    #: the question asks what a document says ("what does the water bulletin say about ...?"): answer
    #: from these articles' own sentences, not from claims
    documents: list[str] = field(default_factory=list)


def _in_month(day: str, asked: str) -> bool:
    """Is the published day in the asked month ("April", "April 2026"; a month without a year: any
    year's)? A date that cannot be read is not."""
    day = iso_day(day)
    window = day_window(asked, anchor=day) if day else None  # anchored on the day: its own year's April, or the one before
    return window is not None and in_range(day, *window)


class AttributionAnswerer:
    """Answers recognised attribution questions from the ledger of one store."""

    def __init__(self, store: Store, lexicon: Lexicon, settings: AttributionSettings, resolver: FilterResolver | None = None) -> None:
        self.store = store
        self.lexicon = lexicon
        self.settings = settings
        #: the articles' days, for "since May 1" and "before the Ledger reported ..." (the engine's, shared)
        self.resolver = resolver or FilterResolver(store)
        self.topics = TopicMatcher(store, lexicon, settings)
        self._directory: tuple[int, SpeakerDirectory] | None = None
        self._articles: tuple[int, list[tuple[str, str, str]]] | None = None
        self._keys: tuple[int, list[str]] | None = None

    def parse(self, question: str) -> AttributionQuery | None:
        return parse(question, self.lexicon)

    def directory(self) -> SpeakerDirectory:
        """The collection's speakers, rebuilt when the collection changes."""
        generation = self.store.catalogue.generation(self.store.space)
        if self._directory is None or self._directory[0] != generation:
            self._directory = (generation, SpeakerDirectory(self.store.catalogue.claims(self.store.space)))
        return self._directory[1]

    def speakers(self) -> SpeakerLookup:
        """A lookup for one question, with the collection's named speaker keys read once per generation
        (one pass over the speaker index: what folds a surname into a full name)."""
        generation = self.store.catalogue.generation(self.store.space)
        if self._keys is None or self._keys[0] != generation:
            self._keys = (generation, self.store.catalogue.speaker_keys(self.store.space))
        return SpeakerLookup(self.store.catalogue, self.store.space, keys=self._keys[1])

    def candidates(
        self, query: AttributionQuery, stance: str | None = None, speakers: SpeakerLookup | None = None, scope: Scope | None = None,
    ) -> list[Claim]:
        """Claims of the asked stance family by the asked speaker about the asked topic (negated or not),
        read through the catalogue's indexes: a named speaker's claims only, else the claims of the
        stance in the passages nearest the topic once the stance has more than a shortlist.

        What is read is bounded by what the answer can show, not by the ledger: without a topic, the
        first ``max_listed`` claims of the speaker (negated, and not); with one, all of the speaker's
        claims while they are a shortlist, else those in the passages nearest the topic."""
        stances = sorted({stance} if stance else self.lexicon.accepted(query.stance))
        if scope is not None:
            pool = self._scoped(query, stances, speakers or self.speakers(), scope)
        elif query.speaker:
            lookup = speakers or self.speakers()
            if query.party:  # who was told is filtered here, after reading: no limit may cut it short
                pool = lookup.matching(query.speaker, stances)
            elif query.topic:
                pool = lookup.matching(query.speaker, stances, limit=self.topics.PREFILTER + 1)
                if len(pool) > self.topics.PREFILTER:
                    pool = lookup.among(query.speaker, self._near(query.topic, stances, also=query.speaker))
            else:
                n = self.settings.max_listed
                pool = lookup.matching(query.speaker, stances, limit=n, negated=False) + lookup.matching(
                    query.speaker, stances, limit=n, negated=True)
        else:
            cat, space = self.store.catalogue, self.store.space
            places = cat.ledger_places(space, stances, self.topics.PREFILTER + 1)
            pool = self._near(query.topic, stances) if query.topic and len(places) > self.topics.PREFILTER else cat.claims_at(space, places)
        if query.party:
            pool = [c for c in pool if party_matches(query.party, c)]
        if query.topic:
            exclude = [query.speaker, query.party]
            pool = self.topics.select(query.topic, pool, exclude=[w for w in exclude if w], article_level=bool(query.about))
        return pool

    #: A filter matching at most this many articles has all their claims of the asked stances read.
    SCOPED_ARTICLES = 32

    def _scoped(self, query: AttributionQuery, stances: Sequence[str], lookup: SpeakerLookup, scope: Scope) -> list[Claim]:
        """The claims :meth:`candidates` reads under filters, every read restricted to them first (no
        limit cuts claims inside the filters for claims outside): a few articles' claims are read
        whole; else the asked speaker's claims, the filtered speaker's, the claims in the passages
        nearest the topic inside the filters, or the first claims of the filtered articles."""
        cat, space = self.store.catalogue, self.store.space
        if scope.articles is not None and len(scope.articles) <= self.SCOPED_ARTICLES:
            pool = cat.claims(space, stances=stances, article_ids=sorted(scope.articles))
            pool = lookup.among(query.speaker, pool) if query.speaker else pool
        elif query.speaker:
            pool = lookup.matching(query.speaker, stances)  # all the asked speaker's claims: O(their claims)
        elif scope.speaker_claims is not None:
            pool = [c for c in scope.speaker_claims if c.stance in stances]
        elif query.topic:
            pool = self._near(query.topic, stances, within=scope.articles)
        else:
            assert scope.articles is not None
            pool = cat.claims(space, stances=stances, article_ids=sorted(scope.articles), limit=self.topics.PREFILTER + 1)
        return [c for c in pool if scope.allows(c)]

    def _near(self, topic: str, stances: Sequence[str], also: str = "", within: frozenset[str] | None = None) -> list[Claim]:
        """Claims of ``stances`` inside the chunks nearest the topic, by meaning and by words (the
        retriever's two indexes): what a topic question reads when the ledger is too large to read.
        ``also`` (the asked speaker) joins the topic's words in the lexical search, so the passages
        that name both come first."""
        store, n = self.store, self.topics.PREFILTER // 2
        if within is None:
            ids = [i for i, _ in store.nearest(store.embedder.embed_query(topic), n)]
            ids += [i for i, _ in store.lexical().search(f"{also} {topic}".strip(), n)]
        else:  # a filter's articles: both searches run inside them
            ids = [i for i, _ in store.nearest(store.embedder.embed_query(topic), n, within)]
            ids += [i for i, _ in store.lexical().search(f"{also} {topic}".strip(), n, within)]
        windows: dict[str, list[tuple[int, int]]] = {}
        for c in store.catalogue.chunks(store.space, list(dict.fromkeys(ids))):
            windows.setdefault(c.article_id, []).append((c.first, c.last))
        inside = [(aid, seq) for aid, seq, sids in store.catalogue.claim_places(store.space, stances, sorted(windows))
                  if any(a <= sentence_index(sid) <= b for sid in sids for a, b in windows[aid])]
        return store.catalogue.claims_at(store.space, inside)  # only the claims inside are read whole

    def answer(self, question: str, scope: Scope | None = None) -> LedgerAnswer | None:
        """None when the question is not an attribution question; else the answer or an abstention.
        With a ``scope`` (resolved filters), only claims inside it are read and answered from."""
        query = self.parse(question)
        if query is None:
            return None
        if query.reporter:
            return self._answered(query)
        if query.earlier:
            return self._turned(query)
        if not query.when[0]:
            return self._ledger(query, scope)
        dated = self._dated(query, scope)
        if isinstance(dated, LedgerAnswer):
            return dated
        scope, lead = dated
        found = self._ledger(query, scope)
        if not found.abstained and not found.documents:
            found.text = f"{lead}\n{found.text}"
        return found

    def _ledger(self, query: AttributionQuery, scope: Scope | None) -> LedgerAnswer:
        """The answer from the claims inside ``scope`` (every claim without one)."""
        speakers = self.speakers()
        if query.speaker and query.stance == "say" and not speakers.exists(query.speaker):
            documents = self._documents(query.speaker)
            if scope is not None and scope.articles is not None:
                documents = [d for d in documents if d in scope.articles]
            if documents:
                return LedgerAnswer(query, documents=documents)
        found = self.candidates(query, speakers=speakers, scope=scope)
        positive = [c for c in found if not c.negated]
        negated = [c for c in found if c.negated]
        if query.yes_no:
            if query.negated:
                positive, negated = negated, positive
            if positive:
                return self._answer(query, positive, "Yes.")
            if negated:
                return self._answer(query, negated, "No.")
            opposite = self.lexicon.opposites.get(query.stance)
            contrary = [c for c in self.candidates(query, opposite, speakers, scope) if not c.negated] if opposite and not query.negated else []
            if contrary:
                return self._answer(query, contrary, "No.")
            return LedgerAnswer(query, text=f"Not reported: {self.not_found(query)}", abstained=True)
        if query.negated:
            return self._answer(query, negated) if negated else LedgerAnswer(query, text=self.not_found(query), abstained=True)
        if positive:
            return self._answer(query, positive)
        if negated:  # nobody denied it, but someone is reported not to have: say so, with the sentences
            return self._answer(query, negated, self.not_found(query))
        return LedgerAnswer(query, text=self.not_found(query), abstained=True)

    def _dated(self, query: AttributionQuery, scope: Scope | None) -> tuple[Scope, str] | LedgerAnswer:
        """The scope narrowed to the articles published when the question asks ("since May 1, 2026",
        "in April", "before the Ledger reported it was cracked"), with the answer's first line saying
        which days those are; an abstention when the event is not found or no article falls inside,
        never an answer from outside the asked time."""
        word, text = query.when
        if query.event[0]:
            event = self._event(*query.event, query.topic)
            if event is None:
                said = plain_text(strip_markers(text))
                return LedgerAnswer(query, abstained=True, text=f"The articles do not say when {said}, so nothing can be placed {word} it.")
            day, meta = event
            lo, hi = day_bounds(word, day, day)
            anchor = f" (first reported on {day}, in “{meta.title or meta.id}”{', ' + meta.source if meta.source else ''})"
        else:
            window = day_window(text, (self.resolver.date_range() or ("", ""))[1])  # the archive's last day anchors "March"
            if window is None:  # the parser's date pattern and this reader disagree: never widen the question
                return LedgerAnswer(query, abstained=True, text=f"whosaid cannot read the date {plain_text(strip_markers(text))!r}.")
            lo, hi = day_bounds(word, *window)
            anchor = ""
        ids = self.resolver.published(lo, hi)
        if scope is not None and scope.articles is not None:
            ids &= scope.articles
        claims = None if scope is None or scope.speaker_claims is None else [c for c in scope.speaker_claims if c.article_id in ids]
        if not ids:
            return LedgerAnswer(query, text=self.not_found(query), abstained=True)
        span = (f"on {lo}" if lo == hi else f"from {lo} to {hi}") if lo and hi else f"on or after {lo}" if lo else f"on or before {hi}"
        return Scope(scope.filters if scope is not None else Filters(), ids, claims), f"From articles published {span}{anchor}:"

    def _event(self, who: str, what: str, topic: str) -> tuple[str, ArticleMeta] | None:
        """The day an event was first reported ("the Ledger" / "it was cracked", about "the breakwater"):
        the earliest dated article of that outlet (else with that speaker's claims) with a passage that
        holds the event's words and covers the topic's (its title counts). None when no article does."""
        articles = self._by_source(who)
        if not articles:
            articles = sorted({c.article_id for c in self.speakers().matching(who, limit=self.settings.max_listed * 10, stances=STANCES)})
        lexical = self.store.lexical()
        own, about = lexical.terms(what), lexical.terms(topic)
        if not articles or not own:
            return None
        hits = [i for i, _ in lexical.search(f"{what} {topic}", self.topics.PREFILTER, articles)]
        table = self.resolver.articles()
        found = []
        for chunk in self.store.catalogue.chunks(self.store.space, hits):
            meta = table.get(chunk.article_id)
            text = f"{meta.title if meta else ''} {chunk.text}"
            if meta is not None and meta.day and lexical.coverage(own, text) == 1.0 and (
                    not about or lexical.coverage(about, text) >= self.settings.topic_coverage):
                found.append((meta.day, meta))
        return min(found, key=lambda x: (x[0], x[1].id)) if found else None

    def _by_source(self, name: str) -> list[str]:
        """Articles whose outlet the name words ("the Ledger" -> "Valdoria Ledger")."""
        wanted = set(words(name)) - DOCUMENT_WORDS
        return [aid for aid, _, source in self._names() if wanted and wanted <= set(words(source))]

    def _answered(self, query: AttributionQuery) -> LedgerAnswer:
        """"Who denied what the Valdoria Ledger reported?": the stored cross-article links
        (rag/attribution/links.py) whose answered sentence is in an article of that source, or is a
        claim by that speaker, and whose answering claim is of the asked stance family; each shown with
        both sentences, grouped by who answered. No such link: an abstention, never a guess."""
        cat, space = self.store.catalogue, self.store.space
        by_source = self._by_source(query.reporter)
        by_speaker: list[Claim] = []
        if not by_source and set(words(query.reporter)) - DOCUMENT_WORDS:
            by_speaker = self.speakers().matching(query.reporter, limit=self.settings.max_listed * 10, stances=STANCES)
        targets = by_source or sorted({c.article_id for c in by_speaker})
        stances = self.lexicon.accepted(query.stance)
        links = [x for x in cat.links(space, to_articles=targets) if x.from_claim is not None and x.from_claim.stance in stances
                 and not x.from_claim.negated] if targets else []
        if not by_source:  # a speaker's report: the answered sentence must be their claim
            links = [x for x in links if x.to_claim is not None and speaker_matches(query.reporter, x.to_claim)]
        if query.topic:
            lexical = self.store.lexical()
            terms = lexical.terms(query.topic)
            links = [x for x in links if lexical.coverage(terms, " ".join((x.from_text, x.to_text))) >= self.settings.topic_coverage]
        if not links:
            who = plain_text(strip_markers(query.reporter))
            topic = f" about {plain_text(strip_markers(query.topic))}" if query.topic else ""
            return LedgerAnswer(query, text=f"The articles do not say that anyone {self.lexicon.past(self._lemma(query))} "
                                f"what {who} reported{topic}.", abstained=True)
        links = sorted(links, key=lambda x: (x.from_published or "~", x.from_article, x.from_seq, x.to_published, x.to_article))
        links = links[: self.settings.max_listed]
        display = self.speakers()
        groups: dict[str, list[tuple[Link, Claim]]] = {}
        for x, claim in zip(links, display.display([x.from_claim for x in links if x.from_claim is not None])):
            groups.setdefault(claim.speaker.lower() or claim.speaker_key, []).append((x, claim))  # as the reader sees the name
        shown_at: list[tuple[str, int]] = []  # numbered in the order the answer reads
        for x, _ in (item for items in groups.values() for item in items):
            for place in ((x.from_article, x.from_sentence), (x.to_article, x.to_sentence)):
                if place not in shown_at:
                    shown_at.append(place)
        rows = cat.window_sentences(space, [(a, i, i) for a, i in shown_at], self.store.embedder.dim)
        shown = [Candidate(sentence=s, title=title, url=url, score=1.0) for s, title, url, _ in rows]
        number = {(c.sentence.article_id, c.sentence.index): n for n, c in enumerate(shown, start=1)}
        lines, claims = [], []
        when = lambda *parts: ", ".join(p for p in parts if p)  # noqa: E731
        for items in groups.values():
            lines.append(f"{speaker_phrase(items[0][1])}:")
            for x, claim in items:
                answered = "contradicting what they said" if x.kind == "contradicts" else "answering"
                lines.append(f"- {claim.cue} [{number[(x.from_article, x.from_sentence)]}] ({when(x.from_source, x.from_published)}), "
                             f"{answered} [{number[(x.to_article, x.to_sentence)]}] ({when(x.to_source, x.to_title, x.to_published)})")
                claims.append(claim)
        return LedgerAnswer(query, shown=shown, text="\n".join(lines), claims=claims)

    def _turned(self, query: AttributionQuery) -> LedgerAnswer:
        """"Who confirmed X and later denied it?", "What did Hallin deny in April and confirm in May?":
        the stored ``contradicts`` links (the same speaker, opposite stances, across articles) whose
        earlier claim is of the first stance and later one of the second, by the asked speaker, about
        the asked topic, in the asked months; each shown with both sentences, earlier first."""
        cat, space = self.store.catalogue, self.store.space
        found = []
        for x in cat.links(space, kinds=["contradicts"], limit=self.settings.max_listed * 10):
            later, earlier = x.from_claim, x.to_claim
            if later is None or earlier is None or later.negated or earlier.negated:
                continue
            if later.stance not in self.lexicon.accepted(query.stance) or earlier.stance not in self.lexicon.accepted(query.earlier):
                continue
            if query.speaker and not speaker_matches(query.speaker, later):
                continue
            if any(month and not _in_month(day, month) for month, day in zip(query.months, (x.to_published, x.from_published))):
                continue
            found.append(x)
        if query.topic:
            lexical = self.store.lexical()
            terms = lexical.terms(query.topic)
            found = [x for x in found if lexical.coverage(terms, " ".join((x.from_text, x.to_text))) >= self.settings.topic_coverage]
        if not found:
            who = plain_text(strip_markers(query.speaker)) if query.speaker else "anyone"
            what = f" {plain_text(strip_markers(query.topic))}" if query.topic else " anything"
            return LedgerAnswer(query, abstained=True, text=f"The articles do not say that {who} {self.lexicon.past(query.earlier.replace('_', ' '))}"
                                f"{what} and later {self.lexicon.past(query.stance.replace('_', ' '))} it.")
        found = found[: self.settings.max_listed]
        places = list(dict.fromkeys(p for x in found for p in ((x.to_article, x.to_sentence), (x.from_article, x.from_sentence))))
        rows = cat.window_sentences(space, [(a, i, i) for a, i in places], self.store.embedder.dim)
        shown = [Candidate(sentence=s, title=title, url=url, score=1.0) for s, title, url, _ in rows]
        number = {(c.sentence.article_id, c.sentence.index): n for n, c in enumerate(shown, start=1)}
        display = self.speakers()
        laters = display.display([x.from_claim for x in found])  # type: ignore[misc]
        earliers = display.display([x.to_claim for x in found])  # type: ignore[misc]
        when = lambda *parts: ", ".join(p for p in parts if p)  # noqa: E731
        lines = []
        for x, later, earlier in zip(found, laters, earliers):
            lines.append(f"{speaker_phrase(later)}: {earlier.cue} [{number[(x.to_article, x.to_sentence)]}] "
                         f"({when(x.to_source, x.to_published)}), then {later.cue} [{number[(x.from_article, x.from_sentence)]}] "
                         f"({when(x.from_source, x.from_published)})")
        return LedgerAnswer(query, shown=shown, text="\n".join(lines), claims=[c for pair in zip(earliers, laters) for c in pair])

    def _lemma(self, query: AttributionQuery) -> str:
        entry = self.lexicon.question_verbs.get(" ".join(query.verb.lower().split()))
        return entry.word if entry else query.stance.replace("_", " ")

    def _documents(self, asked: str) -> list[str]:
        """Articles the asked 'speaker' names by their title or source ("the water bulletin", "Reuters")."""
        wanted = set(words(asked))
        if not wanted:
            return []
        named = set(wanted) - DOCUMENT_WORDS
        return [aid for aid, title, source in self._names()
                if wanted <= set(words(title)) or (named and named <= set(words(source)))]

    def _names(self) -> list[tuple[str, str, str]]:
        """Every article's id, title and source, read once per collection generation."""
        generation = self.store.catalogue.generation(self.store.space)
        if self._articles is None or self._articles[0] != generation:
            self._articles = (generation, self.store.catalogue.article_names(self.store.space))
        return self._articles[1]

    def not_found(self, query: AttributionQuery) -> str:
        """What was not found, in words: 'The articles do not report that anyone ruled out a fuel price increase.'"""
        entry = self.lexicon.question_verbs.get(" ".join(query.verb.lower().split()))
        lemma = entry.word if entry else query.stance.replace("_", " ")
        # the question's words are echoed: as plain text, whoever wrote them (a user, or a model's rewrite)
        speaker, topic, party = (plain_text(strip_markers(x)) if x else x for x in (query.speaker, query.topic, query.party))
        who = speaker or "anyone"
        what = f"anything {query.about} {topic}" if query.about else topic or "anything"
        if party:
            what = f"{party} as saying {what}" if query.stance == "quote" else f"{what} to {party}"
        if query.when[0]:
            what += f" {query.when[0]} {plain_text(strip_markers(query.when[1]))}"
        if query.negated:
            return f"The articles do not report that {who} did not {lemma} {what}."
        return f"The articles do not report that {who} {self.lexicon.past(lemma)} {what}."

    def _answer(self, query: AttributionQuery, claims: list[Claim], lead: str = "") -> LedgerAnswer:
        claims = self.speakers().display(claims if query.topic else claims[: self.settings.max_listed])
        ids: list[tuple[str, int]] = []
        for c in claims:
            for idx in c.sentence_indexes:
                if (c.article_id, idx) not in ids:
                    ids.append((c.article_id, idx))
        rows = self.store.catalogue.window_sentences(self.store.space, [(a, i, i) for a, i in ids], self.store.embedder.dim)
        shown = [Candidate(sentence=s, title=title, url=url, score=1.0) for s, title, url, _ in rows]
        number = {(c.sentence.article_id, c.sentence.index): n for n, c in enumerate(shown, start=1)}
        lines = [lead] if lead else []
        for c in claims:
            markers = "".join(f"[{number[(c.article_id, i)]}]" for i in c.sentence_indexes if (c.article_id, i) in number)
            lines.append(claim_line(c, markers))
        return LedgerAnswer(query, shown=shown, text="\n".join(lines), claims=claims)


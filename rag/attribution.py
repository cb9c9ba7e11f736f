"""Attribution questions ("who denied what?", "what did Syria deny?", "who confirmed the meeting?")
answered from the claims ledger instead of from free retrieval.

A recognised question becomes a ledger query (stance, speaker, topic). The matching claims become
one line each, ``speaker — stance (cue) — content [n]``, where the markers point at every sentence
in the claim's ``sentence_ids`` (the denial *and* what it denies). Questions that are not about
attribution, or that no claim matches, go to the normal retrieval path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


from rag.extractive import Draft
from rag.store import Store
from rag.types import Candidate, Claim

# verb forms in questions -> stance
VERBS: dict[str, str] = {
    **dict.fromkeys(["deny", "denied", "denies", "reject", "rejected", "rejects", "dismiss", "dismissed", "refute", "refuted", "denying"], "deny"),
    **dict.fromkeys(["confirm", "confirmed", "confirms", "acknowledge", "acknowledged", "admit", "admitted"], "confirm"),
    **dict.fromkeys(["claim", "claimed", "claims", "allege", "alleged"], "claim"),
    **dict.fromkeys(["rule out", "ruled out", "rules out", "rule", "ruled"], "rule_out"),
    **dict.fromkeys(["accuse", "accused", "accuses", "blame", "blamed"], "accuse"),
    **dict.fromkeys(["reveal", "revealed", "reveals", "disclose", "disclosed"], "reveal"),
    **dict.fromkeys(["report", "reported", "reports"], "report"),
    **dict.fromkeys(["quote", "quoted", "quotes"], "quote"),
    **dict.fromkeys(["warn", "warned", "warns"], "warn"),
    **dict.fromkeys(["say", "said", "says", "tell", "told", "state", "stated"], "say"),
}
_VERB = "|".join(sorted((re.escape(v) for v in VERBS), key=len, reverse=True))
WHO = re.compile(rf"^\s*who\s+(?P<neg>did not |didn't )?(?P<verb>{_VERB})\b(?P<rest>.*?)\??\s*$", re.I)
WHAT_DID = re.compile(
    rf"^\s*what\s+(?:did|does|do|has|have|had)\s+(?P<speaker>.+?)\s+(?P<neg>not\s+)?(?P<verb>{_VERB})\b(?P<rest>.*?)\??\s*$", re.I
)
WHAT_WAS = re.compile(rf"^\s*what\s+(?:was|were|has been|have been)\s+(?P<verb>{_VERB})(?:\s+by\s+(?P<speaker>.+?))?\s*\??\s*$", re.I)
ALL_OF = re.compile(r"^\s*(?:list|show)(?: me)?(?: all)?(?: the)? (?P<noun>denials|confirmations|claims|quotes|warnings|accusations)\b.*$", re.I)
NOUN_STANCE = {"denials": "deny", "confirmations": "confirm", "claims": "claim", "quotes": "quote", "warnings": "warn", "accusations": "accuse"}
# What a question may add after the verb without naming a topic.
NO_TOPIC = re.compile(r"^\s*(?:what|anything|something|it|this|that|whom|to whom|and to whom|and what|,|\s)*$", re.I)
# "who denied what about the leak?": the topic is "the leak"
TOPIC_LEAD = re.compile(r"^\s*(?:what\s+)?(?:about|regarding|concerning|on|over|in)\s+", re.I)
# A speaker that stands for a name given elsewhere in the article ("The company", "the ministry", "she").
ANAPHORIC = re.compile(r"^(?:(?:the|this|that)\s+\w+(?:\s+\w+)?|he|she|it|they)$", re.I)
TO_WHOM = re.compile(r",?\s*(?:and\s+)?to whom\b", re.I)


@dataclass(frozen=True)
class AttributionQuery:
    stance: str
    negated: bool = False
    speaker: str = ""
    topic: str = ""
    to_whom: bool = False


def parse(question: str) -> AttributionQuery | None:
    """Recognise an attribution question; None for anything else."""
    q = question.strip()
    if m := ALL_OF.match(q):
        return AttributionQuery(stance=NOUN_STANCE[m.group("noun").lower()])
    if m := WHAT_WAS.match(q):
        return AttributionQuery(stance=VERBS[m.group("verb").lower()], speaker=(m.group("speaker") or "").strip())
    for pattern in (WHAT_DID, WHO):
        m = pattern.match(q)
        if not m:
            continue
        verb = m.group("verb").lower()
        rest = m.group("rest") or ""
        if verb in ("rule", "ruled") and not re.match(r"\s*out\b", rest, re.I):
            continue
        rest = re.sub(r"^\s*out\b", "", rest, flags=re.I)
        to_whom = bool(TO_WHOM.search(rest))
        rest = TO_WHOM.sub("", rest)
        topic = "" if NO_TOPIC.match(rest) else TOPIC_LEAD.sub("", rest).strip(" ,?.")
        speaker = m.group("speaker").strip() if "speaker" in pattern.groupindex else ""
        return AttributionQuery(
            stance=VERBS[verb], negated=bool(m.group("neg")), speaker=_strip_article(speaker), topic=topic, to_whom=to_whom
        )
    return None


def _strip_article(speaker: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", speaker, flags=re.I)


class AttributionAnswerer:
    """Answers recognised attribution questions from the ledger of one store."""

    def __init__(
        self, store: Store, max_claims: int = 8, max_listed: int = 30, min_relevance: float = 0.35, shortlist: int = 40
    ) -> None:
        self.store = store
        self.shortlist = shortlist
        self.max_claims = max_claims
        self.max_listed = max_listed
        self.min_relevance = min_relevance

    def claims_for(self, query: AttributionQuery) -> list[Claim]:
        """Ledger entries of the asked stance (negated: 'did not deny'), by the asked speaker."""
        space = self.store.space
        if query.negated:
            pool = [c for c in self.store.catalogue.claims(space, stance="other")
                    if re.search(r"\bnot\b|n't\b", c.cue) and VERBS.get(c.cue.split()[-1].lower()) == query.stance]
        else:
            pool = self.store.catalogue.claims(space, stance=query.stance)
        if not query.speaker:
            return pool
        wanted = query.speaker.lower()
        exact = [c for c in pool if wanted in c.speaker.lower()]
        if exact:
            return exact
        # named differently ("the harbour minister" vs "The minister"): most shared words wins
        words = {w for w in re.findall(r"\w+", wanted) if len(w) > 2}
        overlap = [(len(words & set(re.findall(r"\w+", c.speaker.lower()))), c) for c in pool]
        best = max((n for n, _ in overlap), default=0)
        if best:
            return [c for n, c in overlap if n == best]
        # "What did Nimbra Systems not deny?" when the article says "The company did not deny ...":
        # an anaphoric speaker in an article that names the asked speaker
        texts: dict[str, str] = {}
        out = []
        for c in pool:
            if not ANAPHORIC.match(c.speaker.strip()):
                continue
            if c.article_id not in texts:
                article = self.store.catalogue.article(space, c.article_id)
                texts[c.article_id] = f"{article.title}\n{article.text}".lower() if article else ""
            if wanted in texts[c.article_id]:
                out.append(c)
        return out

    def rank(self, claims: list[Claim], topic: str) -> list[Claim]:
        """Keep claims relevant to the topic: dense similarity of the cue sentence plus term coverage
        of the claim and its article's title."""
        if not topic or not claims:
            return claims[: self.max_listed]
        lexical = self.store.lexical()
        terms = lexical.terms(topic)
        qv = self.store.embedder.embed_query(topic)
        vec = self.store.catalogue.sentence_vectors(
            self.store.space, [(c.article_id, c.sentence_indexes[0]) for c in claims], self.store.embedder.dim
        )
        dense = [float(vec[(c.article_id, c.sentence_indexes[0])] @ qv) for c in claims]
        # term coverage costs a tokenisation per claim: only for the densest few dozen
        shortlist = sorted(range(len(claims)), key=lambda i: -dense[i])[: self.shortlist]
        titles = {aid: title for title, aid in self.store.catalogue.titles(self.store.space).items()}
        scored = []
        for i in shortlist:
            c = claims[i]
            # the title says what the article, and so its claims, are about ("... Data Leak ...")
            lex = lexical.coverage(terms, f"{titles.get(c.article_id, '')} {c.content} {c.other_party} {c.speaker}")
            scored.append((0.5 * dense[i] + 0.5 * lex, c))
        scored.sort(key=lambda x: -x[0])
        if not scored or scored[0][0] < self.min_relevance:
            return []
        best = scored[0][0]
        return [c for s, c in scored if s >= max(self.min_relevance, 0.85 * best)][: self.max_claims]

    def answer(self, question: str) -> tuple[list[Candidate], Draft, list[Claim]] | None:
        query = parse(question)
        if query is None:
            return None
        claims = self.rank(self.claims_for(query), query.topic)
        if not claims:
            return None
        ids: list[tuple[str, int]] = []
        for c in claims:
            for idx in c.sentence_indexes:
                if (c.article_id, idx) not in ids:
                    ids.append((c.article_id, idx))
        rows = self.store.catalogue.window_sentences(self.store.space, [(a, i, i) for a, i in ids], self.store.embedder.dim)
        shown = [Candidate(sentence=s, title=title, url=url, score=1.0) for s, title, url, _ in rows]
        number = {(c.sentence.article_id, c.sentence.index): n for n, c in enumerate(shown, start=1)}
        lines = []
        for c in claims:
            markers = "".join(f"[{number[(c.article_id, i)]}]" for i in c.sentence_indexes if (c.article_id, i) in number)
            who = c.speaker or "An unnamed source"
            party = ""
            if c.other_party:
                party = f"; quoting {c.other_party}" if c.stance == "quote" else f" {c.other_party}"
            lines.append(f"{who} — {c.stance.replace('_', ' ')} ({c.cue}{party}) — {c.content} {markers}")
        return shown, Draft(text="\n".join(lines)), claims

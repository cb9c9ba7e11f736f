"""Who said what over time: the collection's speakers with their counts, and one speaker's claims in
date order with the links that answer them or that they make (rag/attribution/links.py).

Both read through the catalogue's indexes: :func:`speakers` counts in SQL (GROUP BY over the
speaker index, one row per speaker, a page at a time), :func:`timeline` reads one speaker's claims.
Neither loads the ledger. A surname-only key ("reyland", from an article that never gives the first
name) is counted and listed under the one full name that ends with it, if exactly one does, as
everywhere else (:class:`rag.attribution.speakers.SpeakerLookup`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.attribution.speakers import SpeakerLookup, asked_words, name_key
from rag.types import Claim, Link

if TYPE_CHECKING:
    from rag.store import Store


@dataclass(frozen=True)
class SpeakerSummary:
    """One canonical named speaker: how many claims, in how many articles, first and last dates known."""

    key: str
    name: str
    claims: int
    articles: int
    first: str
    last: str

    def to_json_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "claims": self.claims, "articles": self.articles, "first": self.first, "last": self.last}


@dataclass
class TimelineEntry:
    """A speaker's claim with its article's title, source, date and url, and its links both ways."""

    claim: Claim
    seq: int
    title: str
    source: str
    published: str
    url: str
    links: list[Link] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        return {**self.claim.to_json_dict(), "seq": self.seq, "title": self.title, "source": self.source,
                "published": self.published, "url": self.url, "links": [x.to_json_dict() for x in self.links]}


def _lookup(store: "Store") -> SpeakerLookup:
    return SpeakerLookup(store.catalogue, store.space)


def _folds(lookup: SpeakerLookup, keys: list[str]) -> dict[str, str]:
    """Surname-only keys -> the one full name they fold into."""
    return {k: lookup.canonical(k) for k in keys if lookup.canonical(k) != k}


def speakers(store: "Store", limit: int = 50, offset: int = 0) -> list[SpeakerSummary]:
    """A page of the collection's named speakers, most claims first, counted in SQL."""
    lookup = _lookup(store)
    keys = store.catalogue.speaker_keys(store.space)
    fold = _folds(lookup, keys)
    rows = store.catalogue.speaker_counts(store.space, fold, limit, offset)
    members: dict[str, list[str]] = {}
    for k in keys:
        members.setdefault(fold.get(k, k), []).append(k)
    wanted = [m for key, *_ in rows for m in members.get(key, [key])]
    names = store.catalogue.speaker_names(store.space, wanted, 3)
    out = []
    for key, claims, articles, first, last in rows:
        written = [spk for m in members.get(key, [key]) for _, _, spk in names.get(m, [])]
        name = max(written, key=lambda s: (len(s), s)) if written else key
        out.append(SpeakerSummary(key, name, claims, articles, first, last))
    return out


def resolve_speaker(store: "Store", asked: str) -> str | None:
    """The canonical key a user means: a stored key as given ("tomas reyland"), a name whose key is
    stored ("Tomas Reyland"), else the one named key that holds every asked word ("Reyland");
    None when there is none, or more than one (fail safe: never someone else's timeline)."""
    lookup = _lookup(store)
    keys = store.catalogue.speaker_keys(store.space)
    known = set(keys)
    for candidate in (asked.strip().lower(), name_key(asked)):
        if candidate in known:
            return lookup.canonical(candidate)
    wanted = asked_words(asked)
    if not wanted:
        return None
    found = {lookup.canonical(k) for k in keys if wanted <= set(k.split())}
    return found.pop() if len(found) == 1 else None


def timeline(store: "Store", key: str, limit: int | None = None) -> list[TimelineEntry]:
    """Every claim of the speaker ``key`` (its folded surname key included) in date order: the
    article's publication date (unknown last), then ledger order; each with its links both ways."""
    lookup = _lookup(store)
    key = lookup.canonical(key)
    keys = [k for k in store.catalogue.speaker_keys(store.space) if lookup.canonical(k) == key] or [key]
    rows = store.catalogue.speaker_timeline(store.space, keys, limit)
    entries = [TimelineEntry(claim=c, seq=seq, title=title, source=source, published=published, url=url)
               for seq, c, title, source, published, url in rows]
    if entries:
        places = {(e.claim.article_id, e.seq): e for e in entries}
        for link in store.catalogue.links(store.space, article_ids=sorted({a for a, _ in places})):
            for place in ((link.from_article, link.from_seq), (link.to_article, link.to_seq)):
                entry = places.get(place)  # type: ignore[arg-type]
                if entry is not None and link not in entry.links:
                    entry.links.append(link)
    return entries


__all__ = ["SpeakerSummary", "TimelineEntry", "resolve_speaker", "speakers", "timeline"]

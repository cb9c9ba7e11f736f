"""Filters on questions and on the claims ledger: source, date range, article, speaker.

A :class:`Filters` (what the CLI, the API and the chat send) is resolved against a collection into a
:class:`Scope`: the set of articles that match, and with a speaker filter that speaker's claims.
Retrieval then searches only inside the scope (see :meth:`rag.retrieve.HybridSearch.candidates`),
so a filter that leaves 3 articles out of 10^5 still returns the best sentences of those 3; the
ledger reads only the scope's claims. An empty scope answers "No articles match the filters (...)".

Dates: :func:`iso_day` is the one place a published date is read into an ISO day. Loaders store that
day when they can read one (a dateline, a feed item, FA-KES's "4/5/2017"), else the text as given, which
is read again here for comparison; an article whose date cannot be read is left out by
any date filter (fail safe: a filter the reader set is never silently widened).
"""

from __future__ import annotations

import calendar
import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Sequence

from pydantic import BaseModel, Field, field_validator, model_validator

from rag.types import Claim

if TYPE_CHECKING:
    from rag.attribution.speakers import SpeakerLookup
    from rag.store import Store

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
_ISO_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]|$)")


#: A date as a question writes it: "May 1, 2026", "1 May 2026", "April 2026", "March", "2026", "2026-04-28".
#: The one home of month names; :func:`day_window` reads what this matches.
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE_TEXT = (rf"(?:{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?|{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}(?:,?\s+\d{{4}})?"
             r"|\d{4}(?:-\d{2}(?:-\d{2})?)?)")
_DATE_PARTS = re.compile(rf"^(?:(?P<m1>{_MONTH})\s+(?P<d1>{_DAY})|(?P<d2>{_DAY})\s+(?:of\s+)?(?P<m2>{_MONTH})|(?P<m3>{_MONTH}))(?:,?\s+(?P<y>\d{{4}}))?$", re.I)
#: How a question bounds a date or an event's day (``day_bounds``): "before" and "after" exclude it.
WHEN_WORDS = ("before", "after", "since", "from", "until", "till", "by", "in", "during", "on")


class FilterError(ValueError):
    """A filter value whoSaid cannot read (a bad date): one line naming the option."""


def _bound(value: str, option: str, end: bool) -> str:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as the ISO day it starts (``since``) or ends (``until``) on."""
    m = _ISO.match(value.strip())
    if not m:
        raise FilterError(f"{option}: expected a date as YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}")
    y, mo, d = int(m[1]), int(m[2] or (12 if end else 1)), m[3]
    try:
        if d is None:
            d = calendar.monthrange(y, mo)[1] if end else 1
        return date(y, mo, int(d)).isoformat()
    except ValueError:
        raise FilterError(f"{option}: {value!r} is not a calendar date") from None


class Filters(BaseModel):
    """What a question or a ledger listing is restricted to; every field empty means no filter.
    All filters given must hold together (source AND dates AND article AND speaker)."""

    sources: list[str] = Field(default_factory=list, description="Outlets, by name as stored (case-insensitive, exact): 'Reuters', 'Valdoria Ledger'; any of them")
    since: str = Field(default="", description="First day, inclusive: YYYY, YYYY-MM or YYYY-MM-DD (a month or year starts on its first day)")
    until: str = Field(default="", description="Last day, inclusive: YYYY, YYYY-MM or YYYY-MM-DD (a month or year ends on its last day)")
    articles: list[str] = Field(default_factory=list, description="Article ids, as `whosaid list` shows them; any of them")
    speaker: str = Field(default="", description="A speaker's name words ('Reyland', 'the harbour minister') or canonical key ('tomas reyland'): "
                         "the ledger keeps that speaker's claims; questions search the articles where they have claims")

    @field_validator("sources", "articles")
    @classmethod
    def _nonblank(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))

    @field_validator("speaker")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())

    @model_validator(mode="after")
    def _dates(self) -> "Filters":
        """Dates become ISO days (a bad one raises :class:`FilterError`, which pydantic reports as a
        validation error naming the field)."""
        if self.since:
            self.since = _bound(self.since, "since", end=False)
        if self.until:
            self.until = _bound(self.until, "until", end=True)
        if self.since and self.until and self.since > self.until:
            raise FilterError(f"since ({self.since}) is after until ({self.until})")
        return self

    @property
    def active(self) -> bool:
        return bool(self.sources or self.since or self.until or self.articles or self.speaker)

    def describe(self) -> str:
        """The filters in words, for messages: "source: Reuters; since 2017-01-01; speaker: Reyland"."""
        parts = []
        if self.sources:
            parts.append("source: " + " or ".join(self.sources))
        if self.since:
            parts.append(f"since {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.articles:
            parts.append("article: " + " or ".join(self.articles))
        if self.speaker:
            parts.append(f"speaker: {self.speaker}")
        return "; ".join(parts)


def make_filters(
    sources: Sequence[str] = (), since: str | None = None, until: str | None = None, articles: Sequence[str] = (),
    speaker: str | None = None,
) -> Filters:
    """Filters from loose values (CLI options, query parameters); raises :class:`FilterError` with one
    line naming the option at fault."""
    for option, value, end in (("since", since, False), ("until", until, True)):
        if value:
            _bound(value, option, end)  # the option's own message, not pydantic's wrapping of it
    if since and until and _bound(since, "since", False) > _bound(until, "until", True):
        raise FilterError(f"since ({since}) is after until ({until})")
    return Filters(sources=list(sources), since=since or "", until=until or "", articles=list(articles), speaker=speaker or "")


def day_window(text: str, anchor: str = "") -> tuple[str, str] | None:
    """The first and last ISO day a date written in a question covers: "May 1, 2026" one day, "April
    2026" a month, "2026" a year; None when it is no date. A month or a day without a year is the
    latest one that began on or before ``anchor`` (an ISO day: the collection's last article day, so
    "since March" asked of an archive means that archive's last March; today when no anchor)."""
    text = " ".join(text.replace(",", " ").split()).strip(". ")
    if _ISO.match(text):
        try:
            return _bound(text, "date", end=False), _bound(text, "date", end=True)
        except FilterError:
            return None
    m = _DATE_PARTS.match(text)
    if not m:
        return None
    name = (m["m1"] or m["m2"] or m["m3"]).lower().rstrip(".")
    month = next(i for i, full in enumerate(MONTHS, start=1) if full.startswith(name[:3]))
    day = m["d1"] or m["d2"]
    d = int(re.sub(r"\D", "", day)) if day else None
    if m["y"]:
        year = int(m["y"])
    else:
        top = date.fromisoformat(anchor) if _ISO_PREFIX.match(anchor or "") else date.today()
        year = top.year if (month, d or 1) <= (top.month, top.day) else top.year - 1
    try:
        first = date(year, month, d or 1)
    except ValueError:
        return None
    last = first if d else date(year, month, calendar.monthrange(year, month)[1])
    return first.isoformat(), last.isoformat()


def day_bounds(word: str, first: str, last: str) -> tuple[str, str]:
    """Inclusive ISO bounds ("" for open) of the days a question's "before/after/since/until/in X"
    allows, X covering ``first``..``last``: "before" ends the day before X starts and "after" starts the
    day after X ends (a same-day article may come before or after: fail safe, it is left out)."""
    word = word.lower()
    if word == "before":
        return "", (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    if word == "after":
        return (date.fromisoformat(last) + timedelta(days=1)).isoformat(), ""
    if word in ("since", "from"):
        return first, ""
    if word in ("until", "till", "by"):
        return "", last
    return first, last


def in_range(day: str, lo: str, hi: str) -> bool:
    """Is the ISO day within the inclusive bounds ("" for open)? A day that cannot be read is not."""
    return bool(day) and (not lo or lo <= day) and (not hi or day <= hi)


@lru_cache(maxsize=1 << 14)
def iso_day(published: str) -> str:
    """A published date as given ("2026-04-02", "April 2, 2026", "4/5/2017" (month first, as FA-KES and
    US outlets write it), "Wed, 05 Apr 2017 10:00:00 GMT") as an ISO day, or "" when it cannot be read
    (a bare year or month is not a day: "" too, so a date filter leaves it out)."""
    text = (published or "").strip()
    if not text:
        return ""
    m = _ISO_PREFIX.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return ""
    if _ISO.match(text) or not _YEAR.search(text):  # "2017" or "2017-04" is no day; "Monday" or "5 April" no year
        return ""
    from dateutil import parser as dateparser

    try:
        when = dateparser.parse(text, default=None)  # type: ignore[arg-type]
    except (ValueError, OverflowError, TypeError):
        return ""
    return when.date().isoformat() if when is not None else ""


@dataclass(frozen=True)
class ArticleMeta:
    """What the filters and the exports read of an article: no body."""

    id: str
    title: str
    source: str
    url: str
    published: str

    @property
    def day(self) -> str:
        return iso_day(self.published)


def _ident(claim: Claim) -> tuple:
    return (claim.article_id, tuple(claim.sentence_ids), claim.cue_span, claim.stance, claim.cue)


@dataclass
class Scope:
    """Filters resolved against one collection."""

    filters: Filters
    #: the matching articles; None when no filter restricts articles
    articles: frozenset[str] | None
    #: with a speaker filter, that speaker's claims (in every article), in ledger order
    speaker_claims: list[Claim] | None = None
    _idents: frozenset[tuple] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.speaker_claims is not None:
            self._idents = frozenset(_ident(c) for c in self.speaker_claims)

    @property
    def empty(self) -> bool:
        return self.articles is not None and not self.articles

    def allows(self, claim: Claim) -> bool:
        """Is this claim inside the filters (its article matches; by the filtered speaker, if any)?"""
        if self.articles is not None and claim.article_id not in self.articles:
            return False
        return self.speaker_claims is None or _ident(claim) in self._idents

    def no_match(self) -> str:
        return f"No articles match the filters ({self.filters.describe()})."


def articles_meta(store: "Store", ids: Iterable[str]) -> dict[str, ArticleMeta]:
    """Metadata of just these articles (an answer's, a page of the ledger's), read by id: what an export
    or a rendered answer needs, without the whole collection's table."""
    return {r[0]: ArticleMeta(*r) for r in store.catalogue.article_meta(store.space, sorted(set(ids)))}


class FilterResolver:
    """Resolves :class:`Filters` for one store. The articles' sources and dates are read once per
    collection generation (one read of id, title, source, url and published, no bodies; each distinct
    date string parsed once), so a filtered question costs a set intersection, not a scan."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self._table: tuple[int, dict[str, ArticleMeta]] | None = None
        self._lock = threading.Lock()

    def articles(self) -> dict[str, ArticleMeta]:
        """Every article's metadata by id, as of the collection's current generation."""
        generation = self.store.catalogue.generation(self.store.space)
        cached = self._table
        if cached is None or cached[0] != generation:
            with self._lock:
                rows = self.store.catalogue.article_meta(self.store.space)
                cached = self._table = (generation, {r[0]: ArticleMeta(*r) for r in rows})
        return cached[1]

    def sources(self) -> list[str]:
        """The collection's outlets, each once, in alphabetical order (what a source picker offers)."""
        return sorted({m.source.strip() for m in self.articles().values() if m.source.strip()}, key=str.casefold)

    def date_range(self) -> tuple[str, str] | None:
        """The first and last readable publication days, or None when no article has one."""
        days = [d for m in self.articles().values() if (d := m.day)]
        return (min(days), max(days)) if days else None

    def published(self, since: str = "", until: str = "") -> frozenset[str]:
        """The articles published from ``since`` to ``until`` (ISO days, inclusive; "" for open). An
        article whose date cannot be read is in no range: a date filter never keeps it."""
        return frozenset(a for a, m in self.articles().items() if in_range(m.day, since, until))

    def resolve(self, filters: Filters, lookup: "SpeakerLookup | None" = None) -> Scope:
        """The scope of ``filters``: articles matching every filter, and the filtered speaker's claims."""
        table = self.articles() if (filters.sources or filters.since or filters.until or filters.articles) else None
        ids: set[str] | None = None
        if table is not None:
            wanted = {s.casefold() for s in filters.sources}
            ids = set(filters.articles) & set(table) if filters.articles else set(table)
            if wanted:
                ids = {a for a in ids if table[a].source.strip().casefold() in wanted}
            if filters.since or filters.until:
                ids &= self.published(filters.since, filters.until)
        claims = None
        if filters.speaker:
            claims = speaker_claims(self.store, filters.speaker, lookup)
            by = {c.article_id for c in claims}
            ids = by if ids is None else ids & by
            if ids is not None:
                claims = [c for c in claims if c.article_id in ids]
        return Scope(filters, None if ids is None else frozenset(ids), claims)


def speaker_claims(store: "Store", speaker: str, lookup: "SpeakerLookup | None" = None) -> list[Claim]:
    """Every claim by ``speaker``: a canonical key ("tomas reyland", "ARTICLE#the official") read through
    the speaker-key index, else name words matched as attribution questions match them (every word
    of the name in the claim's name, role or mention, and every claim grouped with those)."""
    from rag.attribution.speakers import SpeakerLookup

    lookup = lookup or SpeakerLookup(store.catalogue, store.space)
    cat, space = store.catalogue, store.space
    key = speaker.strip()
    if "#" in key:
        return cat.claims(space, speaker_key=key)
    if key.lower() == key and key in set(lookup._all_keys()):
        return cat.claims(space, speaker_keys=sorted(lookup._members({lookup.canonical(key)})))
    return lookup.matching(speaker)


def ledger(store: "Store", filters: Filters | None, stance: str | None = None, resolver: FilterResolver | None = None) -> list[Claim]:
    """The claims ledger under ``filters`` (and one ``stance``), in ledger order, read through the
    catalogue's indexes: the speaker's claims with a speaker filter, else the matching articles' claims."""
    cat, space = store.catalogue, store.space
    if filters is None or not filters.active:
        return cat.claims(space, stance=stance)
    scope = (resolver or FilterResolver(store)).resolve(filters)
    if scope.speaker_claims is not None:
        return [c for c in scope.speaker_claims if stance is None or c.stance == stance]
    assert scope.articles is not None
    if not scope.articles:
        return []
    return cat.claims(space, stance=stance, article_ids=sorted(scope.articles))


__all__ = ["ArticleMeta", "DATE_TEXT", "FilterError", "FilterResolver", "Filters", "MONTHS", "Scope", "WHEN_WORDS", "day_bounds", "day_window",
           "in_range", "iso_day", "ledger", "make_filters", "speaker_claims"]

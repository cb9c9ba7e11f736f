"""Speakers: one canonical name per person or organisation, and matching an asked speaker to claims.

Extraction resolves each claim's speaker inside its article ("he", "Reyland", "the minister" ->
"Tomas Reyland", role "Valdoria's harbour minister") and gives it a ``speaker_key``:

* a named speaker's key is its name without titles, lower-cased (``tomas reyland``, ``harbour authority``),
  so the same name groups across articles;
* a speaker the article only describes ("the Turkish source", "an official") gets a key scoped to
  its article (``ARTICLE#the turkish source``): two articles' "officials" are never merged.

:class:`SpeakerDirectory` groups a collection's claims by key, folding a surname-only key ("reyland",
from an article that never gives the first name) into the one full name that ends with it, if
there is exactly one. :func:`speaker_matches` decides whether a claim is by the speaker a question
names; it is strict (every word of the asked name must be a word of the claim's name, role or
mention) because answering with someone else's claim is the worst answer whosaid can give.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from rag.types import Claim

if TYPE_CHECKING:
    from rag.store.protocols import Catalogue

#: Words that precede a name without being part of it ("Maj. Gen. Anton Weller", "Dr. Alina Sorel").
TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "rev", "reverend", "fr",
    "gen", "general", "maj", "major", "col", "colonel", "lt", "lieutenant", "capt", "captain", "sgt", "sergeant",
    "adm", "admiral", "cmdr", "commander", "brig", "cpl", "pvt", "marshal",
    "president", "vice", "prime", "minister", "secretary", "senator", "sen", "rep", "representative", "gov",
    "governor", "mayor", "judge", "justice", "chancellor", "king", "queen", "prince", "princess", "sheikh", "emir",
    "ambassador", "envoy", "chief", "director", "chairman", "chairwoman", "chair", "ceo", "spokesman", "spokeswoman",
    "spokesperson", "councillor", "councilor", "deputy", "speaker", "pope", "cardinal", "bishop", "imam", "rabbi",
    "st", "saint", "jr", "sr",
})
#: Titles that say nothing about the role ("Dr.", "Capt."): left out of roles, and ignored when a
#: question writes them ("What did Dr. Leon Marchetti say?" finds "Leon Marchetti").
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "rev", "fr", "capt", "maj", "gen", "col", "lt",
                        "sgt", "adm", "cmdr", "brig", "cpl", "pvt", "jr", "sr", "st"})
#: Words that link the parts of a description ("the spokeswoman for the ministry"): not part of a name.
LINKS = frozenset({"of", "for", "at", "in", "from", "on", "to", "and", "with"})
#: Pronouns a speaker may be written as; they name nobody until resolved.
PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i", "you", "him", "her", "them", "us", "who", "which", "that"})
DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "its", "his", "her", "their", "our"})
_WORD = re.compile(r"[\w’'-]+")


def fold(text: str) -> str:
    """Lower case, no accents, curly apostrophes straightened: how names are compared."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def words(text: str) -> list[str]:
    """Comparable words of a name: folded, possessive "'s" dropped, determiners and punctuation gone."""
    out = []
    for w in _WORD.findall(fold(text)):
        w = w.strip("'-")
        if w.endswith("'s"):
            w = w[:-2]
        if w and w not in DETERMINERS:
            out.append(w)
    return out


def name_key(name: str) -> str:
    """The collection-wide key of a named speaker: its words without honorifics ('tomas reyland')."""
    return " ".join(w for w in words(name) if w not in HONORIFICS)


def described_key(article_id: str, description: str) -> str:
    """The key of a speaker an article only describes: never shared with another article."""
    return f"{article_id}#{' '.join(words(description))}"


def is_pronoun(text: str) -> bool:
    return fold(text.strip()) in PRONOUNS


def aliases(claim: Claim) -> list[str]:
    """Everything a claim's speaker is called in its article: name, role, and the mention as written."""
    out = [claim.speaker, claim.speaker_role, claim.speaker_mention]
    return [a for a in dict.fromkeys(out) if a and not is_pronoun(a)]


def speaker_matches(asked: str, claim: Claim) -> bool:
    """Is ``claim`` by the speaker a question names? Every word of the asked name (honorifics aside)
    must be a word of the claim's name, role or mention: "the harbour minister" matches "Tomas
    Reyland, Valdoria's harbour minister"; "the finance minister" does not match "the finance ministry",
    and "NordRail's spokeswoman" does not match NordRail."""
    wanted = asked_words(asked)
    return bool(wanted) and wanted <= alias_words(claim)


def asked_words(asked: str) -> frozenset[str]:
    """The words of an asked speaker that must all match (honorifics and linking words aside)."""
    return frozenset(words(asked)) - HONORIFICS - LINKS


def alias_words(claim: Claim) -> frozenset[str]:
    """Every word of everything the claim's speaker is called in its article."""
    return frozenset(w for a in aliases(claim) for w in words(a))


def party_matches(asked: str, claim: Claim) -> bool:
    """Was the asked party the one told or quoted ("confirmed to Radio Sport 7", "quoted Jules Perrin")?"""
    wanted = set(words(asked))
    return bool(wanted) and wanted <= set(words(claim.other_party))


@dataclass
class SpeakerGroup:
    """One canonical speaker and their claims across the collection."""

    key: str
    name: str
    roles: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)

    @property
    def articles(self) -> list[str]:
        return list(dict.fromkeys(c.article_id for c in self.claims))


class SpeakerDirectory:
    """A collection's claims grouped by canonical speaker (see the module docstring)."""

    def __init__(self, claims: Iterable[Claim]) -> None:
        self.claims = list(claims)
        keys = {c.speaker_key for c in self.claims if c.speaker_key and "#" not in c.speaker_key}
        full = [k for k in keys if len(k.split()) > 1]
        self._canonical: dict[str, str] = {}
        for k in keys:
            if len(k.split()) == 1:
                owners = [f for f in full if f.split()[-1] == k]
                if len(owners) == 1:  # "reyland" alone, and exactly one "... reyland": the same person
                    self._canonical[k] = owners[0]
        self._names: dict[str, str] = {}
        self._postings: dict[str, set[int]] = {}  # alias word -> positions of the claims it names
        self._indexed = {id(c) for c in self.claims}
        for n, c in enumerate(self.claims):
            key = self.key(c)
            if "#" not in key and len(c.speaker) > len(self._names.get(key, "")):
                self._names[key] = c.speaker  # the fullest way each name is written ("Tomas Reyland")
            for w in alias_words(c):
                self._postings.setdefault(w, set()).add(n)

    def canonical(self, key: str) -> str:
        return self._canonical.get(key, key)

    def key(self, claim: Claim) -> str:
        """The claim's speaker key across the collection ("reyland" -> "tomas reyland")."""
        return self.canonical(claim.speaker_key or described_key(claim.article_id, claim.speaker))

    def display(self, claim: Claim) -> Claim:
        """The claim under its collection-wide speaker: "Reyland" in an article that never gives the
        first name reads as "Tomas Reyland" (the mention as written stays in ``speaker_mention``)."""
        key = self.key(claim)
        name = self._names.get(key, claim.speaker)
        if name == claim.speaker and key == claim.speaker_key:
            return claim
        return claim.model_copy(update={"speaker": name, "speaker_key": key})

    def groups(self, claims: Iterable[Claim] | None = None) -> list[SpeakerGroup]:
        """Speakers with most claims first; within a group, claims in article and sentence order.
        ``claims`` (default: all) may be a filtered subset: they are still grouped collection-wide."""
        groups: dict[str, SpeakerGroup] = {}
        for c in self.claims if claims is None else claims:
            key = self.key(c)
            g = groups.setdefault(key, SpeakerGroup(key=key, name=self._names.get(key, c.speaker)))
            if c.speaker_role and c.speaker_role not in g.roles:
                g.roles.append(c.speaker_role)
            g.claims.append(c)
        return sorted(groups.values(), key=lambda g: (-len(g.claims), g.name.lower()))

    def matching(self, asked: str, claims: Sequence[Claim] | None = None) -> list[Claim]:
        """Claims (of ``claims``, default all) by the asked speaker: those :func:`speaker_matches`, found
        through an index of alias words, and every claim grouped with one of them."""
        wanted = asked_words(asked)
        if not wanted:
            return []
        hits = set.intersection(*(self._postings.get(w, set()) for w in wanted))
        direct = {id(self.claims[n]) for n in hits}
        keys = {k for k in (self.key(self.claims[n]) for n in hits) if "#" not in k}
        pool = self.claims if claims is None else claims
        return [c for c in pool if id(c) in direct or self.key(c) in keys
                or (id(c) not in self._indexed and speaker_matches(asked, c))]  # a claim from elsewhere: match it here


def _ident(claim: Claim) -> tuple:
    """A claim's identity within the ledger (its fields; the catalogue's row number is not carried)."""
    return (claim.article_id, tuple(claim.sentence_ids), claim.cue_span, claim.speaker_span, claim.content_span, claim.stance, claim.cue)


class SpeakerLookup:
    """Speaker questions through the catalogue's indexes: the answers of
    :meth:`SpeakerDirectory.matching` and :meth:`SpeakerDirectory.display` over the whole ledger, while
    reading only the claims of the speakers a question names (the alias-word and speaker-key indexes),
    and with a ``limit`` only the first of those, so a question costs about the same in a ledger of a
    thousand claims or of millions. Made per question: what it caches is that moment's ledger;
    ``keys``, the ledger's named speaker keys (:meth:`Catalogue.speaker_keys`), may be passed in by a
    caller that keeps them per collection generation."""

    #: with a limit, the speakers a role or mention groups ("the minister" -> Tomas Reyland) are read
    #: from this many of the claims it names (names are matched through every key)
    GROUPING_SAMPLE = 2000
    #: how a name is written is read from this many of its claims of each stance (all in a smaller ledger)
    NAME_SAMPLE = 50

    def __init__(self, catalogue: "Catalogue", space: str, keys: Sequence[str] | None = None) -> None:
        self._catalogue = catalogue
        self._space = space
        self._keys = None if keys is None else list(keys)
        self._owners: dict[str, list[str]] | None = None
        self._names: dict[str, str] = {}
        self._asked: dict[frozenset[str], list[tuple[str, int, str, str, bool]]] = {}

    def _surnames(self) -> dict[str, list[str]]:
        """Last word -> the named keys of more than one word that end with it."""
        if self._owners is None:
            self._owners = {}
            for k in self._all_keys():
                if "#" not in k and len(k.split()) > 1:
                    self._owners.setdefault(k.split()[-1], []).append(k)
        return self._owners

    def canonical(self, key: str) -> str:
        """A surname-only key folds into the one full name that ends with it, if exactly one does."""
        if "#" in key or len(key.split()) != 1:
            return key
        owners = self._surnames().get(key, [])
        return owners[0] if len(owners) == 1 else key

    def key(self, claim: Claim) -> str:
        return self.canonical(claim.speaker_key or described_key(claim.article_id, claim.speaker))

    def _members(self, keys: set[str]) -> set[str]:
        """The stored keys grouped under these canonical keys (each full name with its folded surname)."""
        out = set(keys)
        for k in keys:
            parts = k.split()
            if len(parts) > 1 and self.canonical(parts[-1]) == k:
                out.add(parts[-1])
        return out

    def exists(self, asked: str) -> bool:
        """Is any claim by the asked speaker? (One row read.)"""
        wanted = asked_words(asked)
        return bool(wanted) and bool(self._catalogue.claims_by_words(self._space, sorted(wanted), limit=1))

    def _postings(self, wanted: frozenset[str]) -> list[tuple[str, int, str, str, bool]]:
        """The claims called with the asked words among the first :attr:`GROUPING_SAMPLE` of the rarest
        word's: ``(article_id, seq, speaker_key, stance, negated)``."""
        if wanted not in self._asked:
            self._asked[wanted] = self._catalogue.speaker_postings(self._space, sorted(wanted), self.GROUPING_SAMPLE)
        return self._asked[wanted]

    def _keys_of(self, wanted: frozenset[str]) -> set[str]:
        """The canonical named keys a limited question groups: every named key with all the asked words
        (as the key's own words), and those of the claims :meth:`_postings` finds."""
        named = {self.canonical(k) for k in self._all_keys() if "#" not in k and wanted <= set(k.split())}
        return named | {k for k in (self.canonical(p[2]) for p in self._postings(wanted) if p[2]) if "#" not in k}

    def _all_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = self._catalogue.speaker_keys(self._space)
        return self._keys

    def matching(
        self, asked: str, stances: Iterable[str] | None = None, *, limit: int | None = None, negated: bool | None = None,
    ) -> list[Claim]:
        """Claims by the asked speaker (of ``stances``, default all), in ledger order: those
        :func:`speaker_matches`, and every claim grouped with one of them. With ``limit`` (and
        ``stances``) only the first ``limit`` of them (of ``negated`` ones, or not, if given), read
        without reading the rest; the speakers grouped through a role or mention are then those of
        the first :attr:`GROUPING_SAMPLE` claims it names."""
        wanted = asked_words(asked)
        if not wanted:
            return []
        if limit is not None and stances is not None:
            return self._first(wanted, sorted(set(stances)), limit, negated)
        stances = None if stances is None else sorted(set(stances))
        hits = self._catalogue.claims_by_words(self._space, sorted(wanted))
        if negated is not None:
            hits = [c for c in hits if c.negated == negated]
        keys = {k for k in (self.key(c) for c in hits) if "#" not in k}
        grouped = self._catalogue.claims(self._space, speaker_keys=sorted(self._members(keys)), stances=stances, negated=negated) if keys else []
        seen = {_ident(c) for c in grouped}
        extra = [c for c in hits if _ident(c) not in seen and (stances is None or c.stance in stances)
                 and self.key(c) not in keys]
        if not extra:
            return grouped
        found = grouped + extra
        mixed = {c.article_id for c in extra} & {c.article_id for c in grouped}
        order = {_ident(c): n for n, c in enumerate(self._catalogue.claims(self._space, article_ids=sorted(mixed)))} if mixed else {}
        position = {id(c): order.get(_ident(c), n) for n, c in enumerate(found)}
        return sorted(found, key=lambda c: (c.article_id, position[id(c)]))

    def _first(self, wanted: frozenset[str], stances: list[str], limit: int, negated: bool | None) -> list[Claim]:
        """The first ``limit`` claims by the asked speaker: the first of the grouped speakers' (ordered
        reads of the speaker index) and those :meth:`_postings` found, merged in ledger order."""
        keys = self._keys_of(wanted)
        places = set(self._catalogue.ledger_places(self._space, stances, limit, keys=sorted(self._members(keys)), negated=negated)) if keys else set()
        places |= {(a, n) for a, n, _, stance, neg in self._postings(wanted) if stance in stances and negated in (None, neg)}
        return self._catalogue.claims_at(self._space, sorted(places)[:limit])

    def among(self, asked: str, claims: Sequence[Claim]) -> list[Claim]:
        """The claims of ``claims`` by the asked speaker (called with its words, or grouped with one
        who is, as :meth:`matching` with a limit groups them)."""
        wanted = asked_words(asked)
        if not wanted:
            return []
        keys = self._keys_of(wanted)
        return [c for c in claims if wanted <= alias_words(c) or self.key(c) in keys]

    def display(self, claims: Sequence[Claim]) -> list[Claim]:
        """Each claim under its collection-wide speaker ("Reyland" reads "Tomas Reyland"): the fullest way
        the name is written among each of its keys' claims (the first :attr:`NAME_SAMPLE` of each stance)."""
        keys = {k for k in (self.key(c) for c in claims) if "#" not in k and k not in self._names}
        if keys:
            sampled = self._catalogue.speaker_names(self._space, sorted(self._members(keys)), self.NAME_SAMPLE)
            for _, _, key, speaker in sorted((a, s, k, spk) for k, rows in sampled.items() for a, s, spk in rows):
                k = self.canonical(key)
                if len(speaker) > len(self._names.get(k, "")):
                    self._names[k] = speaker
        out = []
        for c in claims:
            key = self.key(c)
            name = self._names.get(key, c.speaker) if "#" not in key else c.speaker
            out.append(c if name == c.speaker and key == c.speaker_key else c.model_copy(update={"speaker": name, "speaker_key": key}))
        return out

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
    so a question costs the same in a ledger of a thousand claims or of millions. Made per question:
    what it caches is that moment's ledger."""

    def __init__(self, catalogue: "Catalogue", space: str) -> None:
        self._catalogue = catalogue
        self._space = space
        self._canonical: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def canonical(self, key: str) -> str:
        """A surname-only key folds into the one full name that ends with it, if exactly one does."""
        if "#" in key or len(key.split()) != 1:
            return key
        if key not in self._canonical:
            owners = {c.speaker_key for c in self._catalogue.claims_by_words(self._space, [key])
                      if "#" not in c.speaker_key and len(c.speaker_key.split()) > 1 and c.speaker_key.split()[-1] == key}
            self._canonical[key] = owners.pop() if len(owners) == 1 else key
        return self._canonical[key]

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

    def matching(self, asked: str, stances: Iterable[str] | None = None) -> list[Claim]:
        """Claims by the asked speaker (of ``stances``, default all), in ledger order: those
        :func:`speaker_matches`, and every claim grouped with one of them."""
        wanted = asked_words(asked)
        if not wanted:
            return []
        stances = None if stances is None else sorted(set(stances))
        hits = self._catalogue.claims_by_words(self._space, sorted(wanted))
        keys = {k for k in (self.key(c) for c in hits) if "#" not in k}
        grouped = self._catalogue.claims(self._space, speaker_keys=sorted(self._members(keys)), stances=stances) if keys else []
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

    def display(self, claims: Sequence[Claim]) -> list[Claim]:
        """Each claim under its collection-wide speaker ("Reyland" reads "Tomas Reyland")."""
        keys = {k for k in (self.key(c) for c in claims) if "#" not in k and k not in self._names}
        if keys:
            for c in self._catalogue.claims(self._space, speaker_keys=sorted(self._members(keys))):
                k = self.key(c)
                if len(c.speaker) > len(self._names.get(k, "")):
                    self._names[k] = c.speaker
        out = []
        for c in claims:
            key = self.key(c)
            name = self._names.get(key, c.speaker) if "#" not in key else c.speaker
            out.append(c if name == c.speaker and key == c.speaker_key else c.model_copy(update={"speaker": name, "speaker_key": key}))
        return out

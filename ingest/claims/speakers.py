"""Speaker resolution inside one article: every claim's speaker becomes a person, an organisation or
a description the article gives in full.

* a pronoun ("he told", "she said", "it said") takes the nearest earlier compatible speaker: a person
  for he/she (of the same gender when the article tells: "spokeswoman", "Mr", an earlier "she"), an
  organisation for "it", either for "they";
* a short form takes its full mention: "Reyland" -> "Tomas Reyland" (a surname, also when the full
  name comes later, as after a headline), "the minister" -> "Valdoria's harbour minister, Tomas Reyland",
  "the company" -> "Cloud software company Nimbra Systems" (every word of the short form is a word of the
  full mention);
* a name is split from its titles and role: "Maj. Gen. Anton Weller, commander of Valdoria's northern
  district" is Anton Weller, role "commander of Valdoria's northern district".

Nothing is guessed across a gap: a pronoun looks back at most :data:`PRONOUN_REACH` sentences and an
unresolved one stays as written (no question naming a speaker ever matches it). The keys come from
:mod:`rag.attribution.speakers`, which the question side uses too.

Tried first: coreferee (1.5.0, the maintained spaCy coreference component on PyPI); see the README
("Speakers") for why whosaid resolves with these rules instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from ingest.claims.drafts import ArticleContext, Draft
from rag.attribution.speakers import HONORIFICS, TITLES, described_key, fold, is_pronoun, name_key, words

PRONOUN_REACH = 4
FEMALE = frozenset({"she", "her", "mrs", "ms", "miss", "spokeswoman", "chairwoman", "businesswoman", "congresswoman",
                    "councilwoman", "madam", "dame", "lady", "queen", "princess", "mother", "wife", "woman", "sister", "actress"})
MALE = frozenset({"he", "him", "mr", "spokesman", "chairman", "businessman", "congressman", "councilman", "sir", "lord",
                  "king", "prince", "father", "husband", "man", "brother", "actor"})
#: Last words of organisation names, and nouns that describe organisations.
ORG_WORDS = frozenset({
    "authority", "ministry", "ministries", "department", "agency", "company", "firm", "group", "systems", "party", "commission",
    "court", "bank", "council", "union", "association", "institute", "university", "press", "news", "service", "review",
    "times", "post", "herald", "gazette", "journal", "radio", "tv", "television", "broadcaster", "network", "club", "fc",
    "government", "administration", "army", "navy", "police", "office", "committee", "board", "federation", "league",
    "organisation", "organization", "foundation", "fund", "inc", "corp", "corporation", "ltd", "llc", "plc", "co",
    "media", "newspaper", "channel", "agency", "watch", "observatory", "coalition", "alliance", "forces", "regime",
    "embassy", "consulate", "parliament", "senate", "congress", "cabinet", "presidency", "monitor", "daily", "weekly",
    "wire", "ledger", "tribune", "chronicle", "telegraph", "guardian", "courier", "express", "observer", "maritime",
})
PERSON_WORDS = frozenset({
    "spokesman", "spokeswoman", "spokesperson", "minister", "director", "official", "researcher", "lawmaker", "executive",
    "agent", "councillor", "councilor", "commander", "governor", "chief", "president", "chairman", "chairwoman", "secretary",
    "senator", "mayor", "inspector", "judge", "envoy", "ambassador", "coach", "player", "striker", "owner", "reporter",
    "analyst", "expert", "economist", "professor", "doctor", "officer", "general", "colonel", "leader", "candidate", "activist",
    "lawyer", "attorney", "prosecutor", "witness", "survivor", "resident", "villager", "farmer", "worker", "man", "woman",
    "challenger", "incumbent", "campaigner", "councilman", "councilwoman", "lawmaker", "legislator", "diplomat", "source",
})
#: Last words of a business's name: "the company" or "the firm" may stand for it.
COMPANY_WORDS = frozenset({"systems", "inc", "corp", "corporation", "ltd", "llc", "plc", "co", "group", "holdings",
                           "technologies", "industries", "motors", "airlines", "pharmaceuticals", "biologics", "labs",
                           "energy", "maritime", "software", "solutions", "partners", "ag", "sa", "gmbh"})
NAME_PARTICLES = frozenset({"de", "van", "von", "der", "den", "al", "el", "bin", "ibn", "la", "le", "da", "di", "du", "del", "-"})


@dataclass
class Entity:
    """A speaker of the article: a named one (``name``) or one the article only describes."""

    name: str
    named: bool
    role: str = ""
    kind: str = "unknown"  # person | org | group | unknown
    gender: str | None = None
    words: set[str] = field(default_factory=set)
    heads: set[str] = field(default_factory=set)  # nouns a short form may use: "minister", "company", "Reyland"
    first: int = -1  # sentence of the first mention
    last: int = -1  # sentence of the latest mention
    key: str = ""

    def absorb(self, mention: "Mention", sentence: int) -> None:
        self.words |= set(words(mention.text))
        self.heads |= mention.heads
        if mention.role and not self.role:
            self.role = mention.role
        if mention.kind != "unknown" and self.kind == "unknown":
            self.kind = mention.kind
        self.gender = self.gender or mention.gender
        self.first = sentence if self.first < 0 else min(self.first, sentence)
        self.last = max(self.last, sentence)


@dataclass
class Mention:
    """How a claim writes its speaker, analysed: the name in it (if any), its role, kind and gender."""

    text: str
    name: str = ""
    role: str = ""
    kind: str = "unknown"
    gender: str | None = None
    pronoun: str = ""
    indefinite: bool = False
    head: str = ""  # the mention's head noun ("ministry" of "The foreign ministry in Lorenz")

    @property
    def heads(self) -> set[str]:
        out = {self.head} if self.head else set()
        if self.name:
            out |= set(words(self.name)[-1:])
            if words(self.name)[-1] in COMPANY_WORDS:
                out |= {"company", "firm"}
        if self.role:
            out |= {_head_word(self.role)}
        return out - {""}


def analyse(d: Draft) -> Mention:
    text = d.speaker.strip()
    m = Mention(text=text)
    folded = fold(text)
    if is_pronoun(text):
        m.pronoun = folded
        m.gender = "f" if folded == "she" else "m" if folded == "he" else None
        m.kind = "org" if folded == "it" else "person" if folded in ("he", "she") else "unknown"
        return m
    ws = words(text)
    m.indefinite = folded.split(" ", 1)[0] in ("a", "an", "some", "one", "another", "several", "many", "two", "three")
    m.gender = "f" if FEMALE & set(ws) else "m" if MALE & set(ws) else None
    m.name, m.role = _name_and_role(d)
    m.head = _head(d)
    if m.name:
        name_words = set(words(m.name))
        role_head = _head_word(m.role) if m.role else ""
        if name_words & ORG_WORDS or role_head in ORG_WORDS:
            m.kind = "org"
        elif m.gender or role_head in PERSON_WORDS or len(name_words) in (2, 3):
            m.kind = "person"
    elif m.head in ORG_WORDS:
        m.kind = "org"
    elif m.head in PERSON_WORDS or m.gender:
        m.kind = "person"
    elif m.head.endswith("s"):
        m.kind = "group"  # "Economists at Hartwell Bank", "officials": several people
    if m.kind == "org" and m.gender:
        m.gender = None
    return m


def _head(d: Draft) -> str:
    """The head noun of the mention: the token the rest hangs on ("ministry" of "The foreign ministry in Lorenz")."""
    if d.speaker_tokens:
        ids = {t.i for t in d.speaker_tokens}
        heads = [t for t in d.speaker_tokens if t.head.i not in ids or t.head.i == t.i]
        return words(heads[0].text)[0] if heads and words(heads[0].text) else ""
    return _head_word(d.speaker)


def _head_word(text: str) -> str:
    """Head of a noun phrase written out: the last word before a preposition or a comma."""
    head = re.split(r",|\s(?:of|in|at|for|from|on|with|to|who|which|that)\s", text, maxsplit=1)[0]
    ws = words(head)
    return ws[-1] if ws else ""


def _name_and_role(d: Draft) -> tuple[str, str]:
    """The proper name inside a speaker mention and the rest of it as the role."""
    text = d.speaker.strip()
    if d.speaker_tokens:
        run = _name_run(d.speaker_tokens)
        if not run:
            return "", ""
        name_text = run[0].doc[run[0].i : run[-1].i + 1].text  # the run as written
    else:
        # a headline or a signed line: the trailing run of capitalised words
        m = re.search(r"((?:[A-Z][\w.’'-]*|de|van|von|al-\w+)(?:\s+(?:[A-Z][\w.’'-]*|de|van|von|al-\w+))*)\s*$", text)
        if not m:
            return "", ""
        name_text = m.group(1)
    name = _untitled(name_text)
    last = words(name)[-1:]
    if not name or not last or last[0] in TITLES or last[0] in PERSON_WORDS:
        return "", ""  # "Foreign Minister", "Harbour Minister": a role, not a name
    at = text.find(name_text)
    rest = (text[:at] + text[at + len(name_text):]) if at >= 0 else text
    prefix = name_text[: len(name_text) - len(name)].strip()
    role = ", ".join(p for p in (_plain(prefix), _plain(rest)) if p)
    return name, re.sub(r"^(?:the|a|an)\b\s*", "", role, flags=re.I)


def _plain(text: str) -> str:
    """A role as written, without honorifics ("Dr.", "Capt.") and stray punctuation."""
    kept = [t for t in text.split() if not (words(t.rstrip(".,"))[:1] and words(t.rstrip(".,"))[0] in HONORIFICS) and t not in (".", ",")]
    return re.sub(r"\s+,", ",", " ".join(kept)).strip(" ,;—-")


def _untitled(name: str) -> str:
    """Drop titles and roles before a person's name ('Health Minister Dr. Camille Roux' -> 'Camille
    Roux'); an organisation's name keeps its words ('Justice Ministry')."""
    tokens = name.split()
    if words(tokens[-1])[-1:] and words(tokens[-1])[-1] in ORG_WORDS:
        return name
    last_title = max((k for k, t in enumerate(tokens[:-1]) if words(t.rstrip("."))[:1] and words(t.rstrip("."))[0] in TITLES | PERSON_WORDS),
                     default=-1)
    return " ".join(tokens[last_title + 1 :])


def _name_run(tokens: Sequence) -> list:
    """The run of proper nouns that names the speaker: the one holding the phrase's head, else the
    head's apposition ("Valdoria's harbour minister, Tomas Reyland"); a possessor ("Valdoria's") never."""
    ids = {t.i for t in tokens}
    heads = [t for t in tokens if t.head.i not in ids or t.head.i == t.i]
    head = heads[0] if heads else tokens[-1]
    runs: list[list] = []
    for t in tokens:
        # the small model tags some common nouns PROPN ("Valdoria's defence ministry"): a name is capitalised
        proper = (t.pos_ == "PROPN" and t.text[:1].isupper()) or (
            t.lower_ in NAME_PARTICLES and runs and runs[-1] and runs[-1][-1].i == t.i - 1)
        if proper:
            if runs and runs[-1] and runs[-1][-1].i == t.i - 1:
                runs[-1].append(t)
            else:
                runs.append([t])
    runs = [r for r in runs if not any(c.dep_ == "case" for c in r[-1].children) and r[-1].lower_ not in NAME_PARTICLES]
    if not runs:
        return []
    appos = {t.i for t in tokens if t.dep_ == "appos" and t.head.i == head.i}
    for r in [r for r in runs if any(t.i == h.i for t in r for h in heads)] + [r for r in runs if any(t.i in appos for t in r)]:
        # two subjects side by side ("The state news agency APN"): the named one; else the apposition.
        # A capitalised adjective right before the name is part of it ("The Syrian Observer")
        by_i = {t.i: t for t in tokens}
        while r[0].i - 1 in by_i and by_i[r[0].i - 1].pos_ == "ADJ" and by_i[r[0].i - 1].text[:1].isupper():
            r = [by_i[r[0].i - 1], *r]
        return r
    return []


def full_names(doc) -> list[str]:
    """Names of two or more capitalised proper nouns in a parsed sentence, without titles ("Incumbent
    mayor Gregor Balint" -> "Gregor Balint"): who a later "Balint" is, even if he never spoke before."""
    out, run = [], []
    for t in [*doc, None]:
        if t is not None and t.pos_ == "PROPN" and t.text[:1].isupper() and not any(c.dep_ == "case" for c in t.children):
            run.append(t)
            continue
        if len(run) >= 2:
            name = _untitled(" ".join(x.text for x in run))
            if len(name.split()) >= 2 and not set(words(name)) & (ORG_WORDS | TITLES | PERSON_WORDS):
                out.append(name)
        run = []
    return out


def resolve(drafts: list[Draft], article: ArticleContext) -> None:
    """Resolve every draft's speaker (see the module docstring); sets speaker, role, mention and key."""
    article_id = article.article_id
    entities: list[Entity] = []
    chosen: list[tuple[Draft, Entity | None, Mention]] = []
    for d in drafts:
        if not d.speaker.strip():
            chosen.append((d, None, Mention(text="")))
            continue
        m = analyse(d)
        e = _find(entities, m, d.sentence)
        if e is None:
            if m.name and len(words(m.name)) == 1:  # "Balint": the article's one full name ending so
                known = {n for n in article.names if words(n)[-1:] == words(m.name)}
                if len(known) == 1:
                    m.name = known.pop()
                    m.kind = "person" if m.kind == "unknown" else m.kind
            e = Entity(name=m.name or m.text, named=bool(m.name), role=m.role if m.name else "", kind=m.kind, gender=m.gender)
            if m.pronoun or m.indefinite:
                # an unresolved pronoun, or "a source": never the same as another claim's speaker
                # (though "the source" may later refer back to "a source")
                e.key = described_key(article_id, f"{m.text}@{d.sentence}")
            if not m.pronoun:
                entities.append(e)
        elif m.name and len(m.name.split()) > len(e.name.split()) and words(e.name)[-1:] == words(m.name)[-1:]:
            e.name, e.named = m.name, True  # "Reyland" (a headline) before "Tomas Reyland" (the body)
        e.absorb(m, d.sentence)
        chosen.append((d, e, m))
    for d, e, m in chosen:
        d.speaker_mention = m.text
        if e is None:
            continue
        d.speaker = e.name
        d.speaker_role = _possessor_named(e.role, entities, d.sentence)
        d.speaker_key = e.key or (name_key(e.name) if e.named else described_key(article_id, e.name))


SPOKES = frozenset({"spokeswoman", "spokesman", "spokesperson", "press secretary", "spokeswoman for", "a spokesman"})
POSSESSOR = re.compile(r"^(?:the\s+)?(?P<noun>[a-z]+)['’]s?\s+(?P<rest>.+)$", re.I)
COMPOUND = re.compile(r"^(?:the\s+)?(?P<noun>[a-z]+)\s+(?P<rest>[a-z]+)$", re.I)


def _possessor_named(role: str, entities: list[Entity], sentence: int) -> str:
    """"the company's security chief" -> "Nimbra Systems’ security chief", "ministry spokesman" ->
    "spokesman of the foreign ministry in Lorenz", when the company or ministry is a speaker of the
    article: a question asking for "Nimbra's security chief" then finds him."""
    if fold(role) in SPOKES:  # "the spokeswoman", right after her ministry's claim: its spokeswoman
        owners = [e for e in entities if e.kind == "org" and 0 <= e.first <= sentence and sentence - e.last <= 2]
        owner = max(owners, key=lambda e: e.last if e.last <= sentence else e.first, default=None)
        return f"{role} of {re.sub(r'^The ', 'the ', owner.name)}" if owner else role
    m = POSSESSOR.match(role)
    compound = None if m else COMPOUND.match(role)
    if compound and not (compound.group("noun").lower() in ORG_WORDS and compound.group("rest").lower() in PERSON_WORDS):
        compound = None
    m = m or compound
    if not m or m.group("noun")[:1].isupper():  # "NordRail's spokeswoman" names its owner already
        return role
    owner = _find(entities, Mention(text=f"the {m.group('noun')}", head=m.group("noun").lower()), sentence)
    if owner is None or owner.kind == "person" or (not owner.named and not compound):
        return role
    if compound:
        return f"{m.group('rest')} of {re.sub(r'^The ', 'the ', owner.name)}"
    return f"{owner.name}{'’' if owner.name.endswith('s') else '’s'} {m.group('rest')}"


def _find(entities: list[Entity], m: Mention, sentence: int) -> Entity | None:
    if m.pronoun:
        if m.pronoun not in ("he", "she", "it", "they"):
            return None
        fits = [
            e for e in entities
            if 0 <= sentence - e.last <= PRONOUN_REACH
            # "it" and "they" only for speakers known to be organisations (or groups): "Syria ... it
            # said" stays unresolved rather than landing on a surname
            and (e.kind in ("org", "group") if m.pronoun == "they" else
                 e.kind == "org" if m.pronoun == "it" else e.kind in ("person", "unknown"))
            and not (m.gender and e.gender and m.gender != e.gender)
        ]
        return max(fits, key=lambda e: e.last) if fits else None
    if m.indefinite:
        return None
    if m.name:
        key = name_key(m.name)
        for e in entities:
            if e.named and name_key(e.name) == key:
                return e
        mine = words(m.name)
        for e in entities:
            theirs = words(e.name)
            if not e.named:
                # a headline's "Reyland" the tagger did not take for a name: one capitalised word
                if len(theirs) == 1 and e.name[:1].isupper() and theirs == mine[-1:] and len(mine) > 1:
                    return e
                continue
            if len(mine) == 1 and mine[0] in (theirs[-1:] + theirs[:1]) and e.kind != "unknown" or len(mine) == 1 and theirs[-1:] == mine:
                return e  # "Reyland" after "Tomas Reyland"; "Nimbra" after "Nimbra Systems"
            if len(theirs) == 1 and mine[-1:] == theirs:
                return e  # "Tomas Reyland" after a headline's "Reyland"
        return None
    wanted = set(words(m.text))
    if not wanted or not m.head:
        return None
    # "the minister" -> the speaker whose role's head is "minister"; "the company" -> the company
    # (not "the company's security chief"): the head must be the entity's head, the rest its words
    fits = [e for e in entities if m.head in e.heads and wanted - {m.head} <= e.words and 0 <= e.first <= sentence]
    return max(fits, key=lambda e: (e.last if e.last <= sentence else e.first)) if fits else None

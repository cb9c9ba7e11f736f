"""The attribution lexicon: one table of reporting words, loaded from ``lexicon.toml`` and checked.

Extraction (which words are cues, which stance a cue carries) and question parsing (which stance a
question asks about) both read this one object, so the two can never disagree. Loading refuses a
table that lists a word twice in one kind, names an unknown stance, or makes two verbs share an
inflected form; the error names the file and the word. :attr:`Lexicon.fingerprint` hashes the
table's content and is part of the extraction version.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, Mapping

from rag.types import STANCES

DEFAULT_PATH = Path(__file__).with_name("lexicon.toml")

Kind = Literal["speech", "belief", "attitude", "phrasal", "noun", "adjective"]
VERB_KINDS: tuple[Kind, ...] = ("speech", "belief", "attitude")
_TABLE_KEYS = {"speech": "speech", "belief": "belief", "attitude": "attitude", "phrasal": "phrasal", "nouns": "noun", "adjectives": "adjective"}


#: What opens a line that points to another story ("Read Also: Minister Denies ..."): such a line is
#: read as a headline claim, and is never a report or an answer across articles (rag/attribution/links.py).
ASIDE_PREFIX = r"(?:read (?:also|more)|see also|related)\s*:"


class LexiconError(ValueError):
    """A lexicon file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Entry:
    """One reporting word: ``word`` is a lemma ("deny"), a phrasal verb ("rule out"), a noun or an adjective."""

    word: str
    stance: str
    kind: Kind

    @property
    def head(self) -> str:
        """The verb of a phrasal entry ("rule" of "rule out"); the word itself otherwise."""
        return self.word.split()[0]


def forms(lemma: str) -> set[str]:
    """Regular inflections of a verb lemma (irregular ones come from the lexicon's ``[irregular]``)."""
    stem = lemma[:-1] if lemma.endswith("e") else lemma
    out = {lemma, lemma + "s", lemma + "es", lemma + "d", lemma + "ed", stem + "ed", stem + "ing", lemma + "ing"}
    if lemma.endswith("y"):
        out |= {lemma[:-1] + "ies", lemma[:-1] + "ied"}
    if len(lemma) > 2 and lemma[-1] not in "aeiouywx" and lemma[-2] in "aeiou" and lemma[-3] not in "aeiou":
        out |= {lemma + lemma[-1] + "ed", lemma + lemma[-1] + "ing"}  # "stopped", "planning"
    return out


def inflections(lemma: str, irregular_past: set[str] = frozenset()) -> dict[str, set[str]]:
    """The real inflections of a regular verb: base, third person, past and gerund (irregular past
    forms come from the lexicon). :func:`forms` is the generous superset used to pre-select text."""
    consonant_y = lemma.endswith("y") and lemma[-2:-1] not in ("a", "e", "o", "u")
    third = lemma[:-1] + "ies" if consonant_y else lemma + ("es" if lemma.endswith(("s", "sh", "ch", "x", "z", "o")) else "s")
    double = len(lemma) > 2 and lemma[-1] not in "aeiouywx" and lemma[-2] in "aeiou" and lemma[-3] not in "aeiou"
    if lemma.endswith("e"):
        past, gerund = lemma + "d", lemma[:-1] + "ing"
    elif consonant_y:
        past, gerund = lemma[:-1] + "ied", lemma + "ing"
    else:
        past, gerund = lemma + "ed", lemma + "ing"
    pasts = set(irregular_past) or {past} | ({lemma + lemma[-1] + "ed"} if double else set())
    gerunds = {gerund} | ({lemma + lemma[-1] + "ing"} if double else set())
    return {"base": {lemma}, "third": {third}, "past": pasts, "gerund": gerunds}


@dataclass(frozen=True, eq=False)
class Lexicon:
    """The loaded table. Build it with :func:`load_lexicon` (loaded once per path, compared by identity)."""

    path: Path
    verbs: Mapping[str, Entry]
    phrasal: Mapping[tuple[str, str], Entry]
    nouns: Mapping[str, Entry]
    adjectives: Mapping[str, Entry]
    headline_lemmas: frozenset[str]
    ask_lemmas: frozenset[str]
    accepts: Mapping[str, frozenset[str]]
    opposites: Mapping[str, str]
    descriptions: Mapping[str, str]
    negations: tuple[str, ...]
    irregular: Mapping[str, str]
    light_verbs: frozenset[str]
    copulas: frozenset[str]
    impersonal: frozenset[str]
    quote_verbs: frozenset[str]
    keep_nested: frozenset[str]
    keep_nested_stances: frozenset[str]
    fingerprint: str
    _form_lemma: dict[str, str] = field(default_factory=dict, repr=False)

    # -- extraction ----------------------------------------------------------------------------
    def lemma(self, form: str) -> str | None:
        """Inflected form -> lexicon verb lemma ("hopes" -> "hope", "said" -> "say"), else None."""
        return self._form_lemma.get(form.lower())

    @cached_property
    def verb_lemmas(self) -> frozenset[str]:
        """Every single-word lemma a cue can be built on (verbs and the heads of phrasal verbs)."""
        return frozenset(self.verbs) | {head for head, _ in self.phrasal}

    @cached_property
    def cue_words(self) -> frozenset[str]:
        """Words that make a sentence worth parsing: every form of every cue, 'according', nouns, adjectives."""
        words = set(self._form_lemma) | {"according"} | set(self.adjectives)
        words |= {f for noun in self.nouns for f in (noun, noun + "s")}
        return frozenset(words)

    @cached_property
    def headline_forms(self) -> dict[str, Entry]:
        """'Denies', 'Denied', 'Deny', 'Rules Out' (lower-cased) -> entry, for headline claims."""
        out: dict[str, Entry] = {}
        for entry in [*self.verbs.values(), *self.phrasal.values()]:
            if entry.word not in self.headline_lemmas:
                continue
            head, _, particle = entry.word.partition(" ")
            infl = self._inflections(head)
            for f in infl["base"] | infl["third"] | infl["past"]:
                out[f"{f} {particle}".strip()] = entry
        return out

    @cached_property
    def _headline_pattern(self) -> re.Pattern[str]:
        cues = "|".join(sorted((re.escape(c).replace(r"\ ", r"\s+") for c in self.headline_forms), key=len, reverse=True))
        return re.compile(
            rf"^(?P<prefix>{ASIDE_PREFIX}\s*)?(?P<speaker>.+?)\s+(?P<cue>{cues})\s+(?P<content>\S.*?)\s*$", re.I
        )

    def headline(self, text: str) -> re.Match[str] | None:
        """A headline read as a claim, 'Navy Denies Exercise Is Aimed at Neighbour': groups ``speaker``,
        ``cue`` (look it up in :attr:`headline_forms`) and ``content``; None when no headline verb."""
        return self._headline_pattern.match(text)

    # -- questions -----------------------------------------------------------------------------
    @cached_property
    def question_verbs(self) -> dict[str, Entry]:
        """Every inflected form ("denied", "rules out", "told") of a verb that makes a question an
        attribution question -> its entry."""
        out: dict[str, Entry] = {}
        for entry in [*self.verbs.values(), *self.phrasal.values()]:
            if entry.word not in self.ask_lemmas:
                continue
            head, _, particle = entry.word.partition(" ")
            for f in set().union(*self._inflections(head).values()):
                out[f"{f} {particle}".strip()] = entry
        return out

    def family(self, stance: str) -> frozenset[str]:
        """The lemmas of a stance: deny = deny, reject, dismiss, refute, ..."""
        return frozenset(e.word for table in (self.verbs, self.phrasal) for e in table.values() if e.stance == stance)

    def accepted(self, stance: str) -> frozenset[str]:
        """Stances a question asked with this stance's words is answered from."""
        return self.accepts.get(stance, frozenset({stance}))

    def past(self, word: str) -> str:
        """The simple past of a lexicon verb, for messages: 'denied', 'ruled out', 'said'."""
        head, _, particle = word.partition(" ")
        irregular = sorted((f for f, l in self.irregular.items() if l == head), key=lambda f: (len(f), f))  # "wrote", not "written"
        if irregular:
            past = irregular[0]
        elif head.endswith("e"):
            past = head + "d"
        elif head.endswith("y") and head[-2:-1] not in ("a", "e", "o", "u"):
            past = head[:-1] + "ied"
        else:
            past = head + "ed"
        return f"{past} {particle}".strip()

    def _inflections(self, lemma: str) -> dict[str, set[str]]:
        return inflections(lemma, {f for f, l in self.irregular.items() if l == lemma})


def _words(path: Path, where: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise LexiconError(f"{path}: {where} must be a list of words")
    return [w.strip().lower() for w in value]


def _fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def parse_lexicon(data: dict, path: Path) -> Lexicon:
    """Build and check a lexicon from parsed TOML; :class:`LexiconError` names the first problem."""
    stances = data.get("stances")
    if not isinstance(stances, dict) or not stances:
        raise LexiconError(f"{path}: no [stances.*] tables")
    unknown = sorted(set(stances) - set(STANCES))
    if unknown:
        raise LexiconError(f"{path}: unknown stance '{unknown[0]}' (stances are {', '.join(STANCES)})")
    missing = [s for s in STANCES if s not in stances]
    if missing:
        raise LexiconError(f"{path}: stance '{missing[0]}' has no [stances.{missing[0]}] table")

    tables: dict[Kind, dict] = {"speech": {}, "belief": {}, "attitude": {}, "phrasal": {}, "noun": {}, "adjective": {}}
    headline: set[str] = set()
    ask: set[str] = set()
    accepts: dict[str, frozenset[str]] = {}
    opposites: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for stance, table in stances.items():
        where = f"[stances.{stance}]"
        stray_keys = sorted(set(table) - set(_TABLE_KEYS) - {"description", "headline", "ask", "accepts", "opposite"})
        if stray_keys:
            raise LexiconError(f"{path}: {where} has an unknown key '{stray_keys[0]}'")
        descriptions[stance] = str(table.get("description", stance))
        own: set[str] = set()
        for key, kind in _TABLE_KEYS.items():
            for word in _words(path, f"{where} {key}", table.get(key, [])):
                if kind == "phrasal" and len(word.split()) != 2:
                    raise LexiconError(f"{path}: {where} phrasal '{word}' must be a verb and one particle")
                for other_kind in ((kind,) if kind not in VERB_KINDS else VERB_KINDS):
                    if word in tables[other_kind]:
                        first = tables[other_kind][word]
                        raise LexiconError(
                            f"{path}: '{word}' is listed twice: as {first.kind} in [stances.{first.stance}] and as {kind} in {where}"
                        )
                tables[kind][word] = Entry(word, stance, kind)
                if kind in ("speech", "belief", "attitude", "phrasal"):
                    own.add(word)
        for key, into in (("headline", headline), ("ask", ask)):
            if key not in table:
                continue
            listed = _words(path, f"{where} {key}", table[key])
            stray = [w for w in listed if w not in own]
            if stray:
                raise LexiconError(f"{path}: {where} {key} lists '{stray[0]}', which is not a verb of this stance")
            into.update(listed)
        if "ask" not in table:  # by default a stance is asked with its speech verbs and phrasal verbs
            ask.update(e.word for kind in ("speech", "phrasal") for e in tables[kind].values() if e.stance == stance)
        if "accepts" in table:
            listed = _words(path, f"{where} accepts", table["accepts"])
            bad = [s for s in listed if s not in STANCES]
            if bad:
                raise LexiconError(f"{path}: {where} accepts unknown stance '{bad[0]}'")
            accepts[stance] = frozenset(listed) | {stance}
        if "opposite" in table:
            opposite = str(table["opposite"])
            if opposite not in STANCES or opposite == stance:
                raise LexiconError(f"{path}: {where} opposite must be another stance, not '{opposite}'")
            opposites[stance] = opposite

    grammar = data.get("grammar", {})
    lists = {name: frozenset(_words(path, f"[grammar] {name}", grammar.get(name, []))) for name in
             ("light_verbs", "copulas", "impersonal", "quote_verbs", "keep_nested", "keep_nested_stances")}
    bad = sorted(lists["keep_nested_stances"] - set(STANCES))
    if bad:
        raise LexiconError(f"{path}: [grammar] keep_nested_stances names unknown stance '{bad[0]}'")

    verbs = {w: e for kind in VERB_KINDS for w, e in tables[kind].items()}
    phrasal = {tuple(w.split()): e for w, e in tables["phrasal"].items()}
    heads = set(verbs) | {h for h, _ in phrasal}
    irregular = {str(k).lower(): str(v).lower() for k, v in data.get("irregular", {}).items()}
    known = heads | lists["light_verbs"] | lists["copulas"] | lists["impersonal"]
    for form, lemma in irregular.items():
        if lemma not in known:
            raise LexiconError(f"{path}: [irregular] {form} = '{lemma}', which is no verb of the lexicon")

    # inflected form -> lemma; two cue verbs must never share a form ("lead"/"led" would be ambiguous)
    form_lemma: dict[str, str] = {}
    for lemma in sorted(heads):
        for f in forms(lemma):
            if f in form_lemma and form_lemma[f] != lemma and f not in heads:
                raise LexiconError(f"{path}: '{f}' is a form of both '{form_lemma[f]}' and '{lemma}'")
            if f not in heads or f == lemma:
                form_lemma.setdefault(f, lemma)
    for form, lemma in irregular.items():
        form_lemma[form] = lemma

    negations = tuple(_words(path, "negations", data.get("negations", [])))
    return Lexicon(
        path=path, verbs=verbs, phrasal=phrasal, nouns=tables["noun"], adjectives=tables["adjective"],
        headline_lemmas=frozenset(headline), ask_lemmas=frozenset(ask), accepts=accepts, opposites=opposites,
        descriptions=descriptions,
        negations=negations, irregular=irregular, **lists, fingerprint=_fingerprint(data), _form_lemma=form_lemma,
    )


@lru_cache(maxsize=8)
def load_lexicon(path: Path | None = None) -> Lexicon:
    """The lexicon at ``path`` (default: the bundled one), checked; cached per path."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LexiconError(f"{path}: cannot read the lexicon ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LexiconError(f"{path}: not a valid TOML file ({e})") from None
    return parse_lexicon(data, path)

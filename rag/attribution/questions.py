"""Attribution questions: "who denied what?", "what did Syria deny?", "did Reyland deny the sale?".

A recognised question becomes an :class:`AttributionQuery`: the stance asked about, whether it is
negated ("what did X not deny?"), the speaker and the topic it names, and whether it asks yes/no.
Every verb comes from the attribution lexicon, the same table extraction uses, so a question asks
with exactly the stances the ledger stores. Anything else is not an attribution question and goes
to retrieval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.attribution.lexicon import Lexicon
from rag.filters import DATE_TEXT, WHEN_WORDS

# What a question may add after the verb without naming a topic.
NO_TOPIC = re.compile(r"^\s*(?:what|anything|something|it|this|that|whom|to whom|and to whom|and what|,|\s)*$", re.I)
# "who denied what about the leak?": the topic is "the leak"
TOPIC_WORDS = r"(?:about|regarding|concerning|on|over|in|of)"
TOPIC_LEAD = re.compile(rf"^\s*(?:what\s+|anything\s+|something\s+)?(?P<about>{TOPIC_WORDS})\s+", re.I)
TO_WHOM = re.compile(r",?\s*(?:and\s+)?to whom\b", re.I)
# "confirm to Radio Sport 7 that ...", "quote Jules Perrin as saying ...": who was told or quoted
PARTY = re.compile(r"^\s*(?:to\s+(?:the\s+)?(?P<to>[A-Z][\w.'’-]*(?:\s+[\w.'’-]+){0,4}?)|(?P<quoted>[A-Z][\w.'’-]*(?:\s+[\w.'’-]+){0,4}?)\s+as\s+saying)"
                   r"(?=\s*(?:$|,|\s(?:that|about|on|as)\b))(?P<rest>.*)$")
#: A content clause ("denied that ..."): the words after it are what was said, a time in it included
CLAUSE = re.compile(r"(?:^|[\s,])that\s", re.I)
#: What a question may call the report another article's claim answers ("the Ledger's reports").
REPORT_NOUNS = r"reports?|reporting|stor(?:y|ies)|claims?|allegations?|findings?|articles?"
#: Speakers a question names without naming anyone ("did anyone deny ...?").
NOBODY = frozenset({"anyone", "anybody", "someone", "somebody", "any one", "they", "people", "everyone", "everybody"})


@dataclass(frozen=True)
class AttributionQuery:
    """What an attribution question asks of the ledger."""

    stance: str
    negated: bool = False
    speaker: str = ""
    topic: str = ""
    to_whom: bool = False
    yes_no: bool = False
    verb: str = ""  # the verb as asked ("rejected"), for messages
    about: str = ""  # the preposition that introduced the topic ("about"): the topic may be the article's
    party: str = ""  # who was told or quoted: "confirm to Radio Sport 7", "quote Jules Perrin as saying"
    #: whose report the asked claims answer, across articles ("who denied what the Valdoria Ledger
    #: reported?"): an outlet (an article's source) or a speaker; answered from the links
    reporter: str = ""
    #: the stance a speaker took first, when the question asks about them turning ("who confirmed X and
    #: later denied it?", "what did X deny in April and confirm in May?"); ``stance`` is the later one
    earlier: str = ""
    #: "in April" / "in May 2026" of such a question: when the earlier and the later claim were published
    months: tuple[str, str] = ("", "")
    #: when the asked claims were published: ("since", "May 1, 2026"), ("in", "April 2026"), ("before",
    #: "the Ledger reported it was cracked"); the answer keeps the articles of those days only
    when: tuple[str, str] = ("", "")
    #: with an event for ``when``: who reported it and what ("the Ledger", "it was cracked")
    event: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class _Patterns:
    who: re.Pattern[str]
    what_did: re.Pattern[str]
    what_was: re.Pattern[str]
    yes_no: re.Pattern[str]
    which: re.Pattern[str]
    all_of: re.Pattern[str]
    answered: re.Pattern[str]
    turned_who: re.Pattern[str]
    turned_what: re.Pattern[str]
    answered_own: re.Pattern[str]
    when_date: re.Pattern[str]
    when_event: re.Pattern[str]


def _in(name: str) -> str:
    """An optional "in April" / "in May 2026" of a question about a speaker turning: when the earlier
    or the later claim was published (the order is the link's)."""
    return rf"(?:\s+in\s+(?P<{name}>{DATE_TEXT}))?"


@lru_cache(maxsize=8)
def _patterns(lexicon: Lexicon) -> _Patterns:
    verbs = "|".join(sorted((re.escape(v).replace(r"\ ", r"\s+") for v in lexicon.question_verbs), key=len, reverse=True))
    neg = r"(?P<neg>(?:did|does|do|has|have|had|would|will)\s*(?:not|n't)\s+|(?:never|not)\s+)"
    aux = r"(?:(?:has|have|had|did|does|do|was|were)\s+)?"
    nouns = "|".join(sorted({re.escape(n) + "s?" for n in lexicon.nouns if lexicon.nouns[n].stance != "other"}, key=len, reverse=True))
    return _Patterns(
        who=re.compile(rf"^\s*(?:who|whom)\s+(?:{neg}|{aux})(?P<verb>{verbs})\b(?P<rest>.*?)[?.!\s]*$", re.I),
        what_did=re.compile(
            rf"^\s*(?:what|whom|who)\s+(?:did|does|do|has|have|had)\s+(?P<speaker>.+?)\s+(?P<neg>(?:not|n't|never)\s+)?"
            rf"(?P<verb>{verbs})\b(?P<rest>.*?)[?.!\s]*$", re.I),
        what_was=re.compile(rf"^\s*what\s+(?:was|were|has been|have been|is|are)\s+(?P<verb>{verbs})(?:\s+by\s+(?P<speaker>.+?))?[?.!\s]*$", re.I),
        yes_no=re.compile(
            rf"^\s*(?:did|does|do|has|have|had)\s+(?P<speaker>.+?)\s+(?P<neg>(?:not|n't|never|ever)\s+)?(?P<verb>{verbs})\b"
            rf"(?P<rest>.*?)[?.!\s]*$", re.I),
        which=re.compile(rf"^\s*(?:which|what)\s+(?P<speaker>[\w'’-]+(?:\s+[\w'’-]+)?)\s+(?:{neg}|{aux})(?P<verb>{verbs})\b(?P<rest>.*?)[?.!\s]*$", re.I),
        # "who denied what the Valdoria Ledger reported?", "who rejected the reports that Reyland confirmed?"
        answered=re.compile(
            rf"^\s*who\s+{aux}(?P<verb>{verbs})\s+(?:what|the\s+(?:{REPORT_NOUNS})(?:\s+that)?)\s+(?!{TOPIC_WORDS}\b)(?P<reporter>.+?)\s+"
            rf"{aux}(?P<said>{verbs})\b(?:\s+(?:about|on|over)\s+(?P<topic>.+?))?[?.!\s]*$", re.I),
        # "who confirmed meeting Hallin and later denied it?"
        turned_who=re.compile(rf"^\s*who\s+(?:first\s+)?(?P<v1>{verbs})\s+(?P<topic>.+?),?\s+and\s+(?:later|then|afterwards|now)\s+"
                              rf"(?P<v2>{verbs})\s+(?:it|that|this|them)[?.!\s]*$", re.I),
        # "what did Reyland first reject and later confirm?", "what did Hallin deny in April and confirm in May?"
        turned_what=re.compile(rf"^\s*what\s+(?:did|has|have)\s+(?P<speaker>.+?)\s+(?:first\s+)?(?P<v1>{verbs}){_in('m1')},?\s+and\s+"
                               rf"(?:later\s+|then\s+|afterwards\s+|now\s+)?(?P<v2>{verbs}){_in('m2')}[?.!\s]*$", re.I),
        # "who denied the Valdoria Ledger's report?"
        answered_own=re.compile(rf"^\s*who\s+{aux}(?P<verb>{verbs})\s+(?P<reporter>.+?)['’]s?\s+(?:{REPORT_NOUNS})[?.!\s]*$", re.I),
        # "... since May 1, 2026", "... in April 2026", "... before the Ledger reported it was cracked": when
        when_date=re.compile(rf"^(?P<rest>.*?)[\s,]*\b(?P<word>{'|'.join(WHEN_WORDS)})\s+(?P<when>{DATE_TEXT})$", re.I),
        when_event=re.compile(rf"^(?P<rest>.*?)[\s,]*\b(?P<word>(?i:before|after|since|until))\s+(?P<when>(?P<who>(?:(?i:the)\s+)?[A-Z][\w.'’-]*"
                              rf"(?:\s+[A-Z][\w.'’-]*){{0,4}})\s+(?i:{verbs})\s+(?:that\s+)?(?P<what>\S.*?))$"),
        all_of=re.compile(rf"^\s*(?:list|show)(?:\s+me)?(?:\s+all)?(?:\s+the)?\s+(?P<noun>{nouns})\b(?:\s+(?:by|from)\s+(?P<speaker>.+?))?[?.!\s]*$", re.I),
    )


def parse(question: str, lexicon: Lexicon) -> AttributionQuery | None:
    """Recognise an attribution question; None for anything else."""
    q = " ".join(question.replace("’", "'").split())
    if not q:
        return None
    p = _patterns(lexicon)
    for pattern in (p.turned_who, p.turned_what):
        m = pattern.match(q)
        first = lexicon.question_verbs.get(_verb(m.group("v1"))) if m else None
        then = lexicon.question_verbs.get(_verb(m.group("v2"))) if m else None
        if first is not None and then is not None and lexicon.opposites.get(first.stance) == then.stance:
            speaker = _speaker(m.group("speaker")) if "speaker" in pattern.groupindex else ""
            topic = (m.group("topic") or "").strip(" ,?.") if "topic" in pattern.groupindex else ""
            months = tuple((m.group(g) or "") if g in pattern.groupindex else "" for g in ("m1", "m2"))
            return AttributionQuery(stance=then.stance, earlier=first.stance, speaker=speaker, topic=topic, verb=m.group("v2"),
                                    months=months)  # type: ignore[arg-type]
    for pattern in (p.answered, p.answered_own):
        m = pattern.match(q)
        entry = lexicon.question_verbs.get(_verb(m.group("verb"))) if m else None
        said = lexicon.question_verbs.get(_verb(m.group("said"))) if m and "said" in pattern.groupindex else None
        if entry is not None and (said is None or said.stance != entry.stance):
            reporter = _speaker(m.group("reporter"))
            if reporter:
                topic = (m.group("topic") or "").strip(" ,?.") if "topic" in pattern.groupindex else ""
                return AttributionQuery(stance=entry.stance, reporter=reporter, verb=m.group("verb"), topic=topic,
                                        about="about" if topic else "")
    if m := p.all_of.match(q):
        noun = m.group("noun").lower()
        entry = lexicon.nouns.get(noun) or lexicon.nouns.get(noun[:-1])
        if entry is None:
            return None
        speaker, when, event = _when(m.group("speaker") or "", p)
        return AttributionQuery(stance=entry.stance, speaker=_speaker(speaker), verb=noun, when=when, event=event)
    if m := p.what_was.match(q):
        entry = lexicon.question_verbs[_verb(m.group("verb"))]
        return AttributionQuery(stance=entry.stance, speaker=_speaker(m.group("speaker") or ""), verb=m.group("verb"))
    for kind, pattern in (("who", p.who), ("what_did", p.what_did), ("yes_no", p.yes_no), ("which", p.which)):
        m = pattern.match(q)
        if not m:
            continue
        verb = _verb(m.group("verb"))
        entry = lexicon.question_verbs.get(verb)
        if entry is None:
            continue
        rest = m.group("rest") or ""
        to_whom = bool(TO_WHOM.search(rest))
        rest = TO_WHOM.sub("", rest)
        # "who denied that they visited in February?": a clause's time is what was said, not when
        rest, when, event = (rest, ("", ""), ("", "")) if CLAUSE.search(rest) else _when(rest, p)
        party = ""
        if pm := PARTY.match(rest):
            party, rest = (pm.group("to") or pm.group("quoted")).strip(" ,"), pm.group("rest") or ""
        lead = TOPIC_LEAD.match(rest)
        topic = "" if NO_TOPIC.match(rest) else TOPIC_LEAD.sub("", rest).strip(" ,?.")
        about = lead.group("about").lower() if lead and topic else ""
        speaker = _speaker(m.group("speaker")) if "speaker" in pattern.groupindex else ""
        negated = bool(m.group("neg")) and not m.group("neg").strip().lower().startswith("ever")
        return AttributionQuery(
            stance=entry.stance, negated=negated, speaker=speaker, topic=topic, to_whom=to_whom,
            yes_no=kind == "yes_no", verb=m.group("verb"), about=about, party=party, when=when, event=event,
        )
    return None


def _when(text: str, p: _Patterns) -> tuple[str, tuple[str, str], tuple[str, str]]:
    """The question's words without a trailing "since May 1, 2026" / "before the Ledger reported it was
    cracked", and that qualifier as (word, date or event) and, for an event, (who, what)."""
    text = text.rstrip(" ?.!")
    if m := p.when_date.match(text):
        return m.group("rest"), (m.group("word").lower(), m.group("when")), ("", "")
    if m := p.when_event.match(text):
        return m.group("rest"), (m.group("word").lower(), m.group("when")), (m.group("who"), m.group("what").strip(" ,"))
    return text, ("", ""), ("", "")


def _verb(text: str) -> str:
    return " ".join(text.lower().split())


def _speaker(text: str) -> str:
    """The asked speaker without a leading article; nobody for "anyone", "someone"."""
    text = re.sub(r"^(?:the|a|an)\s+", "", text.strip(" ,"), flags=re.I)
    return "" if text.lower() in NOBODY else text

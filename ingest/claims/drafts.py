"""What the constructions work with: a claim in the making (:class:`Draft`), the sentence it comes
from (:class:`SentenceContext`), and small helpers over spaCy tokens and article text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from rag.attribution.lexicon import Lexicon
from rag.types import Sentence

EDGE_PUNCT = set(",;:.-—–()\"'“”‘’«»[] ")
QUOTE_PAIRS = {"“": "”", "«": "»", '"': '"'}
RELATIVE = ("who", "which", "that")
CONTENT_DEPS = ("ccomp", "xcomp", "parataxis", "oprd")
OBJECT_DEPS = ("dobj", "obj", "attr")
TIME_WORDS = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "yesterday", "tonight",
    "morning", "afternoon", "evening", "night", "week", "weekend", "month", "year",
})


@dataclass
class Draft:
    """A claim before the article-level passes, with spans in article offsets. ``via`` names the
    constructions that produced it (what a test, or a puzzled user, checks)."""

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
    negated: bool = False
    via: list[str] = field(default_factory=list)
    speaker_tokens: list = field(default_factory=list, repr=False)  # spaCy tokens of the mention, when parsed
    speaker_mention: str = ""  # as written, once the speaker pass has resolved ``speaker``
    speaker_role: str = ""
    speaker_key: str = ""


@dataclass
class SentenceContext:
    """One sentence of an article as the constructions see it."""

    index: int
    sentence: Sentence
    text: str | None  # the whole article text, when known (paragraph breaks matter)
    lexicon: Lexicon

    @property
    def opens_paragraph(self) -> bool:
        s = self.sentence
        return self.text is None or s.start == 0 or self.text[s.start - 1] == "\n"


@dataclass
class ArticleContext:
    """The whole article as the article-level constructions and the passes see it; ``names`` are the
    full names (two or more capitalised proper nouns) the parsed sentences mention, speakers or not."""

    sentences: Sequence[Sentence]
    text: str | None
    lexicon: Lexicon
    names: list[str] = field(default_factory=list)

    @property
    def article_id(self) -> str:
        return self.sentences[0].article_id if self.sentences else ""


@dataclass
class TokenContext:
    """A parsed sentence: the doc, the sentence's offset in the article and its index."""

    index: int
    offset: int
    doc: object
    lexicon: Lexicon

    def span(self, tokens: Sequence) -> tuple[str, tuple[int, int] | None]:
        return text_span(tokens, self.doc, self.offset)

    def lemma(self, tok) -> str:
        """The token's lemma, mended where the small model slips ("hopes" -> "hop") using the lexicon."""
        lemma = tok.lemma_.lower()
        if lemma in self.lexicon.verb_lemmas:
            return lemma
        return self.lexicon.lemma(tok.lower_) or lemma


def article_text(sentences: Sequence[Sentence], text: str | None) -> tuple[str, int]:
    """(text, offset of its first character in the article); without the article, rebuilt from the
    sentences (line breaks unknown)."""
    if text is not None:
        return text, 0
    base = sentences[0].start
    return "".join(" " * (s.start - (sentences[k - 1].end if k else base)) + s.text for k, s in enumerate(sentences)), base


def quoted_regions(text: str, base: int) -> list[tuple[int, int]]:
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


def trim(tokens: Sequence) -> list:
    """Drop punctuation from both ends of a token run (a bracket closing one inside stays)."""
    toks = list(tokens)
    while toks and (toks[0].is_punct or toks[0].text in EDGE_PUNCT or toks[0].is_space):
        toks.pop(0)
    while toks and (toks[-1].is_punct or toks[-1].text in EDGE_PUNCT or toks[-1].is_space):
        if toks[-1].text == ")" and any(t.text == "(" for t in toks):
            break  # keep a closing bracket whose opening one is inside: "Party (AKP)"
        toks.pop()
    return toks


def text_span(tokens: Sequence, doc, offset: int) -> tuple[str, tuple[int, int] | None]:
    toks = trim(sorted(tokens, key=lambda t: t.i))
    if not toks:
        return "", None
    start, end = toks[0].idx, toks[-1].idx + len(toks[-1].text)
    return doc[toks[0].i : toks[-1].i + 1].text, (offset + start, offset + end)  # = doc.text[start:end], without joining the whole doc


def is_time(token) -> bool:
    """'on Wednesday', 'last week', 'Thursday' hanging on a noun: when, not who."""
    if token.dep_ == "prep" and token.lower_ in ("on", "in", "at", "during", "earlier", "late", "last"):
        return any(c.dep_ == "pobj" and c.lower_ in TIME_WORDS for c in token.children)
    return token.dep_ in ("npadvmod", "tmod") and token.lower_ in TIME_WORDS


def complement(adjective) -> list:
    """What an attitude adjective is about: 'confident [that ...]', 'critical [of ...]', 'eager [to ...]'."""
    return [c for c in adjective.children if c.dep_ in ("ccomp", "xcomp", "prep") and c.i > adjective.i]


def subtree(token, exclude: Iterable = ()) -> list:
    skip = {t.i for e in exclude for t in e.subtree}
    return [t for t in token.subtree if t.i not in skip]


def cue_text(tokens: Sequence) -> str:
    """Cue words as written, '...' marking a gap ('quoted ... as saying')."""
    parts, last = [], None
    for t in tokens:
        if last is not None and t.i > last + 1:
            parts.append("...")
        parts.append(t.text)
        last = t.i
    return " ".join(parts)

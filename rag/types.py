"""The small typed records every part of whosaid passes around."""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

from pydantic import BaseModel, Field

Stance = Literal["deny", "confirm", "say", "claim", "rule_out", "accuse", "reveal", "report", "quote", "warn", "other"]
STANCES: tuple[str, ...] = Stance.__args__  # type: ignore[attr-defined]


class Article(BaseModel):
    """One news article as ingested; ``id`` is stable across re-ingest."""

    id: str = Field(description="Given id, else a hash of the source path or content; stable across re-ingest")
    title: str = Field(description="Headline, or a title derived from the file name")
    source: str = Field(default="", description="Publisher or outlet, as given")
    url: str = Field(default="", description="Where the article was published, if known")
    published: str = Field(default="", description="Publication date as given (ISO when the loader can tell)")
    text: str = Field(description="Body text; sentence offsets index into this string")
    #: Stored (catalogue schema 7) and hashed when not empty (see ``ingest.pipeline.article_version``).
    pages: list[tuple[int, int, int]] = Field(
        default_factory=list,
        description="PDF inputs: (start, end, page number) character ranges of ``text``, in order; empty otherwise")

    def page_of(self, offset: int) -> int | None:
        """The page holding character ``offset`` (a sentence's start), or None without a page map."""
        i = bisect_right(self.pages, (offset, 1 << 62, 0)) - 1  # the last range starting at or before offset
        if i >= 0 and self.pages[i][0] <= offset < self.pages[i][1]:
            return self.pages[i][2]
        return None


class Sentence(BaseModel):
    """A sentence of an article: ``article.text[start:end] == text`` always."""

    article_id: str
    index: int = Field(description="Position of the sentence in its article, from 0")
    text: str
    start: int = Field(description="Character offset of the first character in the article text")
    end: int = Field(description="Character offset one past the last character")
    page: int | None = Field(default=None, description="PDF inputs: the page the sentence starts on (from 1); None otherwise")

    @property
    def id(self) -> str:
        return f"{self.article_id}:{self.index}"


class Chunk(BaseModel):
    """A window of whole sentences ``first..last`` (inclusive); the unit that gets embedded."""

    id: str = Field(description="Content hash of article version and sentence window")
    article_id: str
    first: int
    last: int
    text: str


def sentence_index(sentence_id: str) -> int:
    """The index part of a sentence id ('article:index'; an article id may itself hold colons)."""
    return int(sentence_id.rsplit(":", 1)[1])


class Claim(BaseModel):
    """Who said, denied, confirmed... what, in which sentences; extracted at ingest."""

    article_id: str
    speaker: str = Field(
        description="Who said it, resolved in the article: a name ('Tomas Reyland' for 'he', 'Reyland' or 'the minister') or, "
        "for a speaker the article only describes, the fullest description ('the Turkish source'); empty when the text names none"
    )
    speaker_mention: str = Field(default="", description="The speaker as written in the cue sentence ('he', 'The minister')")
    speaker_role: str = Field(default="", description="What the article calls the speaker besides the name ('Valdoria's harbour minister')")
    speaker_key: str = Field(
        default="", description="Canonical speaker: a name's key is shared across articles ('tomas reyland'); a description's is scoped to its article"
    )
    cue: str = Field(description="Reporting words as written ('denied', 'ruled out', 'confirmed to', 'did not deny')")
    stance: Stance = Field(description="Fixed vocabulary (rag/attribution/lexicon.toml); 'did not deny' is 'deny' with negated=True")
    negated: bool = Field(default=False, description="The cue is negated ('did not deny', 'never confirmed'): the speaker did NOT take the stance")
    cue_lemma: str = Field(default="", description="The cue's dictionary form ('deny', 'rule out', 'according to')")
    content: str = Field(description="What was said or denied; for 'denied this' the statement 'this' points back to")
    sentence_ids: list[str] = Field(description="'article:index' of the cue sentence, then of any sentence the content points back to")
    other_party: str = Field(default="", description="Who was told ('confirmed to al-Modon') or quoted ('quoted X as saying')")
    cue_span: tuple[int, int] | None = Field(default=None, description="Character offsets of the cue in the article text")
    speaker_span: tuple[int, int] | None = Field(
        default=None,
        description="Offsets of the speaker's mention in the cue sentence; for 'an official who said' the relative "
        "pronoun, while `speaker` gives the noun it stands for",
    )
    content_span: tuple[int, int] | None = Field(default=None, description="Offsets of the content as written in the cue sentence")

    @property
    def sentence_indexes(self) -> list[int]:
        return [sentence_index(s) for s in self.sentence_ids]

    @property
    def reads(self) -> str:
        """The stance as a phrase: 'deny', 'rule out'; a negated claim as its negation, 'did not deny'."""
        if self.negated:
            return f"did not {self.cue_lemma or self.stance.replace('_', ' ')}"
        return self.stance.replace("_", " ")

    def to_json_dict(self) -> dict:
        """The claim as ``claims --json``, ``ask --json`` and the API write it; fields are only ever added."""
        return {
            "speaker": self.speaker,
            "speaker_key": self.speaker_key,
            "speaker_mention": self.speaker_mention,
            "speaker_role": self.speaker_role,
            "cue": self.cue,
            "cue_lemma": self.cue_lemma,
            "stance": self.stance,
            "negated": self.negated,
            "reads": self.reads,
            "content": self.content,
            "other_party": self.other_party,
            "article_id": self.article_id,
            "sentence_indexes": self.sentence_indexes,
        }


class Candidate(BaseModel):
    """A retrieved sentence with its article metadata and the scores that ranked it."""

    sentence: Sentence
    title: str
    url: str = ""
    score: float = Field(description="Combined score used for ranking (higher is better)")
    dense: float = Field(default=0.0, description="Cosine similarity of sentence and question")
    lexical: float = Field(default=0.0, description="IDF-weighted share of question terms in the sentence")


class Citation(BaseModel):
    """A marker ``[n]`` in an answer resolved to the exact sentence it points to."""

    marker: int
    sentence_id: str
    article_id: str
    title: str
    quote: str = Field(description="The cited sentence, verbatim")
    sentence_index: int
    start: int
    end: int
    url: str = ""
    page: int | None = Field(default=None, description="The page of a PDF the sentence starts on; None for other inputs")


class StatementResult(BaseModel):
    """One statement of an LLM answer after verification."""

    text: str
    citations: list[int] = Field(default_factory=list, description="Markers that resolved to shown sentences")
    supported: bool = Field(description="Has valid citations and its content appears in the cited sentences")
    support: float = Field(default=0.0, description="Share of the statement's term weight found in the cited sentences")


class Answer(BaseModel):
    """What ``ask`` returns: the text with ``[n]`` markers and the citations they resolve to."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    mode: str = Field(default="extractive", description="Which answerer produced the text")
    claims: list[Claim] = Field(default_factory=list, description="Ledger entries the answer rests on (attribution questions)")
    statements: list[StatementResult] = Field(default_factory=list, description="Per-statement verification (LLM answers)")
    notice: str | None = Field(default=None, description="Why the answer is not what was configured, e.g. LLM fallback")
    usage: dict[str, int] | None = Field(default=None, description="Tokens the model reported: input_tokens, output_tokens")
    timings: dict[str, float] = Field(default_factory=dict, description="Milliseconds per step")

    def to_json_dict(self) -> dict:
        """The stable ``ask --json`` shape other tools read; change it only additively."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "mode": self.mode,
            "citations": [
                {
                    "marker": c.marker,
                    "article_id": c.article_id,
                    "title": c.title,
                    "sentence_index": c.sentence_index,
                    "text": c.quote,
                    "start": c.start,
                    "end": c.end,
                    "page": c.page,
                }
                for c in self.citations
            ],
            "claims": [c.to_json_dict() for c in self.claims],
            "statements": [st.model_dump() for st in self.statements],
            "notice": self.notice,
            "usage": self.usage,
            "timings_ms": {k: round(v, 2) for k, v in self.timings.items()},
        }


class DeltaEvent(BaseModel):
    """More answer text (citation markers excluded; they come with the statement)."""

    type: Literal["delta"] = "delta"
    text: str


class StatementEvent(BaseModel):
    """A completed statement with its verified citations."""

    type: Literal["statement"] = "statement"
    index: int
    text: str
    citations: list[Citation]
    supported: bool


class NoticeEvent(BaseModel):
    """Something the reader should know; ``reset`` means discard the text streamed so far."""

    type: Literal["notice"] = "notice"
    text: str
    reset: bool = False


class DoneEvent(BaseModel):
    """The final, authoritative answer."""

    type: Literal["done"] = "done"
    answer: Answer


Event = DeltaEvent | StatementEvent | NoticeEvent | DoneEvent


LinkKind = Literal["denies", "responds", "contradicts"]
LINK_KINDS: tuple[str, ...] = LinkKind.__args__  # type: ignore[attr-defined]


class Link(BaseModel):
    """A claim in one article answering a sentence of another (rag/attribution/links.py): a denial of
    what was reported there ("denies"), another answer to it ("responds"), or the same speaker
    taking back what they said there ("contradicts"). Stored in the catalogue; the fields after
    ``score`` are filled when it is read, so a link always shows both sentences."""

    kind: LinkKind
    score: float = Field(description="Similarity by meaning of the answering claim's content and the answered sentence")
    from_article: str
    from_seq: int = Field(description="The answering claim's place in its article's ledger")
    from_sentence: int = Field(description="Index of the answering claim's cue sentence")
    to_article: str
    to_sentence: int
    to_seq: int | None = Field(default=None, description="The claim in the answered sentence, if the ledger holds one")
    from_text: str = ""
    to_text: str = ""
    from_title: str = ""
    to_title: str = ""
    from_source: str = ""
    to_source: str = ""
    from_published: str = ""
    to_published: str = ""
    from_url: str = ""
    to_url: str = ""
    from_claim: Claim | None = None
    to_claim: Claim | None = None

    @property
    def key(self) -> tuple[str, int, str, int]:
        """What makes a link one: the answering claim and the answered sentence."""
        return (self.from_article, self.from_seq, self.to_article, self.to_sentence)

    def to_json_dict(self) -> dict:
        """A link as ``whosaid links --json`` and the API write it; fields are only ever added."""
        side = lambda p: {  # noqa: E731
            "article_id": getattr(self, f"{p}_article"), "sentence_index": getattr(self, f"{p}_sentence"),
            "text": getattr(self, f"{p}_text"), "title": getattr(self, f"{p}_title"), "source": getattr(self, f"{p}_source"),
            "published": getattr(self, f"{p}_published"), "url": getattr(self, f"{p}_url"),
            "claim": None if getattr(self, f"{p}_claim") is None else getattr(self, f"{p}_claim").to_json_dict(),
        }
        return {"kind": self.kind, "score": round(self.score, 4), "from": side("from"), "to": side("to")}

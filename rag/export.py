"""The ledger and answers out of whosaid: CSV (for spreadsheets), JSON Lines (for tools) and
ClaimReview-style JSON-LD (schema.org, for fact-checking sites).

Every exported ledger row has the same columns (:data:`LEDGER_COLUMNS`), an answer one row per
citation (:data:`ANSWER_COLUMNS`). In CSV, list cells (``sentence_indexes``, ``sentences``) are JSON
arrays, booleans ``true``/``false``; a text cell that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``, and so is a cell
that already starts with ``'``, so :func:`read_csv` undoes it exactly: what is read back equals what
was written.

ClaimReview: whosaid records who said what, not whether it is true, so no ``reviewRating`` is
emitted (schema.org does not require one; a fact-checker adds their own rating before publishing).
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from rag.filters import ArticleMeta, articles_meta, iso_day
from rag.types import Answer, Claim

if TYPE_CHECKING:
    from rag.store import Store

LEDGER_COLUMNS = ("speaker", "speaker_key", "speaker_mention", "speaker_role", "reads", "stance", "negated", "cue", "content",
                  "other_party", "article_id", "title", "source", "published", "url", "sentence_indexes", "sentences")
ANSWER_COLUMNS = ("question", "answer", "abstained", "marker", "quote", "article_id", "title", "source", "published", "url",
                  "sentence_index", "start", "end")
#: How a column's cells are typed (everything else is text).
_BOOL = frozenset({"negated", "abstained"})
_INT = frozenset({"marker", "sentence_index", "start", "end"})
_LIST = frozenset({"sentence_indexes", "sentences"})
#: What a spreadsheet reads as the start of a formula (OWASP's list), and the guard's own quote.
_GUARDED = ("=", "+", "-", "@", "\t", "\r", "'")


# -- rows ------------------------------------------------------------------------------------------
def ledger_rows(store: "Store", claims: Sequence[Claim], meta: dict[str, ArticleMeta] | None = None) -> list[dict[str, Any]]:
    """One row per claim with its article's title, source, date and url and its sentences' text
    (read in batches: one statement per 200 articles' sentences)."""
    if meta is None:  # only the claims' articles
        meta = articles_meta(store, (c.article_id for c in claims))
    wanted = sorted({(c.article_id, i) for c in claims for i in c.sentence_indexes})
    rows = store.catalogue.window_sentences(store.space, [(a, i, i) for a, i in wanted], store.embedder.dim)
    text = {(s.article_id, s.index): s.text for s, _, _, _ in rows}
    out = []
    for c in claims:
        m = meta.get(c.article_id) or ArticleMeta(c.article_id, "", "", "", "")
        out.append({
            "speaker": c.speaker, "speaker_key": c.speaker_key, "speaker_mention": c.speaker_mention, "speaker_role": c.speaker_role,
            "reads": c.reads, "stance": c.stance, "negated": c.negated, "cue": c.cue, "content": c.content,
            "other_party": c.other_party, "article_id": c.article_id, "title": m.title, "source": m.source,
            "published": m.published, "url": m.url, "sentence_indexes": c.sentence_indexes,
            "sentences": [text.get((c.article_id, i), "") for i in c.sentence_indexes],
        })
    return out


def answer_rows(answer: Answer, meta: dict[str, ArticleMeta] | None = None) -> list[dict[str, Any]]:
    """One row per citation, each with the answer's text; an answer without citations (an abstention)
    is one row with the citation cells empty (None)."""
    meta = meta or {}
    head = {"question": answer.question, "answer": answer.text, "abstained": answer.abstained}
    if not answer.citations:
        return [{**head, **{k: None for k in ANSWER_COLUMNS if k not in head}}]
    out = []
    for c in answer.citations:
        m = meta.get(c.article_id) or ArticleMeta(c.article_id, c.title, "", c.url, "")
        out.append({**head, "marker": c.marker, "quote": c.quote, "article_id": c.article_id, "title": c.title,
                    "source": m.source, "published": m.published, "url": c.url or m.url, "sentence_index": c.sentence_index,
                    "start": c.start, "end": c.end})
    return out


# -- CSV -------------------------------------------------------------------------------------------
def _guard(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs: ``'`` before a formula's first character."""
    return "'" + value if value.startswith(_GUARDED) else value


def _unguard(value: str) -> str:
    return value[1:] if value.startswith("'") and len(value) > 1 and value[1] in _GUARDED else value


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in _LIST:
        return json.dumps(value, ensure_ascii=False)  # starts with "[": never a formula
    if column in _BOOL:
        return "true" if value else "false"
    if column in _INT:
        return str(int(value))
    return _guard(str(value))


def _value(column: str, cell: str) -> Any:
    if column in _LIST:
        return json.loads(cell) if cell else []
    if column in _BOOL:
        return cell == "true"
    if column in _INT:
        return int(cell) if cell else None
    return _unguard(cell)


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header line (RFC 4180 quoting, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(c, row.get(c)) for c in columns])
    return out.getvalue()


def read_csv(text: str) -> list[dict[str, Any]]:
    """What :func:`to_csv` wrote, read back: typed cells, the formula guard undone."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None) or []
    return [{c: _value(c, cell) for c, cell in zip(header, cells)} for cells in reader]


def to_jsonl(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """One JSON object per line, keys in ``columns`` order (JSON needs no formula guard)."""
    return "".join(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n" for row in rows)


def read_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def claims_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Ledger rows (:func:`ledger_rows`) as CSV."""
    return to_csv(rows, LEDGER_COLUMNS)


def claims_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return to_jsonl(rows, LEDGER_COLUMNS)


def answer_csv(answer: Answer, meta: dict[str, ArticleMeta] | None = None) -> str:
    """An answer as CSV: one row per citation (:func:`answer_rows`)."""
    return to_csv(answer_rows(answer, meta), ANSWER_COLUMNS)


def answer_jsonl(answer: Answer, meta: dict[str, ArticleMeta] | None = None) -> str:
    return to_jsonl(answer_rows(answer, meta), ANSWER_COLUMNS)


# -- ClaimReview JSON-LD ------------------------------------------------------------------------------
def claim_review(row: dict[str, Any]) -> dict[str, Any]:
    """One ledger row as a schema.org ``ClaimReview`` of a ``Claim`` whose author is the speaker and
    whose appearance is the news article, the claim's sentences quoted in it. No ``reviewRating``:
    whosaid rates nothing (see the module docstring)."""
    article: dict[str, Any] = {"@type": "NewsArticle", "headline": row["title"] or row["article_id"], "identifier": row["article_id"]}
    if row["source"]:
        article["publisher"] = {"@type": "Organization", "name": row["source"]}
    day = iso_day(row["published"])
    if day:
        article["datePublished"] = day
    if row["url"]:
        article["url"] = row["url"]
    quoted = [{"@type": "Quotation", "text": text, "position": idx} for idx, text in zip(row["sentence_indexes"], row["sentences"]) if text]
    if quoted:
        article["hasPart"] = quoted
    author: dict[str, Any] = {"@type": _author_type(row["speaker"]), "name": row["speaker"] or "(unnamed)"}
    if row["speaker_role"]:
        author["description"] = row["speaker_role"]
    claim: dict[str, Any] = {"@type": "Claim", "author": author, "text": row["content"], "appearance": article,
                             "description": f"{row['speaker'] or '(unnamed)'} ({row['reads']}, \"{row['cue']}\"): {row['content']}"}
    if day:
        claim["datePublished"] = day
    review: dict[str, Any] = {"@context": "https://schema.org", "@type": "ClaimReview", "claimReviewed": row["content"],
                              "itemReviewed": claim}
    if row["url"]:
        review["url"] = row["url"]
    return review


#: Words that make a speaker an organisation rather than a person (schema.org's Claim.author is one or the other).
_ORGANISATION_WORDS = frozenset({
    "ministry", "authority", "agency", "government", "council", "company", "news", "army", "forces", "observatory", "office",
    "department", "committee", "union", "party", "police", "court", "commission", "group", "coalition", "bank", "corporation",
    "association", "organization", "organisation", "institute", "board", "service", "press", "media", "network", "embassy",
    "parliament", "assembly", "federation", "front", "movement", "militia", "command", "administration", "state", "nations",
    "who", "un", "nato", "eu", "sana", "reuters", "sputnik", "tass",
})


def _author_type(speaker: str) -> str:
    from rag.attribution.speakers import words

    return "Organization" if set(words(speaker)) & _ORGANISATION_WORDS else "Person"


def claim_reviews(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The filtered ledger as a list of ClaimReview objects (one JSON-LD document)."""
    return [claim_review(r) for r in rows]


__all__ = ["ANSWER_COLUMNS", "LEDGER_COLUMNS", "answer_csv", "answer_jsonl", "answer_rows", "claim_review", "claim_reviews",
           "claims_csv", "claims_jsonl", "ledger_rows", "read_csv", "read_jsonl", "to_csv", "to_jsonl"]

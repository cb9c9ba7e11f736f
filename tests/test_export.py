"""Export: the ledger and answers as CSV (formula-guarded, read back exactly) and JSON Lines, and the
ledger as ClaimReview JSON-LD, from Python, the CLI and the API."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from rag import export
from rag.attribution.speakers import SpeakerDirectory
from rag.engine import Engine
from rag.filters import Filters, ledger
from rag.settings import Settings
from rag.store import Store
from ui.server import create_app

PORT_SALE = "01-harbour-minister-denies-port-sale"


def _table(store: Store, filters: Filters | None = None) -> list[dict]:
    """The ledger rows as ``whosaid claims`` exports them: grouped by speaker, under canonical names."""
    directory = SpeakerDirectory(store.catalogue.claims(store.space))
    return export.ledger_rows(store, [directory.display(c) for g in directory.groups(ledger(store, filters)) for c in g.claims])


def test_ledger_rows_carry_the_article_and_the_cited_sentences(sample_store: Store) -> None:
    rows = _table(sample_store)
    assert rows and all(tuple(r) == export.LEDGER_COLUMNS for r in rows)
    row = next(r for r in rows if r["article_id"] == PORT_SALE and r["stance"] == "deny")
    assert row["speaker"] == "Tomas Reyland" and row["source"] == "Northern Wire Service" and row["published"] == "2026-03-03"
    sentences = {s.index: s.text for s in sample_store.catalogue.sentences(sample_store.space, PORT_SALE)}
    assert row["sentences"] == [sentences[i] for i in row["sentence_indexes"]] and all(row["sentences"])


def test_csv_and_jsonl_read_back_equal_the_ledger(sample_store: Store) -> None:
    rows = _table(sample_store)
    assert export.read_csv(export.claims_csv(rows)) == rows
    assert export.read_jsonl(export.claims_jsonl(rows)) == rows


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)", "\tleading tab",
           "\rcarriage", "'quoted already", "'=both", "plain", "", "a = b", "line\nbreak, \"quotes\""]


def test_formula_cells_are_guarded_in_csv_and_the_reader_undoes_it_exactly() -> None:
    rows = [{c: (text if c not in ("negated", "sentence_indexes", "sentences") else None) for c in export.LEDGER_COLUMNS}
            for text in HOSTILE]
    for r, text in zip(rows, HOSTILE):
        r.update(negated=bool(len(text) % 2), sentence_indexes=[0, 2], sentences=[text, "=x"])
    out = export.claims_csv(rows)
    for cells in list(csv.reader(io.StringIO(out)))[1:]:
        for cell in cells:  # what a spreadsheet would open: no cell starts a formula
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert export.read_csv(out) == rows


def test_cli_exports_the_filtered_ledger(sample_store: Store) -> None:
    env = {**os.environ, "WHOSAID_HOME": str(sample_store.home)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ui.cli", *a], capture_output=True, text=True, env=env, timeout=300)  # noqa: E731
    filters = ["--source", "Northern Wire Service", "--since", "2026-03"]
    want = _table(sample_store, Filters(sources=["Northern Wire Service"], since="2026-03"))
    assert want
    r = run("claims", *filters, "--csv")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == ",".join(export.LEDGER_COLUMNS)
    assert export.read_csv(r.stdout) == want
    assert export.read_jsonl(run("claims", *filters, "--jsonl").stdout) == want
    reviews = json.loads(run("claims", *filters, "--jsonld").stdout)
    assert len(reviews) == len(want) and all(_is_claim_review(x) for x in reviews)
    r = run("claims", "--csv", "--jsonl")
    assert r.returncode == 2 and "choose one of --csv, --jsonl" in r.stderr
    # an answer: one row per citation, the answer's text on each
    answer = json.loads(run("ask", "Who denied selling the port?", "--json").stdout)
    rows = export.read_csv(run("ask", "Who denied selling the port?", "--csv").stdout)
    assert [(r["marker"], r["article_id"], r["sentence_index"], r["quote"]) for r in rows] == [
        (c["marker"], c["article_id"], c["sentence_index"], c["text"]) for c in answer["citations"]]
    assert {r["answer"] for r in rows} == {answer["answer"]} and rows[0]["source"] == "Northern Wire Service"
    assert export.read_jsonl(run("ask", "Who denied selling the port?", "--jsonl").stdout) == rows


def _is_claim_review(x: dict) -> bool:
    claim = x["itemReviewed"]
    article = claim["appearance"]
    return (x["@context"] == "https://schema.org" and x["@type"] == "ClaimReview" and x["claimReviewed"] == claim["text"]
            and claim["@type"] == "Claim" and claim["author"]["@type"] in ("Person", "Organization") and claim["author"]["name"]
            and article["@type"] == "NewsArticle" and article["headline"] and "reviewRating" not in x
            and all(q["@type"] == "Quotation" and q["text"] for q in article.get("hasPart", [])))


def test_claim_review_json_ld(sample_store: Store) -> None:
    row = next(r for r in _table(sample_store) if r["article_id"] == PORT_SALE and r["stance"] == "deny")
    review = json.loads(json.dumps(export.claim_review(row)))
    assert _is_claim_review(review)
    claim = review["itemReviewed"]
    assert claim["author"] == {"@type": "Person", "name": "Tomas Reyland", "description": "Valdoria's harbour minister"}
    assert claim["appearance"]["publisher"] == {"@type": "Organization", "name": "Northern Wire Service"}
    assert claim["appearance"]["datePublished"] == "2026-03-03" and claim["datePublished"] == "2026-03-03"
    assert [q["text"] for q in claim["appearance"]["hasPart"]] == row["sentences"]
    assert [q["position"] for q in claim["appearance"]["hasPart"]] == row["sentence_indexes"]
    ministry = dict(row, speaker="the health ministry", speaker_role="")
    assert export.claim_review(ministry)["itemReviewed"]["author"] == {"@type": "Organization", "name": "the health ministry"}


@pytest.fixture(scope="module")
def client(sample_store: Store) -> TestClient:
    return TestClient(create_app(Settings(home=sample_store.home), engine_factory=lambda s, name: Engine(sample_store), chat=False))


def test_api_formats(client: TestClient, sample_store: Store) -> None:
    r = client.get("/api/claims", params={"format": "csv", "speaker": "Reyland"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="whosaid-claims.csv"'
    assert export.read_csv(r.text) == _table(sample_store, Filters(speaker="Reyland"))
    r = client.get("/api/claims", params={"format": "jsonl", "speaker": "Reyland"})
    assert r.headers["content-type"].startswith("application/x-ndjson") and r.headers["content-disposition"].endswith('.jsonl"')
    assert export.read_jsonl(r.text) == _table(sample_store, Filters(speaker="Reyland"))
    r = client.get("/api/claims", params={"format": "jsonld", "article": PORT_SALE})
    assert r.headers["content-type"].startswith("application/ld+json")
    assert all(_is_claim_review(x) for x in r.json()) and {x["itemReviewed"]["appearance"]["identifier"] for x in r.json()} == {PORT_SALE}
    assert client.get("/api/claims", params={"format": "xlsx"}).status_code == 422
    body = {"question": "Who denied selling the port?", "filters": {"sources": ["Northern Wire Service"]}}
    answer = client.post("/api/ask", json=body).json()
    r = client.post("/api/ask", params={"format": "csv"}, json=body)
    assert r.headers["content-type"] == "text/csv; charset=utf-8" and 'filename="whosaid-answer.csv"' in r.headers["content-disposition"]
    rows = export.read_csv(r.text)
    assert [(x["marker"], x["quote"]) for x in rows] == [(c["marker"], c["text"]) for c in answer["citations"]]
    r = client.post("/api/ask", params={"format": "jsonl"}, json={**body, "filters": {"sources": ["Nobody"]}})
    assert export.read_jsonl(r.text) == [{"question": body["question"], "answer": "No articles match the filters (source: Nobody).",
                                          "abstained": True, **{c: None for c in export.ANSWER_COLUMNS[3:]}}]

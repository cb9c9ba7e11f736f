"""Run a suite: ingest its corpus into its own collection, ask every question, score it.

Rows are appended to ``OUT/rows.jsonl`` as each question finishes, so an interrupted run resumes
where it stopped (rows of a different configuration are ignored). Metrics are means over rows.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.metrics import (
    article_recall_at_k, citation_prf, claim_matches, exact_match, mean, misattributed, percentile, recall_at_k, token_f1,
)
from evals.suites import Suite
from rag.engine import Engine
from rag.types import Answer

K = 10

#: How statements are judged supported without an LLM (reported in every run's settings).
LEXICAL_SUPPORT = (
    "lexical: a statement counts as supported when at least 30% of its IDF-weighted terms (stemmed, "
    "stopwords removed) appear in the sentences it cites; an extractive answer quotes its cited sentences, "
    "so each of its statements is supported"
)


def collection_name(suite: Suite) -> str:
    digest = hashlib.sha256(json.dumps([suite.name, [str(p) for p in suite.corpus_paths], len(suite.corpus_records)]).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"eval-{suite.name}")[:30].strip("-") + f"-{digest}"


def ingest_corpus(suite: Suite, engine_store, progress: bool) -> dict:
    from ingest.pipeline import ingest

    paths = list(suite.corpus_paths)
    tmp = None
    if suite.corpus_records:
        tmp = Path(tempfile.mkdtemp(prefix="whosaid-eval-")) / f"{suite.name}.jsonl"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in suite.corpus_records))
        paths.append(tmp)
    report = ingest(paths, engine_store, progress=progress)
    if tmp:
        tmp.unlink()
    return report.to_json_dict()


def resolve_gold(suite: Suite, engine: Engine) -> None:
    """Turn gold sentences given by index or text into character spans of the stored articles."""
    cat, space = engine.store.catalogue, engine.store.space
    texts: dict[str, str] = {}
    for q in suite.questions:
        for g in q.gold:
            if g.span is not None or not g.article_id:
                continue
            if g.sentence_index is not None:
                sentences = cat.sentences(space, g.article_id)
                if 0 <= g.sentence_index < len(sentences):
                    s = sentences[g.sentence_index]
                    g.span, g.text = (s.start, s.end), s.text
            elif g.text:
                if g.article_id not in texts:
                    art = cat.article(space, g.article_id)
                    texts[g.article_id] = art.text if art else ""
                at = texts[g.article_id].find(g.text)
                if at >= 0:
                    g.span = (at, at + len(g.text))


def judge_support(engine: Engine, answer: Answer) -> list[bool]:
    """Per statement: the LLM's judgement when a model is configured, else the lexical check."""
    if engine.chat_model is None or not answer.statements:
        if answer.statements:
            return [s.supported for s in answer.statements]
        return [True] * len(answer.citations) if not answer.abstained else []
    quotes = {c.marker: c.quote for c in answer.citations}
    verdicts = []
    for s in answer.statements:
        cited = "\n".join(f"- {quotes[m]}" for m in s.citations if m in quotes)
        if not cited:
            verdicts.append(False)
            continue
        reply = engine.chat_model.invoke(
            "Do these quoted sentences fully support the statement? Answer yes or no.\n"
            f"Sentences:\n{cited}\nStatement: {s.text}"
        )
        verdicts.append(str(reply.content).strip().lower().startswith("yes"))
    return verdicts


def score_question(q, answer: Answer, retrieved: list, seconds: float, judged: list[bool]) -> dict[str, Any]:
    gold = [(g.article_id, g.span[0], g.span[1]) for g in q.gold if g.span]
    cited = [(c.article_id, c.start, c.end) for c in answer.citations]
    ret = [(c.sentence.article_id, c.sentence.start, c.sentence.end) for c in retrieved]
    p, r, f = citation_prf(cited, gold) if (gold or q.expect_abstain) else (None, None, None)
    markers = re.findall(r"\[(\d+)\]", answer.text)
    valid = {c.marker for c in answer.citations}
    row: dict[str, Any] = {
        "id": q.id,
        "question": q.question,
        "answer": answer.text,
        "mode": answer.mode,
        "abstained": answer.abstained,
        "expect_abstain": q.expect_abstain,
        "tags": q.tags,
        "citations": [{"marker": c.marker, "article_id": c.article_id, "sentence_index": c.sentence_index, "text": c.quote} for c in answer.citations],
        "gold": [{"article_id": g.article_id, "text": g.text} for g in q.gold],
        "contexts": [c.sentence.text for c in retrieved],
        "recall@10": recall_at_k(ret, gold, K),
        "article_recall@10": article_recall_at_k([a for a, _, _ in ret], [a for a, _, _ in gold], K),
        "citation_precision": p,
        "citation_recall": r,
        "citation_f1": f,
        "markers_valid": (sum(int(m) in valid for m in markers) / len(markers)) if markers else None,
        "support": (sum(judged) / len(judged)) if judged else None,
        "exact_match": exact_match(answer.text, q.answers) if q.answers and not answer.abstained else (0.0 if q.answers else None),
        "token_f1": token_f1(answer.text, q.answers) if q.answers and not answer.abstained else (0.0 if q.answers else None),
        "abstention_correct": float(answer.abstained == q.expect_abstain),
        "latency_ms": seconds * 1000,
    }
    row["claims"] = [{"speaker": c.speaker, "stance": c.stance, "negated": c.negated} for c in answer.claims]
    if q.gold_claims:
        row["claims_recall"] = sum(
            any(claim_matches(g, c.speaker, c.stance, c.negated) for c in answer.claims) for g in q.gold_claims
        ) / len(q.gold_claims)
    if q.ask is not None:
        row["misattributed"] = float(misattributed(q.ask, q.expect_abstain, answer.abstained, [(c.speaker, c.stance) for c in answer.claims]))
    return row


METRICS = ["recall@10", "article_recall@10", "citation_precision", "citation_recall", "citation_f1", "markers_valid",
           "support", "exact_match", "token_f1", "abstention_correct", "claims_recall", "misattributed"]


#: Question tags whose metrics are also reported on their own, as "TAG:METRIC" ("factual:citation_f1"),
#: so plain retrieval-and-quote answering and attribution answering each have a gate.
TAG_GROUPS = ("factual", "attribution", "adversarial")


def aggregate(rows: list[dict]) -> dict[str, float]:
    metrics = _means(rows)
    latencies = [r["latency_ms"] for r in rows]
    metrics.update({"latency_p50_ms": percentile(latencies, 50), "latency_p95_ms": percentile(latencies, 95), "questions": len(rows)})
    if any("input_tokens" in r for r in rows):  # answered by an LLM that reported usage
        metrics.update({k: float(sum(r.get(k, 0) for r in rows)) for k in ("input_tokens", "output_tokens", "cost_usd")})
    for tag in TAG_GROUPS:
        tagged = [r for r in rows if tag in (r.get("tags") or [])]
        if tagged and len(tagged) < len(rows):
            metrics.update({f"{tag}:{k}": v for k, v in _means(tagged).items()})
            metrics[f"{tag}:questions"] = len(tagged)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items() if v is not None}


def _means(rows: list[dict]) -> dict[str, float | None]:
    return {m: mean(r.get(m) for r in rows) for m in METRICS}


def run_suite(
    suite: Suite, engine: Engine, out: Path, progress: bool = True, settings: dict | None = None, prices: tuple[float, float] = (0.0, 0.0)
) -> dict:
    """Ask every question (resuming from ``out/rows.jsonl``), score, and return the results dict."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    # rows are reusable when everything that shapes an answer is the same (ingest counts are not)
    shaping = {k: v for k, v in (settings or {}).items() if k != "ingest"}
    fingerprint = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:12]
    cache = out / "rows.jsonl"
    done: dict[str, dict] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption
            if row.get("_run") == fingerprint:
                done[row["id"]] = row
    resolve_gold(suite, engine)
    todo = [q for q in suite.questions if q.id not in done]
    if cache.exists() and cache.stat().st_size and not cache.read_bytes().endswith(b"\n"):
        with cache.open("a") as f:
            f.write("\n")  # an interrupted write left half a line: start a fresh one
    with cache.open("a") as f, tqdm(total=len(suite.questions), initial=len(suite.questions) - len(todo), unit="question",
                                    desc="eval", disable=not progress, file=sys.stderr) as bar:
        for q in todo:
            t0 = time.perf_counter()
            answer = engine.ask(q.question)
            seconds = time.perf_counter() - t0
            retrieved = engine.search.candidates(q.question, K)
            row = score_question(q, answer, retrieved, seconds, judge_support(engine, answer))
            if answer.usage:
                row["input_tokens"] = answer.usage.get("input_tokens", 0)
                row["output_tokens"] = answer.usage.get("output_tokens", 0)
                row["cost_usd"] = (row["input_tokens"] * prices[0] + row["output_tokens"] * prices[1]) / 1e6
            row["_run"] = fingerprint
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            done[q.id] = row
            bar.update(1)
    rows = [done[q.id] for q in suite.questions if q.id in done]
    for r in rows:
        r.pop("_run", None)
    return {"metrics": aggregate(rows), "questions": rows, "settings": settings or {}}

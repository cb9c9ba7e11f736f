"""Naive RAG baseline on the multi-hop sentence-support dev set (HotpotQA + 2WikiMultihopQA).

The textbook pipeline, for comparison with whosaid's sentence-level retrieval:

* corpus: the contexts of all evaluated questions pooled together, one article per unique title,
  article text = its sentences joined with a single space (each sentence's character span kept);
* chunks: LangChain ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200,
  add_start_index=True)`` over each article;
* index: chunk vectors from the bundled MiniLM ONNX embedder in an in-memory Chroma collection
  (cosine space; vectors passed explicitly, Chroma's own embedding function never used);
* per question: top-4 chunks by similarity. "Cited" = every sentence whose span overlaps a
  retrieved chunk ``[start, start + len)``; "retrieved@10" = the first 10 of those sentences in
  retrieval order (chunk rank, then position in the article).

Metrics (``evals.metrics``, spans ``(title, start, end)``): gold-sentence recall@10, citation
precision / recall / F1 of all cited sentences against the gold supporting sentences, and warm
retrieval time per question (query embedding + vector search + chunk-to-sentence mapping).

With ``--limit N`` only the first N questions are evaluated and only their contexts form the
corpus (a smaller, easier haystack than the full run).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from bench._common import DATA, percentile, require, table  # noqa: E402

DEV = DATA / "multihop_sentence_support_dev.jsonl"
CHUNK_SIZE, CHUNK_OVERLAP, TOP_K, RECALL_K = 1000, 200, 4, 10
WARMUP = ["Who directed the film?", "When was the band formed?", "Which country is the city in?"]


@dataclass
class Doc:
    title: str
    text: str
    spans: list[tuple[int, int]]  # one per sentence, in order
    differing: int = 0  # later occurrences of the title whose sentences differ (first one kept)


@dataclass
class Result:
    source: str
    recall10: float | None
    precision: float
    recall: float
    f1: float
    cited: int
    ms: float
    gold_dropped: int = 0
    extra: dict = field(default_factory=dict)


def load_questions(path: Path, limit: int | None) -> list[dict]:
    rows: list[dict] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit and len(rows) >= limit:
                    break
    return rows


def build_corpus(rows: list[dict]) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for r in rows:
        for c in r["contexts"]:
            sents = list(c["sentences"])
            if c["title"] in docs:
                if [docs[c["title"]].text[s:e] for s, e in docs[c["title"]].spans] != sents:
                    docs[c["title"]].differing += 1
                continue
            spans, pos = [], 0
            for s in sents:
                spans.append((pos, pos + len(s)))
                pos += len(s) + 1
            docs[c["title"]] = Doc(c["title"], " ".join(sents), spans)
    return docs


def gold_spans(row: dict, docs: dict[str, Doc]) -> tuple[list[tuple[str, int, int]], int]:
    """Gold supporting sentences as spans in the pooled corpus; also how many could not be placed."""
    out, dropped = [], 0
    for title, idx in row["supporting"]:
        doc = docs.get(title)
        if doc is None or not 0 <= idx < len(doc.spans):
            dropped += 1
            continue
        out.append((title, *doc.spans[idx]))
    return list(dict.fromkeys(out)), dropped


def source_name(row: dict) -> str:
    s = row.get("source", "")
    return "hotpotqa" if "hotpot" in s else "2wiki" if "2wiki" in s else (s or "other")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N questions (corpus = their contexts)")
    ap.add_argument("--show", action="store_true", help="print every question's scores on stderr")
    args = ap.parse_args(argv)
    require(DEV)
    return _run(args)


def _run(args) -> int:
    import chromadb
    from chromadb.config import Settings as ChromaConfig
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from evals.metrics import citation_prf, mean, recall_at_k
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.store.chroma import _embedding_function

    rows = load_questions(DEV, args.limit)
    docs = build_corpus(rows)
    embedder = MiniLMOnnxEmbedder()

    # -- index build: split, embed, add --------------------------------------------------------
    t0 = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    chunks: list[tuple[str, int, int]] = []  # (title, start, end)
    texts: list[str] = []
    for doc in docs.values():
        for d in splitter.create_documents([doc.text]):
            start = int(d.metadata["start_index"])
            if start < 0:  # the splitter could not place the chunk (never expected): search for it
                start = doc.text.find(d.page_content)
            chunks.append((doc.title, start, start + len(d.page_content)))
            texts.append(d.page_content)
    t_split = time.perf_counter() - t0
    vectors = embedder.embed(texts)
    t_embed = time.perf_counter() - t0 - t_split
    client = chromadb.EphemeralClient(settings=ChromaConfig(anonymized_telemetry=False, allow_reset=False))
    collection = client.get_or_create_collection(
        name=f"naive-baseline-{time.time_ns()}",
        embedding_function=_embedding_function(embedder),
        configuration={"hnsw": {"space": "cosine"}},
    )
    batch = max(1, min(int(client.get_max_batch_size()), 2000))
    ids = [str(i) for i in range(len(chunks))]
    for b in range(0, len(ids), batch):
        collection.add(ids=ids[b : b + batch], embeddings=vectors[b : b + batch], documents=texts[b : b + batch])
    t_build = time.perf_counter() - t0

    def retrieve(question: str) -> list[tuple[str, int, int]]:
        """Sentences overlapping the top-k chunks, in retrieval order, each once."""
        q = embedder.embed_query(question)
        res = collection.query(query_embeddings=[q], n_results=min(TOP_K, len(ids)), include=[])
        out: dict[tuple[str, int, int], None] = {}
        for cid in res["ids"][0]:
            title, cs, ce = chunks[int(cid)]
            for s, e in docs[title].spans:
                if s < ce and e > cs:
                    out[(title, s, e)] = None
        return list(out)

    for w in WARMUP:
        retrieve(w)

    # -- evaluation ----------------------------------------------------------------------------
    results: list[Result] = []
    for r in rows:
        gold, dropped = gold_spans(r, docs)
        t = time.perf_counter()
        cited = retrieve(r["question"])
        ms = (time.perf_counter() - t) * 1000
        p, rc, f1 = citation_prf(cited, gold)
        res = Result(source_name(r), recall_at_k(cited, gold, RECALL_K), p, rc, f1, len(cited), ms, dropped)
        results.append(res)
        if args.show:
            print(f"{r['id']}\tR@10={res.recall10}\tP={p:.2f}\tR={rc:.2f}\tcited={len(cited)}\t{ms:.1f}ms\t{r['question']}", file=sys.stderr)

    # -- report --------------------------------------------------------------------------------
    groups = {"all": results}
    for name in sorted({x.source for x in results}):
        groups[name] = [x for x in results if x.source == name]

    def col(fn) -> list[object]:
        return [fn(g) for g in groups.values()]

    def m(attr: str):
        return lambda g: _num(mean(getattr(x, attr) for x in g))

    rows_out = [
        ["questions", *col(len)],
        ["gold-sentence recall@10", *col(m("recall10"))],
        ["citation precision", *col(m("precision"))],
        ["citation recall", *col(m("recall"))],
        ["citation F1", *col(m("f1"))],
        ["cited sentences / question", *col(m("cited"))],
        ["time mean (ms)", *col(m("ms"))],
        ["time p50 (ms)", *col(lambda g: percentile([x.ms for x in g], 50))],
        ["time p95 (ms)", *col(lambda g: percentile([x.ms for x in g], 95))],
    ]
    n_sent = sum(len(d.spans) for d in docs.values())
    print(f"Naive RAG baseline: RecursiveCharacterTextSplitter({CHUNK_SIZE}/{CHUNK_OVERLAP}) + MiniLM ONNX + Chroma (cosine), top-{TOP_K} chunks")
    print(f"data: {DEV.name}, {len(rows)} questions\n")
    print(table(["metric", *groups.keys()], rows_out))
    print()
    print(table(
        ["corpus / index", "value"],
        [
            ["articles (unique titles)", len(docs)],
            ["sentences", n_sent],
            ["characters", sum(len(d.text) for d in docs.values())],
            ["chunks", len(chunks)],
            ["index build (s)", round(t_build, 2)],
            ["  of which split (s)", round(t_split, 2)],
            ["  of which embed (s)", round(t_embed, 2)],
            ["  of which chroma add (s)", round(t_build - t_split - t_embed, 2)],
        ],
    ))
    differing = sum(d.differing for d in docs.values())
    dropped = sum(x.gold_dropped for x in results)
    if differing or dropped:
        print(f"\nnote: {differing} repeated title(s) with different sentences (first occurrence kept); "
              f"{dropped} gold sentence(s) could not be placed in the pooled corpus")
    return 0


def _num(v: float | None) -> object:
    return "n/a" if v is None else v


if __name__ == "__main__":
    raise SystemExit(main())

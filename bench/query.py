"""Warm query latency: one Engine, ~60 questions, p50/p95/max of ``engine.ask``.

Ingests the FA-KES corpus into a temporary home (or reuses ``--home DIR`` when it already holds
articles), builds one :class:`rag.engine.Engine`, warms it with 3 asks, then times every question.
Questions are derived deterministically: a seeded sample of article titles turned into
"What happened: <title>?" plus a fixed list of attribution questions.

Goal: p50 of total latency <= 150 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

from bench._common import CORPUS, make_home, peak_rss_mb, percentile, remove_home, require, table, write_subset  # noqa: E402

ATTRIBUTION = [
    "Who denied the attack?",
    "What did SANA report?",
    "Who confirmed the death toll?",
    "Who denied using chemical weapons?",
    "What did the Russian Defence Ministry say?",
    "Who claimed responsibility for the bombing?",
    "What did the Syrian Observatory for Human Rights report?",
    "Who accused the Syrian government of the chemical attack?",
    "What did the White House say about the missile strike?",
    "Who said civilians were killed in the air strikes?",
    "Who rejected the accusations?",
    "What did the Turkish foreign ministry say?",
]
WARMUP = ["Who denied the report?", "What did the UN say?", "How many people were killed in Aleppo?"]
KEYS = ["embed_query", "dense", "lexical", "sentences", "retrieve", "answer", "citations", "total"]


def questions(titles: list[str], n: int, seed: int) -> list[str]:
    """``n`` questions: the fixed attribution ones, then title questions from a seeded sample."""
    fixed = ATTRIBUTION[: min(n, len(ATTRIBUTION))]
    pool = sorted(t for t in titles if t.strip())
    sample = random.Random(seed).sample(pool, min(max(n - len(fixed), 0), len(pool)))
    return fixed + [f"What happened: {t.strip().rstrip(' .?!')}?" for t in sample]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="reuse this data directory if it holds articles (else ingest into it; never deleted)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=f"JSONL corpus to ingest (default: {CORPUS})")
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="ingest only the first N articles")
    ap.add_argument("-n", "--questions", type=int, default=60, help="questions to time (default 60)")
    ap.add_argument("--seed", type=int, default=13, help="seed of the title sample (default 13)")
    ap.add_argument("--show", action="store_true", help="print every question with its latency and answer on stderr")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args(argv)

    if args.home is None:
        require(args.corpus)
        home, owned = make_home("query"), True
    else:
        home, owned = args.home.resolve(), False
        import os

        os.environ["WHOSAID_HOME"] = str(home)
    try:
        return _run(args, home)
    finally:
        if owned:
            remove_home(home, args.keep)


def _run(args, home: Path) -> int:
    from ingest.pipeline import ingest
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(home=home)
    store = Store(settings, MiniLMOnnxEmbedder(settings.embedder))
    ingest_s = None
    if not store.catalogue.counts(store.space)["articles"]:
        require(args.corpus)
        corpus = write_subset(args.corpus, args.limit, home)
        print(f"ingesting {corpus} into {home} ...", file=sys.stderr)
        t = time.perf_counter()
        ingest([corpus], store, progress=False)
        ingest_s = time.perf_counter() - t
    counts = store.catalogue.counts(store.space)
    titles = [r.title for r in store.catalogue.list_articles(store.space)]
    qs = questions(titles, args.questions, args.seed)

    t = time.perf_counter()
    engine = Engine(store)
    first = engine.ask(WARMUP[0])  # loads the model, opens Chroma, loads or builds BM25
    first_ms = (time.perf_counter() - t) * 1000
    for q in WARMUP[1:]:
        engine.ask(q)

    totals: list[float] = []
    per_key: dict[str, list[float]] = {k: [] for k in KEYS}
    abstained = 0
    for q in qs:
        t = time.perf_counter()
        answer = engine.ask(q)
        totals.append((time.perf_counter() - t) * 1000)
        for k, v in answer.timings.items():
            per_key.setdefault(k, []).append(v)
        abstained += answer.abstained
        if args.show:
            print(f"{totals[-1]:7.1f} ms  {q}\n          -> {answer.text[:160]}", file=sys.stderr)
    store.close()

    p50 = percentile(totals, 50)
    print(f"## query: {counts['articles']} articles, {counts['chunks']} chunks, {len(qs)} questions\n")
    rows = [
        ("questions timed", len(qs)),
        ("answered / abstained", f"{len(qs) - abstained} / {abstained}"),
        ("p50 total (ms) (goal <= 150)", p50),
        ("p95 total (ms)", percentile(totals, 95)),
        ("max total (ms)", max(totals)),
        ("mean total (ms)", sum(totals) / len(totals)),
        ("first ask in process (ms)", first_ms),
        ("first ask: lexical step (ms)", first.timings.get("lexical", float("nan"))),
    ]
    if ingest_s is not None:
        rows.append(("ingest before timing (s)", ingest_s))
    rows.append(("peak RSS (MiB)", peak_rss_mb()))
    print(table(["metric", "value"], rows))
    print("\n### answer.timings (ms)\n")
    print(table(["step", "p50", "p95", "max"], [(k, percentile(v, 50), percentile(v, 95), max(v)) for k, v in per_key.items() if v]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

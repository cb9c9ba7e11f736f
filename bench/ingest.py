"""Ingest throughput: the whole pipeline against the bare embedder on the same chunks.

Ingests the FA-KES corpus (``../shared/data/news/fakes_syria_articles.jsonl``) into a temporary
home through :func:`ingest.pipeline.ingest`, then embeds the very same chunk texts with a fresh
:class:`MiniLMOnnxEmbedder` and compares sentences per second. Model load times (MiniLM, spaCy) are measured
separately and excluded from both. The pipeline's stages are timed by wrapping them (no cProfile
overhead); ``--profile`` additionally runs the pipeline under cProfile.

Goal: pipeline throughput >= 0.8 x raw embedder throughput.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

from bench._common import CORPUS, make_home, peak_rss_mb, remove_home, require, table, write_subset  # noqa: E402


CLAIMS_STAGE = "claims (own thread, beside embedding)"


def _cpu() -> float:
    """User + system CPU seconds of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(totals: dict[str, float], counts: dict[str, int], name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - t
            counts[name] += 1

    return wrapper


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="ingest only the first N articles (default: all 804)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=f"JSONL corpus to ingest (default: {CORPUS})")
    ap.add_argument("--no-stages", action="store_true", help="do not wrap pipeline stages with timers")
    ap.add_argument("--no-spans", action="store_true", help="skip the extra raw embed_with_spans pass")
    ap.add_argument("--batch-articles", type=int, default=None, metavar="N", help="pass batch_articles=N to ingest() (default: the pipeline's own, 64)")
    ap.add_argument("--raw-repeat", type=int, default=1, metavar="N", help="time the raw embed() pass N times and use the fastest (default 1)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="run the pipeline under cProfile and print the top N functions (slows it down)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args(argv)

    require(args.corpus)
    home = make_home("ingest")
    try:
        return _run(args, home)
    finally:
        remove_home(home, args.keep)


def _run(args, home: Path) -> int:
    import ingest.pipeline as pipeline
    from ingest.chunking import make_chunks
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.settings import Settings
    from rag.store import Store

    corpus = write_subset(args.corpus, args.limit, home)
    settings = Settings(home=home)

    # -- pipeline -------------------------------------------------------------------------------
    embedder = MiniLMOnnxEmbedder(settings.embedder)
    t = time.perf_counter()
    embedder.embed(["warm up the model"])
    load_s = time.perf_counter() - t

    store = Store(settings, embedder)
    t = time.perf_counter()
    _ = store.vectors  # open Chroma outside the timed run
    chroma_open_s = time.perf_counter() - t
    t = time.perf_counter()
    extractor = pipeline.make_extractor(store)
    list(extractor.nlp.pipe(["Officials said the talks would resume."]))  # spaCy loads outside the timed run too
    spacy_load_s = time.perf_counter() - t

    totals: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    restore = []
    if not args.no_stages:
        stages = [
            (pipeline, "collect", "load + parse (collect)"),
            (pipeline, "article_version", "version hash"),
            (pipeline, "prepare", "split + chunk (prepare)"),
            (pipeline, "_extract_each", CLAIMS_STAGE),
            (embedder, "embed_with_spans", "embed_with_spans"),
            (pipeline, "_sentence_vectors", "sentence vectors"),
            (store.vectors, "add", "chroma upsert"),
            (store.catalogue, "write_article", "sqlite write"),
            (store, "reconcile", "reconcile"),
        ]
        for obj, attr, name in stages:
            orig = getattr(obj, attr)
            restore.append((obj, attr, orig, attr in vars(obj)))
            setattr(obj, attr, _timed(totals, calls, name, orig))

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load_before = os.getloadavg()[0]
    t, c = time.perf_counter(), _cpu()
    extra = {"batch_articles": args.batch_articles} if args.batch_articles else {}
    report = pipeline.ingest([corpus], store, progress=False, extractor=extractor, **extra)
    pipe_s, pipe_cpu = time.perf_counter() - t, _cpu() - c
    pipe_rss = peak_rss_mb()
    if profiler:
        profiler.disable()
    for obj, attr, orig, own in restore:
        if own:
            setattr(obj, attr, orig)
        else:
            delattr(obj, attr)

    counts = store.catalogue.counts(store.space)
    n_articles, n_sentences, n_chunks = counts["articles"], counts["sentences"], counts["chunks"]

    # -- raw embedder on the same chunk texts ---------------------------------------------------
    chunks = store.catalogue.chunks(store.space)
    texts = [c.text for c in chunks]
    raw = MiniLMOnnxEmbedder(settings.embedder)
    t = time.perf_counter()
    raw.embed(["warm up the model"])
    raw_load_s = time.perf_counter() - t
    raw_runs = []
    for _ in range(max(1, args.raw_repeat)):
        t, c = time.perf_counter(), _cpu()
        raw.embed(texts)
        raw_runs.append((time.perf_counter() - t, _cpu() - c))
    raw_s, raw_cpu = min(raw_runs)

    spans_s = None
    if not args.no_spans:
        # Same chunks again, rebuilt from the catalogue with their sentence spans, in one call.
        items = []
        for row in store.catalogue.list_articles(store.space):
            article = store.catalogue.article(store.space, row.id)
            sentences = store.catalogue.sentences(store.space, row.id)
            items.extend(make_chunks(article.id, article.title, sentences, settings.chunking))
        known = {c.id for c in chunks}
        if {c.id for c, _ in items} != known:
            print("warning: rebuilt chunks differ from the catalogue's", file=sys.stderr)
        t = time.perf_counter()
        raw.embed_with_spans([c.text for c, _ in items], [s for _, s in items])
        spans_s = time.perf_counter() - t
    store.close()

    pipe_rate = n_sentences / pipe_s if pipe_s else float("nan")
    raw_rate = n_sentences / raw_s if raw_s else float("nan")
    rows = [
        ("articles", n_articles),
        ("sentences", n_sentences),
        ("chunks", n_chunks),
        ("failed inputs", len(report.failed)),
        ("model load + first call (s)", load_s),
        ("chroma open (s)", chroma_open_s),
        ("spaCy load + first parse (s)", spacy_load_s),
        ("pipeline wall time (s)" + (" [under cProfile]" if profiler else ""), pipe_s),
        ("pipeline sentences/s", pipe_rate),
        ("raw embed() time (s)", raw_s),
        ("raw sentences/s", raw_rate),
        ("ratio pipeline/raw (goal >= 0.8)", pipe_rate / raw_rate),
        ("pipeline CPU s (user+sys, all threads)", pipe_cpu),
        ("raw embed() CPU s", raw_cpu),
        ("ratio by CPU time raw/pipeline", raw_cpu / pipe_cpu if pipe_cpu else float("nan")),
    ]
    if spans_s is not None:
        rows.append(("raw embed_with_spans() one call (s)", spans_s))
    if len(raw_runs) > 1:
        rows.append(("raw embed() runs (s)", ", ".join(f"{r[0]:.1f}" for r in raw_runs)))
    rows += [
        ("second model load (s)", raw_load_s),
        ("peak RSS after pipeline (MiB)", pipe_rss),
        ("peak RSS at end (MiB)", peak_rss_mb()),
        ("load average (1 min) before / after", f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"),
    ]

    print(f"## ingest: {corpus.name}" + (f" (batch_articles={args.batch_articles})" if args.batch_articles else "") + "\n")
    print(table(["metric", "value"], rows))
    if totals:
        print("\n### pipeline stages (wall time inside ingest())\n")
        stage_rows = [(name, calls[name], secs, 100 * secs / pipe_s) for name, secs in sorted(totals.items(), key=lambda kv: -kv[1])]
        # the wrapped stages never nest; claim extraction runs in its own thread beside the embedding
        inside = sum(v for k, v in totals.items() if k != CLAIMS_STAGE)
        stage_rows.append(("other (loop, tqdm, catalogue lookups)", "", pipe_s - inside, 100 * (pipe_s - inside) / pipe_s))
        print(table(["stage", "calls", "seconds", "% of pipeline"], stage_rows))
    if profiler:
        import io
        import pstats

        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.profile)
        print("\n### cProfile (top by tottime)\n\n```")
        print(buf.getvalue().strip())
        print("```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

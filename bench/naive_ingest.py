"""Ingest throughput against the naive pipeline whosaid should beat, on the same articles and embedder.

* naive: read the FA-KES articles (``../shared/data/news/fakes_syria_articles.jsonl``), split each
  with LangChain ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, embed every
  chunk with the bundled :class:`rag.embeddings.MiniLMOnnxEmbedder` (same settings), add the vectors
  to a Chroma ``PersistentClient`` collection (cosine) in a temporary directory;
* whosaid: :func:`ingest.pipeline.ingest` of the same file into a temporary home (split into
  sentences, chunk, embed chunks and sentence spans, extract claims, write catalogue, Chroma, BM25).

Both use one already-warm embedder; model loads (MiniLM, spaCy) and opening Chroma are outside the
timed part. Rounds alternate which pipeline runs first (the machine is shared, so the median ratio
is the figure to quote). Sentences/s counts whosaid's sentences of the same articles for both, so
the ratio of sentences/s equals the ratio of articles/s.

Goal: whosaid / naive >= 1.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Sequence  # noqa: E402

from bench._common import CORPUS, make_home, median, remove_home, require, table, write_subset  # noqa: E402

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200


@dataclass
class Run:
    """One timed pass of one pipeline."""

    wall: float
    cpu: float
    articles: int
    chunks: int
    chars: int  # characters handed to the embedder (chunk texts)


def _cpu() -> float:
    """User + system CPU seconds of this process, all threads (and reaped children)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _articles(corpus: Path) -> list[Any]:
    """The articles as whosaid's loader reads them, so both pipelines see identical texts."""
    from ingest.loaders import LoadError, load_file

    return [r.article for r in load_file(corpus) if not isinstance(r, LoadError)]


def run_naive(corpus: Path, embedder: Any, workdir: Path) -> Run:
    """The textbook pipeline: character splitter, one embed call, Chroma add in its max batches."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    client = chromadb.PersistentClient(path=str(workdir), settings=ChromaConfig(anonymized_telemetry=False))
    collection = client.get_or_create_collection(
        name="naive", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    batch = max(1, int(client.get_max_batch_size()))
    t, c = time.perf_counter(), _cpu()
    articles = _articles(corpus)
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    docs = splitter.create_documents([a.text for a in articles], metadatas=[{"article_id": a.id} for a in articles])
    texts = [d.page_content for d in docs]
    vectors = embedder.embed(texts)
    ids = [f"{d.metadata['article_id']}:{i}" for i, d in enumerate(docs)]
    metas = [dict(d.metadata) for d in docs]
    for b in range(0, len(ids), batch):
        collection.add(ids=ids[b : b + batch], embeddings=vectors[b : b + batch], documents=texts[b : b + batch], metadatas=metas[b : b + batch])
    wall, cpu = time.perf_counter() - t, _cpu() - c
    return Run(wall, cpu, len(articles), len(texts), sum(map(len, texts)))


def run_whosaid(corpus: Path, embedder: Any, extractor: Any, home: Path) -> tuple[Run, int]:
    """whosaid's own ingest into a fresh home; returns the run and the sentence count."""
    import ingest.pipeline as pipeline
    from rag.settings import Settings
    from rag.store import Store

    store = Store(Settings(home=home), embedder)
    _ = store.vectors  # open Chroma outside the timed run, as for the naive client
    t, c = time.perf_counter(), _cpu()
    report = pipeline.ingest([corpus], store, progress=False, extractor=extractor)
    wall, cpu = time.perf_counter() - t, _cpu() - c
    counts = store.catalogue.counts(store.space)
    chunks = store.catalogue.chunks(store.space)
    store.close()
    if report.failed:
        print(f"warning: whosaid failed {len(report.failed)} input(s), first: {report.failed[0].error}", file=sys.stderr)
    return Run(wall, cpu, counts["articles"], counts["chunks"], sum(len(ch.text) for ch in chunks)), counts["sentences"]


class _NoClaims:
    """Stand-in extractor for ``--no-claims``: whosaid's ingest with claim extraction switched off."""

    def __init__(self, real: Any) -> None:
        self.version = real.version

    def extract(self, article_id: str, sentences: Sequence[Any], text: str | None = None) -> list:
        return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N articles (default: all 804)")
    ap.add_argument("--rounds", type=int, default=3, metavar="N", help="timed rounds, alternating order (default 3)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=f"JSONL corpus (default: {CORPUS})")
    ap.add_argument("--no-claims", action="store_true", help="whosaid without claim extraction (its embedding-bound ceiling)")
    ap.add_argument("--ceiling", action="store_true", help="also time the embedder alone on each pipeline's chunk texts (whosaid's ceiling)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)

    require(args.corpus)
    home = make_home("naive-ingest")
    try:
        return _run(args, home)
    finally:
        remove_home(home, args.keep)


def _run(args: argparse.Namespace, home: Path) -> int:
    from ingest.pipeline import make_extractor
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.settings import Settings
    from rag.store import Store

    corpus = write_subset(args.corpus, args.limit, home)
    settings = Settings(home=home / "probe")
    embedder = MiniLMOnnxEmbedder(settings.embedder)
    embedder.embed(["warm up the model"])  # model load excluded from both
    extractor = make_extractor(Store(settings, embedder))
    list(extractor.nlp.pipe(["Officials said the talks would resume."]))  # spaCy load excluded too
    if args.no_claims:
        extractor = _NoClaims(extractor)

    rows: list[list[object]] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    sentences = 0
    last: dict[str, Run] = {}
    for r in range(max(1, args.rounds)):
        order = ["naive", "whosaid"] if r % 2 == 0 else ["whosaid", "naive"]
        runs: dict[str, Run] = {}
        load = os.getloadavg()[0]
        for name in order:
            work = Path(tempfile.mkdtemp(prefix=f"{name}-r{r}-", dir=home))
            if name == "naive":
                runs[name] = run_naive(corpus, embedder, work)
            else:
                runs[name], sentences = run_whosaid(corpus, embedder, extractor, work)
            shutil.rmtree(work, ignore_errors=True)
        n, w = runs["naive"], runs["whosaid"]
        ratio, cpu_ratio = n.wall / w.wall, n.cpu / w.cpu
        ratios.append(ratio)
        cpu_ratios.append(cpu_ratio)
        rows.append([r + 1, " then ".join(order), sentences / n.wall, n.articles / n.wall, sentences / w.wall,
                     w.articles / w.wall, n.wall, w.wall, n.cpu, w.cpu, ratio, cpu_ratio, f"{load:.2f}"])
        print(f"round {r + 1}: naive {n.wall:.1f}s, whosaid {w.wall:.1f}s, ratio {ratio:.2f}", file=sys.stderr)
        last = runs

    title = f"## whosaid vs naive ingest: {corpus.name}" + (" (whosaid without claims)" if args.no_claims else "")
    print(title + "\n")
    headers = ["round", "order", "naive sent/s", "naive art/s", "whosaid sent/s", "whosaid art/s",
               "naive s", "whosaid s", "naive CPU s", "whosaid CPU s", "ratio whosaid/naive", "ratio by CPU s", "load avg"]
    rows.append(["median", "", *[median([float(x[i]) for x in rows]) for i in range(2, 12)], ""])
    print(table(headers, rows))
    n, w = last["naive"], last["whosaid"]
    print()
    print(table(["what is embedded", "naive", "whosaid"], [
        ["articles", n.articles, w.articles],
        ["sentences", sentences, sentences],
        ["chunks", n.chunks, w.chunks],
        ["characters embedded", n.chars, w.chars],
        ["characters embedded / article character", n.chars / max(1, _total_chars(corpus)), w.chars / max(1, _total_chars(corpus))],
    ]))
    print(f"\nmedian ratio whosaid/naive: {median(ratios):.2f} (goal >= 1.5); by CPU seconds: {median(cpu_ratios):.2f}")
    if args.ceiling:
        _ceiling(corpus, embedder, settings, max(1, args.rounds))
    return 0


def _ceiling(corpus: Path, embedder: Any, settings: Any, rounds: int) -> None:
    """The embedder alone on the naive chunks and on whosaid's chunks (with their sentence spans):
    no pipeline beats this ratio at equal embedder, whatever it does around the embedding."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.loaders import LoadError, load_file
    from ingest.pipeline import prepare

    loaded = [r for r in load_file(corpus) if not isinstance(r, LoadError)]
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    naive = [d.page_content for d in splitter.create_documents([r.article.text for r in loaded])]
    items = [c for r in loaded for c in prepare(r, "", settings.chunking).chunks]
    texts, spans = [c.text for c, _ in items], [s for _, s in items]
    tokens = {name: sum(sum(e.attention_mask) for e in embedder._tokenizer.encode_batch(t)) for name, t in (("naive", naive), ("whosaid", texts))}
    rows, ratios = [], []
    for r in range(rounds):
        took: dict[str, tuple[float, float]] = {}
        for name in (["naive", "whosaid"] if r % 2 == 0 else ["whosaid", "naive"]):
            t, c = time.perf_counter(), _cpu()
            embedder.embed(naive) if name == "naive" else embedder.embed_with_spans(texts, spans)
            took[name] = (time.perf_counter() - t, _cpu() - c)
        ratios.append(took["naive"][0] / took["whosaid"][0])
        rows.append([r + 1, took["naive"][0], took["whosaid"][0], ratios[-1], took["naive"][1] / took["whosaid"][1]])
    rows.append(["median", *[median([float(x[i]) for x in rows]) for i in range(1, 5)]])
    print("\n### ceiling: the embedder alone on each pipeline's chunks\n")
    print(f"tokens embedded: naive {tokens['naive']:,}, whosaid {tokens['whosaid']:,} ({tokens['whosaid'] / tokens['naive']:.2f}x)\n")
    print(table(["round", "naive embed() s", "whosaid embed_with_spans() s", "ratio (ceiling)", "ratio by CPU s"], rows))


def _total_chars(corpus: Path) -> int:
    return sum(len(a.text) for a in _articles(corpus))


if __name__ == "__main__":
    raise SystemExit(main())

"""What the cross-article links step (rag/attribution/links.py) costs at ingest.

Ingests each corpus into fresh temporary homes with ``links.enabled`` off and on, interleaved
(off, on, off, on, ...) so both see the same machine load, and reports articles per second, the
time spent in the links step itself (wrapped, not profiled), and the links found. Models are loaded
once before the first run, so their load time is in neither figure.

Corpora: ``samples/articles``, ``samples/desk`` (if present) and the first ``--limit`` FA-KES
articles from ``../shared/data`` (skipped when absent).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench._common import CORPUS, ROOT, make_home, remove_home, table, write_subset  # noqa: E402


def run(paths: list[Path], links: bool, embedder, extractor) -> dict:
    import ingest.pipeline as pipeline
    import rag.attribution.links as links_module
    from rag.settings import Settings
    from rag.store import Store

    home = make_home("links")
    spent = [0.0]
    original = links_module.link_articles

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    links_module.link_articles = timed
    try:
        settings = Settings(home=home)
        settings.links.enabled = links
        store = Store(settings, embedder)
        t = time.perf_counter()
        report = pipeline.ingest(paths, store, progress=False, extractor=extractor)
        seconds = time.perf_counter() - t
        found = len(store.catalogue.links(store.space)) if links else 0
        store.close()
    finally:
        links_module.link_articles = original
        remove_home(home, keep=False)
    articles = report.added + report.updated
    return {"articles": articles, "seconds": seconds, "links_seconds": spent[0], "links": found}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=200, metavar="N", help="FA-KES articles ingested (default 200; 0 skips FA-KES)")
    ap.add_argument("--rounds", type=int, default=3, help="off/on pairs per corpus (default 3); the median is reported")
    args = ap.parse_args(argv)

    from ingest.pipeline import make_extractor
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.settings import Settings
    from rag.store import Store

    embedder = MiniLMOnnxEmbedder()
    embedder.embed(["warm up"])
    warm = Store(Settings(home=Path(tempfile.mkdtemp(prefix="whosaid-bench-warm-"))), embedder)
    extractor = make_extractor(warm)
    warm.close()

    corpora: list[tuple[str, list[Path]]] = [("samples/articles", [ROOT / "samples" / "articles"])]
    if (ROOT / "samples" / "desk").is_dir():
        corpora.append(("samples/desk", [ROOT / "samples" / "desk"]))
    tmp = Path(tempfile.mkdtemp(prefix="whosaid-bench-links-"))
    if args.limit and CORPUS.exists():
        corpora.append((f"FA-KES first {args.limit}", [write_subset(CORPUS, args.limit, tmp)]))
    elif args.limit:
        print(f"skipped FA-KES: {CORPUS} not found", file=sys.stderr)

    rows = []
    for name, paths in corpora:
        off, on = [], []
        for _ in range(args.rounds):
            off.append(run(paths, False, embedder, extractor))
            on.append(run(paths, True, embedder, extractor))
        n = off[0]["articles"]
        rate_off = statistics.median(n / r["seconds"] for r in off)
        rate_on = statistics.median(n / r["seconds"] for r in on)
        step = statistics.median(r["links_seconds"] for r in on)
        rows.append([name, n, f"{rate_off:.1f}", f"{rate_on:.1f}", f"{rate_on / rate_off:.2f}", f"{1000 * step / n:.1f}", on[0]["links"]])
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"median of {args.rounds} interleaved off/on rounds\n")
    print(table(["corpus", "articles", "articles/s, links off", "articles/s, links on", "on / off", "links step ms/article", "links"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

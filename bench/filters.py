"""Filtered against unfiltered ask latency: one Engine over the sample articles and FA-KES, the same
questions asked with no filter and under filters of every kind, interleaved (each question asked
under every configuration before the next question, the order rotating), p50/p95 of ``engine.ask``.

FA-KES keeps its outlet in ``publisher`` (which the loader prefers to its dataset-name ``source``),
so a source filter has outlets to choose from.
Skips cleanly (exit 0) without the development data.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from bench._common import CORPUS, make_home, percentile, remove_home, require, table  # noqa: E402
from bench.query import ATTRIBUTION, WARMUP, questions  # noqa: E402

SAMPLES = _ROOT / "samples" / "articles"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="reuse this data directory if it holds articles")
    ap.add_argument("-n", "--questions", type=int, default=30, help="questions per configuration (default 30)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args(argv)
    require(CORPUS)
    home, owned = (make_home("filters"), True) if args.home is None else (args.home.resolve(), False)
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
    from rag.filters import Filters
    from rag.retrieve import HybridSearch
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(home=home)
    store = Store(settings, MiniLMOnnxEmbedder(settings.embedder))
    if not store.catalogue.counts(store.space)["articles"]:
        print(f"ingesting the samples and FA-KES into {home} ...", file=sys.stderr)
        ingest([SAMPLES, CORPUS], store, progress=False)
    counts = store.catalogue.counts(store.space)
    engine = Engine(store)
    meta = engine.filters.articles()
    sana = sorted(a for a, m in meta.items() if m.source == "sana")
    configs: list[tuple[str, Filters | None]] = [
        ("none", None),
        ("source sana", Filters(sources=["sana"])),
        ("since 2017", Filters(since="2017")),
        ("2015 to 2016", Filters(since="2015", until="2016")),
        ("3 articles", Filters(articles=sana[:3])),
        ("speaker SANA", Filters(speaker="SANA")),
        ("nothing matches", Filters(sources=["Nobody"])),
    ]
    titles = [m.title for m in meta.values()]
    qs = questions(titles, args.questions, 13)
    for q in WARMUP:
        for _, f in configs:
            engine.ask(q, filters=f)
    times: dict[str, list[float]] = {name: [] for name, _ in configs}
    abstained: dict[str, int] = {name: 0 for name, _ in configs}
    for n, q in enumerate(qs):
        order = configs[n % len(configs):] + configs[: n % len(configs)]  # rotating: no configuration always goes first
        for name, f in order:
            t = time.perf_counter()
            answer = engine.ask(q, filters=f)
            times[name].append((time.perf_counter() - t) * 1000)
            abstained[name] += answer.abstained
    rows = []
    for name, f in configs:
        scope = engine.filters.resolve(f) if f is not None else None
        matched = counts["articles"] if scope is None else len(scope.articles or ())
        path = ("all articles" if scope is None else "none (abstains)" if scope.empty
                else "scored whole" if matched <= HybridSearch.WHOLE_ARTICLES else "restricted search")
        rows.append([name, matched, path, f"{percentile(times[name], 50):.1f}", f"{percentile(times[name], 95):.1f}",
                     f"{abstained[name]}/{len(qs)}"])
    store.close()
    load = os.getloadavg()
    print(f"## filters: {counts['articles']} articles, {counts['chunks']} chunks, {len(qs)} questions "
          f"({len(ATTRIBUTION)} attribution) per configuration, interleaved; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(table(["filter", "articles matched", "retrieval path", "p50 ms", "p95 ms", "abstained"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

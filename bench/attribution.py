"""Claim extraction against PolNeAR's human attribution annotations.

Ingests the dev split (84 articles) through the real pipeline into a temporary home, reads the
claims the ingest stored, and scores cue, source and content spans against the gold spans of the
first annotator. A predicted span matches a gold span when they overlap and share at least half of
the shorter span's characters; matching is one-to-one (greedy by overlap). The same scores are also
given restricted to deny-type cues (gold: deny/denial/reject/dismiss/refute/rebut; predicted:
stance ``deny``).

Goals on dev: cue F1 >= 0.85, source F1 >= 0.75, content F1 >= 0.65. The script also prints how
well the human annotators agree with each other under the same rule (the 18 articles that several
people annotated), which bounds what any extractor can score against one annotator.
``--direct`` skips embedding and storage (split + extract only) for quick iterations.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from bench._common import DATA, make_home, remove_home, require, table  # noqa: E402

POLNEAR = DATA / "attribution" / "polnear_train_dev.jsonl"
DENY_GOLD = re.compile(r"\b(den(?:y|ied|ies|ying|ial)|reject|dismiss|refut|rebut)", re.I)

Span = tuple[int, int]


def _chars(pieces: list[Span]) -> set[int]:
    return {i for s, e in pieces for i in range(s, e)}


def match(pred: list[list[Span]], gold: list[list[Span]]) -> tuple[int, int, int]:
    """(true positives, predicted, gold) under the half-of-the-shorter-span overlap rule."""
    pc = [_chars(p) for p in pred]
    gc = [_chars(g) for g in gold]
    pairs = []
    for i, p in enumerate(pc):
        for j, g in enumerate(gc):
            if not p or not g:
                continue
            shared = len(p & g)
            if shared and shared >= 0.5 * min(len(p), len(g)):
                pairs.append((shared, i, j))
    used_p, used_g, tp = set(), set(), 0
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            tp += 1
    return tp, len([p for p in pc if p]), len([g for g in gc if g])


def prf(tp: int, npred: int, ngold: int) -> tuple[float, float, float]:
    p = tp / npred if npred else 0.0
    r = tp / ngold if ngold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def gold_of(article: dict) -> list[dict]:
    return article["annotations"][0]["attributions"] if article["annotations"] else []


def extract_direct(articles: list[dict]) -> dict[str, list]:
    from ingest.claims import ClaimExtractor
    from ingest.sentences import split_sentences
    from rag.types import Sentence

    ex = ClaimExtractor()
    out = {}
    for a in articles:
        text = a["text"]
        sents = [Sentence(article_id=a["id"], index=i, text=text[s:e], start=s, end=e) for i, (s, e) in enumerate(split_sentences(text))]
        out[a["id"]] = ex.extract(a["id"], sents, text)
    return out


def extract_by_ingest(articles: list[dict], home: Path) -> tuple[dict[str, list], float]:
    """Ingest through the real pipeline, then read the stored claims back from the catalogue."""
    from ingest.pipeline import ingest
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.settings import Settings
    from rag.store import Store

    corpus = Path(tempfile.mkdtemp(dir=home)) / "polnear-dev.jsonl"
    corpus.write_text("".join(json.dumps({"id": a["id"], "title": a["title"], "text": a["text"]}) + "\n" for a in articles))
    store = Store(Settings(home=home), MiniLMOnnxEmbedder())
    t0 = time.perf_counter()
    report = ingest([corpus], store, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - t0
    if report.failed:
        print(f"warning: {len(report.failed)} articles failed to ingest: {report.failed[:3]}", file=sys.stderr)
    out = {}
    for a in articles:
        stored = store.catalogue.article(store.space, a["id"])
        # the loader strips leading/trailing blank lines; shift offsets back to the original text
        shift = a["text"].find(stored.text) if stored else 0
        claims = store.catalogue.claims(store.space, article_id=a["id"])
        for c in claims:
            for name in ("cue_span", "speaker_span", "content_span"):
                span = getattr(c, name)
                if span is not None:
                    setattr(c, name, (span[0] + shift, span[1] + shift))
        out[a["id"]] = claims
    store.close()
    return out, seconds


def score(articles: list[dict], predicted: dict[str, list]) -> tuple[list[tuple], Counter]:
    totals: Counter = Counter()
    for a in articles:
        gold = gold_of(a)
        claims = predicted.get(a["id"], [])
        fields = {"cue": ("cue", "cue_span"), "source": ("source", "speaker_span"), "content": ("content", "content_span")}
        deny_gold = [g for g in gold if DENY_GOLD.search(" ".join(a["text"][s["start"] : s["end"]] for s in g["cue"]))]
        deny_pred = [c for c in claims if c.stance == "deny"]
        for subset, gset, pset in (("all", gold, claims), ("deny", deny_gold, deny_pred)):
            for name, (gkey, pkey) in fields.items():
                g = [[(s["start"], s["end"]) for s in x[gkey]] for x in gset if x[gkey]]
                p = [[getattr(c, pkey)] for c in pset if getattr(c, pkey)]
                tp, npred, ngold = match(p, g)
                totals[(subset, name, "tp")] += tp
                totals[(subset, name, "pred")] += npred
                totals[(subset, name, "gold")] += ngold
    rows = []
    for subset in ("all", "deny"):
        for name, goal in (("cue", 0.85), ("source", 0.75), ("content", 0.65)):
            p, r, f = prf(totals[(subset, name, "tp")], totals[(subset, name, "pred")], totals[(subset, name, "gold")])
            rows.append((subset, name, totals[(subset, name, "gold")], totals[(subset, name, "pred")], f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", goal if subset == "all" else ""))
    return rows, totals


def human_agreement(articles: list[dict]) -> list[tuple]:
    """Annotator against annotator, every ordered pair, on the articles several people annotated:
    the ceiling any extractor can be expected to reach under this matching rule."""
    from itertools import permutations

    totals: Counter = Counter()
    multi = [a for a in articles if len(a["annotations"]) > 1]
    for a in multi:
        for one, other in permutations(a["annotations"], 2):
            for name in ("cue", "source", "content"):
                g = [[(s["start"], s["end"]) for s in x[name]] for x in one["attributions"] if x[name]]
                p = [[(s["start"], s["end"]) for s in x[name]] for x in other["attributions"] if x[name]]
                tp, npred, ngold = match(p, g)
                totals[(name, "tp")] += tp
                totals[(name, "pred")] += npred
                totals[(name, "gold")] += ngold
    rows = []
    for name in ("cue", "source", "content"):
        p, r, f = prf(totals[(name, "tp")], totals[(name, "pred")], totals[(name, "gold")])
        rows.append((name, len(multi), f"{p:.3f}", f"{r:.3f}", f"{f:.3f}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev", choices=["dev", "train"], help="PolNeAR split to score (default: dev)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N articles of the split")
    ap.add_argument("--direct", action="store_true", help="split + extract only (no embedding, no storage)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args()
    require(POLNEAR)
    articles = [a for a in map(json.loads, POLNEAR.open()) if a["split"] == args.split][: args.limit]

    home = None
    t0 = time.perf_counter()
    if args.direct:
        predicted, ingest_s = extract_direct(articles), None
    else:
        home = make_home("attribution")
        predicted, ingest_s = extract_by_ingest(articles, home)
    elapsed = time.perf_counter() - t0
    rows, _ = score(articles, predicted)
    n_claims = sum(len(v) for v in predicted.values())
    n_sent = sum(len(a["text"]) for a in articles)
    print(f"## attribution: PolNeAR {args.split}, {len(articles)} articles, {n_claims} claims predicted"
          f" ({'direct extraction' if args.direct else 'through ingest'}, {elapsed:.1f} s; {n_sent / 1000:.0f}k characters)\n")
    print(table(["subset", "field", "gold", "predicted", "precision", "recall", "F1", "goal F1"], rows))
    everyone = list(map(json.loads, POLNEAR.open()))
    print("\nhuman agreement (annotator vs annotator, all ordered pairs, train + dev articles with several annotators):\n")
    print(table(["field", "articles", "precision", "recall", "F1"], human_agreement(everyone)))
    if ingest_s is not None:
        print(f"\ningest of the split (embedding + extraction + storage): {ingest_s:.1f} s")
    if home is not None:
        remove_home(home, args.keep)


if __name__ == "__main__":
    main()

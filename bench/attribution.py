"""Claim extraction against PolNeAR's human attribution annotations.

Ingests the dev split (84 articles) through the real pipeline into a temporary home, reads the
claims the ingest stored, and scores cue, source and content spans against the gold spans of the
first annotator under three matching rules (all one-to-one, greedy):

- overlap: a predicted span matches a gold span when they overlap and share at least half of the
  shorter span's characters (greedy by overlap);
- exact: the two spans' character sets are identical once leading/trailing whitespace and
  punctuation (.,;:"'“”‘’()-—) are trimmed from both (a gold span of several pieces is the union of
  their characters), to compare with published exact-match figures such as CofeNet's (COLING
  2022: cue 75.3, source 83.2, content 72.9 F1);
- jaccard (soft): each predicted span earns the token Jaccard with the gold span it is paired with
  (greedy by Jaccard; tokens are the lower-cased ``\\w+`` words of the span's text, each taken at
  its place in the article, so a "said" is not credited with another sentence's "said");
  precision is the sum over predicted spans divided by their number, recall the same sum divided
  by the number of gold spans.

Goals on dev, overlap rule: cue F1 >= 0.80, source F1 >= 0.80, content F1 >= 0.82, and recall of
deny-type cues >= 0.90 (gold: cues matching deny/denial/reject/dismiss/refute/rebut; predicted:
claims of stance ``deny``; cue, source and content recall are all shown). The script also prints
how well the human annotators agree with each other under each rule (the 18 articles that several
people annotated), which bounds what any extractor can score against one annotator.
``--direct`` skips embedding and storage (split + extract only) for quick iterations; ``--json
PATH`` also writes the figures as JSON for a CI gate.
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

FIELDS = {"cue": ("cue", "cue_span"), "source": ("source", "speaker_span"), "content": ("content", "content_span")}
GOALS = {"cue": 0.80, "source": 0.80, "content": 0.82}  # F1 under the overlap rule
DENY_GOAL = 0.90  # recall of deny-type cues under the overlap rule
PUBLISHED = "CofeNet (COLING 2022), exact match F1 on PolNeAR: cue 0.753, source 0.832, content 0.729"
TRIM = frozenset(".,;:\"'“”‘’()-—")  # trimmed from both ends of a span, with whitespace, for the exact rule
WORD = re.compile(r"\w+")


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


def _trimmed(pieces: list[Span], text: str) -> frozenset[int]:
    """The characters of a span (union of its pieces) without leading/trailing whitespace and punctuation."""
    chars = sorted(_chars(pieces))
    lo, hi = 0, len(chars)
    while lo < hi and (text[chars[lo]].isspace() or text[chars[lo]] in TRIM):
        lo += 1
    while hi > lo and (text[chars[hi - 1]].isspace() or text[chars[hi - 1]] in TRIM):
        hi -= 1
    return frozenset(chars[lo:hi])


def match_exact(pred: list[list[Span]], gold: list[list[Span]], text: str) -> tuple[int, int, int]:
    """(true positives, predicted, gold): identical character sets once both ends are trimmed of
    whitespace and punctuation. Counts are those of :func:`match` (every non-empty span); a span
    that is nothing but whitespace and punctuation matches nothing."""
    pred = [p for p in pred if _chars(p)]
    gold = [g for g in gold if _chars(g)]
    unused = Counter(k for k in (_trimmed(g, text) for g in gold) if k)
    tp = 0
    for p in pred:
        k = _trimmed(p, text)
        if k and unused[k] > 0:
            unused[k] -= 1
            tp += 1
    return tp, len(pred), len(gold)


def _tokens(pieces: list[Span], text: str) -> frozenset[tuple[int, str]]:
    """The lower-cased ``\\w+`` words of a span's text, each with its offset in the article (so
    that the same word elsewhere in the article is a different token)."""
    return frozenset((s + m.start(), m.group().lower()) for s, e in pieces for m in WORD.finditer(text[s:e]))


def match_jaccard(pred: list[list[Span]], gold: list[list[Span]], text: str) -> tuple[float, int, int]:
    """(sum of token Jaccard over one-to-one pairs, predicted, gold); pairs are taken greedily by
    Jaccard. Precision is the sum over the predicted count, recall the sum over the gold count."""
    pt = [_tokens(p, text) for p in pred if _chars(p)]
    gt = [_tokens(g, text) for g in gold if _chars(g)]
    pairs = []
    for i, p in enumerate(pt):
        for j, g in enumerate(gt):
            shared = len(p & g)
            if shared:
                pairs.append((shared / len(p | g), i, j))
    used_p, used_g, total = set(), set(), 0.0
    for jac, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            total += jac
    return total, len(pt), len(gt)


RULES = {
    "overlap": lambda pred, gold, text: match(pred, gold),
    "exact": match_exact,
    "jaccard": match_jaccard,
}


def prf(tp: float, npred: int, ngold: int) -> tuple[float, float, float]:
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


def _tally(totals: Counter, key: tuple, rule: str, pred: list[list[Span]], gold: list[list[Span]], text: str) -> None:
    tp, npred, ngold = RULES[rule](pred, gold, text)
    totals[key + ("tp",)] += tp
    totals[key + ("pred",)] += npred
    totals[key + ("gold",)] += ngold


def _figures(totals: Counter, key: tuple) -> dict:
    p, r, f = prf(totals[key + ("tp",)], totals[key + ("pred",)], totals[key + ("gold",)])
    return {"gold": totals[key + ("gold",)], "predicted": totals[key + ("pred",)], "matched": totals[key + ("tp",)], "p": p, "r": r, "f1": f}


def score(articles: list[dict], predicted: dict[str, list]) -> dict:
    """{rule: {field: figures}} for every rule, plus "deny": {field: figures} (overlap rule) for the
    deny-type subset (gold cues matching ``DENY_GOLD`` against predicted claims of stance deny)."""
    totals: Counter = Counter()
    for a in articles:
        text = a["text"]
        gold = gold_of(a)
        claims = predicted.get(a["id"], [])
        deny_gold = [g for g in gold if DENY_GOLD.search(" ".join(text[s["start"] : s["end"]] for s in g["cue"]))]
        deny_pred = [c for c in claims if c.stance == "deny"]
        for subset, gset, pset in (("all", gold, claims), ("deny", deny_gold, deny_pred)):
            for name, (gkey, pkey) in FIELDS.items():
                g = [[(s["start"], s["end"]) for s in x[gkey]] for x in gset if x[gkey]]
                p = [[getattr(c, pkey)] for c in pset if getattr(c, pkey)]
                for rule in RULES if subset == "all" else ("overlap",):
                    _tally(totals, (subset, rule, name), rule, p, g, text)
    out = {rule: {name: _figures(totals, ("all", rule, name)) for name in FIELDS} for rule in RULES}
    out["deny"] = {name: _figures(totals, ("deny", "overlap", name)) for name in FIELDS}
    return out


def human_agreement(articles: list[dict]) -> tuple[int, dict]:
    """Annotator against annotator, every ordered pair, on the articles several people annotated:
    the ceiling any extractor can be expected to reach under each matching rule.
    Returns (number of such articles, {rule: {field: figures}})."""
    from itertools import permutations

    totals: Counter = Counter()
    multi = [a for a in articles if len(a["annotations"]) > 1]
    for a in multi:
        for one, other in permutations(a["annotations"], 2):
            for name in FIELDS:
                g = [[(s["start"], s["end"]) for s in x[name]] for x in one["attributions"] if x[name]]
                p = [[(s["start"], s["end"]) for s in x[name]] for x in other["attributions"] if x[name]]
                for rule in RULES:
                    _tally(totals, (rule, name), rule, p, g, a["text"])
    return len(multi), {rule: {name: _figures(totals, (rule, name)) for name in FIELDS} for rule in RULES}


def _prf_only(by_field: dict) -> dict:
    return {name: {k: f[k] for k in ("p", "r", "f1")} for name, f in by_field.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev", choices=["dev", "train"], help="PolNeAR split to score (default: dev)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N articles of the split")
    ap.add_argument("--direct", action="store_true", help="split + extract only (no embedding, no storage)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    ap.add_argument("--json", metavar="PATH", default=None, help="also write the figures as JSON to PATH (for a CI gate)")
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
    results = score(articles, predicted)
    n_claims = sum(len(v) for v in predicted.values())
    n_sent = sum(len(a["text"]) for a in articles)
    print(f"## attribution: PolNeAR {args.split}, {len(articles)} articles, {n_claims} claims predicted"
          f" ({'direct extraction' if args.direct else 'through ingest'}, {elapsed:.1f} s; {n_sent / 1000:.0f}k characters)\n")
    rows = []
    for name in FIELDS:
        for rule in RULES:
            f = results[rule][name]
            goal = f"F1 >= {GOALS[name]:.2f}" if rule == "overlap" else ""
            rows.append((name, rule, f["gold"], f["predicted"], f"{f['p']:.3f}", f"{f['r']:.3f}", f"{f['f1']:.3f}", goal))
    print(table(["field", "rule", "gold", "predicted", "precision", "recall", "F1", "goal"], rows))
    print(f"\npublished for comparison: {PUBLISHED}")
    print("\ndeny-type recall (overlap rule; gold cues matching deny/denial/reject/dismiss/refute/rebut, predicted claims of stance deny):\n")
    rows = []
    for name in FIELDS:
        f = results["deny"][name]
        recall = f"{f['r']:.3f}" if f["gold"] else "n/a"
        rows.append((name, f["gold"], f["predicted"], f["matched"], recall, f"recall >= {DENY_GOAL:.2f}" if name == "cue" else ""))
    print(table(["field", "gold deny", "predicted deny", "found", "recall", "goal"], rows))
    everyone = list(map(json.loads, POLNEAR.open()))
    n_multi, human = human_agreement(everyone)
    print("\nhuman agreement (annotator vs annotator, all ordered pairs, train + dev articles with several annotators):\n")
    rows = [(name, rule, n_multi, f"{f['p']:.3f}", f"{f['r']:.3f}", f"{f['f1']:.3f}") for name in FIELDS for rule in RULES for f in [human[rule][name]]]
    print(table(["field", "rule", "articles", "precision", "recall", "F1"], rows))
    if args.json:
        doc = {"split": args.split, "articles": len(articles)}
        doc.update({rule: _prf_only(results[rule]) for rule in RULES})
        doc["deny_cue_recall"] = results["deny"]["cue"]["r"] if results["deny"]["cue"]["gold"] else None  # null: no deny cue in gold
        doc["human"] = {rule: _prf_only(human[rule]) for rule in RULES}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}", file=sys.stderr)
    if ingest_s is not None:
        print(f"\ningest of the split (embedding + extraction + storage): {ingest_s:.1f} s")
    if home is not None:
        remove_home(home, args.keep)


if __name__ == "__main__":
    main()

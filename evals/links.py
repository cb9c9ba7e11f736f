"""The links eval: cross-article links (rag/attribution/links.py) against hand-made gold.

A links suite (``evals/suites/desk_links.jsonl``) is recognised by its lines: after the corpus line
``{"corpus": PATH}``, each line is a gold link ``{"id", "kind", "from": {"article_id", "text"},
"to": {"article_id", "text"}}`` (texts are exact substrings of the answering and the answered
sentence). The gold is exhaustive, so every predicted link that matches no gold link counts against
precision.

A predicted link matches a gold link when both ends are in the gold's articles and the gold texts
are inside the predicted sentences (the answering end: the claim's cue sentence, or a sentence its
content points back to). The kind is ignored for the main precision and recall and reported per kind
beside them. The links are computed once with the lowest threshold of the sweep, so each row of the
sweep is the same links filtered by their score: what setting ``links.threshold`` there would give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rag.types import LINK_KINDS, Link

#: The figures a links run reports, as ``--fail-under`` names them (``KIND:METRIC`` per kind).
LINK_METRICS = ["precision", "recall", "f1", *(f"{k}:{m}" for k in LINK_KINDS for m in ("precision", "recall", "f1"))]
#: The thresholds the sweep reports.
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


class LinksSuiteError(ValueError):
    """A links suite that cannot be read; the message names the file and line."""


@dataclass
class GoldLink:
    id: str
    kind: str
    from_article: str
    from_text: str
    to_article: str
    to_text: str
    note: str = ""


@dataclass
class LinksSuite:
    name: str
    corpus: list[Path]
    gold: list[GoldLink] = field(default_factory=list)


def is_links_suite(path: Path) -> bool:
    """Whether the file is a links suite: its first line after the corpus is a gold link."""
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                row = json.loads(line)
                if isinstance(row, dict) and "corpus" in row and len(row) == 1:
                    continue
                return isinstance(row, dict) and {"from", "to", "kind"} <= set(row)
    except (OSError, ValueError):
        return False
    return False


def load_links_suite(path: Path) -> LinksSuite:
    suite = LinksSuite(name=path.stem, corpus=[])
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "corpus" in row and "from" not in row:
                suite.corpus.append((path.parent / row["corpus"]).resolve())
                continue
            if row["kind"] not in LINK_KINDS:
                raise ValueError(f"kind must be one of {', '.join(LINK_KINDS)}")
            suite.gold.append(GoldLink(str(row["id"]), row["kind"], row["from"]["article_id"], row["from"]["text"],
                                       row["to"]["article_id"], row["to"]["text"], row.get("note", "")))
        except (ValueError, KeyError, TypeError) as e:
            raise LinksSuiteError(f"{path}:{n}: not a gold link ({e})") from None
    if not suite.corpus:
        raise LinksSuiteError(f"{path}: no corpus line")
    return suite


def _matches(link: Link, gold: GoldLink, from_texts: Sequence[str]) -> bool:
    return (link.from_article == gold.from_article and link.to_article == gold.to_article
            and gold.to_text in link.to_text and any(gold.from_text in t for t in from_texts))


def score(links: Sequence[Link], gold: Sequence[GoldLink], from_texts: dict[tuple[str, int], list[str]]) -> dict[str, Any]:
    """Precision, recall and F1 of ``links`` against ``gold`` (kind ignored), and per kind: recall of
    the gold links of that kind, precision of the predicted links of that kind (a predicted link
    matching a gold link of another kind counts as right for the main figures, wrong here)."""
    texts = lambda x: from_texts.get((x.from_article, x.from_seq), [x.from_text])  # noqa: E731
    matched_gold = {g.id for g in gold if any(_matches(x, g, texts(x)) for x in links)}
    right = [x for x in links if any(_matches(x, g, texts(x)) for g in gold)]
    out: dict[str, Any] = _prf(len(right), len(links), len(matched_gold), len(gold))
    out.update(predicted=len(links), gold=len(gold), matched=len(matched_gold))
    for kind in LINK_KINDS:
        kg = [g for g in gold if g.kind == kind]
        kp = [x for x in links if x.kind == kind]
        kr = [x for x in kp if any(_matches(x, g, texts(x)) for g in kg)]
        km = {g.id for g in kg if any(_matches(x, g, texts(x)) for x in kp)}
        out[kind] = {**_prf(len(kr), len(kp), len(km), len(kg)), "predicted": len(kp), "gold": len(kg)}
    return out


def _prf(right: int, predicted: int, found: int, gold: int) -> dict[str, float]:
    p = right / predicted if predicted else (1.0 if not gold else 0.0)
    r = found / gold if gold else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def evaluate(store, suite: LinksSuite, sweep: Sequence[float] = SWEEP, progress: bool = False) -> dict[str, Any]:
    """Ingest the corpus into ``store`` (links off), compute every link at the sweep's lowest threshold,
    and score them at the configured threshold and at each threshold of the sweep."""
    from ingest.pipeline import ingest
    from rag.attribution.links import Linker, needed

    settings = store.settings.links
    configured = settings.threshold
    enabled, settings.enabled = settings.enabled, False  # the links are computed once, below, at the sweep's floor
    try:
        report = ingest(suite.corpus, store, progress=progress)
    finally:
        settings.enabled = enabled
    low = min([*sweep, configured])
    lowered = settings.model_copy(update={"threshold": low, "unknown_date": max(low, settings.unknown_date - (configured - low))})
    ids = [aid for aid, _, _ in store.catalogue.article_names(store.space)]
    links = Linker(store, lowered).find(ids)
    from_texts = _from_texts(store, links)
    at = lambda t: [x for x in links if x.score >= needed(x.kind, t, settings)]  # noqa: E731
    missed = [g for g in suite.gold if not any(_matches(x, g, from_texts.get((x.from_article, x.from_seq), [])) for x in at(configured))]
    return {
        "threshold": configured,
        "metrics": score(at(configured), suite.gold, from_texts),
        "sweep": [{"threshold": t, **{k: v for k, v in score(at(t), suite.gold, from_texts).items() if k not in LINK_KINDS}}
                  for t in sorted(set(sweep))],
        "links": [{**x.to_json_dict(), "gold": [g.id for g in suite.gold if _matches(x, g, from_texts.get((x.from_article, x.from_seq), []))]}
                  for x in at(configured)],
        "missed": [g.__dict__ for g in missed],
        "ingest": report.to_json_dict(),
    }


def _from_texts(store, links: Sequence[Link]) -> dict[tuple[str, int], list[str]]:
    """The sentences each answering claim rests on (its cue sentence and those its content points to)."""
    cat, space = store.catalogue, store.space
    wanted_places = {(x.from_article, x.from_seq) for x in links}
    claims = {(c.article_id, seq): c for seq, c in cat.placed_claims(space, sorted({a for a, _ in wanted_places}))
              if (c.article_id, seq) in wanted_places}
    wanted = sorted({(a, i) for (a, _), c in claims.items() for i in c.sentence_indexes})
    rows = cat.window_sentences(space, [(a, i, i) for a, i in wanted], store.embedder.dim)
    text = {(s.article_id, s.index): s.text for s, _, _, _ in rows}
    return {p: [text[(p[0], i)] for i in c.sentence_indexes if (p[0], i) in text] for p, c in claims.items()}


__all__ = ["LINK_METRICS", "SWEEP", "GoldLink", "LinksSuite", "LinksSuiteError", "evaluate", "is_links_suite", "load_links_suite", "score"]

"""Metric functions with known answers: span overlap for citations (so different sentence
splitting still counts), recall@k, exact match and token F1 (SQuAD-style normalisation),
abstention accuracy and percentiles. Pure functions; the runner feeds them."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable, Sequence

Span = tuple[str, int, int]  # (article_id, start, end)


def overlaps(a: Span, b: Span, share: float = 0.5) -> bool:
    """Same article and the spans share at least ``share`` of the shorter one's characters."""
    if a[0] != b[0]:
        return False
    inter = min(a[2], b[2]) - max(a[1], b[1])
    shorter = min(a[2] - a[1], b[2] - b[1])
    return inter > 0 and shorter > 0 and inter >= share * shorter


def matched(predicted: Sequence[Span], gold: Sequence[Span]) -> tuple[int, int]:
    """(predicted spans that match some gold span, gold spans matched by some predicted span)."""
    p = sum(any(overlaps(x, g) for g in gold) for x in predicted)
    g = sum(any(overlaps(x, gs) for x in predicted) for gs in gold)
    return p, g


def citation_prf(predicted: Sequence[Span], gold: Sequence[Span]) -> tuple[float, float, float]:
    """Precision, recall, F1 of cited spans against gold spans (span overlap, not sentence ids).

    No prediction and no gold is perfect (1, 1, 1); predictions without gold score precision 0.
    """
    if not predicted and not gold:
        return 1.0, 1.0, 1.0
    mp, mg = matched(predicted, gold)
    precision = mp / len(predicted) if predicted else 0.0
    recall = mg / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def recall_at_k(retrieved: Sequence[Span], gold: Sequence[Span], k: int) -> float | None:
    """Share of gold spans matched within the first ``k`` retrieved; None when there is no gold."""
    if not gold:
        return None
    return matched(list(retrieved[:k]), gold)[1] / len(gold)


def article_recall_at_k(retrieved_articles: Sequence[str], gold_articles: Iterable[str], k: int) -> float | None:
    gold = set(gold_articles)
    if not gold:
        return None
    return len(gold & set(retrieved_articles[:k])) / len(gold)


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1 when the normalised prediction equals, or contains as a phrase, a normalised answer."""
    p = normalize(prediction)
    for a in answers:
        n = normalize(a)
        if n and (p == n or re.search(rf"(^| ){re.escape(n)}( |$)", p)):
            return 1.0
    return 0.0


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    best = 0.0
    p = normalize(prediction).split()
    for a in answers:
        g = normalize(a).split()
        common = Counter(p) & Counter(g)
        same = sum(common.values())
        if not same:
            continue
        precision, recall = same / len(p), same / len(g)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def percentile(values: Sequence[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def name_words(name: str) -> set[str]:
    """Lower-case words of a speaker's name, without articles and possessive endings."""
    out = set()
    for w in re.findall(r"[\w'’-]+", name.lower().replace("’", "'")):
        w = w.strip("'-")
        w = w[:-2] if w.endswith("'s") else w
        if w and w not in ("the", "a", "an"):
            out.add(w)
    return out


def same_speaker(gold: str, predicted: str) -> bool:
    """A predicted speaker is the gold one when it carries every word of the gold name ("Tomas
    Reyland" in "Tomas Reyland"; "interior ministry" in "The interior ministry")."""
    g = name_words(gold)
    return bool(g) and g <= name_words(predicted)


def claim_matches(gold: dict, speaker: str, stance: str, negated: bool) -> bool:
    """A gold claim ``{"speaker", "stance", "negated"?}`` against a predicted claim."""
    if gold.get("stance") and gold["stance"] != stance:
        return False
    if "negated" in gold and bool(gold["negated"]) != negated:
        return False
    return same_speaker(gold["speaker"], speaker)


def misattributed(ask: dict, expect_abstain: bool, abstained: bool, claims: Sequence[tuple[str, str]]) -> bool:
    """Did an answer attribute to the wrong speaker or stance? ``ask`` is what the question names, as a
    person labelled it: ``speakers`` (every correct speaker; [] when nobody in the articles is) and
    ``stances``. ``claims`` are the answer's (speaker, stance) pairs. An answer to a question whose
    truth is "not reported" misattributes whatever it says; an abstention never does."""
    if abstained:
        return False
    if expect_abstain:
        return True
    speakers, stances = ask.get("speakers"), ask.get("stances")
    for speaker, stance in claims:
        if stances is not None and stance not in stances:
            return True
        if speakers is not None and not any(same_speaker(s, speaker) for s in speakers):
            return True
    return False

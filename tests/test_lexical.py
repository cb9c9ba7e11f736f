"""Lexical search's term handling, against a catalogue stand-in that records what it is asked."""

from __future__ import annotations

import pytest

from rag.lexical import Lexical, term_set, terms

TEXTS = ["", "Who?", "The minister denied the port sale; unions warned of job losses.", "It was founded in 1844 by O'Neill’s sons",
         "Ports, porting and ported: the PORT's ports!", "Élan vital — naïve café déjà vu", "a_b c__d 12 3"]


@pytest.mark.parametrize("text", TEXTS)
def test_term_set_is_the_set_of_terms(text: str) -> None:
    assert term_set(text) == set(terms(text))


class Recorder:
    """A catalogue of ``n`` chunks with the given document frequencies, recording each search."""

    def __init__(self, n: int, df: dict[str, int]) -> None:
        self.n, self.df, self.searches = n, df, []

    def term_stats(self, space, wanted):
        return self.n, {t: self.df[t] for t in wanted if t in self.df}

    def search_chunks(self, space, wanted, n, alone=None):
        self.searches.append((list(wanted), alone))
        return []


def test_coverage_of_a_term_set_is_coverage_of_the_text() -> None:
    lexical = Lexical(Recorder(1000, {"port": 10, "sale": 100, "minist": 400}), "s")
    q = terms("Did the minister deny the port sale?")
    for text in TEXTS + ["The port sale", "minister", "Port minister sale"]:
        assert lexical.coverage_of(q, term_set(text)) == pytest.approx(lexical.coverage(q, text))
    assert lexical.coverage(q, "The port sale") > lexical.coverage(q, "The minister") > 0 == lexical.coverage(q, "Nothing")

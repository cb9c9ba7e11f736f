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


def test_common_terms_beyond_the_postings_bound_match_only_in_pairs() -> None:
    df = {"zebra": 5, "harbour": 8_000, "crane": 9_000, "quay": 12_000, "port": 60_000}
    catalogue = Recorder(1_000_000, df)
    Lexical(catalogue, "s").search("port quay crane harbour zebra", 30)
    # rarest first; 5 + 8,000 + 9,000 chunks fit the bound, quay would not; port is in more than 5%
    assert Lexical.MOST_POSTINGS == 20_000 and catalogue.searches == [(["zebra", "harbour", "crane", "quay"], 3)]
    # within the bound every term matches alone, as before
    small = Recorder(1_000_000, {t: max(1, d // 10) for t, d in df.items()})
    Lexical(small, "s").search("port quay crane harbour zebra", 30)
    assert small.searches == [(["zebra", "harbour", "crane", "quay", "port"], None)]
    # the rarest term always matches alone, however many chunks hold it
    big = Recorder(1_000_000, {"harbour": 30_000, "crane": 40_000})
    Lexical(big, "s").search("crane harbour", 30)
    assert big.searches == [(["harbour", "crane"], 1)]

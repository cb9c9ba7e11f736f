"""Lexical retrieval over chunks with bm25s, plus the IDF-weighted term coverage used to score
single sentences. The index is rebuilt only when the catalogue's generation changes and is kept
on disk, so a cold ``ask`` loads it instead of rebuilding it.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Sequence



def _tokenizer():
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN_PLUS
    from bm25s.tokenization import Tokenizer

    # The longer list drops question words ("what", "who", "did") that would otherwise dilute
    # a question's term coverage.
    return Tokenizer(stopwords=list(STOPWORDS_EN_PLUS), stemmer=Stemmer.Stemmer("english"))


class LexicalIndex:
    """BM25 over chunk texts; ``ids[i]`` is the chunk id of document ``i``."""

    def __init__(self, ids: list[str], retriever, df: dict[str, int], n_docs: int) -> None:
        self.ids = ids
        self._retriever = retriever
        self._df = df
        self._n = max(n_docs, 1)
        self._tok = _tokenizer()
        self._stop = frozenset(self._tok.stopwords)

    # -- building and persistence ---------------------------------------------------------------
    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        tok = _tokenizer()
        tokens = tok.tokenize(list(texts), return_as="string", show_progress=False)
        df = Counter(t for doc in tokens for t in set(doc))
        retriever = bm25s.BM25()
        if texts:
            retriever.index(tokens, show_progress=False)
        return cls(list(ids), retriever if texts else None, dict(df), len(texts))

    def save(self, directory: Path) -> None:
        """Write to a temporary folder, then rename: a reader never sees half an index."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".tmp-"))
        if self._retriever is not None:
            self._retriever.save(str(tmp))
        (tmp / "whosaid.json").write_text(json.dumps({"ids": self.ids, "df": self._df, "n": self._n}))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex":
        import bm25s

        meta = json.loads((directory / "whosaid.json").read_text())
        retriever = bm25s.BM25.load(str(directory), mmap=False) if meta["ids"] else None
        return cls(meta["ids"], retriever, meta["df"], meta["n"])

    # -- querying -------------------------------------------------------------------------------
    def terms(self, text: str) -> list[str]:
        """Stemmed content terms; empty for a question of stopwords only ("Who?"). bm25s stands an
        empty document in for such text as ``['']``, which must never reach the index."""
        return [t for t in self._tok.tokenize([text], update_vocab=True, return_as="string", show_progress=False)[0] if t]

    def words(self, text: str) -> list[tuple[str, str]]:
        """(word as written, lower-cased; its term) for every content word, with the tokenizer's own
        splitting, stopwords and stemmer: what :meth:`terms` returns, with the surface words kept."""
        tok = self._tok
        stop = self._stop
        return [(w, tok.stemmer(w)) for w in tok.splitter(text.lower()) if w not in stop]

    def idf(self, term: str) -> float:
        """Smoothed IDF; a term the corpus never uses weighs as much as the rarest one."""
        return math.log(1 + (self._n - self._df.get(term, 0) + 0.5) / (self._df.get(term, 0) + 0.5))

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        if self._retriever is None or not self.ids:
            return []
        q = [t for t in self.terms(query) if t in self._retriever.vocab_dict]
        if not q:
            return []
        docs, scores = self._retriever.retrieve([q], k=min(n, len(self.ids)), show_progress=False)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def coverage(self, query_terms: Sequence[str], text: str) -> float:
        """Share of the question's IDF mass that the text contains (0..1)."""
        q = set(query_terms)
        if not q:
            return 0.0
        present = q & set(self.terms(text))
        total = sum(self.idf(t) for t in q)
        return float(sum(self.idf(t) for t in present) / total) if total else 0.0


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ranked id lists, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


__all__ = ["LexicalIndex", "rrf"]

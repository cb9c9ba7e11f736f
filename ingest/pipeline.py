"""Ingest: load files, skip unchanged articles, split, chunk, embed in batches, store each article
all or nothing, and report added / updated / unchanged / failed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ingest.chunking import make_chunks
from ingest.loaders import Loaded, LoadError, expand, load_file
from ingest.sentences import split_sentences
from rag.settings import ChunkingSettings
from rag.store import Store
from rag.types import Article, Chunk, Sentence


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[LoadError] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"path": e.path, "line": e.line, "error": e.error} for e in self.failed],
        }

    def summary(self) -> str:
        return f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, failed {len(self.failed)}"


@dataclass
class Prepared:
    loaded: Loaded
    version: str
    sentences: list[Sentence]
    chunks: list[tuple[Chunk, list[tuple[int, int]]]]


def article_version(article: Article) -> str:
    """Hash of everything stored for an article: equal hash, nothing to do."""
    payload = json.dumps(article.model_dump(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare(loaded: Loaded, version: str, chunking: ChunkingSettings) -> Prepared:
    a = loaded.article
    sentences = [
        Sentence(article_id=a.id, index=i, text=a.text[s:e], start=s, end=e)
        for i, (s, e) in enumerate(split_sentences(a.text))
    ]
    return Prepared(loaded, version, sentences, make_chunks(a.id, a.title, sentences, chunking))


def _sentence_vectors(p: Prepared, span_vecs: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """Average each sentence's pooled vectors over the chunks that contain it."""
    sums = np.zeros((len(p.sentences), dim), dtype=np.float32)
    counts = np.zeros(len(p.sentences), dtype=np.float32)
    for (chunk, _), vecs in zip(p.chunks, span_vecs):
        for offset, v in enumerate(vecs):
            sums[chunk.first + offset] += v
            counts[chunk.first + offset] += 1
    sums /= np.maximum(counts, 1)[:, None]
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def collect(paths: Iterable[Path], report: IngestReport) -> list[Loaded]:
    """Read every input; failures go to the report, duplicate ids within one run are refused."""
    seen: dict[str, str] = {}
    out: list[Loaded] = []
    for item in expand(list(paths)):
        results = [item] if isinstance(item, LoadError) else load_file(item)
        for r in results:
            if isinstance(r, LoadError):
                report.failed.append(r)
            elif r.article.id in seen:
                report.failed.append(
                    LoadError(r.path, r.line, f"duplicate article id '{r.article.id}' (already read from {seen[r.article.id]})")
                )
            else:
                seen[r.article.id] = r.origin
                out.append(r)
    return out


def ingest(
    paths: Iterable[Path],
    store: Store,
    *,
    progress: bool = True,
    batch_articles: int = 32,
    on_error: Callable[[LoadError], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``; safe to interrupt and run again."""
    from tqdm import tqdm

    report = IngestReport()
    store.reconcile()
    loaded = collect(paths, report)
    if on_error:
        for e in report.failed:
            on_error(e)

    pending: list[tuple[Loaded, str, bool]] = []
    for item in loaded:
        version = article_version(item.article)
        old = store.catalogue.version(store.space, item.article.id)
        if old == version:
            report.unchanged += 1
        else:
            pending.append((item, version, old is not None))

    dim = store.embedder.dim
    bar = tqdm(total=len(pending), unit="article", desc="ingest", disable=not progress, file=sys.stderr)
    try:
        for b in range(0, len(pending), batch_articles):
            batch = pending[b : b + batch_articles]
            prepared: list[tuple[Prepared, bool]] = []
            for item, version, existed in batch:
                p = prepare(item, version, store.settings.chunking)
                if p.sentences:
                    prepared.append((p, existed))
                else:
                    _fail(report, on_error, item, "no sentences found in the article text")
            texts = [c.text for p, _ in prepared for c, _ in p.chunks]
            spans = [s for p, _ in prepared for _, s in p.chunks]
            chunk_vecs, span_vecs = store.embedder.embed_with_spans(texts, spans)
            pos = 0
            for p, existed in prepared:
                n = len(p.chunks)
                vecs, svecs = chunk_vecs[pos : pos + n], span_vecs[pos : pos + n]
                pos += n
                try:
                    store.write(p.loaded.article, p.version, p.loaded.origin, p.sentences, [c for c, _ in p.chunks], vecs, _sentence_vectors(p, svecs, dim))
                except Exception as e:  # noqa: BLE001 - one article's storage error must not stop the rest
                    _fail(report, on_error, p.loaded, f"could not store the article: {e}")
                    continue
                if existed:
                    report.updated += 1
                    report.updated_ids.append(p.loaded.article.id)
                else:
                    report.added += 1
                    report.added_ids.append(p.loaded.article.id)
            bar.update(len(batch))
    finally:
        bar.close()
    return report


def _fail(report: IngestReport, on_error, loaded: Loaded, error: str) -> None:
    err = LoadError(loaded.path, loaded.line, f"article '{loaded.article.id}': {error}")
    report.failed.append(err)
    if on_error:
        on_error(err)

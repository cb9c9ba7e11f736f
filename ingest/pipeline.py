"""Ingest: load files, skip unchanged articles, split, chunk, embed in batches, store each article
all or nothing, and report added / updated / unchanged / failed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ingest.chunking import make_chunks
from ingest.claims import ClaimExtractor, extraction_version
from ingest.loaders import Loaded, LoadError, LoadMemo, expand, load_source
from ingest.sentences import split_sentences
from rag.settings import ChunkingSettings, IngestSettings
from rag.store import ArticleWrite, Store
from rag.types import Article, Chunk, Claim, Sentence

@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[LoadError] = field(default_factory=list)
    #: One line per file read with a caveat (a legacy encoding), in input order, each once.
    notices: list[str] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    #: Cross-article links found for the articles stored (both ways).
    links: int = 0

    def to_json_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"path": e.path, "line": e.line, "error": e.error} for e in self.failed],
            **({"notices": list(self.notices)} if self.notices else {}),  # only when there are: old reports stay as they were
        }

    def summary(self) -> str:
        return f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, failed {len(self.failed)}"


@dataclass
class Prepared:
    loaded: Loaded
    version: str
    sentences: list[Sentence]
    chunks: list[tuple[Chunk, list[tuple[int, int]]]]
    claims: list[Claim] = field(default_factory=list)  # filled while the chunks are embedded


def article_version(article: Article, extraction: str | None = None) -> str:
    """Hash of everything stored for an article, claim extraction included (its version is derived
    from the lexicon and the construction code): equal hash, nothing to do. An article without a page
    map hashes as it did before pages were stored (schema 7), so only PDFs are ingested again once."""
    fields = article.model_dump(exclude=set() if article.pages else {"pages"})
    payload = json.dumps({**fields, "extraction": extraction or extraction_version()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare(loaded: Loaded, version: str, chunking: ChunkingSettings) -> Prepared:
    a = loaded.article
    sentences = [
        Sentence(article_id=a.id, index=i, text=a.text[s:e], start=s, end=e, page=a.page_of(s))
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


def collect(
    paths: Iterable[Path | str], report: IngestReport, extraction: str | None = None, limits: IngestSettings | None = None,
    encoding: str | None = None, fetched: dict | None = None, memo: LoadMemo | None = None,
) -> list[tuple[Loaded, str]]:
    """Read every input. Failures go to the report; a repeated id is skipped when its content is
    identical and refused when it differs."""
    seen: dict[str, tuple[str, str]] = {}  # id -> (origin, version)
    out: list[tuple[Loaded, str]] = []
    for item in expand(list(paths)):
        if isinstance(item, LoadError):
            results: Iterable[Loaded | LoadError] = [item]
        elif memo is not None and isinstance(item, Path):
            results = memo.load(item, lambda: load_source(item, limits, encoding))  # noqa: B023 - called at once
        else:
            results = load_source(item, limits, encoding, fetched)
        for r in results:
            if isinstance(r, LoadError):
                report.failed.append(r)
                continue
            report.notices.extend(n for n in r.notices if n not in report.notices)
            version = article_version(r.article, extraction)
            if r.article.id not in seen:
                seen[r.article.id] = (r.origin, version)
                out.append((r, version))
            elif seen[r.article.id][1] == version:
                report.unchanged += 1  # the same record twice (data sets repeat lines): nothing to do
            else:
                first = seen[r.article.id][0]
                report.failed.append(LoadError(r.path, r.line, f"duplicate article id '{r.article.id}' with different content (first read from {first})"))
    return out


def ingest(
    paths: Iterable[Path | str],
    store: Store,
    *,
    progress: bool = True,
    batch_articles: int = 64,
    on_error: Callable[[LoadError], None] | None = None,
    extractor: ClaimExtractor | None = None,
    encoding: str | None = None,
    on_notice: Callable[[str], None] | None = None,
    lock_wait: float = 0.0,
    fetched: dict | None = None,
    memo: LoadMemo | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``; safe to interrupt and run again. Holds the data
    collection's write lock (:class:`rag.store.StoreBusy` when another writer has it). ``encoding``
    forces how text inputs are decoded (see :func:`ingest.loaders.load_file`). A ``str`` path is an
    http(s) URL, read as a feed; ``lock_wait`` is how long to wait for another writer; ``fetched``
    keeps feeds' last responses for conditional fetches and ``memo`` files' articles until they change
    (both ``whosaid watch``'s, across its rounds)."""
    report = IngestReport()
    extractor = extractor or make_extractor(store)
    with store.writing(lock_wait):
        store.reconcile_if_marked()  # what a killed run left (vectors the catalogue does not list), only if one did
        _relink_if_marked(store, report)  # links a killed or failed run did not compute, only if one did
        loaded = collect(paths, report, extractor.version, store.settings.ingest, encoding, fetched, memo)
        if on_notice:
            for n in report.notices:
                on_notice(n)
        if on_error:
            for e in report.failed:
                on_error(e)
        pending: list[tuple[Loaded, str, bool]] = []
        for item, version in loaded:
            old = store.catalogue.version(store.space, item.article.id)
            if old == version:
                report.unchanged += 1
            else:
                pending.append((item, version, old is not None))
        _store_all(store, pending, extractor, report, on_error, progress=progress, batch_articles=batch_articles)
    return report


def rebuild(store: Store, article_ids: Sequence[str], *, progress: bool = False, extractor: ClaimExtractor | None = None) -> IngestReport:
    """Derive everything stored for these articles again from the text the catalogue keeps (their
    sentences, chunks, vectors and claims), as an ingest of their source files would: for
    ``whosaid doctor``, which needs no source file. The caller holds the write lock."""
    report = IngestReport()
    extractor = extractor or make_extractor(store)
    pending: list[tuple[Loaded, str, bool]] = []
    origins = {r.id: r.origin for r in store.catalogue.list_articles(store.space)}
    for article_id in article_ids:
        article = store.catalogue.article(store.space, article_id)
        if article is not None:
            path, _, line = origins.get(article_id, "").rpartition(":")
            where = (path, int(line)) if path and line.isdigit() else (origins.get(article_id, ""), None)
            pending.append((Loaded(article, *where), article_version(article, extractor.version), True))
    _store_all(store, pending, extractor, report, None, progress=progress, batch_articles=64)
    return report


def make_extractor(store: Store) -> ClaimExtractor:
    """The claim extractor for the store's settings (its lexicon file)."""
    from rag.attribution.lexicon import load_lexicon

    return ClaimExtractor(lexicon=load_lexicon(store.settings.claims.lexicon))


def _store_all(
    store: Store, pending: list[tuple[Loaded, str, bool]], extractor: ClaimExtractor, report: IngestReport,
    on_error: Callable[[LoadError], None] | None, *, progress: bool, batch_articles: int,
) -> None:
    """Split, embed, extract and store ``(loaded, version, existed)`` in batches, each article all or
    nothing; then build the BM25 index."""
    from tqdm import tqdm

    dim = store.embedder.dim
    bar = tqdm(total=len(pending), unit="article", desc="ingest", disable=not progress, file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claims")
    try:
        for b in range(0, len(pending), batch_articles):
            batch = pending[b : b + batch_articles]
            prepared: list[tuple[Prepared, bool]] = []
            for item, version, existed in batch:
                try:
                    p = prepare(item, version, store.settings.chunking)
                except (ValueError, RecursionError, MemoryError) as e:
                    _fail(report, on_error, item, f"could not split the article: {_reason(e)}")
                    continue
                if p.sentences:
                    prepared.append((p, existed))
                else:
                    _fail(report, on_error, item, "no sentences found in the article text")
            # Claim extraction (spaCy, one core) overlaps with embedding (onnxruntime releases the GIL).
            claims = pool.submit(_extract_each, extractor, [p for p, _ in prepared])
            vectors = _embed_each(store, [p for p, _ in prepared])
            found = claims.result()
            kept: list[tuple[Prepared, bool]] = []
            writes: list[ArticleWrite] = []
            for (p, existed), vecs, extracted in zip(prepared, vectors, found):
                error = vecs if isinstance(vecs, str) else extracted if isinstance(extracted, str) else None
                if error is not None:
                    _fail(report, on_error, p.loaded, error)
                    continue
                p.claims = extracted
                kept.append((p, existed))
                writes.append(ArticleWrite(
                    article=p.loaded.article, version=p.version, origin=p.loaded.origin, sentences=p.sentences,
                    chunks=[c for c, _ in p.chunks], chunk_vecs=np.asarray(vecs[0]),
                    sentence_vecs=_sentence_vectors(p, vecs[1], dim), claims=p.claims,
                ))
            prepared = kept
            if writes and store.settings.links.enabled:
                store.catalogue.mark_links_dirty(store.space)  # committed before the articles: see _link
            stored: list[str] = []
            for (p, existed), error in zip(prepared, store.write_many(writes)):
                if error is not None:
                    _fail(report, on_error, p.loaded, f"could not store the article: {error}")
                    continue
                stored.append(p.loaded.article.id)
                if existed:
                    report.updated += 1
                    report.updated_ids.append(p.loaded.article.id)
                else:
                    report.added += 1
                    report.added_ids.append(p.loaded.article.id)
            _link(store, stored, report)
            bar.update(len(batch))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _link(store: Store, article_ids: list[str], report: IngestReport) -> None:
    """Cross-article links of the articles just stored, both ways (rag/attribution/links.py). Their
    old links went with their old rows. The "links may be missing" mark, committed before they were
    written, is cleared once they are linked: a kill or a failure in between leaves missing links
    (never wrong ones) and the mark, and the next ingest computes every link again."""
    if not article_ids or not store.settings.links.enabled:
        return
    from rag.attribution.links import link_articles

    try:
        report.links += len(link_articles(store, article_ids))
    except Exception as e:  # noqa: BLE001 - the articles are stored; only their links are missing
        notice = f"could not link {len(article_ids)} articles to the others ({_reason(e)}); the next ingest links them again"
        if notice not in report.notices:
            report.notices.append(notice)
        return
    store.catalogue.clear_links_dirty(store.space)


def _relink_if_marked(store: Store, report: IngestReport) -> None:
    """Every link computed again when a run before this one stored articles and did not link them."""
    if not store.settings.links.enabled or not store.catalogue.links_dirty(store.space):
        return
    from rag.attribution.links import rebuild_links

    try:
        rebuild_links(store)
    except Exception as e:  # noqa: BLE001 - the mark stays: the next ingest tries again
        report.notices.append(f"could not link the articles a run before this one left unlinked ({_reason(e)})")


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:300] if not isinstance(e, MemoryError) else "out of memory"


def _extract_each(extractor: ClaimExtractor, prepared: list[Prepared]) -> list[list[Claim] | str]:
    """Claims per article; an article whose text breaks the parser fails alone, not its batch.

    The whole batch's sentences are parsed first in one ``nlp.pipe`` call (spaCy's fixed cost per
    call, paid per article, was about 13% of extraction CPU); if that call fails, each article
    parses on its own below, so the one at fault still fails alone."""
    ahead = getattr(extractor, "parse_ahead", None)
    if ahead is not None:
        try:
            ahead([(p.sentences, p.loaded.article.text) for p in prepared])
        except Exception:  # noqa: BLE001 - the per-article parse below reports the article at fault
            extractor.clear_parsed()
    out: list[list[Claim] | str] = []
    try:
        for p in prepared:
            try:
                out.append(extractor.extract(p.loaded.article.id, p.sentences, p.loaded.article.text))
            except Exception as e:  # noqa: BLE001 - any parser failure is this article's error line
                out.append(f"could not extract claims: {_reason(e)}")
    finally:
        if ahead is not None:
            extractor.clear_parsed()  # docs of articles that failed before their parse was used
    return out


def _embed_each(store: Store, prepared: list[Prepared]) -> list[tuple[list, list] | str]:
    """Chunk and span vectors per article. The batch is embedded at once; when that fails each article
    is embedded alone, so one bad article costs only its own error line."""
    def run(ps: list[Prepared]) -> list[tuple[list, list]]:
        texts = [c.text for p in ps for c, _ in p.chunks]
        spans = [s for p in ps for _, s in p.chunks]
        chunk_vecs, span_vecs = store.embedder.embed_with_spans(texts, spans)
        out, pos = [], 0
        for p in ps:
            n = len(p.chunks)
            out.append((list(chunk_vecs[pos : pos + n]), list(span_vecs[pos : pos + n])))
            pos += n
        return out

    try:
        return run(prepared)
    except Exception as e:  # noqa: BLE001 - retried one by one below to find the article at fault
        if len(prepared) == 1:
            return [f"could not embed the article: {_reason(e)}"]
    out: list[tuple[list, list] | str] = []
    for p in prepared:
        try:
            out.extend(run([p]))
        except Exception as e:  # noqa: BLE001
            out.append(f"could not embed the article: {_reason(e)}")
    return out


def _fail(report: IngestReport, on_error, loaded: Loaded, error: str) -> None:
    err = LoadError(loaded.path, loaded.line, f"article '{loaded.article.id}': {error}")
    report.failed.append(err)
    if on_error:
        on_error(err)

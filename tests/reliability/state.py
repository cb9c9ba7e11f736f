"""Everything a data directory holds, read in a comparable form: catalogue rows (read-only SQLite)
and the Chroma records. Two ingests of the same files must give equal states; vectors are compared
with a tolerance, because a batch's padding changes the last bits of an embedding."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.settings import Settings

TABLES = {
    "articles": "SELECT id, title, source, url, published, text, version, origin FROM articles WHERE space=? ORDER BY id",
    "sentences": 'SELECT article_id, idx, start, "end", text FROM sentences WHERE space=? ORDER BY article_id, idx',
    "chunks": "SELECT id, article_id, first, last, text FROM chunks WHERE space=? ORDER BY id",
    "claims": "SELECT article_id, seq, speaker, cue, stance, content, other_party, sentence_ids, spans, negated, cue_lemma, "
              "speaker_mention, speaker_role, speaker_key FROM claims WHERE space=? ORDER BY article_id, seq",
}


@dataclass
class State:
    rows: dict[str, list[tuple]]
    sentence_vecs: dict[tuple[str, int], np.ndarray]
    vector_ids: list[str]  # as Chroma lists them: a duplicate would show twice
    vectors: dict[str, np.ndarray]
    metadata: dict[str, dict]

    def counts(self) -> dict[str, int]:
        return {**{t: len(r) for t, r in self.rows.items()}, "vectors": len(self.vector_ids)}


def read_state(home: Path, settings: Settings | None = None) -> State:
    import chromadb

    settings = settings or Settings(home=home)
    space = settings.space(None)
    con = sqlite3.connect(f"file:{home / 'catalogue.sqlite3'}?mode=ro", uri=True)
    try:
        rows = {t: con.execute(q, (space,)).fetchall() for t, q in TABLES.items()}
        vecs = {(a, i): np.frombuffer(v or b"", dtype=np.float16).astype(np.float32)
                for a, i, v in con.execute("SELECT article_id, idx, vec FROM sentences WHERE space=?", (space,))}
    finally:
        con.close()
    client = chromadb.PersistentClient(path=str(home / "chroma"), settings=chromadb.config.Settings(anonymized_telemetry=False))
    try:
        got = client.get_collection(space).get(include=["embeddings", "metadatas"])
    except Exception:  # noqa: BLE001 - no collection yet: no vectors
        got = {"ids": [], "embeddings": [], "metadatas": []}
    ids = list(got["ids"])
    return State(rows, vecs, ids, dict(zip(ids, map(np.asarray, got["embeddings"]))), dict(zip(ids, got["metadatas"])))


def differences(a: State, b: State, atol: float = 2e-3) -> list[str]:
    """What differs between two states, in words (empty: equal)."""
    out = []
    for table in TABLES:
        if a.rows[table] != b.rows[table]:
            only_a = set(a.rows[table]) - set(b.rows[table])
            only_b = set(b.rows[table]) - set(a.rows[table])
            out.append(f"{table}: {len(a.rows[table])} vs {len(b.rows[table])} rows, {len(only_a)} only in the first, {len(only_b)} only in the second")
    if len(a.vector_ids) != len(set(a.vector_ids)):
        out.append("duplicate vector ids in the first")
    if sorted(a.vector_ids) != sorted(b.vector_ids):
        out.append(f"vector ids: {len(set(a.vector_ids) - set(b.vector_ids))} only in the first, {len(set(b.vector_ids) - set(a.vector_ids))} only in the second")
    else:
        off = [i for i in a.vectors if not np.allclose(a.vectors[i], b.vectors[i], atol=atol) or a.metadata[i] != b.metadata[i]]
        if off:
            out.append(f"{len(off)} vectors or their metadata differ")
    if a.sentence_vecs.keys() != b.sentence_vecs.keys():
        out.append("sentence vectors: different sentences")
    else:
        off = [k for k in a.sentence_vecs if not np.allclose(a.sentence_vecs[k], b.sentence_vecs[k], atol=atol)]
        if off:
            out.append(f"{len(off)} sentence vectors differ")
    return out


def read_state_fresh(home: Path) -> State:
    """:func:`read_state` in a new process: Chroma caches a data directory per process, so a process
    that read it once would not see what a later ``whosaid`` process wrote."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(read_state, home).result()

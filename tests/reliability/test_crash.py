"""A killed ingest leaves a consistent store, and the next run completes it.

The first test SIGKILLs the real ``whosaid ingest`` (real MiniLM embedder, real Chroma, real SQLite)
while it is writing; the second simulates a crash between the Chroma write and the catalogue write
inside one process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.loaders import LoadError, load_file
from ingest.pipeline import article_version, ingest, prepare
from rag.catalogue import Catalogue
from rag.embeddings import MiniLMOnnxEmbedder
from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store

ROOT = Path(__file__).resolve().parents[1]
N = 300
SUBJECTS = ["minister", "mayor", "spokesperson", "general", "governor", "chief executive", "union leader", "ambassador"]
VERBS = ["denied", "confirmed", "rejected", "welcomed", "questioned", "announced"]
OBJECTS = ["the port sale", "the new budget", "the border talks", "the vaccine contract", "the rail strike", "the rationing plan"]


def write_corpus(path: Path) -> None:
    with path.open("w") as f:
        for i in range(N):
            sentences = [
                f"In report {i}, the {SUBJECTS[(i + j) % 8]} {VERBS[(i * j + j) % 6]} {OBJECTS[(i + 2 * j) % 6]} on day {i * 7 + j}."
                for j in range(6)
            ]
            f.write(json.dumps({"id": f"kill-{i:03d}", "title": f"Report number {i}", "source": "Wire", "text": " ".join(sentences)}) + "\n")


def expected_state(corpus: Path) -> dict[str, tuple[str, str, set[str], int]]:
    """What a complete ingest must store per article: version, text, chunk ids, sentence count."""
    chunking = Settings().chunking
    out = {}
    for loaded in load_file(corpus):
        assert not isinstance(loaded, LoadError), loaded
        version = article_version(loaded.article)
        p = prepare(loaded, version, chunking)
        out[loaded.article.id] = (version, loaded.article.text, {c.id for c, _ in p.chunks}, len(p.sentences))
    assert len(out) == N
    return out


def catalogue_rows(db_path: Path) -> int:
    """Articles committed so far, read without creating or locking anything."""
    if not db_path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def chroma_ids_in_subprocess(env: dict) -> set[str]:
    """Chroma's ids as a fresh process sees them (the test process keeps no Chroma open yet)."""
    code = (
        "import json; from rag.settings import Settings; from rag.embeddings import MiniLMOnnxEmbedder; "
        "from rag.store import Store; s = Store(Settings(), MiniLMOnnxEmbedder()); "
        "print(json.dumps(sorted(s.vectors.ids())))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun_completes(tmp_path: Path, _isolated_home: Path) -> None:
    home = _isolated_home
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    expected = expected_state(corpus)
    db_path = home / "catalogue.sqlite3"
    env = {**os.environ, "WHOSAID_HOME": str(home), "WHOSAID_EMBEDDER__BATCH_SIZE": "8"}
    cmd = [sys.executable, "-m", "ui.cli", "ingest", str(corpus), "--no-progress", "--json"]

    # 1. start the real ingest and SIGKILL it once some, but not all, articles are committed
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while True:
            rows = catalogue_rows(db_path)
            if 0 < rows < N:
                break
            if proc.poll() is not None:
                pytest.fail(f"ingest ended (rc {proc.returncode}, {rows} rows) before it could be killed: {proc.stderr.read()!r}")
            if time.monotonic() > deadline:
                pytest.fail(f"no catalogue rows within 60 s (rows={rows})")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # 2. the catalogue holds whole articles only: each committed one has exactly its sentences and chunks
    con = sqlite3.connect(str(db_path))
    try:
        committed = {i: v for i, v in con.execute("SELECT id, version FROM articles")}
        assert 0 < len(committed) < N
        for article_id, version in committed.items():
            want_version, want_text, want_chunks, want_sentences = expected[article_id]
            assert version == want_version
            n_sentences = con.execute("SELECT COUNT(*) FROM sentences WHERE article_id=?", (article_id,)).fetchone()[0]
            chunk_ids = {r[0] for r in con.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))}
            assert n_sentences == want_sentences
            assert chunk_ids == want_chunks
        # no rows belong to an article that is not in the catalogue
        assert not con.execute("SELECT COUNT(*) FROM sentences WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
        assert not con.execute("SELECT COUNT(*) FROM chunks WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
        committed_chunks = {r[0] for r in con.execute("SELECT id FROM chunks")}
    finally:
        con.close()

    # Chroma after the kill: vectors were written before the catalogue, so every committed chunk has
    # one; anything extra is an orphan from an article the kill interrupted, never anything else.
    after_kill = chroma_ids_in_subprocess(env)
    assert committed_chunks <= after_kill
    uncommitted_chunks = set().union(*(expected[i][2] for i in expected if i not in committed))
    assert after_kill - committed_chunks <= uncommitted_chunks

    # 3. run again to completion: the rest is added, what was committed is unchanged
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout) == {"added": N - len(committed), "updated": 0, "unchanged": len(committed), "failed": []}

    # 4. the store is exactly the complete corpus
    store = Store(Settings(), MiniLMOnnxEmbedder())
    try:
        assert store.catalogue.counts(store.space)["articles"] == N
        all_chunks = set().union(*(v[2] for v in expected.values()))
        assert store.catalogue.chunk_ids(store.space) == all_chunks
        assert store.vectors.ids() == all_chunks  # no orphans, none missing
        for row in store.catalogue.list_articles(store.space):
            version, text, chunks, n_sentences = expected[row.id]
            article = store.catalogue.article(store.space, row.id)
            assert (row.version, article.text, row.sentences) == (version, text, n_sentences)
            sentences = store.catalogue.sentences(store.space, row.id)
            assert [s.index for s in sentences] == list(range(n_sentences))
            for s in sentences:
                assert article.text[s.start : s.end] == s.text
            assert " ".join(s.text for s in sentences) == text
        assert store.reconcile().removed == 0
    finally:
        store.close()


OLD = (
    "Harbour minister denies port sale\n\n"
    "The harbour minister denied on Tuesday that the port authority would be sold to a foreign consortium.\n"
    "Opposition lawmakers had cited leaked documents about the talks.\n"
    "The port authority employs four thousand people.\n"
)
NEW = OLD.replace("denied on Tuesday", "confirmed on Tuesday") + "Dock workers announced a strike for Friday.\n"
QUESTION = "Did the harbour minister deny that the port authority would be sold to a foreign consortium?"


def test_crash_between_chroma_and_catalogue_write(tmp_path: Path, settings: Settings, minilm, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    harbour, bank = src / "harbour.txt", src / "bank.txt"
    harbour.write_text(OLD)
    bank.write_text("Central bank holds rates\n\nThe central bank held rates at four percent. The governor said inflation was easing.\n")
    store = Store(settings, minilm)
    try:
        first = ingest([src], store, progress=False)
        assert (first.added, first.failed) == (2, [])
        old_version = store.catalogue.version(store.space, "harbour")
        old_sentences = store.catalogue.sentences(store.space, "harbour")
        old_chunks = store.catalogue.chunk_ids(store.space, "harbour")
        before = store.vectors.ids()
        assert before == store.catalogue.chunk_ids(store.space)

        # version 2 of both files; the catalogue write "crashes" for harbour after its vectors were added
        harbour.write_text(NEW)
        bank.write_text(bank.read_text().replace("four percent", "four and a half percent"))
        real_write = Catalogue.write_article
        seen_in_chroma: list[set[str]] = []

        def crashing(self, space, article, *args, **kwargs):
            if article.id == "harbour":
                seen_in_chroma.append(store.vectors.ids())
                raise RuntimeError("simulated crash after the Chroma write")
            return real_write(self, space, article, *args, **kwargs)

        monkeypatch.setattr(Catalogue, "write_article", crashing)
        report = ingest([src], store, progress=False)
        monkeypatch.setattr(Catalogue, "write_article", real_write)

        assert report.updated_ids == ["bank"]
        assert report.failed == [LoadError(str(harbour), None, "article 'harbour': could not store the article: simulated crash after the Chroma write")]
        new_chunks = {c.id for c, _ in prepare(next(iter(load_file(harbour))), "v", settings.chunking).chunks}
        orphans = new_chunks - old_chunks
        assert orphans, "the edit must produce new chunk ids"
        assert len(seen_in_chroma) == 1 and new_chunks <= seen_in_chroma[0]  # vectors.add had run

        # the old version is still the catalogue's, whole
        assert store.catalogue.version(store.space, "harbour") == old_version
        assert store.catalogue.sentences(store.space, "harbour") == old_sentences
        assert store.catalogue.chunk_ids(store.space, "harbour") == old_chunks
        assert "denied on Tuesday" in store.catalogue.article(store.space, "harbour").text
        # Chroma holds the orphans next to the old vectors
        assert store.vectors.ids() - store.catalogue.chunk_ids(store.space) == orphans
        assert old_chunks <= store.vectors.ids()

        # and the old version still answers; the orphans are never shown
        answer = Engine(store).ask(QUESTION)
        assert not answer.abstained
        assert answer.citations and answer.citations[0].article_id == "harbour"
        assert "denied on Tuesday" in answer.citations[0].quote
        quotes = " ".join(c.sentence.text for c in Engine(store).search.candidates(QUESTION, 20))
        assert "confirmed on Tuesday" not in quotes and "Dock workers" not in quotes

        # reconcile removes exactly the orphans
        rec = store.reconcile()
        assert (rec.removed, rec.restored) == (len(orphans), 0)
        assert store.vectors.ids() == store.catalogue.chunk_ids(store.space)
        assert not orphans & store.vectors.ids()

        # the next ingest stores version 2
        again = ingest([src], store, progress=False)
        assert (again.added, again.updated, again.unchanged, again.failed) == (0, 1, 1, [])
        assert store.catalogue.chunk_ids(store.space, "harbour") == new_chunks
        assert store.vectors.ids() == store.catalogue.chunk_ids(store.space)
        assert "confirmed on Tuesday" in Engine(store).ask(QUESTION).citations[0].quote
    finally:
        store.close()

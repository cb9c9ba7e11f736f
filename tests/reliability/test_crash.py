"""A killed ingest leaves a consistent store, and the next run completes it.

The first test SIGKILLs the real ``whosaid ingest`` (real MiniLM embedder, real Chroma, real SQLite)
while it is writing; the soak test kills it at least 20 times at random points of a 200-article
ingest whose articles keep changing, and checks that the final store equals a clean ingest's; the
last test simulates a crash between the Chroma write and the catalogue write inside one process.
No wait has a deadline: a loaded machine is slow, not broken; a wait fails only when nothing moves
for many minutes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.loaders import LoadError, load_file
from ingest.pipeline import ingest, prepare
from rag.store.sqlite import SqliteCatalogue as Catalogue
from rag.embeddings import MiniLMOnnxEmbedder
from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store
from tests.reliability.state import differences, read_state_fresh
from tests.reliability.runs import (
    N, Ingest, assert_whole_articles, catalogue_generation, catalogue_rows, catalogue_versions, expected_state, write_corpus,
)
from tests.servers import poll

ROOT = Path(__file__).resolve().parents[2]


def chroma_ids_in_subprocess(env: dict) -> set[str]:
    """Chroma's ids as a fresh process sees them (the test process keeps no Chroma open yet)."""
    code = (
        "import json; from rag.settings import Settings; from rag.embeddings import MiniLMOnnxEmbedder; "
        "from rag.store import Store; s = Store(Settings(), MiniLMOnnxEmbedder()); "
        "print(json.dumps(sorted(s.vectors.ids())))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun_completes(tmp_path: Path, _isolated_home: Path) -> None:
    home = _isolated_home
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    expected = expected_state(corpus)
    assert len(expected) == N
    db_path = home / "catalogue.sqlite3"
    env = {**os.environ, "WHOSAID_HOME": str(home), "WHOSAID_EMBEDDER__BATCH_SIZE": "8"}

    # 1. start the real ingest and SIGKILL it once some, but not all, articles are committed
    run = Ingest(corpus, env)
    try:
        rows = poll(lambda: catalogue_rows(db_path), what="first committed article", proc=run.proc, interval=0.01)
        assert rows < N, "every article was committed before the kill could land"
        run.kill()
    finally:
        if run.proc.poll() is None:
            run.kill()
    assert run.proc.returncode == -signal.SIGKILL

    # 2. the catalogue holds whole articles only: each committed one has exactly its sentences and chunks
    assert_whole_articles(db_path, expected, [])
    committed = catalogue_versions(db_path)
    assert 0 < len(committed) < N
    con = sqlite3.connect(str(db_path))
    committed_chunks = {r[0] for r in con.execute("SELECT id FROM chunks")}
    marks = [r[0] for r in con.execute("SELECT vectors_dirty FROM spaces")]
    con.close()
    assert marks == [1], "a killed run must leave the 'vectors may disagree' mark set for the next ingest"

    # Chroma after the kill: vectors were written before the catalogue, so every committed chunk has
    # one; anything extra is an orphan from an article the kill interrupted, never anything else.
    after_kill = chroma_ids_in_subprocess(env)
    assert committed_chunks <= after_kill
    uncommitted_chunks = set().union(*(expected[i][2] for i in expected if i not in committed))
    assert after_kill - committed_chunks <= uncommitted_chunks

    # 3. run again to completion: the rest is added, what was committed is unchanged
    report = Ingest(corpus, env).finish(db_path)
    assert report == {"added": N - len(committed), "updated": 0, "unchanged": len(committed), "failed": []}

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
        assert not store.catalogue.vectors_dirty(store.space)  # the run that completed left no mark
        assert store.reconcile().removed == 0
    finally:
        store.close()


SOAK_ARTICLES = 200


@pytest.mark.soak
def test_twenty_kills_at_random_points_end_in_a_clean_ingests_state(tmp_path: Path) -> None:
    """At least 20 SIGKILLs at random moments (model loading, reconcile, embedding, the catalogue
    writes, the BM25 build) of a 200-article ingest; whenever a run completes, a random share of the
    articles gets a new version, so later kills also land in updates. After each kill the catalogue
    holds whole articles only; at the end, after one more run, the data directory equals a clean
    ingest of the final corpus, row for row and vector for vector, and doctor finds nothing."""
    kills_wanted = int(os.environ.get("WHOSAID_SOAK_KILLS", "20"))
    rng = random.Random(int(os.environ.get("WHOSAID_SOAK_SEED", "11")))
    corpus = tmp_path / "corpus.jsonl"
    edition: dict[int, int] = {}
    write_corpus(corpus, SOAK_ARTICLES, edition)
    env_for = lambda home: {**os.environ, "WHOSAID_HOME": str(home), "WHOSAID_EMBEDDER__BATCH_SIZE": "8"}  # noqa: E731

    timing = tmp_path / "timing"
    t = time.monotonic()
    Ingest(corpus, env_for(timing)).finish(timing / "catalogue.sqlite3")
    full = time.monotonic() - t

    home = tmp_path / "crashed"
    db_path = home / "catalogue.sqlite3"
    expected, older = expected_state(corpus), []
    kills, completed, phases = 0, 0, {"before any commit": 0, "while committing": 0, "after the last commit": 0}
    while kills < kills_wanted:
        committed = catalogue_versions(db_path)
        pending = sum(1 for i, v in expected.items() if committed.get(i) != v[0])
        before, generation = catalogue_rows(db_path), catalogue_generation(db_path)
        run = Ingest(corpus, env_for(home))
        if kills % 4 == 3:  # after the last commit: the BM25 index is being built and saved
            newest = {i: v[0] for i, v in expected.items()}
            poll(lambda: run.proc.poll() is not None or catalogue_versions(db_path) == newest, what="kill point", stall=1200, interval=0.005)
        elif kills % 2:  # at a random moment
            delay = rng.uniform(0, full * max(pending, 20) / SOAK_ARTICLES + 3)
            poll(lambda: run.proc.poll() is not None or time.monotonic() - run.started > delay, what="kill point", stall=1200)
        else:  # in the middle of a batch's writes: its vectors are in Chroma, some articles not yet committed
            poll(lambda: run.proc.poll() is not None or catalogue_generation(db_path) > generation, what="kill point", stall=1200, interval=0.005)
        if run.proc.poll() is None:
            run.kill()
            kills += 1
            now = catalogue_rows(db_path)
            committed = catalogue_versions(db_path)
            done = sum(1 for i, v in expected.items() if committed.get(i) == v[0])
            phases["before any commit" if done == SOAK_ARTICLES - pending else "after the last commit" if done == SOAK_ARTICLES else "while committing"] += 1
            assert now >= before
            assert_whole_articles(db_path, expected, older)
            if rng.random() >= 0.5:
                continue  # else the files change before the rerun, as an editor's would after a crash:
                # the vectors the killed run added for the old text must not survive
        else:
            assert run.proc.returncode == 0, run.stderr()[-3000:]
            completed += 1
        older.append(expected)
        for i in rng.sample(range(SOAK_ARTICLES), rng.randint(20, 120)):
            edition[i] = edition.get(i, 0) + 1
        write_corpus(corpus, SOAK_ARTICLES, edition)
        expected = expected_state(corpus)
    final = Ingest(corpus, env_for(home)).finish(db_path)
    assert final["failed"] == [] and final["added"] + final["updated"] + final["unchanged"] == SOAK_ARTICLES

    clean = tmp_path / "clean"
    Ingest(corpus, env_for(clean)).finish(clean / "catalogue.sqlite3")
    got, want = read_state_fresh(home), read_state_fresh(clean)
    assert differences(got, want) == []
    doctor = subprocess.run([sys.executable, "-m", "ui.cli", "doctor", "--check"], cwd=ROOT, env=env_for(home), capture_output=True, text=True, timeout=1800)
    assert doctor.returncode == 0 and doctor.stdout.splitlines()[-1].endswith("healthy"), doctor.stdout + doctor.stderr
    print(f"RELIABILITY crash tried={kills} passed={kills} lost=0 completed_runs={completed} phases={phases} counts={got.counts()}")


OLD = (
    "Harbour minister denies port sale\n\n"
    "The harbour minister denied on Tuesday that the port authority would be sold to a foreign consortium.\n"
    "Opposition lawmakers had cited leaked documents about the talks.\n"
    "The port authority employs four thousand people.\n"
)
NEW = OLD.replace("denied on Tuesday", "confirmed on Tuesday") + "Dock workers announced a strike for Friday.\n"
QUESTION = "Did the harbour minister deny that the port authority would be sold to a foreign consortium?"


class Died(BaseException):
    """Stands for the process dying: no ``except Exception`` catches it, so no clean-up runs."""


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
        assert not store.catalogue.vectors_dirty(store.space)  # a clean run leaves no mark
        old_version = store.catalogue.version(store.space, "harbour")
        old_sentences = store.catalogue.sentences(store.space, "harbour")
        old_chunks = store.catalogue.chunk_ids(store.space, "harbour")
        old_bank = store.catalogue.chunk_ids(store.space, "bank")
        before = store.vectors.ids()
        assert before == store.catalogue.chunk_ids(store.space)

        # version 2 of both files; the process "dies" in harbour's catalogue write, after the vectors of
        # the whole batch were added and bank (read first) was committed, before bank's old vectors went
        harbour.write_text(NEW)
        bank.write_text(bank.read_text().replace("four percent", "four and a half percent"))
        real_write = Catalogue.write_article
        seen_in_chroma: list[set[str]] = []

        def crashing(self, space, article, *args, **kwargs):
            if article.id == "harbour":
                seen_in_chroma.append(store.vectors.ids())
                raise Died()
            return real_write(self, space, article, *args, **kwargs)

        monkeypatch.setattr(Catalogue, "write_article", crashing)
        with pytest.raises(Died):
            ingest([src], store, progress=False)
        monkeypatch.setattr(Catalogue, "write_article", real_write)

        new_chunks = {c.id for c, _ in prepare(next(iter(load_file(harbour))), "v", settings.chunking).chunks}
        orphans = new_chunks - old_chunks
        assert orphans, "the edit must produce new chunk ids"
        assert len(seen_in_chroma) == 1 and new_chunks <= seen_in_chroma[0]  # vectors.add had run
        bank_stale = old_bank - store.catalogue.chunk_ids(store.space, "bank")
        assert bank_stale, "bank's edit must retire chunk ids"

        # the old version is still the catalogue's, whole
        assert store.catalogue.version(store.space, "harbour") == old_version
        assert store.catalogue.sentences(store.space, "harbour") == old_sentences
        assert store.catalogue.chunk_ids(store.space, "harbour") == old_chunks
        assert "denied on Tuesday" in store.catalogue.article(store.space, "harbour").text
        # Chroma holds the orphans next to the old vectors, and the catalogue says so
        assert store.vectors.ids() - store.catalogue.chunk_ids(store.space) == orphans | bank_stale
        assert old_chunks <= store.vectors.ids()
        assert store.catalogue.vectors_dirty(store.space)

        # and the old version still answers; the orphans are never shown
        answer = Engine(store).ask(QUESTION)
        assert not answer.abstained
        assert answer.citations and answer.citations[0].article_id == "harbour"
        assert "denied on Tuesday" in answer.citations[0].quote
        quotes = " ".join(c.sentence.text for c in Engine(store).search.candidates(QUESTION, 20))
        assert "confirmed on Tuesday" not in quotes and "Dock workers" not in quotes

        # the next ingest sees the mark and reconciles first: with harbour's file back at version 1
        # (nothing to store), that reconcile alone removes exactly the orphans, and clears the mark
        harbour.write_text(OLD)
        removed: list[int] = []
        real_reconcile = store.reconcile
        monkeypatch.setattr(store, "reconcile", lambda: removed.append(real_reconcile().removed))
        settled = ingest([src], store, progress=False)
        assert (settled.added, settled.updated, settled.unchanged, settled.failed) == (0, 0, 2, [])
        assert removed == [len(orphans | bank_stale)]
        assert store.vectors.ids() == store.catalogue.chunk_ids(store.space)
        assert not store.catalogue.vectors_dirty(store.space)

        # the next ingest stores version 2, and reconciles no more
        harbour.write_text(NEW)
        again = ingest([src], store, progress=False)
        assert (again.added, again.updated, again.unchanged, again.failed) == (0, 1, 1, [])
        assert len(removed) == 1
        assert store.catalogue.chunk_ids(store.space, "harbour") == new_chunks
        assert store.vectors.ids() == store.catalogue.chunk_ids(store.space)
        assert "confirmed on Tuesday" in Engine(store).ask(QUESTION).citations[0].quote
    finally:
        store.close()


def test_an_article_the_catalogue_refuses_takes_its_vectors_back(tmp_path: Path, settings: Settings, minilm,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogue write that fails (an exception, the process lives on) costs only its article: its new
    vectors are deleted again, so the run ends agreeing and leaves no mark for the next ingest."""
    src = tmp_path / "src"
    src.mkdir()
    harbour = src / "harbour.txt"
    harbour.write_text(OLD)
    store = Store(settings, minilm)
    try:
        ingest([src], store, progress=False)
        old_chunks = store.catalogue.chunk_ids(store.space)
        harbour.write_text(NEW)
        real_write = Catalogue.write_article

        def refusing(self, space, article, *args, **kwargs):
            raise RuntimeError("simulated refusal")

        monkeypatch.setattr(Catalogue, "write_article", refusing)
        report = ingest([src], store, progress=False)
        monkeypatch.setattr(Catalogue, "write_article", real_write)
        assert report.failed == [LoadError(str(harbour), None, "article 'harbour': could not store the article: simulated refusal")]
        assert store.catalogue.chunk_ids(store.space) == old_chunks
        assert store.vectors.ids() == old_chunks  # the new version's vectors were taken back
        assert not store.catalogue.vectors_dirty(store.space)
    finally:
        store.close()

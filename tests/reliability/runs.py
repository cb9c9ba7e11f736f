"""Real ``whosaid ingest`` runs for the reliability suite: a generated corpus whose articles can be
given new versions, what a complete ingest of it must store, the catalogue read from outside
(read-only, never locking), and one ingest process with its output in files."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest.loaders import LoadError, load_file
from ingest.pipeline import article_version, prepare
from rag.settings import Settings
from tests.servers import poll

ROOT = Path(__file__).resolve().parents[2]
N = 300
SUBJECTS = ["minister", "mayor", "spokesperson", "general", "governor", "chief executive", "union leader", "ambassador"]
VERBS = ["denied", "confirmed", "rejected", "welcomed", "questioned", "announced"]
OBJECTS = ["the port sale", "the new budget", "the border talks", "the vaccine contract", "the rail strike", "the rationing plan"]


def write_corpus(path: Path, n: int = N, edition: dict[int, int] | None = None) -> None:
    """``n`` articles; ``edition[i]`` > 0 rewrites article ``i`` (a new version of the same id)."""
    edition = edition or {}
    with path.open("w") as f:
        for i in range(n):
            e = edition.get(i, 0)
            sentences = [
                f"In report {i}, the {SUBJECTS[(i + j + e) % 8]} {VERBS[(i * j + j + e) % 6]} {OBJECTS[(i + 2 * j) % 6]} on day {i * 7 + j}."
                for j in range(6)
            ]
            if e:
                sentences.append(f"\u201cWe will revise plan {i} for the {e} time,\u201d the {SUBJECTS[e % 8]} told reporters.")
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
    return out


def _read(db_path: Path, query: str, shape, empty):
    """One query on the catalogue from outside: read-only, never creating or locking anything; ``empty``
    before the first commit (or while SQLite cannot be read)."""
    if not db_path.exists():
        return empty
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            return shape(con.execute(query).fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return empty


def catalogue_rows(db_path: Path) -> int:
    """Articles committed so far."""
    return _read(db_path, "SELECT COUNT(*) FROM articles", lambda rows: rows[0][0], 0)


def catalogue_generation(db_path: Path) -> int:
    """Bumped by every article write: it moves on updates too, where the row count does not."""
    return _read(db_path, "SELECT generation FROM spaces", lambda rows: sum(r[0] for r in rows), 0)


def catalogue_versions(db_path: Path) -> dict[str, str]:
    """Article id -> version committed so far."""
    return _read(db_path, "SELECT id, version FROM articles", dict, {})


def assert_whole_articles(db_path: Path, expected: dict[str, tuple], older: list[dict[str, tuple]]) -> None:
    """Every committed article is one whole version (the newest or an older one) with exactly its
    sentences and chunks, and no row belongs to an article that is not in the catalogue."""
    con = sqlite3.connect(str(db_path))
    try:
        for article_id, version in con.execute("SELECT id, version FROM articles"):
            known = [e[article_id] for e in [expected, *older] if article_id in e and e[article_id][0] == version]
            assert known, f"{article_id}: version {version} is no version ingest ever wrote"
            _, _, want_chunks, want_sentences = known[0]
            assert con.execute("SELECT COUNT(*) FROM sentences WHERE article_id=?", (article_id,)).fetchone()[0] == want_sentences
            assert {r[0] for r in con.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))} == want_chunks
        for table in ("sentences", "chunks", "claims"):
            assert not con.execute(f"SELECT COUNT(*) FROM {table} WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0], table
    finally:
        con.close()


class Ingest:
    """One real ``whosaid ingest`` process, output to files (a pipe nobody reads can fill up)."""

    def __init__(self, corpus: Path, env: dict) -> None:
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "ui.cli", "ingest", str(corpus), "--no-progress", "--json"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.out, stderr=self.err)
        self.started = time.monotonic()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def finish(self, db_path: Path) -> dict:
        """Wait for the end (as long as articles keep being committed) and return the JSON report."""
        poll(lambda: self.proc.poll() is not None, what="ingest", progress=lambda: catalogue_rows(db_path), stall=1200, interval=0.2)
        self.out.seek(0), self.err.seek(0)
        stdout, stderr = self.out.read().decode(), self.err.read().decode()
        assert self.proc.returncode == 0, stderr[-3000:]
        return json.loads(stdout)

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")



"""`whosaid doctor` against real damage: a real catalogue, a real Chroma and the real embedder, every
step a real `whosaid` process. What it repairs must leave exactly what a clean ingest leaves."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import Settings
from rag.store import Store
from tests.conftest import SAMPLES
from tests.reliability.state import differences, read_state_fresh

ROOT = Path(__file__).resolve().parents[2]


def whosaid(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


def python_in(home: Path, code: str) -> None:
    """Run ``code`` with ``store`` open on ``home`` in its own process (Chroma caches per process)."""
    prelude = ("from pathlib import Path; from rag.settings import Settings; from rag.embeddings import make_embedder; "
               "from rag.store import Store; import numpy as np, sqlite3; s = Settings(); "
               "store = Store(s, make_embedder(s.embedder)); db = sqlite3.connect(str(store.home / 'catalogue.sqlite3'), isolation_level=None)\n")
    r = subprocess.run([sys.executable, "-c", prelude + code], cwd=ROOT, env={**os.environ, "WHOSAID_HOME": str(home)},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    home = tmp_path_factory.mktemp("healthy")
    r = whosaid(home, "ingest", str(SAMPLES), "--no-progress")
    assert r.returncode == 0, r.stderr
    return home, read_state_fresh(home)


def copy_of(healthy, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(healthy[0], home)
    return home


def test_a_healthy_store_is_reported_healthy_and_left_alone(healthy, tmp_path: Path) -> None:
    home = copy_of(healthy, tmp_path)
    r = whosaid(home, "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[:-1] == [f"{check}: ok" for check in ("catalogue file", "catalogue rows", "articles", "vectors", "lexical index")]
    assert lines[-1].endswith("vectors: healthy") and lines[-1].startswith(f"{len(healthy[1].rows['articles'])} articles")
    report = json.loads(whosaid(home, "doctor", "--json").stdout)
    assert report["healthy"] and report["counts"]["vectors"] == report["counts"]["chunks"] > 0
    assert differences(read_state_fresh(home), healthy[1]) == []


def vectors_mark(home: Path) -> list[int]:
    con = sqlite3.connect(str(home / "catalogue.sqlite3"))
    try:
        return [r[0] for r in con.execute("SELECT vectors_dirty FROM spaces")]
    finally:
        con.close()


def test_a_marked_store_that_agrees_is_unmarked_by_a_repair_not_by_a_check(healthy, tmp_path: Path) -> None:
    """The "vectors may disagree" mark (what a killed ingest leaves) is cleared by doctor's full check
    when it finds the vectors agreeing, so the next ingest need not diff every id again."""
    home = copy_of(healthy, tmp_path)
    assert vectors_mark(home) == [0]  # the clean ingest left none
    python_in(home, "store.catalogue.mark_vectors_dirty(store.space)")
    assert whosaid(home, "doctor", "--check").returncode == 0
    assert vectors_mark(home) == [1]  # --check changes nothing
    r = whosaid(home, "doctor")
    assert r.returncode == 0 and "vectors: ok" in r.stdout, r.stdout + r.stderr
    assert vectors_mark(home) == [0]


DAMAGE = """
ids = sorted(store.catalogue.chunk_ids(store.space))
arts = [r.id for r in store.catalogue.list_articles(store.space)]
store.vectors.add([f"orphan-{i}" for i in range(5)], np.ones((5, store.embedder.dim), np.float32) / 20, [{"article_id": "gone", "first": 0, "last": 0}] * 5)
store.vectors.delete(ids[:3])
db.execute("INSERT INTO sentences (space, article_id, idx, start, \\"end\\", text) VALUES (?, 'ghost', 0, 0, 5, 'Ghost')", (store.space,))
db.execute("INSERT INTO claims (space, article_id, seq, speaker, cue, stance, content, sentence_ids, spans) VALUES (?, 'ghost', 0, 'X', 'said', 'say', 'y', '[]', '[]')", (store.space,))
db.execute("UPDATE sentences SET start = start + 1 WHERE space=? AND article_id=? AND idx=1", (store.space, arts[0]))
db.execute("DELETE FROM claims WHERE space=? AND article_id=?", (store.space, arts[1]))
db.execute("UPDATE articles SET version='written-by-an-older-whosaid' WHERE space=? AND id=?", (store.space, arts[1]))
db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT fts FROM chunks WHERE space=? AND article_id=?)", (store.space, arts[-1]))
"""


def test_doctor_finds_every_kind_of_damage_and_repairs_it_to_a_clean_ingest(healthy, tmp_path: Path) -> None:
    home = copy_of(healthy, tmp_path)
    python_in(home, DAMAGE)
    damaged = read_state_fresh(home)
    assert differences(damaged, healthy[1])  # the damage is real

    check = whosaid(home, "doctor", "--check")
    assert check.returncode == 1 and "Traceback" not in check.stderr
    said = dict(line.split(": ", 1) for line in check.stdout.splitlines()[:-1])
    assert said["catalogue rows"] == "1 sentences rows without their article, 1 claims rows without their article"
    assert "1 article(s) whose rows do not fit together" in said["articles"] and "offsets do not reproduce" in said["articles"]
    assert "1 article(s) extracted by an older whosaid or lexicon" in said["articles"]
    assert said["vectors"] == "5 vectors the catalogue does not list (left by an interrupted ingest); 3 chunks without a vector"
    assert said["lexical index"].endswith("chunks missing from the lexical index")
    assert check.stdout.splitlines()[-1].endswith("problems remain")
    assert differences(read_state_fresh(home), damaged) == []  # --check changed nothing

    fix = whosaid(home, "doctor")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "-> removed 2 rows" in fix.stdout and "-> derived 2 of 2 again from their stored text" in fix.stdout
    assert "-> removed 5, embedded 3 again" in fix.stdout and "-> rebuilt from the catalogue" in fix.stdout
    assert differences(read_state_fresh(home), healthy[1]) == []
    assert vectors_mark(home) == [0]
    again = whosaid(home, "doctor", "--check")
    assert again.returncode == 0 and again.stdout.splitlines()[-1].endswith("healthy"), again.stdout
    assert "unchanged" in whosaid(home, "ingest", str(SAMPLES), "--no-progress").stdout  # versions match a real ingest


def test_a_damaged_catalogue_file_is_one_line_everywhere(healthy, tmp_path: Path) -> None:
    home = copy_of(healthy, tmp_path)
    db = home / "catalogue.sqlite3"
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(db.read_bytes())
    data[8192:12288] = b"\xab" * 4096  # a page in the middle
    db.write_bytes(bytes(data))
    r = whosaid(home, "doctor")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"catalogue file: {db} reports damage" in r.stdout and r.stdout.splitlines()[-1] == "problems remain"
    for args in (["list"], ["ask", "Who denied the port sale?"]):
        r = whosaid(home, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "catalogue cannot be read" in r.stderr


def test_one_writer_at_a_time(healthy, tmp_path: Path) -> None:
    home = copy_of(healthy, tmp_path)
    store = Store(Settings(home=home), embedder=None)  # type: ignore[arg-type]  # only the lock is used
    try:
        with store.writing():
            for args in (["ingest", str(SAMPLES), "--no-progress"], ["doctor"], ["delete", "x"]):
                r = whosaid(home, *args)
                assert r.returncode == 3, (args, r.stdout, r.stderr)
                assert r.stderr.strip() == f"whosaid: {home}: another whosaid ingest, delete or doctor is writing here; try again when it ends"
            assert whosaid(home, "doctor", "--check").returncode == 0  # reading needs no lock
    finally:
        store.close()
    assert whosaid(home, "ingest", str(SAMPLES), "--no-progress").returncode == 0

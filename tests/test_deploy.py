"""deploy.stack starts real servers on 127.0.0.1: PostgreSQL (Debian's binaries), ``chroma run``, and the
``up``/``down`` stack. Skipped with the reason when this machine cannot run them. No timed assertions:
every wait polls and returns as soon as the server answers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.stack import (
    ChromaServer,
    Postgres,
    ServerUnavailable,
    _alive,
    free_port,
    start_chroma,
    start_postgres,
    wait_until,
)

psycopg = pytest.importorskip("psycopg")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Iterator[Path]:
    """A directory the ``postgres`` account can reach when we run as root (pytest's own tmp_path sits
    under a 0700 directory): a fresh one under the system temp dir, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="whosaid-deploy-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres(root: Path) -> Postgres:
    try:
        return start_postgres(root)
    except ServerUnavailable as e:
        pytest.skip(str(e))


def _children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``: the postmaster's backends and workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return False
    except OSError:
        return True


def test_postgres_accepts_psycopg_and_keeps_data(root: Path) -> None:
    with _postgres(root) as pg:
        assert pg.url == f"postgresql://whosaid@127.0.0.1:{pg.port}/whosaid"
        with psycopg.connect(pg.url) as conn:
            conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
            conn.execute("INSERT INTO notes VALUES (%s, %s)", (1, "Weller confirmed the meeting"))
        with psycopg.connect(pg.url) as conn:  # a second connection sees the committed row
            assert conn.execute("SELECT body FROM notes WHERE id = 1").fetchone() == ("Weller confirmed the meeting",)
            assert conn.execute("SELECT current_user, current_database()").fetchone() == ("whosaid", "whosaid")


def test_stop_leaves_no_process(root: Path) -> None:
    pg = _postgres(root)
    with psycopg.connect(pg.url) as conn:
        conn.execute("SELECT 1")
    assert _alive(pg.pid) and _children(pg.pid)  # postmaster plus its checkpointer, writers, ...
    pg.stop()
    assert not _alive(pg.pid)
    assert not _children(pg.pid)
    assert not (pg.datadir / "postmaster.pid").exists()
    assert _refused(pg.port)
    pg.stop()  # stopping twice is harmless


def test_second_start_reuses_the_data_directory(root: Path) -> None:
    with _postgres(root) as pg:
        with psycopg.connect(pg.url) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
    version = (root / "pgdata" / "PG_VERSION").stat()
    port = free_port()
    with start_postgres(root, port) as again:  # no initdb this time; a different port is fine
        assert again.port == port
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [("still here",)]
    assert (root / "pgdata" / "PG_VERSION").stat().st_ino == version.st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL through another account")
def test_root_with_an_unreachable_directory_says_why() -> None:
    hidden = Path(tempfile.mkdtemp(prefix="whosaid-deploy-hidden-"))  # 0700, owned by root
    try:
        with pytest.raises(ServerUnavailable, match="cannot reach"):
            start_postgres(hidden / "stack")
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


def test_chroma_heartbeat(tmp_path: Path) -> None:
    try:
        server = start_chroma(tmp_path)
    except ServerUnavailable as e:
        pytest.skip(str(e))
    assert isinstance(server, ChromaServer)
    with server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v2/heartbeat", timeout=30) as r:
            assert r.status == 200 and "heartbeat" in next(iter(json.load(r))).lower()
    assert server.proc.poll() is not None


@pytest.mark.slow
def test_stack_up_serves_and_down_stops_everything(root: Path) -> None:
    """``up`` runs PostgreSQL, Chroma and a whosaid serve sharing them; ``down`` stops all of it."""
    try:
        start_postgres(root / "probe").stop()  # skip early, with the reason, where PostgreSQL cannot run
    except ServerUnavailable as e:
        pytest.skip(str(e))
    stack = root / "stack"
    port = free_port()
    log = open(root / "up.log", "wb")
    up = subprocess.Popen([sys.executable, "-m", "deploy.stack", "up", "--dir", str(stack), "--ports", str(port)],
                          cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> dict | None:
            try:
                state = json.loads((stack / "stack.json").read_text())
            except (OSError, ValueError):
                return None
            return state if state.get("serves") else None

        state = wait_until(ready, "stack up", up, log=root / "up.log")
        assert state["pid"] == up.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
            assert r.status == 200
        with psycopg.connect(state["postgres"]["url"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        pids = [state["postgres"]["pid"], state["chroma"]["pid"], state["serves"][0]["pid"]]
        down = subprocess.run([sys.executable, "-m", "deploy.stack", "down", "--dir", str(stack)], cwd=REPO,
                              capture_output=True, text=True)
        assert down.returncode == 0, down.stderr
        assert up.wait(60) == 0
        assert not any(_alive(p) for p in pids)
        assert not (stack / "stack.json").exists()
        out = (root / "up.log").read_text()
        assert f"serve     http://127.0.0.1:{port}/chat" in out and "postgres  postgresql://whosaid@127.0.0.1:" in out
    finally:
        if up.poll() is None:
            subprocess.run([sys.executable, "-m", "deploy.stack", "down", "--dir", str(stack)], cwd=REPO)
            up.wait(120)
        log.close()

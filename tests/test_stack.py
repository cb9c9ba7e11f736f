"""The deployment, for real: PostgreSQL and ``chroma run`` on 127.0.0.1, two ``whosaid serve``
processes sharing them, and ``whosaid ingest`` run beside them. What one ingest stores, both
servers answer from; a second writer is refused in one line while the first writes, and the
servers keep answering meanwhile. Skipped (with the reason) where PostgreSQL is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from deploy.stack import ServerUnavailable, free_port, start_chroma, start_postgres, start_serve

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "articles"
WHOSAID = Path(os.sys.executable).with_name("whosaid")
QUESTION = "Who denied the port sale?"


@pytest.fixture(scope="module")
def stack():
    root = Path(tempfile.mkdtemp(prefix="whosaid-stack-", dir="/tmp"))  # the postgres account must reach it
    os.chmod(root, 0o755)
    try:
        try:
            pg = start_postgres(root / "pg")
        except ServerUnavailable as e:
            pytest.skip(str(e))
        with pg, start_chroma(root / "chroma") as chroma:
            env = {"WHOSAID_CATALOGUE_URL": pg.url, "WHOSAID_CHROMA__HOST": "127.0.0.1", "WHOSAID_CHROMA__PORT": str(chroma.port)}
            with start_serve(root / "a", free_port(), env) as a, start_serve(root / "b", free_port(), env) as b:
                yield {"env": env, "a": a, "b": b, "root": root}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cli(stack, home: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack["env"], "WHOSAID_HOME": str(stack["root"] / home)}
    return subprocess.run([str(WHOSAID), *args], env=env, capture_output=True, text=True, timeout=1800, **kwargs)


def ask(server, question: str) -> dict:
    req = urllib.request.Request(f"{server.url}/api/ask", data=json.dumps({"question": question}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def test_what_one_ingest_stores_both_servers_answer(stack, tmp_path: Path) -> None:
    before = ask(stack["b"], QUESTION)
    assert before["abstained"] and not before["citations"]  # nothing ingested yet
    done = cli(stack, "ingester", "ingest", str(SAMPLES), "--no-progress")
    assert done.returncode == 0, done.stderr
    for server in (stack["a"], stack["b"]):
        answer = ask(server, QUESTION)
        assert not answer["abstained"] and "Reyland" in answer["answer"], answer
        assert all(c["article_id"] for c in answer["citations"])
    # a new article, ingested from a third home, reaches both servers too
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "ferry.txt").write_text("Ferry fares frozen\n\nThe transport minister Ilse Varga confirmed that ferry fares stay frozen "
                                     "until June. Operators said the decision would cost them money.\n")
    assert cli(stack, "other-ingester", "ingest", str(extra), "--no-progress").returncode == 0
    for server in (stack["a"], stack["b"]):
        answer = ask(server, "Who confirmed that ferry fares stay frozen?")
        assert not answer["abstained"] and "Varga" in answer["answer"], answer
    listed = cli(stack, "lister", "list", "--json")
    assert listed.returncode == 0 and "ferry" in listed.stdout


def test_a_second_writer_anywhere_is_refused_while_readers_answer(stack) -> None:
    """A writer holds the collection's PostgreSQL advisory lock (a probe process standing in for a
    long ingest on another machine); an ingest from another home is refused in one line, exit 3,
    and both servers keep answering."""
    probe = (
        "import os, sys, time\n"
        "from rag.settings import Settings\n"
        "from rag.store import open_catalogue\n"
        "s = Settings()\n"
        "cat = open_catalogue(s)\n"
        "with cat.writer(s.space()):\n"
        "    print('holding', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    env = {**os.environ, **stack["env"], "WHOSAID_HOME": str(stack["root"] / "holder")}
    holder = subprocess.Popen([os.sys.executable, "-c", probe], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = cli(stack, "second", "ingest", str(SAMPLES), "--no-progress")
        assert refused.returncode == 3, refused.stderr
        line = refused.stderr.strip()
        assert line.count("\n") == 0 and "another whosaid ingest, delete or doctor is writing" in line and "password" not in line
        for server in (stack["a"], stack["b"]):
            assert not ask(server, QUESTION)["abstained"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=600)
    assert cli(stack, "second", "ingest", str(SAMPLES), "--no-progress").returncode == 0

"""`whosaid serve` announces its address only once it can take connections, and a port in use is one
line (it used to print "serving on ..." and then fail with a traceback)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.servers import free_port, poll


def test_a_port_in_use_is_one_line_and_nothing_is_announced(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                           env={**os.environ, "WHOSAID_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 3
    assert r.stderr.strip() == f"whosaid: cannot listen on 127.0.0.1:{port}: the port is already in use"
    assert "serving" not in r.stdout + r.stderr


def test_the_announced_address_answers(tmp_path: Path) -> None:
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, "WHOSAID_HOME": str(tmp_path)}, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        def announced() -> str:
            log.seek(0)
            m = re.search(r"serving the chat at (\S+)/chat \(widget demo at (\S+), API docs at (\S+)\)", log.read())
            return m.group(1) if m else ""

        base = poll(announced, what="the serve announcement", proc=proc)
        assert base == f"http://127.0.0.1:{port}"
        # no retry: the socket listens before the address is printed (a connection waits in its backlog)
        r = httpx.get(f"{base}/", timeout=600, trust_env=False)
        assert r.status_code == 307 and r.headers["location"].endswith("/chat/")
        assert httpx.get(f"{base}/chat/", timeout=600, trust_env=False).status_code == 200
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()

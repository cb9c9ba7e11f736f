"""Starting real servers on 127.0.0.1 for tests: a free port, and a process that is ready."""

from __future__ import annotations

import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

import pytest

from deploy.stack import free_port  # re-exported: one home for the loopback-server wiring

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Site", "free_port", "poll", "serving"]

CHROMIUM = "/usr/bin/chromium"
# As the machine notes advise: without these, Chromium tries to reach Google's hosts at start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]


T = TypeVar("T")


def poll(condition: Callable[[], T], *, what: str, proc: subprocess.Popen | None = None,
         progress: Callable[[], object] | None = None, stall: float = 900, interval: float = 0.05) -> T:
    """Wait until ``condition()`` is truthy and return it. CI machines may be loaded many times over,
    so there is no deadline while work goes on: the wait fails only when ``proc`` ends first, or
    when ``progress()`` (default: nothing) has not changed for ``stall`` seconds."""
    last, since = (progress() if progress else None), time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr and not proc.stderr.closed else b""
            pytest.fail(f"{what}: the process ended (rc {proc.returncode}) first: {err[-2000:]!r}")
        now = progress() if progress else None
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            pytest.fail(f"{what}: no progress for {stall:.0f} s")
        time.sleep(interval)


@contextmanager
def serving(command: Sequence[str], ready_url: str, timeout: float = 600, name: str = "server") -> Iterator[subprocess.Popen]:
    """Run ``command`` until ``ready_url`` answers; stop it afterwards."""
    log = tempfile.TemporaryFile()  # a pipe nobody reads would fill up and stall the server
    proc = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=log)

    def ready() -> bool:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"{name} exited (rc {proc.returncode}) before it was ready: {log.read()[-2000:]!r}")
        try:
            urllib.request.urlopen(ready_url, timeout=5)
            return True
        except OSError:
            return False

    try:
        poll(ready, what=f"{name} did not start", stall=timeout, interval=0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Site:
    """A real HTTP server on 127.0.0.1 (a thread of the test process) serving ``routes``: path ->
    ``(status, headers, body)``, changeable while it runs (a feed gaining an entry). Paths not in the
    routes are 404; a route with an ``ETag`` answers 304 to a request for it ``If-None-Match``; every
    request's path is recorded in ``hits``, its status in ``statuses``."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: list[str] = []
        self.statuses: list[int] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                site.hits.append(self.path)
                status, headers, body = site.routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"not found"))
                if headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                    status, body = 304, b""  # a conditional request for what has not changed
                site.statuses.append(status)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "Site":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

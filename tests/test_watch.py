"""``whosaid watch``: rounds that ingest what is new or changed, one line each, from a feed served on
127.0.0.1 or a folder; failed rounds, a busy lock and SIGTERM handled. Real subprocesses of the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ingest.watch import parse_every, watch
from rag.settings import Settings
from rag.store import Store
from tests.servers import Site, poll

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^watch \d\d:\d\d:\d\d: (\d+) new, (\d+) changed, (\d+) unchanged, (\d+) failed$")

FEED = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Valdoria Ledger</title>
<link>https://ledger.example/</link><description>News</description>{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://ledger.example/{n}.html</link><guid>ledger-{n}</guid>
<pubDate>Fri, 2{n} Mar 2026 09:30:00 GMT</pubDate><description>{text}</description></item>"""
ITEMS = [("Minister denies port sale", "The harbour minister denied on Friday that the port would be sold."),
         ("Union confirms strike vote", "The dockers' union confirmed that a strike vote would be held on Monday."),
         ("Opposition demands inquiry", "Opposition deputies demanded a parliamentary inquiry into the port sale.")]


def feed(n: int) -> bytes:
    return FEED.format(items="".join(ITEM.format(n=i, title=t, text=x) for i, (t, x) in enumerate(ITEMS[:n], start=1))).encode()


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def listed(home: Path) -> list[dict]:
    return [json.loads(x) for x in cli("list", "--json", home=home).stdout.splitlines()]


def counts(line: str) -> tuple[int, ...]:
    m = LINE.match(line)
    assert m, line
    return tuple(int(g) for g in m.groups())


def test_every_takes_seconds_minutes_hours() -> None:
    assert [parse_every(t) for t in ("30s", "10m", "1h", "45", "1.5m")] == [30, 600, 3600, 45, 90]
    for bad in ("", "0s", "10 parsecs", "-1m", "m"):
        with pytest.raises(ValueError, match="--every takes a time such as 30s, 10m or 1h"):
            parse_every(bad)


def test_watch_once_on_a_feed_then_exactly_the_new_entry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Site() as site:
        site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(2))
        first = cli("watch", site.url("/feed.xml"), "--once", home=home)
        assert first.returncode == 0, first.stderr
        (line,) = first.stdout.splitlines()
        assert counts(line) == (2, 0, 0, 0)
        site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(3))
        second = cli("watch", site.url("/feed.xml"), "--once", home=home)
        assert second.returncode == 0, second.stderr
        assert counts(second.stdout.strip()) == (1, 0, 2, 0)
    rows = listed(home)
    assert sorted(a["title"] for a in rows) == sorted(t for t, _ in ITEMS)
    assert {a["source"] for a in rows} == {"Valdoria Ledger"}
    # the feed is gone: one error line naming it, the round counted as failed, nothing stored lost
    gone = cli("watch", site.url("/feed.xml"), "--once", home=home)
    assert gone.returncode == 1 and counts(gone.stdout.strip()) == (0, 0, 0, 1)
    assert gone.stderr.startswith(f"error: {site.url('/feed.xml')}: cannot fetch: ")
    assert len(listed(home)) == 3
    bad = cli("watch", "folder", "--every", "soon", home=home)
    assert bad.returncode == 2 and bad.stderr.strip() == "whosaid: --every takes a time such as 30s, 10m or 1h, not 'soon'"


def test_a_failed_round_is_one_line_and_the_next_round_runs(settings: Settings, hash_embedder) -> None:
    store = Store(settings, hash_embedder)
    lines: list[str] = []
    stop = threading.Event()

    def say(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            stop.set()

    with Site() as site:
        url = site.url("/feed.xml")
        site.routes["/feed.xml"] = (500, {"Content-Type": "text/plain"}, b"down")
        errors: list[str] = []

        def on_error(e) -> None:
            errors.append(str(e))
            if len(errors) == 2:  # up again for the third round
                site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(1))

        try:
            watch(url, store, every=0.01, say=say, on_error=on_error, stop=stop)
        finally:
            store.close()
    assert [counts(x) for x in lines] == [(0, 0, 0, 1), (0, 0, 0, 1), (1, 0, 0, 0)]
    assert errors == [f"{url}: HTTP 500 Internal Server Error"] * 2


def _reader(proc: subprocess.Popen, into: list[str]) -> threading.Thread:
    def run() -> None:
        for line in proc.stdout:
            into.append(line.rstrip("\n"))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_watch_every_second_picks_up_a_new_file_then_sigterm_exits_0(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "desk"
    folder.mkdir()
    (folder / "one.txt").write_text("Port sale denied\n\nThe harbour minister denied that the port would be sold.\n")
    env = {**os.environ, "WHOSAID_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "watch", str(folder), "--every", "1s"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = _reader(proc, lines)
    try:
        poll(lambda: lines, what="the first round", proc=proc)
        assert counts(lines[0]) == (1, 0, 0, 0)
        (folder / "two.txt").write_text("Strike vote\n\nThe union confirmed a strike vote on Monday.\n")
        found = poll(lambda: [x for x in lines if counts(x)[0] == 1 and x != lines[0]], what="the new file picked up", proc=proc)
        assert counts(found[0]) == (1, 0, 1, 0)
        assert all(counts(x) == (0, 0, 2, 0) for x in lines[lines.index(found[0]) + 1 :])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        reader.join(10)
        assert proc.stderr.read().strip().splitlines()[-1] == "watch stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_waits_for_another_writer_instead_of_failing(tmp_path: Path, hash_embedder) -> None:
    home, folder = tmp_path / "home", tmp_path / "desk"
    folder.mkdir()
    (folder / "one.txt").write_text("Port sale denied\n\nThe harbour minister denied that the port would be sold.\n")
    holder = Store(Settings(home=home), hash_embedder)
    env = {**os.environ, "WHOSAID_HOME": str(home), "PYTHONPATH": str(ROOT)}
    lock = holder.writing()
    lock.__enter__()
    released = False
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "watch", str(folder), "--once"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        _reader(proc, lines)
        poll(lambda: lines, what="the busy line", proc=proc)
        assert re.match(r"^watch \d\d:\d\d:\d\d: another whosaid is writing to this collection; waiting for it$", lines[0])
        lock.__exit__(None, None, None)
        released = True
        assert proc.wait(timeout=600) == 0, proc.stderr.read()
        assert counts(lines[-1]) == (1, 0, 0, 0)
    finally:
        if not released:
            lock.__exit__(None, None, None)
        holder.close()


def test_watching_a_feed_asks_if_it_changed_and_a_304_counts_its_entries_unchanged(settings: Settings, hash_embedder) -> None:
    store = Store(settings, hash_embedder)
    lines: list[str] = []
    stop = threading.Event()
    with Site() as site:
        site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml", "ETag": '"v2"'}, feed(2))

        def say(line: str) -> None:
            lines.append(line)
            if len(lines) == 2:  # the feed changes (a new ETag) before the third round
                site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml", "ETag": '"v3"'}, feed(3))
            if len(lines) == 4:
                stop.set()

        try:
            watch(site.url("/feed.xml"), store, every=0.01, say=say, stop=stop)
        finally:
            store.close()
    assert [counts(x) for x in lines] == [(2, 0, 0, 0), (0, 0, 2, 0), (1, 0, 2, 0), (0, 0, 3, 0)]
    assert site.statuses == [200, 304, 200, 304]


def test_a_file_is_read_again_only_when_its_size_or_time_changes(tmp_path: Path, settings: Settings, hash_embedder, monkeypatch) -> None:
    import ingest.loaders as loaders

    folder = tmp_path / "desk"
    folder.mkdir()
    story = folder / "story.txt"
    story.write_text("Port sale denied\n\nThe harbour minister denied that the port would be sold.\n")
    (folder / "broken.json").write_text("{not json")
    reads: list[str] = []
    real = loaders.LOADERS[".txt"]
    monkeypatch.setitem(loaders.LOADERS, ".txt", lambda path, text: (reads.append(path.name), real(path, text))[1])
    store = Store(settings, hash_embedder)
    lines: list[str] = []
    stop = threading.Event()

    def say(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:
            story.write_text("Port sale denied\n\nThe harbour minister denied on Monday that the port would be sold.\n")
        if len(lines) == 4:
            stop.set()

    try:
        watch(folder, store, every=0.01, say=say, stop=stop)
    finally:
        store.close()
    # the bad file is read (and reported) every round; the story only when it changed
    assert [counts(x) for x in lines] == [(1, 0, 0, 1), (0, 0, 1, 1), (0, 1, 0, 1), (0, 0, 1, 1)]
    assert reads == ["story.txt", "story.txt"]

"""``whosaid watch``: ingest a folder, file or feed again and again, saying what each round did.

Each round is an ordinary ingest (idempotent by version hash: an unchanged article costs a read and
a hash), so a round adds what is new, replaces what changed and leaves the rest. A round that fails
(a feed unreachable, the catalogue's server down) is one line; the next round tries again. When
another whosaid holds the write lock the round says so and waits for it rather than failing.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Callable

from ingest.loaders import LoadError, LoadMemo
from ingest.pipeline import IngestReport, ingest

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_every(text: str) -> float:
    """Seconds in ``30s``, ``10m``, ``1h`` (a bare number is seconds); ValueError otherwise."""
    m = _EVERY.match(text)
    if not m or float(m[1]) <= 0:
        raise ValueError(f"--every takes a time such as 30s, 10m or 1h, not '{text}'")
    return float(m[1]) * _UNIT[(m[2] or "s").lower()]


def round_line(report: IngestReport, at: float) -> str:
    return (f"watch {time.strftime('%H:%M:%S', time.localtime(at))}: {report.added} new, {report.updated} changed, "
            f"{report.unchanged} unchanged, {len(report.failed)} failed")


def watch(
    source: Path | str,
    store,
    *,
    every: float,
    once: bool = False,
    say: Callable[[str], None],
    on_error: Callable[[LoadError], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    encoding: str | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Run rounds every ``every`` seconds until ``stop`` is set (or after one with ``once``); ``say``
    gets one line per round. Returns whether the last round went without a failure."""
    from rag.store import StoreBusy

    stop = stop or threading.Event()
    fetched: dict = {}  # a feed's last response: the next round asks "changed since?" (ETag, Last-Modified)
    memo = LoadMemo()  # each file's articles, read again only when its size or modification time changes
    clean = True
    while not stop.is_set():
        started = time.time()
        try:
            try:
                report = ingest([source], store, progress=False, on_error=on_error, on_notice=on_notice, encoding=encoding,
                                fetched=fetched, memo=memo)
            except StoreBusy:
                say(f"watch {time.strftime('%H:%M:%S')}: another whosaid is writing to this collection; waiting for it")
                report = ingest([source], store, progress=False, on_error=on_error, on_notice=on_notice, encoding=encoding,
                                fetched=fetched, memo=memo, lock_wait=every if not once else 24 * 3600)
            say(round_line(report, started))
            clean = not report.failed
        except StoreBusy:
            say(f"watch {time.strftime('%H:%M:%S')}: the collection was busy all round; trying again next round")
            clean = False
        except Exception as e:  # noqa: BLE001 - a failed round is one line; the next round tries again
            say(f"watch {time.strftime('%H:%M:%S')}: round failed: {' '.join(str(e).split())[:300] or type(e).__name__}")
            clean = False
        if once:
            break
        stop.wait(max(0.0, every - (time.time() - started)))
    return clean

"""Helpers shared by the benchmark scripts (data location, temporary home, Markdown tables).

The scripts are run as ``python bench/<name>.py``. Python then puts ``bench/`` first on
``sys.path``, where ``bench/ingest.py`` would shadow the real ``ingest`` package, so every script
calls :func:`fix_sys_path` (via the two lines at its top) before importing anything from the
project.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPUS = DATA / "news" / "fakes_syria_articles.jsonl"


def require(path: Path) -> None:
    """Exit 0 with a clear message when the development data is not there."""
    if not path.exists():
        missing = DATA if DATA in path.parents and not DATA.exists() else path
        print(f"skipped: {missing} not found")
        raise SystemExit(0)


def make_home(prefix: str) -> Path:
    """A fresh data directory, also exported as ``WHOSAID_HOME`` for anything that reads it."""
    home = Path(tempfile.mkdtemp(prefix=f"whosaid-bench-{prefix}-"))
    os.environ["WHOSAID_HOME"] = str(home)
    return home


def remove_home(home: Path, keep: bool) -> None:
    if keep:
        print(f"\nkept WHOSAID_HOME: {home}", file=sys.stderr)
    else:
        shutil.rmtree(home, ignore_errors=True)


def write_subset(corpus: Path, limit: int | None, directory: Path) -> Path:
    """The first ``limit`` non-empty lines of a JSONL file, written to ``directory``."""
    if not limit:
        return corpus
    lines: list[str] = []
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line if line.endswith("\n") else line + "\n")
                if len(lines) >= limit:
                    break
    out = directory / f"{corpus.stem}-first{limit}.jsonl"
    out.write_text("".join(lines), encoding="utf-8")
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (same as numpy's default), ``q`` in 0..100."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A small Markdown table; numbers right-aligned."""
    rows = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]
    line = lambda cells: "| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)) + " |"  # noqa: E731
    sep = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric)) + "|"
    return "\n".join([line(list(headers)), sep, *(line(r) for r in rows)])


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", ""))
        return True
    except ValueError:
        return False

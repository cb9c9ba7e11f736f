"""Cold start: wall time of a whole ``whosaid ask "<question>" --json`` process, start to exit.

Ingests the FA-KES corpus once with ``whosaid ingest`` into a temporary home (or reuses
``--home DIR`` when it already holds articles), runs one untimed ask (the first ask after an
ingest also builds the BM25 index; its time is shown separately), then times N asks and
``whosaid ask --help``. The ``whosaid`` executable next to ``sys.executable`` is used.

Goal: ask <= 3 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from bench._common import CORPUS, make_home, median, remove_home, require, table, write_subset  # noqa: E402

QUESTION = "Who denied the chemical attack in Khan Sheikhoun?"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        sys.stderr.write(f"{what} exited {proc.returncode}\n{proc.stderr}\n")
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="reuse this data directory if it holds articles (else ingest into it; never deleted)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=f"JSONL corpus to ingest (default: {CORPUS})")
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="ingest only the first N articles")
    ap.add_argument("-n", "--runs", type=int, default=5, help="timed runs of each command (default 5)")
    ap.add_argument("-q", "--question", default=QUESTION, help=f"question to ask (default: {QUESTION!r})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args(argv)

    whosaid = Path(sys.executable).parent / "whosaid"
    if not whosaid.exists():
        print(f"error: {whosaid} not found (run with the project's venv python)", file=sys.stderr)
        return 2
    if args.home is None:
        require(args.corpus)
        home, owned = make_home("cold"), True
    else:
        home, owned = args.home.resolve(), False
    try:
        return _run(args, str(whosaid), home)
    finally:
        if owned:
            remove_home(home, args.keep)


def _articles(whosaid: str, env: dict[str, str]) -> int:
    proc = subprocess.run([whosaid, "list", "--json"], env=env, capture_output=True, text=True)
    return sum(1 for line in proc.stdout.splitlines() if line.strip()) if proc.returncode == 0 else 0


def _run(args, whosaid: str, home: Path) -> int:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    env.pop("WHOSAID_COLLECTION", None)
    rows: list[tuple[str, object]] = []

    n_articles = _articles(whosaid, env)
    if not n_articles:
        require(args.corpus)
        corpus = write_subset(args.corpus, args.limit, home)
        print(f"whosaid ingest {corpus} (WHOSAID_HOME={home}) ...", file=sys.stderr)
        secs, proc = run([whosaid, "ingest", str(corpus), "--json", "--no-progress"], env)
        # Exit 1 means some input failed (FA-KES repeats 12 article ids); fine if articles went in.
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            report = {}
        if proc.returncode not in (0, 1) or not report.get("added"):
            check(proc if proc.returncode else subprocess.CompletedProcess(proc.args, 1, proc.stdout, proc.stderr), "whosaid ingest")
        rows.append(("ingest via CLI (s, once)", secs))
        rows.append(("ingest: added / failed (exit code)", f"{report['added']} / {len(report['failed'])} ({proc.returncode})"))
        n_articles = _articles(whosaid, env)

    ask = [whosaid, "ask", args.question, "--json"]
    first_s, proc = run(ask, env)
    check(proc, "whosaid ask")
    answer = json.loads(proc.stdout)

    asks, inner = [], []
    for _ in range(args.runs):
        secs, proc = run(ask, env)
        check(proc, "whosaid ask")
        asks.append(secs)
        inner.append(json.loads(proc.stdout)["timings_ms"]["total"] / 1000)
    helps = []
    for _ in range(args.runs):
        secs, proc = run([whosaid, "ask", "--help"], env)
        check(proc, "whosaid ask --help")
        helps.append(secs)

    print(f"## cold: `whosaid ask --json`, {n_articles} articles, {args.runs} runs\n")
    print(f"question: {args.question!r}; answer: {answer['answer'][:100]!r}\n")
    print(table(["command", "min (s)", "median (s)", "max (s)"], [
        ("whosaid ask (goal <= 3 s)", min(asks), median(asks), max(asks)),
        ("  of which engine.ask (timings_ms.total)", min(inner), median(inner), max(inner)),
        ("whosaid ask --help", min(helps), median(helps), max(helps)),
    ]))
    rows.append(("first ask (s, untimed; builds BM25 after a fresh ingest)", first_s))
    rows.append(("load average 1/5/15 min at end", " / ".join(f"{x:.2f}" for x in os.getloadavg())))
    print()
    print(table(["other", "value"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

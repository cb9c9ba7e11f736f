"""The reliability suite's figures: runs tests/reliability (soak cases included unless --fast) and
prints, per area, the cases tried and passed and the records lost, as each test reports them in a
``RELIABILITY <area> tried=N passed=N lost=N ...`` line, then the pytest outcome and wall time."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from bench._common import table  # noqa: E402

LINE = re.compile(r"RELIABILITY (\w+) tried=(\d+) passed=(\d+) lost=(\d+)(.*)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fast", action="store_true", help="only the cases make test runs (no soak)")
    args = ap.parse_args()
    marker = "not soak" if args.fast else "soak or not soak"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-m", marker, "tests/reliability"],
                          cwd=_ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t
    rows: dict[str, list] = {}
    for area, tried, passed, lost, rest in LINE.findall(proc.stdout):
        row = rows.setdefault(area, [area, 0, 0, 0, []])
        row[1] += int(tried)
        row[2] += int(passed)
        row[3] += int(lost)
        row[4].append(rest.strip())
    print(table(["area", "cases tried", "passed", "records lost", "detail"],
                [[a, t_, p, lo, " / ".join(d for d in detail if d)[:160]] for a, t_, p, lo, detail in rows.values()]))
    summary = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(f"\npytest: {summary[-1] if summary else proc.stdout[-500:]} (exit {proc.returncode}), wall {took / 60:.1f} min")
    if proc.returncode:
        print(proc.stdout[-4000:], file=sys.stderr)
    raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
